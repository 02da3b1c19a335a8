//! The event-store state machine: committed appends become store appends with their
//! expectation decided on apply, applying an entry twice writes nothing, and a snapshot
//! installed on another replica gives it an identical store.

#![allow(clippy::unwrap_used, clippy::result_large_err)]

use annal::{Direction, Options, Position};
use annal_raft::{
    AppendOutcome, AppendRequest, EventStoreMachine, Expected, ProposedEvent, TypeConfig,
};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftSnapshotBuilder};

fn request(stream: &str, expected: Expected, data: &str) -> AppendRequest {
    AppendRequest {
        stream: stream.into(),
        expected,
        events: vec![ProposedEvent {
            event_type: "Happened".into(),
            data: data.as_bytes().to_vec(),
            metadata: vec![],
        }],
    }
}

fn entry(index: u64, request: AppendRequest) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(request),
    }
}

fn open(dir: &std::path::Path) -> EventStoreMachine {
    EventStoreMachine::open(dir, Options::default().segment_bytes(64 << 10)).unwrap()
}

/// One stored event as (stream, data, id).
type Stored = (Vec<u8>, Vec<u8>, Option<[u8; 16]>);

/// Every event of the machine's store.
fn contents(machine: &EventStoreMachine) -> Vec<Stored> {
    machine
        .store()
        .read_all(Position(0), Direction::Forwards, 10_000)
        .unwrap()
        .into_iter()
        .map(|e| (e.stream.to_vec(), e.data.to_vec(), e.id))
        .collect()
}

#[tokio::test]
async fn expectations_are_decided_on_apply_and_reapplying_writes_nothing() {
    // Proves a failed expectation is a refusal (not a storage error) that writes
    // nothing, and applying the same entries again returns the same outcomes without
    // writing (the ids derived from the log index make it a retry).
    let dir = tempfile::tempdir().unwrap();
    let mut machine = open(dir.path());
    let entries = vec![
        entry(1, request("order-1", Expected::NoStream, "a")),
        entry(2, request("order-1", Expected::NoStream, "b")),
        entry(3, request("order-1", Expected::Exact(0), "c")),
    ];
    let outcomes = machine.apply(entries.clone()).await.unwrap();
    assert!(matches!(
        outcomes[0],
        AppendOutcome::Appended {
            first_revision: 0,
            ..
        }
    ));
    assert!(
        matches!(&outcomes[1], AppendOutcome::Refused { reason } if reason.contains("revision"))
    );
    assert!(matches!(
        outcomes[2],
        AppendOutcome::Appended {
            first_revision: 1,
            ..
        }
    ));
    let before = contents(&machine);
    assert_eq!(before.len(), 2);
    // As after a crash between the appends and the applied-state file.
    let again = machine
        .apply(vec![entries[0].clone(), entries[2].clone()])
        .await
        .unwrap();
    assert_eq!(again, vec![outcomes[0].clone(), outcomes[2].clone()]);
    assert_eq!(contents(&machine), before);
}

#[tokio::test]
async fn a_snapshot_installed_elsewhere_gives_an_identical_store_that_survives_a_reopen() {
    // Proves a snapshot carries every event (stream, data, id) and the applied log id,
    // and the replica that installs it holds the same store, also after a reopen.
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path());
    let entries: Vec<_> = (1..=50)
        .map(|i| {
            entry(
                i,
                request(&format!("s-{}", i % 7), Expected::Any, &format!("{i}")),
            )
        })
        .collect();
    leader.apply(entries).await.unwrap();
    let mut builder = leader.get_snapshot_builder().await;
    let Snapshot { meta, snapshot } = builder.build_snapshot().await.unwrap();
    assert_eq!(meta.last_log_id.map(|id| id.index), Some(50));
    {
        let mut follower = open(follower_dir.path());
        follower
            .apply(vec![entry(1, request("stale-1", Expected::Any, "x"))])
            .await
            .unwrap();
        follower.install_snapshot(&meta, snapshot).await.unwrap();
        assert_eq!(contents(&follower), contents(&leader));
        let (applied, _) = follower.applied_state().await.unwrap();
        assert_eq!(applied, meta.last_log_id);
    }
    let mut follower = open(follower_dir.path());
    assert_eq!(contents(&follower), contents(&leader));
    assert_eq!(follower.applied_state().await.unwrap().0, meta.last_log_id);
}

#[tokio::test]
async fn an_install_cut_short_between_its_renames_gets_the_old_store_back() {
    // Proves an open that finds the old store set aside and no new one in its place
    // (a crash between the install's two renames) puts the old store back.
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let mut machine = open(dir.path());
        machine
            .apply(vec![entry(1, request("kept-1", Expected::Any, "x"))])
            .await
            .unwrap();
        contents(&machine)
    };
    std::fs::rename(dir.path().join("store"), dir.path().join("store.old")).unwrap();
    std::fs::create_dir(dir.path().join("store.installing")).unwrap();
    let machine = open(dir.path());
    assert_eq!(contents(&machine), before);
    assert!(!dir.path().join("store.installing").exists());
}

#[tokio::test]
async fn a_reopen_learns_how_far_appends_were_applied_from_the_store() {
    // Proves the applied log id after a reopen is the one of the entry that wrote the
    // store's last event (the file is written only at membership changes and
    // snapshots), so the entries after it, which wrote nothing, are applied again
    // against the state they first saw and decide the same.
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![
        entry(1, request("acct-1", Expected::NoStream, "open")),
        entry(2, request("acct-1", Expected::Exact(0), "deposit")),
        entry(3, request("acct-1", Expected::Exact(0), "stale")),
    ];
    let first = {
        let mut machine = open(dir.path());
        machine.apply(entries.clone()).await.unwrap()
    };
    assert!(matches!(first[2], AppendOutcome::Refused { .. }));
    let mut machine = open(dir.path());
    let (applied, _) = machine.applied_state().await.unwrap();
    // The whole log id, the leader's node id included (openraft compares all of it).
    assert_eq!(applied, Some(LogId::new(CommittedLeaderId::new(1, 1), 2)));
    let again = machine.apply(vec![entries[2].clone()]).await.unwrap();
    assert_eq!(again[0], first[2]);
    assert_eq!(contents(&machine).len(), 2);
}
