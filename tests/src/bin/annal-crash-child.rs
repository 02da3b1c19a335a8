//! The child process of the process-level tests.
//!
//! ```text
//! annal-crash-child append <dir> <segment_bytes> <run> <seed> <threads>
//!     Opens the log, prints `open <next_position>`, then appends from <threads> threads
//!     until killed, printing after each acknowledged append
//!     `ack <S|W> <first> <last> <run> <thread> <seq_first> <fnv1a of the payloads>`.
//! annal-crash-child hold <dir> <segment_bytes>
//!     Opens the log, prints `held`, waits for end of standard input, closes, prints
//!     `closed`.
//! annal-crash-child roll-after-open <dir> <segment_bytes> <rounds> <hogs>
//!     <rounds> times, in a fresh subdirectory: writes a log whose first segment is
//!     almost full, reopens it and at once appends three events of almost a segment each
//!     (so the first append rolls before the background preparer has run), then reopens
//!     and checks all four events, while <hogs> threads spin to perturb scheduling.
//!     Prints `ok` and exits 0, or prints what went wrong to standard error and fails.
//! annal-crash-child open <dir> <segment_bytes>
//!     Opens and closes the log, printing `opened`; on failure prints
//!     `error code=<n>: <message>` to standard error and exits with the error's code.
//! annal-crash-child consumers <dir> <segment_bytes> <seed>
//!     Opens the log, creates the consumers `plain-0`, `plain-1`, `outbox-0` and
//!     `outbox-1` if missing, prints `open <next_position>`, then until killed: one thread
//!     appends input events; each consumer subscribes from its checkpoint and, after
//!     each batch it reads, commits (`plain-*` with `Consumer::commit`, `outbox-*` with
//!     `Consumer::append_and_commit` of one `out <name> <through>` event, `Synced` or
//!     `Written`), printing `commit <name> <position>` once the commit returned; and a
//!     thread truncates the log before the smallest checkpoint now and then.
//! annal-crash-child store-reactor <dir> <segment_bytes> <seed>
//!     Opens an event store, creates the consumer `billing` if missing, retries the
//!     reaction to the newest order it handled (it must write nothing), prints
//!     `open <next_position>`, then until killed: one thread places orders (streams
//!     `order-<seed>-<n>`) and `billing` issues an invoice per order with
//!     `StoreConsumer::append_and_commit`, printing `commit <checkpoint>` once each
//!     returned (`annal_tests::run_reactor`).
//! annal-crash-child truncate <dir> <segment_bytes> <generation> <seed>
//!     Opens the log, prints `open <next_position>`, then until killed: appends a few
//!     `Synced` events, each payload the generation (u64) and the event's position
//!     (u64) followed by filler, printing `ack <first> <last> <generation>` after each;
//!     then now and then truncates a random suffix, printing `cutting <position>`
//!     before and `cut <position>` after, and moves to the next generation.
//! ```
//!
//! `ANNAL_IO_PATH` (`auto`, `io-uring` or `pwrite`; default `auto`) chooses the path of
//! durable writes for every mode.

#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use annal::{Durability, IoPath, Log, Options, Position, Start, SubscriptionOptions, Visibility};
use annal_tests::{fnv1a, payload, run_reactor, PayloadId, Rng};

/// Exit code for a usage error or an unexpected failure (engine error codes are 1..=10).
const EXIT_FAILURE: u8 = 100;
/// Most appends one thread makes before exiting on its own.
const APPENDS_PER_THREAD_MAX: u32 = 1_000_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("annal-crash-child: {message}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn arg<T: std::str::FromStr>(args: &[String], at: usize, name: &str) -> Result<T, String> {
    args.get(at)
        .ok_or_else(|| format!("missing argument <{name}>"))?
        .parse()
        .map_err(|_| format!("argument <{name}> is not valid: {:?}", args[at]))
}

