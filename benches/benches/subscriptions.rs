//! Subscriptions: what live subscriptions cost the writer, how fast an event reaches a
//! subscription, and how fast a subscription catches up.
//!
//! 1. **Writer throughput with 0, 1, 2, 4 and 8 live subscriptions.** One thread appends
//!    n 100-byte events at `Durability::Buffered` (no sync: the append path only) while
//!    N subscriptions (`Visibility::Written`, one thread each) follow the tail and touch
//!    every payload. Interleaved rounds, rotated order; reported: median writer rate and
//!    the median over rounds of (rate with N) ÷ (rate with 0) measured in the same
//!    round, and when the last subscription had every event. Target: 1 subscription ≥
//!    0.9 × the writer alone.
//! 2. **End-to-end latency at 100 k events/s.** A paced writer appends one event at a
//!    time (each carrying the time just before its append) at 100 k events/s on
//!    average; one subscription records delivery time − append time. `Written`: the
//!    writer appends `Written`. `Synced`: the writer appends `Written` and a second
//!    thread calls `sync()` in a loop (group commit), so an event is delivered once an
//!    fdatasync covers it. Percentiles over every event after the first 10 %.
//! 3. **Catch-up rate over 10 M events.** A log of 10 M events written once (untimed,
//!    page cache warm), then read by a subscription from the start with `next_batch`,
//!    touching each payload; next to a plain `LogReader` over the same log.
//!
//! `ANNAL_BENCH_QUICK=1` (or `--test`) shrinks every size; `ANNAL_BENCH_PARTS=latency`
//! (comma-separated: `throughput`, `latency`, `catch-up`) runs only some. The report goes to
//! `target/annal-bench/subscriptions.md`.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use annal::{Durability, Log, Options, Position, Start, SubscriptionOptions, Visibility};
use annal_benches::record::touch;
use annal_benches::report::{fmt_duration, fmt_rate, fmt_ratio, verdict, Report, Table};
use annal_benches::stats::{median, percentile, rate};
use annal_benches::{dirs, part_selected, payload, rotated, BenchResult, Settings, PAYLOAD_BYTES};
use criterion::{SamplingMode, Throughput};

const SUBSCRIPTION_COUNTS: [usize; 5] = [0, 1, 2, 4, 8];
/// Most events one `next_batch` call returns.
const BATCH_MAX: usize = 1024;
/// Guards every blocking call against a hang; never part of a measurement.
const HANG_GUARD: Duration = Duration::from_secs(120);
const LATENCY_RATE_PER_SEC: u64 = 100_000;

fn written() -> SubscriptionOptions {
    SubscriptionOptions::default().visibility(Visibility::Written)
}

/// What one run of the throughput workload measured.
struct FanOut {
    writer: Duration,
    /// From the first append to the moment the last subscription had every event.
    delivered: Duration,
}

/// Appends `n` events with `subscriptions` live subscriptions following the log.
fn fan_out(subscriptions: usize, n: u64, payload: &[u8]) -> BenchResult<FanOut> {
    let dir = dirs::scratch("subscriptions-fanout-")?;
    let log = Arc::new(Log::open(dir.path(), Options::default())?);
    let start = Arc::new(Barrier::new(subscriptions + 1));
    let readers: Vec<_> = (0..subscriptions)
        .map(|_| {
            let mut subscription = log.subscribe_with(Start::Beginning, written())?;
            let start = Arc::clone(&start);
            Ok(std::thread::spawn(
                move || -> BenchResult<(Instant, u64)> {
                    start.wait();
                    let mut batch = Vec::with_capacity(BATCH_MAX);
                    let mut acc = 0u64;
                    let mut seen = 0u64;
                    while seen < n {
                        batch.clear();
                        seen += subscription.next_batch(BATCH_MAX, &mut batch, HANG_GUARD)? as u64;
                        for event in &batch {
                            acc = touch(acc, &event.payload);
                        }
                    }
                    Ok((Instant::now(), acc))
                },
            ))
        })
        .collect::<BenchResult<_>>()?;
    start.wait();
    let began = Instant::now();
    for _ in 0..n {
        log.append(payload, Durability::Buffered)?;
    }
    // Buffered appends reach readers when written: write the last ones.
    log.flush()?;
    let writer = began.elapsed();
    let mut last = began + writer;
    for reader in readers {
        let (done, acc) = reader.join().map_err(|_| "a subscription panicked")??;
        std::hint::black_box(acc);
        last = last.max(done);
    }
    Ok(FanOut {
        writer,
        delivered: last - began,
    })
}

