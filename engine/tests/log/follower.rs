//! Read-only followers (`Log::open_read_only`) on the real file system, beside a writer in
//! the same process (a follower takes no lock): they read everything valid, follow
//! appends across segment rolls and retention, deliver live through subscriptions, refuse
//! every change with `ReadOnly`, and never write a byte.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use annal::{Durability, Error, Log, Options, Position, Start, SubscriptionOptions, Visibility};

const SEGMENT_BYTES: u64 = 64 << 10;

fn options() -> Options {
    Options::default().segment_bytes(SEGMENT_BYTES)
}

fn payload(position: u64) -> Vec<u8> {
    format!("event {position} {}", "z".repeat((position % 200) as usize)).into_bytes()
}

fn append(log: &Log, count: u64, durability: Durability) {
    for _ in 0..count {
        let position = log.next_position().0;
        log.append(&payload(position), durability).unwrap();
    }
}

fn read_all(log: &Log) -> Vec<(u64, Vec<u8>)> {
    log.read_from(log.first_position())
        .unwrap()
        .map(|event| {
            let event = event.unwrap();
            (event.position.0, event.payload.to_vec())
        })
        .collect()
}

fn expected(from: u64, to: u64) -> Vec<(u64, Vec<u8>)> {
    (from..to).map(|p| (p, payload(p))).collect()
}

/// Every file below `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            out.insert(
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            );
        }
    }
    out
}

#[test]
fn a_follower_reads_and_follows_a_writer_across_rolls_and_retention() {
    // Proves a follower opened beside a writer reads every event written, then every event appended after it opened — across segment rolls and after the writer's retention removed segments — in order, with the writer's payloads.
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path(), options()).unwrap();
    append(&writer, 100, Durability::Synced);
    let follower = Log::open_read_only(dir.path(), options()).unwrap();
    assert!(follower.is_read_only());
    assert_eq!(read_all(&follower), expected(0, 100));
    append(&writer, 1_500, Durability::Written);
    assert!(writer.metrics().rolls >= 3, "the run must roll segments");
    follower.refresh().unwrap();
    assert_eq!(follower.next_position(), Position(1_600));
    assert_eq!(read_all(&follower), expected(0, 1_600));
    let first = writer.truncate_before(Position(1_000)).unwrap();
    assert!(first.0 > 0, "retention must remove a segment");
    append(&writer, 300, Durability::Synced);
    follower.refresh().unwrap();
    // Removed segments stay readable through the follower's mappings.
    assert_eq!(read_all(&follower), expected(0, 1_900));
    writer.close().unwrap();
    follower.close().unwrap();
}

#[test]
fn a_follower_subscription_delivers_live_appends_in_order() {
    // Proves a subscription of a follower, at either visibility, delivers every event another writer appends while it waits, each once and in order, with no gap at the switch from catch-up to live (at Synced, each once a later record says it was synced).
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path(), options()).unwrap();
    append(&writer, 50, Durability::Synced);
    let follower = Log::open_read_only(dir.path(), options()).unwrap();
    for visibility in [Visibility::Written, Visibility::Synced] {
        let mut subscription = follower
            .subscribe_with(
                Start::Beginning,
                SubscriptionOptions::default().visibility(visibility),
            )
            .unwrap();
        let target = writer.next_position().0 + 400;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                // One more than awaited: a follower learns that a record was synced from
                // the records written after it (their `synced_before`).
                for _ in 0..401 {
                    append(&writer, 1, Durability::Synced);
                    std::thread::sleep(Duration::from_micros(200));
                }
            });
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut next = 0;
            while next < target {
                assert!(Instant::now() < deadline, "{visibility:?}: stuck at {next}");
                if let Some(event) = subscription.next(Duration::from_millis(100)).unwrap() {
                    assert_eq!(event.position, Position(next), "{visibility:?}");
                    assert_eq!(event.payload.to_vec(), payload(next), "{visibility:?}");
                    next += 1;
                }
            }
        });
    }
    writer.close().unwrap();
}

#[test]
fn a_follower_refuses_every_change_and_writes_nothing() {
    // Proves every change through a follower is Error::ReadOnly, and that opening, reading, following and closing one leave every file of the log byte for byte as they were, with no lock file or quarantine created.
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path(), options()).unwrap();
    append(&writer, 200, Durability::Synced);
    writer.close().unwrap();
    std::fs::remove_file(dir.path().join("LOCK")).unwrap();
    let before = files(dir.path());
    let follower = Log::open_read_only(dir.path(), options()).unwrap();
    assert!(matches!(
        follower.append(b"x", Durability::Buffered),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(
        follower.append(b"x", Durability::Synced),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(follower.sync(), Err(Error::ReadOnly)));
    assert!(matches!(
        follower.truncate_before(Position(10)),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(
        follower.create_consumer("c", Start::Beginning),
        Err(Error::ReadOnly)
    ));
    assert_eq!(read_all(&follower).len(), 200);
    assert_eq!(follower.recovery_report().actions.len(), 0);
    follower.close().unwrap();
    assert_eq!(
        files(dir.path()),
        before,
        "the follower changed the directory"
    );
    assert_eq!(Error::ReadOnly.code() as i32, 19);
}

#[test]
fn a_follower_stops_at_a_write_in_progress_and_reads_it_once_complete() {
    // Proves a follower publishes nothing past a record whose bytes are not all there yet (a write in progress, here a torn copy of one) and reads it once the bytes are complete.
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path(), options()).unwrap();
    append(&writer, 10, Durability::Synced);
    writer.close().unwrap();
    let segment = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    let complete = std::fs::read(&segment).unwrap();
    // The last record: zero its second half, as if its write were still being copied.
    let mut torn = complete.clone();
    let end = complete.iter().rposition(|&b| b != 0).unwrap() + 1;
    torn[end - 40..end].fill(0);
    std::fs::write(&segment, &torn).unwrap();
    let follower = Log::open_read_only(dir.path(), options()).unwrap();
    assert_eq!(read_all(&follower), expected(0, 9));
    // Completed in place, as the writer's pwrite would: never by truncating a file the
    // follower has mapped (docs/safety.md, "SIGBUS when a mapped file shrinks").
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &complete[end - 40..end], (end - 40) as u64)
        .unwrap();
    follower.refresh().unwrap();
    assert_eq!(read_all(&follower), expected(0, 10));
}

#[test]
fn opening_a_follower_on_no_log_is_a_clear_error() {
    // Proves a follower of a directory holding no log (missing, or empty) fails with an error naming it, and creates nothing.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    assert!(matches!(
        Log::open_read_only(&missing, options()),
        Err(Error::Io { .. })
    ));
    assert!(!missing.exists());
    match Log::open_read_only(dir.path(), options()) {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, dir.path()),
        other => panic!("expected an error naming the empty directory, got {other:?}"),
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
