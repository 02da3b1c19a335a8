//! Annal: an embeddable event-store storage engine.
//!
//! The core is a segmented, memory-mapped, checksummed append log ([`Log`]) with group
//! commit: many threads append at once, each batch is atomic, positions are gapless, and
//! an append acknowledged at [`Durability::Synced`] survives power loss. Readers
//! ([`LogReader`]) get zero-copy payloads and never see past the published watermark.
//!
//! ```
//! use annal::{Durability, Log, Options, Position};
//!
//! let dir = tempfile::tempdir()?;
//! let log = Log::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
//! let appended = log.append_batch(&[b"first".as_slice(), b"second"], Durability::Synced)?;
//! assert_eq!(appended.first, Position(0));
//! let events: Vec<_> = log.read_from(Position(0))?.collect::<Result<_, _>>()?;
//! assert_eq!(&events[1].payload[..], b"second");
//! log.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod consumer;
pub mod error;
pub mod format;
/// Fuzz target bodies shared by `fuzz/` and the replay test: not a stable API.
#[doc(hidden)]
pub mod fuzzing;
pub mod io;
pub mod limits;
mod log;
mod metrics;
mod options;
mod position;
pub mod read;
pub mod stream;
mod sync;

pub use consumer::{Consumer, ConsumerInfo};
pub use error::{Error, ErrorCode, Limit, Result};
pub use log::{Appended, Log};
pub use metrics::Metrics;
pub use options::{Durability, OpenChecks, Options, RecoveryMode};
pub use position::Position;
pub use read::{
    Event, EventPredicate, Filter, LogReader, Start, Subscription, SubscriptionOptions, Visibility,
};

/// Group commit's protocol, exported only in `--cfg loom` builds for the loom models
/// (`engine/tests/loom_group_commit.rs`).
#[cfg(loom)]
#[doc(hidden)]
pub use log::group_commit::{GroupCommit as LoomGroupCommit, Syncable as LoomSyncable};
/// The wake-up protocol's tail, exported only in `--cfg loom` builds for the loom models
/// (`engine/tests/loom_wake.rs`).
#[cfg(loom)]
#[doc(hidden)]
pub use read::tail::Tail as LoomTail;
pub use stream::{
    Direction, EventId, EventStore, ExpectedRevision, NewEvent, RecordedEvent, Revision,
    StoreSubscription, StreamAppend, StreamInfo, WriteResult,
};

/// `Log` and `LogReader` cross threads: checked at compile time.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    const fn assert_send<T: Send>() {}
    assert_send_sync::<Log>();
    assert_send_sync::<EventStore>();
    assert_send::<LogReader>();
    assert_send::<Subscription>();
};
