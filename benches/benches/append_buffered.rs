//! Workload 1, buffered append: one thread appends 1 M 100-byte events without waiting
//! for durability, then syncs once. Annal (`Durability::Buffered` + `sync()`) against
//! okaywal (one entry of 1 M chunks, one commit) and a raw reference (the same
//! record-sized bytes through a 1 MiB user-space buffer, `pwrite`, one `fdatasync`).
//!
//! The comparison runs the three in interleaved rounds and reports medians and per-round
//! ratios; the criterion group then measures each one on its own. `ANNAL_BENCH_QUICK=1`
//! shrinks it to 50 k events and two rounds.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use annal_benches::buffered::BufferedSystem;
use annal_benches::probe::Probe;
use annal_benches::report::{fmt_duration, fmt_rate, fmt_ratio, verdict, Report, Table};
use annal_benches::stats::{median, rate};
use annal_benches::{dirs, payload, rotated, BenchResult, Settings, PAYLOAD_BYTES};
use criterion::{SamplingMode, Throughput};

const SYSTEMS: [BufferedSystem; 3] = [
    BufferedSystem::Annal,
    BufferedSystem::OkayWal,
    BufferedSystem::Raw,
];

fn events(settings: &Settings) -> u64 {
    settings.pick(1_000_000, 50_000)
}

fn run_once(system: BufferedSystem, n: u64, payload: &[u8]) -> BenchResult<Duration> {
    let dir = dirs::scratch(&format!("buffered-{}-", system.name()))?;
    system.run(dir.path(), n, payload)
}

fn compare(settings: &Settings) -> BenchResult<()> {
    let n = events(settings);
    let rounds = settings.pick(9, 2);
    let payload = payload(PAYLOAD_BYTES, 1);
    let mut report = Report::new("append_buffered", settings.quick);
    report.line(&format!(
        "{n} appends of {PAYLOAD_BYTES}-byte events on one thread, then one sync; \
         {rounds} interleaved rounds, order rotated each round."
    ));
    report.line("");
    let mut probe = Probe::new(settings.pick(200, 30), Duration::from_millis(400))?;
    let before = probe.measure()?;

    let mut rates: HashMap<BufferedSystem, Vec<f64>> = HashMap::new();
    let mut ratios: HashMap<BufferedSystem, Vec<f64>> = HashMap::new();
    for round in 0..rounds {
        let mut this_round = HashMap::new();
        for system in rotated(&SYSTEMS, round) {
            let elapsed = run_once(system, n, &payload)?;
            let per_sec = rate(n, elapsed);
            println!(
                "round {round} {:>8}: {} ({})",
                system.name(),
                fmt_rate(per_sec),
                fmt_duration(elapsed)
            );
            this_round.insert(system, per_sec);
            rates.entry(system).or_default().push(per_sec);
        }
        for system in SYSTEMS {
            ratios
                .entry(system)
                .or_default()
                .push(this_round[&BufferedSystem::Annal] / this_round[&system]);
        }
    }
    let after = probe.measure()?;

    let mut table = Table::new(&[
        "system",
        "median events/s",
        "min",
        "max",
        "annal ÷ system (median of rounds)",
    ]);
    for system in SYSTEMS {
        let r = &rates[&system];
        let min = r.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.iter().copied().fold(0.0, f64::max);
        table.row(vec![
            system.name().to_owned(),
            fmt_rate(median(r)),
            fmt_rate(min),
            fmt_rate(max),
            fmt_ratio(median(&ratios[&system])),
        ]);
    }
    report.table(&table);
    report.line(&format!(
        "fdatasync latency (100-byte pwrite, preallocated file), median: before {}, after {}.",
        fmt_duration(before.median),
        fmt_duration(after.median)
    ));
    report.line("");
    let vs_okaywal = median(&ratios[&BufferedSystem::OkayWal]);
    let vs_raw = median(&ratios[&BufferedSystem::Raw]);
    let mut targets = Table::new(&["target", "measured", "verdict"]);
    targets.row(vec![
        "annal ≥ 1.5× okaywal".to_owned(),
        fmt_ratio(vs_okaywal),
        verdict(vs_okaywal >= 1.5).to_owned(),
    ]);
    targets.row(vec![
        "annal ≥ 0.8× raw".to_owned(),
        fmt_ratio(vs_raw),
        verdict(vs_raw >= 0.8).to_owned(),
    ]);
    report.table(&targets);
    report.save()?;
    Ok(())
}

fn criterion_groups(settings: &Settings) {
    let mut c = common::criterion(settings);
    let n = events(settings);
    let payload = payload(PAYLOAD_BYTES, 1);
    let mut group = c.benchmark_group("append_buffered");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(n));
    for system in SYSTEMS {
        group.bench_function(system.name(), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| run_once(system, n, &payload).expect("buffered run"))
                    .sum()
            })
        });
    }
    group.finish();
    c.final_summary();
}

fn main() {
    annal_benches::run_bench("append_buffered", compare, criterion_groups);
}
