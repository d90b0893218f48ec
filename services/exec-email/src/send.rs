//! One SMTP session per attempt, command by command, so every recipient's answer is seen.
//!
//! lettre's `AsyncSmtpTransport::send` (and `AsyncSmtpConnection::send`) abort the whole
//! message at the first refused `RCPT TO`, so this module drives lettre's lower-level
//! [`AsyncSmtpConnection`] itself: connect (implicit TLS when `tls: tls`), greeting and `EHLO`,
//! `STARTTLS` and `EHLO` again (`tls: starttls`: required, never skipped), `AUTH` (PLAIN or
//! LOGIN), `MAIL FROM`, one `RCPT TO` per recipient (each answer kept), `DATA` and the message,
//! `QUIT`.
//!
//! Recipients: accepted ones get the message; refused ones are reported in
//! [`EmailOutput::rejected`] with the server's answer. The attempt fails (before `DATA`, so
//! nothing is sent) when every recipient is refused — retryable when at least one refusal was
//! temporary (4xx) — or, with `require_all_recipients`, when any is refused — retryable only
//! when every refusal was temporary. This is what n8n and most senders do: a mail that reached
//! some recipients is sent, and the step says who it did not reach.
//!
//! Errors: no connection / TLS handshake → `connect` (retryable, except a TLS setup that cannot
//! work such as an untrusted certificate); a server error answer → `smtp` with its code and
//! text (4xx retryable, 5xx not); no answer in time → `timeout` (retryable). A connection lost
//! after the message data was written is `connect`, retryable, and says that the server may
//! have the message (a retry carries the same Message-ID; see the crate docs).
//!
//! Consumes an [`Outgoing`] and the step's [`SmtpWith`]; produces an [`EmailOutput`] or an
//! [`StepError`], and transcript summaries through the `log` callback (never the password).
//! Touches the network: the named SMTP server only.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Quit, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;

use crate::config::{ConfigError, ExecEmailConfig};
use weft_executor::{ErrorCode, StepError};

use crate::bad_input;
use crate::failure::{connect_error, data_error, refused, server_text, smtp_error};
use crate::message::Outgoing;
use crate::with::{EmailOutput, RejectedRecipient, SmtpWith, TlsMode};

/// AUTH mechanisms offered to the server, in order of preference.
const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

/// How long `QUIT` may take; its answer changes nothing.
const QUIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends messages; one per [`SmtpClient::send`] call, each on its own connection.
#[derive(Clone)]
pub struct SmtpClient {
    hello: ClientId,
    roots: Vec<Certificate>,
    connect_timeout: Duration,
    command_timeout: Duration,
    data_timeout: Duration,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("hello", &self.hello.to_string())
            .field("roots", &self.roots.len())
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

impl SmtpClient {
    /// A client with the configuration's EHLO name, timeouts and extra TLS roots.
    pub fn new(config: &ExecEmailConfig) -> Result<Self, ConfigError> {
        let roots = match config.extra_roots()? {
            None => Vec::new(),
            Some(pem) => {
                vec![
                    Certificate::from_pem(&pem).map_err(|e| ConfigError::BadCertificate {
                        path: config.tls_ca_file.clone(),
                        reason: e.to_string(),
                    })?,
                ]
            }
        };
        let name = config.hello_name.as_str();
        let hello = match name {
            "" => ClientId::default(),
            name => match name.parse::<IpAddr>() {
                Ok(IpAddr::V4(ip)) => ClientId::Ipv4(ip),
                Ok(IpAddr::V6(ip)) => ClientId::Ipv6(ip),
                Err(_) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()) => {
                    ClientId::Domain(name.to_string())
                }
                Err(_) => {
                    return Err(ConfigError::Invalid(format!(
                        "hello_name {name:?} is neither a domain nor an IP address"
                    )));
                }
            },
        };
        Ok(Self {
            hello,
            roots,
            connect_timeout: config.connect_timeout(),
            command_timeout: config.command_timeout(),
            data_timeout: config.data_timeout(),
        })
    }

