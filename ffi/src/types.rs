//! The plain C structs passed by value or through out-parameters: inputs (byte slices,
//! new events, stream appends) and results (appended positions, log state, write
//! results, stream info). Handles are in their own modules.

use annal::{Appended, WriteResult};

/// A byte slice passed in by C: `len` bytes at `ptr` (NULL only when `len` is 0). Read
/// during the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_bytes {
    /// The first byte.
    pub ptr: *const u8,
    /// How many bytes.
    pub len: usize,
}

/// Where a raw-log append landed.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_appended {
    /// Position of the first event appended.
    pub first_position: u64,
    /// Position of the last event appended.
    pub last_position: u64,
}

impl From<Appended> for annal_appended {
    fn from(appended: Appended) -> Self {
        annal_appended {
            first_position: appended.first.0,
            last_position: appended.last.0,
        }
    }
}

/// A snapshot of a log's positions. Every event before `written_position` is written,
/// every event before `synced_position` durable.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_log_info {
    /// The first position the log still holds.
    pub first_position: u64,
    /// The position the next append will get.
    pub next_position: u64,
    /// Every position below this one is written (readable with written visibility).
    pub written_position: u64,
    /// Every position below this one is durable.
    pub synced_position: u64,
    /// 1: an earlier write or fsync failed; nothing more is acknowledged until reopened.
    pub poisoned: u32,
    /// Zero.
    pub reserved: u32,
}

/// An event to append to a store. Its bytes are read (copied) during the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_new_event {
    /// NULL, or 16 bytes: the event id (a retry with the same ids writes nothing).
    pub id: *const u8,
    /// The event type (`event_type_len` bytes, at most 255).
    pub event_type: *const u8,
    /// Length of `event_type`.
    pub event_type_len: usize,
    /// The data.
    pub data: *const u8,
    /// Length of `data`.
    pub data_len: usize,
    /// Caller metadata (NULL and 0 for none).
    pub metadata: *const u8,
    /// Length of `metadata`.
    pub metadata_len: usize,
}

/// One stream's part of a multi-stream append.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_stream_append {
    /// The stream name (1 to 255 bytes).
    pub stream: *const u8,
    /// Length of `stream`.
    pub stream_len: usize,
    /// `ANNAL_EXPECTED_*`.
    pub expected_kind: u32,
    /// Zero.
    pub reserved: u32,
    /// The revision, with `ANNAL_EXPECTED_EXACT`.
    pub expected_revision: u64,
    /// The events, in order.
    pub events: *const annal_new_event,
    /// How many events.
    pub event_count: usize,
}

/// Where one stream's part of an append landed.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_write_result {
    /// Revision of the first event appended to the stream.
    pub first_revision: u64,
    /// Revision of the last event appended (the stream's revision now).
    pub last_revision: u64,
    /// Position of the first event.
    pub first_position: u64,
    /// Position of the last event.
    pub last_position: u64,
}

impl From<WriteResult> for annal_write_result {
    fn from(result: WriteResult) -> Self {
        annal_write_result {
            first_revision: result.first_revision.0,
            last_revision: result.last_revision.0,
            first_position: result.first_position.0,
            last_position: result.last_position.0,
        }
    }
}

/// What a store knows about a stream.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_stream_info {
    /// The last revision written; meaningful when `has_revision` is 1.
    pub revision: u64,
    /// Reads start at this revision (soft delete truncates before it).
    pub truncate_before: u64,
    /// 1: the stream has events; 0: none.
    pub has_revision: u32,
    /// 1: hard-deleted (tombstoned).
    pub deleted: u32,
}
