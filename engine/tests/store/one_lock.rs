//! The store's appends take its lock alone (the log's writer is reached under it, not
//! under the writer's mutex too), while everything else that reaches the writer takes
//! the store's lock shared first, or already holds it: reads of the index that flush the
//! buffered appends they are about to read, `flush`, `checkpoint`, `Synced` appends'
//! group commits, segment rolls, and `close`. These tests race all of them and check that
//! nothing waits forever and every acknowledged event reads back once, in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use annal::Revision;
use annal::{Direction, Durability, EventStore, ExpectedRevision, NewEvent, Options, Position};

const APPENDERS: usize = 3;
const STREAMS_PER_APPENDER: usize = 4;
const EVENTS_PER_APPENDER: usize = 1_500;
/// Long enough for a loaded machine; a deadlock waits forever.
const DEADLINE: Duration = Duration::from_secs(120);

fn stream_name(appender: usize, stream: usize) -> String {
    format!("acct{appender}-{stream}")
}

fn data(appender: usize, stream: usize, revision: u64) -> Vec<u8> {
    format!("{appender}/{stream}/{revision}").into_bytes()
}

/// Appends `EVENTS_PER_APPENDER` events to the appender's own streams in turn, through
/// the three single-event paths and the general one, at every durability.
fn append_all(store: &EventStore, appender: usize) {
    let handles: Vec<_> = (0..STREAMS_PER_APPENDER)
        .map(|s| store.stream_handle(stream_name(appender, s)).unwrap())
        .collect();
    for i in 0..EVENTS_PER_APPENDER {
        let stream = i % STREAMS_PER_APPENDER;
        let revision = (i / STREAMS_PER_APPENDER) as u64;
        let expected = match revision {
            0 => ExpectedRevision::NoStream,
            r => ExpectedRevision::Exact(Revision(r - 1)),
        };
        let durability = match i % 50 {
            0 => Durability::Written,
            n if n % 16 == 0 => Durability::Synced,
            _ => Durability::Buffered,
        };
        let event = NewEvent::new("Deposited", data(appender, stream, revision));
        let name = stream_name(appender, stream);
        let written = match i % 4 {
            0 => store.append_from_slice(&name, expected, std::slice::from_ref(&event), durability),
            1 => store.append_to(&handles[stream], expected, &[event], durability),
            2 => store.append(name, expected, vec![event], durability),
            // An event with an id takes the general path (its retry checks).
            _ => {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&(i as u64).to_le_bytes());
                id[8] = appender as u8;
                store.append(name, expected, vec![event.with_id(id)], durability)
            }
        }
        .unwrap();
        assert_eq!(written.first_revision, Revision(revision));
    }
}

/// Reads until `stop`: streams (each read flushes buffered appends it reaches, under the
/// store's lock shared), the whole log, and stream infos.
fn read_until(store: &EventStore, stop: &AtomicBool, reader: usize) -> u64 {
    let mut reads = 0;
    while !stop.load(Ordering::Acquire) {
        let appender = (reads as usize + reader) % APPENDERS;
        let stream = reads as usize % STREAMS_PER_APPENDER;
        let name = stream_name(appender, stream);
        let events = store
            .read_stream(&name, Revision(0), Direction::Forwards, usize::MAX)
            .or_else(|e| match e {
                annal::Error::StreamNotFound { .. } => Ok(Vec::new()),
                e => Err(e),
            })
            .unwrap();
        for (revision, event) in events.iter().enumerate() {
            assert_eq!(event.revision, Revision(revision as u64));
            assert_eq!(&event.data[..], data(appender, stream, revision as u64));
        }
        let from = Position(store.log_next_position().0.saturating_sub(64));
        store
            .read_all(from, Direction::Forwards, 64)
            .unwrap_or_else(|e| panic!("reading from {from:?}: {e}"));
        reads += 1;
    }
    reads
}

/// Runs `work` on a thread and fails the test if it does not end within `DEADLINE`.
fn within_deadline<T: Send + 'static>(what: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    let worker = thread::spawn(move || {
        let result = work();
        let _ = done.send(());
        result
    });
    finished
        .recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("{what} did not finish in {DEADLINE:?}: a deadlock"));
    worker.join().unwrap()
}

