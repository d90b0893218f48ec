//! `uses: email` against a real SMTP server (aiosmtpd through `weft_testkit::SmtpServer`):
//! what arrives (headers, both bodies, every attachment byte for byte), STARTTLS, implicit TLS,
//! AUTH, refused recipients (550 and 451), answers to the message data, a server that is down
//! or silent, and attachment references that point nowhere.

use std::time::Duration;

use base64::Engine as _;
use mail_parser::{MessageParser, MimeHeaders as _};
use serde_json::{Value, json};
use uuid::Uuid;
use weft_exec_email::{EmailAgent, EmailOutput, EmailWith, ExecEmailConfig, StepKey};
use weft_executor::{
    Agent as _, Artifacts, Attempt, Context, ErrorCode, LogLimits, StepError, StopReason,
};
use weft_testkit::{SmtpOptions, SmtpServer, SmtpTls};

const PASSWORD: &str = "s3cret-Pa55";

fn agent_for(server: Option<&SmtpServer>) -> EmailAgent {
    let config = ExecEmailConfig {
        tls_ca_file: server.map(|s| s.ca_pem()).unwrap_or_default(),
        connect_timeout_ms: 5_000,
        command_timeout_ms: 10_000,
        ..ExecEmailConfig::default()
    };
    EmailAgent::new(config).expect("agent")
}

fn step() -> StepKey {
    StepKey {
        execution_id: Uuid::new_v4(),
        step_id: "notify".into(),
    }
}

/// A `with` for `server` with the given `tls` mode, `extra` fields merged in.
fn with(server: &SmtpServer, tls: &str, extra: Value) -> EmailWith {
    let mut base = json!({
        "smtp": {"host": server.host, "port": server.port, "tls": tls},
        "from": "Weft Robot <robot@example.com>",
        "to": "a@example.com",
        "subject": "hello",
        "text": "hi",
    });
    for (k, v) in extra.as_object().expect("object") {
        base[k] = v.clone();
    }
    serde_json::from_value(base).expect("with parses")
}

/// The context of a new attempt of `step`.
fn context(step: &StepKey, artifacts: &Artifacts) -> Context {
    let attempt = Attempt {
        attempt_id: Uuid::now_v7(),
        execution_id: step.execution_id,
        workflow: "mailer".into(),
        step_id: step.step_id.clone(),
        attempt: 1,
        traceparent: None,
    };
    Context::new(attempt, None, artifacts.clone(), LogLimits::default())
}

/// Runs one attempt through `Agent::execute`; returns its result and log lines.
async fn send(
    agent: &EmailAgent,
    with: &EmailWith,
    step: &StepKey,
    artifacts: &Artifacts,
) -> (Result<EmailOutput, StepError>, Vec<String>) {
    let cx = context(step, artifacts);
    let result = agent.execute(with.clone(), cx.clone()).await;
    let (lines, _) = cx.take_log();
    (result, lines.into_iter().map(|l| l.line).collect())
}

fn none() -> Artifacts {
    Artifacts::in_memory()
}

async fn server(options: SmtpOptions) -> SmtpServer {
    SmtpServer::start(options)
        .await
        .expect("SMTP server starts")
}

fn lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

