//! Durable consumers of a raw log: named checkpoints stored in the log directory. A
//! consumer handle names its consumer and keeps its log's owner, and looks the consumer
//! up on each call (cheap: a map lookup), so it never borrows a log that C may close.
//! Store consumers have their own `annal_store_consumer_*` functions
//! (`store_consumer.rs`); both list into an `annal_consumer_list`.
//!
//! Thread-safety: an `annal_consumer *` may be used from several threads at once (the
//! engine serializes commits); an `annal_consumer_list *` too (it is immutable).
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and reading caller memory"
)]

use std::ffi::c_char;
use std::sync::LazyLock;

use annal::{ConsumerInfo, Position};

use crate::args::{self, Out};
use crate::enums;
use crate::failure::Failure;
use crate::handle::{handle_of, id_of, Kind, Ref, Table};
use crate::log::{self, annal_log, with_byte_slices, write_optional};
use crate::panic::guard;
use crate::status::{annal_status, ANNAL_STATUS_INVALID_LENGTH};
use crate::subscription::{self, annal_subscription};
use crate::types::{annal_appended, annal_bytes};

/// A durable consumer of a raw log. Thread-safe. Free it with `annal_consumer_free`
/// (that does not delete the consumer: `annal_consumer_delete` does).
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_consumer {
    _private: [u8; 0],
}

/// A snapshot of a log's consumers. Thread-safe (immutable). Free it with
/// `annal_consumer_list_free`.
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_consumer_list {
    _private: [u8; 0],
}

/// A consumer as listed: its name (not NUL-terminated) and committed checkpoint. `name`
/// is valid until the list that returned it is freed.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_consumer_info {
    /// The name's bytes (ASCII).
    pub name: *const u8,
    /// Length of `name`.
    pub name_len: usize,
    /// The next position the consumer has to handle.
    pub checkpoint: u64,
}

/// A consumer handle: its log's handle id (a closed log makes its calls `Closed`) and
/// the consumer's name, looked up on each call.
struct ConsumerHandle {
    log_id: usize,
    name: String,
}

impl ConsumerHandle {
    fn with<R>(&self, f: impl FnOnce(annal::Consumer) -> annal::Result<R>) -> Result<R, Failure> {
        log::get_for_child(self.log_id)?.with(|log| f(log.consumer(&self.name)?))
    }
}

static CONSUMERS: LazyLock<Table<ConsumerHandle>> =
    LazyLock::new(|| Table::new(Kind::Consumer, "annal_consumer"));
static LISTS: LazyLock<Table<Vec<ConsumerInfo>>> =
    LazyLock::new(|| Table::new(Kind::ConsumerList, "annal_consumer_list"));

/// Hands C a consumer list.
pub fn insert_list(consumers: Vec<ConsumerInfo>) -> Result<*mut annal_consumer_list, Failure> {
    Ok(handle_of(LISTS.insert(consumers)?))
}

fn consumer(handle: *const annal_consumer) -> Result<Ref<'static, ConsumerHandle>, Failure> {
    CONSUMERS.get(id_of(handle))
}

/// Creates the consumer `name` (1 to 64 ASCII letters, digits, `-`, `_`, `.`; not
/// starting with `.`) with its checkpoint at `start` (`ANNAL_START_*` and a position),
/// durably, and writes its handle to `*consumer_out`.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `consumer_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_consumer_create(
    log: *const annal_log,
    name: *const c_char,
    start: u32,
    start_position: u64,
    consumer_out: *mut *mut annal_consumer,
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
        let owner = log::get(log)?;
        owner.with(|log| log.create_consumer(name, start).map(drop))?;
        out.write(handle_of(CONSUMERS.insert(ConsumerHandle {
            log_id: id_of(log),
            name: name.to_owned(),
        })?));
        Ok(())
    })
}

/// Opens the existing consumer `name` (`ANNAL_STATUS_UNKNOWN_CONSUMER` if there is none)
/// and writes its handle to `*consumer_out`.
///
/// # Safety
/// `name` is NULL or NUL-terminated; `consumer_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_consumer_open(
    log: *const annal_log,
    name: *const c_char,
    consumer_out: *mut *mut annal_consumer,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let (out, name) = unsafe {
            (
                Out::new(consumer_out, "consumer_out")?,
                args::utf8(name, "name")?,
            )
        };
        let owner = log::get(log)?;
        owner.with(|log| log.consumer(name).map(drop))?;
        out.write(handle_of(CONSUMERS.insert(ConsumerHandle {
            log_id: id_of(log),
            name: name.to_owned(),
        })?));
        Ok(())
    })
}

/// Deletes the consumer `name` from the log (its handles then return
/// `ANNAL_STATUS_UNKNOWN_CONSUMER`).
///
/// # Safety
/// `name` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn annal_consumer_delete(
    log: *const annal_log,
    name: *const c_char,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let name = unsafe { args::utf8(name, "name") }?;
        log::get(log)?.with(|log| log.delete_consumer(name))
    })
}

