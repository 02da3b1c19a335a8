//! Reads of an event store: a stream forwards or backwards, as of a position or a time,
//! a category, the whole log. Each returns an `annal_event_list` that owns the events;
//! its views are zero-copy and valid until the list is freed.
//!
//! Thread-safety: an `annal_event_list *` is immutable: any number of threads may read
//! it at once.
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and reading caller memory"
)]

use std::sync::LazyLock;

use annal::{Position, RecordedEvent, Revision};

use crate::args::{self, Out};
use crate::enums;
use crate::failure::Failure;
use crate::handle::{handle_of, id_of, Kind, Table};
use crate::panic::guard;
use crate::status::{annal_status, ANNAL_STATUS_INVALID_LENGTH};
use crate::store::{self, annal_store};
use crate::views::annal_recorded_event;

/// Events a store read returned. Immutable, thread-safe. Free it with
/// `annal_event_list_free`.
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_event_list {
    _private: [u8; 0],
}

static LISTS: LazyLock<Table<Vec<RecordedEvent>>> =
    LazyLock::new(|| Table::new(Kind::EventList, "annal_event_list"));

/// Runs a read and hands its events to C as a list.
fn read_into(
    out: Out<*mut annal_event_list>,
    read: impl FnOnce() -> Result<Vec<RecordedEvent>, Failure>,
) -> Result<(), Failure> {
    let events = read()?;
    out.write(handle_of(LISTS.insert(events)?));
    Ok(())
}

/// Reads up to `max_count` events of `stream` from revision `from` in `direction`
/// (`ANNAL_DIRECTION_*`) into a new list.
///
/// # Safety
/// `stream` points to `stream_len` readable bytes; `list_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_read_stream(
    store: *const annal_store,
    stream: *const u8,
    stream_len: usize,
    from: u64,
    direction: u32,
    max_count: usize,
    list_out: *mut *mut annal_event_list,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract: `list_out` is NULL or writable.
        let out = unsafe { Out::new(list_out, "list_out") }?;
        read_into(out, || {
            let direction = enums::direction(direction)?;
            // SAFETY: the contract.
            let stream = unsafe { args::bytes(stream, stream_len, "stream") }?;
            store::get(store)?.with(|s| s.read_stream(stream, Revision(from), direction, max_count))
        })
    })
}

/// Reads the last `count` events of `stream`, oldest first, into a new list (for the
/// newest first, `annal_store_read_stream` backwards from revision `UINT64_MAX`).
///
/// # Safety
/// `stream` points to `stream_len` readable bytes; `list_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_read_stream_last(
    store: *const annal_store,
    stream: *const u8,
    stream_len: usize,
    count: usize,
    list_out: *mut *mut annal_event_list,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract: `list_out` is NULL or writable.
        let out = unsafe { Out::new(list_out, "list_out") }?;
        read_into(out, || {
            // SAFETY: the contract.
            let stream = unsafe { args::bytes(stream, stream_len, "stream") }?;
            store::get(store)?.with(|s| s.read_stream_last(stream, count))
        })
    })
}

/// Reads `stream` as it was before position `as_of` (only events at lower positions):
/// up to `max_count` events from revision `from` in `direction`.
///
/// # Safety
/// `stream` points to `stream_len` readable bytes; `list_out` is NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments, reason = "a flat C signature")]
pub unsafe extern "C" fn annal_store_read_stream_as_of(
    store: *const annal_store,
    stream: *const u8,
    stream_len: usize,
    as_of: u64,
    from: u64,
    direction: u32,
    max_count: usize,
    list_out: *mut *mut annal_event_list,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract: `list_out` is NULL or writable.
        let out = unsafe { Out::new(list_out, "list_out") }?;
        read_into(out, || {
            let direction = enums::direction(direction)?;
            // SAFETY: the contract.
            let stream = unsafe { args::bytes(stream, stream_len, "stream") }?;
            store::get(store)?.with(|s| {
                s.read_stream_as_of(
                    stream,
                    Position(as_of),
                    Revision(from),
                    direction,
                    max_count,
                )
            })
        })
    })
}

