//! The [`Agent`] contract: what one kind of executor implements.

use std::future::Future;

use serde::{Serialize, de::DeserializeOwned};
use weft_events::StepError;

use crate::Context;

/// One kind of agent (`uses: <NAME>`).
///
/// `With` is the step's `with:` block, deserialized strictly (`deny_unknown_fields`; every
/// field documented, since its JSON Schema is generated from the type and published in the
/// registry, `schemas/agents/` and the workflow schema). `Output` becomes
/// `steps.<id>.output`. The runner around it resolves secret references before
/// [`Agent::execute`] and masks their values in whatever comes back.
pub trait Agent: Send + Sync + 'static {
    /// The `uses:` name, e.g. `email`: `[a-z][a-z0-9-]*`.
    const NAME: &'static str;
    /// One line for the registry and the docs.
    const DESCRIPTION: &'static str;
    /// The step's `with:`.
    type With: DeserializeOwned + schemars::JsonSchema + Send + 'static;
    /// What a successful attempt returns.
    type Output: Serialize + schemars::JsonSchema + Send + 'static;

    /// Run one attempt. Watch `cx` for cancellation where the work can stop; log through it.
    fn execute(
        &self,
        with: Self::With,
        cx: Context,
    ) -> impl Future<Output = Result<Self::Output, StepError>> + Send;

    /// Whether this agent can work here (for `/readyz`): `Err` says why not, e.g. a sandbox
    /// that cannot start. Default: ready.
    fn check(&self) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }
}

/// An agent the host can build from its own settings: the TOML section `[exec_<name>]`
/// (`-` → `_`) and `WEFT_EXEC_<NAME>_…` variables ([`config_section`]).
pub trait Hosted: Agent + Sized {
    /// The agent's settings (strict serde, documented, with named defaults).
    type Config: DeserializeOwned + Serialize + Default + Send + 'static;

    /// Build the agent (called from async code inside the runtime); `Err` says why it cannot
    /// start.
    fn build(config: Self::Config) -> Result<Self, String>;
}

/// The configuration section of agent `A`: `exec_<name>`.
pub fn config_section<A: Agent>() -> String {
    format!("exec_{}", A::NAME.replace('-', "_"))
}

/// The JSON Schemas of an agent's `with` and output.
pub fn schemas<A: Agent>() -> (serde_json::Value, serde_json::Value) {
    let with = schemars::schema_for!(A::With);
    let output = schemars::schema_for!(A::Output);
    (with.to_value(), output.to_value())
}

/// The committed description of a built-in agent, `schemas/agents/<name>.json`: name,
/// description, and the JSON Schemas of `with` and of the output.
pub fn agent_document<A: Agent>() -> serde_json::Value {
    let (with, output) = schemas::<A>();
    serde_json::json!({
        "name": A::NAME,
        "description": A::DESCRIPTION,
        "with": with,
        "output": output,
    })
}

/// Drift check for a built-in agent's `schemas/agents/<name>.json` (call it from a test of the
/// agent's crate): fails when the committed file differs from what the types generate; with
/// `WEFT_BLESS` set it writes the file instead. `manifest_dir` is the crate's
/// `CARGO_MANIFEST_DIR` (the file is found two levels up).
pub fn check_agent_document<A: Agent>(manifest_dir: &str) -> Result<(), String> {
    let path = std::path::Path::new(manifest_dir)
        .join("../../schemas/agents")
        .join(format!("{}.json", A::NAME));
    let mut generated =
        serde_json::to_string_pretty(&agent_document::<A>()).map_err(|e| e.to_string())?;
    generated.push('\n');
    if std::env::var_os("WEFT_BLESS").is_some() {
        return std::fs::write(&path, generated).map_err(|e| e.to_string());
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        return Err(format!(
            "{} differs from the schema the Rust types generate; regenerate it with \
             `WEFT_BLESS=1 cargo test -p <the agent's crate> agent_document` and commit it",
            path.display()
        ));
    }
    Ok(())
}
