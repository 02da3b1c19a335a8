//! openraft's network over HTTP: each RPC is a blocking `ureq` POST run on tokio's
//! blocking pool. A transport failure is `Unreachable` (openraft backs off and
//! retries); an error the target returned is a `RemoteError`.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::TypeConfig;

/// Longest wait for one RPC's answer.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// The network factory: connections to nodes by their `BasicNode::addr`.
#[derive(Clone)]
pub struct HttpNetwork {
    agent: ureq::Agent,
}

impl Default for HttpNetwork {
    fn default() -> Self {
        HttpNetwork {
            agent: ureq::AgentBuilder::new().timeout(RPC_TIMEOUT).build(),
        }
    }
}

/// A connection to one node.
pub struct HttpConnection {
    agent: ureq::Agent,
    target: u64,
    addr: String,
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = HttpConnection;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> HttpConnection {
        HttpConnection {
            agent: self.agent.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

/// Why an RPC got no answer.
#[derive(Debug)]
struct Transport(String);

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Transport {}

impl HttpConnection {
    async fn call<Req, Resp, E>(
        &self,
        path: &'static str,
        rpc: Req,
    ) -> Result<Resp, RPCError<u64, BasicNode, RaftError<u64, E>>>
    where
        Req: Serialize + Send + 'static,
        Resp: DeserializeOwned + Send + 'static,
        E: std::error::Error + DeserializeOwned + Send + 'static,
    {
        let agent = self.agent.clone();
        let url = format!("http://{}{path}", self.addr);
        let answer = tokio::task::spawn_blocking(move || {
            let response = agent.post(&url).send_json(rpc).map_err(|e| match e {
                ureq::Error::Transport(t) => (true, t.to_string()),
                ureq::Error::Status(code, _) => (false, format!("status {code}")),
            })?;
            response
                .into_json::<Result<Resp, RaftError<u64, E>>>()
                .map_err(|e| (false, format!("malformed answer: {e}")))
        })
        .await
        .map_err(|e| RPCError::Network(NetworkError::new(&Transport(e.to_string()))))?;
        match answer {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new(self.target, remote))),
            Err((true, reason)) => Err(RPCError::Unreachable(Unreachable::new(&Transport(reason)))),
            Err((false, reason)) => Err(RPCError::Network(NetworkError::new(&Transport(reason)))),
        }
    }
}

impl RaftNetwork<TypeConfig> for HttpConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call("/raft/append", rpc).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.call("/raft/snapshot", rpc).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call("/raft/vote", rpc).await
    }
}
