//! Many threads appending to the same few streams with `Exact` expectations: each reads a
//! stream's revision, appends `Exact(revision)` (alone, or atomically with a second
//! stream) and retries on `WrongExpectedRevision`. Every revision is written exactly once,
//! the losers get the error with the stream's actual revision, no stream has a gap, and
//! reading back (per stream and the whole log, before and after reopening) gives each
//! event once. Every scenario runs on real files and on `SimStorage`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use annal::testing::{CrashMode, SimStorage};
use annal::Revision;
use annal::{
    Direction, Durability, Error, EventStore, ExpectedRevision, NewEvent, Options, Position,
    StreamAppend, WriteResult,
};
use bytes::Bytes;

const THREADS: usize = 8;
const STREAMS: [&str; 3] = ["acct-1", "acct-2", "acct-3"];
const SEGMENT_BYTES: u64 = 256 << 10;

/// Where a store lives, so a test can reopen it.
enum Backend {
    Files(tempfile::TempDir),
    Sim(SimStorage),
}

impl Backend {
    fn files() -> Backend {
        Backend::Files(tempfile::tempdir().unwrap())
    }

    fn sim() -> Backend {
        Backend::Sim(SimStorage::new())
    }

    fn open(&self) -> EventStore {
        let options = Options::default().segment_bytes(SEGMENT_BYTES);
        match self {
            Backend::Files(dir) => EventStore::open(dir.path(), options).unwrap(),
            Backend::Sim(storage) => EventStore::open_with_storage(
                PathBuf::from("/sim/concurrency"),
                options,
                Arc::new(storage.clone()),
            )
            .unwrap(),
        }
    }

    /// On the simulated backend, a power loss right after everything was synced keeps
    /// everything; on files, a plain reopen.
    fn crash_and_reopen(&mut self, store: EventStore) -> EventStore {
        match self {
            Backend::Files(_) => {
                drop(store);
                self.open()
            }
            Backend::Sim(storage) => {
                let survivor = storage.crash(CrashMode::DropUnsynced);
                drop(store);
                *storage = survivor;
                self.open()
            }
        }
    }
}

fn durability_of(thread: usize) -> Durability {
    if thread.is_multiple_of(2) {
        Durability::Synced
    } else {
        Durability::Written
    }
}

fn expectation(revision: Option<Revision>) -> ExpectedRevision {
    revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact)
}

/// Asserts a loser's error names the stream and a revision above the one it expected.
fn assert_lost(err: &Error, stream: &str, seen: Option<Revision>) {
    match err {
        Error::WrongExpectedRevision {
            stream: s,
            expected,
            actual,
        } => {
            assert_eq!(s, stream.as_bytes(), "{err}");
            assert_eq!(*expected, expectation(seen), "{err}");
            let actual = actual.expect("the stream someone else wrote exists");
            assert!(
                seen.is_none_or(|seen| actual > seen),
                "actual revision {actual} is not past the {seen:?} the loser saw"
            );
        }
        other => panic!("expected WrongExpectedRevision, got {other}"),
    }
}

/// One successful write: which thread, which of its operations, which streams.
#[derive(Debug, Clone)]
struct Win {
    label: String,
    results: Vec<(&'static str, WriteResult)>,
}

/// Each thread does `ops` operations: appends of one event to one stream, and every
/// fourth a two-stream append, each with `Exact` expectations, retried until they win.
fn contend(store: &Arc<EventStore>, ops: usize) -> (Vec<Win>, u64) {
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(store);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let mut wins = Vec::new();
                let mut losses = 0u64;
                for k in 0..ops {
                    let first = STREAMS[(t + k) % STREAMS.len()];
                    let second = STREAMS[(t + k + 1) % STREAMS.len()];
                    let streams: Vec<&'static str> = if k % 4 == 3 {
                        vec![first, second]
                    } else {
                        vec![first]
                    };
                    let label = format!("t{t}-k{k}");
                    loop {
                        let seen: Vec<Option<Revision>> = streams
                            .iter()
                            .map(|s| store.stream_revision(s.as_bytes()))
                            .collect();
                        // Widens the window between reading and appending.
                        thread::yield_now();
                        let appends: Vec<StreamAppend> = streams
                            .iter()
                            .zip(&seen)
                            .enumerate()
                            .map(|(part, (s, seen))| StreamAppend {
                                stream: Bytes::from_static(s.as_bytes()),
                                expected: expectation(*seen),
                                events: vec![NewEvent::new("Moved", format!("{label}-p{part}"))],
                            })
                            .collect();
                        match store.append_multi(&appends, durability_of(t)) {
                            Ok(results) => {
                                wins.push(Win {
                                    label,
                                    results: streams.iter().copied().zip(results).collect(),
                                });
                                break;
                            }
                            Err(err) => {
                                let Error::WrongExpectedRevision { stream, .. } = &err else {
                                    panic!("unexpected error {err}");
                                };
                                let at = streams
                                    .iter()
                                    .position(|s| s.as_bytes() == &stream[..])
                                    .expect("the error names one of the streams");
                                assert_lost(&err, streams[at], seen[at]);
                                losses += 1;
                            }
                        }
                    }
                }
                (wins, losses)
            })
        })
        .collect();
    let mut wins = Vec::new();
    let mut losses = 0;
    for handle in handles {
        let (w, l) = handle.join().unwrap();
        wins.extend(w);
        losses += l;
    }
    (wins, losses)
}

