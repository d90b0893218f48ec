//! Starting runners under bubblewrap and talking to one.
//!
//! Consumes the [`SandboxConfig`] part of the agent's configuration; produces started
//! [`Runner`]s and, per request, a [`RunOutput`] or a [`CodeError`]. Touches processes
//! (`bwrap` and the runner under it) and, once, a private temporary folder when the runner
//! binary has to be staged (below).
//!
//! The sandbox of one runner: `bwrap --unshare-all` (new user, PID, network — only `lo` —,
//! IPC, UTS and cgroup namespaces), `--die-with-parent`, `--new-session`, `--clearenv`,
//! `--cap-drop ALL`; a root made of read-only binds of the shared-library folders
//! (`/usr/lib`, `/usr/lib64`, `/lib`, `/lib64` — as symlinks where the host has them) and of
//! the runner binary at `/runner`, plus a fresh `/proc`, a minimal `/dev` and an empty tmpfs
//! `/tmp`. Nothing else of the host is visible.
//!
//! When Weft runs as root, bwrap (and so the runner) runs as an unprivileged uid/gid
//! (`sandbox_uid`, default 65534 "nobody"): the kernel does not enforce `RLIMIT_NPROC` for
//! the real root user, and a sandbox should not be root outside its namespace anyway. That
//! user must be able to read the runner binary; when a folder on its path is closed to
//! others (e.g. a binary under `/root`), the binary is copied once into a private
//! world-readable temporary folder (removed when the agent is dropped) and that copy runs.
//!
//! bwrap's `--die-with-parent` is tied to the *thread* that started it: runners must be
//! started from async code (a Tokio worker thread or a test's thread), never from
//! `spawn_blocking`, whose threads exit when idle.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{CodeError, ErrorCode};
use crate::protocol::{self, FailureCode, PROTOCOL, Request, RunnerMessage};
use crate::runner::SelfCheck;

/// Where the runner binary appears inside the sandbox.
const RUNNER_PATH: &str = "/runner";
/// Bytes of a runner's stderr kept for error messages.
const STDERR_BYTES: usize = 4096;
/// Host folders bound read-only (or recreated as the same symlink) for the shared libraries.
const LIBRARY_DIRS: [&str; 5] = ["/usr/lib", "/usr/lib64", "/lib", "/lib64", "/lib32"];

/// How runners are started (the sandbox part of [`crate::CodeConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// Program and arguments that start a runner; empty: this executable with `__code-runner`.
    pub runner: Vec<String>,
    /// The bubblewrap program, searched on `PATH` unless it holds a `/`.
    pub bwrap: String,
    /// User id the sandbox runs as when Weft runs as root.
    pub sandbox_uid: u32,
    /// Group id the sandbox runs as when Weft runs as root.
    pub sandbox_gid: u32,
    /// How long a runner may take to start and say it is ready.
    pub start_timeout: Duration,
}

/// The sandbox cannot be set up at all.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// bubblewrap is not installed.
    #[error(
        "bubblewrap (`{0}`) not found on PATH: install the Debian package `bubblewrap` (scripts/deps does)"
    )]
    NoBwrap(String),
    /// The runner binary cannot be found or staged.
    #[error("runner binary {path}: {reason}")]
    Runner {
        /// The binary.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Starts runners. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Sandbox {
    bwrap: PathBuf,
    runner: PathBuf,
    args: Vec<String>,
    run_as: Option<(u32, u32)>,
    start_timeout: Duration,
    _staging: Option<tempfile::TempDir>,
}

impl Sandbox {
    /// Resolve bubblewrap and the runner binary (staging it when the sandbox user cannot read it).
    pub fn new(config: &SandboxConfig) -> Result<Self, SandboxError> {
        let bwrap = find_program(&config.bwrap)
            .ok_or_else(|| SandboxError::NoBwrap(config.bwrap.clone()))?;
        let (program, args) = match config.runner.split_first() {
            Some((program, args)) => (PathBuf::from(program), args.to_vec()),
            None => {
                let exe = std::env::current_exe().map_err(|e| SandboxError::Runner {
                    path: PathBuf::from("(current executable)"),
                    reason: e.to_string(),
                })?;
                (exe, vec!["__code-runner".to_owned()])
            }
        };
        let program =
            find_program(&program.to_string_lossy()).ok_or_else(|| SandboxError::Runner {
                path: program.clone(),
                reason: "not found".to_owned(),
            })?;
        let run_as = rustix::process::geteuid()
            .is_root()
            .then_some((config.sandbox_uid, config.sandbox_gid));
        let (runner, staging) = if run_as.is_some() && !readable_by_others(&program) {
            let (path, dir) = stage(&program).map_err(|reason| SandboxError::Runner {
                path: program.clone(),
                reason,
            })?;
            tracing::info!(from = %program.display(), to = %path.display(), "code runner staged where the sandbox user can read it");
            (path, Some(dir))
        } else {
            (program, None)
        };
        Ok(Self {
            bwrap,
            runner,
            args,
            run_as,
            start_timeout: config.start_timeout,
            _staging: staging,
        })
    }

