//! The email executor's service configuration (TOML section `[exec_email]`,
//! `WEFT_EXEC_EMAIL_…` variables).
//!
//! Consumes a deserialized table; produces an [`ExecEmailConfig`] with named defaults and the
//! TLS trust it implies ([`ExecEmailConfig::extra_roots`] reads the PEM files it names).
//! Touches the file system only to read those PEM files.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the `email` agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecEmailConfig {
    /// Attempts run at once by this process. Default 16.
    pub concurrency: usize,
    /// How long to wait for the TCP connection (and implicit TLS handshake), in milliseconds.
    /// Default 10000.
    pub connect_timeout_ms: u64,
    /// How long to wait for each answer of the server (greeting, EHLO, STARTTLS, AUTH, MAIL,
    /// RCPT, DATA), in milliseconds. The answer to the message data may take longer (virus
    /// scanning); it gets [`ExecEmailConfig::data_timeout_ms`]. Default 60000.
    pub command_timeout_ms: u64,
    /// How long to wait for the answer after the message data, in milliseconds. Default 300000
    /// (RFC 5321 suggests 10 minutes; a step `timeout` cuts it shorter).
    pub data_timeout_ms: u64,
    /// Largest message (headers, bodies and attachments, before transfer encoding) this agent
    /// builds, in bytes; a larger one fails as `bad_input` before anything is sent.
    /// Default 25 MiB.
    pub max_message_bytes: usize,
    /// The name sent with `EHLO`. Default: this host's name.
    pub hello_name: Option<String>,
    /// The right-hand side of generated Message-IDs (`<…@domain>`). Default: the domain of the
    /// step's `from` address.
    pub message_id_domain: Option<String>,
    /// PEM files of extra certificate authorities trusted for SMTP TLS, next to the public
    /// (webpki) roots: for a company relay with its own CA. Default none.
    pub tls_root_certificates: Vec<PathBuf>,
}

impl ExecEmailConfig {
    /// Default for [`ExecEmailConfig::concurrency`].
    pub const DEFAULT_CONCURRENCY: usize = 16;
    /// Default for [`ExecEmailConfig::connect_timeout_ms`].
    pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
    /// Default for [`ExecEmailConfig::command_timeout_ms`].
    pub const DEFAULT_COMMAND_TIMEOUT_MS: u64 = 60_000;
    /// Default for [`ExecEmailConfig::data_timeout_ms`].
    pub const DEFAULT_DATA_TIMEOUT_MS: u64 = 300_000;
    /// Default for [`ExecEmailConfig::max_message_bytes`].
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;

    /// [`ExecEmailConfig::connect_timeout_ms`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// [`ExecEmailConfig::command_timeout_ms`] as a duration.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms)
    }

    /// [`ExecEmailConfig::data_timeout_ms`] as a duration.
    pub fn data_timeout(&self) -> Duration {
        Duration::from_millis(self.data_timeout_ms)
    }

    /// Reads every file of [`ExecEmailConfig::tls_root_certificates`].
    pub fn extra_roots(&self) -> Result<Vec<Vec<u8>>, ConfigError> {
        self.tls_root_certificates
            .iter()
            .map(|path| {
                std::fs::read(path).map_err(|source| ConfigError::RootCertificate {
                    path: path.clone(),
                    source,
                })
            })
            .collect()
    }
}

impl Default for ExecEmailConfig {
    fn default() -> Self {
        Self {
            concurrency: Self::DEFAULT_CONCURRENCY,
            connect_timeout_ms: Self::DEFAULT_CONNECT_TIMEOUT_MS,
            command_timeout_ms: Self::DEFAULT_COMMAND_TIMEOUT_MS,
            data_timeout_ms: Self::DEFAULT_DATA_TIMEOUT_MS,
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            hello_name: None,
            message_id_domain: None,
            tls_root_certificates: Vec::new(),
        }
    }
}

/// The configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file of `tls_root_certificates` cannot be read.
    #[error("cannot read TLS root certificate {path}: {source}")]
    RootCertificate {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file of `tls_root_certificates` holds no usable PEM certificate.
    #[error("TLS root certificate {path} is not a PEM certificate: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// lettre's reason.
        reason: String,
    },
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_strictness() {
        let c: ExecEmailConfig = serde_json::from_str("{}").expect("defaults");
        assert_eq!(c, ExecEmailConfig::default());
        assert_eq!(c.connect_timeout(), Duration::from_secs(10));
        assert_eq!(c.command_timeout(), Duration::from_secs(60));
        assert!(serde_json::from_str::<ExecEmailConfig>(r#"{"workers": 1}"#).is_err());
    }

    #[test]
    fn a_missing_root_file_names_it() {
        let c = ExecEmailConfig {
            tls_root_certificates: vec!["/nonexistent/ca.pem".into()],
            ..ExecEmailConfig::default()
        };
        let err = c.extra_roots().expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
