//! `annal bench`: the standard Annal workloads with this machine's fdatasync rate
//! measured beside them. Every round runs every cell once, in a rotating order, so a
//! disk that changes speed for a while moves all of them; the figures are medians over
//! rounds, and each durable append's ratio to the fdatasync rate is taken within its
//! round. The comparison with peers (okaywal, SQLite, fjall, raw files) is the report in
//! `benches/`: `annal bench --peers` runs it from the source tree through cargo, so that
//! installing this command builds only the engine, never the peers.

mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use annal::Durability;
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::output::{error, progress_bar, warning, Out, Outcome};
use workloads::{Cell, CellResult};

#[allow(dead_code)]
#[path = "../../../benches/src/svg.rs"]
mod svg;

/// Measure appends and reads on this machine, beside its fdatasync rate.
///
/// Runs in --dir (default: a temporary directory; it must be on the disk you care
/// about, not a tmpfs). Figures are medians over interleaved rounds.
///
/// Examples: annal bench; annal bench --threads 1,4,16,64 --durability synced,written
/// --rounds 5 --plot appends.svg
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Appending threads, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 4, 16])]
    pub threads: Vec<usize>,
    /// Durabilities to append at, comma-separated.
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [Level::Synced, Level::Written])]
    pub durability: Vec<Level>,
    /// Seconds each cell runs.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Rounds (each runs every cell once).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Where the scratch logs go.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Write an SVG chart of appends per second against threads.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Run the full report against the peers instead (okaywal, SQLite, fjall, raw files:
    /// `benches/`'s report command, built from the source tree this command was built
    /// from); arguments after `--` go to it (`--quick`, `--compare FILE`, `--out DIR`).
    #[arg(long)]
    pub peers: bool,
    /// Arguments for the peer report (after `--`).
    #[arg(last = true, requires = "peers")]
    pub report_args: Vec<String>,
}

/// A durability, as the command spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// Acknowledged after an fdatasync (group commit).
    Synced,
    /// Acknowledged once written to the file (survives a process crash).
    Written,
    /// Acknowledged at once (survives nothing until a sync).
    Buffered,
}

impl Level {
    fn durability(self) -> Durability {
        match self {
            Level::Synced => Durability::Synced,
            Level::Written => Durability::Written,
            Level::Buffered => Durability::Buffered,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Synced => "synced",
            Level::Written => "written",
            Level::Buffered => "buffered",
        }
    }
}

/// One cell of a round.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Workload {
    Fdatasync,
    Append(Level, usize),
    SequentialRead,
}

impl Workload {
    fn label(self) -> String {
        match self {
            Workload::Fdatasync => "fdatasync (100-byte pwrite + fdatasync, 1 writer)".to_owned(),
            Workload::Append(level, threads) => {
                let s = if threads == 1 { "" } else { "s" };
                format!("append {} ({threads} thread{s})", level.name())
            }
            Workload::SequentialRead => "sequential read".to_owned(),
        }
    }
}

/// What the rounds measured for one workload.
struct Measured {
    workload: Workload,
    per_second: Vec<f64>,
    /// Per round, the cell's rate over that round's fdatasync rate.
    ratio_to_fdatasync: Vec<f64>,
    appends_per_sync: Vec<f64>,
}

/// Runs `annal bench`.
pub fn run(args: BenchArgs) -> Outcome {
    if args.peers {
        return peer_report(&args.report_args);
    }
    if args.threads.is_empty()
        || args.threads.contains(&0)
        || args.threads.iter().any(|&t| t > 1024)
    {
        return Err(error("--threads takes counts from 1 to 1024"));
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 600.0) {
        return Err(error("--seconds must be above 0 and at most 600"));
    }
    if args.rounds == 0 {
        return Err(error("--rounds must be at least 1"));
    }
    let scratch = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir).map_err(|e| {
            error(format!(
                "{}: cannot make a scratch directory: {e}",
                dir.display()
            ))
        })?,
        None => tempfile::tempdir()?,
    };
    let duration = Duration::from_secs_f64(args.seconds);
    let mut workloads = vec![Workload::Fdatasync];
    for &level in &args.durability {
        for &threads in &args.threads {
            workloads.push(Workload::Append(level, threads));
        }
    }
    workloads.push(Workload::SequentialRead);
    let mut measured: Vec<Measured> = workloads
        .iter()
        .map(|&workload| Measured {
            workload,
            per_second: Vec::new(),
            ratio_to_fdatasync: Vec::new(),
            appends_per_sync: Vec::new(),
        })
        .collect();
    let bar = progress_bar((args.rounds * workloads.len()) as u64, "measuring");
    for round in 0..args.rounds {
        let mut cells: Vec<Option<Cell>> = vec![None; workloads.len()];
        for k in 0..workloads.len() {
            // A rotating order: no workload always runs right after the same one.
            let at = (k + round) % workloads.len();
            let workload = workloads[at];
            bar.set_message(format!("round {}: {}", round + 1, workload.label()));
            let cell_dir = scratch.path().join(format!("cell-{round}-{at}"));
            std::fs::create_dir_all(&cell_dir)?;
            let cell: CellResult = match workload {
                Workload::Fdatasync => workloads::fdatasync_rate(&cell_dir, duration),
                Workload::Append(level, threads) => {
                    workloads::append(&cell_dir, threads, level.durability(), duration)
                }
                Workload::SequentialRead => workloads::sequential_read(&cell_dir),
            };
            std::fs::remove_dir_all(&cell_dir)?;
            cells[at] = Some(cell.map_err(|e| error(format!("{}: {e}", workload.label())))?);
            bar.inc(1);
        }
        let syncs = cells[0].map_or(0.0, |c| c.per_second);
        for (m, cell) in measured.iter_mut().zip(cells.iter().flatten()) {
            m.per_second.push(cell.per_second);
            if matches!(m.workload, Workload::Append(..)) && syncs > 0.0 {
                m.ratio_to_fdatasync.push(cell.per_second / syncs);
            }
            if let Some(per_sync) = cell.appends_per_sync {
                m.appends_per_sync.push(per_sync);
            }
        }
    }
    bar.finish_and_clear();
    let fdatasync = median(&measured[0].per_second);
    if fdatasync > 200_000.0 {
        warning(&format!(
            "{fdatasync:.0} fdatasyncs per second: the scratch directory is probably not on a \
             real disk (tmpfs?); pass --dir on the disk you care about"
        ));
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, chart(&args, &measured, fdatasync))
            .map_err(|e| error(format!("{}: {e}", path.display())))?;
    }
    print(&args, &measured)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn range(values: &[f64]) -> (f64, f64) {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(0.0, f64::max);
    (low, high)
}

