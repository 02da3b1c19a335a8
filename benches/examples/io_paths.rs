//! io_uring against pwrite for Annal's durable appends, interleaved round by round:
//!
//! ```text
//! cargo run --release -p annal-benches --example io_paths -- [rounds] [slice_ms]
//! ```
//!
//! Cases: closed loops of 100-byte `Synced` appends at 1, 8, 64 and 256 threads, and one
//! thread appending `Synced` batches of 1 MiB (10 485 events of 100 bytes). Each case
//! keeps one log per path open for the whole run (`IoPath::IoUring`, `IoPath::Pwrite`);
//! every round gives each path one slice of `slice_ms` (default 500), the order
//! alternating from round to round, and measures fdatasync latency (the probe: a 100-byte
//! `pwrite` + `fdatasync` into a preallocated file) once. Reported: medians over rounds
//! of throughput and of the per-round p50 / p99 / p99.9, and the median of the per-round
//! ratios io_uring ÷ pwrite with their range (default 9 rounds).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use annal::{Durability, IoPath, Log, Options};
use annal_benches::closed_loop::{self, Stop};
use annal_benches::peers::DurableLog;
use annal_benches::probe::Probe;
use annal_benches::report::{fmt_duration, fmt_rate};
use annal_benches::stats::{median, percentile};
use annal_benches::{dirs, payload, BenchResult, PAYLOAD_BYTES};

/// Events in a 1 MiB batch of 100-byte events.
const MIB_BATCH_EVENTS: usize = (1 << 20) / PAYLOAD_BYTES;

/// One log on one path, appending `batch` copies of the payload per call.
struct PathLog {
    log: Log,
    batch: usize,
}

impl DurableLog for PathLog {
    fn append_synced(&self, payload: &[u8]) -> BenchResult<()> {
        if self.batch == 1 {
            self.log.append(payload, Durability::Synced)?;
        } else {
            let events = vec![payload; self.batch];
            self.log.append_batch(&events, Durability::Synced)?;
        }
        Ok(())
    }

    fn fdatasyncs(&self) -> Option<u64> {
        Some(self.log.metrics().group_syncs)
    }

    fn close(self: Box<Self>) -> BenchResult<()> {
        Ok(self.log.close()?)
    }
}

/// One round's figures for one path in one case.
#[derive(Clone, Copy)]
struct Slice {
    appends_per_sec: f64,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    syncs_per_sec: f64,
}

struct Case {
    name: String,
    threads: usize,
    batch: usize,
}

const PATHS: [IoPath; 2] = [IoPath::IoUring, IoPath::Pwrite];

fn path_name(path: IoPath) -> &'static str {
    match path {
        IoPath::IoUring => "io_uring",
        _ => "pwrite",
    }
}

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args.first().map_or(Ok(9), |s| s.parse())?;
    let slice = Duration::from_millis(args.get(1).map_or(Ok(500), |s| s.parse())?);
    let payload = payload(PAYLOAD_BYTES, 9);
    let mut cases: Vec<Case> = [1, 8, 64, 256]
        .into_iter()
        .map(|threads| Case {
            name: format!(
                "{threads} thread{}, 100 B",
                if threads == 1 { "" } else { "s" }
            ),
            threads,
            batch: 1,
        })
        .collect();
    cases.push(Case {
        name: "1 thread, 1 MiB batches".to_owned(),
        threads: 1,
        batch: MIB_BATCH_EVENTS,
    });
    let mut probe = Probe::new(400, Duration::from_millis(100))?;
    let mut probe_medians = Vec::new();
    let mut scratch = Vec::new();
    // logs[case][path]
    let mut logs: Vec<Vec<Box<dyn DurableLog>>> = Vec::new();
    for case in &cases {
        let mut per_path: Vec<Box<dyn DurableLog>> = Vec::new();
        for path in PATHS {
            let dir = dirs::scratch("io-paths-")?;
            let log = Log::open(dir.path(), Options::default().io_path(path))?;
            assert_eq!(log.io_path(), path);
            per_path.push(Box::new(PathLog {
                log,
                batch: case.batch,
            }));
            scratch.push(dir);
        }
        logs.push(per_path);
    }
    // slices[case][path][round]
    let mut slices: Vec<[Vec<Slice>; 2]> = cases.iter().map(|_| [vec![], vec![]]).collect();
    for round in 0..rounds {
        probe_medians.push(probe.measure()?.median);
        for (c, case) in cases.iter().enumerate() {
            let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for p in order {
                let stats = closed_loop::run(
                    logs[c][p].as_ref(),
                    case.threads,
                    Stop::After(slice),
                    &payload,
                )?;
                slices[c][p].push(Slice {
                    appends_per_sec: stats.ops_per_sec(),
                    p50: stats.p50(),
                    p99: stats.p99(),
                    p999: percentile(&stats.latencies, 99.9),
                    syncs_per_sec: stats.syncs_per_sec().unwrap_or(0.0),
                });
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    for per_path in logs {
        for log in per_path {
            log.close()?;
        }
    }
    let micros = |d: &Duration| d.as_secs_f64() * 1e6;
    let probe_us: Vec<f64> = probe_medians.iter().map(micros).collect();
    println!(
        "{rounds} rounds of {} ms per path and case, order alternating; fdatasync probe \
         (100-byte pwrite + fdatasync, 400 syncs a round): median of round medians {:.0} µs \
         (rounds from {:.0} to {:.0} µs)\n",
        slice.as_millis(),
        median(&probe_us),
        probe_us.iter().cloned().fold(f64::MAX, f64::min),
        probe_us.iter().cloned().fold(0.0, f64::max),
    );
    println!("| case | path | appends/s | events/s | fdatasyncs/s | p50 | p99 | p99.9 | io_uring ÷ pwrite, appends/s (range over rounds) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (c, case) in cases.iter().enumerate() {
        let ratios: Vec<f64> = slices[c][0]
            .iter()
            .zip(&slices[c][1])
            .map(|(u, p)| u.appends_per_sec / p.appends_per_sec)
            .collect();
        for (p, path) in PATHS.into_iter().enumerate() {
            let s = &slices[c][p];
            let med = |f: &dyn Fn(&Slice) -> f64| median(&s.iter().map(f).collect::<Vec<_>>());
            let rate = med(&|x| x.appends_per_sec);
            let ratio = if p == 0 {
                format!(
                    "{:.2}× ({:.2}×–{:.2}×)",
                    median(&ratios),
                    ratios.iter().cloned().fold(f64::MAX, f64::min),
                    ratios.iter().cloned().fold(0.0, f64::max)
                )
            } else {
                "1.00×".to_owned()
            };
            println!(
                "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {ratio} |",
                case.name,
                path_name(path),
                fmt_rate(rate),
                fmt_rate(rate * case.batch as f64),
                med(&|x| x.syncs_per_sec),
                fmt_duration(Duration::from_secs_f64(med(&|x| micros(&x.p50)) / 1e6)),
                fmt_duration(Duration::from_secs_f64(med(&|x| micros(&x.p99)) / 1e6)),
                fmt_duration(Duration::from_secs_f64(med(&|x| micros(&x.p999)) / 1e6)),
            );
        }
    }
    Ok(())
}
