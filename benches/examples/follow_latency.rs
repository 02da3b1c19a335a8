//! How long a read-only follower takes to deliver what a writer appends: a writer
//! appends `Written` events at a fixed rate, each stamped with its send time; a follower
//! (`Log::open_read_only` on the same directory) delivers them through a subscription,
//! and the delivery latency of each is recorded. Also prints the CPU time the follower's
//! polling thread used, against the run's wall time.
//!
//! ```text
//! cargo run --release -p annal-benches --example follow_latency -- [rate per s] [seconds]
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use annal::{Durability, Log, Options, Start, SubscriptionOptions, Visibility};
use annal_benches::report::fmt_duration;
use annal_benches::stats::percentile;
use annal_benches::{dirs, BenchResult};

/// CPU time (user + system) of this process's thread named `name`, from /proc.
fn thread_cpu(name: &str) -> Option<Duration> {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = task.path();
        // A thread that ended since the listing has no files left: skip it.
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.trim() != name {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
        return Some(Duration::from_secs_f64(ticks / ticks_per_second));
    }
    None
}

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rate: u64 = args.first().map_or(Ok(10_000), |s| s.parse())?;
    let seconds: f64 = args.get(1).map_or(Ok(5.0), |s| s.parse())?;
    let dir = dirs::scratch("follow-latency-")?;
    let writer = Log::open(dir.path(), Options::default())?;
    writer.append(b"first", Durability::Synced)?;
    let follower = Log::open_read_only(dir.path(), Options::default())?;
    let origin = Instant::now();
    let cpu_before = thread_cpu("annal-follower");
    let total = (rate as f64 * seconds) as u64;
    let mut latencies = Vec::with_capacity(total as usize);
    for visibility in [Visibility::Written, Visibility::Synced] {
        latencies.clear();
        let mut subscription = follower.subscribe_with(
            Start::End,
            SubscriptionOptions::default().visibility(visibility),
        )?;
        let started = Instant::now();
        std::thread::scope(|scope| -> BenchResult<()> {
            scope.spawn(|| {
                let interval = Duration::from_secs_f64(1.0 / rate as f64);
                for i in 0..total {
                    let due = started + interval * i as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let stamp = origin.elapsed().as_nanos() as u64;
                    // A `Synced` append every 64: what a `Synced` subscription waits for.
                    let durability = if i % 64 == 63 {
                        Durability::Synced
                    } else {
                        Durability::Written
                    };
                    writer.append(&stamp.to_le_bytes(), durability).unwrap();
                }
                writer.sync().unwrap();
                // One more record: the follower learns the last ones were synced from it.
                writer.append(b"end", Durability::Synced).unwrap();
            });
            while (latencies.len() as u64) < total {
                let Some(event) = subscription.next(Duration::from_secs(10))? else {
                    return Err("the follower delivered nothing for 10 s".into());
                };
                if event.payload.len() != 8 {
                    continue;
                }
                let stamp = u64::from_le_bytes(event.payload[..8].try_into().unwrap());
                let now = origin.elapsed().as_nanos() as u64;
                latencies.push(Duration::from_nanos(now.saturating_sub(stamp)));
            }
            Ok(())
        })?;
        latencies.sort_unstable();
        println!(
            "{visibility:?}: {} events at {rate}/s: p50 {} p99 {} p99.9 {} max {}",
            latencies.len(),
            fmt_duration(percentile(&latencies, 50.0)),
            fmt_duration(percentile(&latencies, 99.0)),
            fmt_duration(percentile(&latencies, 99.9)),
            fmt_duration(*latencies.last().unwrap()),
        );
    }
    let wall = origin.elapsed();
    match (cpu_before, thread_cpu("annal-follower")) {
        (Some(before), Some(after)) => println!(
            "follower thread CPU: {:.2} % of one core over {:.1} s",
            (after - before).as_secs_f64() / wall.as_secs_f64() * 100.0,
            wall.as_secs_f64()
        ),
        _ => println!("follower thread CPU: not found in /proc"),
    }
    follower.close()?;
    writer.close()?;
    Ok(())
}
