//! Reading the log: events as zero-copy slices of the segments' read-only mappings, never
//! past the watermark the writer published.

mod event;
mod located;
mod reader;
mod subscription;
pub(crate) mod tail;

pub use event::Event;
pub(crate) use located::{read_in_record, visit_located};
pub use reader::LogReader;
pub use subscription::{EventPredicate, Filter, Start, Subscription, SubscriptionOptions};

/// Which watermark a reader stops at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    /// Every published event (in the page cache; a power loss may take the newest).
    #[default]
    Written,
    /// Only events already made durable by an fdatasync.
    Synced,
}
