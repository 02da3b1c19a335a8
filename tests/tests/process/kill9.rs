//! kill -9 on the real file system: a child process appends to a log (single events and
//! batches, `Synced` and `Written`, from one to three threads, over small segments so it
//! rolls) and reports every acknowledged append on a pipe; the parent SIGKILLs it at a
//! random moment, reopens the log and checks every acknowledged event is there byte for
//! byte, positions are gapless and no batch is partial. The same directory is reused
//! for every round, so recovery keeps running on logs that were already recovered, and
//! each child continues the log the previous one left. The parent's check closes the
//! log cleanly, so every child starts from a clean-close marker.
//!
//! Set `ANNAL_KILL9_SEED` to replay a failing run (the seed is printed).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use annal::{IoPath, Log, Options, Position};
use annal_tests::{check_payload, clock_seed, fnv1a, PayloadId, Rng};

use crate::child::{self, Running};

const SEGMENT_BYTES: u64 = 256 << 10;
const ROUNDS: u16 = 30;

/// One acknowledged append as the child reported it.
#[derive(Debug, Clone)]
struct Ack {
    synced: bool,
    first: u64,
    last: u64,
    run: u16,
    thread: u16,
    seq: u32,
    fnv: u64,
}

fn parse_ack(line: &str) -> Ack {
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 8, "malformed ack line {line:?}");
    assert_eq!(fields[0], "ack", "malformed ack line {line:?}");
    let synced = match fields[1] {
        "S" => true,
        "W" => false,
        other => panic!("unknown durability {other:?} in {line:?}"),
    };
    Ack {
        synced,
        first: fields[2].parse().unwrap(),
        last: fields[3].parse().unwrap(),
        run: fields[4].parse().unwrap(),
        thread: fields[5].parse().unwrap(),
        seq: fields[6].parse().unwrap(),
        fnv: fields[7].parse().unwrap(),
    }
}

/// What one round of the child left behind.
struct Round {
    open_position: Option<u64>,
    acks: Vec<Ack>,
}

/// Spawns a child appending as `run`, kills it with SIGKILL after a random delay, and
/// returns the complete lines it printed.
fn run_child_and_kill(dir: &Path, io_path: IoPath, run: u16, rng: &mut Rng) -> Round {
    let threads = rng.range(1, 3);
    let mut command = child::command("append", dir, SEGMENT_BYTES);
    command
        .env("ANNAL_IO_PATH", child::io_path_name(io_path))
        .arg(run.to_string())
        .arg(rng.next_u64().to_string())
        .arg(threads.to_string());
    let mut child = Running::spawn(command, Stdio::null());
    let mut lines = Vec::new();
    if rng.chance(15) {
        // Sometimes kill the child while it is still opening (recovering) the log.
        std::thread::sleep(Duration::from_millis(rng.range(0, 3)));
    } else {
        lines.push(child.wait_ready(&format!("round {run}")));
        std::thread::sleep(Duration::from_millis(rng.range(1, 120)));
    }
    lines.extend(child.kill_9(&format!("round {run}")).lines);
    let mut round = Round {
        open_position: None,
        acks: Vec::new(),
    };
    for line in &lines {
        if let Some(position) = line.strip_prefix("open ") {
            round.open_position = Some(position.parse().unwrap());
        } else {
            round.acks.push(parse_ack(line));
        }
    }
    round
}

/// Checks the order of the events a log holds: each (run, thread) is a gapless prefix of
/// what it appended, runs follow each other, every run starts where its child opened
/// the log, and every batch is whole.
fn check_structure(ids: &[PayloadId], opens: &HashMap<u16, u64>) {
    let mut next_seq: HashMap<(u16, u16), u32> = HashMap::new();
    let mut batch: Option<(PayloadId, u64)> = None;
    let mut last_run: Option<u16> = None;
    for (position, id) in ids.iter().enumerate() {
        let position = position as u64;
        let expected_seq = next_seq.entry((id.run, id.thread)).or_insert(0);
        assert_eq!(
            id.seq, *expected_seq,
            "position {position}: {id:?} does not follow the previous event of its thread"
        );
        *expected_seq += 1;
        if last_run != Some(id.run) {
            assert!(
                last_run.is_none_or(|last| last < id.run),
                "position {position}: run {} after run {last_run:?}",
                id.run
            );
            if let Some(&open) = opens.get(&id.run) {
                assert_eq!(
                    position, open,
                    "run {} starts at {position}, but its child opened the log at {open}",
                    id.run
                );
            }
            last_run = Some(id.run);
        }
        match batch {
            None => assert_eq!(
                id.index, 0,
                "position {position}: {id:?} is not the start of a batch"
            ),
            Some((start, start_position)) => {
                let expected_index = (position - start_position) as u16;
                assert!(
                    id.run == start.run
                        && id.thread == start.thread
                        && id.index == expected_index
                        && id.batch_len == start.batch_len,
                    "position {position}: {id:?} breaks into the batch {start:?} at {start_position} (partial batch)"
                );
            }
        }
        batch = if id.index + 1 == id.batch_len {
            None
        } else if id.index == 0 {
            Some((*id, position))
        } else {
            batch
        };
    }
    assert!(
        batch.is_none(),
        "the log ends inside the batch {batch:?} (partial batch)"
    );
}