#[test]
fn appends_on_the_store_lock_alone_race_reads_flushes_checkpoints_and_rolls_without_deadlock() {
    // Proves appenders at every durability, readers that flush buffered appends, a thread that flushes and checkpoints, and segment rolls run together to the end, and every acknowledged event reads back once, in order, before and after reopening.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let options = Options::default()
        .segment_bytes(64 << 10)
        .index_checkpoint_events(500);
    let store = Arc::new(EventStore::open(&path, options.clone()).unwrap());
    let rolls_before = store.metrics().rolls;
    let reads = within_deadline("the race", {
        let store = Arc::clone(&store);
        move || {
            let stop = Arc::new(AtomicBool::new(false));
            let appenders: Vec<_> = (0..APPENDERS)
                .map(|appender| {
                    let store = Arc::clone(&store);
                    thread::spawn(move || append_all(&store, appender))
                })
                .collect();
            let readers: Vec<_> = (0..2)
                .map(|reader| {
                    let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
                    thread::spawn(move || read_until(&store, &stop, reader))
                })
                .collect();
            let flusher = {
                let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
                thread::spawn(move || {
                    let mut round = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        store.flush().unwrap();
                        if round.is_multiple_of(64) {
                            store.checkpoint().unwrap();
                        }
                        round += 1;
                        thread::yield_now();
                    }
                })
            };
            for appender in appenders {
                appender.join().unwrap();
            }
            stop.store(true, Ordering::Release);
            flusher.join().unwrap();
            readers.into_iter().map(|r| r.join().unwrap()).sum::<u64>()
        }
    });
    assert!(reads > 0, "the readers read while the appenders appended");
    assert!(
        store.metrics().rolls > rolls_before,
        "the appends rolled segments"
    );
    let store = Arc::try_unwrap(store).ok().unwrap();
    within_deadline("close", move || store.close().unwrap());
    let store = EventStore::open(&path, options).unwrap();
    for appender in 0..APPENDERS {
        for stream in 0..STREAMS_PER_APPENDER {
            let events = store
                .read_stream(
                    stream_name(appender, stream),
                    Revision(0),
                    Direction::Forwards,
                    usize::MAX,
                )
                .unwrap();
            assert_eq!(events.len(), EVENTS_PER_APPENDER / STREAMS_PER_APPENDER);
            for (revision, event) in events.iter().enumerate() {
                assert_eq!(event.revision, Revision(revision as u64));
                assert_eq!(&event.data[..], data(appender, stream, revision as u64));
            }
        }
    }
    store.close().unwrap();
}

#[test]
fn a_read_that_flushes_under_the_store_lock_does_not_wait_behind_a_waiting_appender() {
    // Proves a reader holding the store's lock shared, whose read flushes buffered appends, takes no second shared lock a queued appender would block: buffered appends from one thread and reads of them from another, many times over, all finish.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EventStore::open(dir.path(), Options::default()).unwrap());
    within_deadline("appends and reads", {
        let store = Arc::clone(&store);
        move || {
            let event = NewEvent::new("Tick", "x");
            let appender = {
                let store = Arc::clone(&store);
                let event = event.clone();
                thread::spawn(move || {
                    for _ in 0..20_000 {
                        store
                            .append_from_slice(
                                "ticks",
                                ExpectedRevision::Any,
                                std::slice::from_ref(&event),
                                Durability::Buffered,
                            )
                            .unwrap();
                    }
                })
            };
            let mut last = 0;
            while !appender.is_finished() {
                // The last event is usually still buffered: the read writes it out.
                if let Ok(events) = store.read_stream_backwards("ticks", 1) {
                    let revision = events[0].revision.0;
                    assert!(revision >= last, "a stream's last event never goes back");
                    last = revision;
                }
            }
            appender.join().unwrap();
        }
    });
    assert_eq!(
        store.stream_revision("ticks"),
        Some(Revision(19_999)),
        "every append landed"
    );
}
