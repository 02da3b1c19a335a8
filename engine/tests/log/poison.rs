//! Poisoning beyond the log's own writes: the event store's buffered appends whose write
//! fails, and a background flusher thread that dies.

use std::sync::Arc;

use annal::testing::{CrashMode, SimStorage};
use annal::{Durability, Error, Log, Revision};

use super::faults::{assert_poisoned, dir, options};

#[test]
fn a_failed_write_of_buffered_store_appends_poisons_the_store_and_loses_nothing_synced() {
    // Proves store appends left in the writer's buffer whose write fails are never acknowledged by a retry, the store refuses reads and appends once poisoned, and a reopen after a power loss holds exactly the synced events.
    use annal::{Direction, EventStore, ExpectedRevision, NewEvent};
    let storage = SimStorage::new();
    let open_store = |storage: &SimStorage| {
        EventStore::open_with_storage(dir(), options(), Arc::new(storage.clone())).unwrap()
    };
    let store = open_store(&storage);
    let event = |n: u8| NewEvent::new("Deposited", vec![n; 40]).with_id([n; 16]);
    for n in 0..5u8 {
        let expected = match n {
            0 => ExpectedRevision::NoStream,
            n => ExpectedRevision::Exact(Revision(u64::from(n) - 1)),
        };
        store
            .append("acct-1", expected, vec![event(n)], Durability::Synced)
            .unwrap();
    }
    // Buffered: placed in the writer's buffer, no write yet.
    store
        .append(
            "acct-1",
            ExpectedRevision::Exact(Revision(4)),
            vec![event(5)],
            Durability::Buffered,
        )
        .unwrap();
    storage.fail_writes_after(0, false);
    // The retry finds the buffered original; at Written it must write it first, and fails.
    let retry = store.append(
        "acct-1",
        ExpectedRevision::Exact(Revision(4)),
        vec![event(5)],
        Durability::Written,
    );
    assert!(
        matches!(retry, Err(Error::Io { .. }) | Err(Error::Poisoned)),
        "a retry of an unwritten append is acknowledged: {retry:?}"
    );
    assert!(matches!(
        store.read_stream(b"acct-1", Revision(0), Direction::Forwards, 10),
        Err(Error::Poisoned)
    ));
    assert!(matches!(
        store.append(
            "acct-2",
            ExpectedRevision::Any,
            vec![event(9)],
            Durability::Written
        ),
        Err(Error::Poisoned)
    ));
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(store);
    let store = open_store(&survivor);
    let read = store
        .read_stream(b"acct-1", Revision(0), Direction::Forwards, 10)
        .unwrap();
    let ids: Vec<_> = read.iter().map(|e| e.id.unwrap()[0]).collect();
    assert_eq!(ids, vec![0, 1, 2, 3, 4]);
}

/// Panics in any fdatasync the flusher thread makes: a background worker that dies.
#[derive(Debug)]
struct FlusherPanics;

impl crate::support::StorageHooks for FlusherPanics {
    type FileState = ();

    fn new_file(&self, _origin: crate::support::FileOrigin) {}

    fn before_sync_data(&self, _file: &()) {
        if std::thread::current().name() == Some("annal-flusher") {
            panic!("injected: the flusher thread dies");
        }
    }
}

#[test]
fn a_flusher_thread_that_dies_poisons_the_log() {
    // Proves a background flusher that panics while syncing a sealed segment poisons the log: appends and syncs then fail with Poisoned instead of waiting on, or skipping, the seal's sync.
    let storage =
        crate::support::HookedStorage::with_hooks(Arc::new(SimStorage::new()), FlusherPanics);
    let log = Log::open_with_storage(dir(), options(), Arc::new(storage)).unwrap();
    let mut outcome = Ok(());
    for _ in 0..10_000 {
        outcome = log.append(&[7u8; 512], Durability::Written).map(drop);
        if outcome.is_err() || log.is_poisoned() {
            break;
        }
    }
    // The roll that woke the flusher may return before the thread died.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !log.is_poisoned() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(log.is_poisoned(), "the log was not poisoned: {outcome:?}");
    assert_poisoned(&log);
}
