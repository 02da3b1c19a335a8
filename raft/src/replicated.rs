//! [`ReplicatedStore`]: one replica's client surface. Appends go through the leader (a
//! follower answers with the leader's id and address); reads on the leader can be
//! linearizable (openraft confirms leadership with a quorum and waits until the state
//! machine applied everything committed before the read); reads and subscriptions on
//! any replica see only its store, which holds only committed, applied events.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use annal::{Direction, EventStore, Options, RecordedEvent, Revision};
use openraft::error::{ClientWriteError, RaftError};
use openraft::network::RaftNetworkFactory;
use openraft::{BasicNode, Config, Raft};
use serde::{Deserialize, Serialize};

use crate::{AnnalLogStore, AppendOutcome, AppendRequest, EventStoreMachine, Proposer, TypeConfig};

/// Most events one read returns.
pub const READ_EVENTS_MAX: usize = 10_000;

/// Why a replicated call did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicatedError {
    /// This replica does not lead: send the call to the leader, if one is known.
    NotLeader {
        /// The leader's id, if known.
        leader_id: Option<u64>,
        /// The leader's address, if known.
        leader_addr: Option<String>,
    },
    /// The call failed on this replica (stopped, storage failure, bad request).
    Failed {
        /// What went wrong, as a sentence.
        reason: String,
    },
}

impl std::fmt::Display for ReplicatedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplicatedError::NotLeader {
                leader_id,
                leader_addr,
            } => write!(
                f,
                "this replica does not lead; the leader is {leader_id:?} at {leader_addr:?}"
            ),
            ReplicatedError::Failed { reason } => write!(f, "replicated call failed: {reason}"),
        }
    }
}

impl std::error::Error for ReplicatedError {}

fn not_leader<E>(error: &RaftError<u64, E>) -> Option<ReplicatedError>
where
    E: std::error::Error + TryAsForward,
{
    let RaftError::APIError(api) = error else {
        return None;
    };
    api.forward()
        .map(|(leader_id, leader_addr)| ReplicatedError::NotLeader {
            leader_id,
            leader_addr,
        })
}

/// The API errors that name a leader to go to.
trait TryAsForward {
    fn forward(&self) -> Option<(Option<u64>, Option<String>)>;
}

impl TryAsForward for ClientWriteError<u64, BasicNode> {
    fn forward(&self) -> Option<(Option<u64>, Option<String>)> {
        match self {
            ClientWriteError::ForwardToLeader(f) => {
                Some((f.leader_id, f.leader_node.as_ref().map(|n| n.addr.clone())))
            }
            _ => None,
        }
    }
}

impl TryAsForward for openraft::error::CheckIsLeaderError<u64, BasicNode> {
    fn forward(&self) -> Option<(Option<u64>, Option<String>)> {
        match self {
            openraft::error::CheckIsLeaderError::ForwardToLeader(f) => {
                Some((f.leader_id, f.leader_node.as_ref().map(|n| n.addr.clone())))
            }
            _ => None,
        }
    }
}

fn failed(e: impl std::fmt::Display) -> ReplicatedError {
    ReplicatedError::Failed {
        reason: e.to_string(),
    }
}

/// One replica: its raft node, log store and event-store state machine.
#[derive(Clone)]
pub struct ReplicatedStore {
    id: u64,
    raft: Raft<TypeConfig>,
    machine: EventStoreMachine,
    proposer: Proposer,
}

impl ReplicatedStore {
    /// Opens the replica `id` in `dir` (its raft log in `dir/raft`, its store in
    /// `dir/machine`) and starts its raft node on `network`. Must run inside a tokio
    /// runtime.
    pub async fn open<N: RaftNetworkFactory<TypeConfig>>(
        id: u64,
        dir: impl AsRef<Path>,
        options: Options,
        config: Config,
        network: N,
    ) -> Result<ReplicatedStore, ReplicatedError> {
        let dir = dir.as_ref();
        let log = AnnalLogStore::open(dir.join("raft"), options.clone()).map_err(failed)?;
        let flushes = log.flushes();
        let machine = EventStoreMachine::open(dir.join("machine"), options).map_err(failed)?;
        let config = Arc::new(config.validate().map_err(failed)?);
        let raft = Raft::new(id, config, network, log, machine.clone())
            .await
            .map_err(failed)?;
        let proposer = Proposer::paced_by(raft.clone(), flushes);
        Ok(ReplicatedStore {
            id,
            raft,
            machine,
            proposer,
        })
    }

    /// This replica's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The raft node (metrics, membership changes, RPC entry points).
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// Makes `members` (id → address) the first membership of a new cluster; call on
    /// one replica, once.
    pub async fn initialize(&self, members: BTreeMap<u64, String>) -> Result<(), ReplicatedError> {
        let members: BTreeMap<u64, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode { addr }))
            .collect();
        self.raft.initialize(members).await.map_err(failed)
    }

    /// Appends through this replica, which must lead: the outcome is the one every
    /// replica applied. A follower answers [`ReplicatedError::NotLeader`]. Concurrent
    /// appends share raft entries ([`Proposer`]), each still applied alone.
    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, ReplicatedError> {
        if request.events.is_empty() {
            return Err(failed("an append needs at least one event"));
        }
        match self.proposer.append(request).await {
            Ok(outcome) => Ok(outcome),
            Err(e) => Err(not_leader(&e).unwrap_or_else(|| failed(&e))),
        }
    }

    /// The stream's events, read on the leader after it confirmed with a quorum that it
    /// still leads and applied everything committed before the read (linearizable).
    pub async fn read_stream_linearizable(
        &self,
        stream: &str,
    ) -> Result<Vec<RecordedEvent>, ReplicatedError> {
        if let Err(e) = self.raft.ensure_linearizable().await {
            return Err(not_leader(&e).unwrap_or_else(|| failed(&e)));
        }
        self.read_stream_local(stream)
    }

    /// The stream's events as this replica has applied them: committed events only,
    /// possibly behind the leader.
    pub fn read_stream_local(&self, stream: &str) -> Result<Vec<RecordedEvent>, ReplicatedError> {
        match self.machine.store().read_stream(
            stream,
            Revision(0),
            Direction::Forwards,
            READ_EVENTS_MAX,
        ) {
            Ok(events) => Ok(events),
            Err(e) if e.code() == annal::ErrorCode::StreamNotFound => Ok(Vec::new()),
            Err(e) => Err(failed(e)),
        }
    }

    /// This replica's event store, holding only committed events: read or subscribe to
    /// it here. Installing a snapshot replaces it; take it again afterwards.
    pub fn local_store(&self) -> Arc<EventStore> {
        self.machine.store()
    }

    /// Stops the raft node.
    pub async fn shutdown(&self) -> Result<(), ReplicatedError> {
        self.raft.shutdown().await.map_err(failed)
    }
}
