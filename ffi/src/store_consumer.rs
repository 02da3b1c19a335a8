//! Durable consumers of an event store: named checkpoints stored with the store,
//! delivering its decoded events, and the exactly-once step that appends the events a
//! reaction causes and moves the checkpoint in one record. A handle owns the engine's
//! `StoreConsumer` (no borrow of the store): once its store is closed, its calls return
//! `ANNAL_STATUS_CLOSED`; once the consumer is deleted, `ANNAL_STATUS_UNKNOWN_CONSUMER`.
//!
//! Thread-safety: an `annal_store_consumer *` may be used from several threads at once
//! (the engine serializes commits).
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and reading caller memory"
)]

use std::ffi::c_char;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, LazyLock};

use annal::{Position, Start, StoreConsumer};

use crate::args::{self, Out};
use crate::consumer::{self, annal_consumer_list};
use crate::enums;
use crate::failure::Failure;
use crate::handle::{handle_of, id_of, Kind, Ref, Table};
use crate::options::{self, annal_subscribe_options};
use crate::panic::guard;
use crate::status::{annal_status, ANNAL_STATUS_INVALID_ARGUMENT};
use crate::store::{self, annal_store, stream_appends};
use crate::store_subscription::{self, annal_store_subscription};
use crate::types::{annal_stream_append, annal_write_result};

/// A durable consumer of an event store. Thread-safe. Free it with
/// `annal_store_consumer_free` (that does not delete the consumer:
/// `annal_store_consumer_delete` does).
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_store_consumer {
    _private: [u8; 0],
}

/// A store consumer handle: the engine's consumer and its store's closed flag, which
/// the subscriptions it makes read.
struct Handle {
    consumer: StoreConsumer,
    store_closed: Arc<AtomicBool>,
}

static CONSUMERS: LazyLock<Table<Handle>> =
    LazyLock::new(|| Table::new(Kind::StoreConsumer, "annal_store_consumer"));

fn get(handle: *const annal_store_consumer) -> Result<Ref<'static, Handle>, Failure> {
    CONSUMERS.get(id_of(handle))
}

/// Opens or creates a consumer through `make` and writes its handle to `out`.
fn insert(
    store: *const annal_store,
    out: Out<*mut annal_store_consumer>,
    make: impl FnOnce(&annal::EventStore) -> annal::Result<StoreConsumer>,
) -> Result<(), Failure> {
    let owner = store::get(store)?;
    let consumer = owner.with(make)?;
    out.write(handle_of(CONSUMERS.insert(Handle {
        consumer,
        store_closed: owner.closed_flag(),
    })?));
    Ok(())
}

/// Creates the store consumer `name` (1 to 64 ASCII letters, digits, `-`, `_`, `.`; not
/// starting with `.`) with its checkpoint at `start` (`ANNAL_START_*` and a position),
/// durably, and writes its handle to `*consumer_out`. `ANNAL_STATUS_CONSUMER_EXISTS` if
/// there is one of that name.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `consumer_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_consumer_create(
    store: *const annal_store,
    name: *const c_char,
    start: u32,
    start_position: u64,
    consumer_out: *mut *mut annal_store_consumer,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let (out, name) = unsafe {
            (
                Out::new(consumer_out, "consumer_out")?,
                args::utf8(name, "name")?,
            )
        };
        let start = enums::start(start, start_position)?;
        insert(store, out, |s| s.create_consumer(name, start))
    })
}

/// Opens the existing store consumer `name` (`ANNAL_STATUS_UNKNOWN_CONSUMER` if there is
/// none) and writes its handle to `*consumer_out`.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `consumer_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_consumer_open(
    store: *const annal_store,
    name: *const c_char,
    consumer_out: *mut *mut annal_store_consumer,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let (out, name) = unsafe {
            (
                Out::new(consumer_out, "consumer_out")?,
                args::utf8(name, "name")?,
            )
        };
        insert(store, out, |s| s.consumer(name))
    })
}

/// Deletes the store consumer `name` (its handles then return
/// `ANNAL_STATUS_UNKNOWN_CONSUMER`).
///
/// # Safety
/// `name` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn annal_store_consumer_delete(
    store: *const annal_store,
    name: *const c_char,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let name = unsafe { args::utf8(name, "name") }?;
        store::get(store)?.with(|s| s.delete_consumer(name))
    })
}

