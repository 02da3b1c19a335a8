//! Streams: Annal's `EventStore` against fjall and SQLite keyed by (stream, revision).
//!
//! 1. **Stream reads.** 10 000 streams × 100 events written interleaved (100-byte data),
//!    every store closed and reopened, then all events of 1 000 random streams read back,
//!    in interleaved rounds: events/s and the latency of each 100-event stream read.
//! 2. **At scale.** The same reads (1 000 random 100-event streams) on a log of 1 M
//!    streams: 10 000 streams of 100 events and 990 000 of 10, interleaved (10.9 M
//!    events; 100 M events do not fit this machine's time budget). Also the index's
//!    resident memory per stream and per event (`EventStore::index_memory`, and RssAnon
//!    from `/proc/self/status`), and the time to open the store from its checkpoint.
//! 3. **Conditional appends.** One event per append round-robin over 1 000 streams,
//!    `Exact(revision the writer holds)` against `Any`, at `Written` and at `Synced`.
//! 4. **Open after a crash.** Logs of growing size, each with a checkpoint followed by a
//!    fixed tail of events, dropped without `close`; opening time with
//!    `OpenChecks::AllSegments` and `OpenChecks::LastSegment`, and (for contrast) without
//!    a checkpoint.
//!
//! `ANNAL_BENCH_QUICK=1` (or `--test`) shrinks every size so the whole run takes seconds.
//! `ANNAL_BENCH_PARTS` picks some of `reads` (parts 1 and 2), `appends`, `open`;
//! `ANNAL_BENCH_LARGE=1` adds a 42 M-event (about 10 GB) log to part 4.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use annal::Revision;
use annal::{Durability, EventStore, ExpectedRevision, NewEvent, OpenChecks, Options};
use annal_benches::report::{fmt_duration, fmt_rate, fmt_ratio, verdict, Report, Table};
use annal_benches::stats::{median, percentile, rate};
use annal_benches::streams::{
    load_annal, load_fjall, load_sqlite, random_streams, read_streams, resident_bytes, stream_name,
    Layout, ReadRun, StreamReader, StreamSystem, EVENT_TYPE,
};
use annal_benches::{
    dirs, env_flag, part_selected, payload, rotated, BenchResult, Settings, PAYLOAD_BYTES,
};
use criterion::{SamplingMode, Throughput};
use tempfile::TempDir;

const SYSTEMS: [StreamSystem; 3] = [
    StreamSystem::Annal,
    StreamSystem::Fjall,
    StreamSystem::Sqlite,
];

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / f64::from(1 << 20))
}

fn median_duration(values: &[Duration]) -> Duration {
    Duration::from_secs_f64(median(
        &values.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
    ))
}

/// Per-round figures of one reader.
#[derive(Default)]
struct ReadFigures {
    rates: Vec<f64>,
    p50: Vec<Duration>,
    p99: Vec<Duration>,
}

impl ReadFigures {
    fn add(&mut self, run: &ReadRun) -> f64 {
        let r = rate(run.events, run.elapsed);
        self.rates.push(r);
        self.p50.push(percentile(&run.latencies, 50.0));
        self.p99.push(percentile(&run.latencies, 99.0));
        r
    }
}

// ---------------------------------------------------------------------------------------
// 1. Stream reads against the peers.
// ---------------------------------------------------------------------------------------

struct PeerDatasets {
    layout: Layout,
    _dirs: Vec<TempDir>,
    readers: Vec<(StreamSystem, StreamReader)>,
}

