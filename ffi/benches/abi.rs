//! The ABI benchmark: the same raw-log workload (single appends, batch appends, reads one
//! event per call, reads in batches; `Durability::Written`, no fsync in the timed part)
//! through the Rust API and through the C ABI (benches/c/abi_bench.c linked against this
//! build's libannal.a), in one run; prints medians in ns per event and the C/Rust ratio.
//! `cargo bench -p annal-ffi --bench abi` (`-- --quick` for a smoke run). No assertions
//! on the figures: docs/ffi.md records them.
#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use annal::{Durability, Log, Options, Position};

struct Workload {
    events: usize,
    event_bytes: usize,
    batch: usize,
    repetitions: usize,
}

/// The workloads; `call` is a call that does almost nothing behind the boundary (a
/// reader's position), ns per call: the boundary's own cost.
const NAMES: [&str; 5] = ["append", "append_batch", "read", "read_batch", "call"];

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let workload = if quick {
        Workload {
            events: 20_000,
            event_bytes: 100,
            batch: 64,
            repetitions: 3,
        }
    } else {
        Workload {
            events: 200_000,
            event_bytes: 100,
            batch: 64,
            repetitions: 21,
        }
    };
    let work = tempfile::tempdir().expect("tempdir");
    let exe = compile_c(work.path());
    // Repetitions alternate between the two, so that a machine getting busier or quieter
    // during the run weighs on both alike.
    let (mut rust, mut c) = (vec![Vec::new(); NAMES.len()], vec![Vec::new(); NAMES.len()]);
    for r in 0..workload.repetitions {
        let dir = work.path().join(format!("rep-{r}"));
        std::fs::create_dir(&dir).expect("mkdir");
        // Which side goes first alternates too: the one that follows the other's
        // writeback and file deletions is not always the same.
        let run_c = |c: &mut Vec<Vec<f64>>| {
            for (all, one) in c.iter_mut().zip(c_workload(&exe, &dir, &workload)) {
                all.push(one);
            }
        };
        if r % 2 == 1 {
            run_c(&mut c);
        }
        for (all, one) in rust.iter_mut().zip(rust_workload(&dir, &workload)) {
            all.push(one);
        }
        if r % 2 == 0 {
            run_c(&mut c);
        }
        std::fs::remove_dir_all(&dir).expect("rm");
    }
    println!(
        "{} events of {} bytes, batches of {}, {} repetitions; median ns per event",
        workload.events, workload.event_bytes, workload.batch, workload.repetitions
    );
    println!(
        "{:<14} {:>10} {:>10} {:>8}",
        "workload", "rust", "c abi", "c/rust"
    );
    for (i, name) in NAMES.iter().enumerate() {
        let (r, c) = (median(&rust[i]), median(&c[i]));
        println!("{name:<14} {r:>10.1} {c:>10.1} {:>8.3}", c / r);
    }
}

fn median(figures: &[f64]) -> f64 {
    let mut sorted = figures.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn per_event(start: Instant, events: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / events as f64
}

/// One repetition of the workload through the Rust API: ns per event for each of
/// [`NAMES`].
fn rust_workload(base: &Path, w: &Workload) -> Vec<f64> {
    let payload = vec![b'e'; w.event_bytes];
    let slices: Vec<&[u8]> = vec![&payload[..]; w.batch];
    let mut figures = vec![0.0; NAMES.len()];
    {
        let log = Log::open(base.join("rust-append"), Options::default()).expect("open");
        let start = Instant::now();
        for _ in 0..w.events {
            log.append(&payload, Durability::Written).expect("append");
        }
        figures[0] = per_event(start, w.events);

        let mut bytes = 0;
        let start = Instant::now();
        for event in log.read_from(Position(0)).expect("reader") {
            bytes += event.expect("event").payload.len();
        }
        figures[2] = per_event(start, w.events);
        let start = Instant::now();
        let mut reader = log.read_from(Position(0)).expect("reader");
        let mut out = Vec::with_capacity(w.batch);
        loop {
            out.clear();
            if reader.next_batch(w.batch, &mut out).expect("batch") == 0 {
                break;
            }
            bytes += out.iter().map(|e| e.payload.len()).sum::<usize>();
        }
        figures[3] = per_event(start, w.events);
        let start = Instant::now();
        let mut positions = 0u64;
        for _ in 0..w.events {
            positions += std::hint::black_box(&reader).position().0;
        }
        figures[4] = per_event(start, w.events);
        assert_eq!(positions, (w.events * w.events) as u64);
        assert_eq!(bytes, 2 * w.events * w.event_bytes);
        log.close().expect("close");

        let log = Log::open(base.join("rust-append-batch"), Options::default()).expect("open");
        let start = Instant::now();
        for _ in (0..w.events).step_by(w.batch) {
            log.append_batch(&slices, Durability::Written)
                .expect("append");
        }
        figures[1] = per_event(start, w.events);
        log.close().expect("close");
    }
    figures
}

/// Where Cargo put this build's libannal_ffi.a (next to the bench binary).
fn staticlib() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("a directory");
    [
        deps.to_path_buf(),
        deps.parent().expect("target dir").to_path_buf(),
    ]
    .into_iter()
    .map(|dir| dir.join("libannal_ffi.a"))
    .find(|path| path.exists())
    .expect("libannal_ffi.a next to the bench binary")
}

/// Compiles the C half against this build's static library.
fn compile_c(base: &Path) -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = base.join("abi_bench");
    let status = Command::new("gcc")
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("benches/c/abi_bench.c"))
        .arg(staticlib())
        .args([
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
            "-o",
        ])
        .arg(&exe)
        .status()
        .expect("gcc runs");
    assert!(status.success(), "gcc failed on benches/c/abi_bench.c");
    exe
}

/// One repetition of the workload through the C ABI: ns per event for each of [`NAMES`].
fn c_workload(exe: &Path, base: &Path, w: &Workload) -> Vec<f64> {
    let output = Command::new(exe)
        .arg(base)
        .args([w.events, w.event_bytes, w.batch, 1].map(|n| n.to_string()))
        .output()
        .expect("abi_bench runs");
    assert!(
        output.status.success(),
        "abi_bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8 output");
    NAMES
        .iter()
        .map(|name| {
            let line = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("abi_bench printed no {name} line"));
            line.split_whitespace()
                .nth(1)
                .and_then(|f| f.parse().ok())
                .expect("a figure")
        })
        .collect()
}
