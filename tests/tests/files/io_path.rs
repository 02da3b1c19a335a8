//! Both durable write paths on real files: `IoPath::Pwrite` and `IoPath::IoUring` (a
//! write linked to an fdatasync per group commit) take concurrent `Synced`, `Written` and
//! batched appends across rolls, and a reopen on either path reads every byte back.

use std::path::Path;
use std::sync::Arc;

use annal::{Durability, IoPath, Log, Options, Position};
use annal_tests::Rng;

use crate::io_uring_usable;

const SEGMENT_BYTES: u64 = 256 << 10;
const THREADS: u64 = 4;
const APPENDS_PER_THREAD: u64 = 300;

fn options(io_path: IoPath) -> Options {
    Options::default()
        .segment_bytes(SEGMENT_BYTES)
        .io_path(io_path)
}

/// The payload thread `thread` appends as its `i`-th event: its length varies so some
/// groups cross a zero-ahead boundary or a roll.
fn payload(thread: u64, i: u64) -> Vec<u8> {
    let len = 1 + ((thread * 7919 + i * 104_729) % 3000) as usize;
    (0..len)
        .map(|b| (thread as u8) ^ (i as u8) ^ (b as u8))
        .collect()
}

/// Appends from `THREADS` threads (mostly `Synced`, some `Written`, some batches of two)
/// and returns each thread's payloads in its order.
fn append_concurrently(log: &Arc<Log>, seed: u64) -> Vec<Vec<Vec<u8>>> {
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let log = Arc::clone(log);
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed ^ thread);
                let mut mine = Vec::new();
                for i in 0..APPENDS_PER_THREAD {
                    let durability = if rng.chance(10) {
                        Durability::Written
                    } else {
                        Durability::Synced
                    };
                    if rng.chance(20) {
                        let batch = [payload(thread, 2 * i), payload(thread, 2 * i + 1)];
                        log.append_batch(&batch, durability).unwrap();
                        mine.extend(batch);
                    } else {
                        let event = payload(thread, 2 * i);
                        log.append(&event, durability).unwrap();
                        mine.push(event);
                    }
                }
                mine
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Reads the log back on `io_path` and checks it holds each thread's payloads, in each
/// thread's order, and nothing else.
fn check(dir: &Path, io_path: IoPath, expected: &[Vec<Vec<u8>>]) {
    let log = Log::open(dir, options(io_path)).unwrap();
    assert_eq!(log.io_path(), io_path);
    let events: Vec<Vec<u8>> = log
        .read_from(Position(0))
        .unwrap()
        .map(|e| e.unwrap().payload.to_vec())
        .collect();
    let total: usize = expected.iter().map(Vec::len).sum();
    assert_eq!(events.len(), total);
    let mut next = vec![0usize; expected.len()];
    for event in &events {
        let thread = expected
            .iter()
            .enumerate()
            .position(|(t, mine)| mine.get(next[t]) == Some(event))
            .expect("every event is the next one of some thread");
        next[thread] += 1;
    }
    log.close().unwrap();
}

/// Appends on `write_path`, closes, and checks on both paths.
fn round_trip(write_path: IoPath) {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), options(write_path)).unwrap());
    assert_eq!(log.io_path(), write_path);
    let expected = append_concurrently(&log, 0x5eed);
    assert!(log.metrics().rolls > 0, "the appends crossed segments");
    Arc::into_inner(log).unwrap().close().unwrap();
    check(dir.path(), IoPath::Pwrite, &expected);
    if io_uring_usable() {
        check(dir.path(), IoPath::IoUring, &expected);
    }
}

#[test]
fn pwrite_path_round_trips_concurrent_appends() {
    // Proves concurrent durable appends on the pwrite path read back whole after a
    // close and reopen on each path.
    round_trip(IoPath::Pwrite);
}

#[test]
fn io_uring_path_round_trips_concurrent_appends() {
    // Proves concurrent durable appends on the io_uring path (linked write and
    // fdatasync, registered files, zero-ahead writes, rolls) read back whole after a
    // close and reopen on each path.
    if !io_uring_usable() {
        return;
    }
    round_trip(IoPath::IoUring);
}

#[test]
fn auto_takes_a_concrete_path() {
    // Proves `IoPath::Auto` opens on the pwrite or the io_uring path, reports which,
    // and takes io_uring only where io_uring is usable.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options(IoPath::Auto)).unwrap();
    let taken = log.io_path();
    assert!(taken == IoPath::Pwrite || taken == IoPath::IoUring);
    if !io_uring_usable() {
        assert_eq!(taken, IoPath::Pwrite);
    }
    log.append(b"auto", Durability::Synced).unwrap();
    log.close().unwrap();
}
