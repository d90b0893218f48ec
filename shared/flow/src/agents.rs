//! Which agents a workflow may use, and whether each step's `with` fits its agent's schema.
//!
//! Consumes a parsed [`Workflow`], its source (for lines) and a [`Catalog`] of agents — the
//! built-in ones (their schemas generated from the executors' Rust types and committed under
//! `schemas/agents/`, embedded here) plus those announced in the registry; produces the first
//! problem as a [`ValidationError`] naming the line and the field. Only the parts of `with`
//! that are not expressions are checked: a value holding `${{ … }}` is known only at run time,
//! so an error about it (or anything inside it) is not reported. No I/O.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::locate::{Seg, SourceMap, display_path, path};
use crate::{ValidationError, Workflow};

/// The built-in agents and their committed documents (`schemas/agents/<name>.json`: name,
/// description, `with` and `output` schemas).
pub const BUILTIN: &[(&str, &str)] = &[
    ("http", include_str!("../../../schemas/agents/http.json")),
    ("email", include_str!("../../../schemas/agents/email.json")),
    ("code", include_str!("../../../schemas/agents/code.json")),
    (
        "transform",
        include_str!("../../../schemas/agents/transform.json"),
    ),
];

/// A check of a literal `with` beyond its schema (e.g. that a jq program compiles), from the
/// agent's own crate: `Err((field, message))`, `field` a dotted path inside `with` (`jq`,
/// `map.total`). Values holding expressions are the check's to skip.
pub type WithCheck = fn(&Value) -> Result<(), (String, String)>;

/// Agents a workflow may use, by name, with the JSON Schema of their `with` (`None`: an
/// announced agent without a usable schema; anything goes) and their own checks.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    agents: BTreeMap<String, Option<Value>>,
    checks: BTreeMap<String, WithCheck>,
}

impl Catalog {
    /// The built-in agents.
    pub fn builtin() -> Self {
        let mut c = Self::default();
        for (name, schema) in BUILTIN {
            let doc = serde_json::from_str::<Value>(schema).unwrap_or_default();
            c.agents
                .insert((*name).to_string(), Some(doc["with"].clone()));
        }
        c
    }

    /// Add (or replace) an agent.
    pub fn insert(&mut self, name: &str, with_schema: Option<Value>) {
        self.agents.insert(name.to_string(), with_schema);
    }

    /// Add an agent's own check of `with` (run after its schema passed).
    pub fn insert_check(&mut self, name: &str, check: WithCheck) {
        self.checks.insert(name.to_string(), check);
    }

    /// Whether `name` is known.
    pub fn contains(&self, name: &str) -> bool {
        self.agents.contains_key(name)
    }

    /// The known names.
    pub fn names(&self) -> Vec<&str> {
        self.agents.keys().map(String::as_str).collect()
    }

    /// Check every step of `wf`: `uses` names a known agent and `with` fits its schema.
    pub fn check(&self, wf: &Workflow, source: Option<&str>) -> Result<(), ValidationError> {
        let map = source.and_then(|s| SourceMap::parse(s).ok());
        let error = |field: Vec<Seg>, message: String| {
            let at = map.as_ref().and_then(|m| m.position(&field));
            ValidationError {
                line: at.map(|a| a.0),
                column: at.map(|a| a.1),
                field: Some(display_path(&field)),
                message,
            }
        };
        for (id, step) in &wf.steps {
            let Some(agent) = step.agent() else {
                continue; // a built-in kind (sleep, until, switch): no agent to check
            };
            let Some(schema) = self.agents.get(agent) else {
                let known = self.names().join(", ");
                return Err(error(
                    path(&["steps", id, "uses"]),
                    format!(
                        "unknown agent `{agent}`: neither built in nor announced by a running \
                         executor (known: {known})"
                    ),
                ));
            };
            let Some(schema) = schema else { continue };
            let with = if step.with.is_null() {
                Value::Object(Default::default())
            } else {
                step.with.clone()
            };
            if let Some((at, message)) = first_error(schema, &with) {
                let mut field = path(&["steps", id, "with"]);
                field.extend(at);
                return Err(error(field, message));
            }
            if let Some(Err((at, message))) = self.checks.get(agent).map(|c| c(&with)) {
                let mut field = path(&["steps", id, "with"]);
                field.extend(at.split('.').filter(|k| !k.is_empty()).map(Seg::from));
                return Err(error(field, message));
            }
        }
        Ok(())
    }
}

