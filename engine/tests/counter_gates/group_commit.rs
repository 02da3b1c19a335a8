//! Group commit's gates: fdatasyncs per `Synced` append as appenders grow from 1 to 8
//! to 64 on the raw log, and the event store's appends on the same write path (one
//! write per group commit, no storage call per `Buffered` append).

use super::*;

/// What one group-commit run counted.
struct GroupRun {
    appends: u64,
    group_syncs: u64,
    storage_syncs: u64,
    storage_writes: u64,
}

/// `threads` appenders each make `appends_each` `Synced` appends at once, on a backend
/// whose fdatasync takes [`SYNC_DELAY`].
fn group_commit_run(threads: usize, appends_each: usize) -> GroupRun {
    let storage = Counting::new(Arc::new(SimStorage::new()), SYNC_DELAY);
    let log = Arc::new(open_log(&storage, 4 << 20));
    let payload = payload();
    let before = (log.metrics(), storage.counts());
    let start = Barrier::new(threads);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (log, payload, start) = (&log, &payload, &start);
            scope.spawn(move || {
                start.wait();
                for _ in 0..appends_each {
                    log.append(payload, Durability::Synced).unwrap();
                }
            });
        }
    });
    let metrics = log.metrics();
    let calls = storage.counts().since(before.1);
    assert_eq!(
        metrics.rolls, before.0.rolls,
        "setup: the run must not roll"
    );
    let run = GroupRun {
        appends: metrics.appends - before.0.appends,
        group_syncs: metrics.group_syncs - before.0.group_syncs,
        storage_syncs: calls.syncs,
        storage_writes: calls.writes,
    };
    assert_eq!(run.appends, (threads * appends_each) as u64);
    Arc::into_inner(log).unwrap().close().unwrap();
    run
}

#[test]
fn group_commit_amortises_fdatasyncs_as_appenders_grow() {
    // Proves one fdatasync (and one write) covers more Synced appends as concurrent appenders grow from 1 to 8 to 64.
    let _serial = serial();
    let mut gates = Gates::new();
    let mut batches = Vec::new();
    for (threads, appends_each, max_syncs_per_append) in [
        (1, 200, SYNCS_PER_APPEND_1_MAX),
        (8, 200, SYNCS_PER_APPEND_8_MAX),
        (64, 50, SYNCS_PER_APPEND_64_MAX),
    ] {
        let run = group_commit_run(threads, appends_each);
        let batch = ratio(run.appends, run.group_syncs);
        println!(
            "{threads} Synced appenders: {} appends, {} group commits, {} fdatasyncs, {} writes",
            run.appends, run.group_syncs, run.storage_syncs, run.storage_writes
        );
        let appenders = if threads == 1 {
            "appender"
        } else {
            "appenders"
        };
        gates.at_most(
            &format!("fdatasyncs per Synced append, {threads} {appenders}"),
            ratio(run.storage_syncs, run.appends),
            max_syncs_per_append,
        );
        gates.at_most(
            &format!("writes per group commit, {threads} {appenders}"),
            ratio(run.storage_writes, run.group_syncs),
            WRITES_PER_GROUP_COMMIT_MAX,
        );
        batches.push(batch);
        match threads {
            8 => gates.at_least("appends per group commit, 8 appenders", batch, BATCH_8_MIN),
            64 => gates.at_least(
                "appends per group commit, 64 appenders",
                batch,
                BATCH_64_MIN,
            ),
            _ => gates.at_least("appends per group commit, 1 appender", batch, 1.0),
        }
    }
    gates.at_least(
        "growth of appends per group commit from 8 to 64 appenders",
        batches[2] / batches[1],
        BATCH_GROWTH_8_TO_64_MIN,
    );
    gates.finish();
}

/// What one run of store appends counted.
struct StoreRun {
    appends: u64,
    group_syncs: u64,
    storage_syncs: u64,
    storage_writes: u64,
}

/// `threads` appenders each make `appends_each` single-event store appends at
/// `durability` (each thread its own stream), on a backend whose fdatasync takes
/// [`SYNC_DELAY`]; buffered appends are flushed at the end.
fn store_run(threads: usize, appends_each: usize, durability: Durability) -> StoreRun {
    let storage = Counting::new(Arc::new(SimStorage::new()), SYNC_DELAY);
    let store = EventStore::open_with_storage(
        Path::new("/sim/gates-store-path"),
        Options::default().segment_bytes(8 << 20),
        Arc::new(storage.clone()),
    )
    .unwrap();
    let payload = Bytes::from(payload());
    let before = (store.metrics(), storage.counts());
    let start = Barrier::new(threads);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (store, payload, start) = (&store, &payload, &start);
            scope.spawn(move || {
                let name = Bytes::from(format!("acct-{thread}"));
                start.wait();
                for _ in 0..appends_each {
                    let event = NewEvent::new("Deposited", payload.clone());
                    store
                        .append(name.clone(), ExpectedRevision::Any, vec![event], durability)
                        .unwrap();
                }
            });
        }
    });
    // Reading the stream's last event writes what is still buffered.
    store
        .read_stream(b"acct-0", Revision(0), Direction::Backwards, 1)
        .unwrap();
    let metrics = store.metrics();
    let calls = storage.counts().since(before.1);
    assert_eq!(
        metrics.rolls, before.0.rolls,
        "setup: the run must not roll"
    );
    let run = StoreRun {
        appends: metrics.appends - before.0.appends,
        group_syncs: metrics.group_syncs - before.0.group_syncs,
        storage_syncs: calls.syncs,
        storage_writes: calls.writes,
    };
    assert_eq!(run.appends, (threads * appends_each) as u64);
    store.close().unwrap();
    run
}

#[test]
fn store_appends_take_the_log_write_path() {
    // Proves event-store appends cost what raw log appends cost in storage calls: concurrent Synced ones share one write and one fdatasync per group commit, Buffered ones stay in the writer's buffer.
    let _serial = serial();
    let mut gates = Gates::new();
    for (threads, appends_each, max_syncs_per_append) in [
        (1, 100, SYNCS_PER_APPEND_1_MAX),
        (8, 100, SYNCS_PER_APPEND_8_MAX),
        (64, 25, SYNCS_PER_APPEND_64_MAX),
    ] {
        let run = store_run(threads, appends_each, Durability::Synced);
        println!(
            "{threads} Synced store appenders: {} appends, {} group commits, {} fdatasyncs, {} writes",
            run.appends, run.group_syncs, run.storage_syncs, run.storage_writes
        );
        gates.at_most(
            &format!("fdatasyncs per Synced store append, {threads} appenders"),
            ratio(run.storage_syncs, run.appends),
            max_syncs_per_append,
        );
        gates.at_most(
            &format!("writes per group commit of store appends, {threads} appenders"),
            ratio(run.storage_writes, run.group_syncs),
            WRITES_PER_GROUP_COMMIT_MAX,
        );
    }
    let run = store_run(1, 10_000, Durability::Buffered);
    println!(
        "Buffered store appends: {} writes over {} appends",
        run.storage_writes, run.appends
    );
    gates.at_most(
        "writes per Buffered store append",
        ratio(run.storage_writes, run.appends),
        CALLS_PER_BUFFERED_APPEND_MAX,
    );
    let run = store_run(1, 1_000, Durability::Written);
    gates.at_most(
        "writes per Written store append",
        ratio(run.storage_writes, run.appends),
        CALLS_PER_WRITTEN_APPEND_MAX,
    );
    gates.finish();
}
