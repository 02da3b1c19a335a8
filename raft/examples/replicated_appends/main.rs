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
//! real files in its own directory), each client a task proposing the same append through
//! a `Proposer` on the leader paced by the leader log's flushes (as
//! `ReplicatedStore::append` does: concurrent appends share raft entries;
//! `ANNAL_RAFT_PROPOSER=window` keeps at most 4 batches in flight instead,
//! `ANNAL_RAFT_PROPOSER=entry` makes one entry per append, with `client_write`),
//! acknowledged once a majority has the entry durable and the leader applied it. No
//! snapshots are taken (they serialize the whole store). Per round and client count, an
//! fdatasync probe runs, then each system for the same time; prints the
//! median rate over the rounds, the median of the per-round ratios, the p50/p99 latency
//! of all rounds' appends, and what bounds the replicated rate, measured in the same
//! rounds ([`bounds`]): CPU per append of each system, the CPU and latency ceilings,
//! and where a replicated append's time went (raft-log fdatasyncs, RPCs).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

mod bounds;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options};
use annal_raft::in_process::{AppendRpcStats, Router};
use annal_raft::{
    AnnalLogStore, AppendRequest, EventStoreMachine, Expected, LogFlushes, ProposedEvent, Proposer,
    SyncCounts, SyncStats, TypeConfig,
};
use bounds::{Ceilings, FsyncProbe};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};

/// The client counts measured, unless `ANNAL_RAFT_CLIENTS` lists others (`1,8,64`).
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

/// How a client's append reaches the leader.
#[derive(Clone)]
enum Client {
    /// One raft entry per append (`Raft::client_write`).
    Entry(Raft<TypeConfig>),
    /// Appends batched into entries by a [`Proposer`] (what `ReplicatedStore` does).
    Batched(Proposer),
}

async fn run_replicated(client: &Client, clients: usize, time: Duration) -> Run {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let client = client.clone();
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
                    match &client {
                        Client::Entry(raft) => {
                            raft.client_write(request.into()).await.unwrap();
                        }
                        Client::Batched(proposer) => {
                            proposer.append(request).await.unwrap();
                        }
                    }
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

/// The cluster, its leader, and what the per-round counters read.
struct Cluster {
    nodes: Vec<Raft<TypeConfig>>,
    leader: Raft<TypeConfig>,
    /// The leader's index in `nodes` and `syncs`.
    leader_at: usize,
    router: Router,
    syncs: Vec<Arc<SyncStats>>,
    flushes: Vec<LogFlushes>,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |s| s.parse().unwrap())
}

