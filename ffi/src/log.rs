//! The raw log through C: open and close, appends, flush and sync, reads by position,
//! state and retention. Readers, subscriptions and consumers of a log are in their own
//! files.
//!
//! Thread-safety: an `annal_log *` may be used from any number of threads at once
//! (appends from many threads share one fdatasync); closing it waits for calls in flight.
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and reading caller memory"
)]

use std::ffi::c_char;
use std::sync::LazyLock;

use annal::{Log, Position};

use crate::args::{self, Out};
use crate::enums;
use crate::failure::Failure;
use crate::handle::{handle_of, id_of, Kind, Ref, Table};
use crate::options::{self, annal_open_options};
use crate::owner::Owner;
use crate::panic::guard;
use crate::status::{annal_status, ANNAL_STATUS_BUFFER_TOO_SMALL};
use crate::types::{annal_appended, annal_bytes, annal_log_info};

/// An open raw log. Thread-safe. Close it with `annal_log_close`.
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_log {
    _private: [u8; 0],
}

static LOGS: LazyLock<Table<Owner<Log>>> = LazyLock::new(|| Table::new(Kind::Log, "annal_log"));

/// The log behind a handle, read-locked while the result lives (a close waits for it).
pub fn get(log: *const annal_log) -> Result<Ref<'static, Owner<Log>>, Failure> {
    LOGS.get(id_of(log))
}

/// The log a child handle (a consumer) was made from: once that log is closed, the
/// engine's `Closed`, since the child's own handle is still valid.
pub fn get_for_child(log_id: usize) -> Result<Ref<'static, Owner<Log>>, Failure> {
    LOGS.get(log_id).map_err(|failure| match failure.status() {
        crate::status::ANNAL_STATUS_USE_AFTER_CLOSE => Failure::Engine(annal::Error::Closed),
        _ => failure,
    })
}

/// Opens (creating if needed) the log in directory `dir` and writes its handle to
/// `*log_out`. `options` may be NULL (all defaults). One process opens a directory at a
/// time (`ANNAL_STATUS_LOCKED`); with `options->read_only = 1` any number of others open
/// it as followers (no lock, nothing written, following the writer).
///
/// # Safety
/// `dir` is NULL or a NUL-terminated path; `options` is NULL or an
/// `annal_open_options` with `struct_size` set; `log_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_open(
    dir: *const c_char,
    options: *const annal_open_options,
    log_out: *mut *mut annal_log,
) -> annal_status {
    guard(|| {
        // SAFETY: each pointer is NULL or valid as this function's contract says.
        let (out, dir, options) = unsafe {
            (
                Out::new(log_out, "log_out")?,
                args::path(dir, "dir")?,
                options::read_open_options(options)?,
            )
        };
        let log = if options.read_only {
            Log::open_read_only(dir, options.options)?
        } else {
            Log::open(dir, options.options)?
        };
        out.write(handle_of(LOGS.insert(Owner::new(log))?));
        Ok(())
    })
}

/// Syncs and closes the log and frees its handle, which is invalid afterwards whatever
/// this returns (the status reports the final sync). NULL is a no-op returning
/// `ANNAL_STATUS_OK`; a second close returns `ANNAL_STATUS_USE_AFTER_CLOSE`. Readers,
/// subscriptions and consumers of the log stay valid handles: subscriptions deliver what
/// was published and then return `ANNAL_STATUS_CLOSED`, consumers return
/// `ANNAL_STATUS_CLOSED`; free them as usual.
#[no_mangle]
pub extern "C" fn annal_log_close(log: *mut annal_log) -> annal_status {
    guard(|| {
        if log.is_null() {
            return Ok(());
        }
        LOGS.remove(id_of(log))?.close(Log::close)
    })
}

/// Appends one event of `len` bytes and waits for `durability` (`ANNAL_DURABILITY_*`);
/// writes where it landed to `*appended` (which may be NULL when not wanted).
///
/// # Safety
/// `data` is NULL (with `len` 0) or points to `len` readable bytes; `appended` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_append(
    log: *const annal_log,
    data: *const u8,
    len: usize,
    durability: u32,
    appended: *mut annal_appended,
) -> annal_status {
    guard(|| {
        let owner = get(log)?;
        let durability = enums::durability(durability)?;
        // SAFETY: `data` is valid for `len` bytes (the contract).
        let data = unsafe { args::bytes(data, len, "data") }?;
        crate::limits::check_event_bytes(data.len())?;
        let result = owner.with(|log| log.append(data, durability))?;
        // SAFETY: the contract: NULL or writable.
        unsafe { write_optional(appended, result.into()) };
        Ok(())
    })
}

/// Appends `count` events atomically (one record: after a crash, all or none) and
/// waits for `durability`; writes where they landed to `*appended` (NULL: not wanted).
/// The payloads are read in place, not copied before the write.
///
/// # Safety
/// `events` is NULL (with `count` 0) or points to `count` `annal_bytes`, each valid as
/// that struct says; `appended` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_append_batch(
    log: *const annal_log,
    events: *const annal_bytes,
    count: usize,
    durability: u32,
    appended: *mut annal_appended,
) -> annal_status {
    guard(|| {
        let owner = get(log)?;
        let durability = enums::durability(durability)?;
        // SAFETY: `events` and each slice it names are valid (the contract).
        let result = unsafe {
            with_byte_slices(events, count, |slices| {
                owner.with(|log| log.append_batch(slices, durability))
            })
        }?;
        // SAFETY: the contract: NULL or writable.
        unsafe { write_optional(appended, result.into()) };
        Ok(())
    })
}

/// Batches of up to this many events reach the engine from a stack array, without an
/// allocation.
const STACK_SLICES: usize = 64;

