//! The growable option structs: how a log or store is opened, how a subscription starts.
//! Each starts with its own `struct_size`; zero in any field means the default.
#![expect(unsafe_code, reason = "reads caller structs through args")]

use annal::{
    Options, Start, StoreFilter, StoreSubscriptionOptions, SubscriptionOptions, Visibility,
};
use bytes::Bytes;

use crate::args;
use crate::enums::{
    self, ANNAL_FILTER_ALL, ANNAL_FILTER_CATEGORY, ANNAL_FILTER_EVENT_TYPE,
    ANNAL_FILTER_STREAM_PREFIX,
};
use crate::failure::Failure;
use crate::status::{ANNAL_STATUS_INVALID_ARGUMENT, ANNAL_STATUS_INVALID_ENUM};

/// How to open a log or a store. Set `struct_size` to `sizeof(annal_open_options)` and
/// leave the fields you do not set zero: zero is each field's default. Fields are only
/// ever added at the end. NULL options are all defaults.
#[repr(C)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_open_options {
    /// `sizeof(annal_open_options)` as the caller's header declares it.
    pub struct_size: usize,
    /// Segment file size in bytes (a multiple of 4096); 0: 64 MiB.
    pub segment_bytes: u64,
    /// Stores: events between index checkpoints; 0: 1 000 000.
    pub index_checkpoint_events: u64,
    /// `ANNAL_RECOVERY_*`; 0: strict.
    pub recovery: u32,
    /// `ANNAL_OPEN_CHECKS_*`; 0: the tail only (the engine's default).
    pub open_checks: u32,
    /// 1: re-check every record's body checksum on read; 0: no.
    pub verify_reads: u32,
    /// 1: open read-only, as a follower of the process that writes the directory (no
    /// lock, nothing written; changes return `ANNAL_STATUS_READ_ONLY`); 0: no.
    pub read_only: u32,
    /// `ANNAL_IO_PATH_*`: how durable appends are written and synced; 0: auto.
    pub io_path: u32,
}

impl Default for annal_open_options {
    fn default() -> Self {
        annal_open_options {
            struct_size: size_of::<annal_open_options>(),
            segment_bytes: 0,
            index_checkpoint_events: 0,
            recovery: 0,
            open_checks: 0,
            verify_reads: 0,
            read_only: 0,
            io_path: 0,
        }
    }
}

/// A flag field that must be 0 or 1.
fn flag(value: u32, what: &str) -> Result<bool, Failure> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Failure::boundary(
            ANNAL_STATUS_INVALID_ENUM,
            format!("{what} is {other}, not 0 or 1"),
        )),
    }
}

/// What opening asks for: the engine's options, and whether to open read-only.
pub struct OpenRequest {
    /// The engine's options.
    pub options: Options,
    /// Open as a follower (`Log::open_read_only`).
    pub read_only: bool,
}

/// The engine's options for `raw` (from [`args::sized_struct`]).
pub fn open_options(raw: &annal_open_options) -> Result<OpenRequest, Failure> {
    let mut options = Options::default()
        .recovery(enums::recovery(raw.recovery)?)
        .open_checks(enums::open_checks(raw.open_checks)?)
        .io_path(enums::io_path(raw.io_path)?);
    if raw.segment_bytes != 0 {
        options = options.segment_bytes(raw.segment_bytes);
    }
    if raw.index_checkpoint_events != 0 {
        options = options.index_checkpoint_events(raw.index_checkpoint_events);
    }
    options = options.verify_reads(flag(raw.verify_reads, "verify_reads")?);
    Ok(OpenRequest {
        options,
        read_only: flag(raw.read_only, "read_only")?,
    })
}

/// Reads `annal_open_options` from C.
///
/// # Safety
/// NULL, or a pointer to `struct_size` readable bytes of an `annal_open_options`.
pub unsafe fn read_open_options(ptr: *const annal_open_options) -> Result<OpenRequest, Failure> {
    // SAFETY: the caller's contract; annal_open_options is repr(C), starts with
    // struct_size, and holds only integers.
    let raw = unsafe { args::sized_struct(ptr, "options") }?;
    open_options(&raw)
}

