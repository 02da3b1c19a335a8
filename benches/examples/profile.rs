//! A single workload on a single system, for profiling (`perf record`, `strace -c`):
//!
//! ```text
//! cargo run --release -p annal-benches --example profile -- durable annal 5000 [threads]
//! cargo run --release -p annal-benches --example profile -- buffered annal 1000000
//! cargo run --release -p annal-benches --example profile -- read annal 10000000 [passes]
//! cargo run --release -p annal-benches --example profile -- streams annal 10000 [passes]
//! ```
//!
//! Systems: durable: annal, annal-store, okaywal, sqlite, fjall, raw-growing, raw-prealloc, raw-group;
//! buffered: annal, annal-store, annal-store-slice, annal-store-handle, annal-store-sized, okaywal, raw; read: annal, annal-batch100, raw; streams (n streams of
//! 100 events interleaved, then 1 000 random streams read whole per pass): annal, fjall,
//! sqlite.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use annal::{Log, Options};
use annal_benches::buffered::BufferedSystem;
use annal_benches::closed_loop::{self, Stop};
use annal_benches::peers::System;
use annal_benches::read::{read_annal, read_raw, write_annal, write_raw, BATCH_EVENTS};
use annal_benches::report::{fmt_duration, fmt_rate};
use annal_benches::stats::rate;
use annal_benches::streams::{
    load_annal, load_fjall, load_sqlite, random_streams, read_streams, stream_name, Layout,
    StreamReader, StreamSystem,
};
use annal_benches::{dirs, payload, BenchResult, PAYLOAD_BYTES};

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workload = args.first().map_or("durable", String::as_str);
    let system = args.get(1).map_or("annal", String::as_str);
    let n: u64 = args.get(2).map_or(Ok(5_000), |s| s.parse())?;
    let threads: usize = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let payload = payload(PAYLOAD_BYTES, 9);
    let dir = dirs::scratch("profile-")?;
    match workload {
        "durable" => {
            let system = [
                System::Annal,
                System::AnnalStore,
                System::OkayWal,
                System::Sqlite,
                System::Fjall,
                System::RawGrowing,
                System::RawPreallocated,
                System::RawGroup,
            ]
            .into_iter()
            .find(|s| s.name() == system)
            .ok_or("unknown durable system")?;
            let store = system.open(dir.path())?;
            let stats = closed_loop::run(store.as_ref(), threads, Stop::Ops(n), &payload)?;
            println!(
                "{} {} threads: {} p50 {} p99 {} syncs {:?}",
                system.name(),
                threads,
                fmt_rate(stats.ops_per_sec()),
                fmt_duration(stats.p50()),
                fmt_duration(stats.p99()),
                stats.syncs
            );
            store.close()?;
        }
        "buffered" => {
            let system = [
                BufferedSystem::Annal,
                BufferedSystem::AnnalStore,
                BufferedSystem::AnnalStoreSlice,
                BufferedSystem::AnnalStoreHandle,
                BufferedSystem::AnnalStoreSized,
                BufferedSystem::OkayWal,
                BufferedSystem::Raw,
            ]
            .into_iter()
            .find(|s| s.name() == system)
            .ok_or("unknown buffered system")?;
            let elapsed = system.run(dir.path(), n, &payload)?;
            println!(
                "{}: {} ({})",
                system.name(),
                fmt_rate(rate(n, elapsed)),
                fmt_duration(elapsed)
            );
        }
        "read" => {
            let started;
            let count = match system {
                "raw" => {
                    let path = dir.path().join("raw.log");
                    write_raw(&path, n, &payload)?;
                    started = Instant::now();
                    read_raw(&path)?.0
                }
                "annal" | "annal-batch100" => {
                    let per_append = if system == "annal" { 1 } else { BATCH_EVENTS };
                    write_annal(dir.path(), n, per_append, &payload)?;
                    let log = Log::open(dir.path(), Options::default())?;
                    started = Instant::now();
                    let mut count = 0;
                    for _ in 0..threads.max(1) {
                        count += read_annal(&log)?.0;
                    }
                    count
                }
                _ => return Err("unknown reader".into()),
            };
            let elapsed = started.elapsed();
            println!(
                "{system}: {} ({count} events)",
                fmt_rate(rate(count, elapsed))
            );
        }
        "streams" => {
            let system = [
                StreamSystem::Annal,
                StreamSystem::Fjall,
                StreamSystem::Sqlite,
            ]
            .into_iter()
            .find(|s| s.name() == system)
            .ok_or("unknown stream system")?;
            let layout = Layout::uniform(n as usize, 100);
            match system {
                StreamSystem::Annal => load_annal(dir.path(), &layout, &payload, |_, _| {})?,
                StreamSystem::Fjall => load_fjall(dir.path(), &layout, &payload)?,
                StreamSystem::Sqlite => load_sqlite(dir.path(), &layout, &payload)?,
            };
            let reader = StreamReader::open(system, dir.path())?;
            for pass in 0..threads.max(1) {
                let names: Vec<String> = random_streams(layout.long, 1_000, pass as u64 + 1)
                    .into_iter()
                    .map(stream_name)
                    .collect();
                let run = read_streams(&reader, &names, layout.rounds)?;
                println!(
                    "{} pass {pass}: {}",
                    system.name(),
                    fmt_rate(rate(run.events, run.elapsed))
                );
            }
            reader.close()?;
        }
        _ => return Err("workload: durable, buffered, read or streams".into()),
    }
    Ok(())
}
