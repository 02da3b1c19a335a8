//! Diagnoses the cost of one durable 144-byte write by path, interleaved: `pwrite` +
//! `fdatasync` on a preallocated file, against a write through Annal's memory-mapped
//! [`annal::FileStorage`] file + `fdatasync`, on the same disk.
//!
//! ```text
//! cargo run --release -p annal-benches --example sync_paths -- [ops per round] [rounds] [raw|mapped|both]
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use annal::{FileStorage, Storage};
use annal_benches::report::fmt_duration;
use annal_benches::stats::percentile;
use annal_benches::{dirs, BenchResult};

const FILE_BYTES: u64 = 64 << 20;
const RECORD: usize = 144;

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ops: usize = args.first().map_or(Ok(500), |s| s.parse())?;
    let rounds: usize = args.get(1).map_or(Ok(3), |s| s.parse())?;
    let only = args.get(2).map_or("both", String::as_str);
    let (do_raw, do_mapped) = (only != "mapped", only != "raw");
    let dir = dirs::scratch("sync-paths-")?;
    let storage = FileStorage;
    let mapped = storage.create_file(&dir.path().join("mapped"), FILE_BYTES)?;
    let raw_file = storage.create_file(&dir.path().join("raw"), FILE_BYTES)?;
    drop(raw_file);
    let raw = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.path().join("raw"))?;
    let record = [0x5Au8; RECORD];
    let (mut raw_at, mut mapped_at) = (0u64, 0u64);
    for round in 0..rounds {
        let mut raw_lat = Vec::with_capacity(ops);
        for _ in 0..if do_raw { ops } else { 0 } {
            let t = Instant::now();
            raw.write_at(&record, raw_at)?;
            raw.sync_data()?;
            raw_lat.push(t.elapsed());
            raw_at += RECORD as u64;
        }
        let mut mapped_lat = Vec::with_capacity(ops);
        let mut copy_lat: Vec<Duration> = Vec::with_capacity(ops);
        for _ in 0..if do_mapped { ops } else { 0 } {
            let t = Instant::now();
            mapped.write_at(mapped_at, &record)?;
            copy_lat.push(t.elapsed());
            mapped.sync_data()?;
            mapped_lat.push(t.elapsed());
            mapped_at += RECORD as u64;
        }
        for v in [&mut raw_lat, &mut mapped_lat, &mut copy_lat] {
            v.sort_unstable();
        }
        println!(
            "round {round}: pwrite+fdatasync p50 {} p99 {} | mmap write+fdatasync p50 {} p99 {} \
             (the mmap copy alone p50 {} p99 {})",
            fmt_duration(percentile(&raw_lat, 50.0)),
            fmt_duration(percentile(&raw_lat, 99.0)),
            fmt_duration(percentile(&mapped_lat, 50.0)),
            fmt_duration(percentile(&mapped_lat, 99.0)),
            fmt_duration(percentile(&copy_lat, 50.0)),
            fmt_duration(percentile(&copy_lat, 99.0)),
        );
    }
    Ok(())
}
