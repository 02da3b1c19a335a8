//! The benchmark report: one command that profiles the machine (fdatasync latency on the
//! benchmark disk, memory bandwidth), runs the standard workloads against Annal and its
//! peers in one run, and writes `report.md` (tables with medians, spreads and ratios),
//! `report.json` (the same, for history) and SVG charts to `target/annal-report/`.
//!
//! ```sh
//! cargo run --release -p annal-benches --bin report                 # full: a few minutes
//! cargo run --release -p annal-benches --bin report -- --quick      # CI: well under a minute
//! cargo run --release -p annal-benches --bin report -- --compare old/report.json
//! ```
//!
//! Without `--compare`, a `report.json` already in the output directory is moved to
//! `previous.json` and compared with. The comparison states which ratios moved by more
//! than the noise measured across rounds (see `annal_benches::history`).

#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use annal_benches::history::{self, Movement, Previous, RunInfo, Verdict};
use annal_benches::probe::Probe;
use annal_benches::report::{fmt_duration, fmt_rate, fmt_ratio};
use annal_benches::suite::{self, MachineProfile, Percentiles, RatioResult, Spread, Workload};
use annal_benches::svg::{self, LineChart, RatioBar, RatioChart, Series};
use annal_benches::{dirs, BenchResult};

struct Args {
    quick: bool,
    compare: Option<PathBuf>,
    out: PathBuf,
}

const USAGE: &str = "usage: report [--quick] [--compare PREVIOUS.json] [--out DIR]";

fn args() -> BenchResult<Args> {
    let mut args = Args {
        quick: std::env::var("ANNAL_BENCH_QUICK").is_ok_and(|v| v.trim() == "1"),
        compare: None,
        out: dirs::target_dir().join("annal-report"),
    };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--compare" => args.compare = Some(given.next().ok_or(USAGE)?.into()),
            "--out" => args.out = given.next().ok_or(USAGE)?.into(),
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}").into()),
        }
    }
    Ok(args)
}

/// Runs git read-only; "unknown" when it cannot.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time (civil-from-days, proleptic Gregorian).
fn utc(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3_600,
        secs % 3_600 / 60
    )
}

fn us(value_us: f64) -> String {
    fmt_duration(Duration::from_secs_f64(value_us.max(0.0) / 1e6))
}

/// A number with at most two decimals and no trailing zeros (chart ticks).
fn trimmed(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A rate for a chart tick: `20 k/s`, `1.5 M/s`.
fn rate_tick(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{} M/s", trimmed(per_sec / 1e6))
    } else if per_sec >= 1e3 {
        format!("{} k/s", trimmed(per_sec / 1e3))
    } else {
        format!("{} /s", trimmed(per_sec))
    }
}

/// A latency in µs for a chart tick: `50 µs`, `2 ms`, `1 s`.
fn latency_tick(value_us: f64) -> String {
    if value_us >= 1e6 {
        format!("{} s", trimmed(value_us / 1e6))
    } else if value_us >= 1e3 {
        format!("{} ms", trimmed(value_us / 1e3))
    } else {
        format!("{} µs", trimmed(value_us))
    }
}

fn fmt_change(change: f64) -> String {
    if change.is_finite() {
        format!("{:+.0} %", change * 100.0)
    } else {
        "—".to_owned()
    }
}

fn fmt_optional_ratio(value: f64) -> String {
    if value.is_finite() {
        fmt_ratio(value)
    } else {
        "—".to_owned()
    }
}

fn durable(workloads: &[Workload]) -> Vec<&Workload> {
    workloads
        .iter()
        .filter(|w| w.id.starts_with("durable_append_"))
        .collect()
}

