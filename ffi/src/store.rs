//! The event store through C: open and close, appends with expected revisions (one
//! stream or several at once), stream lifecycle (truncate, delete, info) and checkpoints.
//! Reads are in `store_read.rs`, subscriptions in `store_subscription.rs`, appends
//! through stream handles in `stream_handle.rs`.
//!
//! Thread-safety: an `annal_store *` may be used from any number of threads at once;
//! closing it waits for calls in flight.
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and reading caller memory"
)]

use std::ffi::c_char;
use std::sync::LazyLock;

use annal::{EventId, EventStore, NewEvent, Position, Revision, StreamAppend};
use bytes::Bytes;

use crate::args::{self, Out};
use crate::enums;
use crate::failure::Failure;
use crate::handle::{handle_of, id_of, Kind, Ref, Table};
use crate::options::{self, annal_open_options};
use crate::owner::Owner;
use crate::panic::guard;
use crate::status::annal_status;
use crate::types::{annal_new_event, annal_stream_append, annal_stream_info, annal_write_result};

/// An open event store. Thread-safe. Close it with `annal_store_close`.
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_store {
    _private: [u8; 0],
}

static STORES: LazyLock<Table<Owner<EventStore>>> =
    LazyLock::new(|| Table::new(Kind::Store, "annal_store"));

/// The store behind a handle, read-locked while the result lives (a close waits for it).
pub fn get(store: *const annal_store) -> Result<Ref<'static, Owner<EventStore>>, Failure> {
    STORES.get(id_of(store))
}

/// Opens (creating if needed) the event store in directory `dir` and writes its handle
/// to `*store_out`. `options` may be NULL (all defaults).
/// With `options->read_only = 1` it opens the store as a follower of its writer (no
/// lock, nothing written; every read catches up first).
///
/// # Safety
/// `dir` is NULL or a NUL-terminated path; `options` is NULL or an
/// `annal_open_options` with `struct_size` set; `store_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_open(
    dir: *const c_char,
    options: *const annal_open_options,
    store_out: *mut *mut annal_store,
) -> annal_status {
    guard(|| {
        // SAFETY: each pointer is NULL or valid as the contract says.
        let (out, dir, options) = unsafe {
            (
                Out::new(store_out, "store_out")?,
                args::path(dir, "dir")?,
                options::read_open_options(options)?,
            )
        };
        let store = if options.read_only {
            EventStore::open_read_only(dir, options.options)?
        } else {
            EventStore::open(dir, options.options)?
        };
        out.write(handle_of(STORES.insert(Owner::new(store))?));
        Ok(())
    })
}

/// Checkpoints the index, syncs and closes the store, and frees its handle, which is
/// invalid afterwards whatever this returns. NULL is a no-op; a second close returns
/// `ANNAL_STATUS_USE_AFTER_CLOSE`. Its subscriptions and event lists stay valid handles:
/// subscriptions return `ANNAL_STATUS_CLOSED` once caught up.
#[no_mangle]
pub extern "C" fn annal_store_close(store: *mut annal_store) -> annal_status {
    guard(|| {
        if store.is_null() {
            return Ok(());
        }
        STORES.remove(id_of(store))?.close(EventStore::close)
    })
}

/// The engine's event for a C one (bytes copied).
///
/// # Safety
/// Every pointer of `event` is NULL (with length 0) or valid for its length; `id` is
/// NULL or 16 readable bytes.
unsafe fn new_event(event: &annal_new_event) -> Result<NewEvent, Failure> {
    // SAFETY: the caller's contract on each pointer and length.
    let (event_type, data, metadata, id) = unsafe {
        (
            args::bytes(event.event_type, event.event_type_len, "event_type")?,
            args::bytes(event.data, event.data_len, "data")?,
            args::bytes(event.metadata, event.metadata_len, "metadata")?,
            if event.id.is_null() {
                None
            } else {
                Some(args::bytes(event.id, 16, "id")?)
            },
        )
    };
    crate::limits::check_event_bytes(
        event_type
            .len()
            .saturating_add(data.len())
            .saturating_add(metadata.len()),
    )?;
    let mut new = NewEvent::new(
        Bytes::copy_from_slice(event_type),
        Bytes::copy_from_slice(data),
    )
    .with_metadata(Bytes::copy_from_slice(metadata));
    if let Some(id) = id {
        let mut bytes: EventId = [0; 16];
        bytes.copy_from_slice(id);
        new = new.with_id(bytes);
    }
    Ok(new)
}

