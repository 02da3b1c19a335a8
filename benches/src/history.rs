//! The report's JSON (`report.json`) and its comparison with an earlier run's.
//!
//! Every ratio is stored with its figure in each round, its median, range and noise, so a
//! later run can tell which ratios moved by more than the noise measured across repeats.
//! A run's noise on a ratio is half the interquartile range of its per-round figures, in
//! log space ([`Spread::noise`]: quartiles of 0.9× and 1.1×, about ±10 %). A ratio
//! *moved* when the change of its median, as a factor, exceeds the two runs' noises
//! together: each median is only known to within its own noise. Absolute rates are stored
//! too but never compared: they mostly say what state the disk was in.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::suite::{MachineProfile, Percentiles, RatioResult, Spread, Workload};
use crate::BenchResult;

/// The format of `report.json`; bumped when a field changes meaning.
pub const SCHEMA: &str = "annal-report/1";

/// What identifies a run.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// `git rev-parse --short HEAD`, or "unknown".
    pub commit: String,
    /// Whether the work tree had changes (`git status --porcelain`).
    pub dirty: bool,
    /// Seconds since the Unix epoch when the run started.
    pub started_unix_s: u64,
    /// Quick (CI) or full.
    pub quick: bool,
    /// How long the whole run took.
    pub elapsed: Duration,
}

fn spread_json(spread: &Spread) -> Value {
    json!({
        "median": spread.median,
        "min": spread.min,
        "max": spread.max,
        "q1": spread.q1,
        "q3": spread.q3,
    })
}

fn percentiles_json(p: &Percentiles) -> Value {
    json!({ "p50": p.p50_us, "p90": p.p90_us, "p99": p.p99_us, "p99_9": p.p999_us })
}

/// The whole report as JSON.
pub fn to_json(
    info: &RunInfo,
    machine: &MachineProfile,
    workloads: &[Workload],
    ratios: &[RatioResult],
) -> Value {
    let fdatasync_us: Vec<f64> = machine
        .fdatasync
        .iter()
        .map(|d| d.as_secs_f64() * 1e6)
        .collect();
    let probe = Percentiles::of(&machine.fdatasync);
    let workloads: Vec<Value> = workloads
        .iter()
        .map(|w| {
            let systems: Vec<Value> = w
                .systems
                .iter()
                .map(|s| {
                    json!({
                        "name": s.name,
                        "events_per_s": spread_json(&Spread::of(&s.rates)),
                        "events_per_s_per_round": s.rates,
                        "latency_us": s.latency.as_ref().map(percentiles_json),
                    })
                })
                .collect();
            json!({
                "id": w.id,
                "title": w.title,
                "description": w.description,
                "threads": w.threads,
                "latency_unit": w.latency_unit,
                "ceiling_events_per_s_per_round": w.ceiling,
                "systems": systems,
            })
        })
        .collect();
    let ratios: Vec<Value> = ratios
        .iter()
        .map(|r| {
            let spread = Spread::of(&r.per_round);
            json!({
                "id": r.id,
                "workload": r.workload,
                "numerator": r.numerator,
                "denominator": r.denominator,
                "median": spread.median,
                "min": spread.min,
                "max": spread.max,
                "q1": spread.q1,
                "q3": spread.q3,
                "noise": spread.noise(),
                "per_round": r.per_round,
            })
        })
        .collect();
    json!({
        "schema": SCHEMA,
        "commit": info.commit,
        "dirty": info.dirty,
        "started_unix_s": info.started_unix_s,
        "mode": if info.quick { "quick" } else { "full" },
        "elapsed_s": info.elapsed.as_secs_f64(),
        "machine": {
            "cpus": machine.cpus,
            "kernel": machine.kernel,
            "file_system": machine.file_system,
            "fdatasync_us": {
                "syncs": fdatasync_us.len(),
                "p50": probe.p50_us,
                "p90": probe.p90_us,
                "p99": probe.p99_us,
                "mean": fdatasync_us.iter().sum::<f64>() / fdatasync_us.len().max(1) as f64,
            },
            "memcpy_gb_per_s": spread_json(&Spread::of(&machine.memcpy_gb_per_s)),
            "memcpy_bytes": machine.memcpy_bytes,
        },
        "workloads": workloads,
        "ratios": ratios,
    })
}

