//! The fdatasync-latency probe: a 100-byte pwrite into a preallocated file followed by an
//! fdatasync, repeated, on the same disk as the systems under test. Its median is the
//! yardstick the closed-loop ceiling is computed from.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::peers::zero_filled_file;
use crate::stats::percentile;
use crate::{dirs, BenchResult};

const PROBE_FILE_BYTES: u64 = 16 << 20;
const PROBE_WRITE_BYTES: usize = 100;

/// A preallocated, synced probe file, reused for every measurement of a run.
pub struct Probe {
    _dir: TempDir,
    file: File,
    offset: u64,
    max_syncs: usize,
    budget: Duration,
}

/// One probe measurement.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// Median pwrite+fdatasync latency.
    pub median: Duration,
    /// Mean latency (what bounds throughput).
    pub mean: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// Every latency measured, ascending.
    pub samples: Vec<Duration>,
}

impl Probe {
    /// Makes the probe file: at most `max_syncs` syncs or `budget` of time per
    /// measurement (at least 5 syncs).
    pub fn new(max_syncs: usize, budget: Duration) -> BenchResult<Probe> {
        let dir = dirs::scratch("probe-")?;
        let file = zero_filled_file(dir.path(), PROBE_FILE_BYTES)?;
        Ok(Probe {
            _dir: dir,
            file,
            offset: 0,
            max_syncs: max_syncs.max(5),
            budget,
        })
    }

    /// Measures pwrite+fdatasync latency now.
    pub fn measure(&mut self) -> BenchResult<ProbeResult> {
        let data = [0xA5u8; PROBE_WRITE_BYTES];
        let mut samples = Vec::with_capacity(self.max_syncs);
        let started = Instant::now();
        // One unmeasured sync first: the previous workload may have left dirty pages.
        self.one(&data)?;
        while samples.len() < self.max_syncs
            && (samples.len() < 5 || started.elapsed() < self.budget)
        {
            samples.push(self.one(&data)?);
        }
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        Ok(ProbeResult {
            median: percentile(&samples, 50.0),
            mean: total / samples.len().max(1) as u32,
            p90: percentile(&samples, 90.0),
            samples,
        })
    }

    fn one(&mut self, data: &[u8]) -> BenchResult<Duration> {
        if self.offset + data.len() as u64 > PROBE_FILE_BYTES {
            self.offset = 0;
        }
        let t = Instant::now();
        self.file.write_at(data, self.offset)?;
        self.file.sync_data()?;
        let elapsed = t.elapsed();
        // The next write goes right after this one, like a log's next record.
        self.offset += data.len() as u64;
        Ok(elapsed)
    }
}
