//! Many threads on one log (on `SimStorage`): concurrent appends get unique, gapless
//! positions and read back byte for byte; `Synced` appends share fsyncs (group commit);
//! readers tailing the log while writers append (and roll segments) see every event
//! whole and in position order, and synced readers never see past the synced watermark.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use annal::testing::SimStorage;
use annal::Storage;
use annal::{Appended, Durability, Log, LogReader, Options, Position};

use crate::support::{FileOrigin, HookedStorage, Rng, StorageHooks};

const HEADER_BYTES: usize = 12;

fn open(segment_bytes: u64) -> Log {
    open_on(segment_bytes, Arc::new(SimStorage::new()))
}

fn open_on(segment_bytes: u64, storage: Arc<dyn Storage>) -> Log {
    Log::open_with_storage(
        Path::new("/sim/concurrency"),
        Options::default().segment_bytes(segment_bytes),
        storage,
    )
    .unwrap()
}

/// Hooks giving `SimStorage` an fdatasync that takes a while, as a real device's does.
/// `SimStorage` syncs in about a microsecond, so few appends ever arrive during one and
/// group commit has nothing to batch; with a device-like sync the test is about batching,
/// not luck.
#[derive(Debug)]
struct SlowSync;

impl StorageHooks for SlowSync {
    type FileState = ();

    fn new_file(&self, _origin: FileOrigin) {}

