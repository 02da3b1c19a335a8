//! The one public error type, its stable numeric codes, and the named limits it reports.
//!
//! Every variant is something a caller can act on. `Display` is a lowercase sentence
//! with the facts; [`Error::code`] gives a number that never changes meaning, so the C
//! ABI and other bindings can map errors without parsing text.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::name::Name;
use crate::position::{ExpectedRevision, Position, Revision};

/// A result whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A named limit that an input exceeded (see [`crate::limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`crate::limits::EVENT_BYTES_MAX`].
    EventBytes,
    /// [`crate::limits::BATCH_EVENTS_MAX`].
    BatchEvents,
    /// [`crate::limits::BATCH_BYTES_MAX`], or the segment's capacity when that is smaller.
    BatchBytes,
    /// [`crate::limits::SEGMENT_BYTES_MIN`] / [`crate::limits::SEGMENT_BYTES_MAX`].
    SegmentBytes,
    /// [`crate::limits::EXTENSION_BYTES_MAX`].
    ExtensionBytes,
    /// Positions are u64: a batch cannot take positions past `u64::MAX` (only a log whose
    /// files claim positions near the end of the range gets there).
    Positions,
}

impl Limit {
    /// The limit's name as documented.
    pub fn name(self) -> &'static str {
        match self {
            Limit::EventBytes => "event bytes",
            Limit::BatchEvents => "events per batch",
            Limit::BatchBytes => "batch bytes",
            Limit::SegmentBytes => "segment bytes",
            Limit::ExtensionBytes => "record extension bytes",
            Limit::Positions => "positions left in the log",
        }
    }
}

/// Everything that can go wrong, as values a caller can match on.
///
/// ```
/// use annal::{Durability, Error, ErrorCode, Log, Options};
///
/// let dir = tempfile::tempdir()?;
/// let log = Log::open(dir.path(), Options::default())?;
/// match Log::open(dir.path(), Options::default()) {
///     Err(error @ Error::Locked { .. }) => {
///         assert_eq!(error.code(), ErrorCode::Locked); // stable, for the C ABI
///         println!("{error}"); // a sentence naming the lock file
///     }
///     other => panic!("expected Locked, got {other:?}"),
/// }
/// # drop(log);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    Io {
        /// What the engine was doing, e.g. `"fdatasync segment"`.
        op: &'static str,
        /// The file or directory involved, when there is one.
        path: Option<PathBuf>,
        /// The underlying error.
        source: io::Error,
    },
    /// The device is full. Nothing acknowledged was lost; the failed call wrote nothing
    /// that will be acknowledged, and a later call may succeed once space is freed.
    NoSpace {
        /// What the engine was doing.
        op: &'static str,
        /// The file involved.
        path: Option<PathBuf>,
    },
    /// A file holds bytes that fail their checksum or are otherwise not a valid log.
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damaged record or header within the file.
        offset: u64,
        /// What is wrong, as a short phrase.
        reason: String,
    },
    /// An earlier write or fsync failed; nothing more is acknowledged until the log is
    /// reopened (which recovers from what is on disk).
    Poisoned,
    /// Another process (or another `Log` in this one) holds the log directory's lock.
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// An input is larger than a documented limit.
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The value given.
        value: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// A batch with no events was given.
    EmptyBatch,
    /// The position is not in the log: truncated away, or not yet written.
    PositionOutOfRange {
        /// The position asked for.
        position: Position,
        /// The first position the log still holds.
        first: Position,
        /// The position the next append will get.
        next: Position,
    },
    /// An option has a value that cannot work.
    InvalidOptions {
        /// Which option and why.
        reason: String,
    },
    /// The log was closed.
    Closed,
    /// An append's expected revision did not match the stream; nothing was written.
    WrongExpectedRevision {
        /// The stream.
        stream: Name,
        /// What the append expected.
        expected: ExpectedRevision,
        /// The stream's last revision (`None`: the stream has no events).
        actual: Option<Revision>,
    },
    /// The stream was hard-deleted (tombstoned): it cannot be read or appended to.
    StreamDeleted {
        /// The stream.
        stream: Name,
    },
    /// No event was ever appended to the stream.
    StreamNotFound {
        /// The stream.
        stream: Name,
    },
    /// Some, but not all, of an append's event ids are already stored: it is neither a
    /// new append nor a retry of one. Nothing was written.
    IdempotencyConflict {
        /// The stream.
        stream: Name,
        /// What does not match.
        reason: String,
    },
    /// An argument is malformed (an empty or oversized stream name, a stream named twice
    /// in one append, …).
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
    /// No consumer of that name exists (it was never created, or it was deleted).
    UnknownConsumer {
        /// The name asked for.
        name: String,
    },
    /// A consumer of that name exists already (names are compared ignoring ASCII case).
    ConsumerExists {
        /// The name asked for.
        name: String,
    },
    /// A consumer name is empty, too long or holds a character that is not allowed.
    InvalidConsumerName {
        /// The name given (lossily decoded when it was not UTF-8).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`crate::limits::SUBSCRIPTIONS_MAX`] subscriptions of this log are live already.
    TooManySubscriptions {
        /// The limit.
        max: usize,
    },
    /// [`crate::limits::CONSUMERS_MAX`] consumers exist already.
    TooManyConsumers {
        /// The limit.
        max: usize,
    },
    /// A subscription fell behind retention: the segment holding its next position was
    /// removed by [`crate::Log::truncate_before`]. It delivered every event before that
    /// position; nothing after it was skipped.
    BehindRetention {
        /// The next position the subscription needed.
        position: Position,
        /// The first position the log now holds.
        first: Position,
    },
    /// A consumer's checkpoint can only move forward.
    CheckpointRegression {
        /// The consumer.
        name: String,
        /// Its committed checkpoint.
        checkpoint: Position,
        /// The earlier position given.
        position: Position,
    },
    /// `IoPath::IoUring` was asked for where io_uring cannot be used (an old kernel, a
    /// sandbox that refuses it, the locked-memory limit): open with `IoPath::Auto` or
    /// `IoPath::Pwrite`.
    IoUringUnavailable {
        /// Why, as the probe found it.
        reason: String,
    },
    /// The log was opened read-only (a follower: `Log::open_read_only`): it takes no
    /// append, sync, retention or consumer change.
    ReadOnly,
}