async fn start_cluster(dir: &std::path::Path) -> Cluster {
    let router = Router::new(1);
    let heartbeat = env_u64("ANNAL_RAFT_HEARTBEAT_MS", 100);
    let config = Arc::new(
        Config {
            heartbeat_interval: heartbeat,
            election_timeout_min: 10 * heartbeat,
            election_timeout_max: 20 * heartbeat,
            max_payload_entries: env_u64("ANNAL_RAFT_MAX_PAYLOAD", 1000),
            // A snapshot serializes the whole store (`docs/design.md`): measured apart,
            // not inside the append rate.
            snapshot_policy: SnapshotPolicy::Never,
            ..Default::default()
        }
        .validate()
        .unwrap(),
    );
    let mut nodes = Vec::new();
    let mut syncs = Vec::new();
    let mut flushes = Vec::new();
    for id in 1..=3u64 {
        let base = dir.join(format!("node-{id}"));
        let log = AnnalLogStore::open(base.join("raft"), Options::default()).unwrap();
        syncs.push(log.sync_stats());
        flushes.push(log.flushes());
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
    let leader_at = (leader - 1) as usize;
    Cluster {
        leader: nodes[leader_at].clone(),
        leader_at,
        nodes,
        router,
        syncs,
        flushes,
    }
}

/// The counters a round reads before and after.
struct Counters {
    syncs: Vec<SyncCounts>,
    rpcs: AppendRpcStats,
}

fn counters(cluster: &Cluster) -> Counters {
    Counters {
        syncs: cluster.syncs.iter().map(|s| s.read()).collect(),
        rpcs: cluster.router.append_rpc_stats(),
    }
}

/// Where one replicated run's time went, from the counters before and after it.
#[derive(Debug, Clone, Copy)]
struct Spent {
    /// Leader raft-log entries (flush callbacks) per append: 1 / appends per entry.
    leader_entries_per_append: f64,
    /// Mean time of one leader raft-log sync (one fdatasync), µs.
    leader_sync_us: f64,
    /// Mean time from an append's flush callback queued on the leader to its sync's
    /// start (the syncer thread's wake-up), µs per sync.
    leader_wake_us: f64,
    /// Mean time the leader's log waited between a sync's answer and the next append,
    /// µs per sync.
    leader_idle_us: f64,
    /// Mean time of one follower raft-log sync, µs.
    follower_sync_us: f64,
    /// Mean time of one `AppendEntries` RPC, delivery to answer (the follower's append
    /// and its fdatasync included), µs.
    rpc_us: f64,
    /// Entries per `AppendEntries` RPC.
    rpc_entries: f64,
}

fn spent(cluster: &Cluster, before: &Counters, after: &Counters, appends: usize) -> Spent {
    let delta = |n: usize| SyncCounts {
        syncs: after.syncs[n].syncs - before.syncs[n].syncs,
        callbacks: after.syncs[n].callbacks - before.syncs[n].callbacks,
        busy_ns: after.syncs[n].busy_ns - before.syncs[n].busy_ns,
        wake_ns: after.syncs[n].wake_ns - before.syncs[n].wake_ns,
        idle_ns: after.syncs[n].idle_ns - before.syncs[n].idle_ns,
    };
    let mean_us = |c: &SyncCounts| c.busy_ns as f64 / 1e3 / c.syncs.max(1) as f64;
    let leader = delta(cluster.leader_at);
    let followers: Vec<SyncCounts> = (0..cluster.syncs.len())
        .filter(|&n| n != cluster.leader_at)
        .map(delta)
        .collect();
    let follower_syncs: u64 = followers.iter().map(|c| c.syncs).sum();
    let follower_ns: u64 = followers.iter().map(|c| c.busy_ns).sum();
    let rpcs = after.rpcs.rpcs - before.rpcs.rpcs;
    Spent {
        leader_entries_per_append: leader.callbacks as f64 / appends.max(1) as f64,
        leader_sync_us: mean_us(&leader),
        leader_wake_us: leader.wake_ns as f64 / 1e3 / leader.syncs.max(1) as f64,
        leader_idle_us: leader.idle_ns as f64 / 1e3 / leader.syncs.max(1) as f64,
        follower_sync_us: follower_ns as f64 / 1e3 / follower_syncs.max(1) as f64,
        rpc_us: (after.rpcs.busy_us - before.rpcs.busy_us) as f64 / rpcs.max(1) as f64,
        rpc_entries: (after.rpcs.entries - before.rpcs.entries) as f64 / rpcs.max(1) as f64,
    }
}

/// One client count's measurements, one value per round.
#[derive(Default)]
struct Row {
    single: Vec<f64>,
    replicated: Vec<f64>,
    ratios: Vec<f64>,
    single_latencies: Vec<Duration>,
    replicated_latencies: Vec<Duration>,
    /// CPU µs per append.
    single_cpu_us: Vec<f64>,
    replicated_cpu_us: Vec<f64>,
    /// fdatasync probe median, µs.
    fdatasync_us: Vec<f64>,
    /// Ceilings as multiples of the round's single-node rate.
    cpu_ceiling_ratio: Vec<f64>,
    disk_ceiling_ratio: Vec<f64>,
    syncs_ceiling_ratio: Vec<f64>,
    /// The replicated rate over the lower ceiling.
    of_ceiling: Vec<f64>,
    appends_per_entry: Vec<f64>,
    leader_sync_us: Vec<f64>,
    follower_sync_us: Vec<f64>,
    rpc_us: Vec<f64>,
}

fn cpu_us_per_append(cpu: Duration, appends: usize) -> f64 {
    cpu.as_secs_f64() * 1e6 / appends.max(1) as f64
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
    let mut probe = FsyncProbe::new(dir.path());
    let single = Arc::new(EventStore::open(dir.path().join("single"), Options::default()).unwrap());
    let cluster = runtime.block_on(start_cluster(dir.path()));
    // `ANNAL_RAFT_PROPOSER`: `paced` (default, as `ReplicatedStore`), `window` (at most
    // 4 batches in flight, `Proposer::new`), `entry` (one raft entry per append).
    let proposer = std::env::var("ANNAL_RAFT_PROPOSER").unwrap_or_else(|_| "paced".into());
    let client = {
        let _guard = runtime.enter();
        match proposer.as_str() {
            "paced" => Client::Batched(Proposer::paced_by(
                cluster.leader.clone(),
                cluster.flushes[cluster.leader_at].clone(),
            )),
            "window" => Client::Batched(Proposer::new(cluster.leader.clone())),
            "entry" => Client::Entry(cluster.leader.clone()),
            other => panic!("ANNAL_RAFT_PROPOSER={other}: paced, window or entry"),
        }
    };
    let client_counts: Vec<usize> = std::env::var("ANNAL_RAFT_CLIENTS")
        .map_or(CLIENTS.to_vec(), |s| {
            s.split(',').map(|n| n.trim().parse().unwrap()).collect()
        });
    let mut rows: Vec<Row> = client_counts.iter().map(|_| Row::default()).collect();
    for round in 0..rounds {
        for (row, &clients) in rows.iter_mut().zip(&client_counts) {
            let fdatasync = probe.median(Duration::from_millis(200));
            let cpu_start = bounds::process_cpu();
            let s = run_single(&single, clients, time);
            let cpu_single = bounds::process_cpu() - cpu_start;
            let before = counters(&cluster);
            let cpu_start = bounds::process_cpu();
            let r = runtime.block_on(run_replicated(&client, clients, time));
            let cpu_replicated = bounds::process_cpu() - cpu_start;
            let after = counters(&cluster);
            let spent = spent(&cluster, &before, &after, r.latencies.len());
            let replicated_cpu = cpu_us_per_append(cpu_replicated, r.latencies.len());
            let micros = |us: f64| Duration::from_secs_f64(us / 1e6);
            let ceilings = Ceilings::new(
                clients,
                micros(replicated_cpu),
                fdatasync,
                micros(spent.leader_sync_us),
                micros(spent.follower_sync_us),
            );
            println!(
                "round {round} clients {clients}: single {:.0}/s ({:.1} µs CPU each), \
                 replicated {:.0}/s ({replicated_cpu:.1} µs CPU each), {:.1} appends per leader entry; \
                 fdatasync probe {:.0} µs; syncs leader {:.0} µs, followers {:.0} µs; \
                 leader per sync: syncer wake {:.0} µs, idle {:.0} µs; \
                 AppendEntries {:.0} µs, {:.1} entries each; ceilings CPU {:.0}/s, disk {:.0}/s, syncs {:.0}/s",
                s.rate,
                cpu_us_per_append(cpu_single, s.latencies.len()),
                r.rate,
                1.0 / spent.leader_entries_per_append.max(1e-9),
                fdatasync.as_secs_f64() * 1e6,
                spent.leader_sync_us,
                spent.follower_sync_us,
                spent.leader_wake_us,
                spent.leader_idle_us,
                spent.rpc_us,
                spent.rpc_entries,
                ceilings.cpu,
                ceilings.disk,
                ceilings.syncs,
            );
            row.ratios.push(r.rate / s.rate);
            row.single_cpu_us
                .push(cpu_us_per_append(cpu_single, s.latencies.len()));
            row.replicated_cpu_us.push(replicated_cpu);
            row.fdatasync_us.push(fdatasync.as_secs_f64() * 1e6);
            row.cpu_ceiling_ratio.push(ceilings.cpu / s.rate);
            row.disk_ceiling_ratio.push(ceilings.disk / s.rate);
            row.syncs_ceiling_ratio.push(ceilings.syncs / s.rate);
            row.of_ceiling.push(r.rate / ceilings.lowest());
            row.appends_per_entry
                .push(1.0 / spent.leader_entries_per_append.max(1e-9));
            row.leader_sync_us.push(spent.leader_sync_us);
            row.follower_sync_us.push(spent.follower_sync_us);
            row.rpc_us.push(spent.rpc_us);
            row.single.push(s.rate);
            row.replicated.push(r.rate);
            row.single_latencies.extend(s.latencies);
            row.replicated_latencies.extend(r.latencies);
        }
    }
    println!();
    println!("| clients | single node appends/s | replicated appends/s | ratio (median of rounds) | single p50 / p99 µs | replicated p50 / p99 µs |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for (row, &clients) in rows.iter_mut().zip(&client_counts) {
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
    println!();
    println!(
        "What bounds the replicated rate (medians of rounds; {} cores; ceilings as multiples of the single node's rate):",
        bounds::cores()
    );
    println!();
    println!("| clients | CPU µs/append single / replicated | CPU ceiling | fdatasync probe µs | disk ceiling | leader / follower sync µs | syncs ceiling | replicated / lower of CPU, syncs | appends per leader entry | AppendEntries µs |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (row, &clients) in rows.iter_mut().zip(&client_counts) {
        println!(
            "| {clients} | {:.1} / {:.1} | {:.2}× | {:.0} | {:.2}× | {:.0} / {:.0} | {:.2}× | {:.2} | {:.1} | {:.0} |",
            median(&mut row.single_cpu_us),
            median(&mut row.replicated_cpu_us),
            median(&mut row.cpu_ceiling_ratio),
            median(&mut row.fdatasync_us),
            median(&mut row.disk_ceiling_ratio),
            median(&mut row.leader_sync_us),
            median(&mut row.follower_sync_us),
            median(&mut row.syncs_ceiling_ratio),
            median(&mut row.of_ceiling),
            median(&mut row.appends_per_entry),
            median(&mut row.rpc_us),
        );
    }
    runtime.block_on(async {
        for node in cluster.nodes {
            node.shutdown().await.unwrap();
        }
    });
}