/// Reads `stream` as it was at `time_ns` (nanoseconds since the Unix epoch), oldest
/// first, up to `max_count` events.
///
/// # Safety
/// `stream` points to `stream_len` readable bytes; `list_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_read_stream_at_time(
    store: *const annal_store,
    stream: *const u8,
    stream_len: usize,
    time_ns: u64,
    max_count: usize,
    list_out: *mut *mut annal_event_list,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract: `list_out` is NULL or writable.
        let out = unsafe { Out::new(list_out, "list_out") }?;
        read_into(out, || {
            // SAFETY: the contract.
            let stream = unsafe { args::bytes(stream, stream_len, "stream") }?;
            store::get(store)?.with(|s| s.read_stream_at_time(stream, time_ns, max_count))
        })
    })
}

/// Writes to `*position` the position of the first event stamped after `time_ns`: the
/// log as of that time is everything before it.
///
/// # Safety
/// `position` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_position_after_time(
    store: *const annal_store,
    time_ns: u64,
    position: *mut u64,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(position, "position") }?;
        out.write(
            store::get(store)?
                .with(|s| s.position_after_time(time_ns))?
                .0,
        );
        Ok(())
    })
}

/// Reads up to `max_count` events of the whole store from position `from` in
/// `direction` (the store's own lifecycle records are skipped).
///
/// # Safety
/// `list_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_read_all(
    store: *const annal_store,
    from: u64,
    direction: u32,
    max_count: usize,
    list_out: *mut *mut annal_event_list,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract: `list_out` is NULL or writable.
        let out = unsafe { Out::new(list_out, "list_out") }?;
        read_into(out, || {
            let direction = enums::direction(direction)?;
            store::get(store)?.with(|s| s.read_all(Position(from), direction, max_count))
        })
    })
}

/// Reads up to `max_count` events of a category (the stream-name prefix before the first
/// `-`: `order` for `order-42`) from position `from` in `direction`.
///
/// # Safety
/// `category` points to `category_len` readable bytes; `list_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_read_category(
    store: *const annal_store,
    category: *const u8,
    category_len: usize,
    from: u64,
    direction: u32,
    max_count: usize,
    list_out: *mut *mut annal_event_list,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract: `list_out` is NULL or writable.
        let out = unsafe { Out::new(list_out, "list_out") }?;
        read_into(out, || {
            let direction = enums::direction(direction)?;
            // SAFETY: the contract.
            let category = unsafe { args::bytes(category, category_len, "category") }?;
            store::get(store)?
                .with(|s| s.read_category(category, Position(from), direction, max_count))
        })
    })
}

/// Writes how many events the list holds to `*count`.
///
/// # Safety
/// `count` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_event_list_count(
    list: *const annal_event_list,
    count: *mut usize,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(count, "count") }?;
        out.write(LISTS.get(id_of(list))?.len());
        Ok(())
    })
}

/// Writes the list's event at `index` to `*event`: a view valid until the list is freed.
/// An index past the end is `ANNAL_STATUS_INVALID_LENGTH`.
///
/// # Safety
/// `event` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_event_list_get(
    list: *const annal_event_list,
    index: usize,
    event: *mut annal_recorded_event,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(event, "event") }?;
        let list = LISTS.get(id_of(list))?;
        let found = list.get(index).ok_or_else(|| {
            Failure::boundary(
                ANNAL_STATUS_INVALID_LENGTH,
                format!("index {index} is past the list's {} events", list.len()),
            )
        })?;
        out.write(annal_recorded_event::of(found));
        Ok(())
    })
}

/// Frees the list and the views it handed out. NULL is a no-op; a second free returns
/// `ANNAL_STATUS_USE_AFTER_CLOSE`.
#[no_mangle]
pub extern "C" fn annal_event_list_free(list: *mut annal_event_list) -> annal_status {
    guard(|| {
        if !list.is_null() {
            LISTS.remove(id_of(list))?;
        }
        Ok(())
    })
}