/// Checks the store against the winners: gapless streams, each event once, at the
/// revision and position its writer was told, multi-stream parts side by side.
fn verify(store: &EventStore, wins: &[Win]) {
    let mut expected: BTreeMap<(&str, Revision), (String, Position)> = BTreeMap::new();
    let mut total = 0u64;
    for win in wins {
        for (part, (stream, result)) in win.results.iter().enumerate() {
            assert_eq!(result.first_revision, result.last_revision);
            let previous = expected.insert(
                (stream, result.first_revision),
                (format!("{}-p{part}", win.label), result.first_position),
            );
            assert!(
                previous.is_none(),
                "revision {} of {stream} written twice",
                result.first_revision
            );
            total += 1;
        }
        if let [(_, a), (_, b)] = win.results[..] {
            assert_eq!(
                a.first_position.0 + 1,
                b.first_position.0,
                "{} is not one record",
                win.label
            );
        }
    }
    for stream in STREAMS {
        let events = store
            .read_stream(
                stream.as_bytes(),
                Revision(0),
                Direction::Forwards,
                usize::MAX,
            )
            .unwrap();
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event.revision, Revision(i as u64), "{stream} has a gap");
            let (label, position) = &expected[&(stream, event.revision)];
            assert_eq!(
                &event.data[..],
                label.as_bytes(),
                "{stream}@{}",
                event.revision
            );
            assert_eq!(event.position, *position);
        }
        let written = expected.keys().filter(|(s, _)| *s == stream).count();
        assert_eq!(
            events.len(),
            written,
            "{stream}: events read vs revisions won"
        );
        let info = store.stream_info(stream.as_bytes()).unwrap();
        assert_eq!(
            info.revision,
            written.checked_sub(1).map(|r| Revision(r as u64))
        );
    }
    let all = store
        .read_all(Position(0), Direction::Forwards, usize::MAX)
        .unwrap();
    assert_eq!(all.len() as u64, total);
    assert_eq!(
        store.log_next_position().0,
        total,
        "a loser wrote something"
    );
    let labels: HashSet<&[u8]> = all.iter().map(|e| &e.data[..]).collect();
    assert_eq!(labels.len(), all.len(), "an event was read twice");
    let category = store
        .read_category(b"acct", Position(0), Direction::Forwards, usize::MAX)
        .unwrap();
    assert_eq!(category, all);
}

fn exact_appends_race(mut backend: Backend, ops: usize) {
    let store = Arc::new(backend.open());
    let (wins, losses) = contend(&store, ops);
    assert_eq!(wins.len(), THREADS * ops);
    verify(&store, &wins);
    let store = Arc::into_inner(store).unwrap();
    store.close().unwrap();
    let store = backend.open();
    verify(&store, &wins);
    let store = backend.crash_and_reopen(store);
    verify(&store, &wins);
    // Not asserted (scheduling decides), only shown: how much contention there was.
    eprintln!("{} wins, {losses} losses", wins.len());
}

#[test]
fn exact_appends_race_on_files() {
    // Proves on real files: every revision is written once, losers get the error, streams stay gapless, reads give each event once.
    exact_appends_race(Backend::files(), 60);
}

#[test]
fn exact_appends_race_on_sim_storage() {
    // Proves on SimStorage: every revision is written once, losers get the error, streams stay gapless, reads give each event once.
    exact_appends_race(Backend::sim(), 120);
}

