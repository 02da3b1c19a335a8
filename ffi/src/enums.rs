//! The integers C passes for the engine's enums, and their decoding: an integer that
//! names no variant is `ANNAL_STATUS_INVALID_ENUM`, never a guess.

use annal::{
    Direction, Durability, ExpectedRevision, IoPath, OpenChecks, Position, RecoveryMode, Revision,
    Start, Truncation, Visibility,
};

use crate::failure::Failure;
use crate::status::ANNAL_STATUS_INVALID_ENUM;

/// Acknowledged once copied into the log's mapping: survives nothing.
pub const ANNAL_DURABILITY_BUFFERED: u32 = 0;
/// Acknowledged once in the page cache: survives a process crash.
pub const ANNAL_DURABILITY_WRITTEN: u32 = 1;
/// Acknowledged after an fdatasync: survives power loss.
pub const ANNAL_DURABILITY_SYNCED: u32 = 2;

/// Expected revision: no check (the value is ignored).
pub const ANNAL_EXPECTED_ANY: u32 = 0;
/// Expected revision: the stream has no events (the value is ignored).
pub const ANNAL_EXPECTED_NO_STREAM: u32 = 1;
/// Expected revision: the stream has at least one event (the value is ignored).
pub const ANNAL_EXPECTED_STREAM_EXISTS: u32 = 2;
/// Expected revision: the stream's last revision is exactly the value.
pub const ANNAL_EXPECTED_EXACT: u32 = 3;

/// Reads go oldest first.
pub const ANNAL_DIRECTION_FORWARDS: u32 = 0;
/// Reads go newest first.
pub const ANNAL_DIRECTION_BACKWARDS: u32 = 1;

/// A subscription starts at the first position the log holds (the position is ignored).
pub const ANNAL_START_BEGINNING: u32 = 0;
/// A subscription starts at the next position to be written (the position is ignored).
pub const ANNAL_START_END: u32 = 1;
/// A subscription starts at the given position.
pub const ANNAL_START_AT: u32 = 2;

/// Readers and subscriptions see only events made durable by an fdatasync.
pub const ANNAL_VISIBILITY_SYNCED: u32 = 0;
/// Readers and subscriptions see every written event (a power loss may take the newest).
pub const ANNAL_VISIBILITY_WRITTEN: u32 = 1;

/// Open: cut a torn tail, refuse any other damage.
pub const ANNAL_RECOVERY_STRICT: u32 = 0;
/// Open: cut the log at the first damaged record (loses data).
pub const ANNAL_RECOVERY_TRUNCATE_AT_DAMAGE: u32 = 1;

/// Open (the default): scan the tail (the last segment, and the one before it unless
/// the last proves it durable); a sealed segment's records are checked when first read,
/// and all of them by `verify`.
pub const ANNAL_OPEN_CHECKS_LAST_SEGMENT: u32 = 0;
/// Open: scan every record of every segment.
pub const ANNAL_OPEN_CHECKS_ALL_SEGMENTS: u32 = 1;

/// Store subscriptions: every event.
pub const ANNAL_FILTER_ALL: u32 = 0;
/// Store subscriptions: the events of one category (the filter value).
pub const ANNAL_FILTER_CATEGORY: u32 = 1;
/// Store subscriptions: the events of one event type (the filter value).
pub const ANNAL_FILTER_EVENT_TYPE: u32 = 2;
/// Store subscriptions: the events of the streams whose names start with the filter value.
pub const ANNAL_FILTER_STREAM_PREFIX: u32 = 3;

/// Durable writes: the measured default for this machine (io_uring where it works).
pub const ANNAL_IO_PATH_AUTO: u32 = 0;
/// Durable writes: io_uring, the write linked to its fdatasync (opening fails with
/// `ANNAL_STATUS_IO_URING_UNAVAILABLE` where the kernel refuses it).
pub const ANNAL_IO_PATH_IO_URING: u32 = 1;
/// Durable writes: `pwrite` then `fdatasync` (works everywhere).
pub const ANNAL_IO_PATH_PWRITE: u32 = 2;

/// Store retention: never past the smallest checkpoint of the store's consumers.
pub const ANNAL_TRUNCATION_BEHIND_CONSUMERS: u32 = 0;
/// Store retention: up to the position asked for, whatever the consumers' checkpoints.
pub const ANNAL_TRUNCATION_FORCED: u32 = 1;

fn invalid(what: &str, value: u32) -> Failure {
    Failure::boundary(
        ANNAL_STATUS_INVALID_ENUM,
        format!("{value} is not a valid {what}"),
    )
}

