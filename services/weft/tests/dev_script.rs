//! `scripts/dev` (the README's run command) cleans up after itself: on Ctrl-C (SIGINT to its
//! process group, as a terminal sends it) and when weft exits on its own, it stops weft and
//! the PostgreSQL and NATS it started, by PID; a PostgreSQL that was running before is left
//! running. Each run uses a private data directory and free ports, never the shared cluster.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

/// PIDs whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

fn signal(sig: &str, target: &str) {
    let _ = Command::new("kill")
        .args([sig, "--", target])
        .stderr(Stdio::null())
        .status();
}

fn wait_gone(pids: &[u32], within: Duration) -> Vec<u32> {
    let until = Instant::now() + within;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || Instant::now() > until {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200") || buf.starts_with("HTTP/1.0 200")
}

struct Env {
    dir: tempfile::TempDir,
    pg_port: u16,
    nats_port: u16,
    nats_monitor: u16,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // The cluster runs as `postgres` when we are root: it must reach its directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        Self {
            dir,
            pg_port: free_port(),
            nats_port: free_port(),
            nats_monitor: free_port(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, script: &str) -> Command {
        let root = weft_testkit::repo_root();
        let mut c = Command::new("bash");
        c.arg(root.join(script))
            .current_dir(&root)
            .env_remove("DATABASE_URL")
            .env_remove("NATS_URL")
            .env_remove("WEFT_TEST_PG_URL")
            .env("WEFT_PG_DATA", self.path("pg"))
            .env("WEFT_PG_PORT", self.pg_port.to_string())
            .env("WEFT_NATS_PORT", self.nats_port.to_string())
            .env("WEFT_NATS_MONITOR_PORT", self.nats_monitor.to_string())
            .env("WEFT_NATS_DATA", self.path("nats"))
            .env("WEFT_MASTER_KEY", "11".repeat(32))
            .env("WEFT_DEV_BIN", env!("CARGO_BIN_EXE_weft"))
            .stdin(Stdio::null());
        c
    }

    fn postmaster(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.path("pg/data/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    fn nats(&self) -> Option<u32> {
        std::fs::read_to_string(self.path("nats.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Start scripts/dev in a process group of its own and wait for weft to answer.
    fn dev(&self, log: &Path) -> Dev {
        let http = free_port();
        let file = std::fs::File::create(log).expect("log file");
        let child = self
            .command("scripts/dev")
            .env("WEFT_HTTP_ADDR", format!("127.0.0.1:{http}"))
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .process_group(0)
            .spawn()
            .expect("scripts/dev starts");
        let mut dev = Dev {
            child,
            log: log.to_owned(),
        };
        let until = Instant::now() + Duration::from_secs(180);
        while !healthy(http) {
            if let Ok(Some(status)) = dev.child.try_wait() {
                panic!(
                    "scripts/dev exited ({status}) before weft answered:\n{}",
                    dev.log()
                );
            }
            assert!(
                Instant::now() < until,
                "weft never answered:\n{}",
                dev.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        dev
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Whatever a failed run left behind.
        if let Some(pid) = self.nats() {
            signal("-KILL", &pid.to_string());
        }
        if let Some(pid) = self.postmaster() {
            signal("-INT", &pid.to_string());
            wait_gone(&[pid], Duration::from_secs(30));
        }
    }
}

struct Dev {
    child: Child,
    log: PathBuf,
}

impl Dev {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The weft process the script runs.
    fn weft(&self) -> u32 {
        children(self.pid())
            .into_iter()
            .find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "weft")
            })
            .expect("weft runs under scripts/dev")
    }

    /// Wait for the script to end.
    fn finish(&mut self) -> String {
        let until = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.log();
            }
            assert!(
                Instant::now() < until,
                "scripts/dev did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal("-KILL", &format!("-{}", self.child.id()));
            let _ = self.child.wait();
        }
    }
}

#[test]
fn ctrl_c_stops_what_scripts_dev_started_and_leaves_what_it_found() {
    if !Path::new(PG_BIN).join("initdb").exists() {
        eprintln!("skipped: PostgreSQL 15 is not installed (scripts/deps installs it)");
        return;
    }
    let env = Env::new();

    // 1. A PostgreSQL already running is used and left running; the NATS scripts/dev started
    //    is stopped.
    let status = env
        .command("scripts/services")
        .arg("start")
        .arg("pg")
        .stdout(Stdio::null())
        .status()
        .expect("scripts/services");
    assert!(status.success());
    let before = env.postmaster().expect("postmaster.pid");
    let mut dev = env.dev(&env.path("dev1.log"));
    let weft = dev.weft();
    let nats = env.nats().expect("scripts/dev started NATS");
    signal("-INT", &format!("-{}", dev.pid()));
    let log = dev.finish();
    assert_eq!(
        wait_gone(&[weft, nats], Duration::from_secs(10)),
        Vec::<u32>::new(),
        "{log}"
    );
    assert!(
        alive(before),
        "the PostgreSQL that was running before was stopped:\n{log}"
    );
    assert!(log.contains("leaving PostgreSQL on postgres://"), "{log}");
    assert!(log.contains("running: it was running before"), "{log}");
    signal("-INT", &before.to_string());
    assert!(wait_gone(&[before], Duration::from_secs(30)).is_empty());

    // 2. Ctrl-C: everything scripts/dev started is gone, every postgres process included.
    let mut dev = env.dev(&env.path("dev2.log"));
    let postmaster = env.postmaster().expect("scripts/dev started PostgreSQL");
    let mut started = children(postmaster);
    assert!(!started.is_empty(), "postgres has its background processes");
    started.extend([postmaster, dev.weft(), env.nats().expect("nats.pid")]);
    signal("-INT", &format!("-{}", dev.pid()));
    let log = dev.finish();
    assert_eq!(
        wait_gone(&started, Duration::from_secs(10)),
        Vec::<u32>::new(),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "stopping PostgreSQL (pid {postmaster}) that scripts/dev started"
        )),
        "{log}"
    );

    // 3. weft exits on its own: the servers still go.
    let mut dev = env.dev(&env.path("dev3.log"));
    let postmaster = env.postmaster().expect("PostgreSQL again");
    let nats = env.nats().expect("NATS again");
    signal("-TERM", &dev.weft().to_string());
    let log = dev.finish();
    assert_eq!(
        wait_gone(&[postmaster, nats], Duration::from_secs(10)),
        Vec::<u32>::new(),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "stopping PostgreSQL (pid {postmaster}) that scripts/dev started"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "stopping NATS (pid {nats}) that scripts/dev started"
        )),
        "{log}"
    );
}