/// All threads read the same revision, then all append `Exact` of it at once: in every
/// round exactly one wins and every other gets the winner's revision as `actual`.
fn lockstep_rounds(backend: Backend, rounds: usize) {
    let store = Arc::new(backend.open());
    let barrier = Arc::new(Barrier::new(THREADS));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, barrier, outcomes) = (
                Arc::clone(&store),
                Arc::clone(&barrier),
                Arc::clone(&outcomes),
            );
            thread::spawn(move || {
                for round in 0..rounds {
                    let stream = STREAMS[round % STREAMS.len()];
                    barrier.wait();
                    let seen = store.stream_revision(stream.as_bytes());
                    barrier.wait();
                    let result = store.append(
                        stream,
                        expectation(seen),
                        vec![NewEvent::new("Won", format!("r{round}-t{t}"))],
                        durability_of(t),
                    );
                    outcomes.lock().unwrap().push((round, seen, result));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let mut by_round: HashMap<usize, Vec<_>> = HashMap::new();
    for (round, seen, result) in outcomes {
        by_round.entry(round).or_default().push((seen, result));
    }
    for round in 0..rounds {
        let stream = STREAMS[round % STREAMS.len()];
        let outcomes = &by_round[&round];
        assert_eq!(outcomes.len(), THREADS);
        let seen = outcomes[0].0;
        assert!(
            outcomes.iter().all(|(s, _)| *s == seen),
            "round {round}: threads saw different revisions"
        );
        let won: Vec<&WriteResult> = outcomes
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .collect();
        assert_eq!(won.len(), 1, "round {round}: exactly one append wins");
        let revision = seen.map_or(Revision(0), |r| r.after(1));
        assert_eq!(won[0].first_revision, revision);
        for (_, result) in outcomes {
            if let Err(err) = result {
                assert_lost(err, stream, seen);
                let Error::WrongExpectedRevision { actual, .. } = err else {
                    unreachable!()
                };
                assert_eq!(
                    *actual,
                    Some(revision),
                    "round {round}: the loser sees the winner's revision"
                );
            }
        }
    }
    assert_eq!(
        store.log_next_position().0,
        rounds as u64,
        "only winners wrote"
    );
    for (i, stream) in STREAMS.iter().enumerate() {
        let events = store
            .read_stream(
                stream.as_bytes(),
                Revision(0),
                Direction::Forwards,
                usize::MAX,
            )
            .unwrap();
        let rounds_of_stream: Vec<usize> = (0..rounds).filter(|r| r % STREAMS.len() == i).collect();
        assert_eq!(events.len(), rounds_of_stream.len());
        for ((revision, event), round) in events.iter().enumerate().zip(rounds_of_stream) {
            assert_eq!(event.revision, Revision(revision as u64));
            assert!(event.data.starts_with(format!("r{round}-").as_bytes()));
        }
    }
}

#[test]
fn lockstep_exact_appends_have_one_winner_per_round_on_files() {
    // Proves on real files: of eight appends expecting the same revision, exactly one wins and seven see its revision.
    lockstep_rounds(Backend::files(), 40);
}

#[test]
fn lockstep_exact_appends_have_one_winner_per_round_on_sim_storage() {
    // Proves on SimStorage: of eight appends expecting the same revision, exactly one wins and seven see its revision.
    lockstep_rounds(Backend::sim(), 60);
}

/// All threads send the same append (same event ids, same expectation) at once: one
/// writes it, every thread gets the same result, nothing is written twice.
fn concurrent_retries(backend: Backend, rounds: usize) {
    let store = Arc::new(backend.open());
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut results = Vec::new();
                for round in 0..rounds {
                    let stream = STREAMS[round % STREAMS.len()];
                    let expected = if round < STREAMS.len() {
                        ExpectedRevision::NoStream
                    } else {
                        ExpectedRevision::Exact(Revision((round / STREAMS.len()) as u64 * 2 - 1))
                    };
                    let events: Vec<NewEvent> = (0..2u8)
                        .map(|i| {
                            let mut id = [0u8; 16];
                            id[0] = i;
                            id[1..9].copy_from_slice(&(round as u64).to_le_bytes());
                            NewEvent::new("Once", format!("r{round}-e{i}")).with_id(id)
                        })
                        .collect();
                    barrier.wait();
                    results.push(
                        store
                            .append(stream, expected, events, durability_of(t))
                            .unwrap(),
                    );
                }
                results
            })
        })
        .collect();
    let results: Vec<Vec<WriteResult>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for thread_results in &results[1..] {
        assert_eq!(
            thread_results, &results[0],
            "every sender gets the same result"
        );
    }
    assert_eq!(
        store.log_next_position().0,
        2 * rounds as u64,
        "each append written once"
    );
    for stream in STREAMS {
        let events = store
            .read_stream(
                stream.as_bytes(),
                Revision(0),
                Direction::Forwards,
                usize::MAX,
            )
            .unwrap();
        assert!(events
            .iter()
            .enumerate()
            .all(|(i, e)| e.revision == Revision(i as u64)));
        let ids: HashSet<_> = events.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), events.len(), "{stream}: an id was stored twice");
    }
}

#[test]
fn concurrent_retries_write_once_on_files() {
    // Proves on real files: eight threads sending the same ids at once all get the one original result.
    concurrent_retries(Backend::files(), 30);
}

#[test]
fn concurrent_retries_write_once_on_sim_storage() {
    // Proves on SimStorage: eight threads sending the same ids at once all get the one original result.
    concurrent_retries(Backend::sim(), 60);
}