/// Decodes an `ANNAL_DURABILITY_*`.
pub fn durability(value: u32) -> Result<Durability, Failure> {
    match value {
        ANNAL_DURABILITY_BUFFERED => Ok(Durability::Buffered),
        ANNAL_DURABILITY_WRITTEN => Ok(Durability::Written),
        ANNAL_DURABILITY_SYNCED => Ok(Durability::Synced),
        _ => Err(invalid("durability", value)),
    }
}

/// Decodes an `ANNAL_EXPECTED_*` kind and its value.
pub fn expected(kind: u32, revision: u64) -> Result<ExpectedRevision, Failure> {
    match kind {
        ANNAL_EXPECTED_ANY => Ok(ExpectedRevision::Any),
        ANNAL_EXPECTED_NO_STREAM => Ok(ExpectedRevision::NoStream),
        ANNAL_EXPECTED_STREAM_EXISTS => Ok(ExpectedRevision::StreamExists),
        ANNAL_EXPECTED_EXACT => Ok(ExpectedRevision::Exact(Revision(revision))),
        _ => Err(invalid("expected revision kind", kind)),
    }
}

/// Decodes an `ANNAL_DIRECTION_*`.
pub fn direction(value: u32) -> Result<Direction, Failure> {
    match value {
        ANNAL_DIRECTION_FORWARDS => Ok(Direction::Forwards),
        ANNAL_DIRECTION_BACKWARDS => Ok(Direction::Backwards),
        _ => Err(invalid("direction", value)),
    }
}

/// Decodes an `ANNAL_START_*` kind and its position.
pub fn start(kind: u32, position: u64) -> Result<Start, Failure> {
    match kind {
        ANNAL_START_BEGINNING => Ok(Start::Beginning),
        ANNAL_START_END => Ok(Start::End),
        ANNAL_START_AT => Ok(Start::At(Position(position))),
        _ => Err(invalid("start kind", kind)),
    }
}

/// Decodes an `ANNAL_VISIBILITY_*`.
pub fn visibility(value: u32) -> Result<Visibility, Failure> {
    match value {
        ANNAL_VISIBILITY_SYNCED => Ok(Visibility::Synced),
        ANNAL_VISIBILITY_WRITTEN => Ok(Visibility::Written),
        _ => Err(invalid("visibility", value)),
    }
}

/// Decodes an `ANNAL_RECOVERY_*`.
pub fn recovery(value: u32) -> Result<RecoveryMode, Failure> {
    match value {
        ANNAL_RECOVERY_STRICT => Ok(RecoveryMode::Strict),
        ANNAL_RECOVERY_TRUNCATE_AT_DAMAGE => Ok(RecoveryMode::TruncateAtDamage),
        _ => Err(invalid("recovery mode", value)),
    }
}

/// Decodes an `ANNAL_OPEN_CHECKS_*`.
pub fn open_checks(value: u32) -> Result<OpenChecks, Failure> {
    match value {
        ANNAL_OPEN_CHECKS_ALL_SEGMENTS => Ok(OpenChecks::AllSegments),
        ANNAL_OPEN_CHECKS_LAST_SEGMENT => Ok(OpenChecks::LastSegment),
        _ => Err(invalid("open checks", value)),
    }
}

/// Decodes an `ANNAL_IO_PATH_*`.
pub fn io_path(value: u32) -> Result<IoPath, Failure> {
    match value {
        ANNAL_IO_PATH_AUTO => Ok(IoPath::Auto),
        ANNAL_IO_PATH_IO_URING => Ok(IoPath::IoUring),
        ANNAL_IO_PATH_PWRITE => Ok(IoPath::Pwrite),
        _ => Err(invalid("io path", value)),
    }
}

/// The `ANNAL_IO_PATH_*` of an open log's resolved path (never `AUTO` in practice).
pub fn io_path_value(path: IoPath) -> u32 {
    match path {
        IoPath::IoUring => ANNAL_IO_PATH_IO_URING,
        IoPath::Pwrite => ANNAL_IO_PATH_PWRITE,
        IoPath::Auto => ANNAL_IO_PATH_AUTO,
    }
}

/// Decodes an `ANNAL_TRUNCATION_*`.
pub fn truncation(value: u32) -> Result<Truncation, Failure> {
    match value {
        ANNAL_TRUNCATION_BEHIND_CONSUMERS => Ok(Truncation::BehindConsumers),
        ANNAL_TRUNCATION_FORCED => Ok(Truncation::Forced),
        _ => Err(invalid("truncation", value)),
    }
}