/// A figure and its noise (as a factor minus one).
#[derive(Debug, Clone, Copy)]
pub struct Noisy {
    /// The median.
    pub median: f64,
    /// Its noise across rounds ([`Spread::noise`]).
    pub noise: f64,
}

impl From<Spread> for Noisy {
    fn from(spread: Spread) -> Noisy {
        Noisy {
            median: spread.median,
            noise: spread.noise(),
        }
    }
}

/// What a comparison needs from an earlier report.
#[derive(Debug, Clone)]
pub struct Previous {
    /// Its commit.
    pub commit: String,
    /// "quick" or "full".
    pub mode: String,
    /// Its median fdatasync latency, µs.
    pub fdatasync_p50_us: f64,
    /// Its median memcpy bandwidth, GB/s.
    pub memcpy_gb_per_s: f64,
    /// Its ratios by id: median and noise.
    pub ratios: BTreeMap<String, Noisy>,
    /// The median closed-loop ceiling of each durable workload, by workload id.
    pub ceilings: BTreeMap<String, f64>,
}

fn number(value: &Value, path: &[&str]) -> f64 {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

/// Reads an earlier `report.json`.
pub fn parse(text: &str) -> BenchResult<Previous> {
    let value: Value = serde_json::from_str(text)?;
    let schema = value.get("schema").and_then(Value::as_str).unwrap_or("");
    if schema != SCHEMA {
        return Err(format!("not an {SCHEMA} file (schema {schema:?})").into());
    }
    let mut ratios = BTreeMap::new();
    for ratio in value
        .get("ratios")
        .and_then(Value::as_array)
        .ok_or("report.json has no ratios")?
    {
        let id = ratio
            .get("id")
            .and_then(Value::as_str)
            .ok_or("a ratio without an id")?;
        ratios.insert(
            id.to_owned(),
            Noisy {
                median: number(ratio, &["median"]),
                noise: number(ratio, &["noise"]),
            },
        );
    }
    let mut ceilings = BTreeMap::new();
    for workload in value
        .get("workloads")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let per_round: Vec<f64> = workload
            .get("ceiling_events_per_s_per_round")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .collect();
        if let (Some(id), false) = (
            workload.get("id").and_then(Value::as_str),
            per_round.is_empty(),
        ) {
            ceilings.insert(id.to_owned(), Spread::of(&per_round).median);
        }
    }
    let text_of = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned()
    };
    Ok(Previous {
        commit: text_of("commit"),
        mode: text_of("mode"),
        fdatasync_p50_us: number(&value, &["machine", "fdatasync_us", "p50"]),
        memcpy_gb_per_s: number(&value, &["machine", "memcpy_gb_per_s", "median"]),
        ratios,
        ceilings,
    })
}

/// Which way a ratio went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Up by more than the noise.
    Up,
    /// Down by more than the noise.
    Down,
    /// Within the noise.
    Within,
    /// Only in this run.
    New,
    /// Only in the earlier run.
    Gone,
}

impl Verdict {
    /// A word for the table.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Up => "**moved up**",
            Verdict::Down => "**moved down**",
            Verdict::Within => "within noise",
            Verdict::New => "new",
            Verdict::Gone => "gone",
        }
    }
}

/// One ratio compared across two runs.
#[derive(Debug, Clone)]
pub struct Movement {
    /// The ratio's id.
    pub id: String,
    /// Its median before (NaN when new).
    pub before: f64,
    /// Its median now (NaN when gone).
    pub now: f64,
    /// now ÷ before − 1.
    pub change: f64,
    /// The two runs' noises together (as a factor minus one): what the change must beat.
    pub noise: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// For durable workloads: the disk's median fdatasync latency during the workload now
    /// ÷ before (from the closed-loop ceilings). Far from 1, a move says more about the
    /// disk's state than about the code.
    pub fdatasync_now_over_before: Option<f64>,
}

