//! Durable consumers on the simulated backend: create, open, list and delete with clear
//! errors for bad names, unknown or duplicate consumers and the consumer limit; commits
//! that survive a power loss and never point past the durable log; checkpoints
//! committed atomically with an append (both or neither after a crash) and found again
//! by the replay at open; crashes and failed writes at every step of a commit; and
//! retention that keeps checkpoints only the log held.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use annal::limits::{CONSUMERS_MAX, CONSUMER_NAME_BYTES_MAX};
use annal::testing::SEGMENT_HEADER_BYTES;
use annal::testing::{record_bytes_for, RECORD_HEADER_BYTES};
use annal::testing::{CrashMode, SimStorage};
use annal::Storage;
use annal::{ConsumerInfo, Durability, Error, Log, Options, Position, RecoveryMode, Start};
use support::CrashingStorage;

const SEGMENT_BYTES: u64 = 64 << 10;
const EVENT_BYTES: usize = 100;
/// Guards blocking calls against a hang; never a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn dir() -> &'static Path {
    Path::new("/sim/consumers")
}

fn consumer_file(name: &str) -> PathBuf {
    dir().join("consumers").join(format!("{name}.consumer"))
}

fn options() -> Options {
    Options::default().segment_bytes(SEGMENT_BYTES)
}

fn open(storage: &SimStorage) -> Log {
    open_on(Arc::new(storage.clone()))
}

fn open_on(storage: Arc<dyn Storage>) -> Log {
    Log::open_with_storage(dir(), options(), storage).unwrap()
}

fn event(n: u64) -> Vec<u8> {
    let mut bytes = n.to_le_bytes().to_vec();
    bytes.resize(EVENT_BYTES, (n % 251) as u8);
    bytes
}

fn append_events(log: &Log, count: u64, durability: Durability) {
    let from = log.next_position().0;
    for n in from..from + count {
        log.append(&event(n), durability).unwrap();
    }
}

fn checkpoint(log: &Log, name: &str) -> Position {
    log.consumer(name).unwrap().checkpoint().unwrap()
}

#[test]
fn consumers_are_created_listed_opened_and_deleted() {
    // Proves the consumer life cycle: create at a start, list in name order, open by
    // name, delete; a deleted consumer's handles and name report UnknownConsumer.
    let storage = SimStorage::new();
    let log = open(&storage);
    append_events(&log, 5, Durability::Synced);
    let billing = log.create_consumer("billing", Start::Beginning).unwrap();
    log.create_consumer("audit", Start::End).unwrap();
    log.create_consumer("mid", Position(2)).unwrap();
    assert_eq!(billing.name(), "billing");
    let info = |name: &str, at: u64| ConsumerInfo {
        name: name.into(),
        checkpoint: Position(at),
    };
    assert_eq!(
        log.consumers(),
        vec![info("audit", 5), info("billing", 0), info("mid", 2)]
    );
    assert_eq!(checkpoint(&log, "mid"), Position(2));
    log.delete_consumer("billing").unwrap();
    assert!(storage.file_bytes(&consumer_file("billing")).is_none());
    for result in [
        billing.checkpoint().map(|_| ()),
        billing.commit(Position(1)),
        log.consumer("billing").map(|_| ()),
        log.delete_consumer("billing"),
    ] {
        match result {
            Err(Error::UnknownConsumer { name }) => assert_eq!(name, "billing"),
            other => panic!("expected UnknownConsumer, got {other:?}"),
        }
    }
    drop(billing);
    drop(log);
    let log = open(&storage.crash(CrashMode::DropUnsynced));
    assert_eq!(log.consumers(), vec![info("audit", 5), info("mid", 2)]);
}

