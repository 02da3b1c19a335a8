//! Shared harness for the Annal benchmarks: run settings (full or quick), scratch
//! directories on the repository's disk, an fdatasync-latency probe, percentiles, the
//! peer adapters behind one small trait, a closed-loop multi-thread driver and the
//! report tables; and for the report command (`--bin report`), the standard workloads in
//! one run ([`suite`]), its JSON history ([`history`]) and SVG charts ([`svg`]).
//!
//! The disk these benchmarks run on may switch between a fast and a slow fdatasync state
//! for minutes at a time, so no absolute figure from one run means much on its own. Every
//! workload is therefore measured in *interleaved rounds*: each round runs every system
//! (and the raw-file references) once, back to back, in a rotating order, and the figures
//! reported are medians over rounds of throughputs and of per-round ratios against the
//! reference measured in the same round.
//!
//! Settings come from the environment (see [`Settings::from_env`]):
//!
//! - `ANNAL_BENCH_QUICK=1`: small counts and short cells, for CI (also implied when the
//!   bench binary is run with `--test`, as `cargo test --benches` does).
//! - `ANNAL_BENCH_DIR=path`: where scratch directories go (default: `bench-tmp` in the
//!   workspace's target directory). It must not be a tmpfs.
//! - `ANNAL_BENCH_SKIP_COMPARE=1` / `ANNAL_BENCH_SKIP_CRITERION=1`: skip the interleaved
//!   comparison or the criterion groups.

pub mod buffered;
pub mod closed_loop;
pub mod dirs;
pub mod history;
pub mod peers;
pub mod probe;
pub mod raw_group;
pub mod read;
pub mod record;
pub mod report;
pub mod stats;
pub mod streams;
pub mod suite;
pub mod svg;
pub mod wake_probe;

use std::time::Duration;

/// The error type of every helper: benchmarks only report errors, they never handle them.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;
/// A result with [`BenchError`].
pub type BenchResult<T> = Result<T, BenchError>;

/// Size of every event's payload, in bytes.
pub const PAYLOAD_BYTES: usize = 100;

/// How big and how long a run is.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Quick (CI) mode.
    pub quick: bool,
    /// Run the interleaved comparison (the numbers the docs report).
    pub compare: bool,
    /// Run the criterion groups.
    pub criterion: bool,
    /// Criterion only lists the benchmarks (`--list`): build nothing big.
    pub list: bool,
}

/// Whether the environment variable `name` is set to 1, true, yes or on.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .map(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// Whether `ANNAL_BENCH_PARTS` (comma-separated part names; default: all) selects `part`.
pub fn part_selected(part: &str) -> bool {
    std::env::var("ANNAL_BENCH_PARTS")
        .map_or(true, |parts| parts.split(',').any(|p| p.trim() == part))
}

/// The `main` of a bench binary: the interleaved comparison (exiting non-zero if it
/// fails), then the criterion groups, each when the settings ask for it.
pub fn run_bench(
    name: &str,
    compare: impl FnOnce(&Settings) -> BenchResult<()>,
    criterion_groups: impl FnOnce(&Settings),
) {
    let settings = Settings::from_env();
    if settings.compare {
        if let Err(e) = compare(&settings) {
            eprintln!("{name} comparison failed: {e}");
            std::process::exit(1);
        }
    }
    if settings.criterion {
        criterion_groups(&settings);
    }
}

impl Settings {
    /// Reads `ANNAL_BENCH_QUICK`, `ANNAL_BENCH_SKIP_COMPARE` and `ANNAL_BENCH_SKIP_CRITERION`;
    /// `--test` among the arguments implies quick mode. `--list` skips the comparison.
    pub fn from_env() -> Settings {
        let args: Vec<String> = std::env::args().collect();
        let test_mode = args.iter().any(|a| a == "--test");
        let list_mode = args.iter().any(|a| a == "--list");
        Settings {
            quick: env_flag("ANNAL_BENCH_QUICK") || test_mode,
            compare: !env_flag("ANNAL_BENCH_SKIP_COMPARE") && !list_mode,
            criterion: !env_flag("ANNAL_BENCH_SKIP_CRITERION"),
            list: list_mode,
        }
    }

    /// Picks the full or the quick value.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }

    /// Criterion settings for heavy iterations (each one a whole run of a workload).
    pub fn criterion(&self) -> CriterionConfig {
        CriterionConfig {
            sample_size: 10,
            warm_up: self.pick(Duration::from_secs(1), Duration::from_millis(100)),
            measurement: self.pick(Duration::from_secs(5), Duration::from_millis(500)),
        }
    }
}

/// Criterion knobs, kept here so every bench file configures criterion the same way
/// without this crate depending on criterion (a dev-dependency).
#[derive(Debug, Clone, Copy)]
pub struct CriterionConfig {
    /// Samples per benchmark (criterion's minimum is 10).
    pub sample_size: usize,
    /// Warm-up time per benchmark.
    pub warm_up: Duration,
    /// Measurement time per benchmark.
    pub measurement: Duration,
}

/// A deterministic, incompressible-looking payload of `len` bytes.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Rotates `items` by `round` so each system runs first in some round.
pub fn rotated<T: Clone>(items: &[T], round: usize) -> Vec<T> {
    let mut out = items.to_vec();
    if !out.is_empty() {
        let by = round % out.len();
        out.rotate_left(by);
    }
    out
}
