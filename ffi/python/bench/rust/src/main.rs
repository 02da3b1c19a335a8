//! The Rust side of the Python benchmarks: the same workloads as `bench.py` runs through
//! the Python package, on the engine's Rust API, so the two can be compared.
//!
//! `annal-python-bench WORKLOAD DIR EVENTS` runs one round in the fresh directory `DIR`
//! and prints `events_per_s` (workloads: `durable`, `batch`, `read`).

use std::time::Instant;

use annal::{Direction, Durability, EventStore, ExpectedRevision, NewEvent, Options};

/// Bytes of each event's data, the same in `bench.py`.
const DATA_BYTES: usize = 100;
/// Events per append in the `batch` workload, the same in `bench.py`.
const BATCH_EVENTS: usize = 1000;

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
/// iterator does, touching each event's revision and data length.
fn read(store: &EventStore, events: usize) -> annal::Result<f64> {
    let page = 512;
    let batch: Vec<NewEvent> = (0..BATCH_EVENTS).map(|_| event()).collect();
    for _ in 0..events / BATCH_EVENTS {
        store.append(
            "bench-1",
            ExpectedRevision::Any,
            batch.clone(),
            Durability::Written,
        )?;
    }
    let start = Instant::now();
    let mut seen = 0;
    let mut checksum = 0u64;
    let mut from = 0;
    loop {
        let got = store.read_stream(b"bench-1", from, Direction::Forwards, page)?;
        for e in &got {
            checksum = checksum.wrapping_add(e.revision + e.data.len() as u64);
        }
        seen += got.len();
        match got.last() {
            Some(last) if got.len() == page => from = last.revision + 1,
            _ => break,
        }
    }
    let rate = seen as f64 / start.elapsed().as_secs_f64();
    assert_eq!(seen, events, "checksum {checksum}");
    Ok(rate)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, workload, dir, events] = &args[..] else {
        return Err("usage: annal-python-bench durable|batch|read DIR EVENTS".into());
    };
    let events: usize = events.parse()?;
    let store = EventStore::open(dir, Options::default())?;
    let rate = match workload.as_str() {
        "durable" => durable(&store, events)?,
        "batch" => batch(&store, events)?,
        "read" => read(&store, events)?,
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