/// Lists the store's consumers (names and checkpoints) and writes the list's handle to
/// `*list_out` (read it with `annal_consumer_list_*`).
///
/// # Safety
/// `list_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_consumers(
    store: *const annal_store,
    list_out: *mut *mut annal_consumer_list,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(list_out, "list_out") }?;
        let consumers = store::get(store)?.with(|s| Ok(s.consumers()))?;
        out.write(consumer::insert_list(consumers)?);
        Ok(())
    })
}

/// Writes the consumer's committed checkpoint (the next position it has to handle) to
/// `*checkpoint`.
///
/// # Safety
/// `checkpoint` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_consumer_checkpoint(
    consumer: *const annal_store_consumer,
    checkpoint: *mut u64,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(checkpoint, "checkpoint") }?;
        let position = get(consumer)?.consumer.checkpoint()?;
        out.write(position.0);
        Ok(())
    })
}

/// Subscribes from the consumer's checkpoint and writes the handle to
/// `*subscription_out`. `options` (NULL: synced events, all of them) gives the
/// visibility and a filter; its start fields must be zero (a consumer starts at its
/// checkpoint), else `ANNAL_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `options` is NULL or an `annal_subscribe_options` with `struct_size` set;
/// `subscription_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_consumer_subscribe(
    consumer: *const annal_store_consumer,
    options: *const annal_subscribe_options,
    subscription_out: *mut *mut annal_store_subscription,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let (out, request) = unsafe {
            (
                Out::new(subscription_out, "subscription_out")?,
                options::read_subscribe_options(options)?,
            )
        };
        if !matches!(request.start, Start::Beginning) || request.start_position != 0 {
            return Err(Failure::boundary(
                ANNAL_STATUS_INVALID_ARGUMENT,
                "a consumer's subscription starts at its checkpoint: options->start and options->start_position must be 0",
            ));
        }
        let handle = get(consumer)?;
        let subscription = handle.consumer.subscribe_with(request.store_options())?;
        out.write(store_subscription::insert(
            subscription,
            Arc::clone(&handle.store_closed),
        )?);
        Ok(())
    })
}

/// Commits the checkpoint `position` alone (every event before it is handled); durable
/// when this returns. `ANNAL_STATUS_CHECKPOINT_REGRESSION` for an earlier position,
/// `ANNAL_STATUS_POSITION_OUT_OF_RANGE` past the end of the log.
#[no_mangle]
pub extern "C" fn annal_store_consumer_commit(
    consumer: *const annal_store_consumer,
    position: u64,
) -> annal_status {
    guard(|| Ok(get(consumer)?.consumer.commit(Position(position))?))
}

/// The exactly-once step: appends to `count` streams (each with its expectation; give
/// the events ids) and moves the consumer's checkpoint to `position`, in one record:
/// after any crash both are there or neither is. Waits for `durability`; writes one
/// result per append to `results[0..count]` (NULL: not wanted). A retry of the same step
/// (the same event ids) writes nothing and returns the original results, also once the
/// checkpoint has moved past `position`. A failed expectation writes nothing and leaves
/// the checkpoint.
///
/// # Safety
/// `appends` points to `count` valid `annal_stream_append`; `results` is NULL or points
/// to `count` writable `annal_write_result`.
#[no_mangle]
pub unsafe extern "C" fn annal_store_consumer_append_and_commit(
    consumer: *const annal_store_consumer,
    appends: *const annal_stream_append,
    count: usize,
    position: u64,
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
        let written = get(consumer)?.consumer.append_and_commit(
            &engine_appends,
            Position(position),
            durability,
        )?;
        if let Some(results) = results {
            for (slot, result) in results.iter_mut().zip(written) {
                slot.write(result.into());
            }
        }
        Ok(())
    })
}

/// Frees the consumer handle (the consumer itself stays). NULL is a no-op; a second free
/// returns `ANNAL_STATUS_USE_AFTER_CLOSE`.
#[no_mangle]
pub extern "C" fn annal_store_consumer_free(consumer: *mut annal_store_consumer) -> annal_status {
    guard(|| {
        if !consumer.is_null() {
            CONSUMERS.remove(id_of(consumer))?;
        }
        Ok(())
    })
}
