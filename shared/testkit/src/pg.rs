//! [`PgServer`]: a private PostgreSQL 15 cluster for one test, initialised (`initdb -A trust`)
//! into a temporary directory and started on 127.0.0.1 and a free port with
//! `wal_level=logical`, for the CDC trigger's tests (the shared server that `scripts/test`
//! starts belongs to every test and must not carry their replication slots).
//!
//! The cluster belongs to the `postgres` user when the tests run as root (initdb and the server
//! refuse root), as `scripts/lib.sh` does. It is started with `pg_ctl start -w` and stopped by
//! the postmaster's PID (from `postmaster.pid`): SIGINT, PostgreSQL's fast shutdown, on
//! [`PgServer::stop`] and on drop. [`PgServer::start`] brings it back on the same port with the
//! same data directory; while it is stopped the port stays this test's (a [`PortHold`]
//! accepts and closes every connection, as a server that went away), so another test's server
//! bound to a free port can never answer this test's clients in between. Binaries:
//! `$WEFT_PG_BIN`, else `/usr/lib/postgresql/15/bin`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A stopped server's port, kept: every connection is accepted and closed at once (the client
/// sees the server gone), until [`PortHold::release`] before the server starts again.
#[derive(Debug)]
struct PortHold {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl PortHold {
    /// `None` if the port cannot be bound (then nothing is held).
    fn bind(port: u16) -> Option<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).ok()?;
        listener.set_nonblocking(true).ok()?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => drop(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Some(Self { stop, thread })
    }

    /// Free the port.
    fn release(self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.thread.join();
    }
}
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A PostgreSQL server owned by one test.
#[derive(Debug)]
pub struct PgServer {
    /// `postgres://postgres@127.0.0.1:<port>/postgres`
    pub url: String,
    /// The TCP port; the same across restarts.
    pub port: u16,
    pid: Option<u32>,
    bin: PathBuf,
    dir: tempfile::TempDir,
    hold: Option<PortHold>,
}

impl PgServer {
    /// initdb into a new temporary directory, then start the server with `wal_level=logical`
    /// (10 replication slots, 10 WAL senders) on a free port and wait until it accepts
    /// connections.
    pub async fn start_logical() -> anyhow::Result<Self> {
        let bin = std::env::var_os("WEFT_PG_BIN")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BIN));
        anyhow::ensure!(
            bin.join("initdb").is_file(),
            "no initdb in {}: run scripts/deps (installs postgresql-15) or set WEFT_PG_BIN",
            bin.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("weft-pg-")
            .tempdir()
            .context("creating the cluster's temp dir")?;
        std::fs::create_dir(dir.path().join("run")).context("creating the socket dir")?;
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path()))?;
        }
        let data = dir.path().join("data");
        let mut initdb = as_owner(&bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "-N"]);
        run(&mut initdb).context("initdb")?;
        let mut server = Self {
            url: String::new(),
            port: 0,
            pid: None,
            bin,
            dir,
            hold: None,
        };
        let mut last_error = None;
        // A free port can be taken before the server binds it: retry with another.
        for _ in 0..3 {
            server.port = crate::free_port();
            server.url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
            match server.start().await {
                Ok(()) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("PostgreSQL did not start")))
    }

    /// Starts the server (again) on the same port and data directory; waits until it is up.
    /// Does nothing if it runs.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        if let Some(hold) = self.hold.take() {
            hold.release();
        }
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c wal_level=logical \
             -c max_replication_slots=10 -c max_wal_senders=10 -c fsync=off",
            self.port,
            self.dir.path().join("run").display()
        );
        let log = self.dir.path().join("postgresql.log");
        let mut pg_ctl = as_owner(&self.bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        if let Err(e) = run(&mut pg_ctl) {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("{e:#}; server log:\n{tail}");
        }
        self.pid = Some(read_pid(&self.data())?);
        Ok(())
    }

    /// Fast shutdown (SIGINT to the postmaster's PID); waits for it to exit, SIGKILL after
    /// 20 s. Does nothing if it is not running.
    pub fn stop(&mut self) {
        let Some(pid) = self.pid.take() else { return };
        if let Err(e) = stop_pid(pid) {
            tracing::warn!("stopping PostgreSQL (pid {pid}): {e:#}");
        }
        self.hold = PortHold::bind(self.port);
    }

    /// True while the postmaster started by [`PgServer::start`] runs.
    pub fn is_running(&self) -> bool {
        self.pid.is_some_and(alive)
    }

    /// The postmaster's PID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// URL of database `name` on this server.
    pub fn url_for(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgresql.log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(hold) = self.hold.take() {
            hold.release();
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program`, run as `postgres` when we are root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn read_pid(data: &Path) -> anyhow::Result<u32> {
    let file = data.join("postmaster.pid");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("no PID in {}", file.display()))
}

/// Running and not a zombie (a postmaster started by pg_ctl is reparented; whoever adopts it
/// may reap it late).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn stop_pid(pid: u32) -> anyhow::Result<()> {
    if !signal(pid, "INT") {
        return Ok(()); // already gone
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while alive(pid) {
        if Instant::now() >= deadline {
            signal(pid, "KILL");
            bail!("no exit {STOP_TIMEOUT:?} after SIGINT; sent SIGKILL");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
