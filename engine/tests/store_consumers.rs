//! Durable consumers of the event store (`EventStore::create_consumer`, `StoreConsumer`):
//! their lifecycle and handles, subscriptions of decoded store events with the store's
//! filters, and the exactly-once step `append_and_commit` — its retries, its failed
//! expectations, and crashes at every step of it (the reaction and the checkpoint are
//! both there or both absent). The model test of reactions under crashes is in
//! `store_consumers_model.rs`.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use annal::testing::{CrashMode, SimStorage};
use annal::{
    Durability, Error, EventStore, ExpectedRevision, NewEvent, Options, Position, Revision, Start,
    Storage, StoreFilter, StoreSubscriptionOptions, StreamAppend, Visibility,
};
use support::CrashingStorage;

const DIR: &str = "/store-consumers";

fn options() -> Options {
    Options::default().segment_bytes(64 << 10)
}

fn open(storage: &SimStorage) -> EventStore {
    open_on(Arc::new(storage.clone()))
}

fn open_on(storage: Arc<dyn Storage>) -> EventStore {
    EventStore::open_with_storage(DIR, options(), storage).unwrap()
}

fn order(n: u64) -> NewEvent {
    NewEvent::new("OrderPlaced", format!("order {n}"))
}

fn place_orders(store: &EventStore, from: u64, count: u64) {
    for n in from..from + count {
        store
            .append(
                format!("order-{n}"),
                ExpectedRevision::NoStream,
                vec![order(n)],
                Durability::Synced,
            )
            .unwrap();
    }
}

/// The reaction to the order at `position`: an invoice with an id derived from it.
fn invoice_for(position: Position) -> StreamAppend {
    let mut id = [0x1eu8; 16];
    id[..8].copy_from_slice(&position.0.to_le_bytes());
    StreamAppend {
        stream: format!("invoice-{}", position.0).into(),
        expected: ExpectedRevision::NoStream,
        events: vec![NewEvent::new("InvoiceIssued", "due").with_id(id)],
    }
}

fn checkpoint(store: &EventStore, name: &str) -> Position {
    store.consumer(name).unwrap().checkpoint().unwrap()
}

fn invoices(store: &EventStore) -> u64 {
    store
        .read_category(b"invoice", Position(0), Default::default(), usize::MAX)
        .unwrap()
        .len() as u64
}

#[test]
fn store_consumers_are_created_listed_opened_and_deleted() {
    // Proves the store's consumer calls create, list, reopen and delete consumers, durably across a power loss.
    let storage = SimStorage::new();
    let store = open(&storage);
    place_orders(&store, 0, 3);
    store.create_consumer("billing", Start::Beginning).unwrap();
    store.create_consumer("shipping", Start::End).unwrap();
    let listed: Vec<_> = store
        .consumers()
        .into_iter()
        .map(|c| (c.name, c.checkpoint))
        .collect();
    assert_eq!(
        listed,
        [
            ("billing".into(), Position(0)),
            ("shipping".into(), Position(3))
        ]
    );
    assert!(matches!(
        store.create_consumer("Billing", Start::Beginning),
        Err(Error::ConsumerExists { .. })
    ));
    store.delete_consumer("shipping").unwrap();
    assert!(matches!(
        store.consumer("shipping"),
        Err(Error::UnknownConsumer { .. })
    ));
    drop(store);
    let store = open(&storage.crash(CrashMode::DropUnsynced));
    assert_eq!(store.consumers().len(), 1);
    assert_eq!(checkpoint(&store, "billing"), Position(0));
}

#[test]
fn a_store_consumer_handle_says_closed_after_the_store_closed() {
    // Proves a StoreConsumer owns its handle (Send, no borrow) and every call after close returns Closed.
    let storage = SimStorage::new();
    let store = open(&storage);
    place_orders(&store, 0, 2);
    let consumer = store.create_consumer("billing", Start::Beginning).unwrap();
    let moved = std::thread::spawn(move || {
        consumer.commit(Position(1)).unwrap();
        consumer
    })
    .join()
    .unwrap();
    store.close().unwrap();
    assert!(matches!(moved.checkpoint(), Err(Error::Closed)));
    assert!(matches!(moved.commit(Position(2)), Err(Error::Closed)));
    assert!(matches!(moved.subscribe(), Err(Error::Closed)));
    let step =
        moved.append_and_commit(&[invoice_for(Position(0))], Position(1), Durability::Synced);
    assert!(matches!(step, Err(Error::Closed)));
    let store = open(&storage);
    assert_eq!(checkpoint(&store, "billing"), Position(1));
}

