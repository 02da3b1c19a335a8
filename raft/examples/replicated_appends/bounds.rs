//! What bounds a replicated append rate, measured in the same run as the rates: the
//! process's CPU time (so CPU per append of each system), and this disk's fdatasync
//! latency right before each pair of runs.
//!
//! Two ceilings follow for the replicated cluster:
//!
//! - CPU: the three replicas share this machine's cores, so the rate is at most
//!   `cores / replicated CPU per append`.
//! - Latency: a closed-loop client has one append outstanding, and a replicated append
//!   waits for the leader's fdatasync and then a follower's (openraft 0.9 replicates an
//!   entry only once the leader's log flushed it), so the rate is at most
//!   `clients / (2 × fdatasync latency)`, with the RPC, apply and reply taken as free.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/self/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;
/// Bytes each probe write puts before its fdatasync, like a small log record.
const PROBE_WRITE_BYTES: usize = 4096;
/// The probe file wraps around after this many bytes.
const PROBE_FILE_BYTES: u64 = 64 << 20;

/// User plus system CPU time of this process so far, threads that ended included.
pub fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces):
    // state is field 3, utime field 14 and stime field 15.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
}

/// The cores this process may run on.
pub fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// pwrite + fdatasync of one file beside the stores, on the same disk.
pub struct FsyncProbe {
    file: File,
    offset: u64,
}

impl FsyncProbe {
    /// Makes the probe file in `dir`, zero-filled so writes do not grow it.
    pub fn new(dir: &Path) -> FsyncProbe {
        let file = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.join("fdatasync-probe"))
            .unwrap();
        let zeros = vec![0u8; 1 << 20];
        for chunk in 0..PROBE_FILE_BYTES / zeros.len() as u64 {
            file.write_all_at(&zeros, chunk * zeros.len() as u64)
                .unwrap();
        }
        file.sync_all().unwrap();
        FsyncProbe { file, offset: 0 }
    }

    /// The mean latency of pwrite + fdatasync over `budget` (at least 20 syncs), what
    /// bounds a writer that waits for each.
    pub fn mean(&mut self, budget: Duration) -> Duration {
        let data = [0xA5u8; PROBE_WRITE_BYTES];
        // One unmeasured sync: the previous run may have left dirty pages.
        self.one(&data);
        let started = Instant::now();
        let mut syncs = 0u32;
        while syncs < 20 || started.elapsed() < budget {
            self.one(&data);
            syncs += 1;
        }
        started.elapsed() / syncs
    }

    fn one(&mut self, data: &[u8]) {
        if self.offset + data.len() as u64 > PROBE_FILE_BYTES {
            self.offset = 0;
        }
        self.file.write_all_at(data, self.offset).unwrap();
        self.file.sync_data().unwrap();
        self.offset += data.len() as u64;
    }
}

/// The replicated cluster's ceilings for one pair of runs, in appends per second.
#[derive(Debug, Clone, Copy)]
pub struct Ceilings {
    /// `cores / replicated CPU per append`.
    pub cpu: f64,
    /// `clients / (2 × fdatasync latency)`.
    pub latency: f64,
}

impl Ceilings {
    /// The ceilings from the replicated CPU per append and the probe's mean latency.
    pub fn new(replicated_cpu_per_append: Duration, fdatasync: Duration, clients: usize) -> Self {
        Ceilings {
            cpu: cores() / replicated_cpu_per_append.as_secs_f64().max(1e-9),
            latency: clients as f64 / (2.0 * fdatasync.as_secs_f64()).max(1e-9),
        }
    }

    /// The lower of the two.
    pub fn lowest(&self) -> f64 {
        self.cpu.min(self.latency)
    }
}
