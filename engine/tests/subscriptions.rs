//! Subscriptions to the log: catch-up then live with no gap and no duplicate, the three
//! start points, blocking and non-blocking reads, batches, filters, the subscription
//! limit, waking on append, sync, close and poisoning, ending with a stress test of
//! writers, eight subscriptions, rolls and retention at once. Retention alone
//! (`truncate_before`) is the `log` binary's `retention` module.
//!
//! No test asserts on timing: blocking calls get generous timeouts that only guard
//! against a hang.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use annal::limits::{FILTER_SKIPPED_EVENTS_PER_CALL_MAX, SUBSCRIPTIONS_MAX};
use annal::testing::SimStorage;
use annal::Storage;
use annal::{
    Durability, Error, Filter, Log, Options, Position, Start, Subscription, SubscriptionOptions,
    Visibility,
};
use support::{append_numbered, number_of, numbered};

const SEGMENT_BYTES: u64 = 64 << 10;
/// Guards blocking calls against a hang; never a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(60);
const NO_WAIT: Duration = Duration::from_millis(1);

fn dir() -> &'static Path {
    Path::new("/sim/subscriptions")
}

fn open_on(storage: Arc<dyn Storage>) -> Log {
    Log::open_with_storage(
        dir(),
        Options::default().segment_bytes(SEGMENT_BYTES),
        storage,
    )
    .unwrap()
}

fn open() -> Log {
    open_on(Arc::new(SimStorage::new()))
}

fn written() -> SubscriptionOptions {
    SubscriptionOptions::default().visibility(Visibility::Written)
}

#[test]
fn catch_up_then_live_delivers_each_event_once_in_order() {
    // Proves a subscription started on a populated log delivers the backlog and then
    // each new event exactly once, in order, across the catch-up/live switch.
    let log = Arc::new(open());
    append_numbered(&log, 0, 300, Durability::Written);
    let mut subscription = log.subscribe_with(Start::Beginning, written()).unwrap();
    let writer = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut n = 300;
            for batch in 0..400u64 {
                let len = 1 + batch % 5;
                let events: Vec<Vec<u8>> = (n..n + len).map(|k| numbered(k, 64)).collect();
                log.append_batch(&events, Durability::Written).unwrap();
                n += len;
            }
            n
        })
    };
    let mut expected = 0;
    loop {
        let event = subscription.next(HANG_GUARD).unwrap().expect("an event");
        assert_eq!(event.position, Position(expected));
        assert_eq!(number_of(&event), expected);
        expected += 1;
        if writer.is_finished() && expected == log.next_position().0 {
            break;
        }
    }
    let total = writer.join().unwrap();
    assert_eq!(expected, total);
    assert_eq!(subscription.try_next().unwrap(), None);
    assert_eq!(subscription.position(), Position(total));
}

#[test]
fn subscriptions_start_at_the_beginning_the_end_or_a_position() {
    // Proves the three start points: the first position held, the next to be written,
    // and any position in between, also one inside a batch.
    let log = open();
    let batch: Vec<Vec<u8>> = (0..5).map(|n| numbered(n, 16)).collect();
    log.append_batch(&batch, Durability::Synced).unwrap();
    let mut beginning = log.subscribe(Start::Beginning).unwrap();
    let mut end = log.subscribe(Start::End).unwrap();
    let mut inside = log.subscribe(Position(3)).unwrap();
    assert_eq!(beginning.try_next().unwrap().unwrap().position, Position(0));
    assert_eq!(inside.try_next().unwrap().unwrap().position, Position(3));
    assert_eq!(end.position(), Position(5));
    assert_eq!(end.try_next().unwrap(), None);
    append_numbered(&log, 5, 1, Durability::Synced);
    assert_eq!(end.try_next().unwrap().unwrap().position, Position(5));
}

#[test]
fn a_position_past_the_end_is_out_of_range() {
    // Proves subscribing past the next position to be written is a clear error naming
    // the log's range.
    let log = open();
    append_numbered(&log, 0, 3, Durability::Synced);
    match log.subscribe(Position(4)) {
        Err(Error::PositionOutOfRange {
            position,
            first,
            next,
        }) => assert_eq!(
            (position, first, next),
            (Position(4), Position(0), Position(3))
        ),
        other => panic!("expected PositionOutOfRange, got {other:?}"),
    }
}