#[test]
fn a_consumer_subscription_delivers_filtered_store_events_from_its_checkpoint_then_live() {
    // Proves a consumer's subscription starts at its checkpoint, delivers decoded events of its filter only, and then follows new appends.
    let storage = SimStorage::new();
    let store = open(&storage);
    place_orders(&store, 0, 4);
    store
        .append(
            "cust-1",
            ExpectedRevision::Any,
            vec![NewEvent::new("Joined", "")],
            Durability::Synced,
        )
        .unwrap();
    let consumer = store.create_consumer("billing", Start::Beginning).unwrap();
    consumer.commit(Position(2)).unwrap();
    let orders = StoreSubscriptionOptions::default()
        .visibility(Visibility::Written)
        .filter(StoreFilter::Category("order".into()));
    let mut subscription = consumer.subscribe_with(orders).unwrap();
    let mut seen = Vec::new();
    while let Some(event) = subscription.try_next().unwrap() {
        seen.push((event.stream.clone(), event.position));
    }
    assert_eq!(
        seen,
        [
            ("order-2".into(), Position(2)),
            ("order-3".into(), Position(3))
        ]
    );
    assert_eq!(
        subscription.position(),
        Position(5),
        "past the filtered-out event"
    );
    place_orders(&store, 4, 1);
    let live = subscription.next(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(
        (&live.stream[..], live.revision),
        (&b"order-4"[..], Revision(0))
    );
}

#[test]
fn append_and_commit_moves_the_checkpoint_with_the_reaction_and_a_retry_commits_nothing_twice() {
    // Proves append_and_commit appends and commits in one step, and a retry (same ids) returns the original results and changes nothing, also after the checkpoint moved on and after a reopen.
    let storage = SimStorage::new();
    let mut store = open(&storage);
    place_orders(&store, 0, 3);
    let billing = store.create_consumer("billing", Start::Beginning).unwrap();
    let first = billing
        .append_and_commit(
            &[invoice_for(Position(0))],
            Position(1),
            Durability::Written,
        )
        .unwrap();
    assert_eq!(first[0].first_position, Position(3));
    assert_eq!(billing.checkpoint().unwrap(), Position(1));
    let next = store.log_next_position();
    let again = billing
        .append_and_commit(
            &[invoice_for(Position(0))],
            Position(1),
            Durability::Written,
        )
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(store.log_next_position(), next, "a retry writes nothing");
    billing
        .append_and_commit(&[invoice_for(Position(1))], Position(2), Durability::Synced)
        .unwrap();
    // The checkpoint moved on: the retry of the first step still gets its result.
    let late = billing
        .append_and_commit(
            &[invoice_for(Position(0))],
            Position(1),
            Durability::Written,
        )
        .unwrap();
    assert_eq!(late, first);
    assert_eq!(billing.checkpoint().unwrap(), Position(2));
    // A new reaction behind the checkpoint is a regression.
    assert!(matches!(
        billing.append_and_commit(
            &[invoice_for(Position(7))],
            Position(1),
            Durability::Written
        ),
        Err(Error::CheckpointRegression { .. })
    ));
    drop(billing);
    store.close().unwrap();
    store = open(&storage);
    let billing = store.consumer("billing").unwrap();
    let after_reopen = billing
        .append_and_commit(
            &[invoice_for(Position(0))],
            Position(1),
            Durability::Written,
        )
        .unwrap();
    assert_eq!(after_reopen, first);
    assert_eq!(billing.checkpoint().unwrap(), Position(2));
    assert_eq!(invoices(&store), 2);
}

#[test]
fn a_failed_expectation_in_append_and_commit_writes_nothing_and_keeps_the_checkpoint() {
    // Proves a multi-stream append_and_commit with one failed expectation appends nothing and leaves the checkpoint where it was.
    let storage = SimStorage::new();
    let store = open(&storage);
    place_orders(&store, 0, 2);
    let billing = store.create_consumer("billing", Start::Beginning).unwrap();
    let mut wrong = invoice_for(Position(1));
    wrong.stream = "order-0".into();
    let next = store.log_next_position();
    let result = billing.append_and_commit(
        &[invoice_for(Position(0)), wrong],
        Position(2),
        Durability::Synced,
    );
    assert!(matches!(result, Err(Error::WrongExpectedRevision { .. })));
    assert_eq!(store.log_next_position(), next);
    assert_eq!(billing.checkpoint().unwrap(), Position(0));
}

#[test]
fn reactions_and_checkpoints_survive_or_vanish_together_across_power_losses() {
    // Proves after a power loss a Written step is either wholly there or wholly gone, and a Synced step is there, checkpoint and reaction alike.
    for mode in [
        CrashMode::DropUnsynced,
        CrashMode::TearUnsynced { seed: 3 },
        CrashMode::TearUnsynced { seed: 11 },
    ] {
        let storage = SimStorage::new();
        let store = open(&storage);
        place_orders(&store, 0, 6);
        let billing = store.create_consumer("billing", Start::Beginning).unwrap();
        for p in 0..6 {
            let durability = if p == 2 {
                Durability::Synced
            } else {
                Durability::Written
            };
            billing
                .append_and_commit(&[invoice_for(Position(p))], Position(p + 1), durability)
                .unwrap();
        }
        drop(billing);
        drop(store);
        let store = open(&storage.crash(mode));
        let at = checkpoint(&store, "billing");
        assert!(at >= Position(3), "{mode:?}: a synced step was lost ({at})");
        assert_eq!(invoices(&store), at.0, "{mode:?}: checkpoint {at}");
    }
}

/// Crashes `step` at every storage call, tearing unsynced sectors; checks the reopened
/// store with whether the step returned Ok. Returns how many calls it crashed.
fn crash_sweep(
    step: impl Fn(&EventStore) -> annal::Result<()>,
    check: impl Fn(&EventStore, bool, u64),
) -> u64 {
    let mut call = 0;
    loop {
        let storage = CrashingStorage::new(
            SimStorage::new(),
            CrashMode::TearUnsynced { seed: call * 5 + 1 },
        );
        let store = open_on(Arc::new(storage.clone()));
        place_orders(&store, 0, 4);
        let billing = store.create_consumer("billing", Start::Beginning).unwrap();
        billing.commit(Position(1)).unwrap();
        storage.arm(call);
        let result = step(&store);
        let crashed = storage.crashed_at().is_some();
        drop(billing);
        drop(store);
        let store = EventStore::open_with_storage(DIR, options(), Arc::new(storage.survivor()))
            .unwrap_or_else(|e| panic!("call {call}: reopening failed: {e}"));
        check(&store, result.is_ok(), call);
        if !crashed {
            return call;
        }
        call += 1;
    }
}

#[test]
fn a_crash_at_every_step_of_append_and_commit_keeps_reaction_and_checkpoint_together() {
    // Proves a power loss at any storage call of a Synced append_and_commit (file marking, record write, sync) leaves both the reaction and the checkpoint, or neither; both once it returned.
    let calls = crash_sweep(
        |store| {
            let billing = store.consumer("billing")?;
            billing.append_and_commit(
                &[invoice_for(Position(1))],
                Position(2),
                Durability::Synced,
            )?;
            Ok(())
        },
        |store, returned, call| {
            let at = checkpoint(store, "billing");
            match (at, invoices(store)) {
                (Position(1), 0) => {
                    assert!(!returned, "call {call}: an acknowledged step was lost")
                }
                (Position(2), 1) => {}
                other => panic!("call {call}: checkpoint and reaction disagree: {other:?}"),
            }
            // The retry after the crash completes the step exactly once.
            let billing = store.consumer("billing").unwrap();
            billing
                .append_and_commit(&[invoice_for(Position(1))], Position(2), Durability::Synced)
                .unwrap();
            assert_eq!(
                (checkpoint(store, "billing"), invoices(store)),
                (Position(2), 1)
            );
        },
    );
    assert!(calls >= 2, "the sweep crashed {calls} calls");
}

#[test]
fn closing_the_store_waits_for_nothing_but_consumer_calls_in_flight() {
    // Proves close() succeeds while consumer handles are alive on other threads, which then get Closed.
    let storage = SimStorage::new();
    let store = open(&storage);
    place_orders(&store, 0, 1);
    let billing = store.create_consumer("billing", Start::Beginning).unwrap();
    let worker = std::thread::spawn(move || loop {
        match billing.commit(Position(1)) {
            Ok(()) => std::thread::yield_now(),
            Err(Error::Closed) => return,
            Err(other) => panic!("unexpected: {other}"),
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    store.close().unwrap();
    worker.join().unwrap();
}

#[test]
fn a_step_whose_reaction_was_stored_without_the_checkpoint_commits_the_checkpoint() {
    // Proves append_and_commit of a reaction already stored by a plain append returns the original result, writes nothing, and still moves the checkpoint.
    let storage = SimStorage::new();
    let store = open(&storage);
    place_orders(&store, 0, 2);
    let billing = store.create_consumer("billing", Start::Beginning).unwrap();
    let reaction = invoice_for(Position(0));
    let original = store
        .append_multi(std::slice::from_ref(&reaction), Durability::Written)
        .unwrap();
    let next = store.log_next_position();
    let step = billing
        .append_and_commit(&[reaction], Position(1), Durability::Written)
        .unwrap();
    assert_eq!(step, original);
    assert_eq!(store.log_next_position(), next);
    assert_eq!(billing.checkpoint().unwrap(), Position(1));
    drop(billing);
    drop(store);
    let store = open(&storage.crash(CrashMode::DropUnsynced));
    assert_eq!(checkpoint(&store, "billing"), Position(1));
    assert_eq!(invoices(&store), 1);
}
