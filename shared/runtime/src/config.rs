//! Configuration: defaults, then an optional TOML file (`WEFT_CONFIG`), then `WEFT_…`
//! environment variables (`WEFT_HTTP_ADDR` sets `http_addr`). `NATS_URL` and `DATABASE_URL` are
//! honoured under their usual names.

use std::path::PathBuf;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::http::HttpLimits;

/// Configuration that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML file or an environment variable has a bad value or an unknown key.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Settings every service shares.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommonConfig {
    /// NATS server URL (`NATS_URL`).
    pub nats_url: String,
    /// PostgreSQL URL (`DATABASE_URL`); services that need no database ignore it.
    pub database_url: String,
    /// Listener for the HTTP surface (hooks, API, health, metrics).
    pub http_addr: String,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Largest request body any listener accepts (webhooks, events, API), in bytes; larger is
    /// answered 413. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Most header fields in one request; more is answered 431. Default 100.
    pub http_max_headers: usize,
    /// Largest request head (request line and header fields), in bytes; larger is answered
    /// 431. Default 65536.
    pub http_max_header_bytes: usize,
    /// Time a client has to send a request head, in milliseconds; then its connection is closed
    /// (with a 408 when part of a head came in). Default 10000.
    pub http_header_read_timeout_ms: u64,
    /// Time a client has to send a request body once its head is in, in milliseconds; then it
    /// is answered 408. Default 30000.
    pub http_body_read_timeout_ms: u64,
    /// Parallel attempts per executor (default of `[executors] concurrency`).
    pub executor_concurrency: usize,
    /// PostgreSQL connections per process (router and api).
    pub database_pool: u32,
    /// How long a consumer may hold a message without acking or reporting progress before
    /// JetStream redelivers it (how soon work of a crashed process resumes), in milliseconds.
    pub ack_wait_ms: u64,
    /// Keep artifacts (attachments, large step outputs) in this S3 bucket instead of the
    /// JetStream object store `weft_artifacts` (`WEFT_ARTIFACTS_S3_BUCKET`). Empty: JetStream.
    pub artifacts_s3_bucket: String,
    /// Key prefix inside that bucket.
    pub artifacts_s3_prefix: String,
    /// Endpoint of an S3-compatible server (empty: AWS).
    pub artifacts_s3_endpoint: String,
    /// Region of the bucket.
    pub artifacts_s3_region: String,
    /// Static access key id for the bucket (empty: `AWS_ACCESS_KEY_ID` of the process).
    pub artifacts_s3_access_key_id: String,
    /// Static secret access key (with the key id).
    pub artifacts_s3_secret_access_key: Redacted,
    /// What a process does when one of its services fails: `stop` (default: the process ends,
    /// saying which service and why, and its supervisor restarts it) or `restart` (the service
    /// is started again in the process, after 1 s, doubling up to 30 s).
    pub on_service_failure: OnFailure,
    /// Master key secrets are sealed under (`WEFT_MASTER_KEY`): 64 hex digits or base64 of 32
    /// bytes. Empty: no secrets on this service (`weft dev` then keeps a development key).
    pub master_key: Redacted,
}

/// What a process does when one of its services fails (`on_service_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Stop the whole process (its supervisor restarts it).
    #[default]
    Stop,
    /// Start the service again in the process, with backoff.
    Restart,
}

/// A configuration string that never shows in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl Default for CommonConfig {
    fn default() -> Self {
        Self {
            nats_url: "nats://127.0.0.1:4222".into(),
            database_url: "postgres://postgres@127.0.0.1:5432/weft".into(),
            http_addr: "127.0.0.1:8080".into(),
            log_format: "text".into(),
            max_body_bytes: HttpLimits::DEFAULT_MAX_BODY_BYTES,
            http_max_headers: HttpLimits::DEFAULT_MAX_HEADERS,
            http_max_header_bytes: HttpLimits::DEFAULT_MAX_HEADER_BYTES,
            http_header_read_timeout_ms: HttpLimits::DEFAULT_HEADER_READ_TIMEOUT_MS,
            http_body_read_timeout_ms: HttpLimits::DEFAULT_BODY_READ_TIMEOUT_MS,
            executor_concurrency: 64,
            database_pool: 16,
            ack_wait_ms: 30_000,
            artifacts_s3_bucket: String::new(),
            artifacts_s3_prefix: "weft/artifacts/".into(),
            artifacts_s3_endpoint: String::new(),
            artifacts_s3_region: "us-east-1".into(),
            artifacts_s3_access_key_id: String::new(),
            artifacts_s3_secret_access_key: Redacted::default(),
            on_service_failure: OnFailure::Stop,
            master_key: Redacted::default(),
        }
    }
}