fn throughput_chart(workloads: &[Workload], quick: bool) -> String {
    let durable = durable(workloads);
    let names: Vec<String> = durable
        .first()
        .map(|w| w.systems.iter().map(|s| s.name.clone()).collect())
        .unwrap_or_default();
    let mut series: Vec<Series> = names
        .iter()
        .map(|name| Series {
            name: name.clone(),
            values: durable
                .iter()
                .map(|w| {
                    w.systems
                        .iter()
                        .find(|s| &s.name == name)
                        .map(|s| Spread::of(&s.rates).median)
                })
                .collect(),
            dashed: name.starts_with("raw"),
        })
        .collect();
    series.push(Series {
        name: "ceiling".to_owned(),
        values: durable
            .iter()
            .map(|w| w.ceiling.as_ref().map(|c| Spread::of(c).median))
            .collect(),
        dashed: true,
    });
    svg::line_chart(&LineChart {
        title: format!(
            "Durable appends: throughput against threads{}",
            if quick { " (quick mode)" } else { "" }
        ),
        x_label: "threads, each appending and waiting for durability (closed loop)".to_owned(),
        y_label: "events/s (median of rounds, log scale)".to_owned(),
        x_categories: durable
            .iter()
            .map(|w| w.threads.unwrap_or(0).to_string())
            .collect(),
        series,
        y_format: rate_tick,
    })
}

fn latency_chart(workload: &Workload, quick: bool) -> String {
    let series = workload
        .systems
        .iter()
        .filter_map(|s| {
            let p = s.latency?;
            Some(Series {
                name: s.name.clone(),
                values: vec![
                    Some(p.p50_us),
                    Some(p.p90_us),
                    Some(p.p99_us),
                    Some(p.p999_us),
                ],
                dashed: s.name.starts_with("raw"),
            })
        })
        .collect();
    svg::line_chart(&LineChart {
        title: format!(
            "{}: latency percentiles{}",
            workload.title,
            if quick { " (quick mode)" } else { "" }
        ),
        x_label: format!(
            "percentile of {}",
            workload.latency_unit.as_deref().unwrap_or("operation")
        ),
        y_label: "latency (log scale)".to_owned(),
        x_categories: ["p50", "p90", "p99", "p99.9"]
            .into_iter()
            .map(str::to_owned)
            .collect(),
        series,
        y_format: latency_tick,
    })
}

fn ratio_chart(ratios: &[RatioResult], workloads: &[Workload], quick: bool) -> String {
    let bars = ratios
        .iter()
        .map(|r| {
            let spread = Spread::of(&r.per_round);
            let title = workloads
                .iter()
                .find(|w| w.id == r.workload)
                .map_or(r.workload.as_str(), |w| w.title.as_str());
            RatioBar {
                label: format!("{title}: {} ÷ {}", r.numerator, r.denominator),
                median: spread.median,
                min: spread.min,
                max: spread.max,
            }
        })
        .collect();
    svg::ratio_chart(&RatioChart {
        title: format!(
            "Annal against each system, measured side by side{}",
            if quick { " (quick mode)" } else { "" }
        ),
        bars,
    })
}

struct Charts {
    files: Vec<(String, String, String)>,
}

fn charts(workloads: &[Workload], ratios: &[RatioResult], quick: bool) -> Charts {
    let mut files = vec![
        (
            "ratios.svg".to_owned(),
            "Annal ÷ each system".to_owned(),
            ratio_chart(ratios, workloads, quick),
        ),
        (
            "throughput_vs_threads.svg".to_owned(),
            "Durable appends: throughput against threads".to_owned(),
            throughput_chart(workloads, quick),
        ),
    ];
    let durable = durable(workloads);
    let mut latency_of: Vec<&Workload> = Vec::new();
    latency_of.extend(durable.first());
    latency_of.extend(durable.last().filter(|_| durable.len() > 1));
    for workload in latency_of {
        files.push((
            format!("latency_{}.svg", workload.id),
            format!("{}: latency percentiles", workload.title),
            latency_chart(workload, quick),
        ));
    }
    if let Some(streams) = workloads.iter().find(|w| w.id == "stream_read") {
        files.push((
            "latency_stream_read.svg".to_owned(),
            format!("{}: latency percentiles", streams.title),
            latency_chart(streams, quick),
        ));
    }
    Charts { files }
}

