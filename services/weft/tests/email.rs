//! End to end: a mail arrives in a real Dovecot → the imap trigger (in-process, as `weft dev`
//! hosts it) publishes an event with its attachments as artifact references (the JetStream
//! object store `weft_artifacts`) → the router starts the workflow → its HTTP step posts the
//! mail's subject, sender and attachment to a real HTTP server; the mail is then marked seen.
//! And: a `uses: email` step forwards such a mail, attachments and all, to a real SMTP server
//! (aiosmtpd), where every attachment arrives byte for byte.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::Env;
use mail_parser::{MessageParser, MimeHeaders as _};
use serde_json::Value;
use weft_executor::ArtifactRef;
use weft_testkit::{Dovecot, SmtpOptions, SmtpServer};

const MAIL: &str = "From: Ada <ada@example.com>\r\nTo: intake@example.com\r\nSubject: Invoice 42\r\n\
Message-ID: <inv-42@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nTotal: 42 EUR\r\n\
--B\r\nContent-Type: text/plain; name=\"lines.txt\"\r\nContent-Disposition: attachment; filename=\"lines.txt\"\r\n\r\n\
one\r\ntwo\r\n--B--\r\n";

#[tokio::test]
async fn a_new_mail_runs_its_workflow_once() {
    let env = Env::start().await;
    let dovecot = Dovecot::start().await.expect("dovecot");
    env.apply(&format!(
        r#"
name: intake
on:
  email:
    host: 127.0.0.1
    port: {port}
    tls: false
    username: {user}
    password: {password}
    after: seen
steps:
  record:
    uses: http
    with:
      method: POST
      url: "{{upstream}}/echo/mail"
      json:
        subject: ${{{{ event.data.subject }}}}
        from: ${{{{ event.data.from.address }}}}
        attachment: ${{{{ event.data.attachments[0] }}}}
"#,
        port = dovecot.port,
        user = dovecot.username,
        password = dovecot.password,
    ))
    .await;

    // The trigger starts within moments of the apply; mail before that is not replayed
    // (since: now), so wait until it has saved its first cursor.
    wait_for_cursor(&env, "intake").await;
    dovecot
        .append("INBOX", MAIL.as_bytes())
        .await
        .expect("append");

    let event_id = email_event_id(&env).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let seen = env.upstream.seen("/echo/mail");
    assert_eq!(seen.len(), 1, "one execution, one request");
    let body = &seen[0].body;
    assert_eq!(body["subject"], "Invoice 42");
    assert_eq!(body["from"], "ada@example.com");
    // The attachment is an artifact reference, nothing more, in the store executors read.
    let attachment: ArtifactRef =
        serde_json::from_value(body["attachment"].clone()).expect("an ArtifactRef");
    assert_eq!(attachment.name, "lines.txt");
    assert_eq!(attachment.content_type, "text/plain");
    assert_eq!(attachment.size, 8);
    let store = env.artifacts().await;
    assert_eq!(
        store.get(&attachment).await.expect("stored").as_ref(),
        b"one\r\ntwo"
    );

    let mut check = dovecot.session().await.expect("session");
    check.select("INBOX").await.expect("select");
    assert!(
        check.uid_search("UNSEEN").await.expect("search").is_empty(),
        "marked seen"
    );
    assert_eq!(env.executions_for(&event_id).await.len(), 1);
}

/// A mail with a binary attachment (every byte value, so no encoding step can hide a change)
/// and a text one.
fn mail_with_attachments(binary: &[u8], csv: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "From: Ada <ada@example.com>\r\nTo: intake@example.com\r\nSubject: Invoice 43\r\n\
Message-ID: <inv-43@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nTotal: 43 EUR\r\n\
--B\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n\
--B\r\nContent-Type: text/csv; name=\"lines.csv\"\r\nContent-Disposition: attachment; filename=\"lines.csv\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--B--\r\n",
        b64.encode(binary),
        b64.encode(csv),
    )
}

#[tokio::test]
async fn a_mail_is_forwarded_with_its_attachments_through_the_artifact_store() {
    let env = Env::start().await;
    let dovecot = Dovecot::start().await.expect("dovecot");
    let smtp = SmtpServer::start(SmtpOptions::default())
        .await
        .expect("smtp server");
    env.apply(&format!(
        r#"
name: forward
on:
  email:
    host: 127.0.0.1
    port: {port}
    tls: false
    username: {user}
    password: {password}
    after: seen
steps:
  forward:
    uses: email
    with:
      smtp:
        host: 127.0.0.1
        port: {smtp_port}
        tls: none
      from: Weft <weft@example.com>
      to: archive@example.com
      subject: "Fwd: ${{{{ event.data.subject }}}}"
      text: ${{{{ event.data.text }}}}
      attachments: ${{{{ event.data.attachments }}}}
"#,
        port = dovecot.port,
        user = dovecot.username,
        password = dovecot.password,
        smtp_port = smtp.port,
    ))
    .await;
    wait_for_cursor(&env, "forward").await;

    let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let csv = b"id,total\n43,250\n";
    dovecot
        .append("INBOX", mail_with_attachments(&binary, csv).as_bytes())
        .await
        .expect("append");

    let event_id = email_event_id(&env).await;
    let done = env.finished(&event_id).await;
    assert_eq!(
        done["status"],
        "succeeded",
        "{done}\nsmtp log:\n{}",
        smtp.log()
    );

    let received = smtp.messages().expect("messages");
    assert_eq!(received.len(), 1, "one mail forwarded once");
    assert_eq!(received[0].rcpt_tos, ["archive@example.com"]);
    let mail = MessageParser::default()
        .parse(&received[0].raw)
        .expect("the forwarded mail parses");
    assert_eq!(mail.subject(), Some("Fwd: Invoice 43"));
    assert_eq!(
        mail.body_text(0).as_deref().map(str::trim),
        Some("Total: 43 EUR")
    );
    let got: Vec<_> = mail
        .attachments()
        .map(|a| {
            let ct = a.content_type().expect("content type");
            (
                a.attachment_name().map(str::to_string),
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()),
                a.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Some("invoice.pdf".to_string()),
                "application/pdf".to_string(),
                binary
            ),
            (
                Some("lines.csv".to_string()),
                "text/csv".to_string(),
                csv.to_vec()
            ),
        ],
        "every attachment byte for byte"
    );

    let mut check = dovecot.session().await.expect("session");
    check.select("INBOX").await.expect("select");
    assert!(
        check.uid_search("UNSEEN").await.expect("search").is_empty(),
        "marked seen"
    );
}

async fn wait_for_cursor(env: &Env, workflow: &str) {
    let bus = weft_bus::Bus::connect(&env.nats.url, "email-test")
        .await
        .expect("bus");
    let kv = bus
        .kv(weft_events::subjects::TRIGGERS_BUCKET)
        .await
        .expect("kv");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let health: Option<Value> = kv
            .get(format!("{workflow}.email.0"))
            .await
            .expect("read")
            .and_then(|b| serde_json::from_slice(&b).ok());
        if health.as_ref().is_some_and(|h| !h["cursor"].is_null()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "trigger never watching: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn email_event_id(env: &Env) -> String {
    let client = async_nats::connect(&env.nats.url).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let subject = weft_events::subjects::EVENTS_EMAIL;
    let messages =
        weft_testkit::stored_messages(&js, "WEFT_EVENTS", subject, 1, Duration::from_secs(20))
            .await
            .expect("events");
    assert_eq!(messages.len(), 1, "one mail, one event");
    let event: Value = serde_json::from_slice(&messages[0].payload).expect("json");
    event["id"].as_str().expect("id").to_string()
}
