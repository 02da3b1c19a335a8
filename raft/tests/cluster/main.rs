//! A 3-node in-process cluster on real files (`harness`): leader crash, partition and
//! heal with a log conflict, a follower stopped and restarted from disk, a follower far
//! behind catching up by snapshot, and a seeded randomized schedule of these faults
//! under message loss and delay. After each, every replica holds the same event store
//! and every acknowledged write is in it exactly once.

#![allow(clippy::unwrap_used, clippy::result_large_err, clippy::print_stdout)]

mod harness;

use std::time::{Duration, Instant};

use harness::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_leader_is_replaced_and_catches_up_from_disk() {
    // Proves a new leader takes over when the leader stops, acknowledged writes all
    // survive, and the old leader restarted from its files rejoins with the same store.
    let mut cluster = Cluster::start(1, 10_000).await;
    assert_eq!(cluster.write(20).await, 20);
    let old = cluster.leader().await;
    cluster.stop_node(old).await;
    let new = cluster.leader().await;
    assert_ne!(new, old);
    assert_eq!(cluster.write(20).await, 20);
    cluster.start_node(old).await;
    cluster.converge().await;
    cluster.assert_consistent("after the leader's stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_leaders_synced_entries_are_truncated_after_the_heal() {
    // Proves a leader cut off from the others appends entries (synced in its log) that
    // never commit; the majority elects a new leader and goes on; after the heal the old
    // leader's conflicting entries are truncated, none of them reaches any store, and
    // the replicas agree.
    let mut cluster = Cluster::start(2, 10_000).await;
    assert_eq!(cluster.write(10).await, 10);
    let old = cluster.leader().await;
    let committed_before = cluster.metrics(old).last_log_index;
    cluster.router.isolate(old);
    let acked_before = cluster.acked.len();
    for _ in 0..3 {
        assert!(
            !cluster.write_to(old).await,
            "a leader without a quorum acknowledged"
        );
    }
    assert!(
        cluster.metrics(old).last_log_index > committed_before,
        "the isolated leader appended the writes to its own log"
    );
    assert_eq!(cluster.acked.len(), acked_before);
    // The other two elect a leader among themselves.
    let deadline = Instant::now() + Duration::from_secs(30);
    let new = loop {
        let leader = (1..=3)
            .filter(|&id| id != old)
            .find(|&id| cluster.metrics(id).state.is_leader());
        if let Some(leader) = leader {
            break leader;
        }
        assert!(Instant::now() < deadline, "the majority elected no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for _ in 0..10 {
        assert!(cluster.write_to(new).await);
    }
    cluster.converge().await;
    cluster.assert_consistent("after the partition healed");
    let streams: Vec<Vec<u8>> = cluster
        .contents(old)
        .into_iter()
        .map(|(s, _, _)| s)
        .collect();
    for n in 10..13 {
        assert!(
            !streams.contains(&format!("w-{n}").into_bytes()),
            "write {n} of the isolated leader reached a store"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_far_behind_catches_up_by_snapshot() {
    // Proves a follower stopped while the leader snapshots and purges its log is sent
    // the snapshot on restart and ends with the same store.
    let mut cluster = Cluster::start(3, 50).await;
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    cluster.stop_node(follower).await;
    assert_eq!(cluster.write(200).await, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.metrics(leader).purged.is_none() {
        assert!(Instant::now() < deadline, "the leader never purged its log");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.start_node(follower).await;
    cluster.converge().await;
    assert!(
        cluster.metrics(follower).snapshot.is_some(),
        "the follower caught up without a snapshot"
    );
    cluster.assert_consistent("after the snapshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seeded_random_schedule_of_faults_loses_no_acknowledged_write() {
    // Proves that under a random schedule (seeded: ANNAL_RAFT_SEED replays it) of
    // partitions, message loss, delays and nodes stopped and restarted, bounded in
    // time, every acknowledged write ends in every replica's store exactly once.
    let seed = std::env::var("ANNAL_RAFT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("ANNAL_RAFT_SEED={seed}");
    let mut rng = seed | 1;
    let mut random = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut cluster = Cluster::start(seed, 40).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut steps = 0;
    while Instant::now() < deadline && steps < 40 {
        steps += 1;
        match random(6) {
            0 => cluster.router.isolate(1 + random(3)),
            1 => cluster.router.heal(),
            2 => cluster.router.set_loss_percent(random(30)),
            3 => cluster
                .router
                .set_delay(Duration::ZERO, Duration::from_millis(random(5))),
            4 => {
                // Stop a node and start it again from its files (never two down at once).
                let id = 1 + random(3);
                if cluster.nodes.len() == 3 {
                    cluster.stop_node(id).await;
                    cluster.write_some(&mut random).await;
                    cluster.start_node(id).await;
                }
            }
            _ => {}
        }
        cluster.write_some(&mut random).await;
    }
    cluster.converge().await;
    println!("{steps} steps, {} writes acknowledged", cluster.acked.len());
    assert!(!cluster.acked.is_empty());
    cluster.assert_consistent(&format!("seed {seed}"));
}

impl Cluster {
    /// A few writes, to whoever leads now, each bounded in time.
    async fn write_some(&mut self, random: &mut impl FnMut(u64) -> u64) {
        for _ in 0..1 + random(4) {
            let leaders: Vec<u64> = self
                .nodes
                .keys()
                .copied()
                .filter(|&id| self.metrics(id).state.is_leader())
                .collect();
            if let Some(&leader) = leaders.first() {
                self.write_to(leader).await;
            } else {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