/// Compares this run's ratios with an earlier run's.
pub fn compare(
    previous: &Previous,
    current: &[RatioResult],
    workloads: &[Workload],
) -> Vec<Movement> {
    let disk = |workload: &str| {
        let now = workloads
            .iter()
            .find(|w| w.id == workload)?
            .ceiling
            .as_ref()
            .map(|c| Spread::of(c).median)?;
        let before = previous.ceilings.get(workload)?;
        // Ceiling = threads ÷ fdatasync latency: latency now ÷ before = ceiling before ÷ now.
        Some(before / now).filter(|f| f.is_finite())
    };
    let mut out = Vec::new();
    for ratio in current {
        let now = Spread::of(&ratio.per_round);
        match previous.ratios.get(&ratio.id) {
            Some(before) => {
                // The two noises add up in log space.
                let noise = (1.0 + now.noise()) * (1.0 + before.noise) - 1.0;
                let factor = now.median / before.median;
                let verdict = if !factor.is_finite()
                    || !noise.is_finite()
                    || factor.ln().abs() <= (1.0 + noise).ln()
                {
                    Verdict::Within
                } else if factor > 1.0 {
                    Verdict::Up
                } else {
                    Verdict::Down
                };
                out.push(Movement {
                    id: ratio.id.clone(),
                    before: before.median,
                    now: now.median,
                    change: factor - 1.0,
                    noise,
                    verdict,
                    fdatasync_now_over_before: disk(&ratio.workload),
                });
            }
            None => out.push(Movement {
                id: ratio.id.clone(),
                before: f64::NAN,
                now: now.median,
                change: f64::NAN,
                noise: now.noise(),
                verdict: Verdict::New,
                fdatasync_now_over_before: None,
            }),
        }
    }
    for (id, before) in &previous.ratios {
        if !current.iter().any(|r| &r.id == id) {
            out.push(Movement {
                id: id.clone(),
                before: before.median,
                now: f64::NAN,
                change: f64::NAN,
                noise: before.noise,
                verdict: Verdict::Gone,
                fdatasync_now_over_before: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratio(id: &str, per_round: &[f64]) -> RatioResult {
        RatioResult {
            id: id.to_owned(),
            workload: "w".to_owned(),
            numerator: "annal".to_owned(),
            denominator: "peer".to_owned(),
            per_round: per_round.to_vec(),
        }
    }

    #[test]
    fn a_ratio_moves_only_past_the_noise() {
        // Proves the comparison flags a ratio that moved beyond both runs' noise, and only that one.
        let previous = Previous {
            commit: "a".to_owned(),
            mode: "quick".to_owned(),
            fdatasync_p50_us: 50.0,
            memcpy_gb_per_s: 5.0,
            ratios: [
                ("w/steady", Spread::of(&[0.9, 1.0, 1.1])),
                ("w/jump", Spread::of(&[0.95, 1.0, 1.05])),
                ("w/old", Spread::of(&[1.0])),
            ]
            .into_iter()
            .map(|(id, s)| (id.to_owned(), Noisy::from(s)))
            .collect(),
            ceilings: BTreeMap::new(),
        };
        let current = [
            ratio("w/steady", &[0.95, 1.05, 1.1]),
            ratio("w/jump", &[1.9, 2.0, 2.1]),
            ratio("w/fresh", &[3.0]),
        ];
        let verdicts: Vec<(String, Verdict)> = compare(&previous, &current, &[])
            .into_iter()
            .map(|m| (m.id, m.verdict))
            .collect();
        assert_eq!(
            verdicts,
            vec![
                ("w/steady".to_owned(), Verdict::Within),
                ("w/jump".to_owned(), Verdict::Up),
                ("w/fresh".to_owned(), Verdict::New),
                ("w/old".to_owned(), Verdict::Gone),
            ]
        );
    }
}
