//! Workload 2, durable append: every append waits until it survives power loss.
//!
//! One writer: Annal (`Durability::Synced`) against raw `pwrite`+`fdatasync` per event on
//! a growing file and on a preallocated file, okaywal (commit per event), SQLite (WAL,
//! `synchronous=FULL`, one insert per transaction) and fjall (`PersistMode::SyncData` per
//! write).
//!
//! Closed loop: 8, 64 and 256 threads each append and wait, again and again (Annal,
//! okaywal, SQLite, and raw-group: `pwrite` into a zero-filled file plus a textbook group
//! commit, what the machine gives a group commit with nothing else in the way). Reported: events/s, p50/p99 latency, fdatasyncs/s (Annal's
//! `metrics().group_syncs`), and the closed-loop ceiling `threads ÷ fdatasync latency`,
//! with the fdatasync latency of a 100-byte pwrite on a preallocated file probed right
//! before and right after each cell.
//!
//! The disk's fdatasync latency changes within seconds, so the comparison interleaves
//! finely: every store stays open and gets many short slices, in rotating order, with the
//! probe in between; a system's figure is its total events over its total measured time,
//! and ratios are between those totals (with their range over blocks of rounds). The
//! criterion groups then measure each system on its own. `ANNAL_BENCH_QUICK=1` shortens
//! slices and rounds.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use annal_benches::closed_loop::{self, Stop, Tally};
use annal_benches::peers::{DurableLog, System};
use annal_benches::probe::Probe;
use annal_benches::report::{fmt_duration, fmt_rate, fmt_ratio, verdict, Report, Table};
use annal_benches::stats::{percentile, rate};
use annal_benches::wake_probe;
use annal_benches::{dirs, payload, rotated, BenchResult, Settings, PAYLOAD_BYTES};
use criterion::{BenchmarkId, SamplingMode, Throughput};
use tempfile::TempDir;

const ONE_WRITER: [System; 6] = [
    System::Annal,
    System::RawGrowing,
    System::RawPreallocated,
    System::OkayWal,
    System::Sqlite,
    System::Fjall,
];
const PEERS: [System; 3] = [System::OkayWal, System::Sqlite, System::Fjall];
const CLOSED_LOOP: [System; 4] = [
    System::Annal,
    System::OkayWal,
    System::Sqlite,
    System::RawGroup,
];
const THREADS: [usize; 3] = [8, 64, 256];

/// A store kept open for a whole section, so its slices interleave with the others'.
struct OpenStore {
    system: System,
    store: Box<dyn DurableLog>,
    _dir: TempDir,
}

fn open_all(
    systems: &[System],
    threads: usize,
    warm_up: Duration,
    payload: &[u8],
) -> BenchResult<Vec<OpenStore>> {
    systems
        .iter()
        .map(|&system| {
            let dir = dirs::scratch(&format!("durable-{}-", system.name()))?;
            let store = system.open(dir.path())?;
            closed_loop::run(store.as_ref(), threads, Stop::After(warm_up), payload)?;
            Ok(OpenStore {
                system,
                store,
                _dir: dir,
            })
        })
        .collect()
}

fn close_all(stores: Vec<OpenStore>) -> BenchResult<()> {
    for open in stores {
        open.store.close()?;
    }
    Ok(())
}

/// Throughput of `system` over rounds `rounds` (total events ÷ total time).
fn block_rate(per_round: &[HashMap<System, (u64, Duration)>], system: System) -> f64 {
    let (ops, time) = per_round
        .iter()
        .filter_map(|round| round.get(&system))
        .fold((0u64, Duration::ZERO), |(o, t), (ops, time)| {
            (o + ops, t + *time)
        });
    rate(ops, time)
}

fn mean(samples: &[Duration]) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.iter().sum::<Duration>() / samples.len() as u32
}

fn range(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!("{}–{}", fmt_ratio(min), fmt_ratio(max))
}

