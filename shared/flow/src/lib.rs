//! The workflow file (v1): model, parsing, validation, the step DAG and `${{ … }}` expressions.
//!
//! Consumes workflow source text (YAML or JSON); produces a validated [`Workflow`], errors that
//! name the line and the field, evaluated expressions and the JSON Schema of the file. It does
//! no I/O.

pub mod agents;
pub mod budget;
pub mod calls;
mod cel_json;
pub mod dag;
mod de;
pub mod duration;
pub mod error;
pub mod expr;
pub mod gate;
pub mod locate;
pub mod model;
pub mod parse;
pub mod published;
pub mod schema;
pub mod triggers;
pub mod validate;
pub mod webhook_auth;
mod workflow_trigger;

pub use agents::{Catalog, WithCheck};
pub use budget::Limits;
pub use error::{ExprError, ExprErrorCode, ValidationError};
pub use expr::{
    check, eval_condition, eval_condition_within, eval_value, eval_value_within, expressions_in,
    render, render_within,
};
pub use model::*;
pub use parse::{Format, parse};
pub use published::Published;
pub use validate::validate;
pub use webhook_auth::{Respond, Secret, WebhookAuth};
pub use workflow_trigger::{ExecutionOutcome, WorkflowTrigger};
