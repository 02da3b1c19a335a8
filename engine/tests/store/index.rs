//! The persisted stream index on real files: an index checkpoint (`streams.idx` in the log
//! directory) that is deleted, truncated, bit-flipped, from another log, or newer than
//! the log (the log lost its tail after the checkpoint was written) is not trusted: the
//! index is rebuilt from the log and answers every kind of read exactly as the trusted
//! one did, also once it is checkpointed again and reopened.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use annal::Revision;
use annal::{
    Direction, Durability, Error, EventStore, ExpectedRevision, NewEvent, Options, Position,
    RecordedEvent, StreamAppend,
};
use bytes::Bytes;

const SEGMENT_BYTES: u64 = 64 << 10;
const CHECKPOINT: &str = "streams.idx";
const EVENTS: u64 = 3000;

/// Streams written by [`build`]: three categories, one name without one. `order-5` is
/// truncated and `cust-2` deleted.
const STREAMS: [&str; 12] = [
    "order-1", "order-2", "order-3", "order-4", "order-5", "cust-1", "cust-2", "cust-3", "inv-1",
    "inv-2", "inv-3", "solo",
];
pub(super) const UNKNOWN: &str = "order-999";
const CATEGORIES: [&str; 5] = ["order", "cust", "inv", "solo", "none"];

fn options() -> Options {
    Options::default().segment_bytes(SEGMENT_BYTES)
}

pub(super) fn open(dir: &Path) -> EventStore {
    EventStore::open(dir, options()).unwrap()
}

pub(super) fn id(n: u64) -> [u8; 16] {
    let mut id = [0x5Au8; 16];
    id[..8].copy_from_slice(&n.to_le_bytes());
    id
}

pub(super) fn event(n: u64) -> NewEvent {
    let mut data = format!("event-{n}-").into_bytes();
    data.resize(40 + (n % 50) as usize, b'#');
    NewEvent::new(["Opened", "Changed", "Closed"][(n % 3) as usize], data).with_metadata(
        if n.is_multiple_of(5) {
            format!("m{n}")
        } else {
            String::new()
        },
    )
}

/// The appends whose retries [`answers`] sends: (stream, expectation, events).
fn retried_appends() -> Vec<(&'static str, ExpectedRevision, Vec<NewEvent>)> {
    vec![
        (
            "order-1",
            ExpectedRevision::NoStream,
            vec![event(0).with_id(id(0))],
        ),
        (
            "inv-2",
            ExpectedRevision::Exact(Revision(19)),
            vec![event(1).with_id(id(1)), event(2).with_id(id(2))],
        ),
        ("solo", ExpectedRevision::Any, vec![event(3).with_id(id(3))]),
        (
            "cust-3",
            ExpectedRevision::StreamExists,
            vec![event(4).with_id(id(4)), event(5).with_id(id(5))],
        ),
    ]
}

/// Writes a varied history of `EVENTS`-odd events: interleaved single appends, appends
/// with ids under every expectation, multi-stream appends, a truncation and a deletion.
fn build(dir: &Path) -> EventStore {
    let store = open(dir);
    let retried = retried_appends();
    let mut n = 100u64;
    while store.log_next_position().0 < EVENTS {
        n += 1;
        let stream = STREAMS[(n * 7 % STREAMS.len() as u64) as usize];
        let deleted = |name: &str| {
            store
                .stream_info(name.as_bytes())
                .is_ok_and(|info| info.deleted)
        };
        if deleted(stream) {
            continue;
        }
        for (name, expected, events) in &retried {
            let due = match expected {
                ExpectedRevision::NoStream => store.stream_revision(name.as_bytes()).is_none(),
                ExpectedRevision::Exact(r) => store.stream_revision(name.as_bytes()) == Some(*r),
                _ => n == 1500,
            };
            if due {
                store
                    .append(*name, *expected, events.clone(), Durability::Written)
                    .unwrap();
            }
        }
        if n.is_multiple_of(10) {
            let other = STREAMS[(n % STREAMS.len() as u64) as usize];
            if other != stream && !deleted(other) {
                let appends = [
                    StreamAppend {
                        stream: Bytes::from_static(stream.as_bytes()),
                        expected: ExpectedRevision::Any,
                        events: vec![event(n), event(n + 100_000)],
                    },
                    StreamAppend {
                        stream: Bytes::from_static(other.as_bytes()),
                        expected: ExpectedRevision::Any,
                        events: vec![event(n + 200_000).with_id(id(n))],
                    },
                ];
                store.append_multi(&appends, Durability::Written).unwrap();
                continue;
            }
        }
        let durability = if n.is_multiple_of(50) {
            Durability::Synced
        } else {
            Durability::Written
        };
        store
            .append(stream, ExpectedRevision::Any, vec![event(n)], durability)
            .unwrap();
        if n == 900 {
            store.truncate_stream(b"order-5", Revision(40)).unwrap();
        }
        if n == 2000 {
            store.delete_stream(b"cust-2").unwrap();
        }
    }
    store
}