fn options(args: &[String]) -> Result<Options, String> {
    let io_path = match std::env::var("ANNAL_IO_PATH").as_deref() {
        Err(_) | Ok("auto") => IoPath::Auto,
        Ok("io-uring") => IoPath::IoUring,
        Ok("pwrite") => IoPath::Pwrite,
        Ok(other) => {
            return Err(format!(
                "ANNAL_IO_PATH={other:?} is not auto, io-uring or pwrite"
            ))
        }
    };
    Ok(Options::default()
        .segment_bytes(arg(args, 2, "segment_bytes")?)
        .io_path(io_path))
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mode = args.first().map(String::as_str).unwrap_or("");
    let dir: String = arg(args, 1, "dir")?;
    match mode {
        "append" => {
            let run: u16 = arg(args, 3, "run")?;
            let seed: u64 = arg(args, 4, "seed")?;
            let threads: u16 = arg(args, 5, "threads")?;
            append(&dir, options(args)?, run, seed, threads)
        }
        "hold" => {
            let log = Log::open(&dir, options(args)?).map_err(|e| format!("open: {e}"))?;
            say("held")?;
            let mut rest = Vec::new();
            std::io::stdin()
                .read_to_end(&mut rest)
                .map_err(|e| format!("stdin: {e}"))?;
            log.close().map_err(|e| format!("close: {e}"))?;
            say("closed")?;
            Ok(ExitCode::SUCCESS)
        }
        "roll-after-open" => {
            let rounds: u32 = arg(args, 3, "rounds")?;
            let hogs: u32 = arg(args, 4, "hogs")?;
            roll_after_open(Path::new(&dir), options(args)?, rounds, hogs)?;
            say("ok")?;
            Ok(ExitCode::SUCCESS)
        }
        "consumers" => {
            let seed: u64 = arg(args, 3, "seed")?;
            consumers(&dir, options(args)?, seed)
        }
        "store-reactor" => {
            let seed: u64 = arg(args, 3, "seed")?;
            run_reactor(&dir, options(args)?, seed, say)?;
            Ok(ExitCode::SUCCESS)
        }
        "truncate" => {
            let generation: u64 = arg(args, 3, "generation")?;
            let seed: u64 = arg(args, 4, "seed")?;
            truncate_loop(&dir, options(args)?, generation, seed)
        }
        "open" => match Log::open(&dir, options(args)?) {
            Ok(log) => {
                log.close().map_err(|e| format!("close: {e}"))?;
                say("opened")?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                let code = e.code() as i32;
                eprintln!("error code={code}: {e}");
                Ok(ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FAILURE)))
            }
        },
        other => Err(format!("unknown mode {other:?}")),
    }
}

/// Writes one whole line to stdout and flushes it, so the parent sees it even if this
/// process is killed right after.
fn say(line: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}

fn append(
    dir: &str,
    options: Options,
    run: u16,
    seed: u64,
    threads: u16,
) -> Result<ExitCode, String> {
    let log = Arc::new(Log::open(dir, options).map_err(|e| format!("open: {e}"))?);
    say(&format!("open {}", log.next_position()))?;
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let log = Arc::clone(&log);
            let rng = Rng::new(seed ^ (u64::from(thread) << 40));
            std::thread::spawn(move || append_thread(&log, run, thread, rng))
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .map_err(|_| "an appending thread panicked".to_string())??;
    }
    Ok(ExitCode::SUCCESS)
}

