//! [`Dovecot`]: a private Dovecot IMAP server for one test. Its configuration, sockets
//! (`base_dir`), log and Maildir storage live in a temporary directory; it listens on
//! 127.0.0.1 and a free port for plain-text IMAP only (`ssl = no`, plaintext login allowed),
//! authenticates one user from a passwd-file, and runs in the foreground (`dovecot -F -c
//! <conf>`) so it is stopped by PID. [`Dovecot::stop`] and [`Dovecot::start_again`] take it
//! away and bring it back on the same port with the same mail. [`Dovecot::append`] delivers a
//! message by IMAP APPEND; [`Dovecot::session`] opens a separate logged-in session to check
//! what the server holds. [`Dovecot::start_with_tls`] adds an implicit-TLS listener and
//! STARTTLS with a self-signed certificate made by `openssl`, which no client trusts.
//!
//! The binary is `$WEFT_DOVECOT`, else `dovecot` on `PATH`, else `/usr/sbin/dovecot` (Debian
//! `dovecot-imapd`, installed by `scripts/deps`). As root, Dovecot refuses to run its login
//! and mail processes as root, so they use the `dovenull` and `dovecot` users the Debian
//! package creates; otherwise everything runs as the current user.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::process::ChildProcess;

const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A logged-in IMAP session on a plain TCP connection.
pub type ImapSession = async_imap::Session<tokio::net::TcpStream>;

/// A dovecot process owned by one test.
#[derive(Debug)]
pub struct Dovecot {
    /// Always `127.0.0.1`.
    pub host: String,
    /// The IMAP port; the same across restarts.
    pub port: u16,
    /// The implicit-TLS (imaps) port, when started with TLS.
    pub tls_port: Option<u16>,
    /// The test user's login name.
    pub username: String,
    /// The test user's password.
    pub password: String,
    // Declared before `dir` so the process dies before its directory is removed.
    process: Option<ChildProcess>,
    binary: PathBuf,
    conf: PathBuf,
    dir: tempfile::TempDir,
}

impl Dovecot {
    /// Writes a private configuration, starts Dovecot on a free port and waits (up to 15 s)
    /// until the test user can log in.
    pub async fn start() -> anyhow::Result<Self> {
        Self::launch(false).await
    }

    /// As [`Dovecot::start`], plus STARTTLS on the plain port and implicit TLS on
    /// [`Dovecot::tls_port`], with a self-signed certificate for `localhost`.
    pub async fn start_with_tls() -> anyhow::Result<Self> {
        Self::launch(true).await
    }

    async fn launch(tls: bool) -> anyhow::Result<Self> {
        let binary = binary()?;
        let dir = tempfile::Builder::new()
            .prefix("weft-dovecot-")
            .tempdir()
            .context("creating the dovecot dir")?;
        let accounts = Accounts::for_this_process()?;
        if tls {
            self_signed(dir.path())?;
        }
        let mut server = Self {
            host: "127.0.0.1".into(),
            port: 0,
            tls_port: None,
            username: "alice".into(),
            password: "alice-secret".into(),
            process: None,
            binary,
            conf: PathBuf::new(),
            dir,
        };
        let mut last_error = None;
        // A free port can be taken by someone else before Dovecot binds it: retry.
        for _ in 0..3 {
            server.port = crate::free_port();
            server.tls_port = tls.then(crate::free_port);
            server.conf = write_config(server.dir.path(), server.port, server.tls_port, &accounts)?;
            match server.spawn_ready().await {
                Ok(()) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("dovecot did not start")))
    }

    /// Stops the server like a crash or shutdown of the host would: SIGTERM by PID to the master
    /// (SIGKILL after 10 s), then SIGKILL by PID to the processes it had started, because a
    /// Dovecot master that exits leaves its `imap` processes serving their connections. Open
    /// client connections are therefore cut. Does nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let children = children_of(process.pid());
            if let Err(e) = process.terminate() {
                tracing::warn!("stopping dovecot: {e:#}");
            }
            for pid in children {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }

    /// Starts the server again (stopping it first if it runs) on the same port with the same
    /// mail, and waits until the test user can log in.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        self.stop();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.spawn_ready().await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(e.context(format!("restarting dovecot on port {}", self.port)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// True while the server process runs.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(ChildProcess::is_running)
    }

    /// What Dovecot logged (its own log file), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Opens a new logged-in session as the test user.
    pub async fn session(&self) -> anyhow::Result<ImapSession> {
        login(self.port, &self.username, &self.password).await
    }

    /// Delivers `raw` (an RFC 5322 message) to `mailbox` by IMAP APPEND over a new session.
    pub async fn append(&self, mailbox: &str, raw: &[u8]) -> anyhow::Result<()> {
        let mut session = self.session().await?;
        session
            .append(mailbox, None, None, raw)
            .await
            .with_context(|| format!("APPEND to {mailbox}"))?;
        let _ = session.logout().await;
        Ok(())
    }

    /// Creates `mailbox` (an error if it exists).
    pub async fn create_mailbox(&self, mailbox: &str) -> anyhow::Result<()> {
        let mut session = self.session().await?;
        session
            .create(mailbox)
            .await
            .with_context(|| format!("CREATE {mailbox}"))?;
        let _ = session.logout().await;
        Ok(())
    }

    async fn spawn_ready(&mut self) -> anyhow::Result<()> {
        let args: [&std::ffi::OsStr; 3] = ["-F".as_ref(), "-c".as_ref(), self.conf.as_os_str()];
        let mut process =
            ChildProcess::spawn(&self.binary, args, std::iter::empty::<(&str, &str)>())?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = process.try_wait()? {
                anyhow::bail!(
                    "dovecot on port {} exited at start ({status}); its output:\n{}\nits log:\n{}",
                    self.port,
                    process.log_tail(20),
                    self.log()
                );
            }
            let attempt = tokio::time::timeout(
                Duration::from_secs(2),
                login(self.port, &self.username, &self.password),
            );
            if let Ok(Ok(mut session)) = attempt.await {
                let _ = session.logout().await;
                self.process = Some(process);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = process.terminate_within(Duration::from_secs(2));
                anyhow::bail!(
                    "dovecot did not accept a login on port {} within {READY_TIMEOUT:?}; its log:\n{}",
                    self.port,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // Not only the SIGKILL of ChildProcess' drop: the master's children must go too.
        self.stop();
    }
}

/// PIDs of the processes whose parent is `parent` (from `/proc/<pid>/stat`).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) state ppid …`; comm may hold spaces, so split after the last ')'.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(parent)
        })
        .collect()
}

