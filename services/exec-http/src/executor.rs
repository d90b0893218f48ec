//! The `http` agent: one step attempt, one HTTP call.
//!
//! Consumes a [`Task`] whose `with:` is an [`HttpWith`]; produces the response as output or a
//! [`StepError`] (connection errors, timeouts, 429 and 5xx are retryable; other statuses and bad
//! input are not). Touches the network through shared `reqwest` clients (one that follows up to
//! 10 redirects, one that follows none), each request carrying `Idempotency-Key: <attempt id>`.

use reqwest::{Client, redirect};
use serde_json::Value;
use weft_bus::Executor;
use weft_events::{StepError, Task, trace::TRACEPARENT};

use crate::{ExecHttpConfig, ExecHttpError, request::HttpWith, response};

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("weft/", env!("CARGO_PKG_VERSION"));

/// Redirects followed when a step allows them.
pub const MAX_REDIRECTS: usize = 10;

/// The HTTP executor.
#[derive(Debug, Clone)]
pub struct HttpExecutor {
    follow: Client,
    no_follow: Client,
    max_response_bytes: usize,
}

impl HttpExecutor {
    /// Build the shared clients (installs rustls' ring provider as the process default first).
    pub fn new(config: &ExecHttpConfig) -> Result<Self, ExecHttpError> {
        weft_runtime::init_crypto();
        let client = |policy| {
            Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(config.connect_timeout())
                .redirect(policy)
                .build()
                .map_err(|e| ExecHttpError::Client(e.to_string()))
        };
        Ok(Self {
            follow: client(redirect::Policy::limited(MAX_REDIRECTS))?,
            no_follow: client(redirect::Policy::none())?,
            max_response_bytes: config.max_response_bytes,
        })
    }

    async fn call(&self, task: &Task) -> Result<Value, StepError> {
        let with = HttpWith::parse(&task.with)?;
        let client = if with.follow_redirects {
            &self.follow
        } else {
            &self.no_follow
        };
        let mut request = with.build(client, task.attempt_id)?;
        // Propagate the trace to the called service, unless the step sets the header itself.
        if let (Some(tp), false) = (&task.traceparent, with.sets_header(TRACEPARENT)) {
            request = request.header(TRACEPARENT, tp);
        }
        let response = request.send().await.map_err(send_error)?;
        let output = response::output(response, self.max_response_bytes).await?;
        match response::status_error(&output) {
            Some(error) if with.fail_on_status => Err(error),
            _ => Ok(output),
        }
    }
}

impl Executor for HttpExecutor {
    fn agent(&self) -> &str {
        "http"
    }

    async fn execute(&self, task: &Task) -> Result<Value, StepError> {
        let result = self.call(task).await;
        if let Err(e) = &result {
            tracing::debug!(attempt = %task.attempt_id, step = %task.step_id, code = %e.code, retryable = e.retryable, "http step failed");
        }
        result
    }
}

fn send_error(e: reqwest::Error) -> StepError {
    if e.is_timeout() {
        StepError::retryable("timeout", format!("the request timed out: {e}"))
    } else if e.is_redirect() {
        StepError::permanent("too_many_redirects", format!("redirects stopped: {e}"))
    } else if e.is_builder() {
        StepError::permanent("bad_input", format!("cannot build the request: {e}"))
    } else if e.is_connect() {
        StepError::retryable("connect", format!("cannot connect: {e}"))
    } else {
        StepError::retryable("request", format!("the request failed: {e}"))
    }
}