fn peer_datasets(settings: &Settings, report: &mut Report) -> BenchResult<PeerDatasets> {
    let layout = Layout::uniform(settings.pick(10_000, 1_000), settings.pick(100, 20));
    let data = payload(PAYLOAD_BYTES, 11);
    let mut dirs_kept = Vec::new();
    let mut readers = Vec::new();
    let mut notes = Table::new(&["system", "load (untimed in the comparison)", "reopen"]);
    for system in SYSTEMS {
        let dir = dirs::scratch(&format!("streams-{}-", system.name()))?;
        let took = match system {
            StreamSystem::Annal => load_annal(dir.path(), &layout, &data, |_, _| {})?,
            StreamSystem::Fjall => load_fjall(dir.path(), &layout, &data)?,
            StreamSystem::Sqlite => load_sqlite(dir.path(), &layout, &data)?,
        };
        let started = Instant::now();
        let reader = StreamReader::open(system, dir.path())?;
        let reopen = started.elapsed();
        notes.row(vec![
            system.name().to_owned(),
            format!(
                "{} ({})",
                fmt_duration(took),
                fmt_rate(rate(layout.events(), took))
            ),
            fmt_duration(reopen),
        ]);
        readers.push((system, reader));
        dirs_kept.push(dir);
    }
    report.line(&format!(
        "Loading {} streams × {} events ({} events), one event per write:",
        layout.long,
        layout.rounds,
        layout.events()
    ));
    report.line("");
    report.table(&notes);
    Ok(PeerDatasets {
        layout,
        _dirs: dirs_kept,
        readers,
    })
}

