//! Opening an IMAP session: TCP, then TLS per `tls:` (implicit TLS, STARTTLS or none), the
//! greeting, LOGIN and the capabilities. Every network step has a deadline ([`IO_TIMEOUT`]) so
//! a dead server shows up as an error, never as a hang.
//!
//! Consumes an [`EmailTrigger`]; produces a logged-in [`Session`] and its [`Capabilities`].
//! TLS uses rustls with the ring provider and the Mozilla roots from `webpki-roots`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use weft_flow::triggers::{EmailTrigger, ImapTls};

use crate::error::ImapError;

/// Deadline for one command or network step.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A logged-in session over plain TCP or TLS.
pub type Session = async_imap::Session<ImapStream>;

/// The transport: plain TCP or TLS over TCP.
#[derive(Debug)]
pub enum ImapStream {
    /// `tls: false`.
    Plain(TcpStream),
    /// `tls: true` or `starttls`.
    Tls(Box<TlsStream<TcpStream>>),
}

/// What the server supports, read after login.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// RFC 2177 IDLE.
    pub idle: bool,
    /// RFC 6851 MOVE.
    pub moves: bool,
    /// RFC 4315 UIDPLUS (UID EXPUNGE).
    pub uidplus: bool,
}

/// Run `fut` with the [`IO_TIMEOUT`] deadline; `command` names it in errors.
pub async fn within<T>(
    command: &str,
    fut: impl Future<Output = async_imap::error::Result<T>>,
) -> Result<T, ImapError> {
    within_for(command, IO_TIMEOUT, fut).await
}

/// [`within`] with an explicit deadline.
pub async fn within_for<T>(
    command: &str,
    timeout: Duration,
    fut: impl Future<Output = async_imap::error::Result<T>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result.map_err(|e| ImapError::command(command, e)),
        Err(_) => Err(ImapError::Timeout {
            command: command.to_string(),
            timeout,
        }),
    }
}

/// Connect, secure, log in and read the capabilities.
pub async fn open(config: &EmailTrigger) -> Result<(Session, Capabilities), ImapError> {
    let addr = format!("{}:{}", config.host, config.port());
    let tcp = tokio::time::timeout(
        IO_TIMEOUT,
        TcpStream::connect((config.host.as_str(), config.port())),
    )
    .await
    .map_err(|_| ImapError::Connect {
        addr: addr.clone(),
        source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
    })?
    .map_err(|source| ImapError::Connect {
        addr: addr.clone(),
        source,
    })?;
    let stream = match config.tls {
        ImapTls::Plain => ImapStream::Plain(tcp),
        ImapTls::Implicit => tls(&config.host, tcp).await?,
        ImapTls::StartTls => {
            let tcp = starttls(tcp).await?;
            tls(&config.host, tcp).await?
        }
    };
    let mut client = async_imap::Client::new(stream);
    greeting(&mut client).await?;
    let login = tokio::time::timeout(IO_TIMEOUT, client.login(&config.username, &config.password));
    let mut session = match login.await {
        Ok(Ok(session)) => session,
        Ok(Err((e, _))) => {
            return Err(ImapError::Login {
                user: config.username.clone(),
                addr,
                message: e.to_string(),
            });
        }
        Err(_) => {
            return Err(ImapError::Timeout {
                command: "LOGIN".into(),
                timeout: IO_TIMEOUT,
            });
        }
    };
    let caps = within("CAPABILITY", session.capabilities()).await?;
    let caps = Capabilities {
        idle: caps.has_str("IDLE"),
        moves: caps.has_str("MOVE"),
        uidplus: caps.has_str("UIDPLUS"),
    };
    Ok((session, caps))
}

async fn greeting<T>(client: &mut async_imap::Client<T>) -> Result<(), ImapError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    match tokio::time::timeout(IO_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(ImapError::Protocol(
            "the server closed the connection before its greeting".into(),
        )),
        Ok(Err(e)) => Err(ImapError::command("greeting", e.into())),
        Err(_) => Err(ImapError::Timeout {
            command: "greeting".into(),
            timeout: IO_TIMEOUT,
        }),
    }
}

/// Plain greeting, `STARTTLS`, then hand back the TCP stream for the handshake.
async fn starttls(tcp: TcpStream) -> Result<TcpStream, ImapError> {
    let mut client = async_imap::Client::new(tcp);
    greeting(&mut client).await?;
    within(
        "STARTTLS",
        client.run_command_and_check_ok("STARTTLS", None),
    )
    .await?;
    Ok(client.into_inner())
}

async fn tls(host: &str, tcp: TcpStream) -> Result<ImapStream, ImapError> {
    let fail = |message: String| ImapError::Tls {
        host: host.to_string(),
        message,
    };
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| fail(format!("invalid server name: {e}")))?;
    let handshake = TlsConnector::from(Arc::new(config)).connect(name, tcp);
    let stream = tokio::time::timeout(IO_TIMEOUT, handshake)
        .await
        .map_err(|_| fail(format!("no handshake within {IO_TIMEOUT:?}")))?
        .map_err(|e| fail(e.to_string()))?;
    Ok(ImapStream::Tls(Box::new(stream)))
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
