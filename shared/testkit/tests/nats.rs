//! Starts real nats-server processes (one per test) and talks JetStream to them.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use weft_testkit::{NatsServer, wait_for};

async fn stream_messages(js: &jetstream::Context, name: &str) -> anyhow::Result<u64> {
    let mut s = js.get_stream(name).await?;
    Ok(s.info().await?.state.messages)
}

#[tokio::test]
async fn jetstream_publish_read_back_and_survive_restart() -> anyhow::Result<()> {
    weft_testkit::init_crypto();
    let mut server = NatsServer::start().await?;
    assert!(server.url.ends_with(&format!(":{}", server.port)));
    let js = jetstream::new(server.connect().await?);
    js.create_stream(stream::Config {
        name: "TESTKIT".into(),
        subjects: vec!["testkit.>".into()],
        ..Default::default()
    })
    .await?;
    js.publish("testkit.one", "hello".into()).await?.await?;
    let stream = js.get_stream("TESTKIT").await?;
    let msg = stream.get_raw_message(1).await?;
    assert_eq!(msg.subject.as_str(), "testkit.one");
    assert_eq!(&msg.payload[..], b"hello");

    let first_pid = server.pid();
    server.stop();
    assert!(!server.is_running(), "stop() must leave no process");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .is_err()
    );

    server.restart().await?;
    assert!(server.is_running());
    assert_ne!(server.pid(), first_pid);
    let js = jetstream::new(server.connect().await?);
    // The store survived: the stream and its message are back.
    let count = wait_for(Duration::from_secs(10), || {
        let js = js.clone();
        async move {
            stream_messages(&js, "TESTKIT")
                .await
                .ok()
                .filter(|n| *n >= 1)
        }
    })
    .await?;
    assert_eq!(count, 1, "nats log:\n{}", server.log());
    js.publish("testkit.two", "again".into()).await?.await?;
    assert_eq!(stream_messages(&js, "TESTKIT").await?, 2);
    let msg = js.get_stream("TESTKIT").await?.get_raw_message(2).await?;
    assert_eq!(&msg.payload[..], b"again");
    Ok(())
}

#[tokio::test]
async fn a_client_reconnects_after_restart() -> anyhow::Result<()> {
    let mut server = NatsServer::start().await?;
    let client = server.connect().await?;
    server.stop();
    server.restart().await?;
    let js = jetstream::new(client);
    // The old client reconnects by itself and can use JetStream again.
    wait_for(Duration::from_secs(15), || {
        let js = js.clone();
        async move {
            js.create_stream(stream::Config {
                name: "AGAIN".into(),
                subjects: vec!["again.>".into()],
                ..Default::default()
            })
            .await
            .ok()
        }
    })
    .await?;
    js.publish("again.x", "x".into()).await?.await?;
    Ok(())
}

#[tokio::test]
async fn servers_are_independent_and_stop_on_drop() -> anyhow::Result<()> {
    let a = NatsServer::start().await?;
    let b = NatsServer::start().await?;
    assert_ne!(a.port, b.port);
    let port = a.port;
    drop(a);
    wait_for(Duration::from_secs(5), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .err()
            .map(|_| ())
    })
    .await?;
    b.connect().await?;
    Ok(())
}
