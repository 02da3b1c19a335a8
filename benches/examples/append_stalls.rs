//! The longest appends to an event store as its index grows: one thread appends one
//! 100-byte event to each of `streams` streams, `rounds` times (`Durability::Buffered`,
//! so the disk stays out of it), timing every append. It prints the appends slower than
//! 10 ms with the number of appends before them, then how long an explicit
//! `checkpoint()` takes. The index checkpoint falls due every 1 M events by default:
//!
//! ```text
//! cargo run --release -p annal-benches --example append_stalls -- 1000000 2
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options};
use annal_benches::report::fmt_duration;
use annal_benches::{dirs, BenchResult};

const SLOW: Duration = Duration::from_millis(10);

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let streams: usize = args.first().map_or(Ok(1_000_000), |s| s.parse())?;
    let rounds: usize = args.get(1).map_or(Ok(2), |s| s.parse())?;
    let dir = dirs::scratch("append-stalls-")?;
    let store = EventStore::open(dir.path(), Options::default())?;
    let names: Vec<String> = (0..streams).map(|i| format!("order-{i}")).collect();
    let mut slow = Vec::new();
    let mut longest = Duration::ZERO;
    let started = Instant::now();
    for round in 0..rounds {
        for (i, name) in names.iter().enumerate() {
            let event = NewEvent::new("Happened", vec![7u8; 100]);
            let before = Instant::now();
            store.append(
                name.clone(),
                ExpectedRevision::Any,
                vec![event],
                Durability::Buffered,
            )?;
            let took = before.elapsed();
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
    println!(
        "{} appends to {streams} streams in {}; longest {}; over {}: {}",
        streams * rounds,
        fmt_duration(started.elapsed()),
        fmt_duration(longest),
        fmt_duration(SLOW),
        if slow.is_empty() {
            "none".to_owned()
        } else {
            slow.join(", ")
        }
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
