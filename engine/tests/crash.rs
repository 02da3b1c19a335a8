//! Power-loss simulation on `SimStorage`: concurrent appenders at mixed durability are
//! cut off by a crash (from another thread, while appends are in flight, tearing unsynced
//! sectors); the reopened log must hold every `Synced` acknowledgement byte for byte,
//! only whole batches, gapless positions, and reopen to the same contents again. A
//! second test crashes a single writer before every storage call in turn, so the crash
//! lands inside every step of a segment roll. Two more hold a sealed segment's fdatasync
//! (which runs off the append path) and crash while it is pending.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use annal::testing::{CrashMode, SimStorage};
use annal::Storage;
use annal::{Appended, Durability, Error, Log, Options, Position};
use support::{is_seal_write, CrashingStorage, FileOrigin, HookedStorage, Rng, StorageHooks};

const SEGMENT_BYTES: u64 = 64 << 10;
const HEADER_BYTES: usize = 16;

fn dir() -> &'static Path {
    Path::new("/sim/crash")
}

fn open(storage: Arc<dyn Storage>) -> Log {
    Log::open_with_storage(
        dir(),
        Options::default().segment_bytes(SEGMENT_BYTES),
        storage,
    )
    .unwrap()
}

/// Identifies one event of one batch: who appended it, which of its appends, which event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct EventId {
    thread: u32,
    seq: u32,
    index: u16,
    count: u16,
}

/// A payload that names its event and whose every byte is predictable from that name.
fn payload(id: EventId, len: usize) -> Vec<u8> {
    assert!(len >= HEADER_BYTES);
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&id.thread.to_le_bytes());
    bytes.extend_from_slice(&id.seq.to_le_bytes());
    bytes.extend_from_slice(&id.index.to_le_bytes());
    bytes.extend_from_slice(&id.count.to_le_bytes());
    bytes.extend_from_slice(&(len as u32).to_le_bytes());
    let salt = id.thread as usize * 7 + id.seq as usize * 13 + id.index as usize * 31;
    bytes.extend((HEADER_BYTES..len).map(|i| ((salt + i) % 251) as u8));
    bytes
}

/// The event a payload names, after checking every byte is the one `payload` wrote.
fn parse(bytes: &[u8]) -> EventId {
    assert!(
        bytes.len() >= HEADER_BYTES,
        "payload of {} bytes",
        bytes.len()
    );
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap());
    let id = EventId {
        thread: u32_at(0),
        seq: u32_at(4),
        index: u16_at(8),
        count: u16_at(10),
    };
    assert_eq!(u32_at(12) as usize, bytes.len(), "{id:?}: length differs");
    assert!(
        bytes == payload(id, bytes.len()),
        "{id:?}: payload bytes differ from what was appended"
    );
    id
}

/// One append as its thread saw it.
#[derive(Debug, Clone)]
struct Attempt {
    thread: u32,
    seq: u32,
    events: Vec<Vec<u8>>,
    durability: Durability,
    /// Where it landed, if it was acknowledged.
    acked: Option<Appended>,
}

fn read_all(log: &Log) -> Vec<Vec<u8>> {
    log.read_from(Position(0))
        .unwrap()
        .enumerate()
        .map(|(i, event)| {
            let event = event.unwrap();
            assert_eq!(event.position, Position(i as u64), "positions have a gap");
            event.payload.to_vec()
        })
        .collect()
}