fn one_writer(settings: &Settings, report: &mut Report, probe: &mut Probe) -> BenchResult<()> {
    let rounds = settings.pick(40, 4);
    let block = settings.pick(10, 2);
    let slice = settings.pick(Duration::from_millis(150), Duration::from_millis(40));
    let warm_up = settings.pick(Duration::from_millis(200), Duration::from_millis(20));
    let payload = payload(PAYLOAD_BYTES, 2);
    report.line("## One durable writer");
    report.line("");
    report.line(&format!(
        "One thread, one {PAYLOAD_BYTES}-byte event per durable append. All six stores stay \
         open; {rounds} rounds each give every store a {} slice (order rotated) and probe \
         fdatasync latency once. Events/s = all events ÷ all measured time; ratios are \
         between those totals, with the range over blocks of {block} rounds.",
        fmt_duration(slice)
    ));
    report.line("");
    let stores = open_all(&ONE_WRITER, 1, warm_up, &payload)?;
    let mut tallies: HashMap<System, Tally> = HashMap::new();
    let mut per_round = Vec::new();
    let mut probe_samples = Vec::new();
    for round in 0..rounds {
        probe_samples.extend(probe.measure()?.samples);
        let mut this_round = HashMap::new();
        for open in rotated(&stores.iter().collect::<Vec<_>>(), round) {
            let stats = closed_loop::run(open.store.as_ref(), 1, Stop::After(slice), &payload)?;
            tallies.entry(open.system).or_default().add(&stats);
            this_round.insert(open.system, (stats.ops, stats.elapsed));
        }
        let line: Vec<String> = ONE_WRITER
            .iter()
            .map(|s| format!("{} {}", s.name(), this_round[s].0))
            .collect();
        println!("round {round}: events {}", line.join(", "));
        per_round.push(this_round);
    }
    close_all(stores)?;
    probe_samples.sort_unstable();

    let blocks: Vec<&[HashMap<System, (u64, Duration)>]> = per_round.chunks(block).collect();
    let mut table = Table::new(&[
        "system",
        "events/s",
        "p50",
        "p99",
        "annal ÷ system",
        "range over blocks",
    ]);
    let annal_rate = tallies[&System::Annal].ops_per_sec();
    for system in ONE_WRITER {
        let tally = tallies.entry(system).or_default();
        tally.finish();
        let block_ratios: Vec<f64> = blocks
            .iter()
            .map(|b| block_rate(b, System::Annal) / block_rate(b, system))
            .collect();
        table.row(vec![
            system.name().to_owned(),
            fmt_rate(tally.ops_per_sec()),
            fmt_duration(tally.p50()),
            fmt_duration(tally.p99()),
            fmt_ratio(annal_rate / tally.ops_per_sec()),
            range(&block_ratios),
        ]);
    }
    report.table(&table);
    report.line(&format!(
        "fdatasync latency in this section ({} probe syncs, 100-byte pwrite into a \
         preallocated file): median {}, mean {}, p90 {}.",
        probe_samples.len(),
        fmt_duration(percentile(&probe_samples, 50.0)),
        fmt_duration(mean(&probe_samples)),
        fmt_duration(percentile(&probe_samples, 90.0)),
    ));
    report.line("");
    let fastest = PEERS
        .iter()
        .copied()
        .max_by(|a, b| {
            tallies[a]
                .ops_per_sec()
                .total_cmp(&tallies[b].ops_per_sec())
        })
        .unwrap_or(System::OkayWal);
    let ratio = annal_rate / tallies[&fastest].ops_per_sec();
    let mut targets = Table::new(&["target", "measured", "verdict"]);
    targets.row(vec![
        "1 thread: annal ≥ fastest peer (okaywal, SQLite, fjall)".to_owned(),
        format!("{} of {} (the fastest)", fmt_ratio(ratio), fastest.name()),
        verdict(ratio >= 1.0).to_owned(),
    ]);
    report.table(&targets);
    Ok(())
}

