//! The longest appends to an event store as its index grows. One thread appends one
//! 100-byte event to each of `streams` streams, `rounds` times (`Durability::Buffered`,
//! so the disk stays out of it), timing every append; it prints those slower than 10 ms
//! with the number of appends before them. A second thread appends to a stream of its
//! own all the while, and its longest append is what the first one's work made others
//! wait for: the store's lock. Then an explicit `checkpoint()` is timed. The index
//! checkpoint falls due every 1 M events by default:
//!
//! ```text
//! cargo run --release -p annal-benches --example append_stalls -- 1000000 2
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options};
use annal_benches::report::fmt_duration;
use annal_benches::{dirs, BenchResult};

const SLOW: Duration = Duration::from_millis(10);

fn append(store: &EventStore, stream: String) -> BenchResult<Duration> {
    let event = NewEvent::new("Happened", vec![7u8; 100]);
    let before = Instant::now();
    store.append(
        stream,
        ExpectedRevision::Any,
        vec![event],
        Durability::Buffered,
    )?;
    Ok(before.elapsed())
}

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let streams: usize = args.first().map_or(Ok(1_000_000), |s| s.parse())?;
    let rounds: usize = args.get(1).map_or(Ok(2), |s| s.parse())?;
    let dir = dirs::scratch("append-stalls-")?;
    let store = EventStore::open(dir.path(), Options::default())?;
    let names: Vec<String> = (0..streams).map(|i| format!("order-{i}")).collect();
    let done = AtomicBool::new(false);
    let started = Instant::now();
    let (slow, longest, other_longest) = std::thread::scope(|scope| {
        let other = scope.spawn(|| -> BenchResult<Duration> {
            let mut longest = Duration::ZERO;
            while !done.load(Ordering::Relaxed) {
                longest = longest.max(append(&store, "other-1".to_owned())?);
                std::thread::sleep(Duration::from_micros(200));
            }
            Ok(longest)
        });
        let mut slow = Vec::new();
        let mut longest = Duration::ZERO;
        for round in 0..rounds {
            for (i, name) in names.iter().enumerate() {
                let took = append(&store, name.clone())?;
                longest = longest.max(took);
                if took > SLOW {
                    slow.push(format!(
                        "{} after {}",
                        fmt_duration(took),
                        round * streams + i
                    ));
                }
            }
        }
        done.store(true, Ordering::Relaxed);
        let other_longest = other.join().map_err(|_| "the other appender panicked")??;
        BenchResult::Ok((slow, longest, other_longest))
    })?;
    println!(
        "{} appends to {streams} streams in {}; longest {}; over {}: {}; another thread's longest append meanwhile: {}",
        streams * rounds,
        fmt_duration(started.elapsed()),
        fmt_duration(longest),
        fmt_duration(SLOW),
        if slow.is_empty() { "none".to_owned() } else { slow.join(", ") },
        fmt_duration(other_longest),
    );
    let before = Instant::now();
    store.checkpoint()?;
    println!(
        "checkpoint() at {streams} streams: {}",
        fmt_duration(before.elapsed())
    );
    store.close()?;
    Ok(())
}