/// Checks a recovered log against everything that was attempted before the crash.
fn check_recovered(recovered: &[Vec<u8>], attempts: &[Attempt], context: &str) {
    let by_id: HashMap<(u32, u32), &Attempt> =
        attempts.iter().map(|a| ((a.thread, a.seq), a)).collect();
    // Whole batches only, each at most once, each thread's appends in order without gaps.
    let mut next_seq: HashMap<u32, u32> = HashMap::new();
    let mut position = 0usize;
    while position < recovered.len() {
        let first = parse(&recovered[position]);
        let attempt = by_id
            .get(&(first.thread, first.seq))
            .unwrap_or_else(|| panic!("{context}: recovered an event never appended: {first:?}"));
        assert_eq!(
            first.index, 0,
            "{context}: batch starts mid-way at {position}"
        );
        let count = attempt.events.len();
        assert!(
            position + count <= recovered.len(),
            "{context}: batch {first:?} at {position} is cut short by the end of the log"
        );
        for (k, event) in attempt.events.iter().enumerate() {
            assert!(
                &recovered[position + k] == event,
                "{context}: batch {first:?} is not whole at position {}",
                position + k
            );
        }
        let expected_seq = next_seq.entry(first.thread).or_insert(0);
        assert_eq!(
            first.seq, *expected_seq,
            "{context}: thread {} skipped an append",
            first.thread
        );
        *expected_seq += 1;
        if let Some(acked) = attempt.acked {
            assert_eq!(
                acked.first,
                Position(position as u64),
                "{context}: {first:?} moved"
            );
        }
        position += count;
    }
    // Everything below the highest Synced acknowledgement survived.
    let synced_end = attempts
        .iter()
        .filter(|a| a.durability == Durability::Synced)
        .filter_map(|a| a.acked)
        .map(|acked| acked.last.0 + 1)
        .max()
        .unwrap_or(0);
    assert!(
        recovered.len() as u64 >= synced_end,
        "{context}: {} events recovered but Synced appends were acknowledged up to {synced_end}",
        recovered.len()
    );
}

/// Opens the survivor, checks it, checks a second open (after another power loss, so
/// recovery's own repairs must have been durable) finds the same, and appends once more.
fn reopen_and_check(survivor: &SimStorage, attempts: &[Attempt], context: &str) -> usize {
    let log = open(Arc::new(survivor.clone()));
    let recovered = read_all(&log);
    check_recovered(&recovered, attempts, context);
    drop(log);
    let log = open(Arc::new(survivor.clone()));
    assert!(
        read_all(&log) == recovered,
        "{context}: second open differs"
    );
    let again = survivor.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(Arc::new(again.clone()));
    assert!(
        read_all(&log) == recovered,
        "{context}: open after recovery and power loss differs"
    );
    let appended = log.append(b"after recovery", Durability::Synced).unwrap();
    assert_eq!(appended.first, Position(recovered.len() as u64));
    assert_eq!(
        &log.read(appended.first).unwrap().payload[..],
        b"after recovery"
    );
    recovered.len()
}

fn durability(rng: &mut Rng) -> Durability {
    match rng.below(5) {
        0 => Durability::Buffered,
        1 | 2 => Durability::Written,
        _ => Durability::Synced,
    }
}

/// A random append for `thread`'s `seq`-th call.
fn attempt(rng: &mut Rng, thread: u32, seq: u32) -> Attempt {
    let count = 1 + rng.below(5) as u16;
    let events = (0..count)
        .map(|index| {
            let len = HEADER_BYTES + rng.below(2000) as usize;
            let id = EventId {
                thread,
                seq,
                index,
                count,
            };
            payload(id, len)
        })
        .collect();
    Attempt {
        thread,
        seq,
        events,
        durability: durability(rng),
        acked: None,
    }
}

