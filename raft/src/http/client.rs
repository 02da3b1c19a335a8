//! A blocking client of a cluster over HTTP: sends appends and linearizable reads to
//! any node and follows the leader's address a follower answers with.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{ReadEvent, ReadRequest, Status};
use crate::{AppendOutcome, AppendRequest, ReplicatedError};

/// Longest wait for one call's answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call keeps trying other nodes (an election can take a few hundred ms).
const LEADER_WAIT: Duration = Duration::from_secs(15);

/// A client of a cluster whose nodes' addresses it knows.
pub struct HttpClient {
    agent: ureq::Agent,
    addrs: Vec<String>,
    /// The node it believes leads (an index into `addrs` or an address it was told).
    leader: String,
}

impl HttpClient {
    /// A client of the nodes at `addrs` (`host:port`), at least one.
    pub fn new(addrs: Vec<String>) -> HttpClient {
        let leader = addrs.first().cloned().unwrap_or_default();
        HttpClient {
            agent: ureq::AgentBuilder::new().timeout(CALL_TIMEOUT).build(),
            addrs,
            leader,
        }
    }

    fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        body: &Req,
    ) -> Result<Result<Resp, ReplicatedError>, String> {
        let url = format!("http://{addr}{path}");
        match self.agent.post(&url).send_json(body) {
            Ok(response) => response.into_json().map_err(|e| e.to_string()),
            Err(ureq::Error::Status(_, response)) => {
                response.into_json().map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sends `body` to the leader, following redirects and trying the other nodes while
    /// none answers, for up to a few seconds.
    fn call_leader<Req: Serialize, Resp: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, ReplicatedError> {
        let deadline = Instant::now() + LEADER_WAIT;
        let mut next_guess = 0;
        loop {
            let last_error = match self.post::<Req, Resp>(&self.leader.clone(), path, body) {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(ReplicatedError::NotLeader {
                    leader_addr: Some(addr),
                    ..
                })) => {
                    self.leader = addr;
                    continue;
                }
                Ok(Err(ReplicatedError::NotLeader { .. })) => "no leader yet".to_string(),
                Ok(Err(e)) => return Err(e),
                Err(transport) => transport,
            };
            if Instant::now() >= deadline {
                return Err(ReplicatedError::Failed { reason: last_error });
            }
            next_guess = (next_guess + 1) % self.addrs.len();
            self.leader = self.addrs[next_guess].clone();
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Appends through the leader.
    pub fn append(&mut self, request: &AppendRequest) -> Result<AppendOutcome, ReplicatedError> {
        self.call_leader("/client/append", request)
    }

    /// Reads a stream linearizably on the leader.
    pub fn read_linearizable(&mut self, stream: &str) -> Result<Vec<ReadEvent>, ReplicatedError> {
        let read = ReadRequest {
            stream: stream.to_string(),
            linearizable: true,
        };
        self.call_leader("/client/read", &read)
    }

    /// Reads a stream's committed events on the node at `addr`.
    pub fn read_local(&self, addr: &str, stream: &str) -> Result<Vec<ReadEvent>, ReplicatedError> {
        let read = ReadRequest {
            stream: stream.to_string(),
            linearizable: false,
        };
        self.post(addr, "/client/read", &read)
            .map_err(|reason| ReplicatedError::Failed { reason })?
    }

    /// What the node at `addr` says of itself.
    pub fn status(&self, addr: &str) -> Result<Status, String> {
        self.agent
            .get(&format!("http://{addr}/cluster/status"))
            .call()
            .map_err(|e| e.to_string())?
            .into_json()
            .map_err(|e| e.to_string())
    }

    /// Asks the node at `addr` to initialize the cluster with `members`.
    pub fn initialize(
        &self,
        addr: &str,
        members: &std::collections::BTreeMap<u64, String>,
    ) -> Result<(), ReplicatedError> {
        self.post(addr, "/cluster/init", members)
            .map_err(|reason| ReplicatedError::Failed { reason })?
    }
}
