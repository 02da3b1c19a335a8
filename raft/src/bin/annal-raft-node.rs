//! One node of a replicated Annal cluster over TCP (HTTP on loopback or a LAN).
//!
//! ```text
//! annal-raft-node <id> <dir> <members>
//!     <members> is the whole cluster, `1=127.0.0.1:21001,2=127.0.0.1:21002,...`; the
//!     node serves on its own address, prints `listening <addr>`, and node 1 proposes the
//!     membership (once: a cluster already formed ignores it). Runs until killed.
//! ```

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use annal::Options;
use annal_raft::http::{HttpNetwork, HttpServer};
use annal_raft::ReplicatedStore;
use openraft::{Config, SnapshotPolicy};

fn parse_members(spec: &str) -> Result<BTreeMap<u64, String>, String> {
    spec.split(',')
        .map(|member| {
            let (id, addr) = member
                .split_once('=')
                .ok_or_else(|| format!("member {member:?} is not id=host:port"))?;
            let id = id.parse().map_err(|_| format!("bad node id {id:?}"))?;
            Ok((id, addr.to_string()))
        })
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("annal-raft-node: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [id, dir, members] = args else {
        return Err("usage: annal-raft-node <id> <dir> <id=host:port,...>".into());
    };
    let id: u64 = id.parse().map_err(|_| format!("bad node id {id:?}"))?;
    let members = parse_members(members)?;
    let addr = members
        .get(&id)
        .ok_or_else(|| format!("node {id} is not among the members"))?
        .clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let config = Config {
        cluster_name: "annal".into(),
        heartbeat_interval: 100,
        election_timeout_min: 400,
        election_timeout_max: 800,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(5000),
        ..Default::default()
    };
    let store = runtime
        .block_on(ReplicatedStore::open(
            id,
            dir,
            Options::default(),
            config,
            HttpNetwork::default(),
        ))
        .map_err(|e| e.to_string())?;
    let server = HttpServer::start(&addr, store.clone(), runtime.handle().clone())
        .map_err(|e| format!("serve on {addr}: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening {}", server.addr())
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())?;
    drop(out);
    if id == 1 {
        // A cluster formed earlier refuses this; that is fine.
        let _ = runtime.block_on(store.initialize(members));
    }
    runtime.block_on(std::future::pending::<()>());
    Ok(())
}
