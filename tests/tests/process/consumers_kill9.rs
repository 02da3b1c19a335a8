//! kill -9 of a process whose consumers commit in a loop (real files): a child appends
//! input events while two consumers commit their checkpoints to their files and two
//! commit them atomically with an output event of their own (`append_and_commit`), and
//! retention truncates behind the slowest; the parent SIGKILLs it at a random moment and
//! reopens the log. No checkpoint may be lost (below one the child reported committed)
//! or go backwards (below one an earlier round verified), and an outbox consumer's
//! checkpoint must equal the newest output event it appended: output and checkpoint
//! commit together, and each batch was handled exactly once.
//!
//! Set `ANNAL_KILL9_SEED` to replay a failing run (the seed is printed).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use annal::{Log, Options, Position};
use annal_tests::{clock_seed, Rng};

use crate::child::{self, Running};

const SEGMENT_BYTES: u64 = 64 << 10;
const ROUNDS: u32 = 20;
const CONSUMERS: [&str; 4] = ["plain-0", "plain-1", "outbox-0", "outbox-1"];

/// Runs the child until a random moment after it opened the log, kills it with SIGKILL
/// and returns the highest checkpoint it reported committed for each consumer.
fn run_child_and_kill(dir: &Path, round: u32, rng: &mut Rng) -> HashMap<String, u64> {
    let mut command = child::command("consumers", dir, SEGMENT_BYTES);
    command.arg(rng.next_u64().to_string());
    let mut child = Running::spawn(command, Stdio::null());
    let line = child.wait_ready(&format!("round {round}"));
    assert!(line.starts_with("open "), "round {round}: {line:?}");
    std::thread::sleep(Duration::from_millis(rng.range(20, 200)));
    let ended = child.kill_9(&format!("round {round}"));
    let mut acked: HashMap<String, u64> = HashMap::new();
    for line in ended.lines {
        let fields: Vec<&str> = line.split(' ').collect();
        assert!(
            fields.len() == 3 && fields[0] == "commit",
            "round {round}: malformed line {line:?}"
        );
        let position: u64 = fields[2].parse().unwrap();
        let best = acked.entry(fields[1].to_owned()).or_insert(0);
        *best = (*best).max(position);
    }
    acked
}

/// Reopens the log and returns each consumer's checkpoint, after checking each outbox
/// consumer's output events against its checkpoint.
fn verify(dir: &Path, round: u32) -> (HashMap<String, u64>, u64) {
    let log = Log::open(dir, Options::default().segment_bytes(SEGMENT_BYTES))
        .unwrap_or_else(|e| panic!("round {round}: reopening after kill -9 failed: {e}"));
    let next = log.next_position().0;
    let checkpoints: HashMap<String, u64> = log
        .consumers()
        .into_iter()
        .map(|c| (c.name, c.checkpoint.0))
        .collect();
    let mut outputs: HashMap<String, Vec<u64>> = HashMap::new();
    for event in log.read_from(log.first_position()).unwrap() {
        let event = event.unwrap();
        let text = std::str::from_utf8(&event.payload).unwrap();
        if let Some(rest) = text.strip_prefix("out ") {
            let (name, through) = rest.split_once(' ').unwrap();
            outputs
                .entry(name.to_owned())
                .or_default()
                .push(through.parse().unwrap());
        }
    }
    for name in CONSUMERS {
        let checkpoint = *checkpoints
            .get(name)
            .unwrap_or_else(|| panic!("round {round}: consumer {name} is lost"));
        assert!(
            checkpoint <= next,
            "round {round}: {name} at {checkpoint} is past the log's end {next}"
        );
        if name.starts_with("outbox") {
            let throughs = outputs.get(name).map(Vec::as_slice).unwrap_or(&[]);
            assert!(
                throughs.windows(2).all(|w| w[0] < w[1]),
                "round {round}: {name} handled a batch twice: {throughs:?}"
            );
            let newest = throughs.last().copied().unwrap_or(0);
            assert_eq!(
                checkpoint, newest,
                "round {round}: {name}'s checkpoint and its newest output disagree"
            );
        }
    }
    log.close().unwrap();
    (checkpoints, next)
}

#[test]
fn consumer_checkpoints_survive_repeated_kill_9() {
    // Proves no consumer checkpoint is lost or goes backwards across 20 SIGKILLs of a
    // process committing in a loop, and outbox output commits with its checkpoint.
    let _turn = child::one_at_a_time();
    let seed = std::env::var("ANNAL_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(clock_seed);
    println!("consumers kill9 seed {seed} (set ANNAL_KILL9_SEED={seed} to replay)");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut verified: HashMap<String, u64> = HashMap::new();
    let mut commits_seen = 0usize;
    let mut first_position = 0;
    for round in 0..ROUNDS {
        let acked = run_child_and_kill(dir.path(), round, &mut rng);
        commits_seen += acked.len();
        let (checkpoints, _) = verify(dir.path(), round);
        for name in CONSUMERS {
            let now = checkpoints[name];
            if let Some(&reported) = acked.get(name) {
                assert!(
                    now >= reported,
                    "round {round}: {name} committed {reported} but reopened at {now} (lost)"
                );
            }
            if let Some(&before) = verified.get(name) {
                assert!(
                    now >= before,
                    "round {round}: {name} went back from {before} to {now}"
                );
            }
            verified.insert(name.to_owned(), now);
        }
        let log = Log::open(dir.path(), Options::default().segment_bytes(SEGMENT_BYTES)).unwrap();
        first_position = log.first_position().0;
        log.close().unwrap();
    }
    println!("{ROUNDS} kills: checkpoints {verified:?}, first position {first_position}");
    // The test proves little unless the consumers really committed and retention ran.
    assert!(commits_seen >= CONSUMERS.len(), "too few commits");
    assert!(
        verified.values().all(|&at| at > 0),
        "a consumer never committed"
    );
    assert!(
        first_position > Position::ZERO.0,
        "retention never removed a segment"
    );
}
