//! MotoServer: starts on a free port and answers S3 requests, stops by PID, and comes back on
//! the same port (empty) after a restart.

use std::time::Duration;

use weft_testkit::MotoServer;

async fn status(client: &reqwest::Client, url: &str) -> Option<u16> {
    client
        .get(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn moto_starts_stops_and_restarts_on_the_same_port() {
    weft_testkit::init_crypto();
    let mut moto = MotoServer::start().await.expect("moto starts");
    assert!(moto.is_running());
    assert_eq!(moto.endpoint, format!("http://127.0.0.1:{}", moto.port));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    // Anonymous path-style requests: create a bucket, then it is listed.
    let bucket = format!("{}/probe", moto.endpoint);
    let created = client.put(&bucket).send().await.expect("PUT bucket");
    assert!(created.status().is_success(), "{}", created.status());
    let listing = client
        .get(&moto.endpoint)
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("body");
    assert!(listing.contains("<Name>probe</Name>"), "{listing}");

    moto.stop();
    assert!(!moto.is_running());
    assert_eq!(
        status(&client, &bucket).await,
        None,
        "stopped server still answers"
    );

    moto.restart().await.expect("moto restarts");
    assert!(moto.is_running());
    // In-memory state is gone: the bucket no longer exists.
    assert_eq!(status(&client, &bucket).await, Some(404));
}

#[tokio::test]
async fn moto_with_auth_refuses_unsigned_requests_and_hands_out_a_key() {
    let moto = MotoServer::start_with_auth().await.expect("moto starts");
    let key = moto.credentials.clone().expect("credentials");
    assert!(key.access_key_id.starts_with("AKIA"), "{key:?}");
    assert!(!key.secret_access_key.is_empty());
    let client = reqwest::Client::new();
    let unknown = "AWS4-HMAC-SHA256 Credential=NOPE/20260101/us-east-1/s3/aws4_request, \
                   SignedHeaders=host, Signature=0";
    let resp = client
        .put(format!("{}/probe", moto.endpoint))
        .header("authorization", unknown)
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status().as_u16(), 403, "an unknown key is refused");
    let body = resp.text().await.expect("body");
    assert!(body.contains("InvalidAccessKeyId"), "{body}");
}
