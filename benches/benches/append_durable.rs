//! Workload 2, durable append: every append waits until it survives power loss.
//!
//! One writer: Annal (`Durability::Synced`) against raw `pwrite`+`fdatasync` per event on
//! a growing file and on a preallocated file, okaywal (commit per event), SQLite (WAL,
//! `synchronous=FULL`, one insert per transaction) and fjall (`PersistMode::SyncData` per
//! write).
//!
//! Closed loop: 8, 64 and 256 threads each append and wait, again and again (Annal,
//! okaywal, SQLite). Reported: events/s, p50/p99 latency, fdatasyncs/s (Annal's
//! `metrics().group_syncs`), and the closed-loop ceiling `threads ÷ fdatasync latency`,
//! with the fdatasync latency of a 100-byte pwrite on a preallocated file probed right
//! before and right after each cell.
//!
//! Systems run in interleaved rounds (order rotated each round); figures are medians over
//! rounds, ratios are medians of per-round ratios. The criterion groups then measure each
//! system on its own. `ANNAL_BENCH_QUICK=1` shortens cells and rounds.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::time::Duration;

use annal_benches::closed_loop::{self, LoopStats, Stop};
use annal_benches::peers::{DurableLog, System};
use annal_benches::probe::Probe;
use annal_benches::report::{fmt_duration, fmt_rate, fmt_ratio, verdict, Report, Table};
use annal_benches::stats::median;
use annal_benches::{dirs, payload, rotated, BenchResult, Settings, PAYLOAD_BYTES};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};

const ONE_WRITER: [System; 6] = [
    System::Annal,
    System::RawGrowing,
    System::RawPreallocated,
    System::OkayWal,
    System::Sqlite,
    System::Fjall,
];
const PEERS: [System; 3] = [System::OkayWal, System::Sqlite, System::Fjall];
const CLOSED_LOOP: [System; 3] = [System::Annal, System::OkayWal, System::Sqlite];
const THREADS: [usize; 3] = [8, 64, 256];

/// Opens a fresh store, warms it up, runs one measured closed-loop cell, closes it.
fn cell(
    system: System,
    threads: usize,
    warm_up: Duration,
    measure: Duration,
    payload: &[u8],
) -> BenchResult<LoopStats> {
    let dir = dirs::scratch(&format!("durable-{}-", system.name()))?;
    let store = system.open(dir.path())?;
    closed_loop::run(store.as_ref(), threads, Stop::After(warm_up), payload)?;
    let stats = closed_loop::run(store.as_ref(), threads, Stop::After(measure), payload)?;
    store.close()?;
    Ok(stats)
}

#[derive(Default)]
struct Cells {
    rate: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    syncs_per_sec: Vec<f64>,
    ceiling: Vec<f64>,
    vs_ceiling: Vec<f64>,
    annal_over: Vec<f64>,
}

fn secs(values: &[f64]) -> Duration {
    Duration::from_secs_f64(median(values).max(0.0))
}

