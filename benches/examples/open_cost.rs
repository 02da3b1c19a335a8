//! What opening a log or store costs, and what a small one takes on disk (issue 13, §3).
//! Every part uses `Options::default()` only, so the same file measures any commit.
//!
//! ```text
//! cargo run -p annal-benches --example open_cost -- small [opens]     # debug build: the 50 ms target
//! cargo run --release -p annal-benches --example open_cost -- read [events] [rounds]
//! cargo run --release -p annal-benches --example open_cost -- crash [GB ...]
//! ```
//!
//! - `small`: a store and a log of 10 events each (Synced appends, then close): bytes
//!   allocated on disk (`st_blocks`, what `du` counts) and apparent (`ls -l`), and the
//!   median time of `opens` opens (each followed by `close`).
//! - `read`: open a log of `events` 100-byte events (written untimed: one event per
//!   record, and 100 per record) and read every event from position 0, touching each
//!   payload; against reading a raw file of the same records with `read` (the read
//!   benchmark's reference, which checks nothing), and `raw-crc`, the same plus a CRC-32
//!   of each record (what any reader that trusts no byte must add), and `raw-2crc`, the
//!   two checksums of Annal's record format instead (header and body). `annal-visit` reads
//!   through `LogReader::visit_next` (payloads borrowed within the call). The open is inside
//!   the timing for Annal, `File::open` for raw; each log is closed after its timing (the
//!   close is timed on its own). Rounds are interleaved, the order
//!   rotated; page cache warm.
//! - `crash`: per size, a child process fills a store to that many GB (1 KiB events,
//!   100 per append, over 1 000 streams), checkpoints its index, appends a fixed tail
//!   (100 000 events, the last `Synced`), and is killed with SIGKILL; the parent then times
//!   the first open (recovery included) and, after dropping that store without closing
//!   it, two more. The data is deleted after each size.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use annal::{Durability, EventStore, ExpectedRevision, Log, NewEvent, Options, Position};
use annal_benches::read::{read_annal, read_raw, write_annal, write_raw};
use annal_benches::record::touch;
use annal_benches::report::fmt_duration;
use annal_benches::stats::median;
use annal_benches::{dirs, payload, rotated, BenchResult};

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let part = args.first().map(String::as_str).unwrap_or("small");
    match part {
        "small" => small(args.get(1).map_or(Ok(21), |s| s.parse())?),
        "read" => read(
            args.get(1).map_or(Ok(1_000_000), |s| s.parse())?,
            args.get(2).map_or(Ok(9), |s| s.parse())?,
        ),
        "crash" => {
            let sizes: Vec<f64> = if args.len() > 1 {
                args[1..]
                    .iter()
                    .map(|s| s.parse())
                    .collect::<Result<_, _>>()?
            } else {
                vec![1.0, 2.0, 4.0]
            };
            crash(&sizes)
        }
        "child" => child(Path::new(&args[1]), args[2].parse()?),
        other => Err(format!("unknown part {other:?}: small, read or crash").into()),
    }
}

/// Bytes allocated (512-byte blocks) and apparent, over every file under `dir`.
fn disk_usage(dir: &Path) -> BenchResult<(u64, u64)> {
    let (mut allocated, mut apparent) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (a, b) = disk_usage(&entry.path())?;
            allocated += a;
            apparent += b;
        } else {
            allocated += meta.blocks() * 512;
            apparent += meta.len();
        }
    }
    Ok((allocated, apparent))
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1 << 20) as f64)
}