fn stream_reads(settings: &Settings, report: &mut Report, data: &PeerDatasets) -> BenchResult<()> {
    let rounds = settings.pick(5, 2);
    let reads = settings.pick(1_000, 200);
    let mut figures: HashMap<StreamSystem, ReadFigures> = HashMap::new();
    let mut vs_fjall: HashMap<StreamSystem, Vec<f64>> = HashMap::new();
    for round in 0..rounds {
        let names: Vec<String> = random_streams(data.layout.long, reads, round as u64 + 1)
            .into_iter()
            .map(stream_name)
            .collect();
        let mut this_round = HashMap::new();
        for (system, reader) in rotated(&data.readers.iter().collect::<Vec<_>>(), round) {
            let run = read_streams(reader, &names, data.layout.rounds)?;
            let r = figures.entry(*system).or_default().add(&run);
            println!(
                "round {round} {:>7}: {} p99 {}",
                system.name(),
                fmt_rate(r),
                fmt_duration(percentile(&run.latencies, 99.0))
            );
            this_round.insert(*system, r);
        }
        for system in SYSTEMS {
            let ratio = this_round[&system] / this_round[&StreamSystem::Fjall];
            vs_fjall.entry(system).or_default().push(ratio);
        }
    }
    report.line(&format!(
        "Reading all {} events of {reads} random streams, {rounds} interleaved rounds (warm \
         page cache):",
        data.layout.rounds
    ));
    report.line("");
    let mut table = Table::new(&[
        "system",
        "median events/s",
        "÷ fjall (median of rounds)",
        "p50 per stream read",
        "p99 per stream read",
    ]);
    for system in SYSTEMS {
        let f = &figures[&system];
        table.row(vec![
            system.name().to_owned(),
            fmt_rate(median(&f.rates)),
            fmt_ratio(median(&vs_fjall[&system])),
            fmt_duration(median_duration(&f.p50)),
            fmt_duration(median_duration(&f.p99)),
        ]);
    }
    report.table(&table);
    let ratio = median(&vs_fjall[&StreamSystem::Annal]);
    let mut targets = Table::new(&["target", "measured", "verdict"]);
    targets.row(vec![
        "stream reads ≥ 2 × fjall".to_owned(),
        fmt_ratio(ratio),
        verdict(ratio >= 2.0).to_owned(),
    ]);
    report.table(&targets);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 2. At scale: 1 M streams; memory.
// ---------------------------------------------------------------------------------------

struct MemorySample {
    events: u64,
    streams: usize,
    heap: usize,
    rss: u64,
    anon: u64,
}

fn sample(store: &EventStore, events: u64) -> MemorySample {
    let memory = store.index_memory();
    let (heap, streams) = (memory.heap_bytes, memory.streams);
    let (rss, anon) = resident_bytes();
    MemorySample {
        events,
        streams,
        heap,
        rss,
        anon,
    }
}

/// The 1 M-stream log, read in rounds interleaved with the 10 000-stream Annal store of
/// section 1 (`small`, whose streams have as many events as the long streams here).
fn at_scale(
    settings: &Settings,
    report: &mut Report,
    small: (&StreamReader, &Layout),
) -> BenchResult<()> {
    let layout = Layout {
        long: settings.pick(10_000, 1_000),
        rounds: settings.pick(100, 20),
        short: settings.pick(990_000, 19_000),
        short_events: settings.pick(10, 2),
    };
    let data = payload(PAYLOAD_BYTES, 12);
    let dir = dirs::scratch("streams-scale-")?;
    // Every stream has its first event once the short streams' first slice pass is over.
    let every = layout.rounds / layout.short_events;
    let all_streams_at = layout.long as u64 * every + layout.short as u64;
    let (_, anon_before) = resident_bytes();
    let mut samples = Vec::new();
    let took = load_annal(dir.path(), &layout, &data, |store, written| {
        if written == all_streams_at || written == layout.events() {
            samples.push(sample(store, written));
        }
    })?;
    let started = Instant::now();
    let reader = StreamReader::open(StreamSystem::Annal, dir.path())?;
    let reopen = started.elapsed();
    let StreamReader::Annal(store) = &reader else {
        unreachable!()
    };
    let reopened = sample(store, layout.events());
    let rounds = settings.pick(5, 2);
    let reads = settings.pick(1_000, 200);
    let mut figures = ReadFigures::default();
    let mut small_figures = ReadFigures::default();
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let names: Vec<String> = random_streams(layout.long, reads, 100 + round as u64)
            .into_iter()
            .map(stream_name)
            .collect();
        let small_names: Vec<String> = random_streams(small.1.long, reads, 200 + round as u64)
            .into_iter()
            .map(stream_name)
            .collect();
        let (mut big_rate, mut small_rate) = (0.0, 0.0);
        for big in rotated(&[true, false], round) {
            if big {
                big_rate = figures.add(&read_streams(&reader, &names, layout.rounds)?);
            } else {
                small_rate =
                    small_figures.add(&read_streams(small.0, &small_names, small.1.rounds)?);
            }
        }
        println!(
            "scale round {round}: {} vs {}",
            fmt_rate(big_rate),
            fmt_rate(small_rate)
        );
        ratios.push(big_rate / small_rate);
    }
    reader.close()?;
    let log_bytes = dir_bytes(dir.path())?;
    drop(dir);

    report.line(&format!(
        "A log of {} streams: {} of {} events and {} of {} (interleaved; {} events, {:.1} GB of \
         segments). Scaled down from 1 M streams × 100 events (100 M events, about 23 GB and \
         10 minutes of loading) to fit this machine's disk and time budget. Loading took {} ({}); \
         opening from the index checkpoint took {}.",
        layout.streams(),
        layout.long,
        layout.rounds,
        layout.short,
        layout.short_events,
        layout.events(),
        log_bytes as f64 / 1e9,
        fmt_duration(took),
        fmt_rate(rate(layout.events(), took)),
        fmt_duration(reopen),
    ));
    report.line("");
    let big_rate = median(&figures.rates);
    let small_rate = median(&small_figures.rates);
    let ratio = median(&ratios);
    let mut table = Table::new(&[
        "log",
        "median events/s",
        "p50 per stream read",
        "p99 per stream read",
    ]);
    for (streams, events, f) in [
        (small.1.streams(), small.1.events(), &small_figures),
        (layout.streams(), layout.events(), &figures),
    ] {
        table.row(vec![
            format!("{streams} streams, {events} events"),
            fmt_rate(median(&f.rates)),
            fmt_duration(median_duration(&f.p50)),
            fmt_duration(median_duration(&f.p99)),
        ]);
    }
    report.table(&table);
    let mut targets = Table::new(&["target", "measured", "verdict"]);
    targets.row(vec![
        "read rate at 1 M streams within 20 % of the 10 000-stream log's (median of \
         per-round ratios)"
            .to_owned(),
        format!(
            "{} ({} vs {})",
            fmt_ratio(ratio),
            fmt_rate(big_rate),
            fmt_rate(small_rate)
        ),
        verdict(ratio >= 0.8).to_owned(),
    ]);
    report.table(&targets);

    // Memory: a two-point fit between "every stream has its first event" and the end.
    let (first, last) = (&samples[0], &samples[1]);
    let heap_per_event =
        (last.heap as f64 - first.heap as f64) / (last.events - first.events) as f64;
    let heap_per_stream =
        (first.heap as f64 - heap_per_event * first.events as f64) / first.streams as f64;
    let anon_per_event =
        (last.anon as f64 - first.anon as f64) / (last.events - first.events) as f64;
    let anon_per_stream =
        (first.anon as f64 - anon_before as f64 - anon_per_event * first.events as f64)
            / first.streams as f64;
    report.line("Resident index memory:");
    report.line("");
    let mut table = Table::new(&[
        "point",
        "streams",
        "events",
        "index heap (index_memory)",
        "RssAnon",
        "VmRSS (incl. mapped segments)",
    ]);
    table.row(vec![
        "before opening".to_owned(),
        "0".to_owned(),
        "0".to_owned(),
        "—".to_owned(),
        mib(anon_before as f64),
        "—".to_owned(),
    ]);
    for (point, s) in [
        ("every stream written once", first),
        ("loaded", last),
        ("reopened from the checkpoint", &reopened),
    ] {
        table.row(vec![
            point.to_owned(),
            s.streams.to_string(),
            s.events.to_string(),
            mib(s.heap as f64),
            mib(s.anon as f64),
            mib(s.rss as f64),
        ]);
    }
    report.table(&table);
    let mut table = Table::new(&["measure", "per stream", "per event"]);
    table.row(vec![
        "index heap (two-point fit)".to_owned(),
        format!("{heap_per_stream:.0} B"),
        format!("{heap_per_event:.1} B"),
    ]);
    table.row(vec![
        "RssAnon (two-point fit)".to_owned(),
        format!("{anon_per_stream:.0} B"),
        format!("{anon_per_event:.1} B"),
    ]);
    table.row(vec![
        "index heap ÷ streams, ÷ events at the end".to_owned(),
        format!("{:.0} B", last.heap as f64 / last.streams as f64),
        format!("{:.1} B", last.heap as f64 / last.events as f64),
    ]);
    report.table(&table);
    Ok(())
}

