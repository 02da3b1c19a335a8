//! The bench command's workloads, each one cell of a round: the machine's fdatasync
//! rate (a 100-byte pwrite and an fdatasync, repeated, on a preallocated file in the
//! scratch directory: what one durable writer with no group commit could reach), closed
//! loop appends of 100-byte events at a durability from some threads, and a sequential
//! read of the log.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use annal::{Durability, Log, Options, Position};

/// Payload bytes of every event.
pub const EVENT_BYTES: usize = 100;
/// Segment size of the logs the workloads write (small, so scratch stays small).
const SEGMENT_BYTES: u64 = 16 << 20;
/// Buffered appends stop after this many events, whatever the time (disk use).
const BUFFERED_EVENTS_MAX: u64 = 2_000_000;
/// Events written for the sequential read.
const READ_EVENTS: u64 = 500_000;

/// A cell's failure, as text.
pub type CellResult = Result<Cell, String>;

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// One cell's result.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    /// Events (or fdatasyncs, for the probe) per second.
    pub per_second: f64,
    /// Appends per fdatasync (durable appends only).
    pub appends_per_sync: Option<f64>,
}

/// The fdatasync rate: a 100-byte pwrite then fdatasync, for `duration`.
pub fn fdatasync_rate(dir: &Path, duration: Duration) -> CellResult {
    fdatasync_rate_io(dir, duration).map_err(|e| format!("fdatasync probe: {e}"))
}

fn fdatasync_rate_io(dir: &Path, duration: Duration) -> std::io::Result<Cell> {
    let path = dir.join("probe");
    let file = File::create(&path)?;
    let bytes = 16u64 << 20;
    file.set_len(bytes)?;
    // Zero-filled and synced first, so the probe measures overwrites, as a log's
    // preallocated segments are written.
    let zeros = vec![0u8; 1 << 20];
    for k in 0..bytes / zeros.len() as u64 {
        file.write_all_at(&zeros, k * zeros.len() as u64)?;
    }
    file.sync_all()?;
    let data = [0xA5u8; EVENT_BYTES];
    let mut offset = 0u64;
    let mut syncs = 0u64;
    let started = Instant::now();
    while started.elapsed() < duration {
        file.write_all_at(&data, offset)?;
        file.sync_data()?;
        offset = (offset + 128) % bytes;
        syncs += 1;
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(Cell {
        per_second: syncs as f64 / elapsed.as_secs_f64(),
        appends_per_sync: None,
    })
}

/// Appends from `threads` threads at `durability` for `duration` into a new log in `dir`.
pub fn append(
    dir: &Path,
    threads: usize,
    durability: Durability,
    duration: Duration,
) -> CellResult {
    let options = Options::default().segment_bytes(SEGMENT_BYTES);
    let log = Arc::new(Log::open(dir, options).map_err(text)?);
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (log, stop, appended, start) = (
                Arc::clone(&log),
                Arc::clone(&stop),
                Arc::clone(&appended),
                Arc::clone(&start),
            );
            thread::spawn(move || -> annal::Result<()> {
                let payload = [0x5Au8; EVENT_BYTES];
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    log.append(&payload, durability)?;
                    if appended.fetch_add(1, Ordering::Relaxed) + 1 >= BUFFERED_EVENTS_MAX
                        && durability == Durability::Buffered
                    {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                Ok(())
            })
        })
        .collect();
    start.wait();
    let started = Instant::now();
    while started.elapsed() < duration && !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let mut failed = None;
    for worker in workers {
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e.to_string()),
            Err(_) => failed = Some("an appending thread panicked".to_owned()),
        }
    }
    if durability == Durability::Buffered {
        log.sync().map_err(text)?;
    }
    let elapsed = started.elapsed();
    if let Some(e) = failed {
        return Err(e);
    }
    let metrics = log.metrics();
    let events = appended.load(Ordering::Relaxed);
    let appends_per_sync = (durability == Durability::Synced)
        .then(|| metrics.appends as f64 / metrics.group_syncs.max(1) as f64);
    match Arc::try_unwrap(log) {
        Ok(log) => log.close().map_err(text)?,
        Err(_) => return Err("a thread still holds the log".to_owned()),
    }
    Ok(Cell {
        per_second: events as f64 / elapsed.as_secs_f64(),
        appends_per_sync,
    })
}

/// Writes `READ_EVENTS` events into a new log in `dir`, then reads them all back.
pub fn sequential_read(dir: &Path) -> CellResult {
    sequential_read_log(dir).map_err(text)?
}

fn sequential_read_log(dir: &Path) -> annal::Result<CellResult> {
    let log = Log::open(dir, Options::default().segment_bytes(SEGMENT_BYTES))?;
    let payload = [0x33u8; EVENT_BYTES];
    let batch: Vec<&[u8]> = vec![&payload[..]; 100];
    for _ in 0..READ_EVENTS / 100 {
        log.append_batch(&batch, Durability::Buffered)?;
    }
    log.sync()?;
    let started = Instant::now();
    let mut bytes = 0usize;
    for event in log.read_from(Position(0))? {
        bytes += event?.payload.len();
    }
    let elapsed = started.elapsed();
    log.close()?;
    if bytes != READ_EVENTS as usize * EVENT_BYTES {
        return Ok(Err(format!(
            "the read returned {bytes} bytes, not what was written"
        )));
    }
    Ok(Ok(Cell {
        per_second: READ_EVENTS as f64 / elapsed.as_secs_f64(),
        appends_per_sync: None,
    }))
}
