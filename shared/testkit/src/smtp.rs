//! [`SmtpServer`]: a private SMTP server for one test, on aiosmtpd (PyPI, in the venv that
//! `scripts/deps` fills), listening on 127.0.0.1 and a free port, stopped by PID on
//! [`SmtpServer::stop`] (SIGTERM) or drop (SIGKILL).
//!
//! The server (`smtp_server.py` beside this file, written into the server's temporary
//! directory) stores each accepted message raw, with its envelope, TLS state and login, for
//! [`SmtpServer::messages`]. [`SmtpOptions`] choose STARTTLS or implicit TLS (a certificate for
//! `localhost`/127.0.0.1 signed by a throwaway CA made with the `openssl` CLI:
//! [`SmtpServer::ca_pem`] is the CA to trust), AUTH PLAIN/LOGIN with one user, recipients
//! answered 550 or 451, and a fixed answer to the message data.
//!
//! The Python is `$WEFT_SMTP_PYTHON`, else `${WEFT_TOOLS:-~/.cache/weft}/venv/bin/python`;
//! it must import `aiosmtpd`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::process::ChildProcess;

/// Python imports take a while on a busy 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

const SCRIPT: &str = include_str!("smtp_server.py");

/// Transport security of the test server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text only.
    #[default]
    None,
    /// STARTTLS offered and required before `MAIL`.
    Starttls,
    /// TLS from the first byte.
    Implicit,
}

/// How the test server behaves.
#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    /// Transport security.
    pub tls: SmtpTls,
    /// `Some((user, password))`: AUTH PLAIN/LOGIN offered (after TLS when TLS is on) and a
    /// login required before `MAIL`.
    pub auth: Option<(String, String)>,
    /// Recipients answered `550 5.1.1 … User unknown`.
    pub reject: Vec<String>,
    /// Recipients answered `451 4.2.0 … try again later`.
    pub tempfail: Vec<String>,
    /// When set, the answer to the message data (e.g. `554 5.6.0 rejected`); nothing is stored.
    pub data_reply: Option<String>,
}

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The message exactly as received (after dot-unstuffing).
    pub raw: Vec<u8>,
    /// `MAIL FROM`.
    pub mail_from: String,
    /// Accepted `RCPT TO`s.
    pub rcpt_tos: Vec<String>,
    /// Whether the session was encrypted.
    pub tls: bool,
    /// The login of the session, when it authenticated.
    pub auth_user: Option<String>,
}

/// An aiosmtpd process owned by one test.
#[derive(Debug)]
pub struct SmtpServer {
    /// Always `127.0.0.1`.
    pub host: String,
    /// The port.
    pub port: u16,
    // Declared before `dir` so the process dies before its directory is removed.
    process: Option<ChildProcess>,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts the server on a free port and waits (up to 60 s) until it listens.
    pub async fn start(options: SmtpOptions) -> anyhow::Result<Self> {
        let python = python()?;
        let dir = tempfile::Builder::new()
            .prefix("weft-smtp-")
            .tempdir()
            .context("creating the smtp dir")?;
        let mail = dir.path().join("mail");
        std::fs::create_dir_all(&mail).context("creating the mail dir")?;
        let script = dir.path().join("smtp_server.py");
        std::fs::write(&script, SCRIPT).context("writing smtp_server.py")?;
        if options.tls != SmtpTls::None {
            make_certificates(dir.path())?;
        }
        let mut last_error = None;
        // A free port can be taken by someone else before the server binds it: retry.
        for _ in 0..3 {
            let port = crate::free_port();
            let args = arguments(&script, &mail, dir.path(), port, &options);
            match spawn_ready(&python, &args, port).await {
                Ok(process) => {
                    return Ok(Self {
                        host: "127.0.0.1".into(),
                        port,
                        process: Some(process),
                        dir,
                    });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the SMTP server did not start")))
    }

    /// The PEM file of the CA that signed the server's certificate (TLS modes only).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Every message accepted so far, in arrival order.
    pub fn messages(&self) -> anyhow::Result<Vec<ReceivedMail>> {
        let mail = self.dir.path().join("mail");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&mail)
            .context("reading the mail dir")?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|meta_path| {
                let meta: serde_json::Value = serde_json::from_slice(
                    &std::fs::read(&meta_path).context("reading a message's envelope")?,
                )?;
                let raw = std::fs::read(meta_path.with_extension("eml"))
                    .context("reading a stored message")?;
                let text = |k: &str| meta[k].as_str().map(str::to_string);
                Ok(ReceivedMail {
                    raw,
                    mail_from: text("mail_from").unwrap_or_default(),
                    rcpt_tos: meta["rcpt_tos"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    tls: meta["tls"].as_bool().unwrap_or(false),
                    auth_user: text("auth_user"),
                })
            })
            .collect()
    }

    /// Stops the server: SIGTERM by PID, SIGKILL after 10 s. Does nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take()
            && let Err(e) = process.terminate()
        {
            tracing::warn!("stopping the SMTP server: {e:#}");
        }
    }

    /// What the server process logged so far.
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(ChildProcess::log)
            .unwrap_or_default()
    }
}