/// Appends single events and batches, `Synced` or `Written`, acknowledging each.
fn append_thread(log: &Log, run: u16, thread: u16, mut rng: Rng) -> Result<(), String> {
    let mut seq = 0u32;
    while seq < APPENDS_PER_THREAD_MAX {
        let batch_len = if rng.chance(50) {
            1
        } else {
            rng.range(2, 8) as u16
        };
        let payloads: Vec<Vec<u8>> = (0..batch_len)
            .map(|index| {
                payload(PayloadId {
                    run,
                    thread,
                    seq: seq + u32::from(index),
                    index,
                    batch_len,
                })
            })
            .collect();
        let (durability, tag) = if rng.chance(70) {
            (Durability::Synced, "S")
        } else {
            (Durability::Written, "W")
        };
        let appended = if batch_len == 1 {
            log.append(&payloads[0], durability)
        } else {
            log.append_batch(&payloads, durability)
        }
        .map_err(|e| format!("append: {e}"))?;
        let fnv = fnv1a(payloads.iter().map(Vec::as_slice));
        say(&format!(
            "ack {tag} {} {} {run} {thread} {seq} {fnv}",
            appended.first, appended.last
        ))?;
        seq += u32::from(batch_len);
    }
    Ok(())
}

/// See the `roll-after-open` mode in the module docs.
fn roll_after_open(dir: &Path, options: Options, rounds: u32, hogs: u32) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let spinners: Vec<_> = (0..hogs)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let result = (0..rounds).try_for_each(|round| {
        roll_once(&dir.join(round.to_string()), &options).map_err(|e| format!("round {round}: {e}"))
    });
    stop.store(true, Ordering::Relaxed);
    for spinner in spinners {
        spinner
            .join()
            .map_err(|_| "a spinning thread panicked".to_string())?;
    }
    result
}

fn roll_once(dir: &Path, options: &Options) -> Result<(), String> {
    // Three quarters of a segment: one per segment, so each append after the first rolls.
    let event_bytes = (options.segment_bytes * 3 / 4) as usize;
    let events: Vec<Vec<u8>> = (0..4u8).map(|k| vec![k + 1; event_bytes]).collect();
    let log = Log::open(dir, options.clone()).map_err(|e| format!("create: {e}"))?;
    log.append(&events[0], Durability::Written)
        .map_err(|e| format!("first append: {e}"))?;
    log.close().map_err(|e| format!("close: {e}"))?;
    let log = Log::open(dir, options.clone()).map_err(|e| format!("reopen: {e}"))?;
    for event in &events[1..] {
        log.append(event, Durability::Written)
            .map_err(|e| format!("append after reopen: {e}"))?;
    }
    log.close().map_err(|e| format!("close: {e}"))?;
    let log = Log::open(dir, options.clone()).map_err(|e| format!("last reopen: {e}"))?;
    let read: Vec<Vec<u8>> = log
        .read_from(Position(0))
        .map_err(|e| format!("read: {e}"))?
        .map(|event| event.map(|e| e.payload.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("read: {e}"))?;
    if read != events {
        return Err(format!(
            "read back {} events, not the 4 appended (or with other bytes)",
            read.len()
        ));
    }
    drop(log);
    std::fs::remove_dir_all(dir).map_err(|e| format!("remove {}: {e}", dir.display()))
}

/// The consumers of the `consumers` mode: (name, commits with its appends).
const CHILD_CONSUMERS: [(&str, bool); 4] = [
    ("plain-0", false),
    ("plain-1", false),
    ("outbox-0", true),
    ("outbox-1", true),
];

/// See the `consumers` mode in the module docs.
fn consumers(dir: &str, options: Options, seed: u64) -> Result<ExitCode, String> {
    let log = Arc::new(Log::open(dir, options).map_err(|e| format!("open: {e}"))?);
    for (name, _) in CHILD_CONSUMERS {
        if log.consumer(name).is_err() {
            log.create_consumer(name, Start::Beginning)
                .map_err(|e| format!("create consumer {name}: {e}"))?;
        }
    }
    say(&format!("open {}", log.next_position()))?;
    let mut threads = Vec::new();
    {
        let log = Arc::clone(&log);
        let mut rng = Rng::new(seed);
        threads.push(std::thread::spawn(move || -> Result<(), String> {
            let mut n = 0u64;
            loop {
                let durability = if rng.chance(20) {
                    Durability::Synced
                } else {
                    Durability::Written
                };
                log.append(format!("in {n}").as_bytes(), durability)
                    .map_err(|e| format!("append: {e}"))?;
                n += 1;
                if rng.chance(5) {
                    std::thread::sleep(std::time::Duration::from_micros(rng.range(0, 500)));
                }
            }
        }));
    }
    for (k, (name, outbox)) in CHILD_CONSUMERS.into_iter().enumerate() {
        let log = Arc::clone(&log);
        let mut rng = Rng::new(seed ^ ((k as u64 + 1) << 48));
        threads.push(std::thread::spawn(move || {
            consume(&log, name, outbox, &mut rng)
        }));
    }
    {
        let log = Arc::clone(&log);
        threads.push(std::thread::spawn(move || -> Result<(), String> {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(15));
                let oldest = log.consumers().iter().map(|c| c.checkpoint).min();
                if let Some(oldest) = oldest {
                    log.truncate_before(oldest)
                        .map_err(|e| format!("truncate_before: {e}"))?;
                }
            }
        }));
    }
    for thread in threads {
        thread
            .join()
            .map_err(|_| "a thread panicked".to_string())??;
    }
    Ok(ExitCode::SUCCESS)
}

