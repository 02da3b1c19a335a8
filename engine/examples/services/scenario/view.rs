//! The materialized view: orders per customer (created, approved, rejected), following
//! the `order` category from position 0 — catch-up, then live — in memory.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use annal::{EventStore, RecordedEvent, Start, StoreFilter, StoreSubscriptionOptions};

use super::{two_numbers, Error, Shared};

/// One customer's orders in the view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CustomerOrders {
    pub(crate) created: u64,
    pub(crate) approved: u64,
    pub(crate) rejected: u64,
}

/// Applies one `order` event to the view: also how the checks recompute it.
pub(crate) fn apply(
    view: &mut HashMap<u64, CustomerOrders>,
    event: &RecordedEvent,
) -> Result<bool, Error> {
    let text = std::str::from_utf8(&event.data)?;
    let (customer, finished) = match &event.event_type[..] {
        b"OrderCreated" => (two_numbers(&event.data)?.0, false),
        b"OrderApproved" | b"OrderRejected" => (text.parse()?, true),
        _ => return Ok(false),
    };
    let orders = view.entry(customer).or_default();
    match &event.event_type[..] {
        b"OrderCreated" => orders.created += 1,
        b"OrderApproved" => orders.approved += 1,
        _ => orders.rejected += 1,
    }
    Ok(finished)
}

/// The view: each customer's orders.
pub(crate) type View = HashMap<u64, CustomerOrders>;

/// Starts the view's thread: it ends once it has seen `orders` outcomes (or on stop).
pub(crate) fn start(
    store: Arc<EventStore>,
    shared: Arc<Shared>,
    orders: u64,
) -> Result<JoinHandle<Result<View, Error>>, Error> {
    let options = StoreSubscriptionOptions::default().filter(StoreFilter::category("order"));
    let mut subscription = store.subscribe(Start::Beginning, options)?;
    drop(store);
    Ok(thread::Builder::new()
        .name("order-view".into())
        .spawn(move || {
            let mut view = HashMap::new();
            let mut outcomes = 0;
            while outcomes < orders && !shared.stop.load(Ordering::Acquire) {
                if let Some(event) = subscription.next(Duration::from_millis(20))? {
                    outcomes += u64::from(apply(&mut view, &event)?);
                }
            }
            // Stopped at the end: take what is already written, then stop.
            while outcomes < orders {
                let Some(event) = subscription.try_next()? else {
                    break;
                };
                outcomes += u64::from(apply(&mut view, &event)?);
            }
            Ok(view)
        })?)
}