/// Connects, reads the greeting and logs in.
async fn login(port: u16, user: &str, password: &str) -> anyhow::Result<ImapSession> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
    let mut client = async_imap::Client::new(tcp);
    client
        .read_response()
        .await
        .context("reading the IMAP greeting")?
        .context("no IMAP greeting")?;
    client
        .login(user, password)
        .await
        .map_err(|(e, _)| anyhow::anyhow!("IMAP login as {user}: {e}"))
}

/// Who runs Dovecot's internal and login processes, and whose files the mail is.
struct Accounts {
    internal_user: String,
    login_user: String,
    mail_uid: u32,
    mail_gid: u32,
}

impl Accounts {
    fn for_this_process() -> anyhow::Result<Self> {
        let uid = id_of(&["-u"])?;
        if uid == 0 {
            let (mail_uid, mail_gid) = passwd_ids("dovecot").context(
                "running as root, Dovecot needs the `dovecot` user (install dovecot-imapd)",
            )?;
            passwd_ids("dovenull").context("running as root, Dovecot needs the `dovenull` user")?;
            return Ok(Self {
                internal_user: "dovecot".into(),
                login_user: "dovenull".into(),
                mail_uid,
                mail_gid,
            });
        }
        let name = std::process::Command::new("id")
            .arg("-un")
            .output()
            .context("running id -un")?;
        let name = String::from_utf8_lossy(&name.stdout).trim().to_string();
        Ok(Self {
            internal_user: name.clone(),
            login_user: name,
            mail_uid: uid,
            mail_gid: id_of(&["-g"])?,
        })
    }
}

fn id_of(args: &[&str]) -> anyhow::Result<u32> {
    let out = std::process::Command::new("id")
        .args(args)
        .output()
        .context("running id")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("reading the output of id")
}

/// (uid, gid) of a user from /etc/passwd.
fn passwd_ids(user: &str) -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&user) && f.len() > 3)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .with_context(|| format!("no user {user} in /etc/passwd"))
}

/// Writes `dovecot.conf`, the passwd-file and the mail folder into `dir`; returns the conf.
fn write_config(
    dir: &Path,
    port: u16,
    tls_port: Option<u16>,
    accounts: &Accounts,
) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let d = dir.display();
    // The mail processes run as `mail_uid` and must reach the mail folder.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .context("opening the dovecot dir to its mail user")?;
    let mail = dir.join("mail");
    std::fs::create_dir_all(&mail).context("creating the mail dir")?;
    std::os::unix::fs::chown(&mail, Some(accounts.mail_uid), Some(accounts.mail_gid))
        .context("handing the mail dir to the mail user")?;
    let users = format!(
        "alice:{{PLAIN}}alice-secret:{}:{}::{d}/mail/alice\n",
        accounts.mail_uid, accounts.mail_gid
    );
    std::fs::write(dir.join("users"), users).context("writing the passwd-file")?;
    let conf = format!(
        r#"base_dir = {d}/run
state_dir = {d}/state
instance_name = weft-dovecot-{port}
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {d}/dovecot.log
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
mail_location = maildir:{d}/mail/%u/Maildir
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
{imaps}}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"#,
        internal = accounts.internal_user,
        login = accounts.login_user,
        ssl = match tls_port {
            Some(_) => format!("ssl = yes\nssl_cert = <{d}/cert.pem\nssl_key = <{d}/key.pem"),
            None => "ssl = no".into(),
        },
        imaps = match tls_port {
            Some(p) =>
                format!("  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {p}\n  }}\n"),
            None => String::new(),
        },
    );
    let path = dir.join("dovecot.conf");
    std::fs::write(&path, conf).context("writing dovecot.conf")?;
    Ok(path)
}

/// A self-signed certificate and key for `localhost` in `dir` (`cert.pem`, `key.pem`).
fn self_signed(dir: &Path) -> anyhow::Result<()> {
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .context("running openssl (needed for a TLS test server)")?;
    anyhow::ensure!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The dovecot binary.
fn binary() -> anyhow::Result<PathBuf> {
    if let Some(explicit) = std::env::var_os("WEFT_DOVECOT").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(explicit));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("dovecot"))
            .find(|p| p.is_file())
    });
    let candidate = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/dovecot"));
    anyhow::ensure!(
        candidate.is_file(),
        "no dovecot binary (looked on PATH and at /usr/sbin/dovecot); run scripts/deps \
         (apt-get install dovecot-imapd) or set WEFT_DOVECOT"
    );
    Ok(candidate)
}