fn throughput(settings: &Settings, report: &mut Report) -> BenchResult<f64> {
    // Within the first 64 MiB segment (466 k such records): no roll, so no seal
    // fdatasync, in the measurement.
    let n = settings.pick(400_000, 50_000);
    let rounds = settings.pick(15, 2);
    let payload = payload(PAYLOAD_BYTES, 1);
    report.line(&format!(
        "## Writer throughput with live subscriptions\n\n{n} Buffered appends of \
         {PAYLOAD_BYTES}-byte events on one thread; N subscriptions (Written) follow on \
         their own threads, touching every payload; all in the first segment, after the \
         spare segment was prepared (no roll, no fdatasync). {rounds} interleaved rounds, \
         order rotated. Machine: {} cores.",
        std::thread::available_parallelism().map_or(0, |p| p.get())
    ));
    report.line("");
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); SUBSCRIPTION_COUNTS.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); SUBSCRIPTION_COUNTS.len()];
    let mut delivered: Vec<Vec<f64>> = vec![Vec::new(); SUBSCRIPTION_COUNTS.len()];
    let order: Vec<usize> = (0..SUBSCRIPTION_COUNTS.len()).collect();
    for round in 0..rounds {
        let mut this_round = vec![0.0; SUBSCRIPTION_COUNTS.len()];
        for k in rotated(&order, round) {
            let count = SUBSCRIPTION_COUNTS[k];
            let run = fan_out(count, n, &payload)?;
            let per_sec = rate(n, run.writer);
            println!(
                "round {round} {count} subscriptions: writer {} ({}), all delivered after {}",
                fmt_rate(per_sec),
                fmt_duration(run.writer),
                fmt_duration(run.delivered)
            );
            this_round[k] = per_sec;
            rates[k].push(per_sec);
            delivered[k].push(run.delivered.as_secs_f64());
        }
        for k in 0..SUBSCRIPTION_COUNTS.len() {
            ratios[k].push(this_round[k] / this_round[0]);
        }
    }
    let mut table = Table::new(&[
        "live subscriptions",
        "writer events/s (median)",
        "min",
        "max",
        "÷ writer alone (median of rounds)",
        "last event delivered after (median)",
    ]);
    for (k, count) in SUBSCRIPTION_COUNTS.iter().enumerate() {
        let r = &rates[k];
        table.row(vec![
            count.to_string(),
            fmt_rate(median(r)),
            fmt_rate(r.iter().copied().fold(f64::INFINITY, f64::min)),
            fmt_rate(r.iter().copied().fold(0.0, f64::max)),
            fmt_ratio(median(&ratios[k])),
            fmt_duration(Duration::from_secs_f64(median(&delivered[k]))),
        ]);
    }
    report.table(&table);
    Ok(median(&ratios[1]))
}

/// Latency samples of one paced run.
struct Paced {
    samples: Vec<Duration>,
    achieved_per_sec: f64,
}

