//! The imap trigger service against a real Dovecot and a real NATS: delivery exactly once across
//! service restarts, `since`, `after`, attachments, Message-ID de-duplication, login errors in
//! the health entry, and reconnecting when the server comes back.

mod common;

use std::time::Duration;

use common::{Rig, mail};
use futures::TryStreamExt as _;
use weft_trigger::TriggerState;

const WAIT: Duration = Duration::from_secs(20);
/// How long to wait for an event that must NOT come.
const QUIET: Duration = Duration::from_secs(3);

#[tokio::test]
async fn mail_arrives_exactly_once_while_running_while_stopped_and_after_restart() {
    let mut rig = Rig::start().await;
    rig.dovecot
        .append("INBOX", &mail("old"))
        .await
        .expect("append");
    rig.apply("intake", "").await;
    rig.start_service();
    rig.wait_watching("intake").await;

    rig.dovecot
        .append("INBOX", &mail("while-running"))
        .await
        .expect("append");
    assert_eq!(
        rig.subjects(1, WAIT).await,
        ["while-running"],
        "since: now skips old mail"
    );

    rig.stop_service().await;
    rig.dovecot
        .append("INBOX", &mail("while-stopped"))
        .await
        .expect("append");
    rig.start_service();
    assert_eq!(
        rig.subjects(2, WAIT).await,
        ["while-running", "while-stopped"]
    );
    rig.dovecot
        .append("INBOX", &mail("after-restart"))
        .await
        .expect("append");
    let events = rig.events(3, WAIT).await;
    let late = rig.events(4, QUIET).await;
    assert_eq!(late.len(), 3, "nothing doubled: {late:#?}");
    let subjects: Vec<_> = events
        .iter()
        .map(|e| e["data"]["subject"].clone())
        .collect();
    assert_eq!(
        subjects,
        ["while-running", "while-stopped", "after-restart"]
    );
    let mut ids: Vec<_> = events
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "distinct event ids");
    let first = &events[0];
    assert_eq!(first["type"], "dev.weft.email.received");
    assert_eq!(first["source"], "weft/email/intake");
    assert_eq!(first["data"]["from"]["address"], "sender@example.com");
    assert_eq!(first["data"]["message_id"], "while-running@example.com");
    assert_eq!(
        first["data"]["text"].as_str().map(str::trim),
        Some("Hello from while-running")
    );
    let health = rig.health("intake").await.expect("health");
    assert_eq!(health.state, TriggerState::Running);
    assert!(health.last_event_at.is_some());
    assert_eq!(health.cursor.expect("cursor")["last_uid"], 4);
    rig.stop_service().await;
}