    /// Sends `outgoing` through `smtp`. `require_all` is the step's `require_all_recipients`.
    pub async fn send(
        &self,
        smtp: &SmtpWith,
        outgoing: &Outgoing,
        require_all: bool,
        log: &(impl Fn(String) + Sync),
    ) -> Result<EmailOutput, StepError> {
        let credentials = credentials(smtp)?;
        let mut conn = self.connect(smtp, log).await?;
        let result = self
            .transaction(&mut conn, credentials.as_ref(), outgoing, require_all, log)
            .await;
        // Best effort: the outcome is decided; a server that hangs up early changes nothing.
        let _ = tokio::time::timeout(QUIT_TIMEOUT, conn.command(Quit)).await;
        result
    }

    async fn connect(
        &self,
        smtp: &SmtpWith,
        log: &impl Fn(String),
    ) -> Result<AsyncSmtpConnection, StepError> {
        let port = smtp.port();
        let target = format!("{}:{port}", smtp.host);
        let tls = match smtp.tls {
            TlsMode::None => None,
            TlsMode::Starttls | TlsMode::Tls => Some(self.tls_parameters(&smtp.host)?),
        };
        let implicit = if smtp.tls == TlsMode::Tls {
            tls.clone()
        } else {
            None
        };
        let connecting = AsyncSmtpConnection::connect_tokio1(
            (smtp.host.as_str(), port),
            Some(self.connect_timeout),
            &self.hello,
            implicit,
            None,
        );
        let mut conn = timed(
            self.connect_timeout + self.command_timeout,
            "connect",
            async { connecting.await.map_err(|e| connect_error(&target, &e)) },
        )
        .await?;
        log(format!("connected to {target} ({})", smtp.tls));

        if let (TlsMode::Starttls, Some(tls)) = (smtp.tls, tls) {
            if !conn.server_info().supports_feature(Extension::StartTls) {
                return Err(StepError::permanent(
                    ErrorCode::Smtp,
                    format!(
                        "{target} does not offer STARTTLS (tls: starttls); use tls: tls for \
                         implicit TLS, or tls: none for a plain-text relay"
                    ),
                ));
            }
            timed(self.command_timeout, "STARTTLS", async {
                conn.starttls(tls, &self.hello)
                    .await
                    .map_err(|e| connect_error(&target, &e))
            })
            .await?;
            log("STARTTLS: connection encrypted".to_string());
        }
        Ok(conn)
    }

