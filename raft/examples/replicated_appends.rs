//! Replicated durable appends against the single-node event store, side by side in
//! alternating rounds on this machine's disk.
//!
//! ```text
//! cargo run --release -p annal-raft --example replicated_appends -- [rounds] [seconds]
//! ```
//!
//! Single node: an `EventStore`, each client thread appending one 100-byte event per call
//! to its own stream with `Durability::Synced`. Replicated: a 3-node cluster in this
//! process (the in-process network, no faults; each node's raft log and event store on
//! real files in its own directory), each client a task calling `client_write` on the
//! leader with the same append, acknowledged once a majority has the entry durable and
//! the leader applied it. No snapshots are taken (they serialize the whole store). Per round and client count, each
//! system runs for the same time; prints the median rate over the rounds, the median of
//! the per-round ratios, and the p50/p99 latency of all rounds' appends.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options};
use annal_raft::in_process::Router;
use annal_raft::{
    AnnalLogStore, AppendRequest, EventStoreMachine, Expected, ProposedEvent, TypeConfig,
};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};

const CLIENTS: [usize; 3] = [1, 8, 64];
const PAYLOAD_BYTES: usize = 100;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile_us(latencies: &mut [Duration], p: f64) -> f64 {
    latencies.sort();
    let at = ((latencies.len() as f64 - 1.0) * p).round() as usize;
    latencies[at].as_secs_f64() * 1e6
}

/// Appends per second and every append's latency.
struct Run {
    rate: f64,
    latencies: Vec<Duration>,
}

fn run_single(store: &Arc<EventStore>, clients: usize, time: Duration) -> Run {
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let store = Arc::clone(store);
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let stream = format!("single-{c}");
                while start.elapsed() < time {
                    let event = NewEvent::new("Appended", vec![7u8; PAYLOAD_BYTES]);
                    let t = Instant::now();
                    store
                        .append(
                            stream.as_str(),
                            ExpectedRevision::Any,
                            vec![event],
                            Durability::Synced,
                        )
                        .unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let latencies: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    Run {
        rate: latencies.len() as f64 / start.elapsed().as_secs_f64(),
        latencies,
    }
}

async fn run_replicated(raft: &Raft<TypeConfig>, clients: usize, time: Duration) -> Run {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let raft = raft.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let stream = format!("replicated-{c}");
                while start.elapsed() < time {
                    let request = AppendRequest {
                        stream: stream.clone(),
                        expected: Expected::Any,
                        events: vec![ProposedEvent {
                            event_type: "Appended".into(),
                            data: vec![7u8; PAYLOAD_BYTES],
                            metadata: vec![],
                        }],
                    };
                    let t = Instant::now();
                    raft.client_write(request).await.unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Run {
        rate: latencies.len() as f64 / start.elapsed().as_secs_f64(),
        latencies,
    }
}

async fn start_cluster(dir: &std::path::Path) -> (Vec<Raft<TypeConfig>>, Raft<TypeConfig>) {
    let router = Router::new(1);
    let config = Arc::new(
        Config {
            heartbeat_interval: 100,
            election_timeout_min: 1000,
            election_timeout_max: 2000,
            max_payload_entries: 1000,
            // A snapshot serializes the whole store (`docs/design.md`): measured apart,
            // not inside the append rate.
            snapshot_policy: SnapshotPolicy::Never,
            ..Default::default()
        }
        .validate()
        .unwrap(),
    );
    let mut nodes = Vec::new();
    for id in 1..=3u64 {
        let base = dir.join(format!("node-{id}"));
        let log = AnnalLogStore::open(base.join("raft"), Options::default()).unwrap();
        let machine = EventStoreMachine::open(base.join("machine"), Options::default()).unwrap();
        let raft = Raft::new(
            id,
            Arc::clone(&config),
            router.network_for(id),
            log,
            machine,
        )
        .await
        .unwrap();
        router.add(id, raft.clone());
        nodes.push(raft);
    }
    let members: BTreeMap<u64, BasicNode> = (1..=3).map(|id| (id, BasicNode::default())).collect();
    nodes[0].initialize(members).await.unwrap();
    let leader = loop {
        if let Some(leader) = nodes[0].metrics().borrow().current_leader {
            break leader;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let leader = nodes[(leader - 1) as usize].clone();
    (nodes, leader)
}

struct Row {
    single: Vec<f64>,
    replicated: Vec<f64>,
    ratios: Vec<f64>,
    single_latencies: Vec<Duration>,
    replicated_latencies: Vec<Duration>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args.first().map_or(3, |s| s.parse().unwrap());
    let time = Duration::from_secs_f64(args.get(1).map_or(2.0, |s| s.parse().unwrap()));
    let workers: usize = std::env::var("ANNAL_RAFT_WORKERS").map_or(2, |s| s.parse().unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(std::env::var("ANNAL_BENCH_DIR").unwrap_or_else(|_| ".".into()))
        .unwrap();
    let single = Arc::new(EventStore::open(dir.path().join("single"), Options::default()).unwrap());
    let (nodes, leader) = runtime.block_on(start_cluster(dir.path()));
    let mut rows: Vec<Row> = CLIENTS
        .iter()
        .map(|_| Row {
            single: Vec::new(),
            replicated: Vec::new(),
            ratios: Vec::new(),
            single_latencies: Vec::new(),
            replicated_latencies: Vec::new(),
        })
        .collect();
    for round in 0..rounds {
        for (row, &clients) in rows.iter_mut().zip(&CLIENTS) {
            let s = run_single(&single, clients, time);
            let r = runtime.block_on(run_replicated(&leader, clients, time));
            println!(
                "round {round} clients {clients}: single {:.0}/s, replicated {:.0}/s",
                s.rate, r.rate
            );
            row.ratios.push(r.rate / s.rate);
            row.single.push(s.rate);
            row.replicated.push(r.rate);
            row.single_latencies.extend(s.latencies);
            row.replicated_latencies.extend(r.latencies);
        }
    }
    println!();
    println!("| clients | single node appends/s | replicated appends/s | ratio (median of rounds) | single p50 / p99 µs | replicated p50 / p99 µs |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for (row, clients) in rows.iter_mut().zip(CLIENTS) {
        println!(
            "| {clients} | {:.0} | {:.0} | {:.2}× | {:.0} / {:.0} | {:.0} / {:.0} |",
            median(&mut row.single),
            median(&mut row.replicated),
            median(&mut row.ratios),
            percentile_us(&mut row.single_latencies, 0.5),
            percentile_us(&mut row.single_latencies, 0.99),
            percentile_us(&mut row.replicated_latencies, 0.5),
            percentile_us(&mut row.replicated_latencies, 0.99),
        );
    }
    runtime.block_on(async {
        for node in nodes {
            node.shutdown().await.unwrap();
        }
    });
}
