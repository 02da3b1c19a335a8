//! Concurrent `Synced` single-event appends sharing group commits: every caller gets its
//! own result, the right error for its own bad expectation or bad input, and an
//! acknowledgement only once its event is durable, whichever entry point it came through
//! (`append`, `append_from_slice`, `append_to`). A change to how concurrent appends are
//! placed or woken (combining them, say) must keep every one of these answers.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;

use annal::testing::{CrashMode, SimStorage};
use annal::{
    Durability, Error, EventStore, ExpectedRevision, NewEvent, Options, Position, Revision,
    WriteResult,
};
use bytes::Bytes;

const THREADS: usize = 24;
const APPENDS_EACH: u64 = 40;

fn open(storage: &SimStorage) -> EventStore {
    EventStore::open_with_storage(
        Path::new("/sim/synced-racers"),
        Options::default().segment_bytes(1 << 20),
        Arc::new(storage.clone()),
    )
    .unwrap()
}

fn data(thread: usize, i: u64) -> Bytes {
    Bytes::from(format!("thread {thread} append {i}"))
}

/// One caller's `Synced` append of `event` to `stream`, through the entry point the
/// thread's number picks.
fn append(
    store: &EventStore,
    thread: usize,
    stream: &str,
    expected: ExpectedRevision,
    event: NewEvent,
) -> annal::Result<WriteResult> {
    match thread % 3 {
        0 => store.append(stream, expected, vec![event], Durability::Synced),
        1 => store.append_from_slice(stream, expected, &[event], Durability::Synced),
        _ => {
            let handle = store.stream_handle(stream)?;
            store.append_to(
                &handle,
                expected,
                std::slice::from_ref(&event),
                Durability::Synced,
            )
        }
    }
}

/// What one thread was told: each acknowledged append's revision and position.
type Acknowledged = Vec<(u64, WriteResult)>;

/// `THREADS` threads, each appending `APPENDS_EACH` events to its own stream with
/// `Exact` expectations, every fourth append first tried with a wrong one.
fn run(store: &Arc<EventStore>) -> Vec<Acknowledged> {
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (store, start) = (Arc::clone(store), Arc::clone(&start));
            thread::spawn(move || {
                let stream = format!("acct-{thread}");
                let mut acknowledged = Vec::new();
                start.wait();
                for i in 0..APPENDS_EACH {
                    let expected = match i {
                        0 => ExpectedRevision::NoStream,
                        _ => ExpectedRevision::Exact(Revision(i - 1)),
                    };
                    if i % 4 == 3 {
                        let wrong = ExpectedRevision::Exact(Revision(i + 7));
                        let event = NewEvent::new("Deposited", data(thread, 1000 + i));
                        match append(&store, thread, &stream, wrong, event) {
                            Err(Error::WrongExpectedRevision {
                                stream: name,
                                expected,
                                actual,
                            }) => {
                                assert_eq!(name.as_ref(), stream.as_bytes(), "another's error");
                                assert_eq!(expected, wrong);
                                assert_eq!(actual, Some(Revision(i - 1)));
                            }
                            other => panic!("a wrong expectation gave {other:?}"),
                        }
                    }
                    let event = NewEvent::new("Deposited", data(thread, i));
                    let result = append(&store, thread, &stream, expected, event).unwrap();
                    // Acknowledged `Synced`: durable before the call returned.
                    let synced = store.last_synced().expect("something is synced");
                    assert!(
                        synced >= result.last_position,
                        "acknowledged {:?} with only {synced:?} synced",
                        result.last_position
                    );
                    acknowledged.push((i, result));
                }
                acknowledged
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Checks each acknowledged result names the caller's own event, read back.
fn check(store: &EventStore, acknowledged: &[Acknowledged]) {
    let mut positions: Vec<Position> = Vec::new();
    for (thread, results) in acknowledged.iter().enumerate() {
        let stream = format!("acct-{thread}");
        let events = store
            .read_stream(&stream, Revision(0), annal::Direction::Forwards, usize::MAX)
            .unwrap();
        assert_eq!(
            events.len() as u64,
            APPENDS_EACH,
            "{stream}: a lost or extra event"
        );
        for ((i, result), event) in results.iter().zip(&events) {
            assert_eq!(result.first_revision, Revision(*i));
            assert_eq!(result.last_revision, Revision(*i));
            assert_eq!(result.first_position, result.last_position);
            assert_eq!(event.revision, Revision(*i));
            assert_eq!(event.position, result.first_position, "{stream}@{i}");
            assert_eq!(
                event.data,
                data(thread, *i),
                "{stream}@{i}: not its own event"
            );
            positions.push(result.first_position);
        }
    }
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(
        positions.len(),
        THREADS * APPENDS_EACH as usize,
        "a position given twice"
    );
}

#[test]
fn every_racing_synced_append_gets_its_own_result_and_error() {
    // Proves concurrent Synced appends each return their own revision and position (read back as their own event) or their own WrongExpectedRevision, and only once durable.
    let storage = SimStorage::new();
    let store = Arc::new(open(&storage));
    let acknowledged = run(&store);
    check(&store, &acknowledged);
    assert!(store.metrics().group_syncs > 0);
    Arc::into_inner(store).unwrap().close().unwrap();
}

#[test]
fn racing_acknowledged_appends_survive_a_power_loss() {
    // Proves every racing Synced append acknowledged before a power loss (unsynced data dropped) is there after reopening.
    let storage = SimStorage::new();
    let store = Arc::new(open(&storage));
    let acknowledged = run(&store);
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(store);
    let reopened = open(&survivor);
    check(&reopened, &acknowledged);
    reopened.close().unwrap();
}

#[test]
fn racing_appends_to_a_deleted_or_bad_stream_get_their_own_errors() {
    // Proves appends racing a stream's deletion and appends with a bad name each get the error for their own input, never another caller's, and no caller hangs.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EventStore::open(dir.path(), Options::default()).unwrap());
    store
        .append(
            "gone",
            ExpectedRevision::NoStream,
            vec![NewEvent::new("Opened", "")],
            Durability::Synced,
        )
        .unwrap();
    store.delete_stream("gone").unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for i in 0..20 {
                    let event = NewEvent::new("Deposited", data(thread, i));
                    let any = ExpectedRevision::Any;
                    match thread % 3 {
                        0 => assert!(
                            matches!(
                                store.append_from_slice("gone", any, &[event], Durability::Synced),
                                Err(Error::StreamDeleted { stream }) if stream.as_ref() == b"gone"
                            ),
                            "an append to a deleted stream"
                        ),
                        1 => assert!(
                            store
                                .append_from_slice("", any, &[event], Durability::Synced)
                                .is_err(),
                            "an empty stream name was accepted"
                        ),
                        _ => {
                            let result = store
                                .append_from_slice(
                                    format!("ok-{thread}"),
                                    any,
                                    &[event],
                                    Durability::Synced,
                                )
                                .unwrap();
                            assert_eq!(result.first_revision, Revision(i));
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    Arc::into_inner(store).unwrap().close().unwrap();
}