fn dir_bytes(dir: &Path) -> BenchResult<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().ends_with(".log") {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------
// 3. Exact against Any.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Condition {
    Any,
    Exact,
}

const APPEND_STREAMS: usize = 1_000;

/// Appends `n` events, one per append, round-robin over `APPEND_STREAMS` streams not
/// written before (named after `run`), and returns appends per second.
fn append_run(
    store: &EventStore,
    run: usize,
    condition: Condition,
    durability: Durability,
    n: u64,
    data: &[u8],
) -> BenchResult<f64> {
    let names: Vec<String> = (0..APPEND_STREAMS)
        .map(|s| stream_name(run * APPEND_STREAMS + s))
        .collect();
    let mut revisions: Vec<Option<u64>> = vec![None; APPEND_STREAMS];
    let started = Instant::now();
    for i in 0..n as usize {
        let s = i % APPEND_STREAMS;
        let expected = match condition {
            Condition::Any => ExpectedRevision::Any,
            Condition::Exact => revisions[s].map_or(ExpectedRevision::NoStream, |r| {
                ExpectedRevision::Exact(Revision(r))
            }),
        };
        let written = store.append(
            names[s].clone(),
            expected,
            vec![NewEvent::new(EVENT_TYPE, data.to_vec())],
            durability,
        )?;
        revisions[s] = Some(written.last_revision.0);
    }
    Ok(rate(n, started.elapsed()))
}

