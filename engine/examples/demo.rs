//! The main job on an embedded default log: append and read back a log in a temporary
//! directory, printing throughput for buffered, single-writer durable and concurrent
//! durable appends, and for a sequential read.
//!
//! `cargo run --release -p annal --example demo`

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use annal::{Durability, Log, Options, Position};

const EVENT_BYTES: usize = 100;

fn rate(events: u64, elapsed: Duration) -> String {
    let per_second = events as f64 / elapsed.as_secs_f64();
    if per_second >= 1e6 {
        format!("{:.2} M events/s", per_second / 1e6)
    } else {
        format!("{:.1} k events/s", per_second / 1e3)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let parent = std::env::var_os("ANNAL_DEMO_DIR").map(std::path::PathBuf::from);
    let dir = match parent {
        Some(parent) => tempfile::tempdir_in(parent)?,
        None => tempfile::tempdir()?,
    };
    println!("log directory: {}", dir.path().display());
    let log = Arc::new(Log::open(dir.path(), Options::default())?);
    let payload = vec![b'x'; EVENT_BYTES];

    let buffered_events = 1_000_000u64;
    let started = Instant::now();
    for _ in 0..buffered_events {
        log.append(&payload, Durability::Buffered)?;
    }
    log.sync()?;
    println!(
        "buffered append, 1 thread, {EVENT_BYTES}-byte events, one sync at the end: {}",
        rate(buffered_events, started.elapsed())
    );

    let durable_events = 2_000u64;
    let started = Instant::now();
    for _ in 0..durable_events {
        log.append(&payload, Durability::Synced)?;
    }
    println!(
        "durable append (fdatasync per append), 1 thread: {}",
        rate(durable_events, started.elapsed())
    );

    for threads in [8u64, 64] {
        let per_thread = 4_000 / threads;
        let before = log.metrics();
        let started = Instant::now();
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let log = Arc::clone(&log);
                let payload = payload.clone();
                std::thread::spawn(move || -> annal::Result<()> {
                    for _ in 0..per_thread {
                        log.append(&payload, Durability::Synced)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("appender thread")?;
        }
        let elapsed = started.elapsed();
        let syncs = log.metrics().group_syncs - before.group_syncs;
        let events = per_thread * threads;
        println!(
            "durable append, {threads} threads: {} ({:.1} appends per fdatasync)",
            rate(events, elapsed),
            events as f64 / syncs.max(1) as f64
        );
    }

    let started = Instant::now();
    let mut count = 0u64;
    let mut bytes = 0usize;
    for event in log.read_from(Position(0))? {
        bytes += event?.payload.len();
        count += 1;
    }
    println!(
        "sequential read of {count} events ({} MiB of payload): {}",
        bytes >> 20,
        rate(count, started.elapsed())
    );
    Arc::try_unwrap(log).expect("no other owner").close()?;
    Ok(())
}
