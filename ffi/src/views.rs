//! Zero-copy views of events handed to C: pointers into the log's read-only mappings (or
//! an owned copy the handle keeps), valid until the handle that produced them is called
//! again or freed — each producer states which.

use annal::{Event, Position, RecordedEvent};

/// A raw-log event. `payload` points into the log's read-only memory mapping: valid
/// until the next call on the reader or subscription that returned it, or its free. Do
/// not write through it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_event_view {
    /// The event's global position.
    pub position: u64,
    /// The bytes appended (NULL when `payload_len` is 0).
    pub payload: *const u8,
    /// Length of `payload`.
    pub payload_len: usize,
}

impl annal_event_view {
    /// A view of `event`, valid while `event` (its payload's bytes) is kept alive.
    pub fn of(event: &Event) -> annal_event_view {
        annal_event_view {
            position: event.position.0,
            payload: pointer(&event.payload),
            payload_len: event.payload.len(),
        }
    }

    /// A view of a payload borrowed from a reader, valid while the reader is not used
    /// again.
    pub fn borrowed(position: Position, payload: &[u8]) -> annal_event_view {
        annal_event_view {
            position: position.0,
            payload: pointer(payload),
            payload_len: payload.len(),
        }
    }
}

/// An event-store event. Every pointer is valid until the next call on the store
/// subscription that returned it, or the free of the event list or subscription that
/// holds it. Do not write through them.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_recorded_event {
    /// Its global position.
    pub position: u64,
    /// Its revision in its stream.
    pub revision: u64,
    /// Nanoseconds since the Unix epoch, assigned at append, never decreasing.
    pub timestamp_ns: u64,
    /// The stream's name.
    pub stream: *const u8,
    /// Length of `stream`.
    pub stream_len: usize,
    /// The event type.
    pub event_type: *const u8,
    /// Length of `event_type`.
    pub event_type_len: usize,
    /// The data.
    pub data: *const u8,
    /// Length of `data`.
    pub data_len: usize,
    /// The metadata.
    pub metadata: *const u8,
    /// Length of `metadata`.
    pub metadata_len: usize,
    /// The event id, when `has_id` is 1 (zeros otherwise).
    pub id: [u8; 16],
    /// 1: the event was appended with an id.
    pub has_id: u32,
    /// Zero.
    pub reserved: u32,
}

impl annal_recorded_event {
    /// A view of `event`, valid while `event` is kept alive.
    pub fn of(event: &RecordedEvent) -> annal_recorded_event {
        annal_recorded_event {
            position: event.position.0,
            revision: event.revision.0,
            timestamp_ns: event.timestamp_ns,
            stream: pointer(&event.stream),
            stream_len: event.stream.len(),
            event_type: pointer(&event.event_type),
            event_type_len: event.event_type.len(),
            data: pointer(&event.data),
            data_len: event.data.len(),
            metadata: pointer(&event.metadata),
            metadata_len: event.metadata.len(),
            id: event.id.unwrap_or_default(),
            has_id: u32::from(event.id.is_some()),
            reserved: 0,
        }
    }
}

/// NULL for an empty slice (C code may not expect a dangling non-NULL pointer).
fn pointer(bytes: &[u8]) -> *const u8 {
    if bytes.is_empty() {
        std::ptr::null()
    } else {
        bytes.as_ptr()
    }
}