fn one_writer(settings: &Settings, report: &mut Report, probe: &mut Probe) -> BenchResult<()> {
    let rounds = settings.pick(7, 2);
    let measure = settings.pick(Duration::from_millis(1500), Duration::from_millis(150));
    let warm_up = settings.pick(Duration::from_millis(100), Duration::from_millis(20));
    let payload = payload(PAYLOAD_BYTES, 2);
    report.line("## One durable writer");
    report.line("");
    report.line(&format!(
        "One thread, one {PAYLOAD_BYTES}-byte event per durable append; {rounds} interleaved \
         rounds of {} per system.",
        fmt_duration(measure)
    ));
    report.line("");
    let mut cells: HashMap<System, Cells> = HashMap::new();
    let mut probes = Vec::new();
    let mut vs_fastest_peer = Vec::new();
    for round in 0..rounds {
        probes.push(probe.measure()?.median.as_secs_f64());
        let mut rates = HashMap::new();
        for system in rotated(&ONE_WRITER, round) {
            let stats = cell(system, 1, warm_up, measure, &payload)?;
            println!(
                "round {round} {:>12}: {} p50 {} p99 {}",
                system.name(),
                fmt_rate(stats.ops_per_sec()),
                fmt_duration(stats.p50()),
                fmt_duration(stats.p99())
            );
            let entry = cells.entry(system).or_default();
            entry.rate.push(stats.ops_per_sec());
            entry.p50.push(stats.p50().as_secs_f64());
            entry.p99.push(stats.p99().as_secs_f64());
            rates.insert(system, stats.ops_per_sec());
        }
        probes.push(probe.measure()?.median.as_secs_f64());
        let annal = rates[&System::Annal];
        for system in ONE_WRITER {
            cells
                .entry(system)
                .or_default()
                .annal_over
                .push(annal / rates[&system]);
        }
        let fastest = PEERS.iter().map(|s| rates[s]).fold(0.0, f64::max);
        vs_fastest_peer.push(annal / fastest);
    }
    let mut table = Table::new(&[
        "system",
        "median events/s",
        "p50",
        "p99",
        "annal ÷ system (median of rounds)",
    ]);
    for system in ONE_WRITER {
        let c = &cells[&system];
        table.row(vec![
            system.name().to_owned(),
            fmt_rate(median(&c.rate)),
            fmt_duration(secs(&c.p50)),
            fmt_duration(secs(&c.p99)),
            fmt_ratio(median(&c.annal_over)),
        ]);
    }
    report.table(&table);
    let probe_median = secs(&probes);
    report.line(&format!(
        "fdatasync latency probed in this section (median of {} probes): {}.",
        probes.len(),
        fmt_duration(probe_median)
    ));
    report.line("");
    let ratio = median(&vs_fastest_peer);
    let mut targets = Table::new(&["target", "measured", "verdict"]);
    targets.row(vec![
        "1 thread: annal ≥ fastest peer (okaywal, SQLite, fjall)".to_owned(),
        format!("{} of the fastest peer", fmt_ratio(ratio)),
        verdict(ratio >= 1.0).to_owned(),
    ]);
    report.table(&targets);
    Ok(())
}

fn closed_loops(settings: &Settings, report: &mut Report, probe: &mut Probe) -> BenchResult<()> {
    let rounds = settings.pick(5, 2);
    let measure = settings.pick(Duration::from_secs(2), Duration::from_millis(200));
    let warm_up = settings.pick(Duration::from_millis(200), Duration::from_millis(50));
    let payload = payload(PAYLOAD_BYTES, 3);
    report.line("## Closed loop");
    report.line("");
    report.line(&format!(
        "Each thread appends one {PAYLOAD_BYTES}-byte event durably and waits, in a loop; \
         {rounds} interleaved rounds of {} per system and thread count. Ceiling = threads ÷ \
         fdatasync latency, the latency probed right before and right after each cell.",
        fmt_duration(measure)
    ));
    report.line("");
    let mut targets = Table::new(&["target", "measured", "verdict"]);
    for threads in THREADS {
        let mut cells: HashMap<System, Cells> = HashMap::new();
        let mut probes = Vec::new();
        for round in 0..rounds {
            let mut before = probe.measure()?.median.as_secs_f64();
            probes.push(before);
            let mut rates = HashMap::new();
            for system in rotated(&CLOSED_LOOP, round) {
                let stats = cell(system, threads, warm_up, measure, &payload)?;
                let after = probe.measure()?.median.as_secs_f64();
                probes.push(after);
                let ceiling = threads as f64 / ((before + after) / 2.0);
                before = after;
                println!(
                    "{threads:>3} threads round {round} {:>8}: {} p50 {} p99 {} syncs/s {} \
                     ceiling {} ({})",
                    system.name(),
                    fmt_rate(stats.ops_per_sec()),
                    fmt_duration(stats.p50()),
                    fmt_duration(stats.p99()),
                    stats
                        .syncs_per_sec()
                        .map_or_else(|| "n/a".to_owned(), |s| format!("{s:.0}")),
                    fmt_rate(ceiling),
                    fmt_ratio(stats.ops_per_sec() / ceiling)
                );
                let entry = cells.entry(system).or_default();
                entry.rate.push(stats.ops_per_sec());
                entry.p50.push(stats.p50().as_secs_f64());
                entry.p99.push(stats.p99().as_secs_f64());
                if let Some(s) = stats.syncs_per_sec() {
                    entry.syncs_per_sec.push(s);
                }
                entry.ceiling.push(ceiling);
                entry.vs_ceiling.push(stats.ops_per_sec() / ceiling);
                rates.insert(system, stats.ops_per_sec());
            }
            for system in CLOSED_LOOP {
                let annal_over = rates[&System::Annal] / rates[&system];
                cells.entry(system).or_default().annal_over.push(annal_over);
            }
        }
        report.line(&format!(
            "### {threads} threads (fdatasync latency in this section, median of {} probes: {})",
            probes.len(),
            fmt_duration(secs(&probes))
        ));
        report.line("");
        let mut table = Table::new(&[
            "system",
            "median events/s",
            "p50",
            "p99",
            "fdatasyncs/s",
            "ceiling",
            "÷ ceiling",
            "annal ÷ system",
        ]);
        for system in CLOSED_LOOP {
            let c = &cells[&system];
            table.row(vec![
                system.name().to_owned(),
                fmt_rate(median(&c.rate)),
                fmt_duration(secs(&c.p50)),
                fmt_duration(secs(&c.p99)),
                if c.syncs_per_sec.is_empty() {
                    "n/a".to_owned()
                } else {
                    format!("{:.0}", median(&c.syncs_per_sec))
                },
                fmt_rate(median(&c.ceiling)),
                fmt_ratio(median(&c.vs_ceiling)),
                fmt_ratio(median(&c.annal_over)),
            ]);
        }
        report.table(&table);
        let annal = &cells[&System::Annal];
        if threads <= 64 {
            let ratio = median(&annal.vs_ceiling);
            targets.row(vec![
                format!("{threads} threads: annal ≥ 0.8× closed-loop ceiling"),
                fmt_ratio(ratio),
                verdict(ratio >= 0.8).to_owned(),
            ]);
        }
        if threads >= 64 {
            let ratio = median(&cells[&System::OkayWal].annal_over);
            targets.row(vec![
                format!("{threads} threads: annal ≥ 1.5× okaywal"),
                fmt_ratio(ratio),
                verdict(ratio >= 1.5).to_owned(),
            ]);
        }
    }
    report.table(&targets);
    Ok(())
}

