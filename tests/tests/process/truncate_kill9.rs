//! kill -9 during suffix truncations (`Log::truncate_from`) on real files: a child
//! appends `Synced` events tagged with a generation and, now and then, truncates a
//! random suffix and moves to the next generation; the parent SIGKILLs it at a random
//! moment and checks the reopened log: every acknowledged event of the current history
//! is there, no removed event came back (a removed position holding an older
//! generation would show), and a truncation the kill interrupted is all-or-nothing.
//!
//! Set `ANNAL_KILL9_SEED` to replay a failing run (the seed is printed).

use std::process::Stdio;
use std::time::Duration;

use annal::{Log, Options, Position};
use annal_tests::{clock_seed, Rng};

use crate::child::{self, Running};

const SEGMENT_BYTES: u64 = 64 << 10;
const ROUNDS: u64 = 20;
const GENERATIONS_PER_ROUND: u64 = 1_000_000;

/// The generation tag of each event the log holds, checking each names its position.
fn generations(dir: &std::path::Path) -> Vec<u64> {
    let log = Log::open(dir, Options::default().segment_bytes(SEGMENT_BYTES)).unwrap();
    let events: Vec<u64> = log
        .read_from(Position(0))
        .unwrap()
        .map(|event| {
            let event = event.unwrap();
            let position = u64::from_le_bytes(event.payload[8..16].try_into().unwrap());
            assert_eq!(
                position, event.position.0,
                "an event sits at another position"
            );
            u64::from_le_bytes(event.payload[0..8].try_into().unwrap())
        })
        .collect();
    log.close().unwrap();
    events
}

#[test]
fn kill_9_during_truncations_loses_no_acknowledged_event_and_revives_no_removed_one() {
    // Proves that over 20 SIGKILLs of a child appending and truncating suffixes, the
    // reopened log always holds exactly the acknowledged history (plus at most the one
    // append in flight, of the current generation), and an interrupted truncation is
    // either wholly done or not at all.
    let _turn = child::one_at_a_time();
    let seed = std::env::var("ANNAL_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(clock_seed);
    println!("ANNAL_KILL9_SEED={seed}");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut history: Vec<u64> = Vec::new();
    let mut cuts_seen = 0;
    for round in 0..ROUNDS {
        let mut generation = round * GENERATIONS_PER_ROUND;
        let mut command = child::command("truncate", dir.path(), SEGMENT_BYTES);
        command
            .arg(generation.to_string())
            .arg(rng.next_u64().to_string());
        let mut child = Running::spawn(command, Stdio::null());
        let mut lines = vec![child.wait_ready(&format!("round {round}"))];
        std::thread::sleep(Duration::from_millis(rng.range(5, 150)));
        lines.extend(child.kill_9(&format!("round {round}")).lines);
        let mut cutting = None;
        for line in &lines {
            let words: Vec<&str> = line.split(' ').collect();
            let number = |i: usize| words[i].parse::<u64>().unwrap();
            match words[0] {
                "open" => assert_eq!(number(1), history.len() as u64, "round {round}"),
                "ack" => {
                    assert_eq!(number(1), history.len() as u64, "round {round}: {line}");
                    assert_eq!(number(3), generation);
                    history.push(generation);
                }
                "cutting" => cutting = Some(number(1)),
                "cut" => {
                    history.truncate(number(1) as usize);
                    cutting = None;
                    generation += 1;
                    cuts_seen += 1;
                }
                other => panic!("round {round}: unexpected line {other:?}"),
            }
        }
        let found = generations(dir.path());
        match cutting {
            Some(cut) => assert!(
                found == history || found[..] == history[..cut as usize],
                "round {round}: an interrupted truncation from {cut} left {} events of {}",
                found.len(),
                history.len()
            ),
            None => {
                assert_eq!(
                    found[..history.len().min(found.len())],
                    history[..],
                    "round {round}: the acknowledged history is not what the log holds"
                );
                let extra = &found[history.len()..];
                assert!(
                    extra.len() <= 1 && extra.iter().all(|&g| g == generation),
                    "round {round}: unexpected events after the history: {extra:?}"
                );
            }
        }
        history = found;
    }
    assert!(cuts_seen > 0, "no truncation completed in {ROUNDS} rounds");
}
