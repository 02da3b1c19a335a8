//! Stream handles through C: `annal_store_stream_handle` checks a stream's name once and
//! returns a handle on it; `annal_store_append_to` appends through it as
//! `annal_store_append` does with that name, skipping the name's lookup in the index
//! where the engine's remembered id still holds (`annal::StreamHandle`). A handle belongs
//! to the store that made it: the engine would append to another store's stream of the
//! same name, which a C caller holding several stores almost certainly did not mean, so
//! the boundary refuses it (`ANNAL_STATUS_INVALID_ARGUMENT`).
//!
//! Thread-safety: an `annal_stream_handle *` may be used from any number of threads at
//! once (the engine's handle is `Sync`); freeing it waits for calls in flight.
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and reading caller memory"
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use annal::{Error, StreamHandle};

use crate::args::{self, Out};
use crate::enums;
use crate::failure::Failure;
use crate::handle::{handle_of, id_of, Kind, Table};
use crate::panic::guard;
use crate::status::annal_status;
use crate::store::{self, annal_store, new_events};
use crate::types::{annal_new_event, annal_write_result};

/// A handle on one stream of one store, for appending to it again and again. Thread-safe.
/// Free it with `annal_stream_handle_free`.
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_stream_handle {
    _private: [u8; 0],
}

/// A stream handle and the store it belongs to.
struct Entry {
    stream: StreamHandle,
    /// The id of the `annal_store` that made it (ids are never reused: a store opened
    /// later in the same slot has a newer generation, so another id).
    store: usize,
    /// Set once that store is closed, for the message when the handle outlives it.
    store_closed: Arc<AtomicBool>,
}

static HANDLES: LazyLock<Table<Entry>> =
    LazyLock::new(|| Table::new(Kind::StreamHandle, "annal_stream_handle"));

/// Makes a handle on the stream `stream` of `store` (the stream need not exist yet: the
/// first append creates it) and writes it to `*handle_out`. The name is checked here,
/// with the errors `annal_store_append` gives for it: empty, longer than
/// `ANNAL_STREAM_NAME_BYTES_MAX` or holding a NUL is `ANNAL_STATUS_INVALID_ARGUMENT`.
/// The handle keeps its own copy of the name.
///
/// # Safety
/// `stream` is NULL (with `stream_len` 0) or points to `stream_len` readable bytes;
/// `handle_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_stream_handle(
    store: *const annal_store,
    stream: *const u8,
    stream_len: usize,
    handle_out: *mut *mut annal_stream_handle,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let (out, stream) = unsafe {
            (
                Out::new(handle_out, "handle_out")?,
                args::bytes(stream, stream_len, "stream")?,
            )
        };
        let owner = store::get(store)?;
        let handle = owner.with(|s| s.stream_handle(stream))?;
        out.write(handle_of(HANDLES.insert(Entry {
            stream: handle,
            store: id_of(store),
            store_closed: owner.closed_flag(),
        })?));
        Ok(())
    })
}

/// Appends `count` events to the stream of `handle`, exactly as `annal_store_append`
/// with the handle's name would (the same expected revision, events, durability,
/// result, errors and retries). For one event without an id, the lookup of the name in
/// the index is skipped while the index id the handle remembers still holds (it is
/// checked first, so a stale handle never writes elsewhere). `handle` must have been
/// made by `store`
/// (`ANNAL_STATUS_INVALID_ARGUMENT` otherwise, also once its store was closed and
/// another opened).
///
/// # Safety
/// `events` points to `count` valid `annal_new_event`; `result` is NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments, reason = "a flat C signature")]
pub unsafe extern "C" fn annal_store_append_to(
    store: *const annal_store,
    handle: *const annal_stream_handle,
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
        let events = unsafe { new_events(events, count) }?;
        let owner = store::get(store)?;
        let entry = HANDLES.get(id_of(handle))?;
        if entry.store != id_of(store) {
            return Err(another_store(&entry));
        }
        let written = owner.with(|s| s.append_to(&entry.stream, expected, &events, durability))?;
        // SAFETY: the contract: NULL or writable.
        unsafe { crate::log::write_optional(result, written.into()) };
        Ok(())
    })
}

/// The refusal of a handle used with a store that did not make it.
#[cold]
fn another_store(entry: &Entry) -> Failure {
    let closed = if entry.store_closed.load(Ordering::Acquire) {
        " (now closed)"
    } else {
        ""
    };
    Failure::Engine(Error::InvalidArgument {
        reason: format!(
            "the annal_stream_handle for stream {:?} was made by another annal_store{closed}; make one with annal_store_stream_handle on the store it appends to",
            String::from_utf8_lossy(entry.stream.name())
        ),
    })
}

/// Frees the stream handle (the stream and its events stay). NULL is a no-op; a second
/// free returns `ANNAL_STATUS_USE_AFTER_CLOSE`. A handle may be freed before or after
/// its store is closed.
#[no_mangle]
pub extern "C" fn annal_stream_handle_free(handle: *mut annal_stream_handle) -> annal_status {
    guard(|| {
        if !handle.is_null() {
            HANDLES.remove(id_of(handle))?;
        }
        Ok(())
    })
}
