//! The Order service: its clients create orders (`OrderCreated`, expected revision: no
//! stream), and its reactor — a durable store consumer of the customers' answers —
//! approves or rejects each order, committing its checkpoint with its appends.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use annal::{
    Durability, EventStore, ExpectedRevision, NewEvent, Revision, Start, StoreFilter,
    StoreSubscriptionOptions, StreamAppend,
};

use super::{event_id, order_terms, two_numbers, Config, Error, Shared};

/// The reactor's consumer name.
pub(crate) const REACTOR: &str = "order-service";

/// Starts the client threads; each creates every `clients`-th order.
pub(crate) fn start_clients(
    store: &Arc<EventStore>,
    shared: &Arc<Shared>,
    config: &Config,
) -> Vec<JoinHandle<Result<(), Error>>> {
    (0..config.clients)
        .map(|client| {
            let (store, shared, config) = (Arc::clone(store), Arc::clone(shared), config.clone());
            thread::spawn(move || {
                let result = create_orders(&store, &shared, &config, client as u64);
                if result.is_err() {
                    shared.stop.store(true, Ordering::Release);
                }
                result
            })
        })
        .collect()
}

fn create_orders(
    store: &EventStore,
    shared: &Shared,
    config: &Config,
    client: u64,
) -> Result<(), Error> {
    for n in (client..config.orders).step_by(config.clients) {
        let middle = (config.orders / 2).max(1);
        while shared.created.load(Ordering::Acquire)
            >= shared.finished.load(Ordering::Acquire) + config.in_flight_max
            || (shared.created.load(Ordering::Acquire) >= middle
                && !shared.restarted.load(Ordering::Acquire))
        {
            if shared.stop.load(Ordering::Acquire) {
                return Ok(());
            }
            thread::sleep(Duration::from_micros(200));
        }
        if shared.stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let (customer, amount) = order_terms(n, config.customers);
        let created =
            NewEvent::new("OrderCreated", format!("{customer} {amount}")).with_id(event_id(1, n));
        store.append(
            format!("order-{n}"),
            ExpectedRevision::NoStream,
            vec![created],
            Durability::Synced,
        )?;
        if shared.created.fetch_add(1, Ordering::AcqRel) + 1 == middle
            && !shared.restarted.load(Ordering::Acquire)
        {
            shared.stop_customer.store(true, Ordering::Release);
        }
    }
    Ok(())
}

/// Starts the reactor's thread.
pub(crate) fn start_reactor(
    store: &Arc<EventStore>,
    shared: &Arc<Shared>,
    config: &Config,
) -> Result<JoinHandle<Result<(), Error>>, Error> {
    let consumer = match store.consumer(REACTOR) {
        Ok(consumer) => consumer,
        Err(_) => store.create_consumer(REACTOR, Start::Beginning)?,
    };
    let answers = StoreSubscriptionOptions::default().filter(StoreFilter::category("customer"));
    let mut subscription = consumer.subscribe_with(answers)?;
    let (shared, config) = (Arc::clone(shared), config.clone());
    Ok(thread::Builder::new()
        .name("order-service".into())
        .spawn(move || {
            let result = (|| -> Result<(), Error> {
                while !shared.stop.load(Ordering::Acquire) {
                    let Some(first) = subscription.next(Duration::from_millis(20))? else {
                        continue;
                    };
                    let mut batch = vec![first];
                    while batch.len() < config.step_events_max {
                        match subscription.try_next()? {
                            Some(event) => batch.push(event),
                            None => break,
                        }
                    }
                    let mut appends = Vec::with_capacity(batch.len());
                    for answer in &batch {
                        let (n, _amount) = two_numbers(&answer.data)?;
                        let (customer, _) = order_terms(n, config.customers);
                        let (event_type, kind) = match &answer.event_type[..] {
                            b"CreditReserved" => ("OrderApproved", 4),
                            b"CreditLimitExceeded" => ("OrderRejected", 5),
                            other => {
                                let other = String::from_utf8_lossy(other);
                                return Err(format!("an unknown answer {other}").into());
                            }
                        };
                        let outcome = NewEvent::new(event_type, customer.to_string())
                            .with_id(event_id(kind, n));
                        appends.push(StreamAppend::new(
                            format!("order-{n}"),
                            ExpectedRevision::Exact(Revision(0)),
                            vec![outcome],
                        ));
                    }
                    let checkpoint = subscription.position();
                    consumer.append_and_commit(&appends, checkpoint, Durability::Synced)?;
                    shared
                        .finished
                        .fetch_add(batch.len() as u64, Ordering::AcqRel);
                }
                Ok(())
            })();
            if result.is_err() {
                shared.stop.store(true, Ordering::Release);
            }
            result
        })?)
}