/// The first schema error of `with` that is not about an expression, as (path, message).
fn first_error(schema: &Value, with: &Value) -> Option<(Vec<Seg>, String)> {
    let validator = jsonschema::validator_for(schema).ok()?;
    for e in validator.iter_errors(with) {
        let mut at = pointer_segments(&e.instance_path().to_string());
        if under_expression(with, &at) {
            continue;
        }
        // An unknown field: point at it, not at the object that holds it.
        if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } =
            e.kind()
            && let Some(first) = unexpected.first()
        {
            at.push(Seg::Key(first.clone()));
        }
        return Some((at, e.to_string()));
    }
    None
}

/// `/a/0/b~1c` → `[a, 0, b/c]`.
fn pointer_segments(pointer: &str) -> Vec<Seg> {
    pointer
        .split('/')
        .skip(1)
        .map(|raw| {
            let key = raw.replace("~1", "/").replace("~0", "~");
            match key.parse::<usize>() {
                Ok(i) => Seg::Index(i),
                Err(_) => Seg::Key(key),
            }
        })
        .collect()
}

/// Whether the value at `at` in `v`, or one of its parents, is a string holding an expression.
fn under_expression(v: &Value, at: &[Seg]) -> bool {
    let mut cur = v;
    for seg in std::iter::once(None).chain(at.iter().map(Some)) {
        if let Some(seg) = seg {
            let next = match (seg, cur) {
                (Seg::Key(k), Value::Object(m)) => m.get(k),
                (Seg::Index(i), Value::Array(a)) => a.get(*i),
                (Seg::Index(i), Value::Object(m)) => m.get(&i.to_string()),
                _ => None,
            };
            match next {
                Some(n) => cur = n,
                None => return false,
            }
        }
        if matches!(cur, Value::String(s) if s.contains("${{")) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wf(yaml: &str) -> (Workflow, String) {
        let wf = crate::parse(yaml, crate::Format::Yaml).expect("parses");
        (wf, yaml.to_string())
    }

    #[test]
    fn unknown_agents_and_bad_with_name_line_and_field() {
        let catalog = Catalog::builtin();
        let (w, src) = wf("name: a\non: { manual: {} }\nsteps:\n  s:\n    uses: nope\n");
        let e = catalog.check(&w, Some(&src)).expect_err("unknown");
        assert_eq!(e.field.as_deref(), Some("steps.s.uses"));
        assert_eq!(e.line, Some(5));
        assert!(e.message.contains("unknown agent `nope`"), "{}", e.message);

        let src = "name: a\non: { manual: {} }\nsteps:\n  s:\n    uses: http\n    with:\n      url: http://x\n      follow_redirects: maybe\n";
        let (w, src) = wf(src);
        let e = catalog.check(&w, Some(&src)).expect_err("bad type");
        assert_eq!(e.field.as_deref(), Some("steps.s.with.follow_redirects"));
        assert_eq!(e.line, Some(8));

        let (w, src) = wf(
            "name: a\non: { manual: {} }\nsteps:\n  s:\n    uses: http\n    with: { url: http://x, color: red }\n",
        );
        let e = catalog.check(&w, Some(&src)).expect_err("unknown field");
        assert!(e.message.contains("color"), "{}", e.message);
        assert_eq!(e.field.as_deref(), Some("steps.s.with.color"));
    }

    #[test]
    fn expressions_are_not_checked_until_run_time() {
        let catalog = Catalog::builtin();
        let (w, src) = wf(
            "name: a\non: { manual: {} }\nsteps:\n  s:\n    uses: http\n    with:\n      url: \"${{ inputs.url }}\"\n      follow_redirects: \"${{ inputs.follow }}\"\n      headers: \"${{ inputs.h }}\"\n",
        );
        catalog.check(&w, Some(&src)).expect("only expressions");
        let (w, src) = wf(
            "name: a\non: { manual: {} }\nsteps:\n  s:\n    uses: http\n    with: { method: GET }\n",
        );
        let e = catalog.check(&w, Some(&src)).expect_err("url is required");
        assert!(e.message.contains("url"), "{}", e.message);
    }
}
