//! [`MotoServer`]: starts a private `moto_server` (moto's S3-compatible server mode, from PyPI)
//! on 127.0.0.1 and a free port, and stops it by PID on [`MotoServer::stop`] (SIGTERM) or drop
//! (SIGKILL). [`MotoServer::restart`] brings it back on the same port; moto keeps everything in
//! memory, so buckets and objects are gone after a restart.
//!
//! [`MotoServer::start_with_auth`] makes moto check signatures: it creates one IAM user with
//! an allow-all policy and an access key ([`MotoServer::credentials`]); any other key is
//! refused with `InvalidAccessKeyId` / `SignatureDoesNotMatch` / 403.
//!
//! The program is `$WEFT_MOTO_SERVER`, else `${WEFT_TOOLS:-~/.cache/weft}/venv/bin/moto_server`
//! (installed by `scripts/deps`), else `moto_server` on `PATH`. moto accepts any credentials.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::process::ChildProcess;

/// Python imports take a while on a busy 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A moto_server process owned by one test.
#[derive(Debug)]
pub struct MotoServer {
    /// `http://127.0.0.1:<port>`: the S3 endpoint (use path-style addressing).
    pub endpoint: String,
    /// The port; the same across restarts.
    pub port: u16,
    /// The access key moto accepts, when started with [`MotoServer::start_with_auth`]
    /// (a new one after each restart).
    pub credentials: Option<MotoCredentials>,
    process: Option<ChildProcess>,
    program: PathBuf,
    auth: bool,
}

/// An access key of an IAM user of an authenticating moto server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotoCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// IAM requests moto serves before it starts checking signatures (the user, its policy and
/// its key in [`create_user`]).
const SETUP_ACTIONS: &str = "3";

impl MotoServer {
    /// Starts moto_server on a free port and waits (up to 60 s) until it answers HTTP.
    /// It accepts any credentials.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_checked(false).await
    }

    /// As [`MotoServer::start`], but moto checks signatures and accepts only
    /// [`MotoServer::credentials`].
    pub async fn start_with_auth() -> anyhow::Result<Self> {
        Self::start_checked(true).await
    }

    async fn start_checked(auth: bool) -> anyhow::Result<Self> {
        let program = program()?;
        let mut last_error = None;
        // A free port can be taken by someone else before the server binds it: retry.
        for _ in 0..3 {
            let port = crate::free_port();
            match spawn_ready(&program, port, auth).await {
                Ok((process, credentials)) => {
                    return Ok(Self {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        port,
                        credentials,
                        process: Some(process),
                        program,
                        auth,
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("moto_server did not start")))
    }

    /// Stops the server: SIGTERM by PID, SIGKILL after 10 s. Does nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(process) = self.process.as_mut()
            && let Err(e) = process.terminate()
        {
            tracing::warn!("stopping moto_server: {e:#}");
        }
    }

    /// Stops the server if it runs, then starts it again on the same port (empty: moto's
    /// state is in memory) and waits until it answers.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match spawn_ready(&self.program, self.port, self.auth).await {
                Ok((process, credentials)) => {
                    self.process = Some(process);
                    self.credentials = credentials;
                    return Ok(());
                }
                // The old socket may linger for a moment; retry until the deadline.
                Err(e) if Instant::now() >= deadline => {
                    return Err(e.context(format!("restarting moto_server on port {}", self.port)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// True while the server process runs.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(ChildProcess::is_running)
    }

    /// What the current server process logged so far.
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(ChildProcess::log)
            .unwrap_or_default()
    }
}

async fn spawn_ready(
    program: &std::path::Path,
    port: u16,
    auth: bool,
) -> anyhow::Result<(ChildProcess, Option<MotoCredentials>)> {
    let port_arg = port.to_string();
    let args = ["-H", "127.0.0.1", "-p", port_arg.as_str()];
    let mut envs = vec![("PYTHONUNBUFFERED", "1")];
    if auth {
        envs.push(("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_ACTIONS));
    }
    let mut process = ChildProcess::spawn(program, args, envs)?;
    let deadline = Instant::now() + READY_TIMEOUT;
    crate::init_crypto();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("http://127.0.0.1:{port}/moto-api/");
    loop {
        if let Some(status) = process.try_wait()? {
            anyhow::bail!(
                "moto_server on port {port} exited at start ({status}); its log:\n{}",
                process.log_tail(20)
            );
        }
        if let Ok(resp) = client.get(&url).send().await
            && resp.status().is_success()
        {
            let credentials = if auth {
                Some(create_user(&client, port).await?)
            } else {
                None
            };
            return Ok((process, credentials));
        }
        if Instant::now() >= deadline {
            let tail = process.log_tail(20);
            let _ = process.kill9();
            anyhow::bail!(
                "moto_server did not answer on port {port} within {READY_TIMEOUT:?}; its log:\n{tail}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates IAM user `weft` with an allow-all inline policy and an access key, through the
/// unauthenticated requests moto allows at start. moto reads the service from the credential
/// scope of the (unchecked) Authorization header.
async fn create_user(client: &reqwest::Client, port: u16) -> anyhow::Result<MotoCredentials> {
    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=SETUP/20260101/us-east-1/iam/aws4_request, \
                        SignedHeaders=host, Signature=0";
    const POLICY: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let url = format!("http://127.0.0.1:{port}/");
    let calls: [&[(&str, &str)]; 3] = [
        &[("Action", "CreateUser"), ("UserName", "weft")],
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "weft"),
            ("PolicyName", "all"),
            ("PolicyDocument", POLICY),
        ],
        &[("Action", "CreateAccessKey"), ("UserName", "weft")],
    ];
    let mut last = String::new();
    for form in calls {
        let resp = client
            .post(&url)
            .header("authorization", AUTH)
            .form(&[form, &[("Version", "2010-05-08")]].concat())
            .send()
            .await?;
        let status = resp.status();
        last = resp.text().await?;
        anyhow::ensure!(status.is_success(), "moto IAM setup: {status}: {last}");
    }
    let field = |name: &str| {
        let open = format!("<{name}>");
        let start = last.find(&open)? + open.len();
        let end = start + last[start..].find('<')?;
        Some(last[start..end].to_string())
    };
    match (field("AccessKeyId"), field("SecretAccessKey")) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(MotoCredentials {
            access_key_id,
            secret_access_key,
        }),
        _ => anyhow::bail!("moto CreateAccessKey answered without a key: {last}"),
    }
}

/// The moto_server program to use, found once per process.
fn program() -> anyhow::Result<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(find_program)
        .clone()
        .map_err(anyhow::Error::msg)
}

fn find_program() -> Result<PathBuf, String> {
    const FIX: &str = "run scripts/deps (installs moto[server] into ~/.cache/weft/venv), or set \
                       WEFT_MOTO_SERVER to a moto_server program; scripts/test does both";
    if let Some(explicit) = std::env::var_os("WEFT_MOTO_SERVER").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(explicit);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "WEFT_MOTO_SERVER={} does not exist ({FIX})",
                path.display()
            ))
        };
    }
    let tools = std::env::var_os("WEFT_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weft")));
    let venv = tools.map(|t| t.join("venv/bin/moto_server"));
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("moto_server"))
            .find(|p| p.is_file())
    });
    venv.filter(|p| p.is_file())
        .or(on_path)
        .ok_or_else(|| format!("no moto_server in the venv or on PATH; {FIX}"))
}
