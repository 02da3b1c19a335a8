//! Status codes: every fallible export returns one. The engine's `ErrorCode` values pass
//! through unchanged (1 to 99); the boundary's own codes are 100 to 199. Never renumber a
//! status; only add (tests/status_codes.rs holds them to it).
#![expect(unsafe_code, reason = "C export (no_mangle)")]

use std::ffi::{c_char, CStr};

use annal::ErrorCode;

/// The result of a fallible call: `ANNAL_STATUS_OK` (0) or one of the `ANNAL_STATUS_*`
/// values below. Stable: a number never changes meaning.
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub type annal_status = i32;

/// Success; out-parameters were written.
pub const ANNAL_STATUS_OK: annal_status = 0;

/// An operating-system call failed (engine `ErrorCode::Io`).
pub const ANNAL_STATUS_IO: annal_status = 1;
/// The device is full; nothing acknowledged was lost.
pub const ANNAL_STATUS_NO_SPACE: annal_status = 2;
/// Damaged data on disk.
pub const ANNAL_STATUS_CORRUPT: annal_status = 3;
/// The log is poisoned after a failed write or fsync: reopen it.
pub const ANNAL_STATUS_POISONED: annal_status = 4;
/// The log directory is locked by another owner.
pub const ANNAL_STATUS_LOCKED: annal_status = 5;
/// An input exceeds a documented limit (an oversized event, say).
pub const ANNAL_STATUS_LIMIT_EXCEEDED: annal_status = 6;
/// A batch with no events.
pub const ANNAL_STATUS_EMPTY_BATCH: annal_status = 7;
/// A position outside the log.
pub const ANNAL_STATUS_POSITION_OUT_OF_RANGE: annal_status = 8;
/// Open options that cannot work.
pub const ANNAL_STATUS_INVALID_OPTIONS: annal_status = 9;
/// The log or store was closed (also: a subscription whose log closed, once caught up).
pub const ANNAL_STATUS_CLOSED: annal_status = 10;
/// No consumer of that name.
pub const ANNAL_STATUS_UNKNOWN_CONSUMER: annal_status = 11;
/// A consumer of that name exists already.
pub const ANNAL_STATUS_CONSUMER_EXISTS: annal_status = 12;
/// A malformed consumer name.
pub const ANNAL_STATUS_INVALID_CONSUMER_NAME: annal_status = 13;
/// Too many live subscriptions of one log.
pub const ANNAL_STATUS_TOO_MANY_SUBSCRIPTIONS: annal_status = 14;
/// Too many consumers in one log.
pub const ANNAL_STATUS_TOO_MANY_CONSUMERS: annal_status = 15;
/// A subscription fell behind retention.
pub const ANNAL_STATUS_BEHIND_RETENTION: annal_status = 16;
/// A consumer checkpoint would move backward.
pub const ANNAL_STATUS_CHECKPOINT_REGRESSION: annal_status = 17;
/// io_uring was required (`IoPath::IoUring`) but this kernel or sandbox refuses it.
pub const ANNAL_STATUS_IO_URING_UNAVAILABLE: annal_status = 18;
/// The log or store was opened read-only (a follower): it cannot be changed.
pub const ANNAL_STATUS_READ_ONLY: annal_status = 19;
/// An append's expected revision did not match; nothing was written.
pub const ANNAL_STATUS_WRONG_EXPECTED_REVISION: annal_status = 20;
/// The stream is deleted (tombstoned).
pub const ANNAL_STATUS_STREAM_DELETED: annal_status = 21;
/// The stream does not exist.
pub const ANNAL_STATUS_STREAM_NOT_FOUND: annal_status = 22;
/// Some, not all, of an append's event ids are stored already; nothing was written.
pub const ANNAL_STATUS_IDEMPOTENCY_CONFLICT: annal_status = 23;
/// A malformed argument the engine rejected (an empty stream name, say).
pub const ANNAL_STATUS_INVALID_ARGUMENT: annal_status = 24;

/// A pointer argument that must not be NULL was NULL.
pub const ANNAL_STATUS_NULL_ARGUMENT: annal_status = 100;
/// The library panicked; the call's effect is unknown. The panic did not cross into C.
pub const ANNAL_STATUS_PANIC: annal_status = 101;
/// A caller's buffer is too small for the result; nothing was written.
pub const ANNAL_STATUS_BUFFER_TOO_SMALL: annal_status = 102;
/// A string that must be UTF-8 (a consumer name) is not.
pub const ANNAL_STATUS_INVALID_UTF8: annal_status = 103;
/// A path is empty.
pub const ANNAL_STATUS_INVALID_PATH: annal_status = 104;
/// An integer standing for an enum (durability, direction, …) has no meaning.
pub const ANNAL_STATUS_INVALID_ENUM: annal_status = 105;
/// A length or size is impossible (a byte length above `PTRDIFF_MAX`, a `struct_size`
/// too small, unknown non-zero fields past the known end of a struct, a misaligned array).
pub const ANNAL_STATUS_INVALID_LENGTH: annal_status = 106;
/// The handle was closed or freed already (use after close, double close).
pub const ANNAL_STATUS_USE_AFTER_CLOSE: annal_status = 107;
/// The value is not a handle of this type this library handed out.
pub const ANNAL_STATUS_INVALID_HANDLE: annal_status = 108;
/// Not a failure: no event is available now, or none came before the timeout. The last
/// error is left as it was.
pub const ANNAL_STATUS_NO_EVENT: annal_status = 109;