/// A read's result as short text: each event's stream, revision, position, timestamp and
/// a hash of its type, id, metadata and data (Debug of every payload is slow).
pub(super) fn digest(result: annal::Result<Vec<RecordedEvent>>) -> String {
    match result {
        Err(e) => format!("error: {e}"),
        Ok(events) => events
            .iter()
            .map(|e| {
                let mut hasher = DefaultHasher::new();
                (&e.event_type[..], e.id, &e.metadata[..], &e.data[..]).hash(&mut hasher);
                format!(
                    "{}#{}@{}t{}h{:x}",
                    String::from_utf8_lossy(&e.stream),
                    e.revision,
                    e.position,
                    e.timestamp_ns,
                    hasher.finish()
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Every kind of read, and retries of earlier appends, as text to compare.
fn answers(store: &EventStore) -> Vec<String> {
    let mut out = Vec::new();
    let next = store.log_next_position().0;
    let mut names: Vec<&str> = STREAMS.to_vec();
    names.push(UNKNOWN);
    for name in &names {
        let name = name.as_bytes();
        out.push(format!("info {:?}", store.stream_info(name)));
        out.push(format!("revision {:?}", store.stream_revision(name)));
        for from in [0, 33, u64::MAX] {
            for direction in [Direction::Forwards, Direction::Backwards] {
                for max in [1, 7, usize::MAX] {
                    out.push(format!(
                        "stream {from} {direction:?} {max} {}",
                        digest(store.read_stream(name, Revision(from), direction, max))
                    ));
                }
            }
        }
        for as_of in [0, 1, 500, 1024, 1500, next - 1, next, u64::MAX] {
            out.push(format!(
                "as of {as_of} {}",
                digest(store.read_stream_as_of(
                    name,
                    Position(as_of),
                    Revision(0),
                    Direction::Forwards,
                    usize::MAX
                ))
            ));
            out.push(format!(
                "as of {as_of} back {}",
                digest(store.read_stream_as_of(
                    name,
                    Position(as_of),
                    Revision(u64::MAX),
                    Direction::Backwards,
                    5
                ))
            ));
        }
    }
    let all = store
        .read_all(Position(0), Direction::Forwards, usize::MAX)
        .unwrap();
    out.push(format!("all {}", digest(Ok(all.clone()))));
    for at in [0, 1, 1023, 1024, 1025, 2047, 2048, all.len() - 1] {
        let time = all[at].timestamp_ns;
        for time in [time - 1, time, time + 1] {
            out.push(format!(
                "after {time} {:?}",
                store.position_after_time(time)
            ));
            for name in ["order-1", "order-5", "cust-2", UNKNOWN] {
                out.push(format!(
                    "at time {time} {}",
                    digest(store.read_stream_at_time(name.as_bytes(), time, usize::MAX))
                ));
            }
        }
    }
    out.push(format!("after 0 {:?}", store.position_after_time(0)));
    out.push(format!(
        "after max {:?}",
        store.position_after_time(u64::MAX)
    ));
    for from in [0, 1, 1023, 1024, next - 1, next] {
        for max in [10, usize::MAX] {
            out.push(format!(
                "all {from} {max} {}",
                digest(store.read_all(Position(from), Direction::Forwards, max))
            ));
        }
    }
    for from in [0, 1024, u64::MAX] {
        for max in [10, usize::MAX] {
            out.push(format!(
                "all back {from} {max} {}",
                digest(store.read_all(Position(from), Direction::Backwards, max))
            ));
        }
    }
    for category in CATEGORIES {
        for from in [0, 700, 2000, u64::MAX] {
            for direction in [Direction::Forwards, Direction::Backwards] {
                for max in [5, usize::MAX] {
                    out.push(format!(
                        "category {category} {from} {direction:?} {max} {}",
                        digest(store.read_category(
                            category.as_bytes(),
                            Position(from),
                            direction,
                            max
                        ))
                    ));
                }
            }
        }
    }
    for (name, expected, events) in retried_appends() {
        out.push(format!(
            "retry {name} {:?}",
            store.append(name, expected, events, Durability::Synced)
        ));
    }
    assert_eq!(store.log_next_position().0, next, "a retry wrote something");
    out
}

/// Asserts two answer lists are equal, naming the first difference.
fn assert_same(got: &[String], want: &[String], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: number of answers");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w,
            "{what}: answer {i} differs:\n got: {g:.300}\nwant: {w:.300}"
        );
    }
}

/// A closed store with a checkpoint, and the answers of the live and reloaded index.
fn reference() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let store = build(dir.path());
    let live = answers(&store);
    assert!(live.iter().any(|a| a.starts_with("retry order-1 Ok")));
    store.close().unwrap();
    assert!(
        dir.path().join(CHECKPOINT).exists(),
        "close writes a checkpoint"
    );
    let store = open(dir.path());
    assert_same(&answers(&store), &live, "loaded checkpoint");
    store.close().unwrap();
    (dir, live)
}

/// Opens a store whose checkpoint must be refused: it is gone once the store is open, the
/// rebuilt index answers like the reference, a fresh checkpoint is written and trusted.
fn assert_rebuilt(dir: &Path, want: &[String], what: &str) {
    let path = dir.join(CHECKPOINT);
    let store = open(dir);
    assert!(
        !path.exists(),
        "{what}: an untrusted checkpoint must be removed"
    );
    assert!(
        matches!(store.index_recovery(), annal::IndexRecovery::Rebuilt { .. }),
        "{what}: the rebuild is reported, got {:?}",
        store.index_recovery()
    );
    assert_same(&answers(&store), want, &format!("{what}: rebuilt"));
    store.checkpoint().unwrap();
    assert!(path.exists(), "{what}: checkpoint() writes one");
    drop(store);
    let store = open(dir);
    assert!(path.exists(), "{what}: a valid checkpoint is kept");
    assert_same(
        &answers(&store),
        want,
        &format!("{what}: rebuilt, checkpointed, reopened"),
    );
    store.close().unwrap();
}

#[test]
fn deleted_checkpoint_is_rebuilt_with_identical_answers() {
    // Proves a log whose index checkpoint is gone answers every read as before, and after its next checkpoint too.
    let (dir, want) = reference();
    fs::remove_file(dir.path().join(CHECKPOINT)).unwrap();
    assert_rebuilt(dir.path(), &want, "deleted");
}

#[test]
fn truncated_checkpoint_is_rebuilt_with_identical_answers() {
    // Proves a checkpoint cut at any of several lengths (empty, inside the header, inside the body) is rebuilt identically.
    let (dir, want) = reference();
    let path = dir.path().join(CHECKPOINT);
    let bytes = fs::read(&path).unwrap();
    for len in [0, 47, 111, 112, bytes.len() / 2, bytes.len() - 1] {
        fs::write(&path, &bytes[..len]).unwrap();
        assert_rebuilt(dir.path(), &want, &format!("truncated to {len}"));
    }
}

#[test]
fn bit_flipped_checkpoint_is_rebuilt_with_identical_answers() {
    // Proves a single flipped bit in the checkpoint's header fields or body is caught and the index rebuilt identically.
    let (dir, want) = reference();
    let path = dir.path().join(CHECKPOINT);
    let bytes = fs::read(&path).unwrap();
    let len = bytes.len();
    // The magic, `through`, the stream count, the header checksum, the body's first byte
    // (the time index), its middle (records), its end (the category directory).
    for (offset, bit) in [
        (0, 0),
        (24, 0),
        (56, 1),
        (109, 7),
        (112, 0),
        (len / 2, 6),
        (len - 1, 0),
    ] {
        let mut damaged = bytes.clone();
        damaged[offset] ^= 1 << bit;
        fs::write(&path, &damaged).unwrap();
        assert_rebuilt(
            dir.path(),
            &want,
            &format!("bit {bit} of byte {offset} flipped"),
        );
    }
}

#[test]
fn checkpoint_of_another_log_is_not_trusted() {
    // Proves a valid checkpoint copied from another log (another epoch) is refused and the index rebuilt.
    let (dir, want) = reference();
    let other = tempfile::tempdir().unwrap();
    build(other.path()).close().unwrap();
    fs::copy(other.path().join(CHECKPOINT), dir.path().join(CHECKPOINT)).unwrap();
    assert_rebuilt(dir.path(), &want, "another log's checkpoint");
}

/// Copies every file of a closed log directory.
fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn checkpoint_newer_than_the_log_after_a_lost_tail_is_not_trusted() {
    // Proves a checkpoint covering events the log no longer holds (its tail was lost) is refused, and the rebuilt index answers for the log as it is.
    let (dir, want) = reference();
    let older: PathBuf = tempfile::tempdir().unwrap().keep();
    copy_dir(dir.path(), &older);
    // The store goes on: more events, a new stream, a deletion, then a checkpoint.
    let store = open(dir.path());
    for n in 0..700u64 {
        let stream = ["order-1", "late-1", "inv-3"][(n % 3) as usize];
        store
            .append(
                stream,
                ExpectedRevision::Any,
                vec![event(n)],
                Durability::Written,
            )
            .unwrap();
    }
    store.delete_stream(b"order-2").unwrap();
    store.close().unwrap();
    // The log loses everything after the older copy; the newer checkpoint survives.
    fs::copy(dir.path().join(CHECKPOINT), older.join(CHECKPOINT)).unwrap();
    assert_rebuilt(&older, &want, "checkpoint past the log's end");
    let store = open(&older);
    assert!(matches!(
        store.stream_info(b"late-1"),
        Err(Error::StreamNotFound { .. })
    ));
    drop(store);
    fs::remove_dir_all(&older).unwrap();
}

#[test]
fn crash_without_close_replays_the_tail_after_the_checkpoint() {
    // Proves a store dropped without close (its last checkpoint older than the log) reopens with every event after the checkpoint indexed.
    let (dir, want) = reference();
    let store = open(dir.path());
    for n in 0..500u64 {
        let stream = ["order-1", "late-1"][(n % 2) as usize];
        store
            .append(
                stream,
                ExpectedRevision::Any,
                vec![event(n)],
                Durability::Written,
            )
            .unwrap();
    }
    let after = answers(&store);
    assert_ne!(after, want);
    drop(store);
    let store = open(dir.path());
    assert!(
        dir.path().join(CHECKPOINT).exists(),
        "the older checkpoint is still valid"
    );
    assert_same(&answers(&store), &after, "checkpoint plus replayed tail");
    drop(store);
    fs::remove_file(dir.path().join(CHECKPOINT)).unwrap();
    let store = open(dir.path());
    assert_same(&answers(&store), &after, "rebuilt from the whole log");
}

#[test]
fn a_checkpoint_that_falls_due_is_written_in_the_background() {
    // Proves appends alone write a checkpoint every index_checkpoint_events events (no close, no checkpoint()), finished before a dropped store lets the log go.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(CHECKPOINT);
    let every = 100;
    let store = EventStore::open(dir.path(), options().index_checkpoint_events(every)).unwrap();
    for n in 0..every - 1 {
        store
            .append(
                "order-1",
                ExpectedRevision::Any,
                vec![event(n)],
                Durability::Written,
            )
            .unwrap();
    }
    assert!(!path.exists(), "no checkpoint before {every} events");
    for n in every - 1..every + 50 {
        store
            .append(
                "order-2",
                ExpectedRevision::Any,
                vec![event(n)],
                Durability::Written,
            )
            .unwrap();
    }
    let streams = |store: &EventStore| {
        ["order-1", "order-2"].map(|name| {
            store
                .read_stream(
                    name.as_bytes(),
                    Revision(0),
                    Direction::Forwards,
                    usize::MAX,
                )
                .unwrap()
        })
    };
    let live = streams(&store);
    assert_eq!(live.each_ref().map(|events| events.len()), [99, 51]);
    drop(store);
    assert!(path.exists(), "the due checkpoint was written");
    let store = open(dir.path());
    assert!(path.exists(), "and it is valid: open keeps it");
    assert_eq!(streams(&store), live, "due checkpoint plus replayed tail");
    store.close().unwrap();
}

#[test]
fn an_index_checkpoint_interval_of_zero_is_refused() {
    // Proves index_checkpoint_events = 0 is a clear InvalidOptions error, not a checkpoint per append or a panic.
    let dir = tempfile::tempdir().unwrap();
    let err = EventStore::open(dir.path(), options().index_checkpoint_events(0)).unwrap_err();
    assert!(matches!(err, Error::InvalidOptions { .. }), "got {err:?}");
}