#[test]
fn concurrent_appends_survive_a_crash_in_flight() {
    // Proves, for 200 seeds, that a tearing crash during concurrent appends keeps every Synced acknowledgement, whole batches only, gapless, and reopens idempotently.
    let mut lost_something = 0;
    for seed in 0..200u64 {
        let mut rng = Rng::new(seed);
        let threads = 2 + rng.below(4) as u32;
        let appends_per_thread = 10 + rng.below(40) as u32;
        let crash_after = rng.below(u64::from(threads * appends_per_thread));
        let storage = SimStorage::new();
        let log = Arc::new(open(Arc::new(storage.clone())));
        let acks = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (log, acks, done) = (Arc::clone(&log), Arc::clone(&acks), Arc::clone(&done));
                let mut rng = Rng::new(seed << 8 | u64::from(thread));
                std::thread::spawn(move || {
                    let mut attempts = Vec::new();
                    for seq in 0..appends_per_thread {
                        let mut attempt = attempt(&mut rng, thread, seq);
                        let result = log.append_batch(&attempt.events, attempt.durability);
                        match result {
                            Ok(appended) => {
                                assert_eq!(
                                    appended.last.0 - appended.first.0 + 1,
                                    attempt.events.len() as u64
                                );
                                attempt.acked = Some(appended);
                                attempts.push(attempt);
                                acks.fetch_add(1, Ordering::AcqRel);
                            }
                            Err(Error::Io { .. } | Error::Poisoned) => {
                                attempts.push(attempt);
                                break;
                            }
                            Err(e) => panic!("seed {seed}: unexpected {e:?}"),
                        }
                    }
                    done.fetch_add(1, Ordering::AcqRel);
                    attempts
                })
            })
            .collect();
        while acks.load(Ordering::Acquire) < crash_after
            && done.load(Ordering::Acquire) < u64::from(threads)
        {
            std::thread::yield_now();
        }
        let survivor = storage.crash(CrashMode::TearUnsynced { seed });
        let attempts: Vec<Attempt> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        drop(log);
        let context = format!("seed {seed}");
        let recovered = reopen_and_check(&survivor, &attempts, &context);
        let acknowledged: usize = attempts
            .iter()
            .filter(|a| a.acked.is_some())
            .map(|a| a.events.len())
            .sum();
        if recovered < acknowledged {
            lost_something += 1;
        }
    }
    // The crashes really did cut off unsynced appends (or this test proves little).
    assert!(lost_something > 0, "no crash lost an unsynced append");
}

/// The single-writer workload of the sweep: events of about 1/7 of a segment, so a roll
/// comes every few appends; every third append is Synced.
fn sweep_workload(log: &Log, attempts: &mut Vec<Attempt>) {
    let mut rng = Rng::new(7);
    for seq in 0..40 {
        let mut attempt = attempt(&mut rng, 0, seq);
        attempt.events = vec![payload(
            EventId {
                thread: 0,
                seq,
                index: 0,
                count: 1,
            },
            8000 + rng.below(2000) as usize,
        )];
        attempt.durability = if seq % 3 == 2 {
            Durability::Synced
        } else {
            Durability::Written
        };
        let result = log.append_batch(&attempt.events, attempt.durability);
        let failed = result.is_err();
        attempt.acked = result.ok();
        attempts.push(attempt);
        if failed {
            return;
        }
    }
}

#[test]
fn a_crash_before_any_storage_call_recovers_including_mid_roll() {
    // Proves a crash just before each mutating storage call in turn (inside every step of segment creation and roll) recovers a valid log keeping every Synced append.
    let mut crashed_at: HashMap<&'static str, u32> = HashMap::new();
    let mut calls = 0u64;
    loop {
        let mode = if calls.is_multiple_of(2) {
            CrashMode::TearUnsynced { seed: calls }
        } else {
            CrashMode::DropUnsynced
        };
        let storage = CrashingStorage::new(SimStorage::new(), mode);
        storage.arm(calls);
        let mut attempts = Vec::new();
        match Log::open_with_storage(
            dir(),
            Options::default().segment_bytes(SEGMENT_BYTES),
            Arc::new(storage.clone()),
        ) {
            Ok(log) => {
                sweep_workload(&log, &mut attempts);
                let (survivor, at) = (storage.survivor(), storage.crashed_at());
                drop(log);
                let context = format!("crash before call {calls} ({at:?}, {mode:?})");
                reopen_and_check(&survivor, &attempts, &context);
                match at {
                    Some(call) => *crashed_at.entry(call).or_default() += 1,
                    // The whole workload ran before the countdown ran out: swept.
                    None => break,
                }
            }
            Err(Error::Io { .. }) => {
                let (survivor, at) = (storage.survivor(), storage.crashed_at());
                let call = at.expect("open failed without a crash");
                *crashed_at.entry(call).or_default() += 1;
                reopen_and_check(&survivor, &[], &format!("crash in open, call {calls}"));
            }
            Err(e) => panic!("open: {e:?}"),
        }
        calls += 1;
        assert!(calls < 10_000, "the workload never finishes");
    }
    // The sweep crashed inside every step of segment creation and roll. (Exactly which
    // calls it hit varies a little: the background preparer's calls interleave.)
    for call in [
        "write seal",
        "sync data",
        "create file",
        "write segment header",
        "rename",
        "sync dir",
        "write record",
    ] {
        assert!(
            crashed_at.get(call).is_some_and(|&n| n >= 1),
            "never crashed at {call}: {crashed_at:?}"
        );
    }
}