impl CommonConfig {
    /// The request limits of the HTTP listener.
    pub fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            max_headers: self.http_max_headers,
            max_header_bytes: self.http_max_header_bytes,
            max_body_bytes: self.max_body_bytes,
            header_read_timeout_ms: self.http_header_read_timeout_ms,
            body_read_timeout_ms: self.http_body_read_timeout_ms,
        }
    }
}

/// Load `T` from defaults, the TOML file named by `WEFT_CONFIG` and `WEFT_*` variables.
pub fn load<T: DeserializeOwned + Serialize + Default>() -> Result<T, ConfigError> {
    load_from(std::env::vars())
}

/// [`load`] with the environment given explicitly (for tests).
pub fn load_from<T, I>(vars: I) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Serialize + Default,
    I: IntoIterator<Item = (String, String)>,
{
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let mut table =
        toml::Table::try_from(T::default()).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    if let Some((_, path)) = vars.iter().find(|(k, _)| k == "WEFT_CONFIG") {
        let path = PathBuf::from(path);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let file: toml::Table = text
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
        // A table the type does not have is another component's section (`[exec_http]`).
        let own: Vec<(String, toml::Value)> = file
            .into_iter()
            .filter(|(k, v)| !v.is_table() || table.contains_key(k))
            .collect();
        table.extend(own);
    }
    for (key, value) in &vars {
        let name = match key.as_str() {
            "NATS_URL" => "nats_url".to_string(),
            "DATABASE_URL" => "database_url".to_string(),
            k => match k.strip_prefix("WEFT_") {
                Some(rest) if rest != "CONFIG" => rest.to_ascii_lowercase(),
                _ => continue,
            },
        };
        // Only keys the type knows: other WEFT_* variables belong to other components.
        if let Some(slot) = table.get_mut(&name) {
            *slot =
                env_value(slot, value).map_err(|e| ConfigError::Invalid(format!("{key}: {e}")))?;
        }
    }
    table
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))
}

/// Load a component's own settings `T`: defaults, then the table `[section]` of the TOML file
/// named by `WEFT_CONFIG`, then `WEFT_<SECTION>_<KEY>` variables (section `exec_http`, key
/// `concurrency`: `WEFT_EXEC_HTTP_CONCURRENCY`).
pub fn load_section<T: DeserializeOwned + Serialize + Default>(
    section: &str,
) -> Result<T, ConfigError> {
    load_section_from(section, std::env::vars())
}

/// [`load_section`] over `base` instead of `T::default()` (e.g. defaults that follow a
/// setting of the common configuration).
pub fn load_section_over<T: DeserializeOwned + Serialize>(
    section: &str,
    base: T,
) -> Result<T, ConfigError> {
    load_section_vars(section, base, std::env::vars())
}

/// [`load_section`] with the environment given explicitly (for tests).
pub fn load_section_from<T, I>(section: &str, vars: I) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Serialize + Default,
    I: IntoIterator<Item = (String, String)>,
{
    load_section_vars(section, T::default(), vars)
}

fn load_section_vars<T, I>(section: &str, base: T, vars: I) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Serialize,
    I: IntoIterator<Item = (String, String)>,
{
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let mut table = toml::Table::try_from(base).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    if let Some((_, path)) = vars.iter().find(|(k, _)| k == "WEFT_CONFIG") {
        let path = PathBuf::from(path);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let mut file: toml::Table = text
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
        match file.remove(section) {
            Some(toml::Value::Table(own)) => table.extend(own),
            Some(_) => {
                return Err(ConfigError::Invalid(format!(
                    "{}: `{section}` must be a table ([{section}])",
                    path.display()
                )));
            }
            None => {}
        }
    }
    let prefix = format!("WEFT_{}_", section.to_ascii_uppercase());
    for (key, value) in &vars {
        let Some(rest) = key.strip_prefix(&prefix) else {
            continue;
        };
        let name = rest.to_ascii_lowercase();
        if let Some(slot) = table.get_mut(&name) {
            *slot =
                env_value(slot, value).map_err(|e| ConfigError::Invalid(format!("{key}: {e}")))?;
        }
    }
    table
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Invalid(format!("[{section}]: {e}")))
}