/// Writes the consumer's committed checkpoint (the next position it has to handle) to
/// `*checkpoint`.
///
/// # Safety
/// `checkpoint` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_consumer_checkpoint(
    consumer: *const annal_consumer,
    checkpoint: *mut u64,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(checkpoint, "checkpoint") }?;
        let position = self::consumer(consumer)?.with(|c| c.checkpoint())?;
        out.write(position.0);
        Ok(())
    })
}

/// Subscribes from the consumer's checkpoint, seeing events up to the watermark
/// `visibility` (`ANNAL_VISIBILITY_*`), and writes the handle to `*subscription_out`.
///
/// # Safety
/// `subscription_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_consumer_subscribe(
    consumer: *const annal_consumer,
    visibility: u32,
    subscription_out: *mut *mut annal_subscription,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(subscription_out, "subscription_out") }?;
        let visibility = enums::visibility(visibility)?;
        let handle = self::consumer(consumer)?;
        let options = annal::SubscriptionOptions::default().visibility(visibility);
        let owner = log::get_for_child(handle.log_id)?;
        let subscription = owner.with(|log| log.consumer(&handle.name)?.subscribe_with(options))?;
        out.write(subscription::insert(subscription, owner.closed_flag())?);
        Ok(())
    })
}

/// Commits the checkpoint `position` (every event before it is handled); durable when
/// this returns.
#[no_mangle]
pub extern "C" fn annal_consumer_commit(
    consumer: *const annal_consumer,
    position: u64,
) -> annal_status {
    guard(|| self::consumer(consumer)?.with(|c| c.commit(Position(position))))
}

/// Appends `count` events and commits the checkpoint `position` in the same record:
/// after any crash, both or neither. Waits for `durability`; writes where the events
/// landed to `*appended` (NULL: not wanted).
///
/// # Safety
/// `events` is NULL (with `count` 0) or points to `count` valid `annal_bytes`;
/// `appended` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_consumer_append_and_commit(
    consumer: *const annal_consumer,
    events: *const annal_bytes,
    count: usize,
    position: u64,
    durability: u32,
    appended: *mut annal_appended,
) -> annal_status {
    guard(|| {
        let durability = enums::durability(durability)?;
        let handle = self::consumer(consumer)?;
        // SAFETY: the contract: `events` and each slice it names are valid.
        let result = unsafe {
            with_byte_slices(events, count, |slices| {
                handle.with(|c| c.append_and_commit(slices, Position(position), durability))
            })
        }?;
        // SAFETY: the contract: NULL or writable.
        unsafe { write_optional(appended, result.into()) };
        Ok(())
    })
}

/// Frees the consumer handle (the consumer itself stays). NULL is a no-op; a second free
/// returns `ANNAL_STATUS_USE_AFTER_CLOSE`.
#[no_mangle]
pub extern "C" fn annal_consumer_free(consumer: *mut annal_consumer) -> annal_status {
    guard(|| {
        if !consumer.is_null() {
            CONSUMERS.remove(id_of(consumer))?;
        }
        Ok(())
    })
}

/// Lists the log's consumers and writes the list's handle to `*list_out`.
///
/// # Safety
/// `list_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_consumers(
    log: *const annal_log,
    list_out: *mut *mut annal_consumer_list,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(list_out, "list_out") }?;
        let consumers = log::get(log)?.with(|log| Ok(log.consumers()))?;
        out.write(insert_list(consumers)?);
        Ok(())
    })
}

/// Writes how many consumers the list holds to `*count`.
///
/// # Safety
/// `count` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_consumer_list_count(
    list: *const annal_consumer_list,
    count: *mut usize,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(count, "count") }?;
        out.write(LISTS.get(id_of(list))?.len());
        Ok(())
    })
}

/// Writes the list's consumer at `index` to `*info`; its name is valid until the list is
/// freed. An index past the end is `ANNAL_STATUS_INVALID_LENGTH`.
///
/// # Safety
/// `info` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_consumer_list_get(
    list: *const annal_consumer_list,
    index: usize,
    info: *mut annal_consumer_info,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(info, "info") }?;
        let list = LISTS.get(id_of(list))?;
        let entry = list.get(index).ok_or_else(|| {
            Failure::boundary(
                ANNAL_STATUS_INVALID_LENGTH,
                format!("index {index} is past the list's {} consumers", list.len()),
            )
        })?;
        out.write(annal_consumer_info {
            name: entry.name.as_ptr(),
            name_len: entry.name.len(),
            checkpoint: entry.checkpoint.0,
        });
        Ok(())
    })
}

/// Frees the list (and the names it handed out). NULL is a no-op; a second free returns
/// `ANNAL_STATUS_USE_AFTER_CLOSE`.
#[no_mangle]
pub extern "C" fn annal_consumer_list_free(list: *mut annal_consumer_list) -> annal_status {
    guard(|| {
        if !list.is_null() {
            LISTS.remove(id_of(list))?;
        }
        Ok(())
    })
}