#[test]
fn crash_after_every_few_appends_with_reopen_in_between_keeps_synced_history() {
    // Proves repeated crash-reopen cycles with small segments never lose an event acknowledged Synced in any earlier cycle.
    let mut storage = SimStorage::new();
    let mut history: Vec<Vec<u8>> = Vec::new();
    let mut rng = Rng::new(99);
    for cycle in 0..60u32 {
        let log = open(Arc::new(storage.clone()));
        assert!(
            read_all(&log)[..history.len()] == history[..],
            "cycle {cycle}: durable history changed"
        );
        let mut log_len = log.next_position().0 as usize;
        history = read_all(&log);
        for seq in 0..rng.below(12) as u32 {
            let attempt = attempt(&mut rng, cycle, seq);
            let appended = log
                .append_batch(&attempt.events, attempt.durability)
                .unwrap();
            assert_eq!(appended.first, Position(log_len as u64));
            log_len += attempt.events.len();
            if attempt.durability == Durability::Synced {
                history = read_all(&log);
            }
        }
        storage = storage.crash(CrashMode::TearUnsynced {
            seed: u64::from(cycle),
        });
        drop(log);
    }
    let log = open(Arc::new(storage));
    assert!(read_all(&log)[..history.len()] == history[..]);
}

/// A log torn by a crash mid-workload: Synced and Written appends over small segments,
/// cut by a tearing power loss. Not deterministic (the flusher thread syncs sealed
/// segments when it gets to it): replay one result with `SimStorage::fork`.
fn torn_log(seed: u64) -> (SimStorage, Vec<Attempt>) {
    let storage = SimStorage::new();
    let log = open(Arc::new(storage.clone()));
    let mut rng = Rng::new(seed);
    let mut attempts = Vec::new();
    for seq in 0..30 {
        let mut attempt = attempt(&mut rng, 0, seq);
        if seq >= 20 {
            // An unsynced tail long enough to be torn, leaving debris past the cut.
            attempt.durability = Durability::Written;
        }
        attempt.acked = Some(
            log.append_batch(&attempt.events, attempt.durability)
                .unwrap(),
        );
        attempts.push(attempt);
    }
    let survivor = storage.crash(CrashMode::TearUnsynced { seed });
    drop(log);
    (survivor, attempts)
}

