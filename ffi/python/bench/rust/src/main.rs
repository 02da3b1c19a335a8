//! The Rust side of the Python benchmarks: the same workloads as `bench.py` runs through
//! the Python package, on the engine's Rust API, so the two can be compared.
//!
//! `annal-python-bench WORKLOAD DIR EVENTS` runs one round in the fresh directory `DIR`
//! and prints `events_per_s` (workloads: `durable`, `batch`, `read`, `threads8`,
//! `threads1`, `random_reads` with EVENTS the number of streams).

use std::time::Instant;

use annal::{Direction, Durability, EventStore, ExpectedRevision, NewEvent, Options, Revision};

/// Bytes of each event's data, the same in `bench.py`.
const DATA_BYTES: usize = 100;
/// Events per append in the `batch` workload, the same in `bench.py`.
const BATCH_EVENTS: usize = 1000;
/// Passes over the stream in the `read` workload (the median is reported), the same in
/// `bench.py`.
const READ_PASSES: usize = 9;

fn event() -> NewEvent {
    NewEvent::new("BenchEvent", vec![b'x'; DATA_BYTES])
}

/// One event per append, each acknowledged after an fdatasync.
fn durable(store: &EventStore, events: usize) -> annal::Result<f64> {
    let start = Instant::now();
    for _ in 0..events {
        store.append(
            "bench-1",
            ExpectedRevision::Any,
            vec![event()],
            Durability::Synced,
        )?;
    }
    Ok(events as f64 / start.elapsed().as_secs_f64())
}

/// `threads` threads, each appending `events / threads` events durably (one per append)
/// to its own stream: group commit lets one fdatasync cover several threads' appends.
fn threads(store: &EventStore, threads: usize, events: usize) -> annal::Result<f64> {
    let per_thread = events / threads;
    let start = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                scope.spawn(move || -> annal::Result<()> {
                    let stream = format!("bench-{i}");
                    for _ in 0..per_thread {
                        store.append(
                            stream.as_str().to_owned(),
                            ExpectedRevision::Any,
                            vec![event()],
                            Durability::Synced,
                        )?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("an appender thread panicked"))
    })?;
    Ok((per_thread * threads) as f64 / start.elapsed().as_secs_f64())
}

/// Appends of `BATCH_EVENTS` events each (built in the timed loop, as Python builds its
/// `NewEvent`s), acknowledged once written.
fn batch(store: &EventStore, events: usize) -> annal::Result<f64> {
    let start = Instant::now();
    for _ in 0..events / BATCH_EVENTS {
        let batch = (0..BATCH_EVENTS).map(|_| event()).collect();
        store.append("bench-1", ExpectedRevision::Any, batch, Durability::Written)?;
    }
    Ok(events as f64 / start.elapsed().as_secs_f64())
}

/// Reads a stream of `events` events from start to end, in pages of 512 as the Python
/// iterator does, touching each event's revision and data length: the median of
/// `READ_PASSES` passes.
fn read(store: &EventStore, events: usize) -> annal::Result<f64> {
    let batch: Vec<NewEvent> = (0..BATCH_EVENTS).map(|_| event()).collect();
    for _ in 0..events / BATCH_EVENTS {
        store.append(
            "bench-1",
            ExpectedRevision::Any,
            batch.clone(),
            Durability::Written,
        )?;
    }
    // The median of several passes: one pass takes milliseconds, shorter than the
    // machine's hiccups.
    let mut rates: Vec<f64> = (0..READ_PASSES)
        .map(|_| read_pass(store, events))
        .collect::<annal::Result<_>>()?;
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

/// One pass of [`read`]: events per second.
fn read_pass(store: &EventStore, events: usize) -> annal::Result<f64> {
    let page = 512;
    let start = Instant::now();
    let mut seen = 0;
    let mut checksum = 0u64;
    let mut from = 0;
    loop {
        let got = store.read_stream(b"bench-1", Revision(from), Direction::Forwards, page)?;
        for e in &got {
            checksum = checksum.wrapping_add(e.revision.0 + e.data.len() as u64);
        }
        seen += got.len();
        match got.last() {
            Some(last) if got.len() == page => from = last.revision.0 + 1,
            _ => break,
        }
    }
    let rate = seen as f64 / start.elapsed().as_secs_f64();
    assert_eq!(seen, events, "checksum {checksum}");
    Ok(rate)
}

/// Loads `streams` streams of 100 events (one append each), then reads 1000 of them
/// whole, picked at random; returns streams read per second.
fn random_reads(store: &EventStore, streams: usize) -> annal::Result<f64> {
    for s in 0..streams {
        let events = (0..100).map(|_| event()).collect();
        store.append(
            format!("bench-{s}"),
            ExpectedRevision::NoStream,
            events,
            Durability::Written,
        )?;
    }
    // A fixed linear congruential sequence: the same streams every run, in no order.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let names: Vec<String> = (0..1000)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            format!("bench-{}", (state >> 33) as usize % streams)
        })
        .collect();
    let start = Instant::now();
    let mut checksum = 0u64;
    for name in &names {
        for e in store.read_stream(
            name.as_bytes(),
            Revision(0),
            Direction::Forwards,
            usize::MAX,
        )? {
            checksum = checksum.wrapping_add(e.revision.0 + e.data.len() as u64);
        }
    }
    let rate = names.len() as f64 / start.elapsed().as_secs_f64();
    assert!(checksum > 0);
    Ok(rate)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, workload, dir, events] = &args[..] else {
        return Err("usage: annal-python-bench durable|batch|read|threads8|threads1|random_reads DIR EVENTS".into());
    };
    let events: usize = events.parse()?;
    let store = EventStore::open(dir, Options::default())?;
    let rate = match workload.as_str() {
        "durable" => durable(&store, events)?,
        "batch" => batch(&store, events)?,
        "read" => read(&store, events)?,
        "threads8" => threads(&store, 8, events)?,
        "threads1" => threads(&store, 1, events)?,
        "random_reads" => random_reads(&store, events)?,
        other => return Err(format!("unknown workload {other}").into()),
    };
    store.close()?;
    // The one line bench.py parses.
    #[allow(clippy::print_stdout)]
    {
        println!("{rate}");
    }
    Ok(())
}
