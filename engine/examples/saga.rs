//! A saga step with the exactly-once append and commit: the credit service reacts to
//! each `OrderPlaced` by reserving credit on the customer's stream (an `Exact`
//! expectation guards the balance) and approving the order — or rejecting it — and moves
//! its checkpoint in the same record (`StoreConsumer::append_and_commit`). A crash can
//! never leave a reservation without its checkpoint or the other way round, and a step
//! retried after a timeout (same event ids) returns the original result and writes
//! nothing.
//!
//! `cargo run -p annal --example saga` (runs in a temporary directory and exits non-zero
//! if a step is lost or done twice).

#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::Duration;

use annal::{
    Direction, Durability, EventId, EventStore, ExpectedRevision, NewEvent, Options, Position,
    RecordedEvent, Revision, Start, StoreFilter, StoreSubscriptionOptions, StreamAppend,
};

type Error = Box<dyn std::error::Error>;

const CREDIT: &str = "credit-service";
const CUSTOMER: &str = "customer-7";
const CREDIT_LIMIT: u64 = 100;

/// The id of the saga step's event `kind` for the order event at `position`: the same
/// for every retry of the step.
fn step_id(kind: u8, position: Position) -> EventId {
    let mut id = [kind; 16];
    id[..8].copy_from_slice(&position.0.to_le_bytes());
    id
}

/// The customer's reserved credit and its stream's revision.
fn reserved(store: &EventStore) -> Result<(u64, Option<Revision>), Error> {
    let Some(revision) = store.stream_revision(CUSTOMER) else {
        return Ok((0, None));
    };
    let events = store.read_stream(CUSTOMER, Revision::ZERO, Direction::Forwards, usize::MAX)?;
    let total = events
        .iter()
        .map(|e| std::str::from_utf8(&e.data).map(|d| d.parse::<u64>().unwrap_or(0)))
        .sum::<Result<u64, _>>()?;
    Ok((total, Some(revision)))
}

/// The saga step for one order event: what to append, atomically with the checkpoint.
fn decide(store: &EventStore, order: &RecordedEvent) -> Result<Vec<StreamAppend>, Error> {
    let amount: u64 = std::str::from_utf8(&order.data)?.parse()?;
    let (total, revision) = reserved(store)?;
    let expected = revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
    let order_stream = order.stream.clone();
    if total + amount <= CREDIT_LIMIT {
        let reserve =
            NewEvent::new("CreditReserved", amount.to_string()).with_id(step_id(1, order.position));
        let approve = NewEvent::new("OrderApproved", "").with_id(step_id(2, order.position));
        Ok(vec![
            StreamAppend::new(CUSTOMER, expected, vec![reserve]),
            StreamAppend::new(
                order_stream,
                ExpectedRevision::Exact(Revision(0)),
                vec![approve],
            ),
        ])
    } else {
        let reject = NewEvent::new("OrderRejected", "credit").with_id(step_id(3, order.position));
        Ok(vec![StreamAppend::new(
            order_stream,
            ExpectedRevision::Exact(Revision(0)),
            vec![reject],
        )])
    }
}

/// Runs the credit service until it has caught up; with `retry_last`, sends its last
/// step again as a client would after a timeout. Returns the steps it took.
fn credit_service(store: &EventStore, retry_last: bool) -> Result<usize, Error> {
    let service = match store.consumer(CREDIT) {
        Ok(service) => service,
        Err(_) => store.create_consumer(CREDIT, Start::Beginning)?,
    };
    let placed = StoreSubscriptionOptions::default().filter(StoreFilter::event_type("OrderPlaced"));
    let mut subscription = service.subscribe_with(placed)?;
    let mut steps = 0;
    let mut last = None;
    let mut orders = subscription.iter_timeout(Duration::from_millis(20));
    while let Some(order) = orders.next() {
        let order = order?;
        let step = decide(store, &order)?;
        let checkpoint = orders.position();
        let results = service.append_and_commit(&step, checkpoint, Durability::Synced)?;
        last = Some((step, checkpoint, results));
        steps += 1;
    }
    if let (true, Some((step, checkpoint, results))) = (retry_last, last) {
        let next = store.log_next_position();
        let again = service.append_and_commit(&step, checkpoint, Durability::Synced)?;
        if again != results || store.log_next_position() != next {
            return Err("a retried saga step wrote again".into());
        }
    }
    Ok(steps)
}

fn place_order(store: &EventStore, order: u32, amount: u64) -> Result<(), Error> {
    let event = NewEvent::new("OrderPlaced", amount.to_string());
    let stream = format!("order-{order}");
    store.append(
        stream,
        ExpectedRevision::NoStream,
        vec![event],
        Durability::Synced,
    )?;
    Ok(())
}

fn outcome(store: &EventStore, order: u32) -> Result<String, Error> {
    let last = store.read_stream_last(format!("order-{order}"), 1)?;
    let event = last.first().ok_or("an order without events")?;
    Ok(String::from_utf8(event.event_type.to_vec())?)
}

/// The whole example in `dir`; an error if a step is lost or done twice.
pub fn run(dir: &Path) -> Result<(), Error> {
    let options = Options::default().segment_bytes(1 << 20);
    let store = EventStore::open(dir, options.clone())?;
    place_order(&store, 1, 60)?;
    place_order(&store, 2, 30)?;
    let first = credit_service(&store, true)?;
    drop(store); // a crash: nothing is closed

    let store = EventStore::open(dir, options)?;
    place_order(&store, 3, 20)?; // over the limit: 60 + 30 + 20 > 100
    place_order(&store, 4, 10)?;
    let second = credit_service(&store, true)?;
    let (total, _) = reserved(&store)?;
    let outcomes = (1..=4)
        .map(|n| outcome(&store, n))
        .collect::<Result<Vec<_>, _>>()?;
    store.close()?;

    let want = [
        "OrderApproved",
        "OrderApproved",
        "OrderRejected",
        "OrderApproved",
    ];
    if (first, second, total) != (2, 2, 100) || outcomes != want {
        return Err(
            format!("saga: steps {first} + {second}, reserved {total}, {outcomes:?}").into(),
        );
    }
    println!("saga: {outcomes:?}, {total} of {CREDIT_LIMIT} reserved, each step once");
    Ok(())
}

fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    run(dir.path())
}