#[test]
fn unknown_and_duplicate_consumers_are_clear_errors() {
    // Proves opening a consumer that does not exist and creating one that does (also
    // differing only in case) are refused with errors naming it.
    let log = open(&SimStorage::new());
    match log.consumer("nobody") {
        Err(e @ Error::UnknownConsumer { .. }) => {
            assert_eq!(e.to_string(), "no consumer named \"nobody\"")
        }
        other => panic!("expected UnknownConsumer, got {other:?}"),
    }
    log.create_consumer("orders", Start::Beginning).unwrap();
    for name in ["orders", "Orders"] {
        match log.create_consumer(name, Start::Beginning) {
            Err(Error::ConsumerExists { name: reported }) => assert_eq!(reported, name),
            other => panic!("expected ConsumerExists, got {other:?}"),
        }
    }
    assert!(matches!(
        log.consumer("ORDERS"),
        Err(Error::UnknownConsumer { .. })
    ));
    assert!(matches!(
        log.create_consumer("later", Position(1)),
        Err(Error::PositionOutOfRange { .. })
    ));
}

#[test]
fn invalid_consumer_names_are_refused() {
    // Proves empty, too long, dot-first and non-portable names are refused with a reason,
    // and the longest allowed name works.
    let log = open(&SimStorage::new());
    let too_long = "x".repeat(CONSUMER_NAME_BYTES_MAX + 1);
    for name in [
        "",
        too_long.as_str(),
        ".hidden",
        "a/b",
        "a b",
        "naïve",
        "a\0b",
    ] {
        match log.create_consumer(name, Start::Beginning) {
            Err(Error::InvalidConsumerName {
                name: reported,
                reason,
            }) => {
                assert_eq!(reported, name);
                assert!(!reason.is_empty());
            }
            other => panic!("expected InvalidConsumerName for {name:?}, got {other:?}"),
        }
        assert!(matches!(
            log.consumer(name),
            Err(Error::InvalidConsumerName { .. })
        ));
    }
    let longest = "Az09-_.".repeat(10)[..CONSUMER_NAME_BYTES_MAX].to_string();
    log.create_consumer(&longest, Start::Beginning).unwrap();
    assert_eq!(checkpoint(&log, &longest), Position(0));
}

#[test]
fn the_consumer_limit_is_enforced() {
    // Proves the CONSUMERS_MAX-plus-first consumer is refused with the limit, and
    // deleting one makes room.
    let log = open(&SimStorage::new());
    for k in 0..CONSUMERS_MAX {
        log.create_consumer(&format!("c{k}"), Start::Beginning)
            .unwrap();
    }
    match log.create_consumer("one-more", Start::Beginning) {
        Err(Error::TooManyConsumers { max }) => assert_eq!(max, CONSUMERS_MAX),
        other => panic!("expected TooManyConsumers, got {other:?}"),
    }
    log.delete_consumer("c7").unwrap();
    log.create_consumer("one-more", Start::Beginning).unwrap();
}

#[test]
fn a_commit_survives_a_power_loss_and_the_consumer_resumes_after_it() {
    // Proves a committed checkpoint survives a power loss and a subscription from the
    // consumer starts right after it.
    let storage = SimStorage::new();
    let log = open(&storage);
    append_events(&log, 10, Durability::Synced);
    let consumer = log.create_consumer("projection", Start::Beginning).unwrap();
    let mut subscription = consumer.subscribe().unwrap();
    for _ in 0..6 {
        subscription.next(HANG_GUARD).unwrap().unwrap();
    }
    consumer.commit(subscription.position()).unwrap();
    drop((consumer, subscription));
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&survivor);
    let consumer = log.consumer("projection").unwrap();
    assert_eq!(consumer.checkpoint().unwrap(), Position(6));
    let mut subscription = consumer.subscribe().unwrap();
    assert_eq!(
        subscription.next(HANG_GUARD).unwrap().unwrap().position,
        Position(6)
    );
}

#[test]
fn a_checkpoint_never_moves_back_nor_past_the_end() {
    // Proves an earlier checkpoint is CheckpointRegression and one past the log's end is
    // PositionOutOfRange; the committed checkpoint is unchanged by either.
    let log = open(&SimStorage::new());
    append_events(&log, 4, Durability::Synced);
    let consumer = log.create_consumer("strict", Position(2)).unwrap();
    match consumer.commit(Position(1)) {
        Err(Error::CheckpointRegression {
            name,
            checkpoint,
            position,
        }) => assert_eq!(
            (name.as_str(), checkpoint, position),
            ("strict", Position(2), Position(1))
        ),
        other => panic!("expected CheckpointRegression, got {other:?}"),
    }
    assert!(matches!(
        consumer.commit(Position(5)),
        Err(Error::PositionOutOfRange { .. })
    ));
    assert!(matches!(
        consumer.append_and_commit(&[b"x"], Position(1), Durability::Synced),
        Err(Error::CheckpointRegression { .. })
    ));
    assert_eq!(
        log.next_position(),
        Position(4),
        "a refused commit appends nothing"
    );
    consumer.commit(Position(4)).unwrap();
    assert_eq!(consumer.checkpoint().unwrap(), Position(4));
}