/// Parse an environment string as the type of the default it replaces.
fn env_value(current: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    Ok(match current {
        toml::Value::Integer(_) => toml::Value::Integer(
            raw.parse()
                .map_err(|_| format!("`{raw}` is not an integer"))?,
        ),
        toml::Value::Boolean(_) => toml::Value::Boolean(
            raw.parse()
                .map_err(|_| format!("`{raw}` is not true or false"))?,
        ),
        toml::Value::Float(_) => toml::Value::Float(
            raw.parse()
                .map_err(|_| format!("`{raw}` is not a number"))?,
        ),
        _ => toml::Value::String(raw.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn env_overrides_defaults() {
        let c: CommonConfig = load_from(vars(&[
            ("NATS_URL", "nats://x:1"),
            ("WEFT_HTTP_ADDR", "0.0.0.0:9"),
            ("WEFT_MAX_BODY_BYTES", "10"),
            ("WEFT_SOMETHING_ELSE", "ignored"),
        ]))
        .expect("loads");
        assert_eq!(c.nats_url, "nats://x:1");
        assert_eq!(c.http_addr, "0.0.0.0:9");
        assert_eq!(c.max_body_bytes, 10);
    }

    #[test]
    fn on_service_failure_is_stop_or_restart() {
        let c: CommonConfig =
            load_from(vars(&[("WEFT_ON_SERVICE_FAILURE", "restart")])).expect("loads");
        assert_eq!(c.on_service_failure, OnFailure::Restart);
        assert_eq!(CommonConfig::default().on_service_failure, OnFailure::Stop);
        assert!(
            load_from::<CommonConfig, _>(vars(&[("WEFT_ON_SERVICE_FAILURE", "sometimes")]))
                .is_err()
        );
    }

    #[test]
    fn bad_number_is_named() {
        let err = load_from::<CommonConfig, _>(vars(&[("WEFT_MAX_BODY_BYTES", "lots")]))
            .expect_err("rejects");
        assert!(err.to_string().contains("WEFT_MAX_BODY_BYTES"), "{err}");
    }

    #[test]
    fn file_then_env() {
        let dir = std::env::temp_dir().join(format!("weft-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("weft.toml");
        std::fs::write(&path, "http_addr = \"1.2.3.4:5\"\nlog_format = \"json\"\n").expect("w");
        let c: CommonConfig = load_from(vars(&[
            ("WEFT_CONFIG", path.to_str().expect("utf8")),
            ("WEFT_LOG_FORMAT", "text"),
        ]))
        .expect("loads");
        assert_eq!(c.http_addr, "1.2.3.4:5");
        assert_eq!(c.log_format, "text");
        let sections = dir.join("sections.toml");
        std::fs::write(
            &sections,
            "http_addr = \"1.2.3.4:6\"\n[own]\nmax_body_bytes = 7\nhttp_addr = \"own\"\n",
        )
        .expect("w");
        let path = sections.to_str().expect("utf8");
        let c: CommonConfig = load_from(vars(&[("WEFT_CONFIG", path)])).expect("loads");
        assert_eq!(
            c.http_addr, "1.2.3.4:6",
            "a section is not the common table"
        );
        let own: CommonConfig = load_section_from(
            "own",
            vars(&[
                ("WEFT_CONFIG", path),
                ("WEFT_OWN_MAX_BODY_BYTES", "8"),
                ("WEFT_MAX_BODY_BYTES", "9"),
            ]),
        )
        .expect("loads");
        assert_eq!((own.http_addr.as_str(), own.max_body_bytes), ("own", 8));
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "no_such_key = 1\n").expect("w");
        assert!(
            load_from::<CommonConfig, _>(vars(&[("WEFT_CONFIG", bad.to_str().expect("utf8"))]))
                .is_err()
        );
    }
}