fn small(opens: usize) -> BenchResult<()> {
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("10 events, default options, {build} build, median of {opens} opens");
    println!("| what | on disk (allocated) | apparent | open (median) | min | max |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let store_dir = dirs::scratch("open-small-store-")?;
    {
        let store = EventStore::open(store_dir.path(), Options::default())?;
        for i in 0..10 {
            let event = NewEvent::new("Ticked", format!("event {i}"));
            store.append(
                "clock-1",
                ExpectedRevision::Any,
                vec![event],
                Durability::Synced,
            )?;
        }
        store.close()?;
    }
    let log_dir = dirs::scratch("open-small-log-")?;
    {
        let log = Log::open(log_dir.path(), Options::default())?;
        for i in 0..10 {
            log.append(format!("event {i}").as_bytes(), Durability::Synced)?;
        }
        log.close()?;
    }
    let mut store_times = Vec::new();
    let mut log_times = Vec::new();
    for _ in 0..opens {
        let started = Instant::now();
        let store = EventStore::open(store_dir.path(), Options::default())?;
        store_times.push(started.elapsed());
        store.close()?;
        let started = Instant::now();
        let log = Log::open(log_dir.path(), Options::default())?;
        log_times.push(started.elapsed());
        log.close()?;
    }
    for (what, dir, times) in [
        ("store", store_dir.path(), &store_times),
        ("log", log_dir.path(), &log_times),
    ] {
        let (allocated, apparent) = disk_usage(dir)?;
        let ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
        println!(
            "| {what} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
            mib(allocated),
            mib(apparent),
            median(&ms),
            ms.iter().cloned().fold(f64::MAX, f64::min),
            ms.iter().cloned().fold(0.0, f64::max),
        );
    }
    Ok(())
}

fn read(events: u64, rounds: usize) -> BenchResult<()> {
    let data = payload(100, 7);
    let single = dirs::scratch("open-read-single-")?;
    let batched = dirs::scratch("open-read-batch-")?;
    let raw = dirs::scratch("open-read-raw-")?;
    let raw_path = raw.path().join("records");
    write_annal(single.path(), events, 1, &data)?;
    write_annal(batched.path(), events, 100, &data)?;
    write_raw(&raw_path, events, &data)?;
    const RAW: usize = 4;
    let systems = [
        "annal",
        "annal-visit",
        "annal-batch100",
        "annal-batch100-visit",
        "raw",
        "raw-crc",
        "raw-2crc",
    ];
    let all: Vec<usize> = (0..systems.len()).collect();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); systems.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); systems.len()];
    let mut opens: Vec<Vec<f64>> = vec![Vec::new(); RAW];
    let mut closes: Vec<f64> = Vec::new();
    for round in 0..rounds {
        let mut elapsed = vec![Duration::ZERO; systems.len()];
        for k in rotated(&all, round) {
            let started = Instant::now();
            let (count, _) = match k {
                0..RAW => {
                    let dir = if k < 2 { single.path() } else { batched.path() };
                    let log = Log::open(dir, Options::default())?;
                    opens[k].push(started.elapsed().as_secs_f64() * 1e3);
                    let read = if k % 2 == 0 {
                        read_annal(&log)?
                    } else {
                        read_annal_visit(&log)?
                    };
                    elapsed[k] = started.elapsed();
                    // Closed outside the timing (a clean close lets the next open skip
                    // the scan of every segment but the last), and timed on its own.
                    let closing = Instant::now();
                    log.close()?;
                    closes.push(closing.elapsed().as_secs_f64() * 1e3);
                    read
                }
                RAW => read_raw(&raw_path)?,
                5 => read_raw_checked(&raw_path, false)?,
                _ => read_raw_checked(&raw_path, true)?,
            };
            if k >= RAW {
                elapsed[k] = started.elapsed();
            }
            if count != events {
                return Err(format!("{} read {count} of {events} events", systems[k]).into());
            }
        }
        for k in 0..systems.len() {
            rates[k].push(events as f64 / elapsed[k].as_secs_f64());
            ratios[k].push(elapsed[RAW].as_secs_f64() / elapsed[k].as_secs_f64());
        }
    }
    println!(
        "Open + read of {events} 100-byte events from position 0, touching each payload, \
         warm page cache; {rounds} interleaved rounds, default options."
    );
    println!("| reader | median events/s | min | max | ÷ raw (median of rounds) |");
    println!("| --- | --- | --- | --- | --- |");
    for k in 0..systems.len() {
        let r = &rates[k];
        println!(
            "| {} | {:.2} M/s | {:.2} M/s | {:.2} M/s | {:.2}× |",
            systems[k],
            median(r) / 1e6,
            r.iter().cloned().fold(f64::MAX, f64::min) / 1e6,
            r.iter().cloned().fold(0.0, f64::max) / 1e6,
            median(&ratios[k]),
        );
    }
    println!(
        "Of which `Log::open`, median: {:.1} ms (annal), {:.1} ms (annal-visit), \
         {:.1} ms (annal-batch100), {:.1} ms (annal-batch100-visit). \
         `Log::close` after each (not timed above): median {:.1} ms.",
        median(&opens[0]),
        median(&opens[1]),
        median(&opens[2]),
        median(&opens[3]),
        median(&closes),
    );
    Ok(())
}

/// Reads every event of `log` from position 0 through `LogReader::visit_next` (payloads
/// borrowed within the call), touching each payload as `read_annal` does.
fn read_annal_visit(log: &Log) -> BenchResult<(u64, u64)> {
    let mut reader = log.read_from(Position(0))?;
    let (mut count, mut acc) = (0u64, 0u64);
    loop {
        let visited = reader.visit_next(4096, |_, payload| acc = touch(acc, payload))?;
        if visited == 0 {
            break;
        }
        count += visited as u64;
    }
    Ok((count, acc))
}

