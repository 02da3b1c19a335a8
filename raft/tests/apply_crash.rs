//! The state machine across a crash of its process right after `apply` returned: the
//! store appends of an `apply` call are buffered while it runs, and must be in the
//! store's files when it returns; a reopen reports as applied only entries whose events
//! the store holds, and applying the rest again writes nothing new.

#![allow(clippy::unwrap_used, clippy::result_large_err)]

use std::path::Path;
use std::process::Command;

use annal::{Direction, Options, Position};
use annal_raft::{
    AppendOutcome, AppendRequest, EventStoreMachine, Expected, Proposal, ProposedEvent, TypeConfig,
};
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};

/// Set in the child process: the directory it applies to before it aborts.
const CHILD_DIR: &str = "ANNAL_RAFT_TEST_APPLY_THEN_ABORT";
/// The last entry's index; entries 3 to it are batches of `APPENDS_PER_ENTRY` appends.
const LAST: u64 = 42;
const APPENDS_PER_ENTRY: u64 = 25;

fn request(stream: String, expected: Expected, data: String) -> AppendRequest {
    AppendRequest {
        stream,
        expected,
        events: vec![ProposedEvent {
            event_type: "Happened".into(),
            data: data.into_bytes(),
            metadata: vec![],
        }],
    }
}

/// The entries the child applies: an append, a refused append, then batches of
/// appends to distinct streams. Entry 2 is refused by the stream entry 1 wrote.
fn entries() -> Vec<Entry<TypeConfig>> {
    let first = request("first".into(), Expected::NoStream, "first".into());
    let mut entries = vec![single(1, first.clone()), single(2, first)];
    entries.extend((3..=LAST).map(|index| {
        let requests = (0..APPENDS_PER_ENTRY)
            .map(|k| {
                request(
                    format!("s-{index}-{k}"),
                    Expected::NoStream,
                    format!("{index}/{k}"),
                )
            })
            .collect();
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Proposal::Batch(requests)),
        }
    }));
    entries
}

fn single(index: u64, request: AppendRequest) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(request.into()),
    }
}

fn open(dir: &Path) -> EventStoreMachine {
    EventStoreMachine::open(dir, Options::default().segment_bytes(1 << 20)).unwrap()
}

fn event_count(machine: &EventStoreMachine) -> usize {
    machine
        .store()
        .read_all(Position(0), Direction::Forwards, 100_000)
        .unwrap()
        .len()
}

#[tokio::test]
async fn events_of_a_returned_apply_survive_a_crash_and_a_reopen_replays_only_what_it_must() {
    // Proves an `apply` that returned left every event it appended in the store's
    // files (the child aborts at once, losing any buffer still in memory), and that
    // the reopened machine reports an applied log id whose entries the store holds
    // whole: applying the entries after it again gives the same outcomes and no new
    // event.
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        let mut machine = open(Path::new(&dir));
        let outcomes = machine.apply(entries()).await.unwrap();
        assert!(matches!(outcomes[1], AppendOutcome::Refused { .. }));
        std::process::abort();
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "events_of_a_returned_apply_survive_a_crash_and_a_reopen_replays_only_what_it_must",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_DIR, dir.path())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must abort, not exit");

    let mut machine = open(dir.path());
    let total = 1 + ((LAST - 2) * APPENDS_PER_ENTRY) as usize;
    assert_eq!(event_count(&machine), total, "events lost by the crash");
    let (applied, _) = machine.applied_state().await.unwrap();
    let applied = applied.expect("some entry applied").index;
    // The entry that wrote last is applied again.
    assert_eq!(applied, LAST - 1);
    let again: Vec<_> = entries()
        .into_iter()
        .filter(|e| e.log_id.index > applied)
        .collect();
    let outcomes = machine.apply(again).await.unwrap();
    let AppendOutcome::Batch(batch) = &outcomes[0] else {
        panic!("a batch answered {:?}", outcomes[0]);
    };
    assert_eq!(batch.len(), APPENDS_PER_ENTRY as usize);
    assert!(batch.iter().all(|o| matches!(
        o,
        AppendOutcome::Appended {
            first_revision: 0,
            ..
        }
    )));
    assert_eq!(event_count(&machine), total, "a replay wrote events twice");
}