/// The engine's events for a C array.
///
/// # Safety
/// `events` is NULL (with `count` 0) or `count` valid `annal_new_event`.
pub(crate) unsafe fn new_events(
    events: *const annal_new_event,
    count: usize,
) -> Result<Vec<NewEvent>, Failure> {
    // SAFETY: the caller's contract.
    let events = unsafe { args::array(events, count, "events") }?;
    // SAFETY: each event is valid (the caller's contract).
    events.iter().map(|e| unsafe { new_event(e) }).collect()
}

/// Appends `count` events to `stream` if it is at the expected revision
/// (`expected_kind` is `ANNAL_EXPECTED_*`; `expected_revision` is used with
/// `ANNAL_EXPECTED_EXACT`), waits for `durability`, and writes where they landed to
/// `*result` (NULL: not wanted). A retry with the same event ids writes nothing and
/// returns the original result.
///
/// # Safety
/// `stream` points to `stream_len` readable bytes; `events` to `count` valid
/// `annal_new_event`; `result` is NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments, reason = "a flat C signature")]
pub unsafe extern "C" fn annal_store_append(
    store: *const annal_store,
    stream: *const u8,
    stream_len: usize,
    expected_kind: u32,
    expected_revision: u64,
    events: *const annal_new_event,
    count: usize,
    durability: u32,
    result: *mut annal_write_result,
) -> annal_status {
    guard(|| {
        let expected = enums::expected(expected_kind, expected_revision)?;
        let durability = enums::durability(durability)?;
        // SAFETY: the contract.
        let (stream, events) = unsafe {
            (
                args::bytes(stream, stream_len, "stream")?,
                new_events(events, count)?,
            )
        };
        // The name is read in place, not copied: it lives for the call.
        let written =
            get(store)?.with(|s| s.append_from_slice(stream, expected, &events, durability))?;
        // SAFETY: the contract: NULL or writable.
        unsafe { crate::log::write_optional(result, written.into()) };
        Ok(())
    })
}

/// The engine's stream appends for a C array (bytes copied).
///
/// # Safety
/// `appends` is NULL (with `count` 0) or points to `count` valid `annal_stream_append`.
pub unsafe fn stream_appends(
    appends: *const annal_stream_append,
    count: usize,
) -> Result<Vec<StreamAppend>, Failure> {
    // SAFETY: the caller's contract.
    let raw = unsafe { args::array(appends, count, "appends") }?;
    let mut engine_appends = Vec::with_capacity(raw.len());
    for append in raw {
        // SAFETY: each append's pointers are valid (the caller's contract).
        let (stream, events) = unsafe {
            (
                args::bytes(append.stream, append.stream_len, "appends[i].stream")?,
                new_events(append.events, append.event_count)?,
            )
        };
        engine_appends.push(StreamAppend {
            stream: Bytes::copy_from_slice(stream),
            expected: enums::expected(append.expected_kind, append.expected_revision)?,
            events,
        });
    }
    Ok(engine_appends)
}

/// Appends to several streams at once, each with its own expectation: all of it or
/// none of it, across a crash. Writes one result per append to `results[0..count]`
/// (NULL: not wanted).
///
/// # Safety
/// `appends` points to `count` valid `annal_stream_append`; `results` is NULL or points
/// to `count` writable `annal_write_result`.
#[no_mangle]
pub unsafe extern "C" fn annal_store_append_multi(
    store: *const annal_store,
    appends: *const annal_stream_append,
    count: usize,
    durability: u32,
    results: *mut annal_write_result,
) -> annal_status {
    guard(|| {
        let durability = enums::durability(durability)?;
        let results = if results.is_null() || count == 0 {
            None
        } else {
            // SAFETY: the contract: `count` writable results.
            Some(unsafe { args::out_array(results, count, "results") }?)
        };
        // SAFETY: the contract.
        let engine_appends = unsafe { stream_appends(appends, count) }?;
        let written = get(store)?.with(|s| s.append_multi(&engine_appends, durability))?;
        if let Some(results) = results {
            for (slot, result) in results.iter_mut().zip(written) {
                slot.write(result.into());
            }
        }
        Ok(())
    })
}

