//! `on.file` against real folders and a real NATS server: each event kind, complete-file
//! detection, temporary names, restarts, `after:` and the folder going away.

mod common;

use std::{fs, io::Write as _, time::Duration};

use common::{Harness, kinds};
use weft_events::types::{FILE_CREATED, FILE_DELETED, FILE_MODIFIED};

const QUIET: Duration = Duration::from_millis(1500);

fn created(rel: &str) -> (String, String) {
    (FILE_CREATED.to_string(), rel.to_string())
}

#[tokio::test]
async fn created_modified_and_deleted_fire_once_each() {
    let mut h = Harness::start().await;
    fs::create_dir(h.path("in")).expect("mkdir");
    let path = h.path_str("in");
    h.apply(
        "inbox",
        &format!("{{path: '{path}', events: [created, modified, deleted]}}"),
    )
    .await;
    h.wait_watching("inbox").await;

    fs::write(h.path("in/a.csv"), "id,total\n1,250\n").expect("write");
    let events = h.exactly(1, QUIET).await;
    let e = &events[0];
    assert_eq!(kinds(&events), [created("a.csv")]);
    assert_eq!(e["source"], "weft/file/inbox");
    assert_eq!(e["data"]["name"], "a.csv");
    assert_eq!(e["data"]["path"], h.path_str("in/a.csv"));
    assert_eq!(e["data"]["size"], 15);
    let sha = e["data"]["sha256"].as_str().expect("sha256");
    assert_eq!(sha.len(), 64);
    let modified = e["data"]["modified"].as_str().expect("modified");
    chrono::DateTime::parse_from_rfc3339(modified).expect("RFC 3339");

    fs::write(h.path("in/a.csv"), "id,total\n1,250\n2,10\n").expect("rewrite");
    let events = h.exactly(2, QUIET).await;
    assert_eq!(events[1]["type"], FILE_MODIFIED);
    assert_eq!(events[1]["data"]["size"], 20);
    assert_ne!(events[1]["data"]["sha256"], e["data"]["sha256"]);

    fs::remove_file(h.path("in/a.csv")).expect("rm");
    let events = h.exactly(3, QUIET).await;
    assert_eq!(events[2]["type"], FILE_DELETED);
    assert_eq!(events[2]["subject"], "a.csv");
    assert_eq!(events[2]["data"]["size"], 20);
    assert!(events[2]["data"]["sha256"].is_null());
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(ids.len(), 3);
}

#[tokio::test]
async fn a_slow_writer_gives_one_event_with_the_final_size() {
    let mut h = Harness::start().await;
    fs::create_dir(h.path("in")).expect("mkdir");
    let path = h.path_str("in");
    h.apply(
        "slow",
        &format!("{{path: '{path}', settle: 1s, events: [created, modified]}}"),
    )
    .await;
    h.wait_watching("slow").await;

    let mut file = fs::File::create(h.path("in/big.bin")).expect("create");
    for _ in 0..8 {
        file.write_all(&[7u8; 1000]).expect("write");
        file.flush().expect("flush");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        h.events(1, Duration::from_millis(100)).await.is_empty(),
        "nothing before the close"
    );
    drop(file);
    let events = h.exactly(1, QUIET).await;
    assert_eq!(kinds(&events), [created("big.bin")]);
    assert_eq!(events[0]["data"]["size"], 8000);
}

#[tokio::test]
async fn a_writer_that_keeps_the_file_open_fires_once_it_is_quiet() {
    let mut h = Harness::start().await;
    fs::create_dir(h.path("in")).expect("mkdir");
    let path = h.path_str("in");
    h.apply("open", &format!("{{path: '{path}', settle: 500ms}}"))
        .await;
    h.wait_watching("open").await;

    let mut file = fs::File::create(h.path("in/log.txt")).expect("create");
    file.write_all(b"first part\n").expect("write");
    file.write_all(b"second part\n").expect("write");
    let events = h.events(1, Duration::from_secs(5)).await;
    assert_eq!(kinds(&events), [created("log.txt")]);
    assert_eq!(events[0]["data"]["size"], 23);
    drop(file); // the close of an unchanged file fires nothing more
    h.exactly(1, QUIET).await;
}

#[tokio::test]
async fn glob_and_temporary_names_filter_what_fires() {
    let mut h = Harness::start().await;
    fs::create_dir(h.path("in")).expect("mkdir");
    let path = h.path_str("in");
    h.apply(
        "csv",
        &format!("{{path: '{path}', glob: '*.csv', recursive: true}}"),
    )
    .await;
    h.wait_watching("csv").await;

    fs::write(h.path("in/a.json"), "{}").expect("write");
    fs::write(h.path("in/.b.csv"), "x").expect("write");
    fs::write(h.path("in/c.csv.part"), "x").expect("write");
    fs::rename(h.path("in/c.csv.part"), h.path("in/c.csv")).expect("rename");
    fs::create_dir_all(h.path("in/2026/05")).expect("mkdir");
    fs::write(h.path("in/2026/05/d.csv"), "x").expect("write");
    let events = h.exactly(2, QUIET).await;
    let mut got = kinds(&events);
    got.sort();
    assert_eq!(got, [created("2026/05/d.csv"), created("c.csv")]);
}