/// Every status and its name, for `annal_status_name`.
const NAMES: &[(annal_status, &CStr)] = &[
    (ANNAL_STATUS_OK, c"ANNAL_STATUS_OK"),
    (ANNAL_STATUS_IO, c"ANNAL_STATUS_IO"),
    (ANNAL_STATUS_NO_SPACE, c"ANNAL_STATUS_NO_SPACE"),
    (ANNAL_STATUS_CORRUPT, c"ANNAL_STATUS_CORRUPT"),
    (ANNAL_STATUS_POISONED, c"ANNAL_STATUS_POISONED"),
    (ANNAL_STATUS_LOCKED, c"ANNAL_STATUS_LOCKED"),
    (ANNAL_STATUS_LIMIT_EXCEEDED, c"ANNAL_STATUS_LIMIT_EXCEEDED"),
    (ANNAL_STATUS_EMPTY_BATCH, c"ANNAL_STATUS_EMPTY_BATCH"),
    (
        ANNAL_STATUS_POSITION_OUT_OF_RANGE,
        c"ANNAL_STATUS_POSITION_OUT_OF_RANGE",
    ),
    (
        ANNAL_STATUS_INVALID_OPTIONS,
        c"ANNAL_STATUS_INVALID_OPTIONS",
    ),
    (ANNAL_STATUS_CLOSED, c"ANNAL_STATUS_CLOSED"),
    (
        ANNAL_STATUS_UNKNOWN_CONSUMER,
        c"ANNAL_STATUS_UNKNOWN_CONSUMER",
    ),
    (
        ANNAL_STATUS_CONSUMER_EXISTS,
        c"ANNAL_STATUS_CONSUMER_EXISTS",
    ),
    (
        ANNAL_STATUS_INVALID_CONSUMER_NAME,
        c"ANNAL_STATUS_INVALID_CONSUMER_NAME",
    ),
    (
        ANNAL_STATUS_TOO_MANY_SUBSCRIPTIONS,
        c"ANNAL_STATUS_TOO_MANY_SUBSCRIPTIONS",
    ),
    (
        ANNAL_STATUS_TOO_MANY_CONSUMERS,
        c"ANNAL_STATUS_TOO_MANY_CONSUMERS",
    ),
    (
        ANNAL_STATUS_BEHIND_RETENTION,
        c"ANNAL_STATUS_BEHIND_RETENTION",
    ),
    (
        ANNAL_STATUS_CHECKPOINT_REGRESSION,
        c"ANNAL_STATUS_CHECKPOINT_REGRESSION",
    ),
    (
        ANNAL_STATUS_IO_URING_UNAVAILABLE,
        c"ANNAL_STATUS_IO_URING_UNAVAILABLE",
    ),
    (ANNAL_STATUS_READ_ONLY, c"ANNAL_STATUS_READ_ONLY"),
    (
        ANNAL_STATUS_WRONG_EXPECTED_REVISION,
        c"ANNAL_STATUS_WRONG_EXPECTED_REVISION",
    ),
    (ANNAL_STATUS_STREAM_DELETED, c"ANNAL_STATUS_STREAM_DELETED"),
    (
        ANNAL_STATUS_STREAM_NOT_FOUND,
        c"ANNAL_STATUS_STREAM_NOT_FOUND",
    ),
    (
        ANNAL_STATUS_IDEMPOTENCY_CONFLICT,
        c"ANNAL_STATUS_IDEMPOTENCY_CONFLICT",
    ),
    (
        ANNAL_STATUS_INVALID_ARGUMENT,
        c"ANNAL_STATUS_INVALID_ARGUMENT",
    ),
    (ANNAL_STATUS_NULL_ARGUMENT, c"ANNAL_STATUS_NULL_ARGUMENT"),
    (ANNAL_STATUS_PANIC, c"ANNAL_STATUS_PANIC"),
    (
        ANNAL_STATUS_BUFFER_TOO_SMALL,
        c"ANNAL_STATUS_BUFFER_TOO_SMALL",
    ),
    (ANNAL_STATUS_INVALID_UTF8, c"ANNAL_STATUS_INVALID_UTF8"),
    (ANNAL_STATUS_INVALID_PATH, c"ANNAL_STATUS_INVALID_PATH"),
    (ANNAL_STATUS_INVALID_ENUM, c"ANNAL_STATUS_INVALID_ENUM"),
    (ANNAL_STATUS_INVALID_LENGTH, c"ANNAL_STATUS_INVALID_LENGTH"),
    (
        ANNAL_STATUS_USE_AFTER_CLOSE,
        c"ANNAL_STATUS_USE_AFTER_CLOSE",
    ),
    (ANNAL_STATUS_INVALID_HANDLE, c"ANNAL_STATUS_INVALID_HANDLE"),
    (ANNAL_STATUS_NO_EVENT, c"ANNAL_STATUS_NO_EVENT"),
];

/// The status an engine error code maps to: the same number.
pub fn from_error_code(code: ErrorCode) -> annal_status {
    code as annal_status
}

/// The name of a status (`"ANNAL_STATUS_OK"`, …), for logs and tests; `None` for a
/// number that is no status.
pub fn name(status: annal_status) -> Option<&'static CStr> {
    NAMES
        .iter()
        .find(|(code, _)| *code == status)
        .map(|(_, name)| *name)
}

/// Every status this library defines, in the order of the table above.
pub fn all() -> impl Iterator<Item = (annal_status, &'static CStr)> {
    NAMES.iter().copied()
}

/// The name of `status` as a static NUL-terminated string (`"ANNAL_STATUS_CLOSED"`), or
/// `"ANNAL_STATUS_UNKNOWN"` for a number that is no status. Never NULL; never freed.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn annal_status_name(status: annal_status) -> *const c_char {
    crate::panic::guard_value(c"ANNAL_STATUS_UNKNOWN".as_ptr(), || {
        name(status).unwrap_or(c"ANNAL_STATUS_UNKNOWN").as_ptr()
    })
}
