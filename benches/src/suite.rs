//! The standard workloads of the report (`--bin report`), run against Annal and its peers
//! in one process: buffered append, durable append at several thread counts, sequential
//! read and stream reads. Each workload runs its systems in interleaved rounds (order
//! rotated every round) and keeps every round's figure, so the report can give medians,
//! spreads, and ratios whose noise was measured across the rounds.
//!
//! The workloads reuse the bench harness ([`crate::buffered`], [`crate::closed_loop`],
//! [`crate::read`], [`crate::streams`]); only the bookkeeping is new.

#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use annal::{Log, Options};
use tempfile::TempDir;

use crate::buffered::BufferedSystem;
use crate::closed_loop::{self, Stop};
use crate::peers::{DurableLog, System};
use crate::probe::Probe;
use crate::read::{read_annal, read_raw, write_annal, write_raw, ReadSystem, BATCH_EVENTS};
use crate::stats::{median, percentile, rate};
use crate::streams::{
    load_annal, load_fjall, load_sqlite, random_streams, read_streams, stream_name, Layout,
    StreamReader, StreamSystem,
};
use crate::{dirs, payload, rotated, BenchResult, PAYLOAD_BYTES};

/// How big a run is.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// Quick (CI) mode: small counts, short slices, three rounds.
    pub quick: bool,
    /// Rounds of every workload (the repeats the noise is measured over).
    pub rounds: usize,
    /// Buffered appends per run.
    pub buffered_events: u64,
    /// Thread counts of the durable closed loop.
    pub durable_threads: Vec<usize>,
    /// Length of one system's slice in one round of the durable workload.
    pub durable_slice: Duration,
    /// Events in each sequential-read dataset.
    pub read_events: u64,
    /// Streams and events per stream of the stream-read dataset.
    pub stream_layout: (usize, u64),
    /// Streams read per system per round.
    pub streams_read: usize,
}

impl SuiteConfig {
    /// The full or the quick configuration.
    pub fn new(quick: bool) -> SuiteConfig {
        if quick {
            SuiteConfig {
                quick,
                rounds: 3,
                buffered_events: 200_000,
                durable_threads: vec![1, 8, 64],
                durable_slice: Duration::from_millis(80),
                read_events: 200_000,
                stream_layout: (200, 50),
                streams_read: 50,
            }
        } else {
            SuiteConfig {
                quick,
                rounds: 9,
                buffered_events: 1_000_000,
                durable_threads: vec![1, 8, 64, 256],
                durable_slice: Duration::from_millis(400),
                read_events: 4_000_000,
                stream_layout: (5_000, 100),
                streams_read: 500,
            }
        }
    }
}

/// Latency percentiles of one system in one workload, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
}

impl Percentiles {
    /// The percentiles of an ascending list of latencies.
    pub fn of(sorted: &[Duration]) -> Percentiles {
        let us = |p: f64| percentile(sorted, p).as_secs_f64() * 1e6;
        Percentiles {
            p50_us: us(50.0),
            p90_us: us(90.0),
            p99_us: us(99.0),
            p999_us: us(99.9),
        }
    }
}

/// One system's figures in one workload.
#[derive(Debug, Clone)]
pub struct SystemResult {
    /// The system's name (`annal`, `okaywal`, …).
    pub name: String,
    /// Events per second, one figure per round.
    pub rates: Vec<f64>,
    /// Latency percentiles over every operation of every round (per append, or per
    /// stream read), when the workload records them.
    pub latency: Option<Percentiles>,
}

/// One workload: its systems, measured round by round.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Stable identifier (keys the history).
    pub id: String,
    /// Human title.
    pub title: String,
    /// What exactly ran.
    pub description: String,
    /// Threads, for the durable closed loop.
    pub threads: Option<usize>,
    /// The systems, Annal first.
    pub systems: Vec<SystemResult>,
    /// The closed-loop ceiling (threads ÷ the median probed fdatasync latency), per round.
    pub ceiling: Option<Vec<f64>>,
    /// What a latency is, when the workload records them.
    pub latency_unit: Option<String>,
}