/// Stable numeric error codes, shared with the C ABI. Never renumber; only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
#[non_exhaustive]
pub enum ErrorCode {
    /// An I/O call failed.
    Io = 1,
    /// The device is full.
    NoSpace = 2,
    /// Damaged data on disk.
    Corrupt = 3,
    /// The log is poisoned after a failed write or fsync.
    Poisoned = 4,
    /// The log directory is locked by another owner.
    Locked = 5,
    /// An input exceeds a limit.
    LimitExceeded = 6,
    /// An empty batch.
    EmptyBatch = 7,
    /// A position outside the log.
    PositionOutOfRange = 8,
    /// Options that cannot work.
    InvalidOptions = 9,
    /// The log is closed.
    Closed = 10,
    /// Wrong expected revision.
    WrongExpectedRevision = 20,
    /// The stream is deleted.
    StreamDeleted = 21,
    /// The stream does not exist.
    StreamNotFound = 22,
    /// Part of an append's ids are already stored.
    IdempotencyConflict = 23,
    /// A malformed argument.
    InvalidArgument = 24,
    /// No consumer of that name.
    UnknownConsumer = 11,
    /// A consumer of that name exists already.
    ConsumerExists = 12,
    /// A malformed consumer name.
    InvalidConsumerName = 13,
    /// Too many live subscriptions.
    TooManySubscriptions = 14,
    /// Too many consumers.
    TooManyConsumers = 15,
    /// A subscription fell behind retention.
    BehindRetention = 16,
    /// A consumer checkpoint would move backward.
    CheckpointRegression = 17,
    /// io_uring was required but cannot be used here.
    IoUringUnavailable = 18,
    /// The log was opened read-only.
    ReadOnly = 19,
}

impl Error {
    /// The stable code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Io { .. } => ErrorCode::Io,
            Error::NoSpace { .. } => ErrorCode::NoSpace,
            Error::Corrupt { .. } => ErrorCode::Corrupt,
            Error::Poisoned => ErrorCode::Poisoned,
            Error::Locked { .. } => ErrorCode::Locked,
            Error::LimitExceeded { .. } => ErrorCode::LimitExceeded,
            Error::EmptyBatch => ErrorCode::EmptyBatch,
            Error::PositionOutOfRange { .. } => ErrorCode::PositionOutOfRange,
            Error::InvalidOptions { .. } => ErrorCode::InvalidOptions,
            Error::Closed => ErrorCode::Closed,
            Error::WrongExpectedRevision { .. } => ErrorCode::WrongExpectedRevision,
            Error::StreamDeleted { .. } => ErrorCode::StreamDeleted,
            Error::StreamNotFound { .. } => ErrorCode::StreamNotFound,
            Error::IdempotencyConflict { .. } => ErrorCode::IdempotencyConflict,
            Error::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Error::UnknownConsumer { .. } => ErrorCode::UnknownConsumer,
            Error::ConsumerExists { .. } => ErrorCode::ConsumerExists,
            Error::InvalidConsumerName { .. } => ErrorCode::InvalidConsumerName,
            Error::TooManySubscriptions { .. } => ErrorCode::TooManySubscriptions,
            Error::TooManyConsumers { .. } => ErrorCode::TooManyConsumers,
            Error::BehindRetention { .. } => ErrorCode::BehindRetention,
            Error::CheckpointRegression { .. } => ErrorCode::CheckpointRegression,
            Error::IoUringUnavailable { .. } => ErrorCode::IoUringUnavailable,
            Error::ReadOnly => ErrorCode::ReadOnly,
        }
    }

    /// Wraps an I/O error, turning "no space left on device" into [`Error::NoSpace`].
    pub(crate) fn io(op: &'static str, path: Option<PathBuf>, source: io::Error) -> Error {
        if source.kind() == io::ErrorKind::StorageFull
            || source.raw_os_error() == Some(libc_enospc())
        {
            Error::NoSpace { op, path }
        } else {
            Error::Io { op, path, source }
        }
    }

    pub(crate) fn corrupt(path: PathBuf, offset: u64, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            path,
            offset,
            reason: reason.into(),
        }
    }
}

