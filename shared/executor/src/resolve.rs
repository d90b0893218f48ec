//! Resolving what a task's `with` refers to but does not carry — `${{ secrets.NAME }}` — just
//! before the attempt runs, so clear values exist only inside the executor process, and the
//! runner learns which values to mask in what comes back.

use serde_json::Value;

/// A `with` with its references replaced, and the clear values that went in.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The `with` the agent sees.
    pub with: Value,
    /// Every clear value substituted (masked in outputs, errors and logs).
    pub values: Vec<String>,
}

/// Resolves secret references in a task's `with`.
pub trait ResolveInputs: Send + Sync + 'static {
    /// `with` with every reference replaced (`None`: it holds none), or why it cannot be.
    fn resolve(&self, with: &Value) -> Result<Option<Resolved>, String>;
}

/// For executors started without secrets: any reference fails the attempt with a clear error.
#[derive(Debug, Clone, Copy)]
pub struct NoSecrets;

impl ResolveInputs for NoSecrets {
    fn resolve(&self, with: &Value) -> Result<Option<Resolved>, String> {
        fn mentions(v: &Value) -> bool {
            match v {
                Value::String(s) => s.contains("${{") && s.contains("secrets."),
                Value::Array(items) => items.iter().any(mentions),
                Value::Object(map) => map.values().any(mentions),
                _ => false,
            }
        }
        if mentions(with) {
            return Err(
                "the step references a secret, but this executor has no secrets \
                        (set WEFT_MASTER_KEY)"
                    .into(),
            );
        }
        Ok(None)
    }
}