#[tokio::test]
async fn starttls_auth_and_everything_arrives_byte_for_byte() {
    let server = server(SmtpOptions {
        tls: SmtpTls::Starttls,
        auth: Some(("alice".into(), PASSWORD.into())),
        ..SmtpOptions::default()
    })
    .await;
    let agent = agent_for(Some(&server));
    let store = Artifacts::in_memory();
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let pdf = store
        .put(binary.clone(), "Rechnung März.pdf", "application/pdf")
        .await
        .expect("put");
    // A line that starts with a dot (SMTP dot-stuffing) and CRLF line ends.
    let csv = b"id,name\r\n.1,dot line\r\n2,\xc3\xa9t\xc3\xa9\r\n".to_vec();
    let html = "<p>Hello <b>team</b> &amp; friends</p>\n.\n<p>end</p>";
    let text = "Hello team,\nsee the invoice.\n.\nBye — Weft";
    let w = with(
        &server,
        "starttls",
        json!({
            "smtp": {"host": server.host, "port": server.port, "tls": "starttls",
                     "username": "alice", "password": PASSWORD},
            "to": ["a@example.com", "Bea Ü <b@example.com>"],
            "cc": "c@example.com",
            "bcc": ["hidden-bcc@example.org"],
            "reply_to": "Help Desk <help@example.com>",
            "subject": "Grüße – invoice 42",
            "text": text,
            "html": html,
            "headers": {"X-Campaign": "spring", "In-Reply-To": "<orig@mail.example.com>"},
            "attachments": [
                serde_json::to_value(&pdf).expect("ref"),
                {"name": "data.csv", "content_type": "text/csv",
                 "content_base64": base64::engine::general_purpose::STANDARD.encode(&csv)},
            ],
        }),
    );
    let key = step();
    let (result, log) = send(&agent, &w, &key, &store).await;
    let out =
        result.unwrap_or_else(|e| panic!("sent: {e:?}\nlog: {log:#?}\nserver: {}", server.log()));

    assert_eq!(
        out.accepted,
        [
            "a@example.com",
            "b@example.com",
            "c@example.com",
            "hidden-bcc@example.org"
        ]
    );
    assert!(out.rejected.is_empty());
    assert!(out.response.starts_with("250 "), "{}", out.response);

    let mails = server.messages().expect("messages");
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.tls, "the session was encrypted");
    assert_eq!(mail.auth_user.as_deref(), Some("alice"));
    assert_eq!(mail.mail_from, "robot@example.com");
    assert_eq!(mail.rcpt_tos, out.accepted);
    let raw = String::from_utf8_lossy(&mail.raw);
    if let Some(at) = raw.find("hidden-bcc") {
        panic!(
            "Bcc must not show: …{}…",
            &raw[at.saturating_sub(300)..(at + 100).min(raw.len())]
        );
    }
    assert!(!raw.to_ascii_lowercase().contains("\nbcc:"), "{raw}");

    let msg = MessageParser::default().parse(&mail.raw).expect("parses");
    let from = msg.from().and_then(|a| a.first()).expect("from");
    assert_eq!(from.address(), Some("robot@example.com"));
    assert_eq!(from.name(), Some("Weft Robot"));
    let to: Vec<_> = msg
        .to()
        .expect("to")
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["a@example.com", "b@example.com"]);
    let bea = msg
        .to()
        .and_then(|a| a.iter().nth(1))
        .and_then(|a| a.name());
    assert_eq!(bea, Some("Bea Ü"));
    let cc: Vec<_> = msg
        .cc()
        .expect("cc")
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(cc, ["c@example.com"]);
    assert!(msg.bcc().is_none());
    let reply_to = msg.reply_to().and_then(|a| a.first()).expect("reply-to");
    assert_eq!(reply_to.address(), Some("help@example.com"));
    assert_eq!(msg.subject(), Some("Grüße – invoice 42"));
    assert_eq!(
        format!("<{}>", msg.message_id().expect("message id")),
        out.message_id
    );
    assert!(
        out.message_id.ends_with("@example.com>"),
        "{}",
        out.message_id
    );
    assert_eq!(
        msg.header("X-Campaign").and_then(|h| h.as_text()),
        Some("spring")
    );
    assert!(
        raw.contains("In-Reply-To: <orig@mail.example.com>"),
        "{raw}"
    );
    assert_eq!(lf(&msg.body_text(0).expect("text")), text);
    assert_eq!(lf(&msg.body_html(0).expect("html")), html);

    let files: Vec<_> = msg.attachments().collect();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].attachment_name(), Some("Rechnung März.pdf"));
    let ct = files[0].content_type().expect("content type");
    assert_eq!((ct.ctype(), ct.subtype()), ("application", Some("pdf")));
    assert!(files[0].contents() == binary.as_slice(), "pdf bytes differ");
    assert_eq!(files[1].attachment_name(), Some("data.csv"));
    assert!(files[1].contents() == csv.as_slice(), "csv bytes differ");

    let transcript = log.join("\n");
    assert!(
        transcript.contains(&format!(
            "connected to {}:{} (starttls)",
            server.host, server.port
        )),
        "{transcript}"
    );
    assert!(
        transcript.contains("STARTTLS: connection encrypted"),
        "{transcript}"
    );
    assert!(transcript.contains("AUTH "), "{transcript}");
    assert!(
        transcript.contains("250 accepted for hidden-bcc@example.org"),
        "{transcript}"
    );
    assert!(
        !transcript.contains(PASSWORD),
        "the password leaked: {transcript}"
    );

    // Another attempt of the same step (a retry after a lost result) carries the same
    // Message-ID; another step or execution does not.
    let (again, _) = send(&agent, &w, &key, &store).await;
    assert_eq!(again.expect("second attempt").message_id, out.message_id);
    let (other, _) = send(&agent, &w, &step(), &store).await;
    assert_ne!(other.expect("other execution").message_id, out.message_id);
    let ids: Vec<String> = server
        .messages()
        .expect("messages")
        .iter()
        .map(|m| {
            let m = MessageParser::default().parse(&m.raw).expect("parses");
            m.message_id().expect("id").to_string()
        })
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