#[test]
fn a_commit_over_unsynced_events_syncs_the_log_first() {
    // Proves a checkpoint never points past what a power loss leaves: committing over
    // Written events makes them durable before the checkpoint is.
    let storage = SimStorage::new();
    let log = open(&storage);
    let consumer = log.create_consumer("eager", Start::Beginning).unwrap();
    append_events(&log, 3, Durability::Written);
    consumer.commit(Position(3)).unwrap();
    drop(consumer);
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&survivor);
    assert_eq!(log.next_position(), Position(3));
    assert_eq!(checkpoint(&log, "eager"), Position(3));
}

#[test]
fn append_and_commit_is_all_or_nothing_across_a_power_loss() {
    // Proves the events and the checkpoint of append_and_commit survive a power loss
    // together (Synced) or are lost together (Written, never synced).
    for durability in [Durability::Synced, Durability::Written] {
        let storage = SimStorage::new();
        let log = open(&storage);
        append_events(&log, 5, Durability::Synced);
        let consumer = log.create_consumer("outbox", Start::Beginning).unwrap();
        consumer
            .append_and_commit(
                &[b"handled 0..3".as_slice()],
                Position(3),
                Durability::Synced,
            )
            .unwrap();
        let appended = consumer
            .append_and_commit(
                &[b"handled 3..5".as_slice(), b"and more"],
                Position(5),
                durability,
            )
            .unwrap();
        assert_eq!(appended.first, Position(6));
        assert_eq!(consumer.checkpoint().unwrap(), Position(5));
        drop(consumer);
        let survivor = storage.crash(CrashMode::DropUnsynced);
        drop(log);
        let log = open(&survivor);
        let (events, checkpoint_after) = match durability {
            Durability::Synced => (8, 5),
            _ => (6, 3),
        };
        assert_eq!(log.next_position(), Position(events), "{durability:?}");
        assert_eq!(
            checkpoint(&log, "outbox"),
            Position(checkpoint_after),
            "{durability:?}"
        );
    }
}

/// The newest slot's `replay_from` field of a consumer file (`None`: nothing to replay),
/// read straight from the file as `docs/format.md` lays it out.
fn file_replay_from(storage: &SimStorage, name: &str) -> Option<u64> {
    let bytes = storage.file_bytes(&consumer_file(name)).unwrap();
    let sequence =
        |slot: usize| u64::from_le_bytes(bytes[slot * 4096 + 32..][..8].try_into().unwrap());
    let newest = if sequence(0) > sequence(1) { 0 } else { 1 };
    let replay_from = u64::from_le_bytes(bytes[newest * 4096 + 48..][..8].try_into().unwrap());
    (replay_from != u64::MAX).then_some(replay_from)
}

#[test]
fn checkpoints_committed_with_appends_are_replayed_at_open_and_written_back() {
    // Proves opening finds the newest checkpoint a consumer committed only in the log,
    // then writes it to the consumer's file so the next open has nothing to replay.
    let storage = SimStorage::new();
    let log = open(&storage);
    append_events(&log, 20, Durability::Synced);
    let consumer = log.create_consumer("projector", Start::Beginning).unwrap();
    let idle = log.create_consumer("idle", Position(7)).unwrap();
    for through in [4u64, 9, 13] {
        consumer
            .append_and_commit(
                &[format!("projected {through}").as_bytes()],
                Position(through),
                Durability::Synced,
            )
            .unwrap();
    }
    assert_eq!(file_replay_from(&storage, "projector"), Some(20));
    assert_eq!(file_replay_from(&storage, "idle"), None);
    drop((consumer, idle));
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&survivor);
    assert_eq!(checkpoint(&log, "projector"), Position(13));
    assert_eq!(checkpoint(&log, "idle"), Position(7));
    assert_eq!(file_replay_from(&survivor, "projector"), None);
    // Written back durably: it survives another power loss right away.
    let again = survivor.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&again);
    assert_eq!(checkpoint(&log, "projector"), Position(13));
}

