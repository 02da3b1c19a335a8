//! Read-only event stores (`EventStore::open_read_only`) beside a writing store in the
//! same process: stream, category and whole-log reads catch up with the writer's appends,
//! subscriptions follow them, every change is `ReadOnly`, and nothing is written.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use annal::{
    Direction, Durability, Error, EventStore, ExpectedRevision, NewEvent, Options, Position,
    Revision, Start, StoreSubscriptionOptions, Visibility,
};

fn options() -> Options {
    Options::default().segment_bytes(256 << 10)
}

fn deposit(store: &EventStore, account: u32, n: u32) {
    let data = format!("{{\"account\":{account},\"n\":{n}}}");
    store
        .append(
            format!("acct-{account}"),
            ExpectedRevision::Any,
            vec![NewEvent::new("Deposited", data)],
            Durability::Synced,
        )
        .unwrap();
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_read_only_store_catches_up_with_its_writer_on_every_read() {
    // Proves a read-only store opened beside a writing store reads each stream, category and the whole log as the writer left them, and after more appends (rolling segments) reads those too without being reopened.
    let dir = tempfile::tempdir().unwrap();
    let writer = EventStore::open(dir.path(), options()).unwrap();
    for n in 0..30 {
        deposit(&writer, n % 3, n);
    }
    let follower = EventStore::open_read_only(dir.path(), options()).unwrap();
    let read = |account: u32| {
        follower
            .read_stream(
                format!("acct-{account}"),
                Revision(0),
                Direction::Forwards,
                usize::MAX,
            )
            .unwrap()
    };
    assert_eq!(read(1).len(), 10);
    for n in 30..2_000 {
        deposit(&writer, n % 3, n);
    }
    assert!(writer.metrics().rolls > 0, "the run must roll segments");
    let stream = read(2);
    assert_eq!(stream.len(), 666);
    assert_eq!(
        stream.last().unwrap().data,
        writer
            .read_stream("acct-2", Revision(665), Direction::Forwards, 1)
            .unwrap()[0]
            .data
    );
    assert_eq!(
        follower
            .read_category("acct", Position(0), Direction::Forwards, usize::MAX)
            .unwrap()
            .len(),
        2_000
    );
    assert_eq!(follower.stream_revision("acct-0"), Some(Revision(666)));
    writer.close().unwrap();
}

#[test]
fn a_read_only_store_subscription_follows_the_writer() {
    // Proves a store subscription of a read-only store delivers the writer's new events, decoded and in order, as they are appended.
    let dir = tempfile::tempdir().unwrap();
    let writer = EventStore::open(dir.path(), options()).unwrap();
    deposit(&writer, 7, 0);
    let follower = EventStore::open_read_only(dir.path(), options()).unwrap();
    let mut subscription = follower
        .subscribe(
            Start::Beginning,
            StoreSubscriptionOptions::default().visibility(Visibility::Written),
        )
        .unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for n in 1..300 {
                deposit(&writer, 7, n);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut revision = 0;
        while revision < 300 {
            assert!(Instant::now() < deadline, "stuck at revision {revision}");
            if let Some(event) = subscription.next(Duration::from_millis(100)).unwrap() {
                assert_eq!(event.revision, Revision(revision));
                revision += 1;
            }
        }
    });
    writer.close().unwrap();
}

#[test]
fn a_read_only_store_refuses_changes_and_writes_nothing() {
    // Proves appends, deletes, checkpoints and consumers through a read-only store are Error::ReadOnly and that opening and closing it leaves every file, the index checkpoint included, as it was.
    let dir = tempfile::tempdir().unwrap();
    let writer = EventStore::open(dir.path(), options()).unwrap();
    for n in 0..50 {
        deposit(&writer, n % 5, n);
    }
    writer.close().unwrap();
    std::fs::remove_file(dir.path().join("LOCK")).unwrap();
    let before = files(dir.path());
    let follower = EventStore::open_read_only(dir.path(), options()).unwrap();
    let refused = follower.append(
        "acct-1",
        ExpectedRevision::Any,
        vec![NewEvent::new("Deposited", "{}")],
        Durability::Buffered,
    );
    assert!(matches!(refused, Err(Error::ReadOnly)), "{refused:?}");
    assert!(matches!(
        follower.delete_stream("acct-1"),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(follower.checkpoint(), Err(Error::ReadOnly)));
    assert!(matches!(
        follower.create_consumer("billing", Start::Beginning),
        Err(Error::ReadOnly)
    ));
    assert_eq!(
        follower
            .read_stream("acct-4", Revision(0), Direction::Forwards, usize::MAX)
            .unwrap()
            .len(),
        10
    );
    follower.close().unwrap();
    assert_eq!(
        files(dir.path()),
        before,
        "the read-only store changed the directory"
    );
}

#[test]
fn a_buffered_append_reaches_a_read_only_store_once_the_writer_flushes() {
    // Proves `EventStore::flush` writes buffered appends where another store handle reads them, and that before it they stay in the writer's buffer.
    let dir = tempfile::tempdir().unwrap();
    let writer = EventStore::open(dir.path(), options()).unwrap();
    deposit(&writer, 1, 0);
    let follower = EventStore::open_read_only(dir.path(), options()).unwrap();
    let count = |store: &EventStore| match store.read_stream(
        "acct-2",
        Revision(0),
        Direction::Forwards,
        usize::MAX,
    ) {
        Ok(events) => events.len(),
        Err(Error::StreamNotFound { .. }) => 0,
        Err(e) => panic!("{e}"),
    };
    writer
        .append(
            "acct-2",
            ExpectedRevision::Any,
            vec![NewEvent::new("Deposited", "buffered")],
            Durability::Buffered,
        )
        .unwrap();
    assert_eq!(
        count(&follower),
        0,
        "a buffered append was written before the flush"
    );
    writer.flush().unwrap();
    assert_eq!(count(&follower), 1);
    follower.flush().unwrap();
    writer.close().unwrap();
}
