//! Subscriptions: readers that follow the log, catch-up then live, waiting at the tail on
//! the log's published watermark. Filters here see raw events only; the event store
//! builds its category and event-type filters on [`Filter::Predicate`].

mod subscription;

pub(crate) use subscription::resolve_start;
pub use subscription::{EventPredicate, Filter, Start, Subscription, SubscriptionOptions};
