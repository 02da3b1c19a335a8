//! The event-driven services scenario (`annal demo`, `cargo run -p annal --example
//! services`): an Order service and a Customer service on one event store, a
//! materialized view following it, and an auditor reading an order as it was.
//!
//! - The Order service's clients append `OrderCreated` to `order-<n>` (expected
//!   revision: no stream; the event id makes a retry harmless), at most
//!   [`Config::in_flight_max`] orders waiting for their outcome at a time.
//! - The Customer service, a durable store consumer of `OrderCreated`, reserves credit:
//!   it appends `CreditReserved` or `CreditLimitExceeded` to `customer-<c>` (an `Exact`
//!   expectation guards the balance) and moves its checkpoint in the same record
//!   (`StoreConsumer::append_and_commit`), a batch of events per step.
//! - The Order service's reactor, another durable consumer, appends `OrderApproved` or
//!   `OrderRejected` the same way.
//! - A view of orders per customer follows the `order` category from position 0.
//! - Mid-run the Customer service is stopped — its step in progress dropped before its
//!   commit, as a crash would — and restarted: it resumes from its checkpoint, rebuilds
//!   its balances from its streams, and first sends its last committed step again (a
//!   client's retry), which must write nothing.
//!
//! At the end [`checks`] proves from the log that every order reached exactly one final
//! state, no reaction was applied twice, the balances respect the limit, and the view
//! equals a recomputation from the log.

mod checks;
mod customer_service;
mod order_service;
mod view;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use annal::{EventId, EventStore, Options};

/// Any error of the scenario, as text for the operator.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A customer's credit limit (amounts are 1 to 100, about 100 orders per customer: about
/// a fifth of the orders are rejected).
pub const CREDIT_LIMIT: u64 = 4_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Orders to create.
    pub orders: u64,
    /// Customers they are spread over.
    pub customers: u64,
    /// Client threads creating orders.
    pub clients: usize,
    /// Orders created but not yet approved or rejected, at most.
    pub in_flight_max: u64,
    /// Events one service step handles at most (one record, one fdatasync).
    pub step_events_max: usize,
    /// Stop and restart the Customer service when half the orders are created.
    pub restart: bool,
    /// Give up when nothing moves for this long.
    pub stall_timeout: Duration,
    /// The store's segment size.
    pub segment_bytes: u64,
}

impl Config {
    /// The defaults for `orders` orders.
    pub fn new(orders: u64) -> Config {
        Config {
            orders,
            customers: (orders / 100).max(1),
            clients: 16,
            in_flight_max: 2_000,
            step_events_max: 512,
            restart: true,
            stall_timeout: Duration::from_secs(60),
            segment_bytes: Options::default().segment_bytes,
        }
    }
}

/// How far the run is (handed to the caller's progress callback).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Orders created so far.
    pub created: u64,
    /// Orders approved or rejected so far.
    pub finished: u64,
    /// Orders in all.
    pub orders: u64,
    /// What is happening.
    pub phase: &'static str,
}

/// What happened and how fast.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Orders run.
    pub orders: u64,
    /// Approved.
    pub approved: u64,
    /// Rejected for credit.
    pub rejected: u64,
    /// Events in the store at the end.
    pub events: u64,
    /// From the first order to the last outcome.
    pub elapsed: Duration,
    /// From `OrderCreated` to the order's final event (engine timestamps), median.
    pub latency_p50: Duration,
    /// The same, 99th percentile.
    pub latency_p99: Duration,
    /// The same, largest.
    pub latency_max: Duration,
    /// Appends acknowledged.
    pub appends: u64,
    /// fdatasyncs that acknowledged them (group commits).
    pub group_syncs: u64,
    /// Steps the Customer service took before and after its restart.
    pub customer_steps: (u64, u64),
    /// The step dropped by the stop (events it would have handled), redone after.
    pub dropped_step_events: u64,
    /// Whether the retried step after the restart returned the original results.
    pub retry_wrote_nothing: bool,
    /// Customers in the view.
    pub view_customers: usize,
    /// The auditor's findings, one line each.
    pub audit: Vec<String>,
}

impl Summary {
    /// Events per second over the run.
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Appends per fdatasync.
    pub fn appends_per_sync(&self) -> f64 {
        self.appends as f64 / self.group_syncs.max(1) as f64
    }
}

/// Counters shared by the threads.
#[derive(Default)]
pub(crate) struct Shared {
    created: AtomicU64,
    finished: AtomicU64,
    /// Set to stop every service and client (an error somewhere, or the end).
    stop: AtomicBool,
    /// Set to stop the Customer service only (the restart): by the client that creates
    /// the middle order, so the service is stopped with work in hand.
    stop_customer: AtomicBool,
    /// Clients wait past the middle order until the Customer service runs again.
    restarted: AtomicBool,
}

/// The id of the event `kind` about order `n`: the same for every retry.
pub(crate) fn event_id(kind: u8, n: u64) -> EventId {
    let mut id = [kind; 16];
    id[..8].copy_from_slice(&n.to_le_bytes());
    id
}

/// The customer and amount of order `n` (a fixed pseudo-random spread).
pub(crate) fn order_terms(n: u64, customers: u64) -> (u64, u64) {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x % customers, 1 + (x >> 20) % 100)
}

