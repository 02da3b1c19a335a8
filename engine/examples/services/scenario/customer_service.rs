//! The Customer service: a durable store consumer of `OrderCreated` that reserves
//! credit, appending `CreditReserved` or `CreditLimitExceeded` to the customer's stream
//! and moving its checkpoint in the same record, a batch of orders per step.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use annal::{
    Direction, Durability, EventStore, ExpectedRevision, NewEvent, Position, RecordedEvent,
    Revision, Start, StoreConsumer, StoreFilter, StoreSubscriptionOptions, StreamAppend,
    WriteResult,
};

use super::{event_id, stream_number, two_numbers, Config, Error, Shared, CREDIT_LIMIT};

/// The consumer's name.
pub(crate) const NAME: &str = "customer-service";

/// One committed step: what it appended, its checkpoint and what the store answered.
pub(crate) struct Step {
    appends: Vec<StreamAppend>,
    checkpoint: Position,
    results: Vec<WriteResult>,
}

/// How a run of the service ended.
pub(crate) struct Finished {
    pub(crate) steps: u64,
    /// Events of the step dropped when the service was stopped (0 at the end of the run).
    pub(crate) dropped_events: u64,
    pub(crate) last_step: Option<Step>,
    /// Whether the step sent again at start (if any) returned the original results.
    pub(crate) retry_wrote_nothing: bool,
}

/// The service's thread.
pub(crate) struct Running(JoinHandle<Result<Finished, Error>>);

impl Running {
    pub(crate) fn join(self) -> Result<Finished, Error> {
        self.0
            .join()
            .map_err(|_| Error::from("the customer service panicked"))?
    }
}

/// A customer's reserved credit and its stream's revision.
#[derive(Clone, Copy)]
struct Balance {
    reserved: u64,
    revision: Option<Revision>,
}

/// Starts the service (creating its consumer on first use); with `retry`, it first
/// sends that step again, as a client would after a timeout.
pub(crate) fn start(
    store: &Arc<EventStore>,
    shared: &Arc<Shared>,
    config: &Config,
    retry: Option<Step>,
) -> Result<Running, Error> {
    let consumer = match store.consumer(NAME) {
        Ok(consumer) => consumer,
        Err(_) => store.create_consumer(NAME, Start::Beginning)?,
    };
    let (store, shared, config) = (Arc::clone(store), Arc::clone(shared), config.clone());
    let handle = thread::Builder::new()
        .name("customer-service".into())
        .spawn(move || {
            let result = serve(&store, &shared, &config, &consumer, retry);
            if result.is_err() {
                shared.stop.store(true, Ordering::Release);
            }
            result
        })?;
    Ok(Running(handle))
}

fn serve(
    store: &EventStore,
    shared: &Shared,
    config: &Config,
    consumer: &StoreConsumer,
    retry: Option<Step>,
) -> Result<Finished, Error> {
    let mut finished = Finished {
        steps: 0,
        dropped_events: 0,
        last_step: None,
        retry_wrote_nothing: true,
    };
    if let Some(step) = retry {
        let again =
            consumer.append_and_commit(&step.appends, step.checkpoint, Durability::Synced)?;
        finished.retry_wrote_nothing = again == step.results;
    }
    let created =
        StoreSubscriptionOptions::default().filter(StoreFilter::event_type("OrderCreated"));
    let mut subscription = consumer.subscribe_with(created)?;
    let mut balances: HashMap<u64, Balance> = HashMap::new();
    while !shared.stop.load(Ordering::Acquire) {
        let Some(first) = subscription.next(Duration::from_millis(20))? else {
            if shared.stop_customer.load(Ordering::Acquire) {
                break;
            }
            continue;
        };
        let mut batch = vec![first];
        while batch.len() < config.step_events_max {
            match subscription.try_next()? {
                Some(event) => batch.push(event),
                None => break,
            }
        }
        if shared.stop_customer.load(Ordering::Acquire) {
            // Stopped between reading and committing, as a crash would stop it: nothing
            // of this step is stored; the next run handles these orders again.
            finished.dropped_events = batch.len() as u64;
            break;
        }
        let appends = decide(store, &mut balances, &batch)?;
        let checkpoint = subscription.position();
        let results = consumer.append_and_commit(&appends, checkpoint, Durability::Synced)?;
        finished.steps += 1;
        finished.last_step = Some(Step {
            appends,
            checkpoint,
            results,
        });
    }
    Ok(finished)
}

/// The step for a batch of `OrderCreated`: one append per customer touched, its events
/// in order, expecting the revision the customer's stream had before the step.
fn decide(
    store: &EventStore,
    balances: &mut HashMap<u64, Balance>,
    batch: &[RecordedEvent],
) -> Result<Vec<StreamAppend>, Error> {
    let mut appends: Vec<(u64, Option<Revision>, Vec<NewEvent>)> = Vec::new();
    let mut slot_of: HashMap<u64, usize> = HashMap::new();
    for order in batch {
        let n = stream_number(&order.stream)?;
        let (customer, amount) = two_numbers(&order.data)?;
        let balance = match balances.get(&customer) {
            Some(balance) => *balance,
            None => load_balance(store, customer)?,
        };
        let slot = *slot_of.entry(customer).or_insert_with(|| {
            appends.push((customer, balance.revision, Vec::new()));
            appends.len() - 1
        });
        let data = format!("{n} {amount}");
        let (event, reserved) = if balance.reserved + amount <= CREDIT_LIMIT {
            let event = NewEvent::new("CreditReserved", data).with_id(event_id(2, n));
            (event, balance.reserved + amount)
        } else {
            let event = NewEvent::new("CreditLimitExceeded", data).with_id(event_id(3, n));
            (event, balance.reserved)
        };
        appends[slot].2.push(event);
        let revision = Some(balance.revision.map_or(Revision(0), |r| Revision(r.0 + 1)));
        balances.insert(customer, Balance { reserved, revision });
    }
    Ok(appends
        .into_iter()
        .map(|(customer, revision, events)| {
            let expected = revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
            StreamAppend::new(format!("customer-{customer}"), expected, events)
        })
        .collect())
}

/// A customer's balance from its stream (after a restart the service knows nothing).
fn load_balance(store: &EventStore, customer: u64) -> Result<Balance, Error> {
    let stream = format!("customer-{customer}");
    let Some(revision) = store.stream_revision(&stream) else {
        return Ok(Balance {
            reserved: 0,
            revision: None,
        });
    };
    let mut reserved = 0;
    for event in store.read_stream(&stream, Revision::ZERO, Direction::Forwards, usize::MAX)? {
        if event.event_type == "CreditReserved" {
            reserved += two_numbers(&event.data)?.1;
        }
    }
    Ok(Balance {
        reserved,
        revision: Some(revision),
    })
}