fn print(args: &BenchArgs, measured: &[Measured]) -> Outcome {
    let mut out = Out::new();
    if args.json {
        let rows: Vec<_> = measured
            .iter()
            .map(|m| {
                let (low, high) = range(&m.per_second);
                json!({
                    "workload": m.workload.label(),
                    "per_second_median": median(&m.per_second),
                    "per_second_min": low,
                    "per_second_max": high,
                    "per_second_rounds": m.per_second,
                    "ratio_to_fdatasync_median": (!m.ratio_to_fdatasync.is_empty()).then(|| median(&m.ratio_to_fdatasync)),
                    "appends_per_fdatasync_median": (!m.appends_per_sync.is_empty()).then(|| median(&m.appends_per_sync)),
                })
            })
            .collect();
        out.json(&json!({
            "event_bytes": workloads::EVENT_BYTES,
            "rounds": args.rounds,
            "seconds_per_cell": args.seconds,
            "results": rows,
        }))?;
        return out.flush();
    }
    let rows: Vec<Vec<String>> = measured
        .iter()
        .map(|m| {
            let (low, high) = range(&m.per_second);
            vec![
                m.workload.label(),
                format!("{:.0}/s", median(&m.per_second)),
                format!("{low:.0} – {high:.0}"),
                if m.ratio_to_fdatasync.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.1}×", median(&m.ratio_to_fdatasync))
                },
                if m.appends_per_sync.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.1}", median(&m.appends_per_sync))
                },
            ]
        })
        .collect();
    out.line(format!(
        "{}-byte events; medians of {} interleaved rounds of {} s cells",
        workloads::EVENT_BYTES,
        args.rounds,
        args.seconds
    ))?;
    out.table(
        &[
            "workload",
            "median",
            "range over rounds",
            "× fdatasync rate",
            "appends per fdatasync",
        ],
        &rows,
    )?;
    out.line("peers (okaywal, SQLite, fjall, raw files) side by side: annal bench --peers")?;
    out.flush()
}

fn chart(args: &BenchArgs, measured: &[Measured], fdatasync: f64) -> String {
    let mut series: Vec<svg::Series> = args
        .durability
        .iter()
        .map(|&level| svg::Series {
            name: format!("annal {}", level.name()),
            values: args
                .threads
                .iter()
                .map(|&threads| {
                    measured
                        .iter()
                        .find(|m| m.workload == Workload::Append(level, threads))
                        .map(|m| median(&m.per_second))
                })
                .collect(),
            dashed: false,
        })
        .collect();
    series.push(svg::Series {
        name: "fdatasync/s".to_owned(),
        values: vec![Some(fdatasync); args.threads.len()],
        dashed: true,
    });
    svg::line_chart(&svg::LineChart {
        title: format!("Appends per second, {}-byte events", workloads::EVENT_BYTES),
        x_label: "appending threads".to_owned(),
        y_label: "appends per second".to_owned(),
        x_categories: args.threads.iter().map(|t| t.to_string()).collect(),
        series,
        y_format: |v| {
            if v >= 1e6 {
                format!("{:.1}M", v / 1e6)
            } else if v >= 1e3 {
                format!("{:.0}k", v / 1e3)
            } else {
                format!("{v:.0}")
            }
        },
    })
}

/// Runs the peer report (`cargo run --release -p annal-benches --bin report`) in the
/// source tree this command was built from; its output goes straight to the terminal.
fn peer_report(report_args: &[String]) -> Outcome {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if !workspace.join("benches").join("Cargo.toml").is_file() {
        return Err(error(format!(
            "the peer report needs Annal's source tree, which is not at {} any more",
            workspace.display()
        )));
    }
    let status = std::process::Command::new("cargo")
        .current_dir(&workspace)
        .args([
            "run",
            "--release",
            "-p",
            "annal-benches",
            "--bin",
            "report",
            "--",
        ])
        .args(report_args)
        .status()
        .map_err(|e| error(format!("cannot run cargo for the peer report: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(error(format!("the peer report failed ({status})")))
    }
}