#[test]
fn close_writes_back_checkpoints_only_the_log_held() {
    // Proves close leaves every consumer file complete (nothing to replay at open).
    let storage = SimStorage::new();
    let log = open(&storage);
    append_events(&log, 3, Durability::Synced);
    let consumer = log.create_consumer("tidy", Start::Beginning).unwrap();
    consumer
        .append_and_commit(&[b"out"], Position(3), Durability::Written)
        .unwrap();
    drop(consumer);
    log.close().unwrap();
    assert_eq!(file_replay_from(&storage, "tidy"), None);
    let log = open(&storage.crash(CrashMode::DropUnsynced));
    assert_eq!(checkpoint(&log, "tidy"), Position(3));
    assert_eq!(log.next_position(), Position(4));
}

#[test]
fn retention_keeps_checkpoints_only_the_removed_records_held() {
    // Proves truncate_before writes back checkpoints carried by records it removes, so
    // they survive the removal and a power loss.
    let storage = SimStorage::new();
    let log = open(&storage);
    let consumer = log.create_consumer("long-lived", Start::Beginning).unwrap();
    let big = vec![7u8; 6000];
    let mut through = 0;
    while log.metrics().rolls < 4 {
        through = log.next_position().0;
        consumer
            .append_and_commit(&[big.as_slice()], Position(through), Durability::Synced)
            .unwrap();
    }
    // Plain events until the next roll: every checkpoint record is in a sealed segment.
    while log.metrics().rolls < 5 {
        log.append(&big, Durability::Synced).unwrap();
    }
    let end = log.next_position();
    assert!(log.truncate_before(end).unwrap() > Position(through));
    drop(consumer);
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&survivor);
    assert_eq!(checkpoint(&log, "long-lived"), Position(through));
}

#[test]
fn a_recreated_consumer_ignores_its_predecessors_checkpoints_in_the_log() {
    // Proves a deleted consumer's checkpoints left in the log never apply to a new
    // consumer of the same name, even when another consumer's replay covers them.
    let storage = SimStorage::new();
    let log = open(&storage);
    append_events(&log, 10, Durability::Synced);
    let other = log.create_consumer("other", Start::Beginning).unwrap();
    other
        .append_and_commit(&[b"o"], Position(1), Durability::Synced)
        .unwrap();
    let old = log.create_consumer("reborn", Start::Beginning).unwrap();
    old.append_and_commit(&[b"r"], Position(8), Durability::Synced)
        .unwrap();
    log.delete_consumer("reborn").unwrap();
    log.create_consumer("reborn", Position(2)).unwrap();
    drop((other, old));
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&survivor);
    assert_eq!(checkpoint(&log, "reborn"), Position(2));
    assert_eq!(checkpoint(&log, "other"), Position(1));
}

/// Sweeps a crash over every storage call of `operation` (after `setup`), tearing
/// unsynced sectors; `check` gets the reopened log and whether the operation returned
/// Ok before the crash. Returns how many steps it crashed.
fn crash_sweep(
    setup: impl Fn(&Log),
    operation: impl Fn(&Log) -> annal::Result<()>,
    check: impl Fn(&Log, bool, u64),
) -> u64 {
    let mut step = 0;
    loop {
        let storage = CrashingStorage::new(
            SimStorage::new(),
            CrashMode::TearUnsynced { seed: step * 7 + 1 },
        );
        let log = open_on(Arc::new(storage.clone()));
        setup(&log);
        storage.arm(step);
        let result = operation(&log);
        let crashed = storage.crashed_at().is_some();
        drop(log);
        let log = Log::open_with_storage(dir(), options(), Arc::new(storage.survivor()))
            .unwrap_or_else(|e| panic!("step {step}: reopening failed: {e}"));
        check(&log, result.is_ok(), step);
        if !crashed {
            return step;
        }
        step += 1;
    }
}

