//! A 3-node cluster in one process: each node an Annal log store and event-store state
//! machine on real files in its own directory, all joined by the in-process router.
//! Writes go to the leader (following `ForwardToLeader`), each a unique stream with
//! `NoStream`, so a retried write is refused rather than doubled; a write whose answer
//! came back is recorded as acknowledged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal::{Direction, ErrorCode, Options, Position};
use annal_raft::in_process::Router;
use annal_raft::{
    AnnalLogStore, AppendOutcome, AppendRequest, EventStoreMachine, Expected, ProposedEvent,
    TypeConfig,
};
use openraft::{BasicNode, Config, Raft, RaftMetrics, SnapshotPolicy};

/// Longest wait for a leader or for the replicas to agree.
const SETTLE_WAIT: Duration = Duration::from_secs(30);
/// Longest wait for one write (a leader without a quorum never answers).
const WRITE_WAIT: Duration = Duration::from_secs(2);

pub struct Node {
    pub raft: Raft<TypeConfig>,
    pub machine: EventStoreMachine,
}

pub struct Cluster {
    pub router: Router,
    dir: tempfile::TempDir,
    config: Arc<Config>,
    pub nodes: BTreeMap<u64, Node>,
    /// Every write whose outcome came back: its stream name and data.
    pub acked: Vec<(String, Vec<u8>)>,
    next_write: u64,
}

pub type Metrics = RaftMetrics<u64, BasicNode>;

/// One stored event as (stream, data, id).
pub type Stored = (Vec<u8>, Vec<u8>, Option<[u8; 16]>);

fn options() -> Options {
    Options::default().segment_bytes(64 << 10)
}

impl Cluster {
    /// Starts nodes 1, 2 and 3 and initializes them as one cluster.
    pub async fn start(seed: u64, snapshot_every: u64) -> Cluster {
        let config = Config {
            heartbeat_interval: 50,
            election_timeout_min: 300,
            election_timeout_max: 600,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(snapshot_every),
            max_in_snapshot_log_to_keep: 5,
            purge_batch_size: 1,
            ..Default::default()
        };
        let mut cluster = Cluster {
            router: Router::new(seed),
            dir: tempfile::tempdir().unwrap(),
            config: Arc::new(config.validate().unwrap()),
            nodes: BTreeMap::new(),
            acked: Vec::new(),
            next_write: 0,
        };
        for id in 1..=3 {
            cluster.start_node(id).await;
        }
        let members: BTreeMap<u64, BasicNode> =
            (1..=3).map(|id| (id, BasicNode::default())).collect();
        cluster.nodes[&1].raft.initialize(members).await.unwrap();
        cluster.leader().await;
        cluster
    }

    /// Starts (or restarts from its files) node `id`.
    pub async fn start_node(&mut self, id: u64) {
        let base = self.dir.path().join(format!("node-{id}"));
        let deadline = Instant::now() + SETTLE_WAIT;
        // A stopped node's tasks may hold its files a moment longer.
        let (log, machine) = loop {
            let opened = AnnalLogStore::open(base.join("raft"), options()).and_then(|log| {
                EventStoreMachine::open(base.join("machine"), options()).map(|m| (log, m))
            });
            match opened {
                Ok(opened) => break opened,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("node {id} does not reopen: {e}"),
            }
        };
        let raft = Raft::new(
            id,
            Arc::clone(&self.config),
            self.router.network_for(id),
            log,
            machine.clone(),
        )
        .await
        .unwrap();
        self.router.add(id, raft.clone());
        self.nodes.insert(id, Node { raft, machine });
    }

    /// Stops node `id` (its files stay for a restart).
    pub async fn stop_node(&mut self, id: u64) {
        self.router.remove(id);
        if let Some(node) = self.nodes.remove(&id) {
            node.raft.shutdown().await.unwrap();
        }
    }

    pub fn metrics(&self, id: u64) -> Metrics {
        self.nodes[&id].raft.metrics().borrow().clone()
    }

