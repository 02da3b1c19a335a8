//! The proposer: concurrent appends through a leader share raft entries, and each still
//! gets its own outcome, decided alone.

#![allow(clippy::unwrap_used, clippy::result_large_err)]

use std::collections::BTreeMap;
use std::time::Duration;

use annal::{Direction, Options, Position};
use annal_raft::in_process::Router;
use annal_raft::{
    AppendOutcome, AppendRequest, Expected, ProposedEvent, ReplicatedError, ReplicatedStore,
};
use openraft::{Config, SnapshotPolicy};

fn request(stream: &str, expected: Expected) -> AppendRequest {
    AppendRequest {
        stream: stream.into(),
        expected,
        events: vec![ProposedEvent {
            event_type: "Happened".into(),
            data: stream.as_bytes().to_vec(),
            metadata: vec![],
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_entries_and_each_is_decided_alone() {
    // Proves 200 concurrent appends on a one-node cluster take fewer raft entries than
    // appends, that 100 to distinct streams are all appended, and that of 100 racing
    // to create one stream exactly one wins and the others are refused.
    let dir = tempfile::tempdir().unwrap();
    let router = Router::new(7);
    let config = Config {
        heartbeat_interval: 100,
        election_timeout_min: 300,
        election_timeout_max: 600,
        snapshot_policy: SnapshotPolicy::Never,
        ..Default::default()
    };
    let store = ReplicatedStore::open(
        1,
        dir.path(),
        Options::default(),
        config,
        router.network_for(1),
    )
    .await
    .unwrap();
    router.add(1, store.raft().clone());
    store
        .initialize(BTreeMap::from([(1, String::new())]))
        .await
        .unwrap();
    while store.raft().metrics().borrow().current_leader != Some(1) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first_index = store.raft().metrics().borrow().last_log_index.unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let request = if n % 2 == 0 {
                    request(&format!("own-{n}"), Expected::NoStream)
                } else {
                    request("contested", Expected::NoStream)
                };
                store.append(request).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let entries = store.raft().metrics().borrow().last_log_index.unwrap() - first_index;
    assert!(entries < 200, "{entries} raft entries for 200 appends");
    let appended = |range: std::ops::Range<usize>, step: usize| {
        outcomes[range]
            .iter()
            .step_by(step)
            .filter(|o| matches!(o, Ok(AppendOutcome::Appended { .. })))
            .count()
    };
    assert_eq!(appended(0..200, 2), 100);
    assert_eq!(appended(1..200, 2), 1);
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(AppendOutcome::Refused { .. })))
        .count();
    assert_eq!(refused, 99);
    let events = store
        .local_store()
        .read_all(Position(0), Direction::Forwards, 1000)
        .unwrap();
    assert_eq!(events.len(), 101);
    // An empty append is refused before it is proposed.
    let empty = store
        .append(AppendRequest {
            stream: "empty".into(),
            expected: Expected::Any,
            events: vec![],
        })
        .await;
    assert!(matches!(empty, Err(ReplicatedError::Failed { .. })));
    store.shutdown().await.unwrap();
}
