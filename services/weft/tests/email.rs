//! End to end: a mail arrives in a real Dovecot → the imap trigger (in-process, as `weft dev`
//! hosts it) publishes an event → the router starts the workflow → its HTTP step posts the mail's
//! subject, sender and attachment to a real HTTP server; the mail is then marked seen.

mod common;

use std::time::Duration;

use common::Env;
use serde_json::Value;
use weft_testkit::Dovecot;

const MAIL: &str = "From: Ada <ada@example.com>\r\nTo: intake@example.com\r\nSubject: Invoice 42\r\n\
Message-ID: <inv-42@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nTotal: 42 EUR\r\n\
--B\r\nContent-Type: text/plain; name=\"lines.txt\"\r\nContent-Disposition: attachment; filename=\"lines.txt\"\r\n\r\n\
one\r\ntwo\r\n--B--\r\n";

#[tokio::test]
async fn a_new_mail_runs_its_workflow_once() {
    let artifacts = tempfile::tempdir().expect("artifact dir");
    let dir = artifacts.path().to_string_lossy().into_owned();
    let env = Env::start_with(|c| c.artifacts_dir = dir).await;
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
    wait_for_cursor(&env).await;
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
    assert_eq!(body["attachment"]["filename"], "lines.txt");
    assert_eq!(body["attachment"]["size"], 8);
    let url = body["attachment"]["url"].as_str().expect("url");
    let stored = url.strip_prefix("file://").expect("a file url");
    assert!(
        stored.starts_with(artifacts.path().to_str().expect("utf8")),
        "{url}"
    );
    assert_eq!(std::fs::read(stored).expect("stored"), b"one\r\ntwo");

    let mut check = dovecot.session().await.expect("session");
    check.select("INBOX").await.expect("select");
    assert!(
        check.uid_search("UNSEEN").await.expect("search").is_empty(),
        "marked seen"
    );
    assert_eq!(env.executions_for(&event_id).await.len(), 1);
}

async fn wait_for_cursor(env: &Env) {
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
            .get("intake.email.0")
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