    /// The bwrap command line for a runner with `extra` arguments.
    fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(&self.bwrap);
        command.args([
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--cap-drop",
            "ALL",
            "--hostname",
            "weft-sandbox",
        ]);
        for dir in LIBRARY_DIRS {
            let path = Path::new(dir);
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(path) {
                        command.arg("--symlink").arg(target).arg(dir);
                    }
                }
                Ok(meta) if meta.is_dir() => {
                    command.args(["--ro-bind", dir, dir]);
                }
                _ => {}
            }
        }
        command
            .arg("--ro-bind")
            .arg(&self.runner)
            .arg(RUNNER_PATH)
            .args([
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/", "--",
            ])
            .arg(RUNNER_PATH)
            .args(&self.args)
            .args(extra)
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Start a runner and wait until it is ready for its request.
    pub async fn start(&self) -> Result<Runner, CodeError> {
        let mut child = self.command(&[]).spawn().map_err(|e| {
            CodeError::new(
                ErrorCode::Internal,
                format!("cannot start the sandbox ({}): {e}", self.bwrap.display()),
            )
        })?;
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (Some(stdin), Some(stdout), Some(stderr)) = (stdin, stdout, stderr) else {
            return Err(CodeError::new(
                ErrorCode::Internal,
                "the sandbox's pipes are missing",
            ));
        };
        let mut runner = Runner {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            stderr: Some(tokio::spawn(collect_stderr(stderr))),
        };
        let first =
            tokio::time::timeout(self.start_timeout, read_line(&mut runner.stdout, 1024)).await;
        let trouble = match first {
            Ok(Ok(Some(line))) => match serde_json::from_slice::<RunnerMessage>(&line) {
                Ok(RunnerMessage::Ready { protocol }) if protocol == PROTOCOL => return Ok(runner),
                Ok(RunnerMessage::Ready { protocol }) => {
                    format!(
                        "the runner speaks protocol {protocol}, this executor {PROTOCOL} (a stale binary?)"
                    )
                }
                _ => format!(
                    "the runner said {:?} instead of ready",
                    String::from_utf8_lossy(&line)
                ),
            },
            Ok(Ok(None)) => "the runner exited before it was ready".to_owned(),
            Ok(Err(e)) => format!("cannot read from the runner: {e}"),
            Err(_) => format!("the runner was not ready within {:?}", self.start_timeout),
        };
        let _ = runner.child.start_kill();
        let stderr = runner.stderr_text().await;
        Err(CodeError::new(
            ErrorCode::Internal,
            format!("the code sandbox cannot start: {trouble}{stderr}"),
        ))
    }

    /// Start a runner in `--self-check` mode and return what it sees.
    pub async fn self_check(&self) -> Result<SelfCheck, String> {
        let child = self.command(&["--self-check"]).stdin(Stdio::null()).spawn();
        let child = child
            .map_err(|e| format!("cannot start the sandbox ({}): {e}", self.bwrap.display()))?;
        let output = tokio::time::timeout(self.start_timeout, child.wait_with_output())
            .await
            .map_err(|_| {
                format!(
                    "the self-check did not finish within {:?}",
                    self.start_timeout
                )
            })?
            .map_err(|e| format!("the self-check failed: {e}"))?;
        if !output.status.success() {
            let stderr =
                String::from_utf8_lossy(&output.stderr[..output.stderr.len().min(STDERR_BYTES)])
                    .into_owned();
            return Err(format!(
                "the sandbox self-check failed ({}): {}",
                output.status,
                stderr.trim()
            ));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("the self-check report is invalid: {e}"))
    }
}