#[test]
fn the_default_subscription_sees_only_synced_events() {
    // Proves a default subscription delivers an event only once it is durable, and a
    // Written one as soon as it is published.
    let log = open();
    let mut synced = log.subscribe(Start::Beginning).unwrap();
    let mut written = log.subscribe_with(Start::Beginning, written()).unwrap();
    assert_eq!(synced.visibility(), Visibility::Synced);
    append_numbered(&log, 0, 1, Durability::Written);
    assert_eq!(written.try_next().unwrap().unwrap().position, Position(0));
    assert_eq!(synced.try_next().unwrap(), None);
    assert_eq!(synced.next(NO_WAIT).unwrap(), None);
    log.sync().unwrap();
    assert_eq!(synced.try_next().unwrap().unwrap().position, Position(0));
}

#[test]
fn buffered_appends_reach_subscriptions_once_written() {
    // Proves Buffered appends are delivered once written (flush, a later Written append or
    // a sync) and not before: subscriptions see only published records.
    let log = open();
    let mut subscription = log.subscribe_with(Start::Beginning, written()).unwrap();
    append_numbered(&log, 0, 2, Durability::Buffered);
    assert_eq!(subscription.try_next().unwrap(), None);
    log.flush().unwrap();
    assert_eq!(number_of(&subscription.try_next().unwrap().unwrap()), 0);
    assert_eq!(number_of(&subscription.try_next().unwrap().unwrap()), 1);
    append_numbered(&log, 2, 1, Durability::Buffered);
    append_numbered(&log, 3, 1, Durability::Written);
    let delivered: Vec<u64> = std::iter::from_fn(|| subscription.try_next().unwrap())
        .map(|e| number_of(&e))
        .collect();
    assert_eq!(delivered, vec![2, 3]);
}

#[test]
fn a_blocked_next_is_woken_by_an_append() {
    // Proves a subscription asleep at the tail is woken by an append from another thread.
    let log = Arc::new(open());
    let ready = Arc::new(Barrier::new(2));
    let reader = {
        let log = Arc::clone(&log);
        let ready = Arc::clone(&ready);
        std::thread::spawn(move || {
            let mut subscription = log.subscribe_with(Start::Beginning, written()).unwrap();
            ready.wait();
            subscription.next(HANG_GUARD).unwrap()
        })
    };
    ready.wait();
    append_numbered(&log, 0, 1, Durability::Written);
    let event = reader.join().unwrap().expect("woken with the event");
    assert_eq!(number_of(&event), 0);
}

#[test]
fn a_blocked_synced_next_is_woken_by_a_sync() {
    // Proves a subscription waiting for synced events is woken by the group commit that
    // makes a Written append durable.
    let log = Arc::new(open());
    append_numbered(&log, 0, 1, Durability::Written);
    let ready = Arc::new(Barrier::new(2));
    let reader = {
        let log = Arc::clone(&log);
        let ready = Arc::clone(&ready);
        std::thread::spawn(move || {
            let mut subscription = log.subscribe(Start::Beginning).unwrap();
            assert_eq!(subscription.try_next().unwrap(), None);
            ready.wait();
            subscription.next(HANG_GUARD).unwrap()
        })
    };
    ready.wait();
    log.sync().unwrap();
    assert_eq!(
        reader.join().unwrap().map(|e| e.position),
        Some(Position(0))
    );
}

#[test]
fn batches_take_what_is_published() {
    // Proves batch reads return up to their maximum of what is published, and nothing
    // (after the timeout) when caught up.
    let log = open();
    append_numbered(&log, 0, 10, Durability::Synced);
    let mut subscription = log.subscribe(Start::Beginning).unwrap();
    let mut out = Vec::new();
    assert_eq!(subscription.next_batch(4, &mut out, HANG_GUARD).unwrap(), 4);
    assert_eq!(subscription.try_next_batch(100, &mut out).unwrap(), 6);
    assert_eq!(subscription.next_batch(4, &mut out, NO_WAIT).unwrap(), 0);
    assert_eq!(subscription.next_batch(0, &mut out, HANG_GUARD).unwrap(), 0);
    let positions: Vec<u64> = out.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, (0..10).collect::<Vec<_>>());
}

#[test]
fn a_filter_skips_events_and_its_position_still_advances() {
    // Proves a filtered subscription reports how far it scanned when nothing matched,
    // then delivers the next matching event.
    let log = open();
    let odd = Filter::predicate(|event| number_of(event) % 2 == 1);
    let mut subscription = log
        .subscribe_with(Start::Beginning, SubscriptionOptions::default().filter(odd))
        .unwrap();
    log.append(&numbered(0, 16), Durability::Synced).unwrap();
    assert_eq!(subscription.try_next().unwrap(), None);
    assert_eq!(subscription.position(), Position(1));
    assert_eq!(subscription.next(NO_WAIT).unwrap(), None);
    append_numbered(&log, 1, 4, Durability::Synced);
    let delivered: Vec<u64> = std::iter::from_fn(|| subscription.try_next().unwrap())
        .map(|e| number_of(&e))
        .collect();
    assert_eq!(delivered, vec![1, 3]);
    assert_eq!(subscription.position(), Position(5));
}