fn conditional_appends(settings: &Settings, report: &mut Report) -> BenchResult<()> {
    let data = payload(PAYLOAD_BYTES, 13);
    let rounds = settings.pick(5, 2);
    report.line(&format!(
        "One event per append, round-robin over {APPEND_STREAMS} streams, one thread; `Exact` \
         uses the revision the writer got back from its previous append. {rounds} interleaved \
         rounds in one store per durability, each run on streams not written before."
    ));
    report.line("");
    let mut table = Table::new(&[
        "durability",
        "appends",
        "Any",
        "Exact",
        "Exact ÷ Any (median of rounds)",
    ]);
    let mut targets = Table::new(&["target", "measured", "verdict"]);
    for (durability, n) in [
        (Durability::Written, settings.pick(200_000, 10_000)),
        (Durability::Synced, settings.pick(500, 50)),
    ] {
        // One store for every run of this durability, so both conditions meet the same
        // segment rolls and background preparation; each run writes new streams.
        let dir = dirs::scratch("streams-append-")?;
        let store = EventStore::open(dir.path(), Options::default())?;
        let mut rates: HashMap<Condition, Vec<f64>> = HashMap::new();
        let mut ratios = Vec::new();
        let mut run = 0;
        for round in 0..rounds {
            let mut this_round = HashMap::new();
            for condition in rotated(&[Condition::Any, Condition::Exact], round) {
                run += 1;
                let r = append_run(&store, run, condition, durability, n, &data)?;
                println!(
                    "append {durability:?} {condition:?} round {round}: {}",
                    fmt_rate(r)
                );
                rates.entry(condition).or_default().push(r);
                this_round.insert(condition, r);
            }
            ratios.push(this_round[&Condition::Exact] / this_round[&Condition::Any]);
        }
        store.close()?;
        drop(dir);
        let ratio = median(&ratios);
        table.row(vec![
            format!("{durability:?}"),
            n.to_string(),
            fmt_rate(median(&rates[&Condition::Any])),
            fmt_rate(median(&rates[&Condition::Exact])),
            fmt_ratio(ratio),
        ]);
        targets.row(vec![
            format!("Exact within 20 % of Any ({durability:?})"),
            fmt_ratio(ratio),
            verdict(ratio >= 0.8).to_owned(),
        ]);
    }
    report.table(&table);
    report.table(&targets);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 4. Open time after a crash.
// ---------------------------------------------------------------------------------------

fn timed_open(dir: &Path, checks: OpenChecks) -> BenchResult<Duration> {
    let started = Instant::now();
    let store = EventStore::open(dir, Options::default().open_checks(checks))?;
    let took = started.elapsed();
    drop(store);
    Ok(took)
}

fn append_until(store: &EventStore, target: u64, data: &[u8], names: &[String]) -> BenchResult<()> {
    let mut i = store.log_next_position().0 as usize;
    while store.log_next_position().0 < target {
        store.append(
            names[i % names.len()].clone(),
            ExpectedRevision::Any,
            vec![NewEvent::new(EVENT_TYPE, data.to_vec())],
            Durability::Written,
        )?;
        i += 1;
    }
    Ok(())
}

fn open_after_crash(settings: &Settings, report: &mut Report) -> BenchResult<()> {
    let mut sizes: Vec<u64> = settings.pick(
        vec![1_000_000, 2_000_000, 4_000_000, 8_000_000],
        vec![10_000, 20_000, 40_000],
    );
    if !settings.quick && env_flag("ANNAL_BENCH_LARGE") {
        // The 10 GB log: about 240 bytes per event.
        sizes.push(42_000_000);
    }
    let tail = settings.pick(100_000, 5_000);
    let repeats = settings.pick(5, 1);
    let data = payload(PAYLOAD_BYTES, 14);
    let names: Vec<String> = (0..10_000).map(stream_name).collect();
    let dir = dirs::scratch("streams-open-")?;
    let checkpoint = dir.path().join("streams.idx");
    report.line(&format!(
        "Each log: N events with an index checkpoint after them, then {tail} more events, then \
         the store dropped without `close` (a process crash: no final checkpoint). Open time is \
         the median of {repeats} opens (page cache warm). \"No checkpoint\" removes `streams.idx` \
         first: the index is rebuilt from the whole log."
    ));
    report.line("");
    let mut table = Table::new(&[
        "events (checkpoint + tail)",
        "segments on disk",
        "open, AllSegments",
        "open, LastSegment",
        "no checkpoint, LastSegment",
    ]);
    let mut last_segment_opens = Vec::new();
    for &size in &sizes {
        let store = EventStore::open(dir.path(), Options::default())?;
        append_until(&store, size, &data, &names)?;
        store.checkpoint()?;
        append_until(&store, size + tail, &data, &names)?;
        drop(store);
        let mut all = Vec::new();
        let mut last = Vec::new();
        for _ in 0..repeats {
            all.push(timed_open(dir.path(), OpenChecks::AllSegments)?);
            last.push(timed_open(dir.path(), OpenChecks::LastSegment)?);
        }
        let saved = std::fs::read(&checkpoint)?;
        std::fs::remove_file(&checkpoint)?;
        let rebuild = timed_open(dir.path(), OpenChecks::LastSegment)?;
        std::fs::write(&checkpoint, saved)?;
        let (all, last) = (median_duration(&all), median_duration(&last));
        println!(
            "open at {size}: all {} last {} rebuild {}",
            fmt_duration(all),
            fmt_duration(last),
            fmt_duration(rebuild)
        );
        last_segment_opens.push(last);
        table.row(vec![
            format!("{size} + {tail}"),
            format!("{:.2} GB", dir_bytes(dir.path())? as f64 / 1e9),
            fmt_duration(all),
            fmt_duration(last),
            fmt_duration(rebuild),
        ]);
    }
    report.table(&table);
    let (smallest, largest) = (
        last_segment_opens[0],
        last_segment_opens[last_segment_opens.len() - 1],
    );
    let growth = largest.as_secs_f64() / smallest.as_secs_f64();
    let mut targets = Table::new(&["target", "measured", "verdict"]);
    targets.row(vec![
        format!(
            "open time (LastSegment) not growing with the log: largest ÷ smallest ≤ 1.5 while the log grows {}×",
            sizes[sizes.len() - 1] / sizes[0]
        ),
        fmt_ratio(growth),
        verdict(growth <= 1.5).to_owned(),
    ]);
    targets.row(vec![
        "open after a crash under one second plus the tail".to_owned(),
        fmt_duration(largest),
        verdict(largest < Duration::from_secs(1)).to_owned(),
    ]);
    report.table(&targets);
    Ok(())
}

// ---------------------------------------------------------------------------------------

fn criterion_groups(settings: &Settings, data: &PeerDatasets) {
    let mut c = common::criterion(settings);
    let mut group = c.benchmark_group("streams/read_one_stream");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(data.layout.rounds));
    let names: Vec<String> = random_streams(data.layout.long, 512, 99)
        .into_iter()
        .map(stream_name)
        .collect();
    for (system, reader) in &data.readers {
        let mut next = 0usize;
        group.bench_function(system.name(), |b| {
            b.iter(|| {
                next = (next + 1) % names.len();
                reader.read(&names[next]).expect("read")
            })
        });
    }
    group.finish();
    c.final_summary();
}

