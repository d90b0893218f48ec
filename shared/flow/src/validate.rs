//! Semantic checks of a parsed [`Workflow`].
//!
//! Consumes a workflow and, when known, its source text; produces the first problem as a
//! [`ValidationError`] naming the field and, with the source, its line (through
//! [`SourceMap`]). Checks: duplicate mapping keys (serde keeps the last one silently, so
//! duplicate step ids are read from the source), the name, step ids, `uses`, `needs` and
//! cycles, retry policies, triggers (in `validate_triggers.rs`), and that every `${{ … }}` compiles.

use serde_json::Value;

use crate::locate::{Seg, SourceMap, display_path, path};
use crate::{ValidationError, Workflow, dag, expr};

/// Check names, ids, `needs`, cycles and expressions.
pub fn validate(wf: &Workflow, source: Option<&str>) -> Result<(), ValidationError> {
    let map = source.and_then(|s| SourceMap::parse(s).ok());
    let v = Validator { map: map.as_ref() };
    v.duplicates()?;
    v.name(wf)?;
    v.triggers(wf)?;
    v.service_triggers(&wf.on)?;
    if let Some(cond) = &wf.condition {
        v.expr_str(cond, path(&["if"]), true)?;
    }
    if let Some(output) = &wf.output {
        v.template(output, &mut path(&["output"]))?;
    }
    v.gate(wf)?;
    if wf.steps.is_empty() {
        return Err(v.error(
            path(&["steps"]),
            "a workflow needs at least one step".into(),
        ));
    }
    for id in wf.steps.keys() {
        v.step(&wf.steps, "steps", id)?;
    }
    v.cycles(wf, "steps")?;
    for id in wf.on_failure.keys() {
        if wf.steps.contains_key(id) {
            return Err(v.error(
                path(&["on_failure", id]),
                format!("`{id}` is already a step id: `on_failure` steps need ids of their own"),
            ));
        }
        v.step(&wf.on_failure, "on_failure", id)?;
    }
    let handlers = Workflow {
        steps: wf.on_failure.clone(),
        on_failure: Default::default(),
        ..wf.clone()
    };
    v.cycles(&handlers, "on_failure")
}

/// The first mapping key written twice in the same mapping, with the line of the second.
pub(crate) fn duplicate_keys(map: &SourceMap) -> Result<(), ValidationError> {
    let Some(dup) = map.duplicates().first() else {
        return Ok(());
    };
    let first = map.position(&dup.path);
    let first = first.map(|(l, _)| format!(" (first at line {l})"));
    let message = match dup.path.as_slice() {
        [Seg::Key(s), Seg::Key(id)] if s == "steps" => format!("duplicate step id `{id}`"),
        [.., Seg::Key(k)] => format!("duplicate key `{k}`"),
        _ => "duplicate key".to_owned(),
    };
    Err(ValidationError {
        line: Some(dup.start.0),
        column: Some(dup.start.1),
        field: Some(display_path(&dup.path)),
        message: message + &first.unwrap_or_default(),
    })
}

struct Validator<'a> {
    map: Option<&'a SourceMap>,
}

/// Whether `s` is a valid workflow name: lowercase letters, digits and `-` (not at either end),
/// 1 to 63 characters.
pub fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&b.len())
        && b.first().is_some_and(ok)
        && b.last().is_some_and(ok)
        && b.iter().all(|c| ok(c) || *c == b'-')
}