fn arguments(
    script: &Path,
    mail: &Path,
    dir: &Path,
    port: u16,
    options: &SmtpOptions,
) -> Vec<String> {
    let path = |p: PathBuf| p.display().to_string();
    let mut args = vec![
        "-u".to_string(),
        path(script.to_path_buf()),
        "--port".into(),
        port.to_string(),
        "--dir".into(),
        path(mail.to_path_buf()),
    ];
    let pair = [path(dir.join("cert.pem")), path(dir.join("key.pem"))];
    match options.tls {
        SmtpTls::None => {}
        SmtpTls::Starttls => args.extend(["--starttls".to_string()].into_iter().chain(pair)),
        SmtpTls::Implicit => args.extend(["--implicit-tls".to_string()].into_iter().chain(pair)),
    }
    if let Some((user, password)) = &options.auth {
        args.extend(["--auth".into(), user.clone(), password.clone()]);
    }
    for a in &options.reject {
        args.extend(["--reject".into(), a.clone()]);
    }
    for a in &options.tempfail {
        args.extend(["--tempfail".into(), a.clone()]);
    }
    if let Some(reply) = &options.data_reply {
        args.extend(["--data-reply".into(), reply.clone()]);
    }
    args
}

async fn spawn_ready(python: &Path, args: &[String], port: u16) -> anyhow::Result<ChildProcess> {
    let mut process = ChildProcess::spawn(python, args, [("PYTHONUNBUFFERED", "1")])?;
    let deadline = Instant::now() + READY_TIMEOUT;
    let ready = format!("READY {port}");
    loop {
        if let Some(status) = process.try_wait()? {
            anyhow::bail!(
                "the SMTP server on port {port} exited at start ({status}); its log:\n{}",
                process.log_tail(20)
            );
        }
        if process.log().contains(&ready) {
            return Ok(process);
        }
        if Instant::now() >= deadline {
            let tail = process.log_tail(20);
            let _ = process.kill9();
            anyhow::bail!(
                "the SMTP server did not listen on port {port} within {READY_TIMEOUT:?}; its log:\n{tail}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A throwaway CA (`ca.pem`) and a certificate for `localhost` and 127.0.0.1 signed by it
/// (`cert.pem`, `key.pem`), made with the `openssl` CLI. rustls wants a subjectAltName and a
/// leaf that is not a CA, hence not a plain self-signed certificate.
fn make_certificates(dir: &Path) -> anyhow::Result<()> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"],
            &ec[..],
            &["-days", "2", "-subj", "/CN=weft-test-ca"],
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    )?;
    openssl(
        dir,
        &[
            &["req"],
            &ec[..],
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat(),
    )?;
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .context("writing leaf.ext")?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ],
    )
}

fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running openssl (needed for a TLS test server)")?;
    anyhow::ensure!(
        out.status.success(),
        "openssl {} failed: {}",
        args.first().unwrap_or(&""),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The Python with aiosmtpd.
fn python() -> anyhow::Result<PathBuf> {
    const FIX: &str = "run scripts/deps (installs aiosmtpd into ~/.cache/weft/venv), or set \
                       WEFT_SMTP_PYTHON to a python that imports aiosmtpd";
    if let Some(explicit) = std::env::var_os("WEFT_SMTP_PYTHON").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(explicit));
    }
    let tools = std::env::var_os("WEFT_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weft")))
        .context(FIX)?;
    let python = tools.join("venv/bin/python");
    anyhow::ensure!(python.is_file(), "no {} ({FIX})", python.display());
    Ok(python)
}
