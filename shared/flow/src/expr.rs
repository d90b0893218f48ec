//! `${{ … }}` expressions in CEL.
//!
//! Consumes expression text (conditions, template strings) and a JSON context object whose
//! top-level keys (`event`, `inputs`, `steps`, `execution`, `item`, `secrets`) become CEL
//! variables; produces booleans ([`eval_condition`]), rendered JSON ([`render`]) or compile
//! checks ([`check`], [`expressions_in`]). Touches only a process-wide cache of compiled
//! programs (bounded; cleared when full), since the router evaluates on its hot path.
//!
//! Every compile enforces the shape limits and every evaluation (one condition, or one whole
//! template) runs under a [`Limits`] budget: see [`crate::budget`]. Over a limit is
//! [`ExprError::Limit`] (code `expression_limit`).
//!
//! Semantics worth knowing:
//! - Reading a missing map key (`event.data.body.nope`) or an unknown variable is an
//!   evaluation error, not null: in [`render`] too. Guard optional fields with CEL's own
//!   `has(steps.x.output.y)` or `'y' in steps.x.output`.
//! - In a template, a string that is exactly one `${{ expr }}` (whitespace around allowed)
//!   becomes the value with its JSON type; a string with text around expressions is
//!   interpolated (strings as is, other values as compact JSON). Object keys are not
//!   evaluated.
//! - An expression ends at the first `}}` outside quotes and outside CEL braces, so map
//!   literals such as `${{ {'a': {'b': 1}} }}` work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cel::{Context, Env, IdedExpr};
use serde_json::Value;

use crate::ExprError;
use crate::budget::{self, Limits, excerpt};
use crate::cel_json::{to_cel, to_json};

/// Most compiled programs kept; the cache is emptied when it is full.
const CACHE_LIMIT: usize = 4096;

fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        budget::register(&mut env);
        Arc::new(env)
    })
}

/// Parse, check the shape limits and instrument one expression (cached).
fn compile(src: &str) -> Result<Arc<IdedExpr>, ExprError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<IdedExpr>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(src).cloned()) {
        return Ok(p);
    }
    let limit = |message: String| ExprError::Limit {
        expr: excerpt(src),
        message,
    };
    if src.len() > budget::MAX_SOURCE_BYTES {
        let max = budget::MAX_SOURCE_BYTES;
        return Err(limit(format!(
            "{} bytes long; at most {max} are allowed",
            src.len()
        )));
    }
    let program = Arc::new(budget::parse(env(), src)?);
    if let Ok(mut c) = cache.lock() {
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(src.to_owned(), Arc::clone(&program));
    }
    Ok(program)
}

/// The expression inside `${{ … }}`, or the text itself (trimmed) when not wrapped.
fn unwrap(expr: &str) -> &str {
    let t = expr.trim();
    t.strip_prefix("${{")
        .and_then(|t| t.strip_suffix("}}"))
        .unwrap_or(t)
        .trim()
}

/// Evaluate one bare CEL expression against `ctx`, charging the meter of the evaluation in
/// progress (see [`metered`]).
fn eval(src: &str, ctx: &Value) -> Result<Value, ExprError> {
    let program = compile(src)?;
    let mut context = Context::with_env(Arc::clone(env()));
    if let Value::Object(vars) = ctx {
        // Only the variables the expression names are converted: `${{ item }}` in a foreach
        // step must not convert the whole event (a 10,000-item list) for every item. An
        // expression that uses a variable contains its name, so this skips none it needs.
        for (name, value) in vars.iter().filter(|(name, _)| src.contains(name.as_str())) {
            context.add_variable_from_value(name.as_str(), to_cel(value));
        }
    }
    let fail = |message: String| ExprError::Eval {
        expr: src.to_owned(),
        message,
    };
    let value = cel::Value::resolve(&program, &context).map_err(|e| fail(e.to_string()))?;
    to_json(&value).map_err(fail)
}

/// Run one whole evaluation under `limits`: over a limit is [`ExprError::Limit`], whatever the
/// expression made of the error (CEL's `||` and `&&` can absorb one).
fn metered<T>(
    src: &str,
    limits: &Limits,
    f: impl FnOnce() -> Result<T, ExprError>,
) -> Result<T, ExprError> {
    match budget::metered(limits, f) {
        (_, Some(exceeded)) => Err(ExprError::Limit {
            expr: excerpt(src),
            message: exceeded.to_string(),
        }),
        (out, None) => out,
    }
}

/// Compile an expression (with or without `${{ }}`) without evaluating it.
pub fn check(expr: &str) -> Result<(), ExprError> {
    compile(unwrap(expr)).map(|_| ())
}

/// Evaluate a condition (`if:`), written with or without `${{ }}`, under [`Limits::FULL`].
/// It must give a boolean.
pub fn eval_condition(expr: &str, ctx: &Value) -> Result<bool, ExprError> {
    eval_condition_within(expr, ctx, &Limits::FULL)
}

/// [`eval_condition`] under `limits`.
pub fn eval_condition_within(expr: &str, ctx: &Value, limits: &Limits) -> Result<bool, ExprError> {
    let src = unwrap(expr);
    match metered(src, limits, || eval(src, ctx))? {
        Value::Bool(b) => Ok(b),
        other => Err(ExprError::NotBool {
            expr: src.to_owned(),
            got: other.to_string(),
        }),
    }
}

