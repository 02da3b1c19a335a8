//! Subscriptions to an event store: its events in position order, catch-up then live,
//! optionally one category or one event type; a blocking next with a timeout and a
//! non-blocking poll.
//!
//! Thread-safety: an `annal_store_subscription *` may move between threads but is used
//! by one thread at a time (a view is invalidated by the next call). It outlives its
//! store's close: it delivers what was published, then returns `ANNAL_STATUS_CLOSED`.
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and writing caller memory"
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use annal::{Error, RecordedEvent, StoreSubscription};

use crate::args::Out;
use crate::failure::Failure;
use crate::handle::{handle_of, id_of, Kind, Table};
use crate::options::{self, annal_subscribe_options};
use crate::panic::guard;
use crate::status::annal_status;
use crate::store::{self, annal_store};
use crate::views::annal_recorded_event;

/// A subscription to an event store. One thread at a time. Free it with
/// `annal_store_subscription_free`.
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_store_subscription {
    _private: [u8; 0],
}

struct Handle {
    subscription: StoreSubscription,
    /// The event whose view was handed out last.
    held: Option<RecordedEvent>,
    /// Set when the store this subscription follows is closed.
    store_closed: Arc<AtomicBool>,
}

static SUBSCRIPTIONS: LazyLock<Table<Handle>> =
    LazyLock::new(|| Table::new(Kind::StoreSubscription, "annal_store_subscription"));

/// Subscribes to `store` (`options` may be NULL: from the beginning, synced events, all
/// events; `ANNAL_FILTER_CATEGORY`, `ANNAL_FILTER_EVENT_TYPE` or
/// `ANNAL_FILTER_STREAM_PREFIX` with a value deliver one category, one event type or the
/// streams named with a prefix) and writes the handle to `*subscription_out`.
///
/// # Safety
/// `options` is NULL or an `annal_subscribe_options` with `struct_size` set;
/// `subscription_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_subscribe(
    store: *const annal_store,
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
        let owner = store::get(store)?;
        let subscription = owner.with(|s| s.subscribe(request.start, request.store_options()))?;
        out.write(insert(subscription, owner.closed_flag())?);
        Ok(())
    })
}

/// Hands C a store subscription; `store_closed` is its store's closed flag.
pub fn insert(
    subscription: StoreSubscription,
    store_closed: Arc<AtomicBool>,
) -> Result<*mut annal_store_subscription, Failure> {
    let handle = Handle {
        subscription,
        held: None,
        store_closed,
    };
    Ok(handle_of(SUBSCRIPTIONS.insert(handle)?))
}

/// Runs `f` on the subscription and hands C a view of the event it returns.
///
/// # Safety
/// `event` is NULL or writable.
unsafe fn next_with(
    subscription: *const annal_store_subscription,
    event: *mut annal_recorded_event,
    f: impl FnOnce(&mut StoreSubscription) -> annal::Result<Option<RecordedEvent>>,
) -> Result<(), Failure> {
    // SAFETY: the caller's contract.
    let out = unsafe { Out::new(event, "event") }?;
    let mut handle = SUBSCRIPTIONS.get_mut(id_of(subscription))?;
    handle.held = None;
    match f(&mut handle.subscription)? {
        Some(next) => {
            out.write(annal_recorded_event::of(&next));
            handle.held = Some(next);
            Ok(())
        }
        None if handle.store_closed.load(Ordering::Acquire) => Err(Error::Closed.into()),
        None => Err(Failure::no_event()),
    }
}

/// Waits up to `timeout_ms` milliseconds (`UINT64_MAX`: forever) for the next event and
/// writes it to `*event`; `ANNAL_STATUS_NO_EVENT` if none came in time;
/// `ANNAL_STATUS_CLOSED` once caught up with a closed store. The view is valid until the
/// next call on this subscription or its free.
///
/// # Safety
/// `event` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_subscription_next(
    subscription: *const annal_store_subscription,
    timeout_ms: u64,
    event: *mut annal_recorded_event,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        unsafe {
            next_with(subscription, event, |s| {
                s.next(Duration::from_millis(timeout_ms))
            })
        }
    })
}

/// Writes the next event to `*event` if one is published already, without waiting;
/// `ANNAL_STATUS_NO_EVENT` if none is; `ANNAL_STATUS_CLOSED` once caught up with a
/// closed store. The view is valid until the next call on this subscription or its free.
///
/// # Safety
/// `event` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_subscription_poll(
    subscription: *const annal_store_subscription,
    event: *mut annal_recorded_event,
) -> annal_status {
    // SAFETY: the contract.
    guard(|| unsafe { next_with(subscription, event, |s| s.try_next()) })
}

/// Writes the next position the subscription will look at to `*position` (a checkpoint
/// to resume from).
///
/// # Safety
/// `position` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_subscription_position(
    subscription: *const annal_store_subscription,
    position: *mut u64,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(position, "position") }?;
        let handle = SUBSCRIPTIONS.get_mut(id_of(subscription))?;
        out.write(handle.subscription.position().0);
        Ok(())
    })
}

/// Ends and frees the subscription. NULL is a no-op; a second free returns
/// `ANNAL_STATUS_USE_AFTER_CLOSE`.
#[no_mangle]
pub extern "C" fn annal_store_subscription_free(
    subscription: *mut annal_store_subscription,
) -> annal_status {
    guard(|| {
        if !subscription.is_null() {
            SUBSCRIPTIONS.remove(id_of(subscription))?;
        }
        Ok(())
    })
}