/// A ratio between two systems of one workload, one figure per round (both measured in
/// the same round).
#[derive(Debug, Clone)]
pub struct RatioResult {
    /// Stable identifier: `workload/numerator÷denominator`.
    pub id: String,
    /// The workload's id.
    pub workload: String,
    /// The system divided.
    pub numerator: String,
    /// The system divided by.
    pub denominator: String,
    /// The ratio in each round.
    pub per_round: Vec<f64>,
}

/// Median, quartiles, minimum and maximum of some figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// First quartile (linear interpolation between ranks).
    pub q1: f64,
    /// Third quartile.
    pub q3: f64,
}

impl Spread {
    /// The spread of `values` (zeros when empty).
    pub fn of(values: &[f64]) -> Spread {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return Spread::default();
        }
        sorted.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            let rank = q * (sorted.len() - 1) as f64;
            let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
            sorted[low] + (rank - low as f64) * (sorted[high] - sorted[low])
        };
        Spread {
            median: median(&sorted),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            q1: quantile(0.25),
            q3: quantile(0.75),
        }
    }

    /// The noise of a ratio measured across rounds: half its interquartile range in log
    /// space, as a factor minus one (0.10: the middle half of the rounds lies within
    /// about ±10 % of their geometric middle). Quartiles, not the range, so that one
    /// round caught by a stall of the disk does not hide every move, and so that more
    /// rounds narrow it instead of widening it.
    pub fn noise(&self) -> f64 {
        if self.q1 <= 0.0 || self.q3 <= 0.0 {
            return f64::INFINITY;
        }
        ((self.q3 / self.q1).ln() / 2.0).exp() - 1.0
    }
}

impl Workload {
    /// The ratios the report tracks: each Annal system (`annal`, `annal-batch100`)
    /// against each other system, per round.
    pub fn ratios(&self) -> Vec<RatioResult> {
        let is_annal = |s: &&SystemResult| s.name.starts_with("annal");
        let mut out = Vec::new();
        for annal in self.systems.iter().filter(is_annal) {
            for other in self.systems.iter().filter(|s| !is_annal(s)) {
                out.push(RatioResult {
                    id: format!("{}/{}÷{}", self.id, annal.name, other.name),
                    workload: self.id.clone(),
                    numerator: annal.name.clone(),
                    denominator: other.name.clone(),
                    per_round: annal
                        .rates
                        .iter()
                        .zip(&other.rates)
                        .map(|(a, b)| a / b)
                        .collect(),
                });
            }
        }
        out
    }
}

/// What the machine measured before the workloads.
#[derive(Debug, Clone)]
pub struct MachineProfile {
    /// pwrite(100 bytes) + fdatasync latencies on the benchmark disk, ascending.
    pub fdatasync: Vec<Duration>,
    /// memcpy throughput in GB/s (bytes copied per second), one figure per repeat.
    pub memcpy_gb_per_s: Vec<f64>,
    /// Bytes of each memcpy.
    pub memcpy_bytes: usize,
    /// Logical CPUs.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
    /// File system of the scratch directory.
    pub file_system: String,
    /// The scratch directory.
    pub scratch: PathBuf,
}