    /// The leader a majority of the running nodes agree on, waiting for one.
    pub async fn leader(&self) -> u64 {
        let deadline = Instant::now() + SETTLE_WAIT;
        loop {
            for (&id, node) in &self.nodes {
                let m = node.raft.metrics().borrow().clone();
                if m.current_leader == Some(id) && m.state.is_leader() {
                    return id;
                }
            }
            assert!(Instant::now() < deadline, "no leader elected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One write of a new unique stream through whoever leads; `true` if acknowledged.
    pub async fn write_to(&mut self, target: u64) -> bool {
        let n = self.next_write;
        self.next_write += 1;
        let stream = format!("w-{n}");
        let data = format!("write {n}").into_bytes();
        let request = AppendRequest {
            stream: stream.clone(),
            expected: Expected::NoStream,
            events: vec![ProposedEvent {
                event_type: "Written".into(),
                data: data.clone(),
                metadata: vec![],
            }],
        };
        let mut target = target;
        for _ in 0..3 {
            let Some(node) = self.nodes.get(&target) else {
                return false;
            };
            let answer =
                tokio::time::timeout(WRITE_WAIT, node.raft.client_write(request.clone())).await;
            match answer {
                Ok(Ok(response)) => {
                    match response.data {
                        AppendOutcome::Appended { .. } => {}
                        // A retry of a write already applied: it is in the store.
                        AppendOutcome::Refused { .. } => {}
                        AppendOutcome::None => panic!("an append answered nothing"),
                    }
                    self.acked.push((stream, data));
                    return true;
                }
                Ok(Err(e)) => match e.forward_to_leader() {
                    Some(forward) if forward.leader_id.is_some() => {
                        target = forward.leader_id.unwrap();
                    }
                    _ => return false,
                },
                Err(_) => return false,
            }
        }
        false
    }

    /// `count` writes through the current leader; how many were acknowledged.
    pub async fn write(&mut self, count: u64) -> u64 {
        let mut acked = 0;
        for _ in 0..count {
            let leader = self.leader().await;
            acked += u64::from(self.write_to(leader).await);
        }
        acked
    }

    /// The leader every running node names, once they all name the same one.
    async fn agreed_leader(&self, deadline: Instant) -> u64 {
        loop {
            let named: Vec<Option<u64>> = self
                .nodes
                .keys()
                .map(|&id| self.metrics(id).current_leader)
                .collect();
            if let Some(Some(leader)) = named.first().copied() {
                if named.iter().all(|&n| n == Some(leader))
                    && self.nodes.contains_key(&leader)
                    && self.metrics(leader).state.is_leader()
                {
                    return leader;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the nodes name different leaders: {named:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Heals the network and waits until every running node applied the same log.
    pub async fn converge(&mut self) {
        self.router.heal();
        self.router.set_loss_percent(0);
        self.router.set_delay(Duration::ZERO, Duration::ZERO);
        let deadline = Instant::now() + SETTLE_WAIT;
        let leader = loop {
            let leader = self.agreed_leader(deadline).await;
            // A write in the leader's term commits everything before it.
            if self.write_to(leader).await {
                break leader;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster takes no write after healing"
            );
        };
        loop {
            let last = self.metrics(leader).last_log_index;
            let all = self
                .nodes
                .keys()
                .all(|&id| self.metrics(id).last_applied.map(|l| l.index) == last);
            if all {
                return;
            }
            assert!(Instant::now() < deadline, "replicas did not converge");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every event of a node's store.
    pub fn contents(&self, id: u64) -> Vec<Stored> {
        let store = self.nodes[&id].machine.store();
        let mut out = Vec::new();
        let mut from = Position(0);
        loop {
            let batch = match store.read_all(from, Direction::Forwards, 4096) {
                Ok(batch) => batch,
                Err(e) if e.code() == ErrorCode::PositionOutOfRange => break,
                Err(e) => panic!("node {id}: {e}"),
            };
            let Some(last) = batch.last() else { break };
            from = Position(last.position.0 + 1);
            out.extend(
                batch
                    .into_iter()
                    .map(|e| (e.stream.to_vec(), e.data.to_vec(), e.id)),
            );
        }
        out
    }

    /// All running replicas hold identical stores, and every acknowledged write is in
    /// them exactly once.
    pub fn assert_consistent(&self, context: &str) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        let first = self.contents(ids[0]);
        for &id in &ids[1..] {
            let other = self.contents(id);
            if other != first {
                let at = first.iter().zip(&other).position(|(a, b)| a != b);
                panic!(
                    "{context}: node {id}'s store ({} events) differs from node {}'s ({} \
                     events) at {at:?}: {:?} against {:?}",
                    other.len(),
                    ids[0],
                    first.len(),
                    at.map(|i| &other[i]),
                    at.map(|i| &first[i]),
                );
            }
        }
        for (stream, data) in &self.acked {
            let copies = first
                .iter()
                .filter(|(s, d, _)| s == stream.as_bytes() && d == data)
                .count();
            assert_eq!(
                copies, 1,
                "{context}: acknowledged write {stream} is held {copies} times"
            );
        }
    }
}
