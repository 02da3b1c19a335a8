//! Loom models of the publication and wake-up protocol (`engine/src/read/tail.rs`): a
//! writer publishing two events and two subscriptions waiting for them, explored under
//! every interleaving loom reaches within a bounded number of preemptions.
//!
//! The writer stores each event's data (`Relaxed`, as the memcpy into the segment is
//! unordered), publishes the watermark with a `Release` store and calls
//! `Tail::publish`, exactly as `log/append.rs` does; each reader waits with
//! `Tail::wait_until` for the watermark (`Acquire`) to pass what it has seen and then
//! checks every event's data. A lost wake-up leaves a reader asleep forever, which loom
//! reports as a deadlock; reading data the watermark did not cover fails the assertion.
//!
//! A second model has the log end (close or poison: `Tail::end`) while both wait for
//! events that never come; both must wake.
//!
//! Each model has deliberately broken twins, expected to fail, so that the model is
//! known to explore the interleaving the protocol guards against: a `Relaxed` watermark
//! store, a publish that checks the sleepers flag with a load instead of one swap, a
//! wait that does not re-check after arming the flag, and an end that notifies without
//! passing through the sleep mutex.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p annal --release --test loom_wake`
//! (`.ci/run` does, in its own target directory).

#![cfg(loom)]

mod loom_twins;

use annal::LoomTail as Tail;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use loom_twins::fails_in_child;

/// Events the writer publishes, one at a time.
const EVENTS: u64 = 2;
/// Preemptions loom may insert per execution: enough for every lost-wake-up window
/// (the broken twins fail within it), small enough to keep the models to seconds.
const PREEMPTIONS_MAX: usize = 4;

/// The log as the protocol sees it: event data, the watermark and the tail.
struct Model {
    data: [AtomicU64; EVENTS as usize],
    watermark: AtomicU64,
    tail: Tail,
}

impl Model {
    fn new() -> Model {
        Model {
            data: [AtomicU64::new(0), AtomicU64::new(0)],
            watermark: AtomicU64::new(0),
            tail: Tail::new(),
        }
    }
}

/// How each side behaves: the protocol, or one of its broken twins.
#[derive(Clone, Copy)]
struct Variant {
    watermark_store: Ordering,
    publish: fn(&Tail),
    wait: fn(&Tail, &mut dyn FnMut() -> bool),
}

const SOUND: Variant = Variant {
    watermark_store: Ordering::Release,
    publish: Tail::publish,
    wait: |tail, ready| {
        tail.wait_until(ready, None);
    },
};

fn value_of(event: u64) -> u64 {
    100 + event
}

fn write(model: &Model, variant: Variant) {
    for event in 0..EVENTS {
        model.data[event as usize].store(value_of(event), Ordering::Relaxed);
        model.watermark.store(event + 1, variant.watermark_store);
        (variant.publish)(&model.tail);
    }
}

fn read(model: &Model, variant: Variant) {
    let mut seen = 0;
    while seen < EVENTS {
        (variant.wait)(&model.tail, &mut || {
            model.watermark.load(Ordering::Acquire) > seen
        });
        let published = model.watermark.load(Ordering::Acquire);
        for event in seen..published {
            assert_eq!(
                model.data[event as usize].load(Ordering::Relaxed),
                value_of(event),
                "read event {event} below the watermark before its data"
            );
        }
        seen = published;
    }
}

fn run(variant: Variant) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS_MAX);
    builder.check(move || {
        let model = Arc::new(Model::new());
        for _ in 0..2 {
            let model = Arc::clone(&model);
            // Not joined: loom runs every thread to its end (or reports it blocked)
            // anyway, and a main thread blocked in `join` would hold loom objects while
            // a deadlock report unwinds it, which aborts the process.
            thread::spawn(move || read(&model, variant));
        }
        write(&model, variant);
    });
}

#[test]
fn two_subscriptions_see_every_event_and_miss_no_wake_up() {
    // Proves the protocol: every waiting reader is woken for every publish, and sees
    // the data of every event below the watermark it loaded.
    run(SOUND);
}

#[test]
#[should_panic(expected = "before its data")]
fn broken_twin_relaxed_watermark_store_is_caught() {
    // Proves the model explores data visibility: a Relaxed watermark store lets a
    // reader see the watermark before the event's data, and loom finds it.
    run(Variant {
        watermark_store: Ordering::Relaxed,
        ..SOUND
    });
}

/// Two subscriptions wait for more events than will ever come; the log ends (closes or
/// is poisoned) with `end`, which must wake them both.
fn run_end(end: fn(&Tail)) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS_MAX);
    builder.check(move || {
        let model = Arc::new(Model::new());
        for _ in 0..2 {
            let model = Arc::clone(&model);
            thread::spawn(move || {
                let woken = model.tail.wait_until(
                    || model.watermark.load(Ordering::Acquire) > EVENTS || model.tail.has_ended(),
                    None,
                );
                assert!(woken && model.tail.has_ended());
            });
        }
        model.watermark.store(1, Ordering::Release);
        model.tail.publish();
        end(&model.tail);
    });
}

#[test]
fn ending_the_log_wakes_every_waiting_subscription() {
    // Proves closing or poisoning the log (Tail::end) wakes every subscription asleep at
    // the tail, whatever the interleaving.
    run_end(Tail::end);
}

#[test]
#[should_panic(expected = "deadlock")]
fn broken_twin_end_without_lock_is_caught() {
    // Proves the model explores the ending race: notifying without passing through the
    // sleep mutex misses a subscription between its check and its wait.
    fails_in_child("twin_end_without_lock");
}

#[test]
#[ignore = "a broken twin: run in a child process by broken_twin_end_without_lock_is_caught"]
fn twin_end_without_lock() {
    // Proves nothing alone: the model of an end that notifies without the mutex.
    run_end(Tail::end_without_lock);
}

#[test]
#[should_panic(expected = "deadlock")]
fn broken_twin_publish_without_swap_is_caught() {
    // Proves the model explores the publisher's race: checking the sleepers flag with a
    // plain load instead of one swap loses a wake-up, and loom reports the deadlock.
    fails_in_child("twin_publish_without_swap");
}

#[test]
#[should_panic(expected = "deadlock")]
fn broken_twin_wait_without_recheck_is_caught() {
    // Proves the model explores the waiter's race: sleeping without re-checking after
    // arming the flag misses a publish in between, and loom reports the deadlock.
    fails_in_child("twin_wait_without_recheck");
}

#[test]
#[ignore = "a broken twin: run in a child process by broken_twin_publish_without_swap_is_caught"]
fn twin_publish_without_swap() {
    // Proves nothing alone: the model of a publish that loads the flag instead of swapping it.
    run(Variant {
        publish: Tail::publish_without_swap,
        ..SOUND
    });
}

#[test]
#[ignore = "a broken twin: run in a child process by broken_twin_wait_without_recheck_is_caught"]
fn twin_wait_without_recheck() {
    // Proves nothing alone: the model of a wait that does not re-check after arming.
    run(Variant {
        wait: |tail, ready| {
            tail.wait_without_recheck(ready);
        },
        ..SOUND
    });
}
