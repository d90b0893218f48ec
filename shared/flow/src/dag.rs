//! The step graph formed by `needs`.
//!
//! Consumes a [`Workflow`]'s steps; produces orders and neighbours of steps by id. `needs`
//! naming an unknown step are ignored here (validation rejects them).

use std::collections::HashSet;

use crate::Workflow;

/// Steps nothing depends on, in file order.
pub fn sinks(wf: &Workflow) -> Vec<&str> {
    wf.steps
        .keys()
        .filter(|id| !wf.steps.values().any(|s| s.needs.iter().any(|n| n == *id)))
        .map(String::as_str)
        .collect()
}

/// Every step of `steps:` that `id` needs, directly or through others (its upstream).
pub fn upstream<'a>(wf: &'a Workflow, id: &str) -> std::collections::BTreeSet<&'a str> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo: Vec<&str> = wf
        .steps
        .get(id)
        .map(|s| s.needs.iter().map(String::as_str).collect())
        .unwrap_or_default();
    while let Some(need) = todo.pop() {
        if let Some((k, s)) = wf.steps.get_key_value(need)
            && seen.insert(k.as_str())
        {
            todo.extend(s.needs.iter().map(String::as_str));
        }
    }
    seen
}

/// Steps that need `id` directly, in file order.
pub fn dependents<'a>(wf: &'a Workflow, id: &str) -> Vec<&'a str> {
    wf.steps
        .iter()
        .filter(|(_, s)| s.needs.iter().any(|n| n == id))
        .map(|(k, _)| k.as_str())
        .collect()
}

/// Every step in an order where each comes after the steps it needs; among steps that are
/// ready together, file order. `Err` holds the steps of one cycle, in `needs` order, e.g.
/// `["a", "b", "c"]` for `a` needs `b` needs `c` needs `a`.
pub fn topo_order(wf: &Workflow) -> Result<Vec<&str>, Vec<String>> {
    let mut done: HashSet<&str> = HashSet::new();
    let mut order = Vec::with_capacity(wf.steps.len());
    loop {
        let before = order.len();
        for (id, step) in &wf.steps {
            let ready = step
                .needs
                .iter()
                .all(|n| done.contains(n.as_str()) || !wf.steps.contains_key(n));
            if !done.contains(id.as_str()) && ready {
                order.push(id.as_str());
            }
        }
        done.extend(order[before..].iter().copied());
        if order.len() == wf.steps.len() {
            return Ok(order);
        }
        if order.len() == before {
            return Err(find_cycle(wf, &done));
        }
    }
}

/// A cycle among the steps not in `done`, each of which needs another such step.
fn find_cycle(wf: &Workflow, done: &HashSet<&str>) -> Vec<String> {
    let Some(mut current) = wf.steps.keys().find(|k| !done.contains(k.as_str())) else {
        return Vec::new();
    };
    let mut path: Vec<&String> = Vec::new();
    loop {
        if let Some(at) = path.iter().position(|p| *p == current) {
            return path[at..].iter().map(|s| s.to_string()).collect();
        }
        path.push(current);
        let next = wf.steps.get(current).and_then(|s| {
            s.needs
                .iter()
                .find(|n| wf.steps.contains_key(*n) && !done.contains(n.as_str()))
        });
        match next {
            Some(n) => current = n,
            None => return path.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Triggers, Workflow};

    fn wf(steps: &[(&str, &[&str])]) -> Result<Workflow, serde_json::Error> {
        let steps: serde_json::Map<_, _> = steps
            .iter()
            .map(|(id, needs)| {
                (
                    (*id).into(),
                    serde_json::json!({"uses": "x", "needs": needs}),
                )
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "name": "t", "on": Triggers::default(), "steps": steps
        }))
    }

    #[test]
    fn order_sinks_dependents() -> Result<(), serde_json::Error> {
        let w = wf(&[("d", &["b", "c"]), ("b", &["a"]), ("c", &["a"]), ("a", &[])])?;
        assert_eq!(topo_order(&w), Ok(vec!["a", "b", "c", "d"]));
        assert_eq!(sinks(&w), vec!["d"]);
        assert_eq!(dependents(&w, "a"), vec!["b", "c"]);
        Ok(())
    }

    #[test]
    fn cycle_is_named() -> Result<(), serde_json::Error> {
        let w = wf(&[("x", &[]), ("a", &["x", "b"]), ("b", &["c"]), ("c", &["a"])])?;
        assert_eq!(
            topo_order(&w),
            Err(vec!["a".to_string(), "b".into(), "c".into()])
        );
        Ok(())
    }
}
