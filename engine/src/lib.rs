//! Annal: an embeddable event-store storage engine.
//!
//! The core is a segmented, memory-mapped, checksummed append log ([`Log`]) with group
//! commit: many threads append at once, each batch is atomic, positions are gapless, and
//! an append acknowledged at [`Durability::Synced`] survives power loss. Readers
//! ([`LogReader`]) get zero-copy payloads and never see past the published watermark.
//! The event store ([`EventStore`]) keeps streams on it.
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
//!
//! The layers, each importing only those below it (`docs/design.md`, "Layers"):
//! `stream` (the event store) → `index` (its per-stream index) → `handle` (the public
//! [`Log`]) → `consumer` (durable consumers) → `read` (subscriptions) → `log` (the raw
//! log: segments, writer, group commit, recovery, watermarks, readers) → `io`, `format`
//! and the value types (`position`, `name`, `options`, `error`, `limits`).

mod consumer;
mod error;
mod format;
mod handle;
mod index;
mod io;
/// Every limit the engine enforces, as a named constant: public so callers can check
/// their input against the same numbers.
pub mod limits;
mod log;
mod metrics;
mod name;
mod options;
mod position;
mod read;
mod stream;
mod sync;

/// Fuzz target bodies shared by `fuzz/` and the replay test: only with the `fuzzing`
/// feature, not a stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

/// What tests need beyond the public API: the simulated storage backend (crashes,
/// injected faults) and the on-disk format's encoders, to craft damaged files. Only with
/// the `testing` feature; not a stable API.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing {
    pub use crate::format::record::{
        decode_header, encode_record, encode_seal, record_bytes_for, Frame, RecordHeader,
        EVENT_LENGTH_BYTES, FLAG_SEAL, RECORD_HEADER_BYTES, SEAL_RECORD_BYTES,
    };
    pub use crate::format::segment_header::{SegmentHeader, SEGMENT_HEADER_BYTES};
    pub use crate::format::{parse_segment_file_name, segment_file_name};
    pub use crate::io::{CrashMode, Rng, SimCounters, SimStorage};
}

pub use consumer::{Consumer, ConsumerInfo};
pub use error::{Error, ErrorCode, Limit, Result};
/// The on-disk format's version, written in every segment header (`docs/format.md`).
pub use format::segment_header::FORMAT_VERSION;
pub use handle::Log;
pub use index::IDEMPOTENCY_WINDOW_EVENTS;
pub use io::{DirLock, FileStorage, PendingSync, Storage, StorageFile};
pub use log::{
    Appended, CutReason, Event, LogReader, RecoveryAction, RecoveryReport, SegmentInfo,
    VerifyProblem, VerifyProblemKind, VerifyProgress, VerifyReport, VerifyStage, Visibility,
    QUARANTINE_DIR,
};
pub use metrics::Metrics;
pub use name::Name;
pub use options::{Durability, IoPath, OpenChecks, Options, RecoveryMode};
pub use position::{EventId, ExpectedRevision, Location, Position, Revision};
pub use read::{EventPredicate, Filter, Start, Subscription, SubscriptionOptions};
pub use stream::{
    CategorySummary, Direction, EventStore, IndexMemory, IndexRecovery, NewEvent, RecordedEvent,
    StoreConsumer, StoreEvents, StoreFilter, StoreSubscription, StoreSubscriptionOptions,
    StreamAppend, StreamHandle, StreamInfo, StreamSummary, Truncation, WriteResult,
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
pub use log::watermark::Tail as LoomTail;

/// `Log` and `LogReader` cross threads: checked at compile time.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    const fn assert_send<T: Send>() {}
    assert_send_sync::<Log>();
    assert_send_sync::<EventStore>();
    assert_send_sync::<Consumer>();
    assert_send_sync::<StoreConsumer>();
    assert_send::<LogReader>();
    assert_send::<Subscription>();
    assert_send::<StoreSubscription>();
};