fn machine_section(md: &mut String, machine: &MachineProfile) {
    let probe = Percentiles::of(&machine.fdatasync);
    let mean_us = machine
        .fdatasync
        .iter()
        .map(|d| d.as_secs_f64() * 1e6)
        .sum::<f64>()
        / machine.fdatasync.len().max(1) as f64;
    let memcpy = Spread::of(&machine.memcpy_gb_per_s);
    let _ = writeln!(md, "## Machine\n");
    let _ = writeln!(md, "| measure | value |\n| --- | --- |");
    let _ = writeln!(md, "| logical CPUs | {} |", machine.cpus);
    let _ = writeln!(md, "| kernel | {} |", machine.kernel);
    let _ = writeln!(
        md,
        "| scratch directory | `{}` ({}) |",
        machine.scratch.display(),
        machine.file_system
    );
    let _ = writeln!(
        md,
        "| fdatasync latency (100-byte pwrite + fdatasync, preallocated file, {} syncs) | \
         p50 {}, p90 {}, p99 {}, mean {} |",
        machine.fdatasync.len(),
        us(probe.p50_us),
        us(probe.p90_us),
        us(probe.p99_us),
        us(mean_us)
    );
    let _ = writeln!(
        md,
        "| memory bandwidth (memcpy of {} MiB, {} repeats; bytes copied per second) | \
         median {:.2} GB/s ({:.2}–{:.2}) |\n",
        machine.memcpy_bytes >> 20,
        machine.memcpy_gb_per_s.len(),
        memcpy.median,
        memcpy.min,
        memcpy.max
    );
}

fn ratios_section(md: &mut String, ratios: &[RatioResult], workloads: &[Workload]) {
    let _ = writeln!(md, "## Ratios\n");
    let _ = writeln!(
        md,
        "Annal's throughput divided by each system's, measured in the same round: the median \
         of the rounds, their range, and the noise (half the interquartile range of the \
         rounds, as a factor; a later run's median must differ by more than both runs' \
         noises together to count as a move).\n"
    );
    let _ = writeln!(md, "![Annal ÷ each system](ratios.svg)\n");
    let _ = writeln!(
        md,
        "| workload | ratio | median | range over rounds | noise |\n| --- | --- | --- | --- | --- |"
    );
    for r in ratios {
        let spread = Spread::of(&r.per_round);
        let title = workloads
            .iter()
            .find(|w| w.id == r.workload)
            .map_or(r.workload.as_str(), |w| w.title.as_str());
        let _ = writeln!(
            md,
            "| {title} | {} ÷ {} | {} | {}–{} | ±{:.0} % |",
            r.numerator,
            r.denominator,
            fmt_ratio(spread.median),
            fmt_ratio(spread.min),
            fmt_ratio(spread.max),
            spread.noise() * 100.0
        );
    }
    md.push('\n');
}

fn workload_section(md: &mut String, w: &Workload, rounds: usize) {
    let _ = writeln!(md, "### {}\n", w.title);
    let _ = writeln!(
        md,
        "{} {rounds} interleaved rounds (order rotated).\n",
        w.description
    );
    let has_latency = w.systems.iter().any(|s| s.latency.is_some());
    let mut header = "| system | median events/s | min | max | spread |".to_owned();
    if has_latency {
        let unit = w.latency_unit.as_deref().unwrap_or("");
        let _ = write!(header, " p50 {unit} | p99 {unit} | p99.9 |");
    }
    header.push_str(" annal ÷ system (median of rounds) |");
    let columns = header.matches('|').count() - 1;
    let _ = writeln!(md, "{header}\n|{}", " --- |".repeat(columns));
    let annal = w.systems.first();
    for s in &w.systems {
        let spread = Spread::of(&s.rates);
        let mut row = format!(
            "| {} | {} | {} | {} | {:.0} % |",
            s.name,
            fmt_rate(spread.median),
            fmt_rate(spread.min),
            fmt_rate(spread.max),
            (spread.max - spread.min) / spread.median.max(f64::MIN_POSITIVE) * 100.0
        );
        if has_latency {
            let p = s.latency.unwrap_or_default();
            let _ = write!(
                row,
                " {} | {} | {} |",
                us(p.p50_us),
                us(p.p99_us),
                us(p.p999_us)
            );
        }
        let per_round: Vec<f64> = annal
            .map(|a| a.rates.iter().zip(&s.rates).map(|(a, b)| a / b).collect())
            .unwrap_or_default();
        let _ = write!(row, " {} |", fmt_ratio(Spread::of(&per_round).median));
        let _ = writeln!(md, "{row}");
    }
    if let Some(ceiling) = &w.ceiling {
        let _ = writeln!(
            md,
            "\nCeiling (threads ÷ the median fdatasync latency probed before each round): {}.",
            fmt_rate(Spread::of(ceiling).median)
        );
    }
    md.push('\n');
}