#[tokio::test]
async fn poll_mode_with_since_all_announces_old_mail_and_marks_it_seen() {
    let mut rig = Rig::start().await;
    rig.dovecot
        .append("INBOX", &mail("one"))
        .await
        .expect("append");
    rig.dovecot
        .append("INBOX", &mail("two"))
        .await
        .expect("append");
    rig.apply(
        "seen",
        "mode: poll\npoll_interval: 1s\nsince: all\nafter: seen",
    )
    .await;
    rig.start_service();
    assert_eq!(rig.subjects(2, WAIT).await, ["one", "two"]);
    rig.dovecot
        .append("INBOX", &mail("three"))
        .await
        .expect("append");
    assert_eq!(rig.subjects(3, WAIT).await, ["one", "two", "three"]);

    // A separate session sees \Seen on every message (set after each event was stored).
    let mut check = rig.dovecot.session().await.expect("session");
    check.select("INBOX").await.expect("select");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let unseen = check.uid_search("UNSEEN").await.expect("search");
        if unseen.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still unseen: {unseen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(check.uid_search("SEEN").await.expect("search").len(), 3);
    rig.stop_service().await;
}

#[tokio::test]
async fn after_move_files_the_message_and_a_moved_back_copy_is_not_announced_again() {
    let mut rig = Rig::start().await;
    rig.apply("mover", "after: move\nmove_to: Processed").await;
    rig.start_service();
    rig.wait_watching("mover").await;
    rig.dovecot
        .append("INBOX", &mail("to-file"))
        .await
        .expect("append");
    assert_eq!(rig.subjects(1, WAIT).await, ["to-file"]);

    let mut check = rig.dovecot.session().await.expect("session");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let inbox = check.select("INBOX").await.expect("select");
        if inbox.exists == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "INBOX still holds the mail"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let processed = check
        .select("Processed")
        .await
        .expect("Processed was created");
    assert_eq!(processed.exists, 1);
    let bodies: Vec<_> = check
        .fetch("1", "BODY.PEEK[]")
        .await
        .expect("fetch")
        .try_collect()
        .await
        .expect("collect");
    assert_eq!(bodies[0].body(), Some(&mail("to-file")[..]));

    // Someone moves it back: a new UID, the same Message-ID. It is moved again, not announced.
    check.uid_mv("1", "INBOX").await.expect("move back");
    rig.dovecot
        .append("INBOX", &mail("next"))
        .await
        .expect("append");
    assert_eq!(rig.subjects(2, WAIT).await, ["to-file", "next"]);
    assert_eq!(
        rig.events(3, QUIET).await.len(),
        2,
        "the moved-back mail was not announced again"
    );
    rig.stop_service().await;
}

#[tokio::test]
async fn attachments_go_to_the_artifact_store_with_their_digest() {
    let mut rig = Rig::start().await;
    rig.apply("attach", "").await;
    rig.start_service();
    rig.wait_watching("attach").await;
    let csv = b"id,total\n7,250\n";
    let raw = format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: report\r\nMessage-ID: <r1@example.com>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
--XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
--XX\r\nContent-Type: text/csv; name=\"orders.csv\"\r\nContent-Disposition: attachment; filename=\"orders.csv\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--XX--\r\n",
        base64_encode(csv)
    );
    rig.dovecot
        .append("INBOX", raw.as_bytes())
        .await
        .expect("append");
    let events = rig.events(1, WAIT).await;
    let attachments = events[0]["data"]["attachments"]
        .as_array()
        .expect("attachments");
    assert_eq!(attachments.len(), 1);
    // Exactly an artifact reference (no other field), as executors take it.
    let a: weft_executor::ArtifactRef =
        serde_json::from_value(attachments[0].clone()).expect("an ArtifactRef");
    assert_eq!(a.name, "orders.csv");
    assert_eq!(a.content_type, "text/csv");
    assert_eq!(a.size, csv.len() as u64);
    assert_eq!(a.id, a.sha256);
    // In the JetStream object store, as any executor reads it (the read checks the digest).
    assert_eq!(rig.artifacts.get(&a).await.expect("stored").as_ref(), csv);
    assert!(
        !events[0].to_string().contains("7,250"),
        "the attachment's bytes are not in the event"
    );
    rig.stop_service().await;
}

#[tokio::test]
async fn wrong_password_puts_the_trigger_in_error_with_the_reason() {
    let mut rig = Rig::start().await;
    let yaml = rig.workflow_yaml("badlogin", "").replace(
        &format!("password: {}", rig.dovecot.password),
        "password: not-the-password",
    );
    let workflow = weft_flow::parse(&yaml, weft_flow::Format::Yaml).expect("valid");
    let kv = rig
        .bus
        .kv(weft_events::subjects::WORKFLOWS_BUCKET)
        .await
        .expect("kv");
    let published = weft_flow::Published {
        version: 1,
        workflow,
    };
    kv.put(
        "badlogin",
        serde_json::to_vec(&published).expect("json").into(),
    )
    .await
    .expect("put");
    rig.start_service();
    let health = rig
        .wait_health("badlogin", WAIT, |h| h.state == TriggerState::Error)
        .await;
    let error = health.last_error.expect("an error message");
    assert!(
        error.contains("login as alice") && error.contains("refused"),
        "{error}"
    );
    rig.stop_service().await;
}