#[tokio::test]
async fn files_dropped_while_stopped_are_found_at_start_exactly_once() {
    let mut h = Harness::start().await;
    fs::create_dir(h.path("in")).expect("mkdir");
    fs::write(h.path("in/old.txt"), "was here before the workflow").expect("write");
    let path = h.path_str("in");
    h.apply(
        "drop",
        &format!("{{path: '{path}', events: [created, modified, deleted]}}"),
    )
    .await;
    h.wait_watching("drop").await;
    fs::write(h.path("in/live.txt"), "1").expect("write");
    h.exactly(1, QUIET).await;

    h.stop_service().await;
    fs::write(h.path("in/while-down-1.txt"), "a").expect("write");
    fs::write(h.path("in/while-down-2.txt"), "bb").expect("write");
    fs::write(h.path("in/live.txt"), "changed").expect("write");
    fs::remove_file(h.path("in/old.txt")).expect("rm");
    // Make the new files older than `settle`, as if the service had been down a while.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    h.start_service();
    let events = h.exactly(5, QUIET).await;
    let mut got = kinds(&events[1..]);
    got.sort();
    assert_eq!(
        got,
        [
            created("while-down-1.txt"),
            created("while-down-2.txt"),
            (FILE_DELETED.to_string(), "old.txt".to_string()),
            (FILE_MODIFIED.to_string(), "live.txt".to_string()),
        ]
    );

    // Once more: nothing new, nothing again.
    h.stop_service().await;
    h.start_service();
    h.wait_watching("drop").await;
    h.exactly(5, QUIET).await;
}

#[tokio::test]
async fn a_restart_in_the_middle_loses_and_doubles_nothing() {
    let mut h = Harness::start().await;
    fs::create_dir(h.path("in")).expect("mkdir");
    let path = h.path_str("in");
    h.apply("steady", &format!("{{path: '{path}', settle: 200ms}}"))
        .await;
    h.wait_watching("steady").await;

    let dir = h.path("in");
    let writer = tokio::spawn(async move {
        for i in 0..40 {
            fs::write(dir.join(format!("f{i:02}.txt")), format!("file {i}")).expect("write");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    h.stop_service().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.start_service();
    writer.await.expect("writer");
    let events = h.exactly(40, Duration::from_secs(2)).await;
    let mut names: Vec<_> = events
        .iter()
        .map(|e| e["subject"].as_str().expect("subject").to_string())
        .collect();
    names.sort();
    let want: Vec<_> = (0..40).map(|i| format!("f{i:02}.txt")).collect();
    assert_eq!(names, want);
}

#[tokio::test]
async fn after_move_and_delete_change_the_folder() {
    let mut h = Harness::start().await;
    for d in ["in", "in2", "done"] {
        fs::create_dir(h.path(d)).expect("mkdir");
    }
    fs::write(h.path("done/r.csv"), "an older r.csv").expect("write");
    fs::write(
        h.path("in/queued.csv"),
        "waiting before the trigger existed",
    )
    .expect("write");
    let (inbox, done, inbox2) = (h.path_str("in"), h.path_str("done"), h.path_str("in2"));
    h.apply(
        "mover",
        &format!("{{path: '{inbox}', after: move, move_to: '{done}'}}"),
    )
    .await;
    h.apply("deleter", &format!("{{path: '{inbox2}', after: delete}}"))
        .await;
    h.wait_watching("mover").await;
    h.wait_watching("deleter").await;

    fs::write(h.path("in/r.csv"), "new").expect("write");
    fs::write(h.path("in2/x.txt"), "bye").expect("write");
    let events = h.exactly(3, QUIET).await;
    let mut got = kinds(&events);
    got.sort();
    assert_eq!(
        got,
        [created("queued.csv"), created("r.csv"), created("x.txt")]
    );
    let r = events
        .iter()
        .find(|e| e["subject"] == "r.csv")
        .expect("r.csv event");
    assert_eq!(r["data"]["moved_to"], h.path_str("done/r-1.csv"));
    assert_eq!(r["data"]["size"], 3);

    assert!(!h.path("in/r.csv").exists() && !h.path("in/queued.csv").exists());
    assert_eq!(
        fs::read_to_string(h.path("done/r.csv")).expect("kept"),
        "an older r.csv"
    );
    assert_eq!(
        fs::read_to_string(h.path("done/r-1.csv")).expect("moved"),
        "new"
    );
    assert!(h.path("done/queued.csv").exists());
    assert!(!h.path("in2/x.txt").exists(), "after: delete removed it");
}

#[tokio::test]
async fn the_folder_going_away_and_coming_back() {
    let mut h = Harness::start().await;
    let path = h.path_str("in");
    h.apply(
        "flaky",
        &format!("{{path: '{path}', events: [created, deleted]}}"),
    )
    .await;
    let missing = h
        .wait_health("flaky", Duration::from_secs(10), |h| h["state"] == "error")
        .await;
    assert!(
        missing["last_error"]
            .as_str()
            .expect("error")
            .contains(&path),
        "{missing}"
    );

    fs::create_dir(h.path("in")).expect("mkdir");
    h.wait_watching("flaky").await;
    fs::write(h.path("in/one.txt"), "1").expect("write");
    h.exactly(1, QUIET).await;

    fs::remove_dir_all(h.path("in")).expect("rm -r");
    h.wait_health("flaky", Duration::from_secs(10), |h| h["state"] == "error")
        .await;
    let events = h.exactly(2, QUIET).await;
    assert_eq!(events[1]["type"], FILE_DELETED);

    fs::create_dir(h.path("in")).expect("mkdir again");
    h.wait_health("flaky", Duration::from_secs(10), |h| {
        h["state"] == "running"
    })
    .await;
    fs::write(h.path("in/two.txt"), "2").expect("write");
    let events = h.exactly(3, QUIET).await;
    assert_eq!(kinds(&events[2..]), [created("two.txt")]);
}