/// The raw reference plus what any reader that trusts no byte must do: a CRC-32 over
/// each record (`crc32fast`, as Annal), its result folded in so it cannot be dropped.
/// With `two`, the checks of Annal's record format instead: one CRC-32 over the 8-byte
/// salt and the header's first 36 bytes, one over the body (what bounds a reader of
/// this format, whatever else it does).
fn read_raw_checked(path: &Path, two: bool) -> BenchResult<(u64, u64)> {
    use annal_benches::record::{raw_record_bytes, RAW_HEADER_BYTES, RAW_LENGTH_BYTES};
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut filled, mut count, mut acc) = (0usize, 0u64, 0u64);
    // Cloned per checksum, as Annal does: CPU features are detected once.
    let template = crc32fast::Hasher::new();
    loop {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
        let mut at = 0usize;
        while filled - at >= RAW_HEADER_BYTES + RAW_LENGTH_BYTES {
            let len_at = at + RAW_HEADER_BYTES;
            let len = u32::from_le_bytes(buf[len_at..len_at + 4].try_into()?) as usize;
            let record = raw_record_bytes(len);
            if filled - at < record {
                break;
            }
            if two {
                let mut salted = [0u8; 44];
                salted[8..].copy_from_slice(&buf[at..at + 36]);
                let mut header = template.clone();
                header.update(&salted);
                let mut body = template.clone();
                body.update(&buf[len_at..len_at + RAW_LENGTH_BYTES + len]);
                acc = acc.wrapping_add(u64::from(header.finalize() ^ body.finalize()));
            } else {
                let covered = &buf[at..len_at + RAW_LENGTH_BYTES + len];
                acc = acc.wrapping_add(u64::from(crc32fast::hash(covered)));
            }
            count += 1;
            at += record;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
    }
    Ok((count, acc))
}

/// Events the child appends after its index checkpoint: the tail each open replays.
const TAIL_EVENTS: u64 = 100_000;
const EVENT_BYTES: usize = 1000;
const EVENTS_PER_APPEND: usize = 100;
const STREAMS: u64 = 1000;

fn child(dir: &Path, bytes: u64) -> BenchResult<()> {
    let store = EventStore::open(dir, Options::default())?;
    let data = bytes::Bytes::from(payload(EVENT_BYTES, 3));
    let batch: Vec<NewEvent> = (0..EVENTS_PER_APPEND)
        .map(|_| NewEvent::new("Filled", data.clone()))
        .collect();
    let events = bytes / EVENT_BYTES as u64;
    let mut appended = 0u64;
    let mut k = 0u64;
    let mut append = |durability: Durability| -> BenchResult<()> {
        let stream = format!("fill-{}", k % STREAMS);
        k += 1;
        store.append(
            stream.as_str(),
            ExpectedRevision::Any,
            batch.clone(),
            durability,
        )?;
        Ok(())
    };
    while appended < events {
        append(Durability::Buffered)?;
        appended += EVENTS_PER_APPEND as u64;
    }
    store.checkpoint()?;
    let mut tail = 0;
    while tail < TAIL_EVENTS {
        append(Durability::Buffered)?;
        tail += EVENTS_PER_APPEND as u64;
    }
    append(Durability::Synced)?;
    println!("ready");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn free_gb(path: &Path) -> BenchResult<f64> {
    let output = Command::new("df")
        .arg("-B1")
        .arg("--output=avail")
        .arg(path)
        .output()?;
    let text = String::from_utf8(output.stdout)?;
    let avail: f64 = text
        .lines()
        .nth(1)
        .ok_or("df printed nothing")?
        .trim()
        .parse()?;
    Ok(avail / 1e9)
}

fn crash(sizes: &[f64]) -> BenchResult<()> {
    let exe = std::env::current_exe()?;
    println!("| log size | segments | first open after kill -9 | 2nd | 3rd | writing took |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for &gb in sizes {
        let dir = dirs::scratch("open-crash-")?;
        let free = free_gb(dir.path())?;
        if free < 2.0 * gb + 2.0 {
            println!(
                "| {gb} GB | skipped: {free:.1} GB free, needs {:.0} | | | | |",
                2.0 * gb + 2.0
            );
            continue;
        }
        let bytes = (gb * 1e9) as u64;
        let started = Instant::now();
        let mut child = Command::new(&exe)
            .arg("child")
            .arg(dir.path())
            .arg(bytes.to_string())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let wrote = started.elapsed();
        if line.trim() != "ready" {
            child.kill().ok();
            return Err(format!("child said {line:?}").into());
        }
        child.kill()?; // SIGKILL
        child.wait()?;
        let segments = std::fs::read_dir(dir.path())?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .count();
        let mut opens = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let store = EventStore::open(dir.path(), Options::default())?;
            opens.push(started.elapsed());
            // As a crash would: no close, no final checkpoint.
            drop(store);
        }
        println!(
            "| {gb} GB | {segments} | {} | {} | {} | {} |",
            fmt_duration(opens[0]),
            fmt_duration(opens[1]),
            fmt_duration(opens[2]),
            fmt_duration(wrote),
        );
        drop(dir);
    }
    Ok(())
}