#[tokio::test]
async fn reconnects_when_dovecot_comes_back_and_delivers_what_arrived_meanwhile() {
    let mut rig = Rig::start().await;
    rig.apply("comeback", "poll_interval: 2s").await;
    rig.start_service();
    rig.wait_watching("comeback").await;
    rig.dovecot
        .append("INBOX", &mail("before"))
        .await
        .expect("append");
    assert_eq!(rig.subjects(1, WAIT).await, ["before"]);

    rig.dovecot.stop();
    let down = rig
        .wait_health("comeback", WAIT, |h| h.state == TriggerState::Error)
        .await;
    assert!(down.last_error.is_some(), "{down:?}");

    rig.dovecot.start_again().await.expect("dovecot back");
    rig.dovecot
        .append("INBOX", &mail("meanwhile"))
        .await
        .expect("append");
    assert_eq!(
        rig.subjects(2, Duration::from_secs(40)).await,
        ["before", "meanwhile"]
    );
    let back = rig
        .wait_health("comeback", WAIT, |h| {
            h.state == TriggerState::Running && h.last_error.is_none()
        })
        .await;
    assert_eq!(back.state, TriggerState::Running);
    rig.dovecot
        .append("INBOX", &mail("after"))
        .await
        .expect("append");
    assert_eq!(
        rig.subjects(3, WAIT).await,
        ["before", "meanwhile", "after"]
    );
    assert_eq!(rig.events(4, QUIET).await.len(), 3);
    rig.stop_service().await;
}

#[tokio::test]
async fn a_recreated_mailbox_is_read_afresh_without_repeating_known_messages() {
    let mut rig = Rig::start().await;
    rig.dovecot.create_mailbox("Orders").await.expect("create");
    rig.apply("orders", "mailbox: Orders\nsince: all").await;
    rig.start_service();
    for s in ["a", "b", "c"] {
        rig.dovecot
            .append("Orders", &mail(s))
            .await
            .expect("append");
    }
    assert_eq!(rig.subjects(3, WAIT).await, ["a", "b", "c"]);
    let before = rig.wait_watching("orders").await.cursor.expect("cursor");
    rig.stop_service().await;

    // Deleted and created again: a new UIDVALIDITY, UIDs restart at 1 (below the cursor's 3).
    let mut admin = rig.dovecot.session().await.expect("session");
    admin.delete("Orders").await.expect("delete");
    admin.create("Orders").await.expect("create again");
    rig.dovecot
        .append("Orders", &mail("a"))
        .await
        .expect("append");
    rig.dovecot
        .append("Orders", &mail("d"))
        .await
        .expect("append");
    rig.start_service();
    assert_eq!(rig.subjects(4, WAIT).await, ["a", "b", "c", "d"]);
    assert_eq!(
        rig.events(5, QUIET).await.len(),
        4,
        "`a` came back under the new UIDVALIDITY but was announced already"
    );
    let after = rig.wait_watching("orders").await.cursor.expect("cursor");
    assert_ne!(after["uidvalidity"], before["uidvalidity"]);
    assert_eq!(after["last_uid"], 2);
    rig.stop_service().await;
}

#[tokio::test]
async fn a_large_message_and_the_next_one_are_both_announced_promptly() {
    // An 8 MB message (its text cut to 256 KiB in the event), and a small one appended
    // while the trigger is busy with it: the small one must not wait for the IDLE timeout (60 s
    // by default, longer than this test) even if its new-mail notice came with another answer.
    let mut rig = Rig::start().await;
    rig.apply("busy", "").await;
    rig.start_service();
    rig.wait_watching("busy").await;
    let big = format!(
        "From: a@example.com\r\nSubject: big\r\nMessage-ID: <big@example.com>\r\n\r\n{}\r\n",
        "0123456789abcdef\r\n".repeat(400_000)
    );
    rig.dovecot
        .append("INBOX", big.as_bytes())
        .await
        .expect("append big");
    rig.dovecot
        .append("INBOX", &mail("small"))
        .await
        .expect("append small");
    let events = rig.events(2, Duration::from_secs(15)).await;
    let subjects: Vec<_> = events
        .iter()
        .map(|e| e["data"]["subject"].clone())
        .collect();
    assert_eq!(subjects, ["big", "small"]);
    assert_eq!(events[0]["data"]["truncated"], true);
    assert_eq!(
        events[0]["data"]["text"].as_str().map(str::len),
        Some(weft_imap::message::MAX_BODY_BYTES)
    );
    rig.stop_service().await;
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
