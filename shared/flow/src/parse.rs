//! Source text → validated [`Workflow`].
//!
//! Consumes workflow source text, YAML (through `yaml_serde`) or JSON (through `serde_json`);
//! produces a [`Workflow`] that passed [`crate::validate::validate`], or the first problem as
//! a [`ValidationError`] with line, column and field path. Deserialization errors (syntax,
//! unknown field, wrong type, missing field) get the position the deserializer reports; the
//! field path comes from `yaml_serde`'s message or, for JSON, from the [`SourceMap`] at that
//! position. Unknown fields are named with their own path, e.g. `on.webhook.pth`.

use crate::locate::{Seg, SourceMap, display_path};
use crate::{ValidationError, Workflow};

/// Source format of a workflow file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (a superset of JSON).
    Yaml,
    /// JSON.
    Json,
}

/// Parse and validate a workflow file. Errors name the line and the field.
pub fn parse(source: &str, format: Format) -> Result<Workflow, ValidationError> {
    if source.trim().is_empty() {
        return Err(ValidationError {
            line: None,
            column: None,
            field: None,
            message: "the workflow file is empty".into(),
        });
    }
    if let Ok(map) = SourceMap::parse(source) {
        crate::validate::duplicate_keys(&map)?;
    }
    let wf: Workflow = match format {
        Format::Yaml => yaml_serde::from_str(source).map_err(|e| {
            let at = e.location().map(|l| (l.line(), l.column()));
            deserialize_error(source, at, &e.to_string(), true)
        })?,
        Format::Json => serde_json::from_str(source).map_err(|e| {
            let at = (e.line() > 0).then(|| (e.line(), e.column()));
            deserialize_error(source, at, &e.to_string(), false)
        })?,
    };
    refuse_nul(source, format)?;
    let mut wf = wf;
    branch_needs(&mut wf);
    crate::validate::validate(&wf, Some(source))?;
    Ok(wf)
}

/// The steps of a `switch`'s branches need the switch: add it to their `needs` (where the step
/// exists and does not list it yet), so that the DAG, its cycle check and the engine see the
/// edge. Unknown ids are left for validation to report.
pub fn branch_needs(wf: &mut Workflow) {
    add_branch_needs(&mut wf.steps);
    add_branch_needs(&mut wf.on_failure);
}

fn add_branch_needs(steps: &mut indexmap::IndexMap<String, crate::Step>) {
    let edges: Vec<(String, String)> = steps
        .iter()
        .filter(|(_, s)| s.switch.is_some())
        .flat_map(|(id, s)| s.branch_steps().map(move |t| (t.to_string(), id.clone())))
        .collect();
    for (target, switch) in edges {
        if target == switch {
            continue;
        }
        if let Some(step) = steps.get_mut(&target)
            && !step.needs.contains(&switch)
        {
            step.needs.push(switch);
        }
    }
}

/// The message of the error for a workflow file holding U+0000 (the API answers it with code
/// `invalid_text`).
pub const NUL_MESSAGE: &str = "holds U+0000 (NUL), which cannot be stored; remove it";

/// PostgreSQL cannot store U+0000: a workflow holding it (written as is, or as a `\0` or
/// `\u0000` escape) is refused here, with its line and field, rather than failing later.
fn refuse_nul(source: &str, format: Format) -> Result<(), ValidationError> {
    // Only a raw NUL or an escape (`\0`, `\x00`, `\u0000`, `\U00000000`) can write one.
    if !source.contains(['\\', '\0']) {
        return Ok(());
    }
    let value: Option<serde_json::Value> = match format {
        Format::Yaml => yaml_serde::from_str(source).ok(),
        Format::Json => serde_json::from_str(source).ok(),
    };
    let mut at = Vec::new();
    if !value.is_some_and(|v| nul_at(&v, &mut at)) {
        return Ok(());
    }
    let position = SourceMap::parse(source).ok().and_then(|m| m.position(&at));
    Err(ValidationError {
        line: position.map(|p| p.0),
        column: position.map(|p| p.1),
        field: (!at.is_empty()).then(|| display_path(&at)),
        message: NUL_MESSAGE.into(),
    })
}