#[test]
fn a_crash_during_recovery_recovers_the_same_log() {
    // Proves a power loss before any storage call of recovery (cutting a torn tail, zeroing debris, removing temporaries) leaves a log that recovers to the same events.
    for seed in 0..12u64 {
        let (clean, attempts) = torn_log(seed);
        let expected = read_all(&open(Arc::new(clean.fork())));
        check_recovered(&expected, &attempts, &format!("seed {seed}"));
        let mut calls = 0u64;
        loop {
            let torn = clean.fork();
            let storage = CrashingStorage::new(torn, CrashMode::TearUnsynced { seed: calls });
            storage.arm(calls);
            let opened = Log::open_with_storage(
                dir(),
                Options::default().segment_bytes(SEGMENT_BYTES),
                Arc::new(storage.clone()),
            );
            let context = format!("seed {seed}, crash before recovery call {calls}");
            let (survivor, at) = (storage.survivor(), storage.crashed_at());
            match opened {
                Ok(log) => {
                    drop(log);
                    if at.is_none() {
                        break;
                    }
                }
                Err(Error::Io { .. }) => assert!(at.is_some(), "{context}: open failed"),
                Err(e) => panic!("{context}: {e:?}"),
            }
            let log = open(Arc::new(survivor.clone()));
            assert!(
                read_all(&log) == expected,
                "{context}: recovered differently"
            );
            drop(log);
            reopen_and_check(&survivor, &attempts, &context);
            calls += 1;
            assert!(calls < 1000, "recovery never finishes");
        }
    }
}

#[test]
fn torn_event_whose_payload_holds_a_record_still_recovers() {
    // Proves a crash tearing an unsynced event whose payload happens to contain an encoded record is treated as a torn tail, not corruption.
    let mut refused = Vec::new();
    for seed in 0..64u64 {
        let storage = SimStorage::new();
        let log = open(Arc::new(storage.clone()));
        for i in 0..5u8 {
            log.append(&[i; 100], Durability::Synced).unwrap();
        }
        // An event that carries a record, as a log replicating or archiving another
        // log's records would append; the record sits at an 8-aligned segment offset.
        let mut inner = Vec::new();
        // Encoded with another log's epoch, as a record carried from another log would be.
        annal::testing::encode_record(&mut inner, 7, 1_000, 1_000, &[b"carried".as_slice()], &[]);
        let mut carrier = vec![0xAA; 4 + 8 * 200];
        carrier.extend_from_slice(&inner);
        carrier.extend_from_slice(&[0xBB; 700]);
        log.append(&carrier, Durability::Written).unwrap();
        let survivor = storage.crash(CrashMode::TearUnsynced { seed });
        drop(log);
        match Log::open_with_storage(
            dir(),
            Options::default().segment_bytes(SEGMENT_BYTES),
            Arc::new(survivor),
        ) {
            Ok(log) => {
                let recovered = read_all(&log);
                assert!(recovered.len() == 5 || recovered.len() == 6 && recovered[5] == carrier);
            }
            Err(e) => refused.push((seed, e.to_string())),
        }
    }
    assert!(
        refused.is_empty(),
        "{} of 64 crashes refuse to open, e.g. {:?}",
        refused.len(),
        refused[0]
    );
}

/// The hooks of a [`GatedStorage`]: fdatasyncs of a file holding a seal wait while the
/// gate is closed.
#[derive(Debug)]
struct SealSyncGate {
    /// Whether the gate is closed, and the signal that it opened.
    closed: (Mutex<bool>, Condvar),
}

impl StorageHooks for SealSyncGate {
    /// Whether the file holds a seal.
    type FileState = AtomicBool;

    fn new_file(&self, _origin: FileOrigin) -> AtomicBool {
        AtomicBool::new(false)
    }

    fn before_write(&self, sealed: &AtomicBool, _offset: u64, data: &[u8]) {
        if is_seal_write(data) {
            sealed.store(true, Ordering::SeqCst);
        }
    }

    fn before_sync_data(&self, sealed: &AtomicBool) {
        if sealed.load(Ordering::SeqCst) {
            let (closed, opened) = &self.closed;
            let mut closed = closed.lock().unwrap();
            while *closed {
                closed = opened.wait(closed).unwrap();
            }
        }
    }
}

/// A `Storage` over `SimStorage` in which fdatasyncs of a file holding a seal wait while
/// the gate is closed: a sealed segment's sync is held pending, whoever runs it.
type GatedStorage = HookedStorage<SealSyncGate>;