/// Soft delete: reads of `stream` start at revision `before`; it can still be appended
/// to. Durable when this returns.
///
/// # Safety
/// `stream` points to `stream_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn annal_store_truncate_stream(
    store: *const annal_store,
    stream: *const u8,
    stream_len: usize,
    before: u64,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let stream = unsafe { args::bytes(stream, stream_len, "stream") }?;
        get(store)?.with(|s| s.truncate_stream(stream, Revision(before)))
    })
}

/// Hard delete: a tombstone; later reads and appends of `stream` return
/// `ANNAL_STATUS_STREAM_DELETED`. Durable when this returns.
///
/// # Safety
/// `stream` points to `stream_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn annal_store_delete_stream(
    store: *const annal_store,
    stream: *const u8,
    stream_len: usize,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let stream = unsafe { args::bytes(stream, stream_len, "stream") }?;
        get(store)?.with(|s| s.delete_stream(stream))
    })
}

/// Writes what the store knows about `stream` to `*info`
/// (`ANNAL_STATUS_STREAM_NOT_FOUND` if it was never written).
///
/// # Safety
/// `stream` points to `stream_len` readable bytes; `info` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_stream_info(
    store: *const annal_store,
    stream: *const u8,
    stream_len: usize,
    info: *mut annal_stream_info,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let (out, stream) = unsafe {
            (
                Out::new(info, "info")?,
                args::bytes(stream, stream_len, "stream")?,
            )
        };
        let found = get(store)?.with(|s| s.stream_info(stream))?;
        out.write(annal_stream_info {
            revision: found.revision.map_or(0, |r| r.0),
            truncate_before: found.truncate_before.0,
            has_revision: u32::from(found.revision.is_some()),
            deleted: u32::from(found.deleted),
        });
        Ok(())
    })
}

/// Writes the position the store's next event will get to `*position`.
///
/// # Safety
/// `position` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_next_position(
    store: *const annal_store,
    position: *mut u64,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(position, "position") }?;
        out.write(get(store)?.with(|s| Ok(s.log_next_position()))?.0);
        Ok(())
    })
}

/// Writes `ANNAL_DURABILITY_BUFFERED` appends and publishes them to readers (in this
/// process and read-only stores in others), without waiting for them to be durable. A
/// read-only store has nothing to write.
#[no_mangle]
pub extern "C" fn annal_store_flush(store: *const annal_store) -> annal_status {
    guard(|| get(store)?.with(|s| s.flush()))
}

/// Writes the stream index checkpoint now (so the next open replays less).
#[no_mangle]
pub extern "C" fn annal_store_checkpoint(store: *const annal_store) -> annal_status {
    guard(|| get(store)?.with(|s| s.checkpoint()))
}

/// Removes every log segment whose events all lie before `position` (with
/// `ANNAL_TRUNCATION_BEHIND_CONSUMERS`, before the smallest checkpoint of the store's
/// consumers if that is lower; with `ANNAL_TRUNCATION_FORCED`, whatever they hold) and
/// writes the store's new first position to `*first_position` (NULL: not wanted). Only
/// whole segments go, never the active one; the index checkpoint is written first.
///
/// # Safety
/// `first_position` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_truncate_before(
    store: *const annal_store,
    position: u64,
    truncation: u32,
    first_position: *mut u64,
) -> annal_status {
    guard(|| {
        let truncation = enums::truncation(truncation)?;
        let first = get(store)?.with(|s| s.truncate_before(Position(position), truncation))?;
        // SAFETY: the contract: NULL or writable.
        unsafe { crate::log::write_optional(first_position, first.0) };
        Ok(())
    })
}

/// Writes the first position the store's log still holds to `*position`.
///
/// # Safety
/// `position` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_first_position(
    store: *const annal_store,
    position: *mut u64,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(position, "position") }?;
        out.write(get(store)?.with(|s| Ok(s.first_position()))?.0);
        Ok(())
    })
}