    async fn transaction(
        &self,
        conn: &mut AsyncSmtpConnection,
        credentials: Option<&Credentials>,
        outgoing: &Outgoing,
        require_all: bool,
        log: &impl Fn(String),
    ) -> Result<EmailOutput, StepError> {
        if let Some(credentials) = credentials {
            self.authenticate(conn, credentials, log).await?;
        }

        let mut params = Vec::new();
        let non_ascii = std::iter::once(&outgoing.sender)
            .chain(&outgoing.recipients)
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(bad_input(
                    "an address is not ASCII and the server does not support SMTPUTF8",
                ));
            }
            params.push(MailParameter::SmtpUtfEight);
        }
        if !outgoing.bytes.is_ascii() {
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let sender = outgoing.sender.clone();
        let answer = timed(self.command_timeout, "MAIL FROM", async {
            conn.command(Mail::new(Some(sender), params))
                .await
                .map_err(|e| smtp_error("MAIL FROM", &e))
        })
        .await?;
        log(format!(
            "MAIL FROM:<{}>: {}",
            outgoing.sender,
            one_line(&answer)
        ));

        let mut accepted = Vec::new();
        let mut rejected = Vec::new();
        for recipient in &outgoing.recipients {
            let command = Rcpt::new(recipient.clone(), Vec::new());
            let answer = timed(self.command_timeout, "RCPT TO", async {
                Ok(conn.command(command).await)
            })
            .await?;
            match answer {
                Ok(answer) => {
                    log(format!("{} accepted for {recipient}", code_of(&answer)));
                    accepted.push(recipient.to_string());
                }
                Err(e) => match e.status() {
                    Some(code) => {
                        let refusal = RejectedRecipient {
                            address: recipient.to_string(),
                            code: code.into(),
                            message: server_text(&e),
                            retryable: e.is_transient(),
                        };
                        log(format!(
                            "{} refused for {recipient}: {}",
                            refusal.code, refusal.message
                        ));
                        rejected.push(refusal);
                    }
                    None => return Err(smtp_error("RCPT TO", &e)),
                },
            }
        }
        if accepted.is_empty() || (require_all && !rejected.is_empty()) {
            return Err(refused(&rejected, accepted.is_empty()));
        }

        timed(self.command_timeout, "DATA", async {
            conn.command(Data).await.map_err(|e| smtp_error("DATA", &e))
        })
        .await?;
        // lettre ends the data with CRLF.CRLF itself; the CRLF that ends the message's last
        // line is that one (else the receiver sees an extra empty line).
        let data = outgoing
            .bytes
            .strip_suffix(b"\r\n")
            .unwrap_or(&outgoing.bytes);
        let answer = timed(self.data_timeout, "the message data", async {
            conn.message(data).await.map_err(|e| data_error(&e))
        })
        .await?;
        let response = one_line(&answer);
        log(format!(
            "message {} ({} bytes) accepted for {} of {} recipients: {response}",
            outgoing.message_id,
            outgoing.bytes.len(),
            accepted.len(),
            outgoing.recipients.len()
        ));
        Ok(EmailOutput {
            message_id: outgoing.message_id.clone(),
            accepted,
            rejected,
            response,
        })
    }

    async fn authenticate(
        &self,
        conn: &mut AsyncSmtpConnection,
        credentials: &Credentials,
        log: &impl Fn(String),
    ) -> Result<(), StepError> {
        let Some(mechanism) = conn.server_info().get_auth_mechanism(&MECHANISMS) else {
            return Err(StepError::permanent(
                ErrorCode::Smtp,
                "the server offers no AUTH PLAIN or LOGIN (on a plain connection many servers \
                 offer AUTH only after STARTTLS)",
            ));
        };
        let answer = timed(self.command_timeout, "AUTH", async {
            conn.auth(&[mechanism], credentials)
                .await
                .map_err(|e| smtp_error("AUTH", &e))
        })
        .await?;
        log(format!("AUTH {mechanism}: {}", one_line(&answer)));
        Ok(())
    }

    fn tls_parameters(&self, host: &str) -> Result<TlsParameters, StepError> {
        let mut builder = TlsParameters::builder(host.to_string());
        for root in &self.roots {
            builder = builder.add_root_certificate(root.clone());
        }
        builder.build_rustls().map_err(|e| {
            StepError::permanent(ErrorCode::Connect, format!("TLS setup for {host}: {e}"))
        })
    }
}

/// `username` and `password` come together or not at all.
fn credentials(smtp: &SmtpWith) -> Result<Option<Credentials>, StepError> {
    match (&smtp.username, &smtp.password) {
        (Some(user), Some(password)) => Ok(Some(Credentials::new(user.clone(), password.clone()))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(bad_input("smtp.username is set but smtp.password is not")),
        (None, Some(_)) => Err(bad_input("smtp.password is set but smtp.username is not")),
    }
}

/// Runs `step` with a time limit; running out is a retryable `timeout` naming the step.
async fn timed<T>(
    limit: Duration,
    step: &str,
    fut: impl Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
        Err(StepError::retryable(
            ErrorCode::Timeout,
            format!("no answer to {step} within {}", humanize(limit)),
        ))
    })
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `code text text…` of a positive answer.
fn one_line(answer: &Response) -> String {
    let text = answer.message().collect::<Vec<_>>().join(" ");
    format!("{} {text}", code_of(answer))
}

fn code_of(answer: &Response) -> u16 {
    answer.code().into()
}