/// ENOSPC on every Unix the engine supports (Linux, the BSDs, macOS).
const fn libc_enospc() -> i32 {
    28
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, path, source } => match path {
                Some(path) => write!(f, "{op} failed on {}: {source}", path.display()),
                None => write!(f, "{op} failed: {source}"),
            },
            Error::NoSpace { op, path } => match path {
                Some(path) => write!(f, "no space left on device during {op} on {}", path.display()),
                None => write!(f, "no space left on device during {op}"),
            },
            Error::Corrupt {
                path,
                offset,
                reason,
            } => write!(f, "corrupt log: {} at offset {offset}: {reason}", path.display()),
            Error::Poisoned => write!(
                f,
                "log is poisoned by an earlier failed write or fsync; reopen it to recover"
            ),
            Error::Locked { path } => write!(
                f,
                "log directory is locked by another owner (lock file {})",
                path.display()
            ),
            Error::LimitExceeded { limit, value, max } => write!(
                f,
                "{} limit exceeded: {value} is more than the maximum {max}",
                limit.name()
            ),
            Error::EmptyBatch => write!(f, "a batch must hold at least one event"),
            Error::PositionOutOfRange {
                position,
                first,
                next,
            } => write!(
                f,
                "position {position} is outside the log, which holds positions {first} up to but not including {next}"
            ),
            Error::InvalidOptions { reason } => write!(f, "invalid options: {reason}"),
            Error::Closed => write!(f, "log is closed"),
            Error::WrongExpectedRevision {
                stream,
                expected,
                actual,
            } => {
                let actual = match actual {
                    Some(revision) => format!("its revision is {revision}"),
                    None => "it has no events".to_owned(),
                };
                write!(
                    f,
                    "wrong expected revision for stream {:?}: expected {expected:?}, but {actual}",
                    stream
                )
            }
            Error::StreamDeleted { stream } => write!(
                f,
                "stream {:?} is deleted",
                stream
            ),
            Error::StreamNotFound { stream } => write!(
                f,
                "stream {:?} does not exist",
                stream
            ),
            Error::IdempotencyConflict { stream, reason } => write!(
                f,
                "idempotency conflict on stream {:?}: {reason}",
                stream
            ),
            Error::InvalidArgument { reason } => write!(f, "invalid argument: {reason}"),
            Error::UnknownConsumer { name } => write!(f, "no consumer named {name:?}"),
            Error::ConsumerExists { name } => {
                write!(f, "a consumer named {name:?} exists already")
            }
            Error::InvalidConsumerName { name, reason } => {
                write!(f, "invalid consumer name {name:?}: {reason}")
            }
            Error::TooManySubscriptions { max } => write!(
                f,
                "too many subscriptions: {max} are live, the most one log allows"
            ),
            Error::TooManyConsumers { max } => write!(
                f,
                "too many consumers: {max} exist, the most one log allows"
            ),
            Error::BehindRetention { position, first } => write!(
                f,
                "subscription fell behind retention: it needs position {position}, but the log now starts at {first}"
            ),
            Error::CheckpointRegression {
                name,
                checkpoint,
                position,
            } => write!(
                f,
                "consumer {name:?} is at position {checkpoint}; its checkpoint cannot move back to {position}"
            ),
            Error::IoUringUnavailable { reason } => write!(
                f,
                "the io_uring write path was required but io_uring cannot be used here: {reason}"
            ),
            Error::ReadOnly => write!(
                f,
                "log is open read-only (a follower of another process's writer): it cannot be changed"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