/// Evaluate one expression (with or without `${{ }}`) to a JSON value, under [`Limits::FULL`].
pub fn eval_value(expr: &str, ctx: &Value) -> Result<Value, ExprError> {
    eval_value_within(expr, ctx, &Limits::FULL)
}

/// [`eval_value`] under `limits`.
pub fn eval_value_within(expr: &str, ctx: &Value, limits: &Limits) -> Result<Value, ExprError> {
    let src = unwrap(expr);
    metered(src, limits, || eval(src, ctx))
}

/// The secret name when `expr` (the text inside `${{ }}`) is exactly `secrets.NAME`.
///
/// Secrets are never evaluated here: [`render`] keeps such a reference as the literal text
/// `${{ secrets.NAME }}`, and the service that uses the value (an executor, a trigger) resolves
/// it just before use, so no clear value reaches the bus or the execution history.
pub fn secret_ref(expr: &str) -> Option<&str> {
    let name = expr.trim().strip_prefix("secrets.")?;
    is_secret_name(name).then_some(name)
}

/// Whether `name` is a valid secret name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters.
pub fn is_secret_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether an expression reads the `secrets` variable at all.
pub fn mentions_secrets(expr: &str) -> bool {
    let bytes = expr.as_bytes();
    expr.match_indices("secrets").any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + "secrets".len()).copied();
        let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
        !before.is_some_and(ident) && !after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

fn secret_placeholder(name: &str) -> String {
    format!("${{{{ secrets.{name} }}}}")
}

/// Evaluate every expression inside a template value, under [`Limits::FULL`] for the whole
/// template.
pub fn render(template: &Value, ctx: &Value) -> Result<Value, ExprError> {
    render_within(template, ctx, &Limits::FULL)
}

/// [`render`] under `limits` (one budget for the whole template).
pub fn render_within(template: &Value, ctx: &Value, limits: &Limits) -> Result<Value, ExprError> {
    metered("template", limits, || render_value(template, ctx))
}

fn render_value(template: &Value, ctx: &Value) -> Result<Value, ExprError> {
    Ok(match template {
        Value::String(s) => render_str(s, ctx)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(v, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, ctx)?)))
                .collect::<Result<_, ExprError>>()?,
        ),
        other => other.clone(),
    })
}

fn render_str(s: &str, ctx: &Value) -> Result<Value, ExprError> {
    let pieces = split(s)?;
    match pieces.as_slice() {
        [] => return Ok(Value::String(String::new())),
        [Piece::Text(_)] => return Ok(Value::String(s.to_owned())),
        _ => {}
    }
    let mut exprs = pieces.iter().filter_map(|p| match p {
        Piece::Expr(e) => Some(*e),
        Piece::Text(_) => None,
    });
    let blank_text = pieces.iter().all(|p| match p {
        Piece::Text(t) => t.trim().is_empty(),
        Piece::Expr(_) => true,
    });
    if let (Some(only), None, true) = (exprs.next(), exprs.next(), blank_text) {
        if let Some(name) = secret_ref(only) {
            return Ok(Value::String(secret_placeholder(name)));
        }
        return eval(only, ctx);
    }
    let mut out = String::new();
    for piece in &pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Expr(e) if secret_ref(e).is_some() => {
                out.push_str(&secret_placeholder(secret_ref(e).unwrap_or_default()))
            }
            Piece::Expr(e) => match eval(e, ctx)? {
                Value::String(v) => out.push_str(&v),
                other => out.push_str(&other.to_string()),
            },
        }
    }
    Ok(Value::String(out))
}

/// Every expression (without its `${{ }}`) in the strings of `v`, in order.
pub fn expressions_in(v: &Value) -> Result<Vec<String>, ExprError> {
    let mut out = Vec::new();
    collect(v, &mut out)?;
    Ok(out)
}

fn collect(v: &Value, out: &mut Vec<String>) -> Result<(), ExprError> {
    match v {
        Value::String(s) => {
            for piece in split(s)? {
                if let Piece::Expr(e) = piece {
                    out.push(e.to_owned());
                }
            }
        }
        Value::Array(items) => items.iter().try_for_each(|v| collect(v, out))?,
        Value::Object(map) => map.values().try_for_each(|v| collect(v, out))?,
        _ => {}
    }
    Ok(())
}

/// A template string cut into literal text and expressions (trimmed, without `${{ }}`).
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Expr(&'a str),
}

fn split(s: &str) -> Result<Vec<Piece<'_>>, ExprError> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${{") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let body = &rest[start + 3..];
        let end = closing(body).ok_or_else(|| ExprError::Syntax {
            expr: rest[start..].to_owned(),
            message: "`${{` without a closing `}}`".into(),
        })?;
        pieces.push(Piece::Expr(body[..end].trim()));
        rest = &body[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// Byte offset of the `}}` that closes an expression body, skipping quoted strings and
/// balanced braces.
fn closing(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let (mut depth, mut quote, mut i) = (0usize, None::<u8>, 0);
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b'{' => depth += 1,
                b'}' if depth > 0 => depth -= 1,
                b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

#[cfg(test)]
#[path = "expr_tests.rs"]
mod tests;