/// Whether `v` holds U+0000 in a string or key; `at` is then the path to it.
fn nul_at(v: &serde_json::Value, at: &mut Vec<Seg>) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            at.push(Seg::Index(i));
            let found = nul_at(item, at);
            if !found {
                at.pop();
            }
            found
        }),
        Value::Object(map) => map.iter().any(|(k, item)| {
            at.push(Seg::Key(k.clone()));
            let found = k.contains('\0') || nul_at(item, at);
            if !found {
                at.pop();
            }
            found
        }),
        _ => false,
    }
}

/// A deserializer's error as a [`ValidationError`]: strips the position from the message,
/// finds the field path and names the types in the terms of the file.
fn deserialize_error(
    source: &str,
    at: Option<(usize, usize)>,
    text: &str,
    yaml: bool,
) -> ValidationError {
    let mut message = strip_position(text).to_owned();
    let map = SourceMap::parse(source).ok();
    let mut field: Option<Vec<Seg>> = None;
    if let (Some(map), Some((line, col))) = (&map, at) {
        let here = map.path_at(line, col).unwrap_or_default();
        // yaml_serde writes `path: message`; find which prefix of the path under the
        // position it wrote.
        let written = (0..=here.len()).rev().find(|&n| {
            let p = display_path(&here[..n]);
            !p.is_empty() && message.starts_with(&format!("{p}: "))
        });
        match written {
            Some(n) => {
                message = message[display_path(&here[..n]).len() + 2..].to_owned();
                field = Some(here[..n].to_vec());
            }
            None if !yaml => field = Some(here.to_vec()),
            None => field = Some(Vec::new()),
        }
    } else if yaml {
        // No positions (saphyr rejected the text): take yaml_serde's `path: ` as written.
        if let Some((p, rest)) = message.split_once(": ")
            && !p.contains(' ')
        {
            field = Some(vec![Seg::Key(p.to_owned())]);
            message = rest.to_owned();
        } else {
            field = Some(Vec::new());
        }
    }
    if let Some(unknown) = unknown_field(&message)
        && let Some(f) = &mut field
        && f.last() != Some(&Seg::Key(unknown.to_owned()))
    {
        f.push(Seg::Key(unknown.to_owned()));
    }
    ValidationError {
        line: at.map(|a| a.0),
        column: at.map(|a| a.1),
        field: field.filter(|f| !f.is_empty()).map(|f| display_path(&f)),
        message: friendly(&message),
    }
}

/// `unknown field `x`, expected …` → `x`.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// The message without the ` at line L column C` that both deserializers append.
fn strip_position(text: &str) -> &str {
    match text.rfind(" at line ") {
        Some(i) if text[i + 9..].contains(" column ") => &text[..i],
        _ => text,
    }
}

/// Rust type names in messages, in the terms of the file.
fn friendly(message: &str) -> String {
    const NAMES: &[(&str, &str)] = &[
        ("struct Workflow", "a workflow object {name, on, steps, …}"),
        (
            "struct Triggers",
            "an object of triggers {webhook, event, workflow, manual}",
        ),
        (
            "struct WebhookTrigger",
            "an object {path, auth, respond, wait_timeout}",
        ),
        ("struct WorkflowTrigger", "an object {name, status}"),
        ("struct GithubAuth", "an object {secret}"),
        ("struct StripeAuth", "an object {secret, tolerance}"),
        ("struct StandardAuth", "an object {secret}"),
        (
            "struct HmacAuth",
            "an object {secret, header, algorithm, encoding, prefix}",
        ),
        ("struct TokenAuth", "an object {header, value}"),
        ("struct EventTrigger", "an object {type, source, subject}"),
        ("struct ManualTrigger", "an object {inputs}"),
        (
            "struct InputSpec",
            "an object {description, type, required, default}",
        ),
        ("struct Step", "a step object {uses, with, needs, …}"),
        (
            "struct RetryPolicy",
            "an object {attempts, backoff, factor, max_backoff}",
        ),
    ];
    NAMES
        .iter()
        .fold(message.to_owned(), |m, (from, to)| m.replace(from, to))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
