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

/// The JSON Schemas of an agent's `with` and output.
pub fn schemas<A: Agent>() -> (serde_json::Value, serde_json::Value) {
    let with = schemars::schema_for!(A::With);
    let output = schemars::schema_for!(A::Output);
    (with.to_value(), output.to_value())
}