#[tokio::test]
async fn implicit_tls_without_auth() {
    let server = server(SmtpOptions {
        tls: SmtpTls::Implicit,
        ..SmtpOptions::default()
    })
    .await;
    let agent = agent_for(Some(&server));
    let w = with(
        &server,
        "tls",
        json!({"html": "<p>only html</p>", "text": null}),
    );
    let (result, log) = send(&agent, &w, &step(), &none()).await;
    let out = result.unwrap_or_else(|e| panic!("sent: {e:?}\nlog: {log:#?}"));
    assert_eq!(out.accepted, ["a@example.com"]);
    let mails = server.messages().expect("messages");
    assert!(mails[0].tls);
    let msg = MessageParser::default()
        .parse(&mails[0].raw)
        .expect("parses");
    // A single-part body's last line ends with CRLF on the wire, and the parser keeps it.
    assert_eq!(
        msg.body_html(0)
            .as_deref()
            .map(|b| b.trim_end_matches("\r\n")),
        Some("<p>only html</p>")
    );
    assert!(log.join("\n").contains("(tls)"), "{log:?}");
}

#[tokio::test]
async fn a_wrong_password_is_a_permanent_smtp_error() {
    let server = server(SmtpOptions {
        tls: SmtpTls::Starttls,
        auth: Some(("alice".into(), PASSWORD.into())),
        ..SmtpOptions::default()
    })
    .await;
    let agent = agent_for(Some(&server));
    let w = with(
        &server,
        "starttls",
        json!({"smtp": {"host": server.host, "port": server.port,
                        "username": "alice", "password": "wrong-password"}}),
    );
    let (result, log) = send(&agent, &w, &step(), &none()).await;
    let err = result.expect_err("refused");
    assert_eq!(err.code, ErrorCode::Smtp, "{err:?}");
    assert!(!err.retryable, "{err:?}");
    assert!(err.message.contains("535"), "{err:?}");
    assert!(!format!("{err:?}{log:?}").contains("wrong-password"));
    assert!(server.messages().expect("messages").is_empty());

    // Without a login the server refuses MAIL (530): permanent too.
    let w = with(&server, "starttls", json!({}));
    let (result, _) = send(&agent, &w, &step(), &none()).await;
    let err = result.expect_err("auth required");
    assert_eq!(
        (err.code.clone(), err.retryable),
        (ErrorCode::Smtp, false),
        "{err:?}"
    );
}

