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
        required("region", &self.region)?;
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
