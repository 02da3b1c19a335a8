//! Readers of a raw log: iterate events from a position up to the watermark, zero-copy.
//!
//! Thread-safety: an `annal_reader *` may move between threads but is used by one thread
//! at a time (calls are serialized; a view returned by one call is invalidated by the
//! next call from any thread).
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and writing caller memory"
)]

use std::sync::LazyLock;

use annal::{Event, LogReader, Position, Visibility};

use crate::args::{self, Out};
use crate::enums;
use crate::failure::Failure;
use crate::handle::{handle_of, id_of, Kind, Table};
use crate::log::{self, annal_log};
use crate::panic::guard;
use crate::status::annal_status;
use crate::views::annal_event_view;

/// A reader of a raw log, from a position up to the watermark it was asked to see.
/// One thread at a time. Free it with `annal_reader_free`.
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_reader {
    _private: [u8; 0],
}

/// A reader and the events whose views it last handed out (kept alive until the next
/// call).
struct ReaderState {
    reader: LogReader,
    held: Vec<Event>,
}

static READERS: LazyLock<Table<ReaderState>> =
    LazyLock::new(|| Table::new(Kind::Reader, "annal_reader"));

/// Opens a reader of `log` from `position`, seeing events up to the written or the
/// synced watermark (`ANNAL_VISIBILITY_*`), and writes its handle to `*reader_out`.
///
/// # Safety
/// `reader_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_read_from(
    log: *const annal_log,
    position: u64,
    visibility: u32,
    reader_out: *mut *mut annal_reader,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(reader_out, "reader_out") }?;
        let owner = log::get(log)?;
        let visibility = enums::visibility(visibility)?;
        let reader = owner.with(|log| match visibility {
            Visibility::Written => log.read_from(Position(position)),
            Visibility::Synced => log.read_synced_from(Position(position)),
        })?;
        let state = ReaderState {
            reader,
            held: Vec::new(),
        };
        out.write(handle_of(READERS.insert(state)?));
        Ok(())
    })
}

fn with_state<R>(
    reader: *const annal_reader,
    f: impl FnOnce(&mut ReaderState) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let mut state = READERS.get_mut(id_of(reader))?;
    f(&mut state)
}

/// Writes the next event to `*event`, or returns `ANNAL_STATUS_NO_EVENT` at the
/// watermark (a later call may find more). The view is valid until the next call on this
/// reader or its free.
///
/// # Safety
/// `event` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_reader_next(
    reader: *const annal_reader,
    event: *mut annal_event_view,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(event, "event") }?;
        with_state(reader, |state| {
            // The view borrows the reader's mapping (no reference count per event):
            // valid until the reader moves on, which is the view's contract.
            state.held.clear();
            match state.reader.next_borrowed() {
                Some(next) => {
                    let (position, payload) = next?;
                    out.write(annal_event_view::borrowed(position, payload));
                    Ok(())
                }
                None => Err(Failure::no_event()),
            }
        })
    })
}

/// Writes up to `capacity` next events to `events[0..]` and their number to `*count`,
/// or returns `ANNAL_STATUS_NO_EVENT` at the watermark. The views are valid until the
/// next call on this reader or its free.
///
/// # Safety
/// `events` points to `capacity` writable `annal_event_view`; `count` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn annal_reader_next_batch(
    reader: *const annal_reader,
    events: *mut annal_event_view,
    capacity: usize,
    count: *mut usize,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out_count = unsafe { Out::new(count, "count") }?;
        // SAFETY: the contract: `capacity` writable views at `events`.
        let views = unsafe { args::out_array(events, capacity, "events") }?;
        with_state(reader, |state| {
            state.held.clear();
            let added = state.reader.next_batch(views.len(), &mut state.held)?;
            if added == 0 {
                return Err(Failure::no_event());
            }
            for (view, event) in views.iter_mut().zip(&state.held) {
                view.write(annal_event_view::of(event));
            }
            out_count.write(added);
            Ok(())
        })
    })
}

/// Writes the position of the next event this reader will return to `*position`.
///
/// # Safety
/// `position` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_reader_position(
    reader: *const annal_reader,
    position: *mut u64,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(position, "position") }?;
        let next = with_state(reader, |state| Ok(state.reader.position()))?;
        out.write(next.0);
        Ok(())
    })
}

/// Frees the reader (and the views it handed out). NULL is a no-op; a second free
/// returns `ANNAL_STATUS_USE_AFTER_CLOSE`.
#[no_mangle]
pub extern "C" fn annal_reader_free(reader: *mut annal_reader) -> annal_status {
    guard(|| {
        if !reader.is_null() {
            READERS.remove(id_of(reader))?;
        }
        Ok(())
    })
}
