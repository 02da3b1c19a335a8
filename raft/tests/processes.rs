//! The 3-process cluster on loopback (`annal-raft-node`, over HTTP): appends through any
//! node reach the leader, a kill -9 of the leader loses no acknowledged append, the
//! restarted node catches up from its files, every node then reads the same committed
//! events, and bad requests get clear errors.

#![allow(clippy::unwrap_used, clippy::result_large_err)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use annal_raft::http::HttpClient;
use annal_raft::{AppendOutcome, AppendRequest, Expected, ProposedEvent, ReplicatedError};

/// Longest wait for a node to serve, or for the nodes to agree.
const WAIT: Duration = Duration::from_secs(60);

/// The node processes, killed when the test ends however it ends.
struct Nodes(BTreeMap<u64, Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in self.0.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(id: u64, dir: &Path, members: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_annal-raft-node"))
        .arg(id.to_string())
        .arg(dir.join(format!("node-{id}")))
        .arg(members)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening "), "node {id} said {line:?}");
    child
}

fn append(client: &mut HttpClient, n: u64) -> AppendOutcome {
    client
        .append(&AppendRequest {
            stream: "ledger-1".into(),
            expected: match n {
                0 => Expected::NoStream,
                n => Expected::Exact(n - 1),
            },
            events: vec![ProposedEvent {
                event_type: "Entry".into(),
                data: format!("entry {n}").into_bytes(),
                metadata: vec![],
            }],
        })
        .unwrap()
}

fn leader(client: &HttpClient, addrs: &BTreeMap<u64, String>) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        for addr in addrs.values() {
            if let Ok(status) = client.status(addr) {
                if let Some(leader) = status.leader {
                    if addrs.contains_key(&leader) && client.status(&addrs[&leader]).is_ok() {
                        return leader;
                    }
                }
            }
        }
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn three_processes_replicate_and_survive_a_leader_kill_9() {
    // Proves the loopback cluster elects a leader, takes appends through any node,
    // keeps every acknowledged one across a SIGKILL of the leader, and after the
    // leader restarts from its files all three nodes read the same committed stream.
    let dir = tempfile::tempdir().unwrap();
    let addrs: BTreeMap<u64, String> = (1..=3)
        .map(|id| (id, format!("127.0.0.1:{}", free_port())))
        .collect();
    let members = addrs
        .iter()
        .map(|(id, addr)| format!("{id}={addr}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut children = Nodes(
        (1..=3)
            .map(|id| (id, spawn(id, dir.path(), &members)))
            .collect(),
    );
    let mut client = HttpClient::new(addrs.values().rev().cloned().collect());
    for n in 0..20 {
        let outcome = append(&mut client, n);
        assert!(
            matches!(outcome, AppendOutcome::Appended { first_revision, .. } if first_revision == n),
            "append {n}: {outcome:?}"
        );
    }
    // An expectation that fails is refused the same way on every replica.
    assert!(matches!(
        append(&mut client, 5),
        AppendOutcome::Refused { .. }
    ));
    // Bad input gets a clear error: a malformed body, an append without events.
    match ureq::post(&format!("http://{}/client/append", addrs[&1])).send_string("{not json") {
        Err(ureq::Error::Status(400, response)) => {
            let body = response.into_string().unwrap();
            assert!(body.contains("malformed body"), "{body}");
        }
        other => panic!("a malformed body was answered {other:?}"),
    }
    let empty = client.append(&AppendRequest {
        stream: "ledger-1".into(),
        expected: Expected::Any,
        events: vec![],
    });
    assert!(
        matches!(&empty, Err(ReplicatedError::Failed { reason }) if reason.contains("at least one event")),
        "{empty:?}"
    );
    let killed = leader(&client, &addrs);
    let mut child = children.0.remove(&killed).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    for n in 20..30 {
        assert!(matches!(
            append(&mut client, n),
            AppendOutcome::Appended { .. }
        ));
    }
    children
        .0
        .insert(killed, spawn(killed, dir.path(), &members));
    let linearizable = client.read_linearizable("ledger-1").unwrap();
    assert_eq!(linearizable.len(), 30);
    for (n, event) in linearizable.iter().enumerate() {
        assert_eq!(event.data, format!("entry {n}").into_bytes());
    }
    let deadline = Instant::now() + WAIT;
    for addr in addrs.values() {
        loop {
            let local = client.read_local(addr, "ledger-1").unwrap();
            if local == linearizable {
                break;
            }
            assert!(
                local.len() < linearizable.len() && linearizable.starts_with(&local),
                "node {addr} holds other events"
            );
            assert!(Instant::now() < deadline, "node {addr} did not catch up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    drop(children);
}
