//! `call` targets at apply: each names an existing workflow, and no chain of calls leads back
//! to the workflow being applied (a cycle would nest until the depth limit at run time).
//!
//! Pure: the caller (the admin API) loads the definitions of the workflows reachable through
//! calls ([`targets`]) and passes them in.

use std::collections::{HashMap, HashSet};

use crate::locate::{SourceMap, display_path, path};
use crate::{ValidationError, Workflow};

/// Every `call` of a workflow: (`steps` or `on_failure`, step id, the workflow it calls).
pub fn targets(wf: &Workflow) -> Vec<(&'static str, &str, &str)> {
    let steps = wf.steps.iter().map(|(id, s)| ("steps", id, s));
    let handlers = wf.on_failure.iter().map(|(id, s)| ("on_failure", id, s));
    steps
        .chain(handlers)
        .filter_map(|(group, id, s)| Some((group, id.as_str(), s.call.as_deref()?)))
        .collect()
}

/// Check `wf`'s calls against `known` (the current definitions of the workflows reachable
/// from it, by name); the error names the line and field of the offending `call`.
pub fn check(
    wf: &Workflow,
    source: Option<&str>,
    known: &HashMap<String, Workflow>,
) -> Result<(), ValidationError> {
    let map = source.and_then(|s| SourceMap::parse(s).ok());
    for (group, id, target) in targets(wf) {
        let field = path(&[group, id, "call"]);
        let error = |message: String| {
            let at = map.as_ref().and_then(|m| m.position(&field));
            ValidationError {
                line: at.map(|a| a.0),
                column: at.map(|a| a.1),
                field: Some(display_path(&field)),
                message,
            }
        };
        if target == wf.name {
            return Err(error(format!("`{target}` cannot call itself")));
        }
        if !known.contains_key(target) {
            return Err(error(format!(
                "`call` names the workflow `{target}`, which does not exist (apply it first)"
            )));
        }
        if let Some(chain) = chain(known, target, &wf.name) {
            return Err(error(format!(
                "calling `{target}` makes a cycle: {} → {}",
                wf.name,
                chain.join(" → ")
            )));
        }
    }
    Ok(())
}

/// The chain of calls from `from` that reaches `to`, if any.
fn chain(known: &HashMap<String, Workflow>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut seen = HashSet::new();
    let mut stack = vec![vec![from.to_string()]];
    while let Some(trail) = stack.pop() {
        let last = trail.last()?;
        if !seen.insert(last.clone()) {
            continue;
        }
        let Some(wf) = known.get(last) else {
            continue;
        };
        for (_, _, next) in targets(wf) {
            let mut longer = trail.clone();
            longer.push(next.to_string());
            if next == to {
                return Some(longer);
            }
            stack.push(longer);
        }
    }
    None
}
