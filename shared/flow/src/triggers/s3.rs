//! `on.s3`: objects landing in an S3 bucket (AWS or any S3-compatible server).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Check, FileAfter, Problem, move_target, required};

/// `on.s3`: poll a bucket's listing; each new or changed object (key + ETag) becomes a
/// `dev.weft.s3.object.created` / `.updated` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Trigger {
    /// Bucket name.
    pub bucket: String,
    /// Only keys starting with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Endpoint URL of an S3-compatible server (path-style addressing is used then).
    /// Default: AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region.
    #[serde(default = "S3Trigger::default_region")]
    pub region: String,
    /// Access key id; `${{ secrets.NAME }}` keeps it out of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Secret access key; `${{ secrets.NAME }}` keeps it out of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// How often the listing is read.
    #[serde(
        default = "S3Trigger::default_poll_interval",
        with = "crate::duration::required"
    )]
    #[schemars(with = "crate::duration::DurationString")]
    pub poll_interval: Duration,
    /// What to do with an object once its event is stored.
    #[serde(default)]
    pub after: FileAfter,
    /// Destination key prefix for `after: move` (same bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to: Option<String>,
}

impl S3Trigger {
    fn default_region() -> String {
        "us-east-1".into()
    }
    fn default_poll_interval() -> Duration {
        Duration::from_secs(30)
    }
}

impl Check for S3Trigger {
    fn check(&self) -> Result<(), Problem> {
        required("bucket", &self.bucket)?;
        bucket_name(&self.bucket)?;
        required("region", &self.region)?;
        if let Some(endpoint) = &self.endpoint {
            endpoint_url(endpoint)?;
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(Problem::new(
                "secret_access_key",
                "give both `access_key_id` and `secret_access_key`, or neither",
            ));
        }
        if self.poll_interval < Duration::from_secs(1) {
            return Err(Problem::new(
                "poll_interval",
                "`poll_interval` must be at least 1s",
            ));
        }
        move_target(self.after == FileAfter::Move, self.move_to.as_deref())
    }
}

/// A bucket name is one path segment: no `/`, no spaces (S3 itself allows 3–63 characters of
/// `a-z0-9.-`; S3-compatible servers vary, so only what can never work is refused).
fn bucket_name(bucket: &str) -> Result<(), Problem> {
    if bucket.contains('/') || bucket.chars().any(char::is_whitespace) {
        return Err(Problem::new(
            "bucket",
            format!("`{bucket}` is not a bucket name: no `/` or spaces (put folders in `prefix`)"),
        ));
    }
    Ok(())
}

/// `endpoint` is an `http://` or `https://` URL with a host (or a `${{ secrets.NAME }}`).
fn endpoint_url(endpoint: &str) -> Result<(), Problem> {
    let endpoint = endpoint.trim();
    if endpoint.starts_with("${{") {
        return Ok(());
    }
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(host) if !host.is_empty() && !host.starts_with(':') && !host.contains(' ') => Ok(()),
        _ => Err(Problem::new(
            "endpoint",
            format!(
                "`{endpoint}` is not an endpoint URL: write e.g. `http://127.0.0.1:9000` or \
                 `https://s3.example.com` (leave it out for AWS)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(yaml: &str) -> S3Trigger {
        yaml_serde::from_str(yaml).expect("valid S3Trigger yaml")
    }

    fn problem(yaml: &str) -> Option<&'static str> {
        trigger(yaml).check().err().map(|p| p.field)
    }

    #[test]
    fn a_minimal_trigger_passes_with_defaults() {
        let t = trigger("bucket: drop");
        assert_eq!(t.region, "us-east-1");
        assert_eq!(t.poll_interval, Duration::from_secs(30));
        assert_eq!(t.check(), Ok(()));
    }

    #[test]
    fn endpoints_must_be_http_urls() {
        for good in [
            "http://127.0.0.1:9000",
            "https://s3.example.com/",
            "${{ secrets.S3_URL }}",
        ] {
            assert_eq!(
                problem(&format!("{{bucket: b, endpoint: '{good}'}}")),
                None,
                "{good}"
            );
        }
        for bad in [
            "127.0.0.1:9000",
            "ftp://host",
            "http://",
            "http://:9000",
            "s3.amazonaws.com",
        ] {
            assert_eq!(
                problem(&format!("{{bucket: b, endpoint: '{bad}'}}")),
                Some("endpoint"),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_fields_are_checked() {
        assert_eq!(problem("{bucket: 'a/b'}"), Some("bucket"));
        assert_eq!(problem("{bucket: ' '}"), Some("bucket"));
        assert_eq!(
            problem("{bucket: b, access_key_id: k}"),
            Some("secret_access_key")
        );
        assert_eq!(
            problem("{bucket: b, poll_interval: 500ms}"),
            Some("poll_interval")
        );
        assert_eq!(problem("{bucket: b, after: move}"), Some("move_to"));
        assert_eq!(problem("{bucket: b, move_to: done/}"), Some("move_to"));
        assert_eq!(problem("{bucket: b, after: move, move_to: done/}"), None);
    }
}