/// What a successful run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// The script's output.
    pub output: serde_json::Value,
    /// Log lines the runner dropped over the caps.
    pub logs_dropped: u64,
}

/// One started runner, waiting for its request. Killed when dropped.
#[derive(Debug)]
pub struct Runner {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

/// Why [`Runner::run`] did not get an answer.
#[derive(Debug)]
pub enum RunError {
    /// The runner was gone before it took the request (a warm runner that died): start
    /// another and try again.
    Stale(CodeError),
    /// The request failed.
    Failed(CodeError),
}

impl Runner {
    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Serve `request`: logs go to `log` as they come; the process is killed at `deadline` or
    /// when `cancel` fires, and in any case when the runner is dropped.
    pub async fn run(
        mut self,
        request: &Request,
        deadline: Instant,
        cancel: &CancellationToken,
        log: &mut (dyn FnMut(String) + Send),
    ) -> Result<RunOutput, RunError> {
        let mut line = serde_json::to_vec(request)
            .map_err(|e| RunError::Failed(CodeError::new(ErrorCode::BadInput, e.to_string())))?;
        line.push(b'\n');
        if line.len() > protocol::MAX_REQUEST_BYTES {
            return Err(RunError::Failed(CodeError::new(
                ErrorCode::BadInput,
                format!(
                    "script and inputs are {} bytes, more than {} allowed",
                    line.len(),
                    protocol::MAX_REQUEST_BYTES
                ),
            )));
        }
        let Some(mut stdin) = self.stdin.take() else {
            return Err(RunError::Stale(CodeError::new(
                ErrorCode::Internal,
                "runner already used",
            )));
        };
        // The runner reads the whole request before it runs anything, so a write error means
        // it was gone already.
        let written = tokio::select! {
            r = async { stdin.write_all(&line).await?; stdin.shutdown().await } => r,
            () = tokio::time::sleep_until(deadline) => Ok(()),
        };
        if let Err(e) = written {
            return Err(RunError::Stale(CodeError::new(
                ErrorCode::Internal,
                format!("the runner is gone: {e}"),
            )));
        }
        drop(stdin);
        let max_line = protocol::max_line_bytes(request.max_output_bytes);
        let outcome = tokio::select! {
            r = self.read_answer(max_line, log) => r,
            () = tokio::time::sleep_until(deadline) => Err(CodeError::new(
                ErrorCode::Timeout,
                format!("the script ran longer than its timeout of {} and was killed",
                    humantime::format_duration(Duration::from_millis(request.timeout_ms))),
            )),
            () = cancel.cancelled() => Err(CodeError::new(ErrorCode::Cancelled, "the step was cancelled; the script was killed")),
        };
        let _ = self.child.start_kill();
        outcome.map_err(RunError::Failed)
    }

    async fn read_answer(
        &mut self,
        max_line: usize,
        log: &mut (dyn FnMut(String) + Send),
    ) -> Result<RunOutput, CodeError> {
        loop {
            let line = match read_line(&mut self.stdout, max_line).await {
                Ok(Some(line)) => line,
                Ok(None) => return Err(self.died().await),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Err(CodeError::new(
                        ErrorCode::SandboxLimit,
                        format!(
                            "the runner wrote a line longer than {max_line} bytes (output too large)"
                        ),
                    ));
                }
                Err(e) => {
                    return Err(CodeError::new(
                        ErrorCode::Internal,
                        format!("cannot read from the runner: {e}"),
                    ));
                }
            };
            match serde_json::from_slice::<RunnerMessage>(&line) {
                Ok(RunnerMessage::Log(text)) => log(text),
                Ok(RunnerMessage::Ok {
                    output,
                    logs_dropped,
                }) => {
                    return Ok(RunOutput {
                        output,
                        logs_dropped,
                    });
                }
                Ok(RunnerMessage::Error(e)) => {
                    let code = match e.code {
                        FailureCode::Script => ErrorCode::Script,
                        FailureCode::SandboxLimit => ErrorCode::SandboxLimit,
                        FailureCode::Timeout => ErrorCode::Timeout,
                        FailureCode::BadInput => ErrorCode::BadInput,
                        FailureCode::Internal => ErrorCode::Internal,
                    };
                    return Err(CodeError {
                        code,
                        message: e.message,
                        line: e.line,
                        logs_dropped: e.logs_dropped,
                    });
                }
                Ok(RunnerMessage::Ready { .. }) | Err(_) => {
                    return Err(CodeError::new(
                        ErrorCode::Internal,
                        format!(
                            "the runner broke the protocol: {:?}",
                            String::from_utf8_lossy(&line[..line.len().min(200)])
                        ),
                    ));
                }
            }
        }
    }