/// Where a subscription starts, what it sees and (stores) which events it delivers. Set
/// `struct_size`; zero fields are defaults (from the beginning, synced events, all
/// events). NULL options are all defaults.
#[repr(C)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_subscribe_options {
    /// `sizeof(annal_subscribe_options)` as the caller's header declares it.
    pub struct_size: usize,
    /// With `ANNAL_START_AT`: the first position to deliver.
    pub start_position: u64,
    /// `ANNAL_START_*`; 0: beginning.
    pub start: u32,
    /// `ANNAL_VISIBILITY_*`; 0: synced.
    pub visibility: u32,
    /// Stores only: `ANNAL_FILTER_*`; 0: all events. Raw-log subscriptions need 0.
    pub filter: u32,
    /// Must be zero.
    pub reserved: u32,
    /// The category or event type the filter names (`filter_len` bytes, copied).
    pub filter_value: *const u8,
    /// Length of `filter_value`.
    pub filter_len: usize,
}

impl Default for annal_subscribe_options {
    fn default() -> Self {
        annal_subscribe_options {
            struct_size: size_of::<annal_subscribe_options>(),
            start_position: 0,
            start: 0,
            visibility: 0,
            filter: 0,
            reserved: 0,
            filter_value: std::ptr::null(),
            filter_len: 0,
        }
    }
}

/// A subscription request from C, before it is turned into a raw-log or a store
/// subscription's options.
pub struct SubscribeRequest {
    /// Where to start.
    pub start: Start,
    /// The position field as given (ignored unless `ANNAL_START_AT`).
    pub start_position: u64,
    /// Which watermark to read to.
    pub visibility: Visibility,
    /// `ANNAL_FILTER_*`, checked.
    pub filter: u32,
    /// The filter's value (copied).
    pub filter_value: Bytes,
}

impl SubscribeRequest {
    /// A raw log's subscription options: raw logs take no filter.
    pub fn log_options(&self) -> Result<SubscriptionOptions, Failure> {
        if self.filter != ANNAL_FILTER_ALL {
            return Err(Failure::boundary(
                ANNAL_STATUS_INVALID_ARGUMENT,
                "raw-log subscriptions take no filter (category, event-type and stream-prefix filters are for stores)",
            ));
        }
        Ok(SubscriptionOptions::default().visibility(self.visibility))
    }

    /// A store's subscription options.
    pub fn store_options(&self) -> StoreSubscriptionOptions {
        let value = self.filter_value.clone();
        let filter = match self.filter {
            ANNAL_FILTER_CATEGORY => StoreFilter::Category(value),
            ANNAL_FILTER_EVENT_TYPE => StoreFilter::EventType(value),
            ANNAL_FILTER_STREAM_PREFIX => StoreFilter::StreamPrefix(value),
            _ => StoreFilter::All,
        };
        StoreSubscriptionOptions::default()
            .visibility(self.visibility)
            .filter(filter)
    }
}

/// Reads `annal_subscribe_options` from C.
///
/// # Safety
/// NULL, or a pointer to `struct_size` readable bytes of an `annal_subscribe_options`
/// whose `filter_value` points to `filter_len` readable bytes.
pub unsafe fn read_subscribe_options(
    ptr: *const annal_subscribe_options,
) -> Result<SubscribeRequest, Failure> {
    // SAFETY: the caller's contract; the struct is repr(C), starts with struct_size, and
    // holds only integers and a raw pointer.
    let raw = unsafe { args::sized_struct(ptr, "options") }?;
    // SAFETY: the caller's contract on filter_value.
    let value = unsafe { args::bytes(raw.filter_value, raw.filter_len, "options->filter_value") }?;
    if !matches!(
        raw.filter,
        ANNAL_FILTER_ALL
            | ANNAL_FILTER_CATEGORY
            | ANNAL_FILTER_EVENT_TYPE
            | ANNAL_FILTER_STREAM_PREFIX
    ) {
        return Err(Failure::boundary(
            ANNAL_STATUS_INVALID_ENUM,
            format!("{} is not a valid filter", raw.filter),
        ));
    }
    Ok(SubscribeRequest {
        start: enums::start(raw.start, raw.start_position)?,
        start_position: raw.start_position,
        visibility: enums::visibility(raw.visibility)?,
        filter: raw.filter,
        filter_value: Bytes::copy_from_slice(value),
    })
}
