//! kill -9 of a process whose event-store consumer reacts in a loop (real files): a
//! child places orders while its consumer `billing` appends one invoice per order with
//! `StoreConsumer::append_and_commit`; the parent SIGKILLs it at a random moment and
//! reopens the store. The checkpoint may not be lost (below one the child reported) nor
//! go backwards, and there must be an invoice for exactly the orders before it: each
//! reaction and its checkpoint are both there or both absent, and none happened twice.
//! Each child, when it starts, also retries the newest reaction (it must write nothing).
//!
//! Set `ANNAL_KILL9_SEED` to replay a failing run (the seed is printed).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use annal::{Direction, EventStore, Options, Position};
use annal_tests::{clock_seed, Rng, REACTOR_CONSUMER};

use crate::child::{self, Running};

const SEGMENT_BYTES: u64 = 64 << 10;
const ROUNDS: u32 = 12;

/// Runs the child until a random moment after it opened, kills it with SIGKILL and
/// returns the highest checkpoint it reported committed.
fn run_child_and_kill(dir: &Path, round: u32, rng: &mut Rng) -> u64 {
    let mut command = child::command("store-reactor", dir, SEGMENT_BYTES);
    command.arg(rng.next_u64().to_string());
    let mut child = Running::spawn(command, Stdio::null());
    let line = child.wait_ready(&format!("round {round}"));
    assert!(line.starts_with("open "), "round {round}: {line:?}");
    std::thread::sleep(Duration::from_millis(rng.range(20, 200)));
    let ended = child.kill_9(&format!("round {round}"));
    let mut acked = 0;
    for line in ended.lines {
        let position = line
            .strip_prefix("commit ")
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("round {round}: malformed line {line:?}"));
        acked = acked.max(position);
    }
    acked
}

/// Reopens the store, checks the invoices against the checkpoint and returns it with
/// the number of invoices.
fn verify(dir: &Path, round: u32) -> (u64, usize) {
    let store = EventStore::open(dir, Options::default().segment_bytes(SEGMENT_BYTES))
        .unwrap_or_else(|e| panic!("round {round}: reopening after kill -9 failed: {e}"));
    let checkpoint = store
        .consumer(REACTOR_CONSUMER)
        .unwrap_or_else(|e| panic!("round {round}: the consumer is lost: {e}"))
        .checkpoint()
        .unwrap();
    let read = |category: &[u8]| {
        store
            .read_category(category, Position(0), Direction::Forwards, usize::MAX)
            .unwrap()
    };
    let mut handled: Vec<String> = read(b"order")
        .iter()
        .filter(|order| order.position < checkpoint)
        .map(|order| format!("invoice-{}", order.position.0))
        .collect();
    let mut invoiced: Vec<String> = read(b"invoice")
        .iter()
        .map(|invoice| String::from_utf8(invoice.stream.to_vec()).unwrap())
        .collect();
    handled.sort();
    invoiced.sort();
    assert_eq!(
        invoiced, handled,
        "round {round}: invoices and the checkpoint {checkpoint} disagree"
    );
    store.close().unwrap();
    (checkpoint.0, invoiced.len())
}

#[test]
fn store_reactions_and_their_checkpoint_survive_repeated_kill_9_together() {
    // Proves across 12 SIGKILLs of a process reacting with append_and_commit that the store consumer's checkpoint is never lost nor moves back, and invoices exist for exactly the orders before it.
    let _turn = child::one_at_a_time();
    let seed = std::env::var("ANNAL_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(clock_seed);
    println!("store kill9 seed {seed} (set ANNAL_KILL9_SEED={seed} to replay)");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut verified = 0;
    let mut invoices = 0;
    for round in 0..ROUNDS {
        let acked = run_child_and_kill(dir.path(), round, &mut rng);
        let (checkpoint, count) = verify(dir.path(), round);
        assert!(
            checkpoint >= acked,
            "round {round}: committed {acked} but reopened at {checkpoint} (lost)"
        );
        assert!(
            checkpoint >= verified,
            "round {round}: went back from {verified} to {checkpoint}"
        );
        verified = checkpoint;
        invoices = count;
    }
    println!("{ROUNDS} kills: checkpoint {verified}, {invoices} invoices");
    assert!(invoices > 0, "the consumer never reacted");
}