fn run(settings: &Settings) -> BenchResult<()> {
    let mut report = Report::new("streams", settings.quick);
    if part_selected("reads") {
        report.line("## 1. Stream reads against fjall and SQLite");
        report.line("");
        let data = peer_datasets(settings, &mut report)?;
        if settings.compare {
            stream_reads(settings, &mut report, &data)?;
        }
        if settings.criterion {
            criterion_groups(settings, &data);
        }
        if settings.compare {
            report.line("## 2. Stream reads and index memory at 1 M streams");
            report.line("");
            let (_, annal) = data
                .readers
                .iter()
                .find(|(system, _)| *system == StreamSystem::Annal)
                .expect("annal is measured");
            at_scale(settings, &mut report, (annal, &data.layout))?;
        }
        for (_, reader) in data.readers {
            reader.close()?;
        }
    }
    if !settings.compare {
        return Ok(());
    }
    if part_selected("appends") {
        report.line("## 3. Conditional (Exact) against unconditional (Any) appends");
        report.line("");
        conditional_appends(settings, &mut report)?;
    }
    if part_selected("open") {
        report.line("## 4. Open time after a crash");
        report.line("");
        open_after_crash(settings, &mut report)?;
    }
    report.save()?;
    Ok(())
}

fn main() {
    let settings = Settings::from_env();
    if settings.list || (!settings.compare && !settings.criterion) {
        return;
    }
    if let Err(e) = run(&settings) {
        eprintln!("streams benchmark failed: {e}");
        std::process::exit(1);
    }
}