/// Whether `s` is a valid step id: letters, digits, `_` and `-`, starting with a letter.
pub fn is_step_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Validator<'_> {
    fn error(&self, field: Vec<Seg>, message: String) -> ValidationError {
        let at = self.map.and_then(|m| m.position(&field));
        ValidationError {
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            field: Some(display_path(&field)),
            message,
        }
    }

    /// `concurrency` and `debounce`: keys are expressions, limits in range, and the two (and a
    /// schedule's `overlap`, which `concurrency` generalises) do not go together.
    fn gate(&self, wf: &Workflow) -> Result<(), ValidationError> {
        if let Some(c) = &wf.concurrency {
            if let Some(key) = &c.key {
                self.expr_str(key, path(&["concurrency", "key"]), false)?;
            }
            if !(1..=crate::gate::Concurrency::MAX_LIMIT).contains(&c.limit) {
                let message = "`limit` must be between 1 and 10000".to_string();
                return Err(self.error(path(&["concurrency", "limit"]), message));
            }
            let overlap = wf
                .on
                .schedule
                .as_slice()
                .iter()
                .position(|s| s.overlap != crate::triggers::Overlap::Allow);
            if let Some(i) = overlap {
                let mut at = path(&["on", "schedule"]);
                if wf.on.schedule.as_slice().len() > 1 {
                    at.push(Seg::Index(i));
                }
                at.push(Seg::Key("overlap".into()));
                let message = "a workflow with `concurrency` sets no schedule `overlap`: \
                               `concurrency` (`policy: queue | skip | cancel_previous`) covers \
                               every trigger"
                    .to_string();
                return Err(self.error(at, message));
            }
        }
        if let Some(d) = &wf.debounce {
            if let Some(key) = &d.key {
                self.expr_str(key, path(&["debounce", "key"]), false)?;
            }
            if d.period.is_zero() || d.period > crate::gate::Debounce::MAX_PERIOD {
                let message = "`period` must be longer than 0s and at most 1d".to_string();
                return Err(self.error(path(&["debounce", "period"]), message));
            }
            if wf.concurrency.is_some() {
                let message = "`debounce` and `concurrency` do not go together: a debounced \
                               workflow runs the last event of each quiet period"
                    .to_string();
                return Err(self.error(path(&["debounce"]), message));
            }
        }
        Ok(())
    }

    fn duplicates(&self) -> Result<(), ValidationError> {
        self.map.map_or(Ok(()), duplicate_keys)
    }

    fn name(&self, wf: &Workflow) -> Result<(), ValidationError> {
        if is_name(&wf.name) {
            return Ok(());
        }
        Err(self.error(
            path(&["name"]),
            format!(
                "invalid name `{}`: use lowercase letters, digits and `-` (not at either end), \
                 at most 63 characters",
                wf.name
            ),
        ))
    }

    /// `needs` (with the implicit edges of switches) must not go round in a circle.
    fn cycles(&self, wf: &Workflow, section: &str) -> Result<(), ValidationError> {
        let Err(cycle) = dag::topo_order(wf) else {
            return Ok(());
        };
        let first = cycle.first().cloned().unwrap_or_default();
        let mut shown = cycle.clone();
        shown.push(first.clone());
        Err(self.error(
            path(&[section, &first, "needs"]),
            format!("steps form a cycle: {}", shown.join(" → ")),
        ))
    }

    /// One step of `steps` (the `steps:` or `on_failure:` map, named by `section`).
    fn step(
        &self,
        steps: &indexmap::IndexMap<String, crate::Step>,
        section: &str,
        id: &str,
    ) -> Result<(), ValidationError> {
        let Some(step) = steps.get(id) else {
            return Ok(());
        };
        let field = |rest: &[&str]| {
            let mut p = path(&[section, id]);
            p.extend(rest.iter().map(|k| Seg::from(*k)));
            p
        };
        if !is_step_id(id) {
            return Err(self.error(
                field(&[]),
                format!(
                    "invalid step id `{id}`: use letters, digits, `_` and `-`, starting with a letter"
                ),
            ));
        }
        self.step_kind(steps, id, step, &field)?;
        for (i, need) in step.needs.iter().enumerate() {
            let mut at = field(&["needs"]);
            if step.needs.len() > 1 || self.needs_is_list(&at) {
                at.push(Seg::Index(i));
            }
            if need == id {
                return Err(self.error(at, format!("step `{id}` cannot need itself")));
            }
            if !steps.contains_key(need) {
                return Err(self.error(at, format!("unknown step `{need}` in `{section}`")));
            }
        }
        let retry = &step.retry;
        if retry.attempts == 0 || retry.attempts > 100 {
            return Err(self.error(
                field(&["retry", "attempts"]),
                format!("attempts must be between 1 and 100, got {}", retry.attempts),
            ));
        }
        if retry.factor.is_nan() || retry.factor < 1.0 {
            return Err(self.error(
                field(&["retry", "factor"]),
                format!("factor must be at least 1, got {}", retry.factor),
            ));
        }
        if let Some(cond) = &step.condition {
            self.expr_str(cond, field(&["if"]), true)?;
        }
        self.template(&step.with, &mut field(&["with"]))
    }

    /// Exactly one kind (`uses`, `sleep`, `until`, `switch`), with the fields that go with it.
    fn step_kind(
        &self,
        steps: &indexmap::IndexMap<String, crate::Step>,
        id: &str,
        step: &crate::Step,
        field: &dyn Fn(&[&str]) -> Vec<Seg>,
    ) -> Result<(), ValidationError> {
        let set: Vec<&str> = [
            ("uses", step.uses.is_some()),
            ("call", step.call.is_some()),
            ("sleep", step.sleep.is_some()),
            ("until", step.until.is_some()),
            ("switch", step.switch.is_some()),
            ("approval", step.approval.is_some()),
            ("wait", step.wait.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        match set.as_slice() {
            [] => {
                let message = "a step needs `uses` (an agent, e.g. `http`) or one of `call`, \
                               `sleep`, `until`, `switch`, `approval`, `wait`";
                return Err(self.error(field(&[]), message.into()));
            }
            [_] => {}
            [first, second, ..] => {
                return Err(self.error(
                    field(&[second]),
                    format!("a step is one kind: `{first}` and `{second}` cannot go together"),
                ));
            }
        }
        if let Some(agent) = &step.uses
            && !is_agent_name(agent)
        {
            let message = if agent.trim().is_empty() {
                "`uses` must name an agent, e.g. `http`".to_string()
            } else {
                format!(
                    "invalid agent name `{agent}`: use lowercase letters, digits and `-`, starting \
                     with a letter"
                )
            };
            return Err(self.error(field(&["uses"]), message));
        }
        if let Some(name) = &step.call {
            if !is_name(name) {
                let message = format!("`call` must name a workflow, got `{name}`");
                return Err(self.error(field(&["call"]), message));
            }
            if let Some(inputs) = &step.inputs {
                self.template(inputs, &mut field(&["inputs"]))?;
            }
        } else if step.inputs.is_some() {
            return Err(self.error(field(&["inputs"]), "`inputs` goes with `call`".into()));
        }
        if step.uses.is_none() && !step.with.is_null() {
            return Err(self.error(
                field(&["with"]),
                format!("`with` is for agent steps; `{}` takes none", set[0]),
            ));
        }
        if step.switch.is_none() && (!step.cases.is_empty() || step.default.is_some()) {
            let key = if step.cases.is_empty() {
                "default"
            } else {
                "cases"
            };
            return Err(self.error(field(&[key]), format!("`{key}` goes with `switch`")));
        }
        if let Some(approval) = &step.approval {
            self.expr_str(&approval.message, field(&["approval", "message"]), false)?;
        }
        if let Some(wait) = &step.wait {
            self.wait(wait, field)?;
        }
        if let Some(rate) = &step.rate_limit {
            if step.uses.is_none() && step.call.is_none() {
                let message = "`rate_limit` spaces the attempts of a `uses` or `call` step";
                return Err(self.error(field(&["rate_limit"]), message.into()));
            }
            if rate.limit == 0 {
                let message = "`limit` must be at least 1";
                return Err(self.error(field(&["rate_limit", "limit"]), message.into()));
            }
            if rate.per.is_zero() || rate.per > crate::gate::RateLimit::MAX_PER {
                let message = "`per` must be longer than 0s and at most 1d";
                return Err(self.error(field(&["rate_limit", "per"]), message.into()));
            }
        }
        self.foreach(step, field)?;
        if let Some(until) = &step.until {
            self.expr_str(until, field(&["until"]), false)?;
        }
        if let Some(switch) = &step.switch {
            self.expr_str(switch, field(&["switch"]), false)?;
            if step.cases.is_empty() && step.default.is_none() {
                return Err(self.error(
                    field(&["switch"]),
                    "a `switch` needs `cases` (and/or `default`): the steps of each branch".into(),
                ));
            }
            if step.cases.contains_key("default") {
                return Err(self.error(
                    field(&["cases", "default"]),
                    "`default` is not a case value: write the branch taken when no case \
                     matches as `default:` beside `cases`"
                        .into(),
                ));
            }
            let branches = step
                .cases
                .iter()
                .map(|(k, v)| (vec!["cases", k.as_str()], v));
            let branches = branches.chain(step.default.iter().map(|v| (vec!["default"], v)));
            for (at, ids) in branches {
                for (i, target) in ids.iter().enumerate() {
                    let mut p = field(&at);
                    p.push(Seg::Index(i));
                    if target == id {
                        return Err(self.error(p, "a switch cannot branch to itself".into()));
                    }
                    if !steps.contains_key(target) {
                        return Err(self.error(p, format!("unknown step `{target}`")));
                    }
                }
            }
        }
        Ok(())
    }

    /// `foreach` goes with `uses`; `concurrency` and `fail_fast` go with `foreach`.
    /// A `wait`: its `match` is one condition, its `window` at most [`crate::Wait::MAX_WINDOW`].
    fn wait(
        &self,
        wait: &crate::Wait,
        field: &dyn Fn(&[&str]) -> Vec<Seg>,
    ) -> Result<(), ValidationError> {
        if let Some(cond) = &wait.condition {
            self.expr_str(cond, field(&["wait", "match"]), true)?;
        }
        if wait.window() > crate::Wait::MAX_WINDOW {
            let message = "`window` is at most 1d: events kept for waits are dropped after a day";
            return Err(self.error(field(&["wait", "window"]), message.into()));
        }
        if wait.timeout.is_some_and(|t| t.is_zero()) {
            let message = "`timeout` must be longer than 0s (leave it out to wait without limit)";
            return Err(self.error(field(&["wait", "timeout"]), message.into()));
        }
        Ok(())
    }

    fn foreach(
        &self,
        step: &crate::Step,
        field: &dyn Fn(&[&str]) -> Vec<Seg>,
    ) -> Result<(), ValidationError> {
        let Some(expr) = &step.foreach else {
            for (key, set) in [
                ("concurrency", step.concurrency.is_some()),
                ("fail_fast", step.fail_fast.is_some()),
            ] {
                if set {
                    let message = format!(
                        "`{key}` goes with `foreach` (a workflow's concurrency is `concurrency:` \
                         at the top of the file)"
                    );
                    return Err(self.error(field(&[key]), message));
                }
            }
            return Ok(());
        };
        if step.uses.is_none() && step.call.is_none() {
            let message = "`foreach` runs a step once per item: it goes with `uses` or `call`";
            return Err(self.error(field(&["foreach"]), message.into()));
        }
        self.expr_str(expr, field(&["foreach"]), true)?;
        if let Some(n) = step.concurrency
            && !(1..=crate::MAX_ITEM_CONCURRENCY).contains(&n)
        {
            let message = format!(
                "`concurrency` must be between 1 and {}",
                crate::MAX_ITEM_CONCURRENCY
            );
            return Err(self.error(field(&["concurrency"]), message));
        }
        Ok(())
    }

    /// Whether `needs` is written as a list (so its items have their own positions).
    fn needs_is_list(&self, needs: &[Seg]) -> bool {
        let mut first = needs.to_vec();
        first.push(Seg::Index(0));
        self.map
            .zip(self.map.and_then(|m| m.position(&first)))
            .is_some_and(|(m, at)| m.position(needs) != Some(at))
    }

    /// Every expression in a template must compile.
    fn template(&self, v: &Value, at: &mut Vec<Seg>) -> Result<(), ValidationError> {
        match v {
            Value::String(s) => self.expr_str(s, at.clone(), false),
            Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
                at.push(Seg::Index(i));
                let r = self.template(item, at);
                at.pop();
                r
            }),
            Value::Object(fields) => fields.iter().try_for_each(|(k, item)| {
                at.push(Seg::Key(k.clone()));
                let r = self.template(item, at);
                at.pop();
                r
            }),
            _ => Ok(()),
        }
    }

    /// A condition (bare CEL or one `${{ }}`) or a template string must compile.
    fn expr_str(&self, s: &str, at: Vec<Seg>, condition: bool) -> Result<(), ValidationError> {
        let t = s.trim();
        let result = if condition {
            let wrapped = t.starts_with("${{") && t.ends_with("}}");
            match expr::expressions_in(&Value::String(s.to_owned())) {
                Ok(found) if found.is_empty() || (wrapped && found.len() == 1) => expr::check(t),
                Ok(_) => {
                    let message = "a condition must be one expression, \
                                   written bare or as `${{ … }}` with nothing around it";
                    return Err(self.error(at, message.into()));
                }
                Err(e) => Err(e),
            }
        } else {
            expr::expressions_in(&Value::String(s.to_owned()))
                .and_then(|exprs| exprs.iter().try_for_each(|e| expr::check(e)))
        };
        result.map_err(|e| self.error(at.clone(), e.to_string()))?;
        self.secret_use(s, at, condition)
    }

    /// Secrets appear only as a whole `${{ secrets.NAME }}` in a template, resolved by the
    /// service that uses the value; never inside a larger expression or a condition, which the
    /// router would have to evaluate with the clear value.
    fn secret_use(&self, s: &str, at: Vec<Seg>, condition: bool) -> Result<(), ValidationError> {
        let t = s.trim();
        let exprs = if condition && !t.starts_with("${{") {
            vec![t.to_owned()]
        } else {
            expr::expressions_in(&Value::String(s.to_owned())).unwrap_or_default()
        };
        let misuse = exprs
            .iter()
            .find(|e| expr::mentions_secrets(e) && (condition || expr::secret_ref(e).is_none()));
        match misuse {
            None => Ok(()),
            Some(e) => Err(self.error(
                at,
                format!(
                    "`{e}`: secrets may only be used as a whole `${{{{ secrets.NAME }}}}` in a \
                     template (e.g. `Bearer ${{{{ secrets.TOKEN }}}}`), not in conditions or \
                     larger expressions; they are resolved by the executor, never by the router"
                ),
            )),
        }
    }
}

#[path = "validate_triggers.rs"]
mod triggers;

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;

/// `[a-z][a-z0-9-]*`, at most 64 characters: an agent name (it is part of NATS subjects).
pub fn is_agent_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