#[test]
fn a_filter_call_is_bounded_when_nothing_matches() {
    // Proves one try_next skips at most FILTER_SKIPPED_EVENTS_PER_CALL_MAX rejected
    // events, reporting how far it got, and the next calls go on from there.
    let log = open();
    let skipped = FILTER_SKIPPED_EVENTS_PER_CALL_MAX as u64;
    let events: Vec<Vec<u8>> = (0..skipped + 10).map(|n| numbered(n, 8)).collect();
    log.append_batch(&events, Durability::Synced).unwrap();
    let last = skipped + 9;
    let only_last = Filter::predicate(move |event| number_of(event) == last);
    let mut subscription = log
        .subscribe_with(
            Start::Beginning,
            SubscriptionOptions::default().filter(only_last),
        )
        .unwrap();
    assert_eq!(subscription.try_next().unwrap(), None);
    assert_eq!(subscription.position(), Position(skipped));
    let event = subscription.next(HANG_GUARD).unwrap().unwrap();
    assert_eq!(number_of(&event), last);
}

#[test]
fn too_many_subscriptions_are_refused_until_one_ends() {
    // Proves the subscription limit is enforced with a clear error and a dropped
    // subscription frees its place.
    let log = open();
    let mut live: Vec<Subscription> = (0..SUBSCRIPTIONS_MAX)
        .map(|_| log.subscribe(Start::End).unwrap())
        .collect();
    match log.subscribe(Start::End) {
        Err(Error::TooManySubscriptions { max }) => assert_eq!(max, SUBSCRIPTIONS_MAX),
        other => panic!("expected TooManySubscriptions, got {other:?}"),
    }
    assert!(matches!(
        log.subscribe(Position(99)),
        Err(Error::PositionOutOfRange { .. })
    ));
    live.pop();
    live.push(log.subscribe(Start::End).unwrap());
    assert_eq!(live.len(), SUBSCRIPTIONS_MAX);
}

#[test]
fn payloads_are_slices_of_the_segment_mapping() {
    // Proves a subscription's payload is zero-copy: the same bytes of the same mapping
    // a plain read returns.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default().segment_bytes(SEGMENT_BYTES)).unwrap();
    append_numbered(&log, 0, 3, Durability::Synced);
    let mut subscription = log.subscribe(Position(1)).unwrap();
    let delivered = subscription.try_next().unwrap().unwrap();
    let read = log.read(Position(1)).unwrap();
    assert_eq!(delivered.payload.as_ptr(), read.payload.as_ptr());
}

#[test]
fn close_ends_a_subscription_once_it_caught_up() {
    // Proves a subscription keeps delivering after the log closes, then says Closed
    // instead of waiting for events that cannot come.
    let log = open();
    append_numbered(&log, 0, 2, Durability::Written);
    let mut subscription = log.subscribe(Start::Beginning).unwrap();
    log.close().unwrap();
    assert_eq!(
        subscription.next(HANG_GUARD).unwrap().unwrap().position,
        Position(0)
    );
    assert_eq!(
        subscription.next(HANG_GUARD).unwrap().unwrap().position,
        Position(1)
    );
    assert!(matches!(subscription.next(HANG_GUARD), Err(Error::Closed)));
}

#[test]
fn a_waiting_subscription_is_woken_by_close() {
    // Proves closing the log wakes a subscription asleep at the tail.
    let log = open();
    let mut subscription = log.subscribe(Start::End).unwrap();
    let ready = Arc::new(Barrier::new(2));
    let reader = {
        let ready = Arc::clone(&ready);
        std::thread::spawn(move || {
            ready.wait();
            subscription.next(HANG_GUARD)
        })
    };
    ready.wait();
    log.close().unwrap();
    assert!(matches!(reader.join().unwrap(), Err(Error::Closed)));
}

#[test]
fn a_poisoned_log_ends_a_caught_up_subscription() {
    // Proves a subscription reports Poisoned rather than wait after a failed fsync.
    let storage = SimStorage::new();
    let log = open_on(Arc::new(storage.clone()));
    let mut subscription = log.subscribe(Start::Beginning).unwrap();
    storage.fail_syncs_after(0);
    assert!(log.append(b"lost", Durability::Synced).is_err());
    assert!(matches!(
        subscription.next(HANG_GUARD),
        Err(Error::Poisoned)
    ));
}

/// Identity of a stress-test event: which writer, which of its events.
fn stress_payload(writer: u8, seq: u32) -> Vec<u8> {
    let len = 24 + (seq as usize * 7 + writer as usize * 13) % 300;
    let mut bytes = vec![writer];
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend((5..len).map(|i| (i as u32 * 31 + seq * 7 + u32::from(writer)) as u8));
    bytes
}