#[test]
fn a_crash_at_every_step_of_a_commit_keeps_the_old_or_the_new_checkpoint() {
    // Proves a power loss anywhere in a file commit (torn sectors included) leaves the
    // previous checkpoint or the new one, the new one once the commit returned.
    let steps = crash_sweep(
        |log| {
            append_events(log, 10, Durability::Synced);
            let consumer = log.create_consumer("c", Start::Beginning).unwrap();
            consumer.commit(Position(2)).unwrap();
            consumer.commit(Position(4)).unwrap();
        },
        |log| log.consumer("c")?.commit(Position(9)),
        |log, committed, step| {
            let at = checkpoint(log, "c");
            assert!(at == Position(4) || at == Position(9), "step {step}: {at}");
            if committed {
                assert_eq!(at, Position(9), "step {step}");
            }
        },
    );
    assert!(steps >= 2, "the sweep crashed {steps} steps");
}

#[test]
fn a_crash_at_every_step_of_append_and_commit_keeps_both_or_neither() {
    // Proves a power loss anywhere in append_and_commit (the marking file write, the
    // record write, the group commit) leaves the events and the checkpoint together.
    let steps = crash_sweep(
        |log| {
            append_events(log, 10, Durability::Synced);
            log.create_consumer("c", Start::Beginning)
                .unwrap()
                .commit(Position(3))
                .unwrap();
        },
        |log| {
            log.consumer("c")?
                .append_and_commit(
                    &[b"out-1".as_slice(), b"out-2"],
                    Position(8),
                    Durability::Synced,
                )
                .map(|_| ())
        },
        |log, committed, step| {
            let at = checkpoint(log, "c");
            let events = log.next_position();
            match (at, events) {
                (Position(3), Position(10)) => assert!(!committed, "step {step}: lost"),
                (Position(8), Position(12)) => {}
                other => panic!("step {step}: checkpoint and events disagree: {other:?}"),
            }
        },
    );
    assert!(steps >= 3, "the sweep crashed {steps} steps");
}

#[test]
fn a_crash_at_every_step_of_create_leaves_no_consumer_or_a_whole_one() {
    // Proves creating a consumer is atomic across a power loss: afterwards it is absent
    // or present at its start, never a damaged file.
    let steps = crash_sweep(
        |log| append_events(log, 4, Durability::Synced),
        |log| log.create_consumer("fresh", Position(3)).map(|_| ()),
        |log, created, step| match log.consumer("fresh") {
            Ok(consumer) => assert_eq!(consumer.checkpoint().unwrap(), Position(3)),
            Err(Error::UnknownConsumer { .. }) => assert!(!created, "step {step}: lost"),
            Err(e) => panic!("step {step}: {e}"),
        },
    );
    assert!(steps >= 4, "the sweep crashed {steps} steps");
}

#[test]
fn a_failed_commit_write_or_sync_keeps_the_previous_checkpoint() {
    // Proves a commit whose write or fsync fails reports the I/O error, leaves the
    // previous checkpoint in memory and on disk, and a later commit succeeds.
    for fail_sync in [false, true] {
        let storage = SimStorage::new();
        let log = open(&storage);
        append_events(&log, 6, Durability::Synced);
        let consumer = log.create_consumer("c", Start::Beginning).unwrap();
        consumer.commit(Position(2)).unwrap();
        if fail_sync {
            storage.fail_syncs_after(0);
        } else {
            storage.fail_writes_after(0, false);
        }
        assert!(matches!(
            consumer.commit(Position(5)),
            Err(Error::Io { .. })
        ));
        storage.clear_faults();
        assert_eq!(consumer.checkpoint().unwrap(), Position(2));
        assert!(
            !log.is_poisoned(),
            "a consumer file does not poison the log"
        );
        let survivor = storage.crash(CrashMode::DropUnsynced);
        drop(consumer);
        drop(log);
        let log = open(&survivor);
        assert_eq!(checkpoint(&log, "c"), Position(2));
        let consumer = log.consumer("c").unwrap();
        consumer.commit(Position(5)).unwrap();
        assert_eq!(consumer.checkpoint().unwrap(), Position(5));
    }
}

