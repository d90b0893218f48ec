use std::time::{Duration, Instant};

use weft_flow::triggers::{FileAfter, FileEventKind, FileTrigger};

use super::*;

fn config(events: &[FileEventKind], after: FileAfter) -> FileTrigger {
    FileTrigger {
        path: "/in".into(),
        glob: None,
        recursive: true,
        events: events.to_vec(),
        settle: Duration::from_secs(1),
        after,
        move_to: (after == FileAfter::Move).then(|| "/done".into()),
    }
}

fn all() -> Folder {
    use FileEventKind::*;
    Folder::new(
        &config(&[Created, Modified, Deleted], FileAfter::None),
        Listing::default(),
    )
}

fn st(size: u64, mtime_ns: i64) -> Stamp {
    Stamp { size, mtime_ns }
}

fn commit_all(folder: &mut Folder, fires: &[Fire]) {
    for f in fires {
        folder.commit(f);
    }
}

#[test]
fn created_then_modified_then_deleted() {
    let mut folder = all();
    let fire = folder.complete("a.csv", Some(st(3, 1))).expect("fires");
    assert_eq!(
        (fire.kind, fire.publish, fire.after),
        (FileEventKind::Created, true, false)
    );
    folder.commit(&fire);
    assert!(folder.is_dirty());
    assert_eq!(
        folder.complete("a.csv", Some(st(3, 1))),
        None,
        "same stamp: nothing"
    );
    let fire = folder.complete("a.csv", Some(st(5, 2))).expect("fires");
    assert_eq!(fire.kind, FileEventKind::Modified);
    folder.commit(&fire);
    let fires = folder.gone("a.csv");
    assert_eq!(fires.len(), 1);
    assert_eq!(
        (fires[0].kind, fires[0].stamp),
        (FileEventKind::Deleted, st(5, 2))
    );
    commit_all(&mut folder, &fires);
    assert!(folder.listing().is_empty());
}

#[test]
fn kinds_not_configured_are_recorded_without_publishing() {
    let mut folder = Folder::new(
        &config(&[FileEventKind::Created], FileAfter::None),
        Listing::default(),
    );
    let created = folder.complete("a", Some(st(1, 1))).expect("fires");
    folder.commit(&created);
    let modified = folder.complete("a", Some(st(2, 2))).expect("recorded");
    assert!(!modified.publish);
    folder.commit(&modified);
    assert_eq!(folder.listing().get("a"), Some(st(2, 2)));
    assert!(folder.gone("a").iter().all(|f| !f.publish));
}

#[test]
fn after_move_takes_the_file_out_of_the_listing() {
    let mut folder = Folder::new(
        &config(&[FileEventKind::Created], FileAfter::Move),
        Listing::default(),
    );
    let fire = folder.complete("a", Some(st(1, 1))).expect("fires");
    assert!(fire.after);
    folder.commit(&fire);
    assert!(folder.listing().is_empty());
    assert!(folder.gone("a").is_empty(), "our own move fires no deleted");
}

#[test]
fn a_pending_file_fires_once_after_it_stays_quiet() {
    let mut folder = all();
    let t0 = Instant::now();
    folder.written("slow.bin", t0);
    let ms = |n| t0 + Duration::from_millis(n);
    assert!(
        folder
            .settle(&[("slow.bin".into(), Some(st(10, 1)))], ms(100))
            .is_empty()
    );
    assert!(
        folder
            .settle(&[("slow.bin".into(), Some(st(20, 2)))], ms(900))
            .is_empty()
    );
    assert!(
        folder
            .settle(&[("slow.bin".into(), Some(st(20, 2)))], ms(1500))
            .is_empty(),
        "quiet for 0.6 s only"
    );
    let fires = folder.settle(&[("slow.bin".into(), Some(st(20, 2)))], ms(1950));
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0].stamp, st(20, 2));
    assert_eq!(folder.pending().count(), 0);
}

#[test]
fn a_write_event_restarts_the_quiet_period() {
    let mut folder = all();
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    folder.written("f", t0);
    folder.settle(&[("f".into(), Some(st(1, 1)))], ms(10));
    folder.written("f", ms(900));
    assert!(
        folder
            .settle(&[("f".into(), Some(st(1, 1)))], ms(1500))
            .is_empty()
    );
    assert_eq!(
        folder
            .settle(&[("f".into(), Some(st(1, 1)))], ms(1950))
            .len(),
        1
    );
}

#[test]
fn reconcile_fires_old_files_and_waits_for_fresh_ones() {
    let mut folder = all();
    let fire = folder.complete("gone", Some(st(1, 1))).expect("fires");
    folder.commit(&fire);
    let wall = 100_000_000_000;
    let scan = [
        ("old".to_string(), st(1, wall - 5_000_000_000)),
        ("fresh".to_string(), st(1, wall - 100_000_000)),
    ]
    .into();
    let fires = folder.reconcile(&scan, Instant::now(), wall);
    let kinds: Vec<_> = fires.iter().map(|f| (f.kind, f.rel.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (FileEventKind::Deleted, "gone"),
            (FileEventKind::Created, "old")
        ]
    );
    assert_eq!(folder.pending().collect::<Vec<_>>(), ["fresh"]);
}

#[test]
fn baseline_records_without_firing() {
    let mut folder = all();
    folder.baseline(&[("a".to_string(), st(1, 1))].into());
    assert!(folder.is_dirty());
    assert_eq!(folder.complete("a", Some(st(1, 1))), None);
}

#[test]
fn a_removed_folder_deletes_its_files() {
    let mut folder = all();
    for rel in ["d/x", "d/y/z", "dd"] {
        let fire = folder.complete(rel, Some(st(1, 1))).expect("fires");
        folder.commit(&fire);
    }
    folder.written("d/pending", Instant::now());
    let fires = folder.gone("d");
    assert_eq!(
        fires.iter().map(|f| f.rel.as_str()).collect::<Vec<_>>(),
        ["d/x", "d/y/z"]
    );
    assert_eq!(folder.pending().count(), 0);
}
