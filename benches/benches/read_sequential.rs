//! Workload 3, sequential read: read N 100-byte events (10 M in full mode, 200 k with
//! `ANNAL_BENCH_QUICK=1`) through `Log::read_from(Position(0))`, touching each payload,
//! against reading a raw file of the same 144-byte records sequentially.
//!
//! Two Annal logs are read: one written by single-event appends (one event per record,
//! the worst case for the reader) and one written by 100-event batches. The datasets are
//! written once, untimed; the readers then run in interleaved rounds with a warm page
//! cache. The criterion group measures each reader on its own afterwards.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use annal::{Log, Options};
use annal_benches::read::{read_annal, read_raw, write_annal, write_raw, ReadSystem, BATCH_EVENTS};
use annal_benches::report::{fmt_duration, fmt_rate, fmt_ratio, verdict, Report, Table};
use annal_benches::stats::{median, rate};
use annal_benches::{dirs, payload, rotated, BenchResult, Settings, PAYLOAD_BYTES};
use criterion::{SamplingMode, Throughput};
use tempfile::TempDir;

const READERS: [ReadSystem; 3] = [ReadSystem::Annal, ReadSystem::AnnalBatched, ReadSystem::Raw];

/// The three datasets, written and (for Annal) reopened.
struct Datasets {
    n: u64,
    _dirs: [TempDir; 3],
    single: Log,
    batched: Log,
    raw: std::path::PathBuf,
    notes: Vec<String>,
}

fn open_timed(dir: &Path, notes: &mut Vec<String>, what: &str) -> BenchResult<Log> {
    let started = Instant::now();
    let log = Log::open(dir, Options::default())?;
    notes.push(format!(
        "reopening the {what} log (recovery scan) took {}",
        fmt_duration(started.elapsed())
    ));
    Ok(log)
}

fn datasets(n: u64) -> BenchResult<Datasets> {
    let payload = payload(PAYLOAD_BYTES, 5);
    let mut notes = Vec::new();
    let single_dir = dirs::scratch("read-annal-")?;
    let took = write_annal(single_dir.path(), n, 1, &payload)?;
    notes.push(format!(
        "writing {n} single-event appends took {} ({})",
        fmt_duration(took),
        fmt_rate(rate(n, took))
    ));
    let batched_dir = dirs::scratch("read-annal-batched-")?;
    write_annal(batched_dir.path(), n, BATCH_EVENTS, &payload)?;
    let raw_dir = dirs::scratch("read-raw-")?;
    let raw = raw_dir.path().join("raw.log");
    write_raw(&raw, n, &payload)?;
    let single = open_timed(single_dir.path(), &mut notes, "single-event")?;
    let batched = open_timed(batched_dir.path(), &mut notes, "100-event-batch")?;
    Ok(Datasets {
        n,
        _dirs: [single_dir, batched_dir, raw_dir],
        single,
        batched,
        raw,
        notes,
    })
}

impl Datasets {
    fn read(&self, reader: ReadSystem) -> BenchResult<Duration> {
        let started = Instant::now();
        let (count, acc) = match reader {
            ReadSystem::Annal => read_annal(&self.single)?,
            ReadSystem::AnnalBatched => read_annal(&self.batched)?,
            ReadSystem::Raw => read_raw(&self.raw)?,
        };
        let elapsed = started.elapsed();
        std::hint::black_box(acc);
        if count != self.n {
            return Err(
                format!("{} read {count} events, expected {}", reader.name(), self.n).into(),
            );
        }
        Ok(elapsed)
    }
}

fn events(settings: &Settings) -> u64 {
    if settings.list {
        return 1_000;
    }
    settings.pick(10_000_000, 200_000)
}

fn compare(settings: &Settings, data: &Datasets) -> BenchResult<()> {
    let rounds = settings.pick(7, 2);
    let mut report = Report::new("read_sequential", settings.quick);
    report.line(&format!(
        "Sequential read of {} {PAYLOAD_BYTES}-byte events from position 0, touching each \
         payload, warm page cache; {rounds} interleaved rounds.",
        data.n
    ));
    report.line("");
    let mut rates: HashMap<ReadSystem, Vec<f64>> = HashMap::new();
    let mut vs_raw: HashMap<ReadSystem, Vec<f64>> = HashMap::new();
    for round in 0..rounds {
        let mut this_round = HashMap::new();
        for reader in rotated(&READERS, round) {
            let elapsed = data.read(reader)?;
            let per_sec = rate(data.n, elapsed);
            println!(
                "round {round} {:>15}: {} ({})",
                reader.name(),
                fmt_rate(per_sec),
                fmt_duration(elapsed)
            );
            this_round.insert(reader, per_sec);
            rates.entry(reader).or_default().push(per_sec);
        }
        for reader in READERS {
            let ratio = this_round[&reader] / this_round[&ReadSystem::Raw];
            vs_raw.entry(reader).or_default().push(ratio);
        }
    }
    let mut table = Table::new(&[
        "reader",
        "median events/s",
        "min",
        "max",
        "÷ raw (median of rounds)",
    ]);
    for reader in READERS {
        let r = &rates[&reader];
        table.row(vec![
            reader.name().to_owned(),
            fmt_rate(median(r)),
            fmt_rate(r.iter().copied().fold(f64::INFINITY, f64::min)),
            fmt_rate(r.iter().copied().fold(0.0, f64::max)),
            fmt_ratio(median(&vs_raw[&reader])),
        ]);
    }
    report.table(&table);
    for note in &data.notes {
        report.line(&format!("- {note}"));
    }
    report.line("");
    let mut targets = Table::new(&["target", "measured", "verdict"]);
    for reader in [ReadSystem::Annal, ReadSystem::AnnalBatched] {
        let m = median(&rates[&reader]);
        targets.row(vec![
            format!("{}: ≥ 20 M events/s", reader.name()),
            fmt_rate(m),
            verdict(m >= 20e6).to_owned(),
        ]);
    }
    report.table(&targets);
    report.save()?;
    Ok(())
}

fn criterion_groups(settings: &Settings, data: &Datasets) {
    let mut c = common::criterion(settings);
    let mut group = c.benchmark_group("read_sequential");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(data.n));
    for reader in READERS {
        group.bench_function(reader.name(), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| data.read(reader).expect("read")).sum())
        });
    }
    group.finish();
    c.final_summary();
}

fn main() {
    let settings = Settings::from_env();
    if !settings.compare && !settings.criterion {
        return;
    }
    let data = match datasets(events(&settings)) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("read_sequential: writing the datasets failed: {e}");
            std::process::exit(1);
        }
    };
    if settings.compare {
        if let Err(e) = compare(&settings, &data) {
            eprintln!("read_sequential comparison failed: {e}");
            std::process::exit(1);
        }
    }
    if settings.criterion {
        criterion_groups(&settings, &data);
    }
}