/// The number in a stream name such as `order-42`.
pub(crate) fn stream_number(stream: &[u8]) -> Result<u64, Error> {
    let text = std::str::from_utf8(stream)?;
    let (_, number) = text
        .split_once('-')
        .ok_or("a stream name without a number")?;
    Ok(number.parse()?)
}

/// The two numbers of an event's data (`"<a> <b>"`).
pub(crate) fn two_numbers(data: &[u8]) -> Result<(u64, u64), Error> {
    let text = std::str::from_utf8(data)?;
    let (a, b) = text
        .split_once(' ')
        .ok_or("event data is not two numbers")?;
    Ok((a.parse()?, b.parse()?))
}

/// Runs the scenario on a new store in `dir`, calling `progress` every 10 ms.
pub fn run(
    dir: &Path,
    config: &Config,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, Error> {
    if config.orders == 0 || config.customers == 0 || config.clients == 0 {
        return Err("the demo needs at least one order, one customer and one client".into());
    }
    let options = Options::default().segment_bytes(config.segment_bytes);
    let store = Arc::new(EventStore::open(dir, options)?);
    let shared = Arc::new(Shared::default());
    shared.restarted.store(!config.restart, Ordering::Release);
    let started = Instant::now();
    let view = view::start(Arc::clone(&store), Arc::clone(&shared), config.orders)?;
    let reactor = order_service::start_reactor(&store, &shared, config)?;
    let mut customer = customer_service::start(&store, &shared, config, None)?;
    let clients = order_service::start_clients(&store, &shared, config);
    let mut restarted = None;
    let mut last_move = (Instant::now(), 0u64);
    let outcome = loop {
        thread::sleep(Duration::from_millis(10));
        let created = shared.created.load(Ordering::Acquire);
        let finished = shared.finished.load(Ordering::Acquire);
        let mut phase = if restarted.is_some() {
            "running (the customer service was restarted)"
        } else {
            "running"
        };
        if config.restart && restarted.is_none() && shared.stop_customer.load(Ordering::Acquire) {
            phase = "restarting the customer service";
            progress(&Progress {
                created,
                finished,
                orders: config.orders,
                phase,
            });
            shared.stop_customer.store(true, Ordering::Release);
            let first = customer.join()?;
            shared.stop_customer.store(false, Ordering::Release);
            restarted = Some((first.steps, first.dropped_events));
            customer = customer_service::start(&store, &shared, config, first.last_step)?;
            shared.restarted.store(true, Ordering::Release);
        }
        progress(&Progress {
            created,
            finished,
            orders: config.orders,
            phase,
        });
        if finished >= config.orders {
            break Ok(());
        }
        if shared.stop.load(Ordering::Acquire) {
            break Err("a service stopped on an error");
        }
        if created + finished != last_move.1 {
            last_move = (Instant::now(), created + finished);
        } else if last_move.0.elapsed() > config.stall_timeout {
            break Err("nothing moved for the stall timeout");
        }
    };
    let elapsed = started.elapsed();
    shared.stop.store(true, Ordering::Release);
    let mut failures = Vec::new();
    for client in clients {
        if let Err(e) = client
            .join()
            .map_err(|_| Error::from("a client panicked"))
            .and_then(|r| r)
        {
            failures.push(e.to_string());
        }
    }
    let last = customer.join();
    let reacted = reactor
        .join()
        .map_err(|_| Error::from("the reactor panicked"))
        .and_then(|r| r);
    let seen = view
        .join()
        .map_err(|_| Error::from("the view panicked"))
        .and_then(|r| r);
    outcome?;
    let last = last?;
    reacted?;
    let seen: HashMap<u64, view::CustomerOrders> = seen?;
    if let Some(failure) = failures.first() {
        return Err(failure.clone().into());
    }
    progress(&Progress {
        created: config.orders,
        finished: config.orders,
        orders: config.orders,
        phase: "checking every order, reaction and the view against the log",
    });
    let checked = checks::check(&store, config, &seen)?;
    let audit = checks::audit(&store, config.orders / 2)?;
    let metrics = store.metrics();
    let (before, dropped) = restarted.unwrap_or((last.steps, 0));
    let summary = Summary {
        orders: config.orders,
        approved: checked.approved,
        rejected: checked.rejected,
        events: store.log_next_position().0,
        elapsed,
        latency_p50: checked.latency_percentile(0.50),
        latency_p99: checked.latency_percentile(0.99),
        latency_max: checked.latency_percentile(1.0),
        appends: metrics.appends,
        group_syncs: metrics.group_syncs,
        customer_steps: if restarted.is_some() {
            (before, last.steps)
        } else {
            (last.steps, 0)
        },
        dropped_step_events: dropped,
        retry_wrote_nothing: last.retry_wrote_nothing,
        view_customers: seen.len(),
        audit,
    };
    if config.restart && !summary.retry_wrote_nothing {
        return Err("the retried step after the restart wrote again".into());
    }
    match Arc::try_unwrap(store) {
        Ok(store) => store.close()?,
        Err(_) => return Err("a service still holds the store".into()),
    }
    Ok(summary)
}