fn parse_stress(bytes: &[u8]) -> (u8, u32) {
    let writer = bytes[0];
    let seq = u32::from_le_bytes(bytes[1..5].try_into().unwrap());
    assert_eq!(
        bytes,
        &stress_payload(writer, seq)[..],
        "event ({writer}, {seq}) is damaged"
    );
    (writer, seq)
}

#[test]
fn writers_eight_subscriptions_rolls_and_retention_together() {
    // Proves every subscription, whatever its start and visibility, receives every event
    // from its start exactly once and in order while two writers append (rolling small
    // segments) and retention truncates behind the slowest subscription.
    const WRITERS: u8 = 2;
    const APPENDS_PER_WRITER: u32 = 6000;
    const SUBSCRIPTIONS: usize = 8;
    let log = Arc::new(open());
    for seq in 0..200 {
        log.append(&stress_payload(WRITERS, seq), Durability::Written)
            .unwrap();
    }
    let end = Arc::new(AtomicU64::new(u64::MAX));
    let progress: Arc<Vec<AtomicU64>> =
        Arc::new((0..SUBSCRIPTIONS).map(|_| AtomicU64::new(0)).collect());
    let mut subscriptions = Vec::new();
    for k in 0..SUBSCRIPTIONS {
        let start = match k {
            0 => Start::Beginning,
            7 => Start::End,
            _ => Start::At(Position(k as u64 * 25)),
        };
        let visibility = if k % 2 == 0 {
            Visibility::Written
        } else {
            Visibility::Synced
        };
        let subscription = log
            .subscribe_with(start, SubscriptionOptions::default().visibility(visibility))
            .unwrap();
        progress[k].store(subscription.position().0, Ordering::SeqCst);
        subscriptions.push(subscription);
    }
    let readers: Vec<_> = subscriptions
        .into_iter()
        .enumerate()
        .map(|(k, mut subscription)| {
            let end = Arc::clone(&end);
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                let start = subscription.position().0;
                let mut next = start;
                let mut last_seq: HashMap<u8, u32> = HashMap::new();
                let mut batch = Vec::new();
                while next < end.load(Ordering::SeqCst) {
                    batch.clear();
                    let max = 1 + (next % 64) as usize;
                    let got = subscription
                        .next_batch(max, &mut batch, Duration::from_millis(50))
                        .unwrap_or_else(|e| panic!("subscription {k} at {next}: {e}"));
                    assert!(got <= max);
                    for event in &batch {
                        assert_eq!(event.position, Position(next), "subscription {k}");
                        let (writer, seq) = parse_stress(&event.payload);
                        if let Some(&last) = last_seq.get(&writer) {
                            assert_eq!(seq, last + 1, "subscription {k}: writer {writer}");
                        }
                        last_seq.insert(writer, seq);
                        next += 1;
                    }
                    progress[k].store(next, Ordering::SeqCst);
                }
                (start, next)
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut seq = 0u32;
                for append in 0..APPENDS_PER_WRITER {
                    let count = 1 + append % 4;
                    let events: Vec<Vec<u8>> = (seq..seq + count)
                        .map(|s| stress_payload(writer, s))
                        .collect();
                    let durability = if append % 50 == 0 {
                        Durability::Synced
                    } else {
                        Durability::Written
                    };
                    log.append_batch(&events, durability).unwrap();
                    seq += count;
                }
            })
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let retention = {
        let log = Arc::clone(&log);
        let progress = Arc::clone(&progress);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut truncations = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let slowest = progress.iter().map(|p| p.load(Ordering::SeqCst)).min();
                let before = log.first_position();
                if log.truncate_before(Position(slowest.unwrap())).unwrap() > before {
                    truncations += 1;
                }
                std::thread::yield_now();
            }
            truncations
        })
    };
    for writer in writers {
        writer.join().unwrap();
    }
    log.sync().unwrap();
    end.store(log.next_position().0, Ordering::SeqCst);
    let total = log.next_position().0;
    for (k, reader) in readers.into_iter().enumerate() {
        let (start, next) = reader.join().unwrap();
        assert_eq!(next, total, "subscription {k} (from {start}) stopped short");
    }
    stop.store(true, Ordering::SeqCst);
    let truncations = retention.join().unwrap();
    // The run proves little unless segments rolled and retention removed some.
    assert!(
        log.metrics().rolls >= 10,
        "only {} rolls",
        log.metrics().rolls
    );
    assert!(
        truncations > 0 && log.first_position().0 > 0,
        "retention never ran"
    );
}
