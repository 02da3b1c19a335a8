//! Serves a [`ReplicatedStore`] over HTTP: a few threads take requests from one
//! `tiny_http` server and run each on the node's tokio runtime.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tiny_http::{Method, Request, Response, Server};
use tokio::runtime::Handle;

use super::{ReadEvent, ReadRequest, Status};
use crate::{AppendRequest, ReplicatedError, ReplicatedStore};

/// Threads answering requests.
const SERVER_THREADS: usize = 8;
/// Largest request body accepted (a snapshot travels in chunks below this).
const BODY_BYTES_MAX: u64 = 64 << 20;

/// A running HTTP server; stops when dropped.
pub struct HttpServer {
    server: Arc<Server>,
    threads: Vec<JoinHandle<()>>,
    addr: SocketAddr,
}

impl HttpServer {
    /// Serves `store` on `addr` (`127.0.0.1:0` picks a free port), running its calls on
    /// `runtime`.
    pub fn start(
        addr: &str,
        store: ReplicatedStore,
        runtime: Handle,
    ) -> std::io::Result<HttpServer> {
        let server = Arc::new(Server::http(addr).map_err(std::io::Error::other)?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("not an IP address"))?;
        let threads = (0..SERVER_THREADS)
            .map(|_| {
                let (server, store, runtime) =
                    (Arc::clone(&server), store.clone(), runtime.clone());
                std::thread::spawn(move || {
                    for request in server.incoming_requests() {
                        handle(request, &store, &runtime);
                    }
                })
            })
            .collect();
        Ok(HttpServer {
            server,
            threads,
            addr,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.server.unblock();
        for _ in 1..self.threads.len() {
            self.server.unblock();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn body<T: DeserializeOwned>(request: &mut Request) -> Result<T, String> {
    let mut bytes = Vec::new();
    request
        .as_reader()
        .take(BODY_BYTES_MAX)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading the body: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("malformed body: {e}"))
}

fn json(value: &impl Serialize) -> Response<std::io::Cursor<Vec<u8>>> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|e| format!("{e}").into_bytes());
    Response::from_data(bytes).with_header(
        "Content-Type: application/json"
            .parse::<tiny_http::Header>()
            .expect("a valid header"),
    )
}

fn handle(mut request: Request, store: &ReplicatedStore, runtime: &Handle) {
    let raft = store.raft();
    let response = match (request.method(), request.url()) {
        (Method::Post, "/raft/append") => match body(&mut request) {
            Ok(rpc) => json(&runtime.block_on(raft.append_entries(rpc))),
            Err(e) => bad_request(e),
        },
        (Method::Post, "/raft/vote") => match body(&mut request) {
            Ok(rpc) => json(&runtime.block_on(raft.vote(rpc))),
            Err(e) => bad_request(e),
        },
        (Method::Post, "/raft/snapshot") => match body(&mut request) {
            Ok(rpc) => json(&runtime.block_on(raft.install_snapshot(rpc))),
            Err(e) => bad_request(e),
        },
        (Method::Post, "/client/append") => match body::<AppendRequest>(&mut request) {
            Ok(append) => json(&runtime.block_on(store.append(append))),
            Err(e) => bad_request(e),
        },
        (Method::Post, "/client/read") => match body::<ReadRequest>(&mut request) {
            Ok(read) => json(&runtime.block_on(read_stream(store, &read))),
            Err(e) => bad_request(e),
        },
        (Method::Post, "/cluster/init") => match body::<BTreeMap<u64, String>>(&mut request) {
            Ok(members) => json(&runtime.block_on(store.initialize(members))),
            Err(e) => bad_request(e),
        },
        (Method::Get, "/cluster/status") => {
            let m = raft.metrics().borrow().clone();
            json(&Status {
                id: store.id(),
                leader: m.current_leader,
                term: m.current_term,
                applied: m.last_applied.map(|l| l.index),
            })
        }
        _ => Response::from_string("no such path").with_status_code(404),
    };
    let _ = request.respond(response);
}

fn bad_request(reason: String) -> Response<std::io::Cursor<Vec<u8>>> {
    let answer: Result<(), ReplicatedError> = Err(ReplicatedError::Failed { reason });
    json(&answer).with_status_code(400)
}

async fn read_stream(
    store: &ReplicatedStore,
    read: &ReadRequest,
) -> Result<Vec<ReadEvent>, ReplicatedError> {
    let events = if read.linearizable {
        store.read_stream_linearizable(&read.stream).await?
    } else {
        store.read_stream_local(&read.stream)?
    };
    Ok(events
        .into_iter()
        .map(|e| ReadEvent {
            revision: e.revision.0,
            position: e.position.0,
            event_type: String::from_utf8_lossy(&e.event_type).into_owned(),
            data: e.data.to_vec(),
        })
        .collect())
}