    /// The error for a runner that closed stdout without an answer.
    async fn died(&mut self) -> CodeError {
        let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        let stderr = self.stderr_text().await;
        let how = match status {
            Ok(Ok(status)) => describe_exit(status),
            _ => "did not exit".to_owned(),
        };
        CodeError::new(
            ErrorCode::SandboxLimit,
            format!(
                "the sandbox stopped the script before it answered ({how}; CPU time or memory limit){stderr}"
            ),
        )
    }

    /// `: <stderr>` of the runner (bounded), or nothing.
    async fn stderr_text(&mut self) -> String {
        let Some(handle) = self.stderr.take() else {
            return String::new();
        };
        match tokio::time::timeout(Duration::from_secs(1), handle).await {
            Ok(Ok(bytes)) if !bytes.is_empty() => {
                format!(": {}", String::from_utf8_lossy(&bytes).trim())
            }
            _ => String::new(),
        }
    }
}

/// bwrap exits with 128 + the signal that killed the runner.
fn describe_exit(status: ExitStatus) -> String {
    match status.code() {
        Some(152) => "killed by SIGXCPU: CPU time limit".to_owned(),
        Some(137) => "killed by SIGKILL".to_owned(),
        Some(134) => {
            "aborted (SIGABRT), usually an allocation over the address-space limit".to_owned()
        }
        Some(139) => "crashed (SIGSEGV)".to_owned(),
        Some(code) => format!("exit status {code}"),
        None => status.to_string(),
    }
}

/// Read up to `max` bytes of stderr, then drain the rest.
async fn collect_stderr(mut stderr: tokio::process::ChildStderr) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = STDERR_BYTES.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    kept
}

/// One line without its newline; `None` at end of input; `InvalidData` past `max` bytes.
pub(crate) async fn read_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if line.is_empty() { None } else { Some(line) });
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1),
            None => (buf, buf.len()),
        };
        if line.len() + chunk.len() > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line too long",
            ));
        }
        line.extend_from_slice(chunk);
        let newline = done > chunk.len();
        reader.consume(done);
        if newline {
            return Ok(Some(line));
        }
    }
}

/// A program name resolved against `PATH` (names holding a `/` are taken as they are).
fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Whether "others" may read and execute `path` and traverse every folder above it.
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(path) = path.canonicalize() else {
        return false;
    };
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode())
            .unwrap_or(0)
    };
    if mode(&path) & 0o005 != 0o005 {
        return false;
    }
    path.ancestors().skip(1).all(|dir| mode(dir) & 0o001 != 0)
}

/// Copy `program` into a new world-readable temporary folder.
fn stage(program: &Path) -> Result<(PathBuf, tempfile::TempDir), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("weft-code-runner-")
        .tempdir()
        .map_err(|e| format!("cannot create a staging folder: {e}"))?;
    let path = dir.path().join("runner");
    std::fs::copy(program, &path).map_err(|e| format!("cannot copy to {}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    if !readable_by_others(&path) {
        return Err(format!(
            "{} is not readable by the sandbox user either",
            path.display()
        ));
    }
    Ok((path, dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_bounded() {
        let mut input: &[u8] = b"abc\ndefgh\nij";
        assert_eq!(
            read_line(&mut input, 5).await.expect("line"),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            read_line(&mut input, 5).await.expect("line"),
            Some(b"defgh".to_vec())
        );
        assert_eq!(
            read_line(&mut input, 5).await.expect("line"),
            Some(b"ij".to_vec())
        );
        assert_eq!(read_line(&mut input, 5).await.expect("eof"), None);
        let mut long: &[u8] = b"abcdefgh\n";
        let err = read_line(&mut long, 5).await.expect_err("too long");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn closed_folders_are_seen() {
        assert!(readable_by_others(Path::new("/bin/sh")));
        let dir = tempfile::tempdir().expect("tempdir"); // 0700
        let file = dir.path().join("x");
        std::fs::write(&file, b"x").expect("write");
        assert!(!readable_by_others(&file));
    }
}