/// Appends `n` stamped events at `LATENCY_RATE_PER_SEC` while one subscription with
/// `visibility` records each event's delivery latency.
fn paced(visibility: Visibility, n: u64) -> BenchResult<Paced> {
    let dir = dirs::scratch("subscriptions-latency-")?;
    let log = Arc::new(Log::open(dir.path(), Options::default())?);
    let base = Instant::now();
    let mut subscription = log.subscribe_with(
        Start::Beginning,
        SubscriptionOptions::default().visibility(visibility),
    )?;
    let reader = std::thread::spawn(move || -> BenchResult<Vec<Duration>> {
        let mut samples = Vec::with_capacity(n as usize);
        let mut batch = Vec::with_capacity(BATCH_MAX);
        while (samples.len() as u64) < n {
            batch.clear();
            subscription.next_batch(BATCH_MAX, &mut batch, HANG_GUARD)?;
            let now = base.elapsed();
            for event in &batch {
                let stamp = u64::from_le_bytes(event.payload[..8].try_into()?);
                samples.push(now.saturating_sub(Duration::from_nanos(stamp)));
            }
        }
        Ok(samples)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let syncer = (visibility == Visibility::Synced).then(|| {
        let log = Arc::clone(&log);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || -> BenchResult<()> {
            while !stop.load(Ordering::Relaxed) {
                if log.last_written() == log.last_synced() {
                    std::thread::sleep(Duration::from_micros(20));
                }
                log.sync()?;
            }
            Ok(())
        })
    });
    let mut event = payload(PAYLOAD_BYTES, 2);
    let began = Instant::now();
    let interval_ns = 1_000_000_000 / LATENCY_RATE_PER_SEC;
    let mut appended = 0u64;
    while appended < n {
        let due = (began.elapsed().as_nanos() as u64 / interval_ns + 1).min(n);
        if appended >= due {
            std::thread::sleep(Duration::from_micros(5));
            continue;
        }
        while appended < due {
            let stamp = base.elapsed().as_nanos() as u64;
            event[..8].copy_from_slice(&stamp.to_le_bytes());
            log.append(&event, Durability::Written)?;
            appended += 1;
        }
    }
    let achieved_per_sec = rate(n, began.elapsed());
    let mut samples = reader.join().map_err(|_| "the subscription panicked")??;
    stop.store(true, Ordering::Relaxed);
    if let Some(syncer) = syncer {
        syncer.join().map_err(|_| "the syncer panicked")??;
    }
    samples.drain(..samples.len() / 10);
    Ok(Paced {
        samples,
        achieved_per_sec,
    })
}

fn latency(settings: &Settings, report: &mut Report) -> BenchResult<()> {
    let seconds = settings.pick(5, 1);
    let rounds = settings.pick(3, 1);
    let n = LATENCY_RATE_PER_SEC * seconds;
    report.line(&format!(
        "## End-to-end latency at {} events/s\n\n{n} events per run ({seconds} s), one \
         event per append, {rounds} rounds per visibility, the first 10 % of each run \
         dropped; Synced runs have a thread calling `sync()` in a loop.",
        fmt_rate(LATENCY_RATE_PER_SEC as f64)
    ));
    report.line("");
    let mut table = Table::new(&["visibility", "achieved rate", "p50", "p99", "p99.9", "max"]);
    for visibility in [Visibility::Written, Visibility::Synced] {
        let mut samples = Vec::new();
        let mut rates = Vec::new();
        for _ in 0..rounds {
            let run = paced(visibility, n)?;
            rates.push(run.achieved_per_sec);
            samples.extend(run.samples);
        }
        samples.sort_unstable();
        let row = vec![
            format!("{visibility:?}"),
            fmt_rate(median(&rates)),
            fmt_duration(percentile(&samples, 50.0)),
            fmt_duration(percentile(&samples, 99.0)),
            fmt_duration(percentile(&samples, 99.9)),
            fmt_duration(percentile(&samples, 100.0)),
        ];
        println!("{visibility:?}: {row:?}");
        table.row(row);
    }
    report.table(&table);
    Ok(())
}

fn catch_up(settings: &Settings, report: &mut Report) -> BenchResult<()> {
    let n = settings.pick(10_000_000, 500_000);
    let rounds = settings.pick(3, 1);
    let payload = payload(PAYLOAD_BYTES, 3);
    let dir = dirs::scratch("subscriptions-catch-up-")?;
    {
        let log = Log::open(dir.path(), Options::default())?;
        let batch: Vec<&[u8]> = vec![payload.as_slice(); 100];
        for _ in 0..n / 100 {
            log.append_batch(&batch, Durability::Buffered)?;
        }
        log.close()?;
    }
    report.line(&format!(
        "## Catch-up\n\nA log of {n} {PAYLOAD_BYTES}-byte events (100 per record), \
         written once, page cache warm; read from position 0 touching every payload. \
         {rounds} rounds, median."
    ));
    report.line("");
    let log = Log::open(dir.path(), Options::default())?;
    let mut subscription_rates = Vec::new();
    let mut reader_rates = Vec::new();
    for _ in 0..rounds {
        let began = Instant::now();
        let mut subscription = log.subscribe(Start::Beginning)?;
        let mut batch = Vec::with_capacity(BATCH_MAX);
        let mut seen = 0u64;
        let mut acc = 0u64;
        while seen < n {
            batch.clear();
            seen += subscription.next_batch(BATCH_MAX, &mut batch, HANG_GUARD)? as u64;
            for event in &batch {
                acc = touch(acc, &event.payload);
            }
        }
        subscription_rates.push(rate(n, began.elapsed()));
        let began = Instant::now();
        let mut count = 0u64;
        for event in log.read_from(Position(0))? {
            acc = touch(acc, &event?.payload);
            count += 1;
        }
        reader_rates.push(rate(count, began.elapsed()));
        std::hint::black_box(acc);
    }
    let mut table = Table::new(&["reader", "events/s (median)"]);
    table.row(vec![
        "subscription, next_batch(1024)".into(),
        fmt_rate(median(&subscription_rates)),
    ]);
    table.row(vec![
        "LogReader (reference)".into(),
        fmt_rate(median(&reader_rates)),
    ]);
    report.table(&table);
    Ok(())
}

fn compare(settings: &Settings) -> BenchResult<()> {
    let mut report = Report::new("subscriptions", settings.quick);
    let one_vs_alone = if part_selected("throughput") {
        Some(throughput(settings, &mut report)?)
    } else {
        None
    };
    if part_selected("latency") {
        latency(settings, &mut report)?;
    }
    if part_selected("catch-up") {
        catch_up(settings, &mut report)?;
    }
    if let Some(one_vs_alone) = one_vs_alone {
        let mut targets = Table::new(&["target", "measured", "verdict"]);
        targets.row(vec![
            "writer with 1 subscription ≥ 0.9× writer alone".to_owned(),
            fmt_ratio(one_vs_alone),
            verdict(one_vs_alone >= 0.9).to_owned(),
        ]);
        report.table(&targets);
    }
    report.save()?;
    Ok(())
}

fn criterion_groups(settings: &Settings) {
    let mut c = common::criterion(settings);
    let n = settings.pick(200_000, 20_000);
    let payload = payload(PAYLOAD_BYTES, 1);
    let mut group = c.benchmark_group("subscriptions_writer");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(n));
    for count in [0usize, 1] {
        group.bench_function(format!("{count}_subscriptions"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| fan_out(count, n, &payload).expect("fan-out run").writer)
                    .sum()
            })
        });
    }
    group.finish();
    c.final_summary();
}

fn main() {
    annal_benches::run_bench("subscriptions", compare, criterion_groups);
}