/// A durable workload's fdatasync latency changed this much (either way) since the
/// previous run: its moves are noted as the disk's.
const DISK_CHANGE_NOTED: f64 = 1.5;

fn disk_changed(factor: f64) -> bool {
    !(1.0 / DISK_CHANGE_NOTED..DISK_CHANGE_NOTED).contains(&factor)
}

fn comparison_section(
    md: &mut String,
    previous: &Previous,
    movements: &[Movement],
    machine: &MachineProfile,
    quick: bool,
) {
    let mode = if quick { "quick" } else { "full" };
    let _ = writeln!(md, "## Compared with the previous run\n");
    let _ = writeln!(
        md,
        "Previous: commit `{}`, {} mode. Machine profile then → now: fdatasync p50 {} → {}, \
         memcpy {:.2} → {:.2} GB/s.{}\n",
        previous.commit,
        previous.mode,
        us(previous.fdatasync_p50_us),
        us(Percentiles::of(&machine.fdatasync).p50_us),
        previous.memcpy_gb_per_s,
        Spread::of(&machine.memcpy_gb_per_s).median,
        if previous.mode == mode {
            ""
        } else {
            " The modes differ: the workloads' sizes differ, so moves say little."
        }
    );
    if movements
        .iter()
        .any(|m| m.fdatasync_now_over_before.is_some_and(disk_changed))
    {
        let _ = writeln!(
            md,
            "The disk's fdatasync latency during some durable workloads differed from last \
             time by {DISK_CHANGE_NOTED}× or more (noted in the table, from the workloads' \
             closed-loop ceilings): durable ratios move with the disk's state, since Annal \
             shares each fdatasync and most peers do not.\n"
        );
    }
    let moved: Vec<&Movement> = movements
        .iter()
        .filter(|m| matches!(m.verdict, Verdict::Up | Verdict::Down))
        .collect();
    if moved.is_empty() {
        let _ = writeln!(
            md,
            "**No ratio moved by more than the noise measured across rounds.**\n"
        );
    } else {
        let list: Vec<String> = moved
            .iter()
            .map(|m| format!("`{}` {}", m.id, fmt_change(m.change)))
            .collect();
        let _ = writeln!(
            md,
            "**{} ratio{} moved by more than the noise measured across rounds:** {}.\n",
            moved.len(),
            if moved.len() == 1 { "" } else { "s" },
            list.join(", ")
        );
    }
    let _ = writeln!(
        md,
        "| ratio | before | now | change | noise | verdict |\n| --- | --- | --- | --- | --- | --- |"
    );
    for m in movements {
        // A durable workload whose disk was much slower or faster than last time.
        let disk = match m.fdatasync_now_over_before {
            Some(f) if disk_changed(f) && f > 1.0 => {
                format!(" (fdatasync {f:.1}× slower now)")
            }
            Some(f) if disk_changed(f) => format!(" (fdatasync {:.1}× faster now)", 1.0 / f),
            _ => String::new(),
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | ±{:.0} % | {}{disk} |",
            m.id,
            fmt_optional_ratio(m.before),
            fmt_optional_ratio(m.now),
            fmt_change(m.change),
            m.noise * 100.0,
            m.verdict.word()
        );
    }
    md.push('\n');
}

