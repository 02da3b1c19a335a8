//! An in-process network for tests and benchmarks: every node's `Raft` handle in one
//! router, and RPCs delivered by calling the target's handle, through faults the test
//! sets: partitions (a pair of nodes that cannot talk, either way), message loss (a
//! percentage of RPCs dropped before delivery, or their answer lost after it), and
//! delay (each RPC waits a random time in a range). The randomness comes from one
//! seeded generator, so a schedule of faults replays with its seed (thread timing
//! aside).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};

use crate::TypeConfig;

type NodeId = u64;

/// The faults the router applies.
#[derive(Debug, Clone, Default)]
struct Faults {
    /// Pairs (lower id, higher id) that cannot reach each other.
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Percentage of RPCs lost, 0 to 100.
    loss_percent: u64,
    /// Each RPC waits between these many microseconds before delivery.
    delay_us: (u64, u64),
}

struct RouterState {
    nodes: BTreeMap<NodeId, Raft<TypeConfig>>,
    faults: Faults,
    rng: u64,
}

/// The routes between in-process nodes, and the faults on them. Cheap to clone.
#[derive(Clone)]
pub struct Router {
    state: Arc<Mutex<RouterState>>,
}

/// Why an RPC did not arrive.
#[derive(Debug)]
struct Dropped(&'static str);

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Dropped {}

impl Router {
    /// A router with no nodes and no faults; `seed` drives loss and delay.
    pub fn new(seed: u64) -> Router {
        Router {
            state: Arc::new(Mutex::new(RouterState {
                nodes: BTreeMap::new(),
                faults: Faults::default(),
                rng: seed | 1,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RouterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `raft` reachable as `id` (replacing a previous handle: a restarted node).
    pub fn add(&self, id: NodeId, raft: Raft<TypeConfig>) {
        self.lock().nodes.insert(id, raft);
    }

    /// Makes `id` unreachable (a stopped node).
    pub fn remove(&self, id: NodeId) {
        self.lock().nodes.remove(&id);
    }

    /// Cuts every link between `node` and the others.
    pub fn isolate(&self, node: NodeId) {
        let mut state = self.lock();
        let others: Vec<NodeId> = state.nodes.keys().copied().filter(|&n| n != node).collect();
        for other in others {
            state.faults.cut.insert((node.min(other), node.max(other)));
        }
    }

    /// Cuts the link between `a` and `b`.
    pub fn cut(&self, a: NodeId, b: NodeId) {
        self.lock().faults.cut.insert((a.min(b), a.max(b)));
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.lock().faults.cut.clear();
    }

    /// Loses `percent` of the RPCs from now on.
    pub fn set_loss_percent(&self, percent: u64) {
        self.lock().faults.loss_percent = percent.min(100);
    }

    /// Delays each RPC by a time between `low` and `high`.
    pub fn set_delay(&self, low: Duration, high: Duration) {
        self.lock().faults.delay_us = (low.as_micros() as u64, high.as_micros() as u64);
    }

    /// Whether an RPC from `from` to `to` gets through now, its delay, and the target.
    fn route(&self, from: NodeId, to: NodeId) -> Result<(Duration, Raft<TypeConfig>), Dropped> {
        let mut state = self.lock();
        if state.faults.cut.contains(&(from.min(to), from.max(to))) {
            return Err(Dropped("partitioned"));
        }
        let roll = next_random(&mut state.rng) % 100;
        if roll < state.faults.loss_percent {
            return Err(Dropped("message lost"));
        }
        let (low, high) = state.faults.delay_us;
        let delay = low + next_random(&mut state.rng) % (high - low + 1);
        let target = state.nodes.get(&to).cloned().ok_or(Dropped("node down"))?;
        Ok((Duration::from_micros(delay), target))
    }

    /// Whether the answer to an RPC is lost on its way back.
    fn answer_lost(&self, from: NodeId, to: NodeId) -> bool {
        let mut state = self.lock();
        if state.faults.cut.contains(&(from.min(to), from.max(to))) {
            return true;
        }
        let loss = state.faults.loss_percent;
        next_random(&mut state.rng) % 100 < loss / 2
    }
}

/// splitmix64: small, seedable, good enough for fault schedules.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The network of one node: RPCs from it to any other.
#[derive(Clone)]
pub struct NodeNetwork {
    router: Router,
    from: NodeId,
}

impl Router {
    /// The network factory for node `from`.
    pub fn network_for(&self, from: NodeId) -> NodeNetwork {
        NodeNetwork {
            router: self.clone(),
            from,
        }
    }
}

/// A connection from one node to another.
pub struct Connection {
    router: Router,
    from: NodeId,
    to: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for NodeNetwork {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Connection {
        Connection {
            router: self.router.clone(),
            from: self.from,
            to: target,
        }
    }
}

fn unreachable<E: std::error::Error>(dropped: &Dropped) -> RPCError<NodeId, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(dropped))
}

impl Connection {
    async fn deliver(&self) -> Result<Raft<TypeConfig>, Dropped> {
        let (delay, target) = self.router.route(self.from, self.to)?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(target)
    }

    fn answer<T, E: std::error::Error>(
        &self,
        result: Result<T, RaftError<NodeId, E>>,
    ) -> Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>> {
        if self.router.answer_lost(self.from, self.to) {
            return Err(RPCError::Network(NetworkError::new(&Dropped(
                "answer lost",
            ))));
        }
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let target = self.deliver().await.map_err(|d| unreachable(&d))?;
        let result = target.append_entries(rpc).await;
        self.answer(result)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let target = self.deliver().await.map_err(|d| unreachable(&d))?;
        let result = target.install_snapshot(rpc).await;
        self.answer(result)
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let target = self.deliver().await.map_err(|d| unreachable(&d))?;
        let result = target.vote(rpc).await;
        self.answer(result)
    }
}
