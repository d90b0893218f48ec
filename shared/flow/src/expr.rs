//! `${{ … }}` expressions in CEL. (Stub: the helper fills this in.)

use serde_json::Value;

use crate::ExprError;

/// Evaluate a condition (`if:`), written with or without `${{ }}`.
pub fn eval_condition(expr: &str, _ctx: &Value) -> Result<bool, ExprError> {
    Err(ExprError::Eval {
        expr: expr.into(),
        message: "not implemented".into(),
    })
}

/// Evaluate every expression inside a template value.
pub fn render(template: &Value, _ctx: &Value) -> Result<Value, ExprError> {
    Ok(template.clone())
}