fn run() -> BenchResult<()> {
    let args = args()?;
    let started = Instant::now();
    let started_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    fs::create_dir_all(&args.out)?;
    let out = args.out.canonicalize()?;
    let compare_with = match &args.compare {
        Some(path) => Some(path.clone()),
        None => {
            let last = out.join("report.json");
            let previous = out.join("previous.json");
            if last.exists() {
                fs::rename(&last, &previous)?;
                Some(previous)
            } else {
                None
            }
        }
    };
    let previous = match &compare_with {
        Some(path) => Some(
            history::parse(&fs::read_to_string(path)?)
                .map_err(|e| format!("{}: {e}", path.display()))?,
        ),
        None => None,
    };

    let config = suite::SuiteConfig::new(args.quick);
    println!(
        "annal report, {} mode: profiling the machine",
        if args.quick { "quick" } else { "full" }
    );
    let machine = suite::profile_machine(&config)?;
    println!(
        "fdatasync p50 {}, memcpy {:.2} GB/s",
        us(Percentiles::of(&machine.fdatasync).p50_us),
        Spread::of(&machine.memcpy_gb_per_s).median
    );
    let mut probe = Probe::new(
        if args.quick { 10 } else { 20 },
        Duration::from_millis(if args.quick { 20 } else { 60 }),
    )?;
    let mut workloads = vec![suite::buffered_append(&config)?];
    workloads.extend(suite::durable_append(&config, &mut probe)?);
    workloads.push(suite::sequential_read(&config)?);
    workloads.push(suite::stream_reads(&config)?);
    let ratios: Vec<RatioResult> = workloads.iter().flat_map(Workload::ratios).collect();

    let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    let info = RunInfo {
        commit: git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned()),
        dirty,
        started_unix_s,
        quick: args.quick,
        elapsed: started.elapsed(),
    };

    let charts = charts(&workloads, &ratios, args.quick);
    for (file, _, content) in &charts.files {
        fs::write(out.join(file), content)?;
    }
    let json = history::to_json(&info, &machine, &workloads, &ratios);
    fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;

    let mut md = String::new();
    let _ = writeln!(md, "# Annal benchmark report\n");
    let _ = writeln!(
        md,
        "Commit `{}`{}, {} mode, started {}, took {:.0} s. Produced by \
         `cargo run --release -p annal-benches --bin report{}`. Every workload runs all of its \
         systems in interleaved rounds; compare the ratios, which were measured side by side, \
         not the absolute rates, which mostly tell what state the disk was in.\n",
        info.commit,
        if info.dirty {
            " (work tree with uncommitted changes)"
        } else {
            ""
        },
        if args.quick { "quick" } else { "full" },
        utc(started_unix_s),
        info.elapsed.as_secs_f64(),
        if args.quick { " -- --quick" } else { "" }
    );
    if let (Some(previous), Some(path)) = (&previous, &compare_with) {
        let movements = history::compare(previous, &ratios, &workloads);
        let _ = writeln!(md, "Compared with `{}` (below).\n", path.display());
        comparison_section(&mut md, previous, &movements, &machine, args.quick);
    }
    machine_section(&mut md, &machine);
    ratios_section(&mut md, &ratios, &workloads);
    let _ = writeln!(md, "## Charts\n");
    for (file, title, _) in charts.files.iter().skip(1) {
        let _ = writeln!(md, "![{title}]({file})\n");
    }
    let _ = writeln!(md, "## Workloads\n");
    for workload in &workloads {
        workload_section(&mut md, workload, config.rounds);
    }
    fs::write(out.join("report.md"), &md)?;
    println!("{md}");
    println!(
        "report written to {} (report.md, report.json, {} charts) in {:.0} s",
        out.display(),
        charts.files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("report failed: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        // Proves the civil-date conversion of the report header on known instants.
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(rate_tick(20_000.0), "20 k/s");
        assert_eq!(latency_tick(1_500.0), "1.5 ms");
    }
}