/// Reopens the log, checks it whole against every acknowledgement so far, and returns
/// the number of events it holds.
fn verify(dir: &Path, acks: &[Ack], opens: &HashMap<u16, u64>) -> u64 {
    let log = Log::open(dir, Options::default().segment_bytes(SEGMENT_BYTES))
        .unwrap_or_else(|e| panic!("reopening after kill -9 failed: {e}"));
    assert_eq!(log.first_position(), Position(0));
    let mut events = Vec::new();
    for (at, event) in log.read_from(Position(0)).unwrap().enumerate() {
        let event = event.unwrap_or_else(|e| panic!("reading position {at}: {e}"));
        assert_eq!(event.position, Position(at as u64), "positions have a gap");
        events.push(event);
    }
    assert_eq!(log.next_position(), Position(events.len() as u64));
    let ids: Vec<PayloadId> = events
        .iter()
        .map(|event| {
            check_payload(&event.payload)
                .unwrap_or_else(|e| panic!("position {}: {e}", event.position))
        })
        .collect();
    check_structure(&ids, opens);
    for ack in acks {
        let kind = if ack.synced { "Synced" } else { "Written" };
        assert!(
            ack.last < events.len() as u64,
            "{kind} ack {ack:?} is lost: the log holds only {} events",
            events.len()
        );
        let batch_len = (ack.last - ack.first + 1) as u16;
        for (k, position) in (ack.first..=ack.last).enumerate() {
            let expected = PayloadId {
                run: ack.run,
                thread: ack.thread,
                seq: ack.seq + k as u32,
                index: k as u16,
                batch_len,
            };
            assert_eq!(
                ids[position as usize], expected,
                "{kind} ack {ack:?}: position {position} holds another event"
            );
        }
        let range = ack.first as usize..=ack.last as usize;
        let fnv = fnv1a(events[range].iter().map(|e| &e.payload[..]));
        assert_eq!(fnv, ack.fnv, "{kind} ack {ack:?}: payload checksum differs");
    }
    log.close().unwrap();
    // The next child opens from this clean close (its open takes the marker) and is
    // killed after appending: the marker must never spare the recovery that follows.
    assert!(
        dir.join("CLEAN").exists(),
        "a clean close leaves its marker"
    );
    events.len() as u64
}

#[test]
fn acknowledged_appends_survive_repeated_kill_9() {
    // Proves every Synced and Written acknowledgement survives SIGKILL, byte for byte,
    // with gapless positions and whole batches, across 30 crashes and recoveries of one
    // log, on the pwrite path.
    kill_9_rounds(IoPath::Pwrite);
}

#[test]
fn acknowledged_appends_survive_repeated_kill_9_on_io_uring() {
    // Proves the same as the pwrite test on the io_uring path (a linked write and
    // fdatasync per group commit), where this machine allows io_uring.
    if !child::io_uring_usable() {
        return;
    }
    kill_9_rounds(IoPath::IoUring);
}

/// 30 rounds of append, SIGKILL, reopen and check, with the child on `io_path`.
fn kill_9_rounds(io_path: IoPath) {
    let _turn = child::one_at_a_time();
    let seed = std::env::var("ANNAL_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(clock_seed);
    println!("kill9 seed {seed} (set ANNAL_KILL9_SEED={seed} to replay)");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut acks: Vec<Ack> = Vec::new();
    let mut opens: HashMap<u16, u64> = HashMap::new();
    let mut verified_end = 0u64;
    for run in 0..ROUNDS {
        let round = run_child_and_kill(dir.path(), io_path, run, &mut rng);
        if let Some(open) = round.open_position {
            assert_eq!(
                open, verified_end,
                "round {run}: the child recovered {open} events, the parent had verified {verified_end}"
            );
            opens.insert(run, open);
        }
        acks.extend(round.acks);
        let end = verify(dir.path(), &acks, &opens);
        assert!(
            end >= verified_end,
            "round {run}: the log shrank from {verified_end} to {end} events"
        );
        verified_end = end;
    }
    let synced = acks.iter().filter(|a| a.synced).count();
    let written = acks.len() - synced;
    let batches = acks.iter().filter(|a| a.last > a.first).count();
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            annal::testing::parse_segment_file_name(name.to_str().unwrap()).is_some()
        })
        .count();
    println!(
        "{ROUNDS} kills: {verified_end} events, {synced} Synced and {written} Written acks ({batches} batches), {segments} segments"
    );
    // The test proves nothing unless the children got real work acknowledged.
    assert!(synced > 0 && written > 0 && batches > 0, "too few acks");
    assert!(segments > 1, "the log never rolled to a second segment");
}