/// Measures fdatasync latency on the benchmark disk and memory bandwidth.
pub fn profile_machine(config: &SuiteConfig) -> BenchResult<MachineProfile> {
    let (syncs, budget) = if config.quick {
        (50, Duration::from_millis(500))
    } else {
        (400, Duration::from_secs(4))
    };
    let mut probe = Probe::new(syncs, budget)?;
    let fdatasync = probe.measure()?.samples;
    let memcpy_bytes: usize = if config.quick { 32 << 20 } else { 256 << 20 };
    let repeats = if config.quick { 5 } else { 9 };
    let source = vec![0x5Au8; memcpy_bytes];
    let mut target = vec![0u8; memcpy_bytes];
    // One untimed copy first: it faults the target's pages in.
    target.copy_from_slice(&source);
    let mut memcpy_gb_per_s = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let started = Instant::now();
        target.copy_from_slice(std::hint::black_box(&source));
        std::hint::black_box(&mut target);
        memcpy_gb_per_s.push(memcpy_bytes as f64 / started.elapsed().as_secs_f64() / 1e9);
    }
    let scratch = dirs::checked_root()?;
    Ok(MachineProfile {
        fdatasync,
        memcpy_gb_per_s,
        memcpy_bytes,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned()),
        file_system: dirs::fs_type_of(&scratch).unwrap_or_else(|| "unknown".to_owned()),
        scratch,
    })
}

/// Buffered append: one thread appends `n` events without waiting, then syncs once.
pub fn buffered_append(config: &SuiteConfig) -> BenchResult<Workload> {
    const SYSTEMS: [BufferedSystem; 3] = [
        BufferedSystem::Annal,
        BufferedSystem::OkayWal,
        BufferedSystem::Raw,
    ];
    let n = config.buffered_events;
    let payload = payload(PAYLOAD_BYTES, 1);
    let mut rates: HashMap<&str, Vec<f64>> = HashMap::new();
    for round in 0..config.rounds {
        for system in rotated(&SYSTEMS, round) {
            let dir = dirs::scratch(&format!("report-buffered-{}-", system.name()))?;
            let took = system.run(dir.path(), n, &payload)?;
            rates.entry(system.name()).or_default().push(rate(n, took));
        }
        println!("buffered append: round {} of {}", round + 1, config.rounds);
    }
    Ok(Workload {
        id: "buffered_append".to_owned(),
        title: "Buffered append (1 thread)".to_owned(),
        description: format!(
            "{n} appends of {PAYLOAD_BYTES} bytes without waiting, then one sync. Annal: \
             Durability::Buffered then sync(); okaywal: one entry of {n} chunks, one commit; \
             raw: pwrite through a 1 MiB buffer, one fdatasync."
        ),
        threads: Some(1),
        systems: SYSTEMS
            .iter()
            .map(|s| SystemResult {
                name: s.name().to_owned(),
                rates: rates.remove(s.name()).unwrap_or_default(),
                latency: None,
            })
            .collect(),
        ceiling: None,
        latency_unit: None,
    })
}

/// The systems of the durable workload, Annal first.
pub const DURABLE_SYSTEMS: [System; 5] = [
    System::Annal,
    System::OkayWal,
    System::Sqlite,
    System::Fjall,
    System::RawPreallocated,
];

struct OpenStore {
    system: System,
    store: Box<dyn DurableLog>,
    _dir: TempDir,
}

