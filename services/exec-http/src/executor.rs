//! The `http` agent: one step attempt, one HTTP call.
//!
//! Consumes an [`HttpWith`]; produces the response as output or a [`StepError`] (connection
//! errors, timeouts, 429 (`rate_limited`) and 5xx are retryable; other statuses and bad input
//! are not). Touches the network through shared `reqwest` clients (one that follows up to 10
//! redirects, one that follows none), each request carrying `Idempotency-Key: <attempt id>`. A
//! cancel or the step's deadline drops the request in flight.

use reqwest::{Client, redirect};
use serde_json::Value;
use weft_events::{ErrorCode, StepError, trace::TRACEPARENT};
use weft_executor::{Agent, Context};

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

    async fn call(&self, with: HttpWith, cx: &Context) -> Result<Value, StepError> {
        with.check()?;
        let client = if with.follow_redirects {
            &self.follow
        } else {
            &self.no_follow
        };
        let attempt = cx.attempt();
        let mut request = with.build(client, attempt.attempt_id)?;
        // Propagate the trace to the called service, unless the step sets the header itself.
        if let (Some(tp), false) = (&attempt.traceparent, with.sets_header(TRACEPARENT)) {
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

impl Agent for HttpExecutor {
    const NAME: &'static str = "http";
    const DESCRIPTION: &'static str = "Make one HTTP request; the output is the response.";
    type With = HttpWith;
    type Output = response::HttpOutput;

    async fn execute(
        &self,
        with: HttpWith,
        cx: Context,
    ) -> Result<response::HttpOutput, StepError> {
        let result = tokio::select! {
            r = self.call(with, &cx) => r,
            _ = cx.cancelled() => Err(cx.stopped_error()),
        };
        if let Err(e) = &result {
            let a = cx.attempt();
            tracing::debug!(attempt = %a.attempt_id, step = %a.step_id, code = %e.code, retryable = e.retryable, "http step failed");
        }
        result.map(response::HttpOutput)
    }
}

fn send_error(e: reqwest::Error) -> StepError {
    if e.is_timeout() {
        StepError::retryable(ErrorCode::Timeout, format!("the request timed out: {e}"))
    } else if e.is_redirect() {
        StepError::permanent(
            ErrorCode::TooManyRedirects,
            format!("redirects stopped: {e}"),
        )
    } else if e.is_builder() {
        StepError::permanent(
            ErrorCode::BadInput,
            format!("cannot build the request: {e}"),
        )
    } else if e.is_connect() {
        StepError::retryable(ErrorCode::Connect, format!("cannot connect: {e}"))
    } else {
        StepError::retryable(ErrorCode::Request, format!("the request failed: {e}"))
    }
}

impl weft_executor::Hosted for HttpExecutor {
    type Config = crate::ExecHttpConfig;

    fn build(config: crate::ExecHttpConfig) -> Result<Self, String> {
        Self::new(&config).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn agent_document_is_up_to_date() -> Result<(), String> {
        weft_executor::check_agent_document::<super::HttpExecutor>(env!("CARGO_MANIFEST_DIR"))
    }
}