#[tokio::test]
async fn some_refused_recipients_are_reported_and_the_rest_get_the_message() {
    let server = server(SmtpOptions {
        reject: vec!["gone@example.com".into()],
        tempfail: vec!["later@example.com".into()],
        ..SmtpOptions::default()
    })
    .await;
    let agent = agent_for(None);
    let w = with(
        &server,
        "none",
        json!({"to": ["ok@example.com", "gone@example.com"], "cc": "later@example.com"}),
    );
    let (result, log) = send(&agent, &w, &step(), &none()).await;
    let out = result.unwrap_or_else(|e| panic!("partly sent: {e:?}\nlog: {log:#?}"));
    assert_eq!(out.accepted, ["ok@example.com"]);
    assert_eq!(out.rejected.len(), 2);
    assert_eq!(out.rejected[0].address, "gone@example.com");
    assert_eq!(out.rejected[0].code, 550);
    assert!(!out.rejected[0].retryable);
    assert!(
        out.rejected[0].message.contains("User unknown"),
        "{:?}",
        out.rejected
    );
    assert_eq!(out.rejected[1].address, "later@example.com");
    assert_eq!(out.rejected[1].code, 451);
    assert!(out.rejected[1].retryable);
    let mails = server.messages().expect("messages");
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_tos, ["ok@example.com"]);
    let transcript = log.join("\n");
    assert!(
        transcript.contains("550 refused for gone@example.com"),
        "{transcript}"
    );
    assert!(
        transcript.contains("250 accepted for ok@example.com"),
        "{transcript}"
    );

    // require_all_recipients: nothing is sent; a 5xx among the refusals makes it permanent,
    // only temporary refusals make it retryable.
    for (other, retryable) in [("gone@example.com", false), ("later@example.com", true)] {
        let strict = with(
            &server,
            "none",
            json!({"to": ["ok@example.com", other], "require_all_recipients": true}),
        );
        let (result, _) = send(&agent, &strict, &step(), &none()).await;
        let err = result.expect_err("strict");
        assert_eq!(
            (err.code.clone(), err.retryable),
            (ErrorCode::Smtp, retryable),
            "{other}: {err:?}"
        );
        let code = if retryable { 451 } else { 550 };
        assert_eq!(
            err.details.as_ref().expect("details")["rejected"][0]["code"],
            code
        );
    }
    assert_eq!(
        server.messages().expect("messages").len(),
        1,
        "nothing more was sent"
    );
}

#[tokio::test]
async fn every_recipient_refused_fails_5xx_permanent_4xx_retryable() {
    let server = server(SmtpOptions {
        reject: vec!["gone@example.com".into()],
        tempfail: vec!["later@example.com".into()],
        ..SmtpOptions::default()
    })
    .await;
    let agent = agent_for(None);
    let w = with(&server, "none", json!({"to": "gone@example.com"}));
    let (result, _) = send(&agent, &w, &step(), &none()).await;
    let err = result.expect_err("all refused");
    assert_eq!(
        (err.code.clone(), err.retryable),
        (ErrorCode::Smtp, false),
        "{err:?}"
    );
    assert!(err.message.contains("gone@example.com (550"), "{err:?}");

    let w = with(&server, "none", json!({"to": "later@example.com"}));
    let (result, _) = send(&agent, &w, &step(), &none()).await;
    let err = result.expect_err("all refused for now");
    assert_eq!(
        (err.code.clone(), err.retryable),
        (ErrorCode::Smtp, true),
        "{err:?}"
    );
    assert!(server.messages().expect("messages").is_empty());
}

#[tokio::test]
async fn an_answer_to_the_data_5xx_is_permanent_4xx_retryable() {
    for (reply, retryable) in [
        ("554 5.6.0 Message rejected as spam", false),
        ("452 4.3.1 Insufficient system storage", true),
    ] {
        let server = server(SmtpOptions {
            data_reply: Some(reply.into()),
            ..SmtpOptions::default()
        })
        .await;
        let (result, _) = send(
            &agent_for(None),
            &with(&server, "none", json!({})),
            &step(),
            &none(),
        )
        .await;
        let err = result.expect_err("refused data");
        assert_eq!(
            (err.code.clone(), err.retryable),
            (ErrorCode::Smtp, retryable),
            "{err:?}"
        );
        let code: u16 = reply[..3].parse().expect("code");
        assert_eq!(err.details.as_ref().expect("details")["code"], code);
        assert!(err.message.contains(&reply[4..]), "{err:?}");
    }
}

