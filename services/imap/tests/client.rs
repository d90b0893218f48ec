//! The IMAP client layer against a real Dovecot: login errors, listing UIDs above a cursor,
//! fetching without marking seen, and the `after:` actions as another session sees them.

use futures::TryStreamExt as _;
use weft_flow::triggers::{EmailAfter, EmailTrigger, ImapTls};
use weft_imap::{ImapError, connect, mailbox};
use weft_testkit::{Dovecot, ImapSession};

fn config(dovecot: &Dovecot) -> EmailTrigger {
    serde_json::from_value(serde_json::json!({
        "host": dovecot.host, "port": dovecot.port, "tls": false,
        "username": dovecot.username, "password": dovecot.password,
    }))
    .expect("config")
}

fn mail(n: u32) -> Vec<u8> {
    format!("From: a@example.com\r\nTo: b@example.com\r\nSubject: mail {n}\r\nMessage-ID: <m{n}@example.com>\r\n\r\nbody {n}\r\n").into_bytes()
}

/// Flags of every message in `mailbox`, by subject order of UIDs.
async fn flags(session: &mut ImapSession, mailbox: &str) -> Vec<Vec<String>> {
    session.select(mailbox).await.expect("select");
    let fetched: Vec<_> = session
        .uid_fetch("1:*", "(UID FLAGS)")
        .await
        .expect("fetch")
        .try_collect()
        .await
        .expect("collect");
    fetched
        .iter()
        .map(|f| f.flags().map(|fl| format!("{fl:?}")).collect())
        .collect()
}

#[tokio::test]
async fn wrong_password_is_a_clear_login_error() {
    let dovecot = Dovecot::start().await.expect("dovecot");
    let mut cfg = config(&dovecot);
    cfg.password = "nope".into();
    let err = connect::open(&cfg).await.expect_err("refused");
    assert!(matches!(err, ImapError::Login { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("login as alice") && text.contains("refused"),
        "{text}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let mut dovecot = Dovecot::start().await.expect("dovecot");
    let cfg = config(&dovecot);
    dovecot.stop();
    let err = connect::open(&cfg).await.expect_err("down");
    assert!(matches!(err, ImapError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{}", dovecot.port)),
        "{err}"
    );
}

#[tokio::test]
async fn lists_fetches_and_applies_after_actions() {
    let dovecot = Dovecot::start().await.expect("dovecot");
    for n in 1..=4 {
        dovecot.append("INBOX", &mail(n)).await.expect("append");
    }
    let mut cfg = config(&dovecot);
    let (mut session, caps) = connect::open(&cfg).await.expect("open");
    assert!(caps.idle && caps.moves && caps.uidplus, "{caps:?}");
    let selected = mailbox::select(&mut session, "INBOX")
        .await
        .expect("select");
    assert_eq!(selected.uid_next, 5);
    assert_eq!(
        mailbox::uids_after(&mut session, 0).await.expect("uids"),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        mailbox::uids_after(&mut session, 2).await.expect("uids"),
        vec![3, 4]
    );
    assert!(
        mailbox::uids_after(&mut session, 4)
            .await
            .expect("uids")
            .is_empty(),
        "`5:*` matches UID 4 on the server; it must be dropped"
    );
    let raw = mailbox::fetch(&mut session, 2)
        .await
        .expect("fetch")
        .expect("present");
    assert_eq!(raw, mail(2));

    let mut check = dovecot.session().await.expect("check session");
    assert!(
        flags(&mut check, "INBOX")
            .await
            .iter()
            .all(|f| !f.iter().any(|x| x == "Seen")),
        "BODY.PEEK leaves \\Seen unset"
    );

    cfg.after = EmailAfter::Seen;
    mailbox::after(&mut session, caps, &cfg, 1)
        .await
        .expect("seen");
    let now = flags(&mut check, "INBOX").await;
    assert!(now[0].iter().any(|x| x == "Seen"), "{now:?}");
    assert!(!now[1].iter().any(|x| x == "Seen"), "{now:?}");

    cfg.after = EmailAfter::Move;
    cfg.move_to = Some("Processed".into());
    mailbox::prepare(&mut session, &cfg).await.expect("create");
    mailbox::prepare(&mut session, &cfg)
        .await
        .expect("exists is fine");
    mailbox::after(&mut session, caps, &cfg, 2)
        .await
        .expect("move");
    cfg.after = EmailAfter::Delete;
    cfg.move_to = None;
    mailbox::after(&mut session, caps, &cfg, 3)
        .await
        .expect("delete");

    let inbox = check.select("INBOX").await.expect("select");
    assert_eq!(inbox.exists, 2, "2 moved, 3 deleted: 1 and 4 left");
    let left: Vec<u32> = check
        .uid_search("ALL")
        .await
        .expect("search")
        .into_iter()
        .collect();
    let mut left = left;
    left.sort_unstable();
    assert_eq!(left, vec![1, 4]);
    let processed = check.select("Processed").await.expect("select Processed");
    assert_eq!(processed.exists, 1);
    let moved: Vec<_> = check
        .fetch("1", "BODY.PEEK[]")
        .await
        .expect("fetch")
        .try_collect()
        .await
        .expect("collect");
    assert_eq!(moved[0].body(), Some(&mail(2)[..]));
    assert_eq!(cfg.tls, ImapTls::Plain);
}

#[tokio::test]
async fn tls_and_starttls_verify_the_server_certificate() {
    let dovecot = Dovecot::start_with_tls().await.expect("dovecot with TLS");
    let mut cfg = config(&dovecot);
    cfg.host = "localhost".into();
    cfg.tls = ImapTls::Implicit;
    cfg.port = dovecot.tls_port;
    let err = connect::open(&cfg)
        .await
        .expect_err("self-signed is not trusted");
    assert!(matches!(err, ImapError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");

    // STARTTLS: the server accepts the command, then the same handshake fails the same way.
    cfg.tls = ImapTls::StartTls;
    cfg.port = Some(dovecot.port);
    let err = connect::open(&cfg)
        .await
        .expect_err("self-signed is not trusted");
    assert!(matches!(err, ImapError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(
        dovecot.log().contains("TLS") || dovecot.log().contains("SSL"),
        "the server saw a TLS handshake: {}",
        dovecot.log()
    );
}