#[test]
fn a_consumer_file_with_both_slots_damaged_is_corrupt() {
    // Proves opening refuses a consumer file with no valid slot, naming it.
    let storage = SimStorage::new();
    let log = open(&storage);
    let consumer = log.create_consumer("broken", Start::Beginning).unwrap();
    consumer.commit(Position(0)).unwrap();
    log.append(b"e", Durability::Synced).unwrap();
    consumer.commit(Position(1)).unwrap();
    drop(consumer);
    log.close().unwrap();
    let path = consumer_file("broken");
    storage.corrupt_file(&path, 20, &[0xff]);
    storage.corrupt_file(&path, 4096 + 20, &[0xff]);
    match Log::open_with_storage(dir(), options(), Arc::new(storage.clone())) {
        Err(Error::Corrupt { path: reported, .. }) => assert_eq!(reported, path),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_consumer_file_from_another_log_is_refused() {
    // Proves a consumer file carrying another log's epoch is refused at open.
    let storage = SimStorage::new();
    let log = open(&storage);
    log.create_consumer("stray", Start::Beginning).unwrap();
    let bytes = storage.file_bytes(&consumer_file("stray")).unwrap();
    log.close().unwrap();
    let other_dir = Path::new("/sim/other-log");
    let other = Log::open_with_storage(other_dir, options(), Arc::new(storage.clone())).unwrap();
    other.create_consumer("stray", Start::Beginning).unwrap();
    other.close().unwrap();
    let path = other_dir.join("consumers").join("stray.consumer");
    storage.corrupt_file(&path, 0, &bytes);
    match Log::open_with_storage(other_dir, options(), Arc::new(storage.clone())) {
        Err(Error::Corrupt {
            path: reported,
            reason,
            ..
        }) => {
            assert_eq!(reported, path);
            assert!(reason.contains("epoch"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_checkpoint_past_a_cut_log_is_brought_back_to_its_end() {
    // Proves a checkpoint beyond the end of a log that TruncateAtDamage cut is brought
    // back to the new end, so the consumer does not skip the events appended next.
    let storage = SimStorage::new();
    let log = open(&storage);
    append_events(&log, 10, Durability::Synced);
    log.create_consumer("ahead", Start::Beginning)
        .unwrap()
        .commit(Position(10))
        .unwrap();
    log.close().unwrap();
    let record = record_bytes_for(EVENT_BYTES, 1, 0);
    let at = SEGMENT_HEADER_BYTES + 4 * record + RECORD_HEADER_BYTES + 4 + 20;
    let segment = dir().join(annal::testing::segment_file_name(0));
    let byte = storage.file_bytes(&segment).unwrap()[at];
    storage.corrupt_file(&segment, at, &[byte ^ 0x40]);
    let log = Log::open_with_storage(
        dir(),
        options().recovery(RecoveryMode::TruncateAtDamage),
        Arc::new(storage.clone()),
    )
    .unwrap();
    assert_eq!(log.next_position(), Position(4));
    assert_eq!(checkpoint(&log, "ahead"), Position(4));
    log.append(b"new", Durability::Synced).unwrap();
    let mut subscription = log.consumer("ahead").unwrap().subscribe().unwrap();
    assert_eq!(
        subscription.next(HANG_GUARD).unwrap().unwrap().position,
        Position(4)
    );
}

#[test]
fn a_consumer_handle_outliving_its_log_says_closed() {
    // Proves an owned consumer handle kept after its log is closed refuses commits (even one that would change nothing) and appends with Error::Closed, never acting on a closed log.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default().segment_bytes(1 << 20)).unwrap();
    log.append(b"one", Durability::Synced).unwrap();
    let consumer = log.create_consumer("kept", Start::Beginning).unwrap();
    consumer.commit(Position(1)).unwrap();
    log.close().unwrap();
    assert!(matches!(consumer.commit(Position(1)), Err(Error::Closed)));
    assert!(matches!(
        consumer.append_and_commit(&[b"late"], Position(1), Durability::Synced),
        Err(Error::Closed)
    ));
}
