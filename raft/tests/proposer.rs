//! The proposer: concurrent appends through a leader share raft entries, and each still
//! gets its own outcome, decided alone; appends are proposed while earlier batches
//! replicate; each client's order holds and no acknowledged append is lost when the
//! leader stops.

#![allow(clippy::unwrap_used, clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
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

/// Three replicas on one router, initialized as one cluster; the leader's id. An RPC
/// times out after `heartbeat_ms` (openraft 0.9).
async fn three_replicas(
    dir: &std::path::Path,
    router: &Router,
    heartbeat_ms: u64,
) -> (BTreeMap<u64, ReplicatedStore>, u64) {
    let config = Config {
        heartbeat_interval: heartbeat_ms,
        election_timeout_min: 10 * heartbeat_ms,
        election_timeout_max: 20 * heartbeat_ms,
        snapshot_policy: SnapshotPolicy::Never,
        ..Default::default()
    };
    let mut stores = BTreeMap::new();
    for id in 1..=3 {
        let store = ReplicatedStore::open(
            id,
            dir.join(format!("node-{id}")),
            Options::default(),
            config.clone(),
            router.network_for(id),
        )
        .await
        .unwrap();
        router.add(id, store.raft().clone());
        stores.insert(id, store);
    }
    stores[&1]
        .initialize((1..=3).map(|id| (id, String::new())).collect())
        .await
        .unwrap();
    let leader = live_leader(&stores).await;
    (stores, leader)
}