    fn before_sync_data(&self, _file: &()) {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A fresh `SimStorage` behind [`SlowSync`].
fn slow_sync_storage() -> Arc<dyn Storage> {
    Arc::new(HookedStorage::with_hooks(
        Arc::new(SimStorage::new()),
        SlowSync,
    ))
}

/// A payload naming (thread, append, event), with every byte predictable from that.
fn payload(thread: u32, seq: u32, index: u16, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&thread.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&index.to_le_bytes());
    bytes.extend_from_slice(&(len as u16).to_le_bytes());
    let salt = thread as usize * 7 + seq as usize * 13 + index as usize * 31;
    bytes.extend((HEADER_BYTES..len).map(|i| ((salt + i) % 251) as u8));
    bytes
}

/// (thread, seq, index) of a payload, after checking it is whole and unaltered.
fn parse(bytes: &[u8]) -> (u32, u32, u16) {
    assert!(
        bytes.len() >= HEADER_BYTES,
        "torn event of {} bytes",
        bytes.len()
    );
    let thread = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let seq = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    let index = u16::from_le_bytes(bytes[8..10].try_into().unwrap());
    let len = u16::from_le_bytes(bytes[10..12].try_into().unwrap()) as usize;
    assert_eq!(
        len,
        bytes.len(),
        "event ({thread}, {seq}, {index}) has the wrong length"
    );
    assert!(
        bytes == payload(thread, seq, index, len),
        "event ({thread}, {seq}, {index}) is torn or altered"
    );
    (thread, seq, index)
}

/// One thread's appends: the batch and where it landed.
type Appends = Vec<(Vec<Vec<u8>>, Appended)>;

/// Runs `threads` appenders of `appends` calls each (batches of 1..=max_batch events)
/// at the durability `choose` picks; returns each thread's acknowledged appends.
fn run_appenders(
    log: &Arc<Log>,
    threads: u32,
    appends: u32,
    max_batch: u64,
    choose: fn(&mut Rng) -> Durability,
) -> Vec<Appends> {
    let barrier = Arc::new(Barrier::new(threads as usize));
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let (log, barrier) = (Arc::clone(log), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut rng = Rng::new(u64::from(thread) + 1);
                let mut done: Appends = Vec::new();
                barrier.wait();
                for seq in 0..appends {
                    let count = 1 + rng.below(max_batch) as u16;
                    let batch: Vec<Vec<u8>> = (0..count)
                        .map(|i| payload(thread, seq, i, HEADER_BYTES + rng.below(600) as usize))
                        .collect();
                    let durability = choose(&mut rng);
                    let appended = log.append_batch(&batch, durability).unwrap();
                    assert_eq!(appended.last.0 - appended.first.0 + 1, u64::from(count));
                    if durability == Durability::Synced {
                        let synced = log.last_synced().unwrap();
                        assert!(
                            synced >= appended.last,
                            "acknowledged Synced but not synced"
                        );
                    }
                    done.push((batch, appended));
                }
                done
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Checks acknowledged positions tile 0..total exactly and every event reads back.
fn check_appends(log: &Log, per_thread: &[Appends]) -> u64 {
    let mut ranges: Vec<(u64, u64)> = per_thread
        .iter()
        .flatten()
        .map(|(_, a)| (a.first.0, a.last.0))
        .collect();
    ranges.sort_unstable();
    let mut next = 0;
    for (first, last) in &ranges {
        assert_eq!(*first, next, "positions are not gapless and unique");
        next = last + 1;
    }
    assert_eq!(log.next_position(), Position(next));
    for appends in per_thread {
        let mut previous_last = None;
        for (batch, appended) in appends {
            // A thread's later append lands after its earlier one.
            assert!(previous_last < Some(appended.first));
            previous_last = Some(appended.last);
            let read: Vec<Vec<u8>> = log
                .read_from(appended.first)
                .unwrap()
                .take(batch.len())
                .map(|e| e.unwrap().payload.to_vec())
                .collect();
            assert!(&read == batch, "a batch reads back differently");
        }
    }
    next
}

#[test]
fn eight_threads_of_synced_appends_are_gapless_and_share_fsyncs() {
    // Proves 8 concurrent Synced appenders get unique gapless positions, read back their own bytes, and group commit makes fewer fsyncs than appends.
    let log = Arc::new(open_on(1 << 20, slow_sync_storage()));
    let per_thread = run_appenders(&log, 8, 150, 1, |_| Durability::Synced);
    let total = check_appends(&log, &per_thread);
    assert_eq!(total, 8 * 150);
    let metrics = log.metrics();
    assert_eq!(metrics.appends, 8 * 150);
    assert_eq!(metrics.events, total);
    assert!(metrics.group_syncs >= 1);
    assert!(
        metrics.group_syncs < metrics.appends,
        "{} fsyncs for {} appends: no fsync was shared",
        metrics.group_syncs,
        metrics.appends
    );
}

#[test]
fn eight_threads_of_synced_batches_across_segment_rolls() {
    // Proves concurrent Synced batches stay atomic and contiguous, and share fsyncs, while small segments roll under them.
    let log = Arc::new(open_on(64 << 10, slow_sync_storage()));
    let per_thread = run_appenders(&log, 8, 100, 8, |_| Durability::Synced);
    let total = check_appends(&log, &per_thread);
    let metrics = log.metrics();
    assert!(metrics.rolls >= 3, "only {} rolls", metrics.rolls);
    assert_eq!(metrics.appends, 800);
    assert_eq!(metrics.events, total);
    assert!(metrics.group_syncs < metrics.appends);
    // Everything is durable and the whole log reads back in one pass.
    let read: Vec<_> = log
        .read_from(Position(0))
        .unwrap()
        .map(|e| parse(&e.unwrap().payload))
        .collect();
    assert_eq!(read.len() as u64, total);
}

/// Follows the log from position 0 until `total` events were seen, checking each event
/// is whole, positions are consecutive, and each thread's appends come in order.
/// With `synced`, also checks no event is past the synced watermark.
fn tail(log: &Log, mut reader: LogReader, total: u64, threads: u32, synced: bool) {
    let mut expected_position = 0;
    let mut last_seen: Vec<Option<(u32, u16)>> = vec![None; threads as usize];
    while expected_position < total {
        match reader.next() {
            Some(event) => {
                let event = event.unwrap();
                assert_eq!(event.position, Position(expected_position), "out of order");
                if synced {
                    assert!(
                        Some(event.position) <= log.last_synced(),
                        "read past synced"
                    );
                }
                let (thread, seq, index) = parse(&event.payload);
                let last = &mut last_seen[thread as usize];
                let in_order = match *last {
                    None => (seq, index) == (0, 0),
                    Some((s, i)) => (seq, index) == (s, i + 1) || (seq == s + 1 && index == 0),
                };
                assert!(in_order, "thread {thread}: ({seq}, {index}) after {last:?}");
                *last = Some((seq, index));
                expected_position += 1;
            }
            None => std::thread::yield_now(),
        }
    }
}

#[test]
fn readers_tailing_concurrent_writers_see_whole_events_in_order() {
    // Proves readers running while 4 writers append and roll segments never see a torn event, a gap or a reordering, and synced readers stay behind the synced watermark.
    let threads = 4;
    let appends = 120;
    let max_batch = 6;
    let log = Arc::new(open(64 << 10));
    // Every thread's total event count is fixed by its seeded generator; count it first.
    let total: u64 = (0..threads)
        .map(|thread| {
            let mut rng = Rng::new(u64::from(thread) + 1);
            (0..appends)
                .map(|_| {
                    let count = 1 + rng.below(max_batch);
                    for _ in 0..count {
                        rng.below(600);
                    }
                    rng.below(3);
                    count
                })
                .sum::<u64>()
        })
        .sum();
    let readers: Vec<_> = (0..4)
        .map(|k| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let synced = k % 2 == 1;
                let reader = if synced {
                    log.read_synced_from(Position(0)).unwrap()
                } else {
                    log.read_from(Position(0)).unwrap()
                };
                tail(&log, reader, total, threads, synced);
            })
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let point_reader = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut rng = Rng::new(42);
            let mut reads = 0u64;
            while !stop.load(Ordering::Acquire) {
                if let Some(last) = log.last_written() {
                    let position = Position(rng.below(last.0 + 1));
                    let event = log.read(position).unwrap();
                    assert_eq!(event.position, position);
                    parse(&event.payload);
                    reads += 1;
                }
                std::thread::yield_now();
            }
            reads
        })
    };
    let per_thread = run_appenders(&log, threads, appends as u32, max_batch, |rng| {
        match rng.below(3) {
            0 => Durability::Synced,
            1 => Durability::Written,
            _ => Durability::Buffered,
        }
    });
    assert_eq!(check_appends(&log, &per_thread), total);
    // Synced readers finish only once everything is synced.
    log.sync().unwrap();
    for reader in readers {
        reader.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    point_reader.join().unwrap();
    assert!(log.metrics().rolls >= 2);
}

#[test]
fn sync_from_another_thread_covers_concurrent_written_appends() {
    // Proves sync() racing Written appenders always leaves the synced watermark monotonic and, once appends stop, a final sync covers them all.
    let log = Arc::new(open(64 << 10));
    let stop = Arc::new(AtomicBool::new(false));
    let syncer = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut last = None;
            while !stop.load(Ordering::Acquire) {
                log.sync().unwrap();
                let synced = log.last_synced();
                assert!(synced >= last, "synced watermark went back");
                assert!(synced <= log.last_written());
                last = synced;
            }
        })
    };
    let per_thread = run_appenders(&log, 4, 150, 4, |_| Durability::Written);
    stop.store(true, Ordering::Release);
    syncer.join().unwrap();
    let total = check_appends(&log, &per_thread);
    log.sync().unwrap();
    assert_eq!(log.last_synced(), Some(Position(total - 1)));
    assert_eq!(
        log.read_synced_from(Position(0)).unwrap().count() as u64,
        total
    );
}
