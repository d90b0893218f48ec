//! The email executor's service configuration (TOML section `[exec_email]`,
//! `WEFT_EXEC_EMAIL_…` variables).
//!
//! Consumes the TOML section `[exec_email]` / `WEFT_EXEC_EMAIL_…` variables (through
//! `weft_runtime::load_section`); produces an [`ExecEmailConfig`] with named defaults.
//! [`ExecEmailConfig::extra_roots`] reads the CA file it names; nothing else is touched.
//! Settings every executor shares (concurrency, ack wait, output and log bounds) are
//! `weft_executor::ExecutorConfig`, section `[executors]`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the `email` agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecEmailConfig {
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
    /// The name sent with `EHLO` (a domain or an IP address). Default empty: this host's name.
    pub hello_name: String,
    /// The right-hand side of generated Message-IDs (`<…@domain>`). Default empty: the domain
    /// of the step's `from` address.
    pub message_id_domain: String,
    /// A PEM file of extra certificate authorities (one or several) trusted for SMTP TLS, next
    /// to the public (webpki) roots: for a company relay with its own CA. Default empty: none.
    pub tls_ca_file: PathBuf,
}

impl ExecEmailConfig {
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

    /// The PEM text of [`ExecEmailConfig::tls_ca_file`], when one is set.
    pub fn extra_roots(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        if self.tls_ca_file.as_os_str().is_empty() {
            return Ok(None);
        }
        std::fs::read(&self.tls_ca_file)
            .map(Some)
            .map_err(|source| ConfigError::RootCertificate {
                path: self.tls_ca_file.clone(),
                source,
            })
    }
}

impl Default for ExecEmailConfig {
    fn default() -> Self {
        Self {
            connect_timeout_ms: Self::DEFAULT_CONNECT_TIMEOUT_MS,
            command_timeout_ms: Self::DEFAULT_COMMAND_TIMEOUT_MS,
            data_timeout_ms: Self::DEFAULT_DATA_TIMEOUT_MS,
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            hello_name: String::new(),
            message_id_domain: String::new(),
            tls_ca_file: PathBuf::new(),
        }
    }
}

/// The configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The `tls_ca_file` cannot be read.
    #[error("cannot read TLS root certificate {path}: {source}")]
    RootCertificate {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `tls_ca_file` holds no usable PEM certificate.
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
            tls_ca_file: "/nonexistent/ca.pem".into(),
            ..ExecEmailConfig::default()
        };
        let err = c.extra_roots().expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        assert!(
            ExecEmailConfig::default()
                .extra_roots()
                .expect("none")
                .is_none()
        );
    }

    #[test]
    fn every_setting_is_reachable_from_the_environment() {
        let vars = [
            ("WEFT_EXEC_EMAIL_COMMAND_TIMEOUT_MS", "1500"),
            ("WEFT_EXEC_EMAIL_HELLO_NAME", "mailer.example.com"),
            ("WEFT_EXEC_EMAIL_MESSAGE_ID_DOMAIN", "example.org"),
            ("WEFT_EXEC_EMAIL_TLS_CA_FILE", "/etc/weft/ca.pem"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let c: ExecEmailConfig =
            weft_runtime::config::load_section_from("exec_email", vars).expect("loads");
        assert_eq!(c.command_timeout(), Duration::from_millis(1500));
        assert_eq!(c.hello_name, "mailer.example.com");
        assert_eq!(c.message_id_domain, "example.org");
        assert_eq!(c.tls_ca_file, PathBuf::from("/etc/weft/ca.pem"));
    }
}
