//! The io_uring durable write without Annal around it, one thread, on a preallocated
//! file on the disk under test: a 100-byte write linked (`IO_LINK`) to an fdatasync
//! against `pwrite` + `fdatasync`, alternating one of each, and how long the linked
//! write's own completion takes to arrive (what Annal's group-commit leader waits for
//! while it holds the writer's lock) against a bare `pwrite`.
//!
//! ```text
//! cargo run --release -p annal-benches --example uring_raw -- [rounds] [syncs_per_round]
//! ```

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]
#![expect(
    unsafe_code,
    reason = "io_uring requests point the kernel at a buffer that must outlive them"
)]

use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use annal_benches::peers::zero_filled_file;
use annal_benches::stats::{median, percentile};
use annal_benches::{dirs, BenchResult};
use io_uring::{opcode, squeue, types, IoUring};

const FILE_BYTES: u64 = 64 << 20;
const WRITE_BYTES: usize = 100;

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args.first().map_or(Ok(7), |s| s.parse())?;
    let syncs: usize = args.get(1).map_or(Ok(300), |s| s.parse())?;
    let dir = dirs::scratch("uring-raw-")?;
    let file = zero_filled_file(dir.path(), FILE_BYTES)?;
    let fd = types::Fd(file.as_raw_fd());
    let mut ring = IoUring::new(8)?;
    let data = [0xA5_u8; WRITE_BYTES];
    let mut offset = 0_u64;
    let next = |offset: &mut u64| {
        let at = *offset;
        *offset = (*offset + WRITE_BYTES as u64) % FILE_BYTES;
        at
    };
    let mut ratios = Vec::new();
    println!("| round | linked p50 | linked p99 | pwrite+fdatasync p50 | p99 | pwrite+fdatasync ÷ linked, p50 | linked write's completion p50 | bare pwrite p50 |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for round in 0..rounds {
        let (mut linked, mut plain, mut write_done, mut bare) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..syncs {
            let at = next(&mut offset);
            let t = Instant::now();
            let write = opcode::Write::new(fd, data.as_ptr(), WRITE_BYTES as u32)
                .offset(at)
                .build()
                .flags(squeue::Flags::IO_LINK)
                .user_data(0);
            let sync = opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data(1);
            // SAFETY: `data` and `file` outlive both requests: both completions are
            // reaped below before the next iteration.
            unsafe {
                ring.submission().push(&write).unwrap();
                ring.submission().push(&sync).unwrap();
            }
            ring.submit_and_wait(1)?;
            write_done.push(t.elapsed());
            let mut reaped = 0;
            while reaped < 2 {
                for cqe in ring.completion() {
                    assert!(cqe.result() >= 0, "request failed: {}", cqe.result());
                    reaped += 1;
                }
                if reaped < 2 {
                    ring.submit_and_wait(1)?;
                }
            }
            linked.push(t.elapsed());
            let at = next(&mut offset);
            let t = Instant::now();
            file.write_all_at(&data, at)?;
            bare.push(t.elapsed());
            file.sync_data()?;
            plain.push(t.elapsed());
        }
        for v in [&mut linked, &mut plain, &mut write_done, &mut bare] {
            v.sort_unstable();
        }
        let ratio = us(percentile(&plain, 50.0)) / us(percentile(&linked, 50.0));
        ratios.push(ratio);
        println!(
            "| {round} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs | {ratio:.2}× | {:.1} µs | {:.1} µs |",
            us(percentile(&linked, 50.0)),
            us(percentile(&linked, 99.0)),
            us(percentile(&plain, 50.0)),
            us(percentile(&plain, 99.0)),
            us(percentile(&write_done, 50.0)),
            us(percentile(&bare, 50.0)),
        );
    }
    println!(
        "\nmedian over rounds of pwrite+fdatasync ÷ linked (p50): {:.2}×",
        median(&ratios)
    );
    Ok(())
}