fn closed_loops(settings: &Settings, report: &mut Report, probe: &mut Probe) -> BenchResult<()> {
    let rounds = settings.pick(12, 2);
    let block = settings.pick(4, 1);
    let slice = settings.pick(Duration::from_millis(400), Duration::from_millis(100));
    let warm_up = settings.pick(Duration::from_millis(300), Duration::from_millis(50));
    let wake_slice = settings.pick(Duration::from_millis(50), Duration::from_millis(10));
    let payload = payload(PAYLOAD_BYTES, 3);
    report.line("## Closed loop");
    report.line("");
    report.line(&format!(
        "Each thread appends one {PAYLOAD_BYTES}-byte event durably and waits, in a loop. \
         Per thread count, the four stores stay open (raw-group: `pwrite` into a zero-filled \
         file and a textbook leader/condition-variable group commit, nothing else); \
         {rounds} rounds each give every store \
         a {} slice (order rotated) with an fdatasync probe before and after every slice. \
         A slice's ceiling = threads ÷ the median fdatasync latency of the probes right \
         before and after it; a system's ceiling is the time-weighted mean of its slices' \
         ceilings, and \"÷ ceiling\" is its events over the events its slices' ceilings \
         allow. Ratios are between totals, with the range over blocks of {block} rounds.",
        fmt_duration(slice)
    ));
    report.line("");
    let mut targets = Table::new(&["target", "measured", "verdict"]);
    for threads in THREADS {
        let stores = open_all(&CLOSED_LOOP, threads, warm_up, &payload)?;
        let mut tallies: HashMap<System, Tally> = HashMap::new();
        let mut per_round = Vec::new();
        let mut probe_samples: Vec<Duration> = Vec::new();
        let mut ceiling_events: HashMap<System, Vec<f64>> = HashMap::new();
        let mut wake_rounds = Vec::new();
        for round in 0..rounds {
            wake_rounds.push(wake_probe::measure(threads, wake_slice)?.round);
            let mut before = probe.measure()?.samples;
            probe_samples.extend_from_slice(&before);
            let mut this_round = HashMap::new();
            for open in rotated(&stores.iter().collect::<Vec<_>>(), round) {
                let stats =
                    closed_loop::run(open.store.as_ref(), threads, Stop::After(slice), &payload)?;
                let after = probe.measure()?.samples;
                probe_samples.extend_from_slice(&after);
                let mut around: Vec<Duration> = before.iter().chain(&after).copied().collect();
                around.sort_unstable();
                let slice_ceiling = threads as f64 / percentile(&around, 50.0).as_secs_f64();
                before = after;
                ceiling_events
                    .entry(open.system)
                    .or_default()
                    .push(slice_ceiling * stats.elapsed.as_secs_f64());
                println!(
                    "{threads:>3} threads round {round} {:>8}: {} p50 {} p99 {} syncs/s {} \
                     ceiling {}",
                    open.system.name(),
                    fmt_rate(stats.ops_per_sec()),
                    fmt_duration(stats.p50()),
                    fmt_duration(stats.p99()),
                    stats
                        .syncs_per_sec()
                        .map_or_else(|| "n/a".to_owned(), |s| format!("{s:.0}")),
                    fmt_rate(slice_ceiling),
                );
                tallies.entry(open.system).or_default().add(&stats);
                this_round.insert(open.system, (stats.ops, stats.elapsed));
            }
            per_round.push(this_round);
        }
        close_all(stores)?;
        probe_samples.sort_unstable();
        let blocks: Vec<&[HashMap<System, (u64, Duration)>]> = per_round.chunks(block).collect();
        let sync = percentile(&probe_samples, 50.0);
        let wake_round = mean(&wake_rounds);
        // The share of the ceiling a design that waits for every thread before each sync
        // could reach (cycle = fdatasync + wake round), and what waking alone allows.
        let cohort_bound = sync.as_secs_f64() / (sync + wake_round).as_secs_f64();
        let scheduler_bound = sync.as_secs_f64() / wake_round.as_secs_f64();
        report.line(&format!(
            "### {threads} threads (fdatasync probe: {} syncs, median {}, mean {}, p90 {})",
            probe_samples.len(),
            fmt_duration(sync),
            fmt_duration(mean(&probe_samples)),
            fmt_duration(percentile(&probe_samples, 90.0)),
        ));
        report.line("");
        report.line(&format!(
            "Wake-up probe (no I/O; `wake_probe`): unparking {threads} parked threads and having \
             each check in takes {} a round (wake-ups at {}). A full cohort per fdatasync \
             therefore reaches at most {} of the ceiling (fdatasync ÷ (fdatasync + round)); \
             waking alone allows {} of it (fdatasync ÷ round).",
            fmt_duration(wake_round),
            fmt_rate(threads as f64 / wake_round.as_secs_f64()),
            fmt_ratio(cohort_bound),
            fmt_ratio(scheduler_bound),
        ));
        report.line("");
        let mut table = Table::new(&[
            "system",
            "events/s",
            "p50",
            "p99",
            "fdatasyncs/s",
            "events per fdatasync",
            "ceiling",
            "÷ ceiling (range over blocks)",
            "annal ÷ system (range)",
        ]);
        let annal_rate = tallies[&System::Annal].ops_per_sec();
        let mut vs_ceiling = HashMap::new();
        let mut vs_system = HashMap::new();
        for system in CLOSED_LOOP {
            let tally = tallies.entry(system).or_default();
            tally.finish();
            // Slices of a system are in round order: one per round.
            let allowed = &ceiling_events[&system];
            let ceiling_ratios: Vec<f64> = blocks
                .iter()
                .zip(allowed.chunks(block))
                .map(|(b, a)| {
                    let ops: u64 = b.iter().filter_map(|r| r.get(&system)).map(|r| r.0).sum();
                    ops as f64 / a.iter().sum::<f64>()
                })
                .collect();
            let ceiling = allowed.iter().sum::<f64>() / tally.elapsed.as_secs_f64();
            let annal_ratios: Vec<f64> = blocks
                .iter()
                .map(|b| block_rate(b, System::Annal) / block_rate(b, system))
                .collect();
            let over_ceiling = tally.ops_per_sec() / ceiling;
            let annal_over = annal_rate / tally.ops_per_sec();
            vs_ceiling.insert(system, over_ceiling);
            vs_system.insert(system, annal_over);
            table.row(vec![
                system.name().to_owned(),
                fmt_rate(tally.ops_per_sec()),
                fmt_duration(tally.p50()),
                fmt_duration(tally.p99()),
                tally
                    .syncs_per_sec()
                    .map_or_else(|| "n/a".to_owned(), |s| format!("{s:.0}")),
                tally.syncs.filter(|&s| s > 0).map_or_else(
                    || "n/a".to_owned(),
                    |s| format!("{:.1}", tally.ops as f64 / s as f64),
                ),
                fmt_rate(ceiling),
                format!("{} ({})", fmt_ratio(over_ceiling), range(&ceiling_ratios)),
                format!("{} ({})", fmt_ratio(annal_over), range(&annal_ratios)),
            ]);
        }
        report.table(&table);
        if threads <= 64 {
            let ratio = vs_ceiling[&System::Annal];
            targets.row(vec![
                format!("{threads} threads: annal ≥ 0.8× closed-loop ceiling"),
                format!(
                    "{} (wake-up bounds: full cohort {}, waking alone {})",
                    fmt_ratio(ratio),
                    fmt_ratio(cohort_bound),
                    fmt_ratio(scheduler_bound)
                ),
                verdict(ratio >= 0.8).to_owned(),
            ]);
        }
        if threads >= 64 {
            let ratio = vs_system[&System::OkayWal];
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
        settings.pick(20, 10),
        settings.pick(Duration::from_millis(60), Duration::from_millis(20)),
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
    let mut c = common::criterion(settings);
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
    annal_benches::run_bench("append_durable", compare, criterion_groups);
}