/// The replica that leads, once one does.
async fn live_leader(stores: &BTreeMap<u64, ReplicatedStore>) -> u64 {
    loop {
        for (&id, store) in stores {
            let metrics = store.raft().metrics().borrow().clone();
            if metrics.current_leader == Some(id) && metrics.state.is_leader() {
                return id;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_are_proposed_while_earlier_batches_still_replicate() {
    // Proves the store's proposer does not hold an append back until earlier batches
    // are answered: with every RPC delayed 1 s and 12 appends arriving 10 ms apart,
    // more than the 4 batches a fixed window allows are in the leader's log before the
    // first commits, and all 12 are then appended.
    let dir = tempfile::tempdir().unwrap();
    let router = Router::new(11);
    let (stores, leader) = three_replicas(dir.path(), &router, 3000).await;
    let leader_store = stores[&leader].clone();
    let committed_before = leader_store.raft().metrics().borrow().last_applied;
    router.set_delay(Duration::from_millis(1000), Duration::from_millis(1000));
    let first_index = leader_store
        .raft()
        .metrics()
        .borrow()
        .last_log_index
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..12 {
        let store = leader_store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append(request(&format!("spaced-{n}"), Expected::NoStream))
                .await
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let metrics = leader_store.raft().metrics().borrow().clone();
    let proposed = metrics.last_log_index.unwrap() - first_index;
    assert_eq!(
        metrics.last_applied, committed_before,
        "committed too early to tell"
    );
    assert!(
        proposed > 4,
        "only {proposed} entries proposed before the first commit"
    );
    for task in tasks {
        let outcome = task.await.unwrap().unwrap();
        assert!(
            matches!(outcome, AppendOutcome::Appended { .. }),
            "{outcome:?}"
        );
    }
    for store in stores.values() {
        store.shutdown().await.unwrap();
    }
}

/// What one client learnt: its stream's revisions it was told it holds, with their
/// data, and how many of its appends got no answer (the leader went away).
type Acked = (Vec<(u64, Vec<u8>)>, u64);

/// One client: appends `count` events to its own stream in order, each expecting the
/// revision before it, through whichever replica leads; after an error it reads the
/// stream on the new leader to learn whether its append landed.
async fn ordered_client(
    stores: Arc<Mutex<BTreeMap<u64, ReplicatedStore>>>,
    client: usize,
    count: u64,
) -> Acked {
    let stream = format!("client-{client}");
    let mut acked = Vec::new();
    let mut interrupted = 0;
    let mut next = 0u64;
    let mut k = 0u64;
    while k < count {
        let store = {
            let stores = stores.lock().unwrap().clone();
            let leader = live_leader(&stores).await;
            stores[&leader].clone()
        };
        let data = format!("{client}:{k}").into_bytes();
        let expected = if next == 0 {
            Expected::NoStream
        } else {
            Expected::Exact(next - 1)
        };
        let mut append = request(&stream, expected);
        append.events[0].data = data.clone();
        match tokio::time::timeout(Duration::from_secs(2), store.append(append)).await {
            Ok(Ok(AppendOutcome::Appended { first_revision, .. })) => {
                assert_eq!(first_revision, next, "{stream}: appended out of order");
                acked.push((next, data));
                next += 1;
                k += 1;
            }
            Ok(Ok(other)) => panic!("{stream}: {other:?}"),
            Ok(Err(_)) | Err(_) => {
                // The leader went away: learn from the new one whether it landed.
                interrupted += 1;
                let events = loop {
                    let stores = stores.lock().unwrap().clone();
                    let leader = live_leader(&stores).await;
                    if let Ok(events) = stores[&leader].read_stream_linearizable(&stream).await {
                        break events;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                if events.len() as u64 > next {
                    assert_eq!(events.last().unwrap().data.as_ref(), data.as_slice());
                    next += 1;
                    k += 1;
                }
            }
        }
    }
    (acked, interrupted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_appends_keep_each_clients_order_and_survive_a_leader_crash() {
    // Proves that 16 clients appending in order through the batching proposer share
    // raft entries, and that after the leader is stopped mid-run every acknowledged
    // append is on both remaining replicas, once, at the revision it was given, each
    // client's events in its order with no gap or double.
    let dir = tempfile::tempdir().unwrap();
    let router = Router::new(13);
    let (stores, leader) = three_replicas(dir.path(), &router, 50).await;
    let first_index = stores[&leader]
        .raft()
        .metrics()
        .borrow()
        .last_log_index
        .unwrap();
    let stores = Arc::new(Mutex::new(stores));
    const CLIENTS: usize = 16;
    const APPENDS: u64 = 40;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(ordered_client(Arc::clone(&stores), c, APPENDS)))
        .collect();
    // Let the clients get going, then count the entries and stop the leader.
    loop {
        let applied = stores.lock().unwrap()[&leader]
            .local_store()
            .log_next_position()
            .0;
        if applied >= 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopped = stores.lock().unwrap().remove(&leader).unwrap();
    let entries = stopped.raft().metrics().borrow().last_log_index.unwrap() - first_index;
    let appended = stopped.local_store().log_next_position().0;
    assert!(
        entries < appended,
        "{entries} raft entries for {appended} appends: no batching"
    );
    router.remove(leader);
    stopped.shutdown().await.unwrap();
    let mut acked = Vec::new();
    for client in clients {
        acked.push(client.await.unwrap());
    }
    let interrupted: u64 = acked.iter().map(|(_, n)| n).sum();
    assert!(
        interrupted > 0,
        "the leader stopped with no append in flight"
    );
    let stores = stores.lock().unwrap().clone();
    // The new leader's answers came from its own store; wait for the other replica.
    for store in stores.values() {
        for (c, (acked, _)) in acked.iter().enumerate() {
            let stream = format!("client-{c}");
            let events = loop {
                let events = store.read_stream_local(&stream).unwrap();
                if events.len() as u64 >= APPENDS {
                    break events;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            assert_eq!(events.len() as u64, APPENDS, "{stream} on {}", store.id());
            for (n, event) in events.iter().enumerate() {
                assert_eq!(event.revision.0, n as u64);
                assert_eq!(event.data.as_ref(), format!("{c}:{n}").as_bytes());
            }
            for (revision, data) in acked {
                assert_eq!(events[*revision as usize].data.as_ref(), data.as_slice());
            }
        }
    }
    for store in stores.values() {
        store.shutdown().await.unwrap();
    }
}