fn compare(settings: &Settings) -> BenchResult<()> {
    let mut report = Report::new("append_durable", settings.quick);
    let mut probe = Probe::new(
        settings.pick(100, 20),
        settings.pick(Duration::from_millis(300), Duration::from_millis(50)),
    )?;
    one_writer(settings, &mut report, &mut probe)?;
    closed_loops(settings, &mut report, &mut probe)?;
    report.save()?;
    Ok(())
}

fn open_store(system: System) -> (tempfile::TempDir, Box<dyn DurableLog>) {
    let dir = dirs::scratch(&format!("criterion-{}-", system.name())).expect("scratch dir");
    let store = system.open(dir.path()).expect("open store");
    (dir, store)
}

fn criterion_groups(settings: &Settings) {
    let cfg = settings.criterion();
    let mut c = Criterion::default()
        .sample_size(cfg.sample_size)
        .warm_up_time(cfg.warm_up)
        .measurement_time(cfg.measurement)
        .configure_from_args();
    let payload = payload(PAYLOAD_BYTES, 4);

    let mut group = c.benchmark_group("append_durable_1t");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(1));
    for system in ONE_WRITER {
        let (_dir, store) = open_store(system);
        group.bench_function(system.name(), |b| {
            b.iter_custom(|iters| {
                closed_loop::run(store.as_ref(), 1, Stop::Ops(iters), &payload)
                    .expect("closed loop")
                    .elapsed
            })
        });
        store.close().expect("close store");
    }
    group.finish();

    // One iteration = one append per thread (`threads` appends in all), so a sample
    // always keeps every thread busy.
    let mut group = c.benchmark_group("append_durable_closed_loop");
    group.sampling_mode(SamplingMode::Flat);
    for threads in THREADS {
        group.throughput(Throughput::Elements(threads as u64));
        for system in CLOSED_LOOP {
            let (_dir, store) = open_store(system);
            group.bench_function(BenchmarkId::new(system.name(), threads), |b| {
                b.iter_custom(|iters| {
                    let ops = Stop::Ops(iters * threads as u64);
                    closed_loop::run(store.as_ref(), threads, ops, &payload)
                        .expect("closed loop")
                        .elapsed
                })
            });
            store.close().expect("close store");
        }
    }
    group.finish();
    c.final_summary();
}

fn main() {
    let settings = Settings::from_env();
    if settings.compare {
        if let Err(e) = compare(&settings) {
            eprintln!("append_durable comparison failed: {e}");
            std::process::exit(1);
        }
    }
    if settings.criterion {
        criterion_groups(&settings);
    }
}
