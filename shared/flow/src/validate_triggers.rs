//! Apply-time checks of the `on:` block: webhook paths (valid, not repeated), webhook `auth`
//! (see [`crate::webhook_auth::check`]) and `wait_timeout`, and `on.workflow` names and statuses.
//!
//! Consumes a parsed workflow; produces the first problem with its field (and line, through the
//! parent [`Validator`]). Touches nothing.

use std::collections::HashMap;

use serde_json::Value;

use super::{Validator, is_name};
use crate::expr;
use crate::locate::{Seg, path};
use crate::triggers::Check;
use crate::webhook_auth::{self, MAX_WAIT_TIMEOUT};
use crate::{OneOrMany, Respond, ValidationError, WebhookTrigger, Workflow, WorkflowTrigger};

/// Longest webhook path, in bytes.
pub(crate) const MAX_WEBHOOK_PATH: usize = 256;

/// What is wrong with a webhook path, if anything. One character set: segments of
/// `[A-Za-z0-9._~-]` separated by single `/`, none empty, `.` or `..`, no leading or trailing
/// `/`, at most [`MAX_WEBHOOK_PATH`] bytes; so a path is always below `/hooks/` and is the
/// same text in the file, the URL and the route table.
pub(crate) fn webhook_path_problem(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        Some("must not be empty")
    } else if p.len() > MAX_WEBHOOK_PATH {
        Some("is longer than 256 bytes")
    } else if p.starts_with('/') {
        Some("must not start with `/` (it is relative to /hooks/)")
    } else if !p
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._~/-".contains(c))
    {
        Some("may hold only letters, digits and `.`, `_`, `~`, `/`, `-`")
    } else if p.split('/').any(|segment| segment.is_empty()) {
        Some("must not have empty segments (`//` or a trailing `/`)")
    } else if p
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        Some("must not have `.` or `..` segments")
    } else {
        None
    }
}

/// `on.<kind>` or `on.<kind>[i]`, as the file writes it.
fn item<T>(kind: &str, all: &OneOrMany<T>, i: usize) -> Vec<Seg> {
    let mut field = path(&["on", kind]);
    if matches!(all, OneOrMany::Many(_)) {
        field.push(Seg::Index(i));
    }
    field
}

impl Validator<'_> {
    pub(super) fn triggers(&self, wf: &Workflow) -> Result<(), ValidationError> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, hook) in wf.on.webhook.as_slice().iter().enumerate() {
            let at = item("webhook", &wf.on.webhook, i);
            let mut field = at.clone();
            field.push("path".into());
            if let Some(problem) = webhook_path_problem(&hook.path) {
                return Err(self.error(field, format!("webhook path `{}` {problem}", hook.path)));
            }
            if let Some(first) = seen.insert(hook.path.as_str(), i) {
                return Err(self.error(
                    field,
                    format!(
                        "webhook path `{}` is already used by on.webhook[{first}]",
                        hook.path
                    ),
                ));
            }
            self.webhook_options(hook, at)?;
        }
        for (i, t) in wf.on.workflow.as_slice().iter().enumerate() {
            self.workflow_trigger(wf, t, item("workflow", &wf.on.workflow, i))?;
        }
        Ok(())
    }

    fn webhook_options(&self, hook: &WebhookTrigger, at: Vec<Seg>) -> Result<(), ValidationError> {
        if let Some(auth) = &hook.auth
            && let Err((rest, message)) = webhook_auth::check(auth)
        {
            let mut field = at.clone();
            field.push("auth".into());
            field.extend(rest);
            return Err(self.error(field, message));
        }
        let wait = hook.wait_timeout;
        if hook.respond == Respond::Wait && (wait.is_zero() || wait > MAX_WAIT_TIMEOUT) {
            let mut field = at;
            field.push("wait_timeout".into());
            let message = format!(
                "wait_timeout must be more than 0s and at most {}",
                humantime::format_duration(MAX_WAIT_TIMEOUT)
            );
            return Err(self.error(field, message));
        }
        Ok(())
    }

    fn workflow_trigger(
        &self,
        wf: &Workflow,
        t: &WorkflowTrigger,
        at: Vec<Seg>,
    ) -> Result<(), ValidationError> {
        let field = |k: &str| {
            let mut f = at.clone();
            f.push(k.into());
            f
        };
        if !is_name(&t.name) {
            let message = format!("`{}` is not a workflow name", t.name);
            return Err(self.error(field("name"), message));
        }
        if t.name == wf.name {
            let message = "a workflow cannot start on its own executions".to_owned();
            return Err(self.error(field("name"), message));
        }
        if t.status.as_slice().is_empty() {
            let message = "name at least one status: succeeded, failed, cancelled or timed_out";
            return Err(self.error(field("status"), message.into()));
        }
        Ok(())
    }

    /// The service-run kinds (`email`, `file`, `s3`, `schedule`, `cdc`): each item's own checks.
    pub(super) fn service_triggers(&self, on: &crate::Triggers) -> Result<(), ValidationError> {
        self.kind("email", &on.email)?;
        self.kind("file", &on.file)?;
        self.kind("s3", &on.s3)?;
        self.kind("schedule", &on.schedule)?;
        self.kind("cdc", &on.cdc)
    }

    fn kind<T: Check + serde::Serialize>(
        &self,
        kind: &str,
        items: &OneOrMany<T>,
    ) -> Result<(), ValidationError> {
        let many = matches!(items, OneOrMany::Many(_));
        for (i, item) in items.as_slice().iter().enumerate() {
            let mut field = path(&["on", kind]);
            if many {
                field.push(Seg::Index(i));
            }
            if let Err(problem) = item.check() {
                field.push(problem.field.into());
                return Err(self.error(field, problem.message));
            }
            let value = serde_json::to_value(item).unwrap_or(Value::Null);
            self.only_secret_refs(&value, &mut field)?;
        }
        Ok(())
    }

    /// `on:` blocks are not evaluated: the only `${{ }}` they may hold is a secret reference,
    /// resolved by the trigger service.
    fn only_secret_refs(&self, v: &Value, at: &mut Vec<Seg>) -> Result<(), ValidationError> {
        match v {
            Value::String(s) => {
                let exprs =
                    expr::expressions_in(v).map_err(|e| self.error(at.clone(), e.to_string()))?;
                match exprs.iter().find(|e| expr::secret_ref(e).is_none()) {
                    None => Ok(()),
                    Some(e) => Err(self.error(
                        at.clone(),
                        format!(
                            "`{s}`: trigger settings are not evaluated; the only expression \
                             allowed is a whole `${{{{ secrets.NAME }}}}` (found `{e}`)"
                        ),
                    )),
                }
            }
            Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
                at.push(Seg::Index(i));
                let r = self.only_secret_refs(item, at);
                at.pop();
                r
            }),
            Value::Object(fields) => fields.iter().try_for_each(|(k, item)| {
                at.push(Seg::Key(k.clone()));
                let r = self.only_secret_refs(item, at);
                at.pop();
                r
            }),
            _ => Ok(()),
        }
    }
}
