//! The Dovecot fixture: starts, takes mail, stops and comes back on the same port with the mail.

use std::time::Duration;

use futures::TryStreamExt as _;
use weft_testkit::Dovecot;

#[tokio::test]
async fn dovecot_appends_stops_and_starts_again_with_its_mail() {
    let mut dovecot = Dovecot::start().await.expect("dovecot starts");
    let raw = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n";
    dovecot.append("INBOX", raw).await.expect("append");
    let port = dovecot.port;
    let mut open = dovecot
        .session()
        .await
        .expect("a session open across the stop");

    dovecot.stop();
    let noop = tokio::time::timeout(Duration::from_secs(5), open.noop()).await;
    assert!(
        matches!(noop, Ok(Err(_))),
        "stop cuts open connections (Dovecot's imap processes outlive their master): {noop:?}"
    );
    assert!(!dovecot.is_running());
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "nothing listens once stopped"
    );

    dovecot.start_again().await.expect("starts again");
    assert_eq!(dovecot.port, port);
    let mut session = dovecot.session().await.expect("login");
    let mailbox = session.select("INBOX").await.expect("select");
    assert_eq!(mailbox.exists, 1, "the mail survived the restart");
    let fetched: Vec<_> = session
        .uid_fetch("1:*", "(UID BODY.PEEK[])")
        .await
        .expect("fetch")
        .try_collect()
        .await
        .expect("collect");
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].body(), Some(&raw[..]));

    let wrong = tokio::time::timeout(Duration::from_secs(10), async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("tcp");
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.expect("greeting");
        client.login(&dovecot.username, "wrong").await.map(|_| ())
    })
    .await
    .expect("answers in time");
    assert!(wrong.is_err(), "a wrong password is refused");
}
