//! [`ChildProcess`]: starts one OS process with stdout and stderr appended to a log file in
//! its own temporary directory, and stops it by PID: SIGTERM ([`ChildProcess::terminate`]),
//! SIGKILL ([`ChildProcess::kill9`]) or SIGKILL on drop. Used for crash tests that run
//! `weft serve …` as separate processes, and by [`crate::NatsServer`].

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// A running (or exited) child process whose output goes to a log file.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    name: String,
    log_path: PathBuf,
    exit: Option<ExitStatus>,
    _dir: tempfile::TempDir,
}

impl ChildProcess {
    /// Spawns `program` with `args` and extra environment variables `envs` (added to this
    /// process' environment). Stdin is closed; stdout and stderr go to `<tempdir>/<name>.log`.
    pub fn spawn<P, I, S, E, K, V>(program: P, args: I, envs: E) -> anyhow::Result<Self>
    where
        P: AsRef<OsStr>,
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
        E: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        Self::start(program.as_ref(), args, envs, false)
    }

    /// As [`ChildProcess::spawn`], with the temporary directory (removed on drop) as the
    /// working directory, for programs that leave files where they run.
    pub fn spawn_isolated<P, I, S, E, K, V>(program: P, args: I, envs: E) -> anyhow::Result<Self>
    where
        P: AsRef<OsStr>,
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
        E: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        Self::start(program.as_ref(), args, envs, true)
    }

    fn start<I, S, E, K, V>(
        program: &OsStr,
        args: I,
        envs: E,
        isolated: bool,
    ) -> anyhow::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
        E: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let name = Path::new(program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "process".to_owned());
        let dir = tempfile::Builder::new()
            .prefix(&format!("weft-{name}-"))
            .tempdir()
            .context("creating a temp dir for the process log")?;
        let log_path = dir.path().join(format!("{name}.log"));
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let err = out.try_clone().context("duplicating the log file handle")?;
        let mut command = Command::new(program);
        if isolated {
            command.current_dir(dir.path());
        }
        let child = command
            .args(args)
            .envs(envs)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", program.to_string_lossy()))?;
        Ok(Self {
            child,
            name,
            log_path,
            exit: None,
            _dir: dir,
        })
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Path of the log file (stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// What the process wrote so far (lossy UTF-8), for assertion messages.
    pub fn log(&self) -> String {
        match std::fs::read(&self.log_path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => format!("<cannot read {}: {e}>", self.log_path.display()),
        }
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `Some(status)` once the process has exited (reaping it), `None` while it runs.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.exit.is_none() {
            self.exit = self
                .child
                .try_wait()
                .with_context(|| format!("waiting for {}", self.name))?;
        }
        Ok(self.exit)
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL by PID, then reap it. A process that already exited is left alone.
    pub fn kill9(&mut self) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        // std's Child::kill sends SIGKILL to this PID.
        self.child
            .kill()
            .with_context(|| format!("SIGKILL {} (pid {})", self.name, self.pid()))?;
        let status = self
            .child
            .wait()
            .with_context(|| format!("waiting for {}", self.name))?;
        self.exit = Some(status);
        Ok(status)
    }

    /// SIGTERM by PID, wait up to 10 s for a clean exit, then SIGKILL.
    pub fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        self.terminate_within(Duration::from_secs(10))
    }

    /// SIGTERM by PID, wait up to `grace`, then SIGKILL.
    pub fn terminate_within(&mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running kill -TERM {pid}"))?;
        if !sent.success() {
            // It exited between try_wait and kill.
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
        }
        match self.wait_timeout(grace)? {
            Some(status) => Ok(status),
            None => {
                tracing::warn!(name = %self.name, pid = %pid, "no exit {grace:?} after SIGTERM; SIGKILL");
                self.kill9()
            }
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