/// Durable append at each thread count: every thread appends one event, waits until it
/// is durable, and goes again. Every store stays open for the thread count; each round
/// gives every store one slice (order rotated), with an fdatasync probe before the round.
pub fn durable_append(config: &SuiteConfig, probe: &mut Probe) -> BenchResult<Vec<Workload>> {
    let payload = payload(PAYLOAD_BYTES, 2);
    let warm_up = config.durable_slice / 4;
    let mut workloads = Vec::new();
    for &threads in &config.durable_threads {
        let mut stores = Vec::new();
        for system in DURABLE_SYSTEMS {
            let dir = dirs::scratch(&format!("report-durable-{}-", system.name()))?;
            let store = system.open(dir.path())?;
            closed_loop::run(store.as_ref(), threads, Stop::After(warm_up), &payload)?;
            stores.push(OpenStore {
                system,
                store,
                _dir: dir,
            });
        }
        let mut rates: HashMap<System, Vec<f64>> = HashMap::new();
        let mut latencies: HashMap<System, Vec<Duration>> = HashMap::new();
        let mut ceiling = Vec::new();
        for round in 0..config.rounds {
            let probed = probe.measure()?;
            ceiling.push(threads as f64 / probed.median.as_secs_f64().max(1e-9));
            for open in rotated(&stores.iter().collect::<Vec<_>>(), round) {
                let stats = closed_loop::run(
                    open.store.as_ref(),
                    threads,
                    Stop::After(config.durable_slice),
                    &payload,
                )?;
                rates
                    .entry(open.system)
                    .or_default()
                    .push(stats.ops_per_sec());
                latencies
                    .entry(open.system)
                    .or_default()
                    .extend_from_slice(&stats.latencies);
            }
            println!(
                "durable append, {threads} threads: round {} of {}",
                round + 1,
                config.rounds
            );
        }
        for open in stores {
            open.store.close()?;
        }
        let systems = DURABLE_SYSTEMS
            .iter()
            .map(|system| {
                let mut all = latencies.remove(system).unwrap_or_default();
                all.sort_unstable();
                SystemResult {
                    name: system.name().to_owned(),
                    rates: rates.remove(system).unwrap_or_default(),
                    latency: Some(Percentiles::of(&all)),
                }
            })
            .collect();
        let slice_ms = config.durable_slice.as_millis();
        workloads.push(Workload {
            id: format!("durable_append_{threads}t"),
            title: format!("Durable append, {threads} thread{}", plural(threads)),
            description: format!(
                "{} one {PAYLOAD_BYTES}-byte event and wait{} until it is durable, in a loop; \
                 {slice_ms} ms slices per round. Annal: Durability::Synced \
                 (group commit); okaywal: commit per event; SQLite: WAL, synchronous=FULL, \
                 one insert per transaction; fjall: persist(SyncData) per event; \
                 raw-prealloc: pwrite + fdatasync per event into a preallocated file, \
                 serialized (no sharing of syncs).",
                if threads == 1 {
                    "One thread appends".to_owned()
                } else {
                    format!("{threads} threads each append")
                },
                if threads == 1 { "s" } else { "" },
            ),
            threads: Some(threads),
            systems,
            ceiling: Some(ceiling),
            latency_unit: Some("per append".to_owned()),
        });
    }
    Ok(workloads)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Sequential read of every event, warm page cache: Annal over single-event records and
/// over 100-event records, and a raw file of the same records.
pub fn sequential_read(config: &SuiteConfig) -> BenchResult<Workload> {
    const SYSTEMS: [ReadSystem; 3] = [ReadSystem::Annal, ReadSystem::AnnalBatched, ReadSystem::Raw];
    let n = config.read_events;
    let payload = payload(PAYLOAD_BYTES, 5);
    let single_dir = dirs::scratch("report-read-annal-")?;
    write_annal(single_dir.path(), n, 1, &payload)?;
    let batched_dir = dirs::scratch("report-read-batched-")?;
    write_annal(batched_dir.path(), n, BATCH_EVENTS, &payload)?;
    let raw_dir = dirs::scratch("report-read-raw-")?;
    let raw = raw_dir.path().join("raw.log");
    write_raw(&raw, n, &payload)?;
    let single = Log::open(single_dir.path(), Options::default())?;
    let batched = Log::open(batched_dir.path(), Options::default())?;
    let mut rates: HashMap<ReadSystem, Vec<f64>> = HashMap::new();
    for round in 0..config.rounds {
        for system in rotated(&SYSTEMS, round) {
            let started = Instant::now();
            let (count, acc) = match system {
                ReadSystem::Annal => read_annal(&single)?,
                ReadSystem::AnnalBatched => read_annal(&batched)?,
                ReadSystem::Raw => read_raw(&raw)?,
            };
            let took = started.elapsed();
            std::hint::black_box(acc);
            if count != n {
                return Err(format!("{} read {count} events, expected {n}", system.name()).into());
            }
            rates.entry(system).or_default().push(rate(n, took));
        }
        println!("sequential read: round {} of {}", round + 1, config.rounds);
    }
    single.close()?;
    batched.close()?;
    Ok(Workload {
        id: "sequential_read".to_owned(),
        title: "Sequential read (1 thread)".to_owned(),
        description: format!(
            "Every one of {n} {PAYLOAD_BYTES}-byte events from position 0, touching each \
             payload, warm page cache. annal: one event per record; annal-batch100: 100 \
             events per record; raw: read() of the same 144-byte records through a 1 MiB \
             buffer."
        ),
        threads: Some(1),
        systems: SYSTEMS
            .iter()
            .map(|s| SystemResult {
                name: s.name().to_owned(),
                rates: rates.remove(s).unwrap_or_default(),
                latency: None,
            })
            .collect(),
        ceiling: None,
        latency_unit: None,
    })
}

/// Stream reads: whole streams read back by name from a log of interleaved streams, in
/// Annal's event store, fjall and SQLite (both keyed by stream and revision).
pub fn stream_reads(config: &SuiteConfig) -> BenchResult<Workload> {
    const SYSTEMS: [StreamSystem; 3] = [
        StreamSystem::Annal,
        StreamSystem::Fjall,
        StreamSystem::Sqlite,
    ];
    let (streams, events) = config.stream_layout;
    let layout = Layout::uniform(streams, events);
    let data = payload(PAYLOAD_BYTES, 6);
    let mut dirs_by_system = Vec::new();
    for system in SYSTEMS {
        let dir = dirs::scratch(&format!("report-streams-{}-", system.name()))?;
        match system {
            StreamSystem::Annal => load_annal(dir.path(), &layout, &data, |_, _| {})?,
            StreamSystem::Fjall => load_fjall(dir.path(), &layout, &data)?,
            StreamSystem::Sqlite => load_sqlite(dir.path(), &layout, &data)?,
        };
        dirs_by_system.push((system, dir));
    }
    let readers = dirs_by_system
        .iter()
        .map(|(system, dir)| Ok((*system, StreamReader::open(*system, dir.path())?)))
        .collect::<BenchResult<Vec<_>>>()?;
    let mut rates: HashMap<StreamSystem, Vec<f64>> = HashMap::new();
    let mut latencies: HashMap<StreamSystem, Vec<Duration>> = HashMap::new();
    for round in 0..config.rounds {
        let names: Vec<String> = random_streams(streams, config.streams_read, round as u64 + 1)
            .into_iter()
            .map(stream_name)
            .collect();
        for (system, reader) in rotated(&readers.iter().collect::<Vec<_>>(), round) {
            let run = read_streams(reader, &names, events)?;
            rates
                .entry(*system)
                .or_default()
                .push(rate(run.events, run.elapsed));
            latencies
                .entry(*system)
                .or_default()
                .extend_from_slice(&run.latencies);
        }
        println!("stream reads: round {} of {}", round + 1, config.rounds);
    }
    for (_, reader) in readers {
        reader.close()?;
    }
    Ok(Workload {
        id: "stream_read".to_owned(),
        title: "Stream reads (1 thread)".to_owned(),
        description: format!(
            "{streams} streams × {events} events of {PAYLOAD_BYTES} bytes, written \
             interleaved; each round reads {} random streams whole, warm page cache. Annal: \
             read_stream (full RecordedEvents, one record per event); fjall: prefix scan of \
             stream ‖ revision keys; SQLite: WITHOUT ROWID table keyed by (stream, revision).",
            config.streams_read
        ),
        threads: Some(1),
        systems: SYSTEMS
            .iter()
            .map(|s| {
                let mut all = latencies.remove(s).unwrap_or_default();
                all.sort_unstable();
                SystemResult {
                    name: s.name().to_owned(),
                    rates: rates.remove(s).unwrap_or_default(),
                    latency: Some(Percentiles::of(&all)),
                }
            })
            .collect(),
        ceiling: None,
        latency_unit: Some(format!("per {events}-event stream read")),
    })
}