/// Runs `f` on the slices an `annal_bytes` array names, each checked (NULL only when
/// empty, not over the event limit).
///
/// # Safety
/// `events` is NULL (with `count` 0) or points to `count` `annal_bytes`, each naming
/// readable bytes, valid during the call.
pub unsafe fn with_byte_slices<R>(
    events: *const annal_bytes,
    count: usize,
    f: impl FnOnce(&[&[u8]]) -> Result<R, Failure>,
) -> Result<R, Failure> {
    // SAFETY: the caller's contract.
    let events = unsafe { args::array(events, count, "events") }?;
    let check = |event: &annal_bytes| {
        // SAFETY: each `annal_bytes` names readable bytes (the caller's contract).
        let bytes = unsafe { args::bytes(event.ptr, event.len, "events[i].ptr") }?;
        crate::limits::check_event_bytes(bytes.len())?;
        Ok::<_, Failure>(bytes)
    };
    if events.len() <= STACK_SLICES {
        let mut slices: [&[u8]; STACK_SLICES] = [&[]; STACK_SLICES];
        for (slot, event) in slices.iter_mut().zip(events) {
            *slot = check(event)?;
        }
        f(&slices[..events.len()])
    } else {
        let slices = events.iter().map(check).collect::<Result<Vec<_>, _>>()?;
        f(&slices)
    }
}

/// Writes `value` through `ptr` unless it is NULL (an optional out-parameter).
///
/// # Safety
/// `ptr` is NULL or writable.
pub unsafe fn write_optional<T>(ptr: *mut T, value: T) {
    // Checked here, not through `Out::new`, whose NULL error (a formatted message) would
    // cost an allocation on every call that does not want the result.
    if ptr.is_null() {
        return;
    }
    // SAFETY: non-NULL, and writable by the caller's contract.
    let out = unsafe { Out::new(ptr, "optional") };
    if let Ok(out) = out {
        out.write(value);
    }
}

/// Writes buffered appends and publishes them to readers, without waiting for durability.
#[no_mangle]
pub extern "C" fn annal_log_flush(log: *const annal_log) -> annal_status {
    guard(|| get(log)?.with(|log| log.flush()))
}

/// Makes every event appended so far durable (one fdatasync, shared with concurrent
/// synced appends).
#[no_mangle]
pub extern "C" fn annal_log_sync(log: *const annal_log) -> annal_status {
    guard(|| get(log)?.with(|log| log.sync()))
}

/// Writes to `*size` the payload length of the event at `position`, so a caller can size
/// the buffer for `annal_log_read`.
///
/// # Safety
/// `size` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_read_size(
    log: *const annal_log,
    position: u64,
    size: *mut usize,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(size, "size") }?;
        let event = get(log)?.with(|log| log.read(Position(position)))?;
        out.write(event.payload.len());
        Ok(())
    })
}

/// Copies the payload of the event at `position` into `buffer` (`buffer_len` bytes) and
/// writes its length to `*payload_len`. `ANNAL_STATUS_BUFFER_TOO_SMALL` writes nothing:
/// `annal_log_read_size` tells the size needed. For zero-copy reads use a reader.
///
/// # Safety
/// `buffer` is NULL (with `buffer_len` 0) or points to `buffer_len` writable bytes;
/// `payload_len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_read(
    log: *const annal_log,
    position: u64,
    buffer: *mut u8,
    buffer_len: usize,
    payload_len: *mut usize,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(payload_len, "payload_len") }?;
        let event = get(log)?.with(|log| log.read(Position(position)))?;
        let payload = &event.payload[..];
        if payload.len() > buffer_len {
            return Err(Failure::boundary(
                ANNAL_STATUS_BUFFER_TOO_SMALL,
                format!(
                    "the event at position {position} has {} bytes; the buffer holds {buffer_len}",
                    payload.len()
                ),
            ));
        }
        if !payload.is_empty() {
            if buffer.is_null() {
                return Err(Failure::boundary(
                    crate::status::ANNAL_STATUS_NULL_ARGUMENT,
                    "buffer is NULL",
                ));
            }
            // SAFETY: `buffer` is non-NULL with `buffer_len >= payload.len()` writable
            // bytes (the contract, checked above); the payload is in the log's read-only
            // mapping, which a caller's writable buffer cannot overlap.
            unsafe { std::ptr::copy_nonoverlapping(payload.as_ptr(), buffer, payload.len()) };
        }
        out.write(payload.len());
        Ok(())
    })
}

/// Writes a snapshot of the log's positions and health to `*state`.
///
/// # Safety
/// `state` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_state(
    log: *const annal_log,
    state: *mut annal_log_info,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(state, "state") }?;
        let snapshot = get(log)?.with(|log| {
            let first = log.first_position().0;
            Ok(annal_log_info {
                first_position: first,
                next_position: log.next_position().0,
                written_position: log.last_written().map_or(first, |p| p.0 + 1),
                synced_position: log.last_synced().map_or(first, |p| p.0 + 1),
                poisoned: u32::from(log.is_poisoned()),
                reserved: 0,
            })
        })?;
        out.write(snapshot);
        Ok(())
    })
}

/// Removes whole segments holding only events before `position` (retention) and writes
/// the log's new first position to `*first_position` (NULL: not wanted).
///
/// # Safety
/// `first_position` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_truncate_before(
    log: *const annal_log,
    position: u64,
    first_position: *mut u64,
) -> annal_status {
    guard(|| {
        let first = get(log)?.with(|log| log.truncate_before(Position(position)))?;
        // SAFETY: the contract: NULL or writable.
        unsafe { write_optional(first_position, first.0) };
        Ok(())
    })
}
