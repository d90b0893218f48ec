//! Building an S3 client: [`S3Settings`] (endpoint, region, static credentials) → an
//! `aws_sdk_s3::Client` on the ring-based rustls HTTPS client, with path-style addressing when
//! an endpoint is given (S3-compatible servers), bounded timeouts and three attempts per
//! request. Consumes only its settings and the `AWS_*` credential variables of the process;
//! touches nothing until a request is sent. Reusable by anything that talks to S3.

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use weft_flow::triggers::S3Trigger;

/// How long connecting to the endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one attempt of a request may take (a listing page, a copy).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request may take with its retries.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts per request (the first one and two retries with backoff).
const MAX_ATTEMPTS: u32 = 3;

/// Where and as whom to talk to S3.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Endpoint URL of an S3-compatible server; `None` means AWS (virtual-hosted addressing).
    pub endpoint: Option<String>,
    /// Region (signing region; `us-east-1` for most S3-compatible servers).
    pub region: String,
    /// Static access key id. Without one, `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
    /// `AWS_SESSION_TOKEN` of the process are used when set, else requests go unsigned
    /// (public buckets only).
    pub access_key_id: Option<String>,
    /// Static secret access key (with `access_key_id`).
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

impl S3Settings {
    /// Where requests go, for messages: the endpoint URL, or `AWS S3 (<region>)`.
    pub fn describe_endpoint(&self) -> String {
        match &self.endpoint {
            Some(url) => url.clone(),
            None => format!("AWS S3 ({})", self.region),
        }
    }
}

impl From<&S3Trigger> for S3Settings {
    fn from(t: &S3Trigger) -> Self {
        Self {
            endpoint: t.endpoint.clone(),
            region: t.region.clone(),
            access_key_id: t.access_key_id.clone(),
            secret_access_key: t.secret_access_key.clone(),
        }
    }
}

/// An S3 client for `settings`. Sends nothing; the first request shows whether the endpoint,
/// the credentials and the bucket are right.
pub fn s3_client(settings: &S3Settings) -> aws_sdk_s3::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let mut builder = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(settings.region.clone()))
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(endpoint) = &settings.endpoint {
        builder = builder
            .endpoint_url(endpoint.trim_end_matches('/'))
            .force_path_style(true);
    }
    builder = match credentials(settings) {
        Some(credentials) => builder.credentials_provider(credentials),
        None => builder.allow_no_auth(),
    };
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// The static credentials of `settings`, else those of the `AWS_*` environment variables.
fn credentials(settings: &S3Settings) -> Option<Credentials> {
    if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
        return Some(Credentials::new(id, secret, None, None, "weft-config"));
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let id = env("AWS_ACCESS_KEY_ID")?;
    let secret = env("AWS_SECRET_ACCESS_KEY")?;
    Some(Credentials::new(
        id,
        secret,
        env("AWS_SESSION_TOKEN"),
        None,
        "weft-environment",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secret_key() {
        let settings = S3Settings {
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: "us-east-1".into(),
            access_key_id: Some("AKIAEXAMPLE".into()),
            secret_access_key: Some("very-secret".into()),
        };
        let shown = format!("{settings:?}");
        assert!(
            shown.contains("AKIAEXAMPLE") && shown.contains("***"),
            "{shown}"
        );
        assert!(!shown.contains("very-secret"), "{shown}");
        assert_eq!(settings.describe_endpoint(), "http://127.0.0.1:9000");
        let aws = S3Settings {
            endpoint: None,
            ..settings
        };
        assert_eq!(aws.describe_endpoint(), "AWS S3 (us-east-1)");
    }
}