impl GatedStorage {
    fn closed(inner: SimStorage) -> GatedStorage {
        let gate = SealSyncGate {
            closed: (Mutex::new(true), Condvar::new()),
        };
        HookedStorage::with_hooks(Arc::new(inner), gate)
    }

    fn open_gate(&self) {
        let (closed, opened) = &self.hooks().closed;
        *closed.lock().unwrap() = false;
        opened.notify_all();
    }
}

/// A Synced append, then Written appends of about 1/8 of a segment until the log has
/// rolled once, then `after_roll` more Written appends in the new segment.
fn appends_across_one_roll(log: &Log, after_roll: u32) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    let mut push = |seq: u32, len: usize, durability: Durability| {
        let events = vec![payload(
            EventId {
                thread: 0,
                seq,
                index: 0,
                count: 1,
            },
            len,
        )];
        let acked = Some(log.append_batch(&events, durability).unwrap());
        attempts.push(Attempt {
            thread: 0,
            seq,
            events,
            durability,
            acked,
        });
    };
    push(0, 3000, Durability::Synced);
    let mut seq = 1;
    while log.metrics().rolls == 0 {
        push(seq, 8000, Durability::Written);
        seq += 1;
    }
    for _ in 0..after_roll {
        push(seq, 3000, Durability::Written);
        seq += 1;
    }
    attempts
}

#[test]
fn a_power_loss_while_a_sealed_segments_fdatasync_is_pending_recovers_a_torn_tail() {
    // Proves a crash after a roll, with the sealed segment's fdatasync still pending and the next segment named (empty or holding records), recovers the synced prefix, drops the later segment, and reopens the same.
    for after_roll in [0u32, 1, 3] {
        for mode in [
            CrashMode::DropUnsynced,
            CrashMode::TearUnsynced { seed: 1 },
            CrashMode::TearUnsynced { seed: 2 },
            CrashMode::TearUnsynced { seed: 3 },
        ] {
            let inner = SimStorage::new();
            let storage = GatedStorage::closed(inner.clone());
            let log = open(Arc::new(storage.clone()));
            let attempts = appends_across_one_roll(&log, after_roll);
            let survivor = inner.crash(mode);
            storage.open_gate();
            drop(log);
            let context = format!("{after_roll} appends after the roll, {mode:?}");
            let recovered = reopen_and_check(&survivor, &attempts, &context);
            if mode == CrashMode::DropUnsynced {
                // Only the Synced append was durable; the next segment was named, but no
                // record in it claims the unsealed one synced: a torn tail.
                assert_eq!(recovered, 1, "{context}");
            }
        }
    }
}

#[test]
fn a_synced_append_after_a_roll_waits_for_the_sealed_segment() {
    // Proves a Synced append in a new segment is not acknowledged while the sealed segment before it is not durable: with that fdatasync held, a power loss fails the append, and recovery keeps what was durable.
    let inner = SimStorage::new();
    let storage = GatedStorage::closed(inner.clone());
    let log = Arc::new(open(Arc::new(storage.clone())));
    let attempts = appends_across_one_roll(&log, 1);
    let target = log.next_position();
    let appender = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || log.append(b"after the roll", Durability::Synced))
    };
    // Until the append is written (published): it then waits for the held fdatasync.
    while log.last_written() < Some(target) {
        std::thread::yield_now();
    }
    let survivor = inner.crash(CrashMode::DropUnsynced);
    storage.open_gate();
    let result = appender.join().unwrap();
    assert!(
        matches!(result, Err(Error::Io { .. }) | Err(Error::Poisoned)),
        "acknowledged before the sealed segment was durable: {result:?}"
    );
    drop(log);
    assert_eq!(
        reopen_and_check(&survivor, &attempts, "synced after roll"),
        1
    );
}
