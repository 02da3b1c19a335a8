//! The one public error type, its stable numeric codes, and the named limits it reports.
//!
//! Every variant is something a caller can act on. `Display` is a lowercase sentence
//! with the facts; [`Error::code`] gives a number that never changes meaning, so the C
//! ABI and other bindings can map errors without parsing text.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::Position;

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
        }
    }
}

/// Everything that can go wrong, as values a caller can match on.
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
