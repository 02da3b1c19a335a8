//! The store reactor of the kill -9 test of store consumers (`annal-crash-child
//! store-reactor`, `tests/tests/process/store_kill9.rs`): one thread places orders, the
//! consumer `billing` issues one invoice per order with `append_and_commit` (the invoice
//! and its checkpoint in one record). Shared by the child and the parent's check.

use std::sync::Arc;
use std::time::Duration;

use annal::{
    Direction, Durability, EventStore, ExpectedRevision, NewEvent, Options, Position, Start,
    StoreFilter, StoreSubscriptionOptions, StreamAppend, Visibility,
};

use crate::Rng;

/// The consumer the reactor commits with.
pub const REACTOR_CONSUMER: &str = "billing";

/// The reaction to the order at `order`: an invoice stream of its own, expected new, its
/// event id derived from the order's position (so a retry is recognised).
pub fn invoice_for(order: Position) -> StreamAppend {
    let mut id = [0x1eu8; 16];
    id[..8].copy_from_slice(&order.0.to_le_bytes());
    StreamAppend {
        stream: format!("invoice-{}", order.0).into(),
        expected: ExpectedRevision::NoStream,
        events: vec![NewEvent::new("InvoiceIssued", "due").with_id(id)],
    }
}

fn durability(rng: &mut Rng, percent_synced: u64) -> Durability {
    if rng.chance(percent_synced) {
        Durability::Synced
    } else {
        Durability::Written
    }
}

/// Runs until killed: see the module docs. After opening, retries the reaction to the
/// newest order already handled (it must write nothing), then reports `open <next>`
/// through `say` and `commit <checkpoint>` after every step.
pub fn run_reactor(
    dir: &str,
    options: Options,
    seed: u64,
    say: impl Fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    let store = Arc::new(EventStore::open(dir, options).map_err(|e| format!("open: {e}"))?);
    let billing = match store.consumer(REACTOR_CONSUMER) {
        Ok(billing) => billing,
        Err(_) => store
            .create_consumer(REACTOR_CONSUMER, Start::Beginning)
            .map_err(|e| format!("create consumer: {e}"))?,
    };
    retry_newest(&store, &billing)?;
    say(&format!("open {}", store.log_next_position()))?;
    {
        let store = Arc::clone(&store);
        let mut rng = Rng::new(seed);
        // A failure here ends the process: the parent then sees an early exit.
        std::thread::spawn(move || {
            for n in 0u64.. {
                let stream = format!("order-{seed}-{n}");
                let order = NewEvent::new("OrderPlaced", "1 EUR");
                let d = durability(&mut rng, 20);
                if let Err(e) = store.append(stream, ExpectedRevision::NoStream, vec![order], d) {
                    eprintln!("place order: {e}");
                    std::process::exit(100);
                }
                if rng.chance(10) {
                    std::thread::sleep(Duration::from_micros(rng.range(0, 500)));
                }
            }
        });
    }
    let orders = StoreSubscriptionOptions::default()
        .visibility(Visibility::Written)
        .filter(StoreFilter::Category("order".into()));
    let mut subscription = billing
        .subscribe_with(orders)
        .map_err(|e| format!("subscribe: {e}"))?;
    let mut rng = Rng::new(seed ^ 0xb111);
    loop {
        let Some(order) = subscription
            .next(Duration::from_millis(50))
            .map_err(|e| format!("read: {e}"))?
        else {
            continue;
        };
        let through = subscription.position();
        let d = durability(&mut rng, 50);
        billing
            .append_and_commit(&[invoice_for(order.position)], through, d)
            .map_err(|e| format!("append_and_commit: {e}"))?;
        say(&format!("commit {}", through.0))?;
    }
}

/// Retries the reaction to the newest order before the checkpoint: the store must
/// return the original result and write nothing.
fn retry_newest(store: &EventStore, billing: &annal::StoreConsumer) -> Result<(), String> {
    let checkpoint = billing
        .checkpoint()
        .map_err(|e| format!("checkpoint: {e}"))?;
    let Some(from) = checkpoint.0.checked_sub(1) else {
        return Ok(());
    };
    let newest = store
        .read_category(b"order", Position(from), Direction::Backwards, 1)
        .map_err(|e| format!("read orders: {e}"))?;
    let Some(order) = newest.first() else {
        return Ok(());
    };
    let next = store.log_next_position();
    billing
        .append_and_commit(
            &[invoice_for(order.position)],
            checkpoint,
            Durability::Written,
        )
        .map_err(|e| format!("retry of the reaction to {}: {e}", order.position))?;
    if store.log_next_position() != next {
        return Err(format!(
            "the retry of the reaction to {} wrote",
            order.position
        ));
    }
    Ok(())
}
