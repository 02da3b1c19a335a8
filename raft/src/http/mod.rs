//! The TCP network: raft RPCs and client calls as JSON over HTTP/1.1, served with
//! `tiny_http` and sent with `ureq` (well-kept crates; no wire format of our own beyond
//! JSON bodies of openraft's own serde types).
//!
//! | path | body | answer |
//! | --- | --- | --- |
//! | `POST /raft/append` | `AppendEntriesRequest` | `Result<AppendEntriesResponse, RaftError>` |
//! | `POST /raft/vote` | `VoteRequest` | `Result<VoteResponse, RaftError>` |
//! | `POST /raft/snapshot` | `InstallSnapshotRequest` | `Result<InstallSnapshotResponse, RaftError<InstallSnapshotError>>` |
//! | `POST /client/append` | [`crate::AppendRequest`] | `Result<AppendOutcome, ReplicatedError>` |
//! | `POST /client/read` | [`ReadRequest`] | `Result<Vec<ReadEvent>, ReplicatedError>` |
//! | `POST /cluster/init` | id → address map | `Result<(), ReplicatedError>` |
//! | `GET /cluster/status` | — | [`Status`] |

mod client;
mod network;
mod server;

pub use client::HttpClient;
pub use network::HttpNetwork;
pub use server::HttpServer;

use serde::{Deserialize, Serialize};

/// A read of one stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadRequest {
    /// The stream's name.
    pub stream: String,
    /// Read on the leader, linearizable; otherwise this replica's committed events.
    pub linearizable: bool,
}

/// One event as a read returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadEvent {
    /// Its revision in the stream.
    pub revision: u64,
    /// Its position in the replica's store (the same on every replica).
    pub position: u64,
    /// Its type.
    pub event_type: String,
    /// Its data.
    pub data: Vec<u8>,
}

/// What a node says of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The node's id.
    pub id: u64,
    /// The leader it knows of.
    pub leader: Option<u64>,
    /// Its current term.
    pub term: u64,
    /// The index of the last entry it applied.
    pub applied: Option<u64>,
}
