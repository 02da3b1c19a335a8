//! The transactional outbox: the service's events are its outbox. The order service
//! appends `OrderPlaced` (with an event id) and nothing else — no second table to keep
//! in step. A relay, a durable store consumer, publishes each event to a message broker
//! and then commits its checkpoint. A crash between publishing and committing publishes
//! again after the restart (at-least-once), and the broker drops the duplicate by event
//! id, so every event reaches the subscribers of the broker exactly once.
//!
//! `cargo run -p annal --example outbox` (runs in a temporary directory and exits
//! non-zero if a message is lost or delivered twice).

#![allow(clippy::print_stdout)]

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use annal::{
    Durability, EventId, EventStore, ExpectedRevision, NewEvent, Options, Start, StoreFilter,
    StoreSubscriptionOptions,
};

type Error = Box<dyn std::error::Error>;

const RELAY: &str = "outbox-relay";

/// A message broker that drops messages whose id it has seen (its deduplication window).
#[derive(Debug, Default)]
struct Broker {
    seen: HashSet<EventId>,
    delivered: Vec<String>,
    duplicates: usize,
}

impl Broker {
    fn publish(&mut self, id: EventId, body: &str) {
        if self.seen.insert(id) {
            self.delivered.push(body.to_owned());
        } else {
            self.duplicates += 1;
        }
    }
}

fn order_id(order: u32) -> EventId {
    let mut id = *b"order-placed-\0\0\0";
    id[13..].copy_from_slice(&order.to_le_bytes()[..3]);
    id
}

fn place_order(store: &EventStore, order: u32) -> Result<(), Error> {
    let event = NewEvent::new("OrderPlaced", format!("order {order}")).with_id(order_id(order));
    let stream = format!("order-{order}");
    store.append(
        stream,
        ExpectedRevision::NoStream,
        vec![event],
        Durability::Synced,
    )?;
    Ok(())
}

/// Publishes what the relay has not committed yet; commits unless `crash_before_commit`
/// (the process dies after publishing). Returns how many events it published.
fn relay(
    store: &EventStore,
    broker: &mut Broker,
    crash_before_commit: bool,
) -> Result<usize, Error> {
    let relay = match store.consumer(RELAY) {
        Ok(relay) => relay,
        Err(_) => store.create_consumer(RELAY, Start::Beginning)?,
    };
    let orders = StoreSubscriptionOptions::default().filter(StoreFilter::category("order"));
    let mut subscription = relay.subscribe_with(orders)?;
    let mut published = 0;
    for event in subscription.iter_timeout(Duration::from_millis(20)) {
        let event = event?;
        let id = event.id.ok_or("an outbox event without an id")?;
        broker.publish(id, std::str::from_utf8(&event.data)?);
        published += 1;
    }
    if !crash_before_commit {
        relay.commit(subscription.position())?;
    }
    Ok(published)
}

/// The whole example in `dir`; an error if a message is lost or delivered twice.
pub fn run(dir: &Path) -> Result<(), Error> {
    let options = Options::default().segment_bytes(1 << 20);
    let mut broker = Broker::default();

    let store = EventStore::open(dir, options.clone())?;
    place_order(&store, 1)?;
    place_order(&store, 2)?;
    relay(&store, &mut broker, false)?;
    place_order(&store, 3)?;
    // The relay publishes order 3, then the process dies before the commit.
    relay(&store, &mut broker, true)?;
    drop(store);

    let store = EventStore::open(dir, options)?;
    place_order(&store, 4)?;
    // Redelivers order 3 (the broker drops it) and delivers order 4.
    let after_restart = relay(&store, &mut broker, false)?;
    let idle = relay(&store, &mut broker, false)?;
    store.close()?;

    let want: Vec<String> = (1..=4).map(|n| format!("order {n}")).collect();
    if broker.delivered != want || after_restart != 2 || broker.duplicates != 1 || idle != 0 {
        return Err(format!(
            "outbox delivered {:?}, {after_restart} after the restart, {} duplicates",
            broker.delivered, broker.duplicates
        )
        .into());
    }
    println!(
        "outbox: {} messages delivered once each, {} duplicate dropped by id",
        broker.delivered.len(),
        broker.duplicates
    );
    Ok(())
}

fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    run(dir.path())
}
