//! Closed-loop driver: `threads` threads each append one durable event, wait for the
//! acknowledgement, and go again, until a deadline or an operation budget is reached.
//! Every operation's latency is recorded.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use crate::peers::DurableLog;
use crate::stats::{percentile, rate};
use crate::BenchResult;

/// When a closed-loop run stops.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// After this much time (operations in flight then still complete and count).
    After(Duration),
    /// After this many operations in total, over all threads.
    Ops(u64),
}

/// What one closed-loop run measured.
#[derive(Debug, Clone)]
pub struct LoopStats {
    /// Threads that ran.
    pub threads: usize,
    /// Operations completed.
    pub ops: u64,
    /// From the common start until the last thread finished.
    pub elapsed: Duration,
    /// Every operation's latency, ascending.
    pub latencies: Vec<Duration>,
    /// fdatasyncs the system made during the run, when it counts them.
    pub syncs: Option<u64>,
}

impl LoopStats {
    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        rate(self.ops, self.elapsed)
    }

    /// Median latency.
    pub fn p50(&self) -> Duration {
        percentile(&self.latencies, 50.0)
    }

    /// 99th-percentile latency.
    pub fn p99(&self) -> Duration {
        percentile(&self.latencies, 99.0)
    }

    /// fdatasyncs per second, when counted.
    pub fn syncs_per_sec(&self) -> Option<f64> {
        self.syncs.map(|s| rate(s, self.elapsed))
    }
}

/// Runs `threads` closed-loop appenders of `payload` against `log` until `stop`.
pub fn run(
    log: &dyn DurableLog,
    threads: usize,
    stop: Stop,
    payload: &[u8],
) -> BenchResult<LoopStats> {
    let threads = threads.max(1);
    let barrier = Barrier::new(threads + 1);
    let stopping = AtomicBool::new(false);
    let issued = AtomicU64::new(0);
    let first_error: Mutex<Option<String>> = Mutex::new(None);
    let syncs_before = log.fdatasyncs();
    let budget = match stop {
        Stop::Ops(n) => n,
        Stop::After(_) => u64::MAX,
    };
    let per_thread_capacity = match stop {
        Stop::Ops(n) => (n as usize).div_ceil(threads),
        Stop::After(_) => 1024,
    };

    let (latencies, elapsed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (barrier, stopping, issued, first_error) =
                    (&barrier, &stopping, &issued, &first_error);
                scope.spawn(move || {
                    let mut latencies = Vec::with_capacity(per_thread_capacity);
                    barrier.wait();
                    while !stopping.load(Ordering::Relaxed) {
                        if issued.fetch_add(1, Ordering::Relaxed) >= budget {
                            break;
                        }
                        let t = Instant::now();
                        if let Err(e) = log.append_synced(payload) {
                            let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                            slot.get_or_insert_with(|| e.to_string());
                            stopping.store(true, Ordering::Relaxed);
                            break;
                        }
                        latencies.push(t.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        if let Stop::After(duration) = stop {
            while started.elapsed() < duration && !stopping.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5).min(duration));
            }
            stopping.store(true, Ordering::Relaxed);
        }
        let mut all = Vec::new();
        for worker in workers {
            match worker.join() {
                Ok(latencies) => all.extend(latencies),
                Err(_) => {
                    let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert_with(|| "an appender thread panicked".to_owned());
                }
            }
        }
        (all, started.elapsed())
    });

    if let Some(error) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(error.into());
    }
    let mut latencies = latencies;
    latencies.sort_unstable();
    let syncs = match (syncs_before, log.fdatasyncs()) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    Ok(LoopStats {
        threads,
        ops: latencies.len() as u64,
        elapsed,
        latencies,
        syncs,
    })
}

/// Closed-loop runs of one system added up: throughput is total operations over total
/// time, percentiles are over every operation.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Operations completed.
    pub ops: u64,
    /// Time measured.
    pub elapsed: Duration,
    /// Every latency (unsorted until [`Tally::finish`]).
    pub latencies: Vec<Duration>,
    /// fdatasyncs counted, when the system counts them.
    pub syncs: Option<u64>,
    /// Runs added.
    pub runs: usize,
}

impl Tally {
    /// Adds one run.
    pub fn add(&mut self, stats: &LoopStats) {
        self.syncs = match (self.runs, self.syncs, stats.syncs) {
            (0, _, syncs) => syncs,
            (_, Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        self.runs += 1;
        self.ops += stats.ops;
        self.elapsed += stats.elapsed;
        self.latencies.extend_from_slice(&stats.latencies);
    }

    /// Sorts the latencies; call before the percentiles.
    pub fn finish(&mut self) {
        self.latencies.sort_unstable();
    }

    /// Operations per second over all runs.
    pub fn ops_per_sec(&self) -> f64 {
        rate(self.ops, self.elapsed)
    }

    /// Median latency (after [`Tally::finish`]).
    pub fn p50(&self) -> Duration {
        percentile(&self.latencies, 50.0)
    }

    /// 99th-percentile latency (after [`Tally::finish`]).
    pub fn p99(&self) -> Duration {
        percentile(&self.latencies, 99.0)
    }

    /// fdatasyncs per second, when counted.
    pub fn syncs_per_sec(&self) -> Option<f64> {
        self.syncs.map(|s| rate(s, self.elapsed))
    }
}