#[tokio::test]
async fn a_server_that_is_down_is_a_retryable_connect_error() {
    let port = weft_testkit::free_port();
    let w: EmailWith = serde_json::from_value(json!({
        "smtp": {"host": "127.0.0.1", "port": port, "tls": "none"},
        "from": "robot@example.com", "to": "a@example.com",
    }))
    .expect("with");
    let (result, _) = send(&agent_for(None), &w, &step(), &none()).await;
    let err = result.expect_err("down");
    assert_eq!(
        (err.code.clone(), err.retryable),
        (ErrorCode::Connect, true),
        "{err:?}"
    );
    assert!(
        err.message.contains(&format!("127.0.0.1:{port}")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_silent_server_is_a_retryable_timeout() {
    let (port, silent) = silent_server().await;
    let agent = EmailAgent::new(ExecEmailConfig {
        connect_timeout_ms: 300,
        command_timeout_ms: 300,
        ..ExecEmailConfig::default()
    })
    .expect("agent");
    let w: EmailWith = serde_json::from_value(json!({
        "smtp": {"host": "127.0.0.1", "port": port, "tls": "none"},
        "from": "robot@example.com", "to": "a@example.com",
    }))
    .expect("with");
    let started = std::time::Instant::now();
    let (result, _) = send(&agent, &w, &step(), &none()).await;
    let err = result.expect_err("silent");
    assert_eq!(
        (err.code.clone(), err.retryable),
        (ErrorCode::Timeout, true),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    silent.abort();
}

#[tokio::test]
async fn starttls_is_required_when_asked_for_and_the_certificate_must_be_trusted() {
    let plain = server(SmtpOptions::default()).await;
    let (result, _) = send(
        &agent_for(None),
        &with(&plain, "starttls", json!({})),
        &step(),
        &none(),
    )
    .await;
    let err = result.expect_err("no STARTTLS offered");
    assert_eq!(
        (err.code.clone(), err.retryable),
        (ErrorCode::Smtp, false),
        "{err:?}"
    );
    assert!(err.message.contains("STARTTLS"), "{err:?}");
    assert!(
        plain.messages().expect("messages").is_empty(),
        "never falls back to plain text"
    );

    let tls = server(SmtpOptions {
        tls: SmtpTls::Starttls,
        ..SmtpOptions::default()
    })
    .await;
    // This agent does not trust the test CA.
    let (result, _) = send(
        &agent_for(None),
        &with(&tls, "starttls", json!({})),
        &step(),
        &none(),
    )
    .await;
    let err = result.expect_err("untrusted");
    assert_eq!(
        (err.code.clone(), err.retryable),
        (ErrorCode::Connect, false),
        "{err:?}"
    );
    assert!(tls.messages().expect("messages").is_empty());
}

#[tokio::test]
async fn an_attachment_reference_to_nothing_fails_permanently_naming_it() {
    let server = server(SmtpOptions::default()).await;
    let store = Artifacts::in_memory();
    let mut missing = store
        .put(b"x".to_vec(), "contract.pdf", "application/pdf")
        .await
        .expect("put");
    missing.id = "0195-missing-artifact".into();
    let w = with(
        &server,
        "none",
        json!({"attachments": [serde_json::to_value(&missing).expect("ref")]}),
    );
    let (result, log) = send(&agent_for(None), &w, &step(), &store).await;
    let err = result.expect_err("missing");
    assert_eq!(
        (err.code.clone(), err.retryable),
        (ErrorCode::ArtifactNotFound, false),
        "{err:?}"
    );
    assert!(err.message.contains("0195-missing-artifact"), "{err:?}");
    assert!(err.message.contains("contract.pdf"), "{err:?}");
    assert!(log.is_empty(), "nothing was sent: {log:?}");
    assert!(server.messages().expect("messages").is_empty());
}

/// A server that accepts connections and never answers; returns its port.
async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_cancel_or_the_deadline_stops_a_hanging_attempt_at_once() {
    let (port, silent) = silent_server().await;
    let w: EmailWith = serde_json::from_value(json!({
        "smtp": {"host": "127.0.0.1", "port": port, "tls": "none"},
        "from": "robot@example.com", "to": "a@example.com",
    }))
    .expect("with");
    let agent = agent_for(None);
    for (reason, code, retryable) in [
        (StopReason::Cancelled, ErrorCode::Cancelled, false),
        (StopReason::Deadline, ErrorCode::Timeout, true),
    ] {
        let cx = context(&step(), &none());
        let stopper = cx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stopper.stop(reason);
        });
        let started = std::time::Instant::now();
        let err = agent.execute(w.clone(), cx).await.expect_err("stopped");
        assert_eq!(
            (err.code.clone(), err.retryable),
            (code, retryable),
            "{err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    silent.abort();
}