/// One consumer's loop: read a batch, commit after it, report the commit.
fn consume(log: &Log, name: &str, outbox: bool, rng: &mut Rng) -> Result<(), String> {
    let consumer = log
        .consumer(name)
        .map_err(|e| format!("consumer {name}: {e}"))?;
    let mut subscription = consumer
        .subscribe_with(SubscriptionOptions::default().visibility(Visibility::Written))
        .map_err(|e| format!("subscribe {name}: {e}"))?;
    let mut batch = Vec::new();
    loop {
        batch.clear();
        let max = rng.range(1, 40) as usize;
        subscription
            .next_batch(max, &mut batch, std::time::Duration::from_millis(50))
            .map_err(|e| format!("read {name}: {e}"))?;
        if batch.is_empty() {
            continue;
        }
        let through = subscription.position();
        if outbox {
            let durability = if rng.chance(50) {
                Durability::Synced
            } else {
                Durability::Written
            };
            let output = format!("out {name} {through}");
            consumer
                .append_and_commit(&[output.as_bytes()], through, durability)
                .map_err(|e| format!("append_and_commit {name}: {e}"))?;
        } else {
            consumer
                .commit(through)
                .map_err(|e| format!("commit {name}: {e}"))?;
        }
        say(&format!("commit {name} {through}"))?;
    }
}

/// Appends and truncates suffixes until killed (the `truncate` mode).
fn truncate_loop(
    dir: &str,
    options: Options,
    mut generation: u64,
    seed: u64,
) -> Result<ExitCode, String> {
    let log = Log::open(dir, options).map_err(|e| format!("open: {e}"))?;
    say(&format!("open {}", log.next_position()))?;
    let mut rng = Rng::new(seed);
    for _ in 0..APPENDS_PER_THREAD_MAX {
        let next = log.next_position().0;
        let len = rng.range(100, 3000) as usize;
        let mut payload = Vec::with_capacity(len);
        payload.extend_from_slice(&generation.to_le_bytes());
        payload.extend_from_slice(&next.to_le_bytes());
        payload.resize(len, (generation % 251) as u8);
        let appended = log
            .append(&payload, Durability::Synced)
            .map_err(|e| format!("append: {e}"))?;
        say(&format!(
            "ack {} {} {generation}",
            appended.first, appended.last
        ))?;
        if rng.chance(10) {
            let next = log.next_position().0;
            let first = log.first_position().0;
            let cut = next - rng.below(40).min(next - first);
            say(&format!("cutting {cut}"))?;
            log.truncate_from(Position(cut))
                .map_err(|e| format!("truncate_from {cut}: {e}"))?;
            say(&format!("cut {cut}"))?;
            generation += 1;
        }
    }
    Ok(ExitCode::SUCCESS)
}
