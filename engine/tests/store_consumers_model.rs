//! A model test of a store consumer's reactions: random sequences of orders placed,
//! reactions (an invoice per order, appended with the consumer's checkpoint by
//! `append_and_commit`), retries of reactions, reopens and power losses. After every
//! step the store must hold an invoice for exactly the orders before the consumer's
//! checkpoint, and a power loss must keep at least what was acknowledged as synced.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use annal::testing::{CrashMode, SimStorage};
use annal::{
    Direction, Durability, EventStore, ExpectedRevision, NewEvent, Options, Position, Start,
    StoreFilter, StoreSubscriptionOptions, StreamAppend, Visibility, WriteResult,
};
use support::Rng;

const DIR: &str = "/store-consumers-model";

fn open(storage: &SimStorage) -> EventStore {
    EventStore::open_with_storage(
        DIR,
        Options::default().segment_bytes(64 << 10),
        Arc::new(storage.clone()),
    )
    .unwrap()
}

fn invoice_for(order: Position) -> StreamAppend {
    let mut id = [0x1eu8; 16];
    id[..8].copy_from_slice(&order.0.to_le_bytes());
    StreamAppend {
        stream: format!("invoice-{}", order.0).into(),
        expected: ExpectedRevision::NoStream,
        events: vec![NewEvent::new("InvoiceIssued", "due").with_id(id)],
    }
}

fn durability(rng: &mut Rng) -> Durability {
    if rng.chance(30) {
        Durability::Synced
    } else {
        Durability::Written
    }
}

struct Run {
    storage: SimStorage,
    store: Option<EventStore>,
    orders: u64,
    /// The last reaction: its order, checkpoint and result, to retry it.
    last: Option<(Position, Position, Vec<WriteResult>)>,
    /// The checkpoint a power loss must keep at least (it was synced).
    durable_checkpoint: Position,
}

impl Run {
    fn store(&self) -> &EventStore {
        self.store.as_ref().unwrap()
    }

    fn checkpoint(&self) -> Position {
        self.store()
            .consumer("billing")
            .unwrap()
            .checkpoint()
            .unwrap()
    }

    fn place_order(&mut self, durability: Durability) {
        self.orders += 1;
        let stream = format!("order-{}", self.orders);
        let event = NewEvent::new("OrderPlaced", "1 EUR");
        self.store()
            .append(stream, ExpectedRevision::NoStream, vec![event], durability)
            .unwrap();
        if durability == Durability::Synced {
            // The sync covers every reaction before it too.
            self.durable_checkpoint = self.checkpoint();
        }
    }

    fn react(&mut self, durability: Durability) {
        let billing = self.store().consumer("billing").unwrap();
        let orders = StoreSubscriptionOptions::default()
            .visibility(Visibility::Written)
            .filter(StoreFilter::Category("order".into()));
        let mut subscription = billing.subscribe_with(orders).unwrap();
        let Some(order) = subscription.try_next().unwrap() else {
            return;
        };
        let checkpoint = subscription.position();
        let results = billing
            .append_and_commit(&[invoice_for(order.position)], checkpoint, durability)
            .unwrap();
        if durability == Durability::Synced {
            self.durable_checkpoint = checkpoint;
        }
        self.last = Some((order.position, checkpoint, results));
    }

    fn retry(&mut self) {
        let Some((order, checkpoint, results)) = self.last.clone() else {
            return;
        };
        let billing = self.store().consumer("billing").unwrap();
        let before = (
            self.store().log_next_position(),
            billing.checkpoint().unwrap(),
        );
        match billing.append_and_commit(&[invoice_for(order)], checkpoint, Durability::Written) {
            Ok(again) => assert_eq!(again, results, "a retry returns the original results"),
            Err(e) => panic!("the retry of the reaction to {order} failed: {e}"),
        }
        let after = (
            self.store().log_next_position(),
            billing.checkpoint().unwrap(),
        );
        assert_eq!(after, before, "a retry writes and commits nothing");
    }

    fn restart(&mut self, crash: Option<CrashMode>) {
        let before = self.checkpoint();
        let store = self.store.take().unwrap();
        let storage = match crash {
            Some(mode) => {
                drop(store);
                self.storage.crash(mode)
            }
            None => {
                store.close().unwrap();
                self.storage.clone()
            }
        };
        self.storage = storage;
        self.store = Some(open(&self.storage));
        let checkpoint = self.checkpoint();
        let kept = if crash.is_none() {
            before
        } else {
            self.durable_checkpoint
        };
        assert!(
            checkpoint >= kept && checkpoint <= before,
            "{crash:?}: checkpoint {checkpoint}, {kept} was durable and {before} committed"
        );
        self.durable_checkpoint = checkpoint;
        // What survived is a prefix: retrying an older reaction is not possible any more.
        self.last = self.last.take().filter(|(_, at, _)| *at <= checkpoint);
        self.orders = self
            .store()
            .read_category(b"order", Position(0), Direction::Forwards, usize::MAX)
            .unwrap()
            .len() as u64;
    }

    /// Invoices exist for exactly the orders before the checkpoint.
    fn check(&self, step: &str) {
        let checkpoint = self.checkpoint();
        let store = self.store();
        let all = |category: &[u8]| {
            store
                .read_category(category, Position(0), Direction::Forwards, usize::MAX)
                .unwrap()
        };
        let handled: Vec<String> = all(b"order")
            .iter()
            .filter(|order| order.position < checkpoint)
            .map(|order| format!("invoice-{}", order.position.0))
            .collect();
        let invoiced: Vec<String> = all(b"invoice")
            .iter()
            .map(|invoice| String::from_utf8(invoice.stream.to_vec()).unwrap())
            .collect();
        assert_eq!(invoiced, handled, "after {step}: checkpoint {checkpoint}");
    }
}

fn run(seed: u64, steps: usize) {
    let mut rng = Rng::new(seed);
    let storage = SimStorage::new();
    let store = open(&storage);
    store.create_consumer("billing", Start::Beginning).unwrap();
    let mut run = Run {
        storage,
        store: Some(store),
        orders: 0,
        last: None,
        durable_checkpoint: Position(0),
    };
    for _ in 0..steps {
        let step = match rng.below(20) {
            0..=6 => {
                let d = durability(&mut rng);
                run.place_order(d);
                "order"
            }
            7..=13 => {
                let d = durability(&mut rng);
                run.react(d);
                "reaction"
            }
            14..=16 => {
                run.retry();
                "retry"
            }
            17 => {
                run.restart(None);
                "reopen"
            }
            18 => {
                run.restart(Some(CrashMode::DropUnsynced));
                "power loss"
            }
            _ => {
                let seed = rng.next_u64();
                run.restart(Some(CrashMode::TearUnsynced { seed }));
                "torn power loss"
            }
        };
        run.check(step);
    }
    run.store.take().unwrap().close().unwrap();
}

#[test]
fn reactions_match_the_checkpoint_across_retries_reopens_and_power_losses() {
    // Proves, over random sequences, invoices exist for exactly the orders before the consumer's checkpoint, retries change nothing, and power losses keep what was synced.
    for seed in 0..24 {
        run(seed, 80);
    }
}
