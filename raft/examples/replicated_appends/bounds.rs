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
//!   `clients / (leader fdatasync + follower fdatasync)`, with the RPC, apply and reply
//!   taken as free: once with the probe's latency for both (the disk alone), once with
//!   the mean syncs the raft logs saw in the run (the disk under this load).

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

    /// The median latency of pwrite + fdatasync over `budget` (at least 21 syncs): the
    /// disk's fdatasync now, robust to the odd stall of a shared disk.
    pub fn median(&mut self, budget: Duration) -> Duration {
        let data = [0xA5u8; PROBE_WRITE_BYTES];
        // One unmeasured sync: the previous run may have left dirty pages.
        self.one(&data);
        let started = Instant::now();
        let mut samples = Vec::new();
        while samples.len() < 21 || started.elapsed() < budget {
            let t = Instant::now();
            self.one(&data);
            samples.push(t.elapsed());
        }
        samples.sort_unstable();
        samples[samples.len() / 2]
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
    /// `clients / (2 × the probe's fdatasync)`: this disk alone.
    pub disk: f64,
    /// `clients / (leader sync + follower sync)`, both as the raft logs saw them in the
    /// run (the disk under this load, and the wait for a core after it).
    pub syncs: f64,
}

impl Ceilings {
    /// The ceilings from the replicated CPU per append, the probe's fdatasync latency,
    /// and the mean leader and follower raft-log syncs of the run.
    pub fn new(
        clients: usize,
        replicated_cpu_per_append: Duration,
        fdatasync: Duration,
        leader_sync: Duration,
        follower_sync: Duration,
    ) -> Self {
        let per_second = |d: f64| clients as f64 / d.max(1e-9);
        Ceilings {
            cpu: cores() / replicated_cpu_per_append.as_secs_f64().max(1e-9),
            disk: per_second(2.0 * fdatasync.as_secs_f64()),
            syncs: per_second((leader_sync + follower_sync).as_secs_f64()),
        }
    }

    /// The lower of the CPU ceiling and the ceiling of the syncs as the run saw them.
    pub fn lowest(&self) -> f64 {
        self.cpu.min(self.syncs)
    }
}
