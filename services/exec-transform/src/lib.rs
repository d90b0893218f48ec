//! The transform executor: runs `uses: transform` steps, a jq program (through the jaq
//! crates) or a map of CEL expressions over a JSON input.
//!
//! Consumes a step's [`TransformWith`] (input: JSON, a string of JSON/NDJSON, or an artifact
//! reference to JSON/NDJSON) and the attempt's context; produces the result as the step's
//! output. Touches the artifact store (reading `input`), a thread per jq attempt and tokio's
//! blocking pool for `map`. Never the process environment: jaq's `env`/`$ENV` are not
//! available to programs.
//!
//! # Limits (per attempt, see [`TransformConfig`])
//!
//! - time: 10 s (or the step's deadline when sooner) → `sandbox_limit`;
//! - jq steps (calls of defined filters, `range` values, `reduce`/`foreach` iterations):
//!   10 million → `sandbox_limit`; one value larger than 64 MiB → `sandbox_limit`; recursion
//!   deeper than 192 MiB of stack → `sandbox_limit`;
//! - result: 16 MiB of compact JSON or 100 000 values → `output_too_large`;
//! - input artifact: 64 MiB → `sandbox_limit`; program text: 64 KiB → `bad_input`;
//! - `map`: 1000 entries; each expression under `weft_flow::Limits::FULL`.
//!
//! # Residual risk (honestly)
//!
//! jaq has no fuel and cannot be interrupted from outside, so the program is rewritten to
//! call a metering native at every step (see [`instrument`]); between steps nothing can stop
//! it. One step is bounded by the data it touches, except a few single operations that can
//! allocate a lot at once: `"x" * 1e9` (string repetition), `tostring`/`tojson`/`@text` of a
//! value built to the 64 MiB limit, `implode`, `ltrimstr`… A single allocation of gigabytes
//! can make the process run out of memory. When the program ignores the stop (it cannot
//! reach a step), its thread is abandoned after [`run::STOP_GRACE`] and keeps a core busy
//! until it reaches one. Running jaq in the `code` agent's sandboxed process would remove
//! both; this crate is ready for that (the evaluation is a pure function of text and JSON).

mod agent;
mod config;
mod convert;
mod error;
pub mod input;
pub mod instrument;
pub mod jq;
pub mod map;
pub mod meter;
pub mod run;
mod with;

pub use agent::{TransformAgent, TransformConfigError};
pub use config::TransformConfig;
pub use error::{Code, TransformError};
pub use input::{ArtifactRef, ArtifactSource};
pub use run::{Outcome, transform};
pub use with::{InputFormat, Program, TransformWith, check_with};

/// What a successful attempt returns: the program's result, any JSON value.
pub type TransformOutput = serde_json::Value;

#[cfg(test)]
mod tests;
