//! Subscriptions to a raw log (from `annal_log_subscribe` or a consumer): catch-up, then
//! live; a blocking next with a timeout and a non-blocking poll, zero-copy.
//!
//! Thread-safety: an `annal_subscription *` may move between threads but is used by one
//! thread at a time (calls are serialized; a view is invalidated by the next call). A
//! subscription outlives its log's close: it delivers what was published, then returns
//! `ANNAL_STATUS_CLOSED`.
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and writing caller memory"
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use annal::{Error, Event, Subscription};

use crate::args::Out;
use crate::failure::Failure;
use crate::handle::{handle_of, id_of, Kind, Table};
use crate::log::{self, annal_log};
use crate::options::{self, annal_subscribe_options};
use crate::panic::guard;
use crate::status::annal_status;
use crate::views::annal_event_view;

/// A subscription to a raw log. One thread at a time. Free it with
/// `annal_subscription_free`.
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_subscription {
    _private: [u8; 0],
}

struct SubscriptionHandle {
    subscription: Subscription,
    /// The event whose view was handed out last.
    held: Option<Event>,
    /// Set when the log this subscription follows is closed.
    log_closed: Arc<AtomicBool>,
}

static SUBSCRIPTIONS: LazyLock<Table<SubscriptionHandle>> =
    LazyLock::new(|| Table::new(Kind::Subscription, "annal_subscription"));

/// Registers `subscription` (of a log whose close sets `log_closed`) and returns its handle.
pub fn insert(
    subscription: Subscription,
    log_closed: Arc<AtomicBool>,
) -> Result<*mut annal_subscription, Failure> {
    let id = SUBSCRIPTIONS.insert(SubscriptionHandle {
        subscription,
        held: None,
        log_closed,
    })?;
    Ok(handle_of(id))
}

/// Subscribes to `log` (`options` may be NULL: from the beginning, synced events; the
/// filter must be `ANNAL_FILTER_ALL`) and writes the handle to `*subscription_out`.
///
/// # Safety
/// `options` is NULL or an `annal_subscribe_options` with `struct_size` set;
/// `subscription_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_subscribe(
    log: *const annal_log,
    options: *const annal_subscribe_options,
    subscription_out: *mut *mut annal_subscription,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let (out, request) = unsafe {
            (
                Out::new(subscription_out, "subscription_out")?,
                options::read_subscribe_options(options)?,
            )
        };
        let options = request.log_options()?;
        let owner = log::get(log)?;
        let subscription = owner.with(|log| log.subscribe_with(request.start, options))?;
        out.write(insert(subscription, owner.closed_flag())?);
        Ok(())
    })
}

/// Runs `f` on the subscription, holding the view's event it returns.
///
/// # Safety
/// `event` is NULL or writable.
unsafe fn next_with(
    subscription: *const annal_subscription,
    event: *mut annal_event_view,
    f: impl FnOnce(&mut Subscription) -> annal::Result<Option<Event>>,
) -> Result<(), Failure> {
    // SAFETY: the caller's contract.
    let out = unsafe { Out::new(event, "event") }?;
    let mut handle = SUBSCRIPTIONS.get_mut(id_of(subscription))?;
    handle.held = None;
    match f(&mut handle.subscription)? {
        Some(next) => {
            out.write(annal_event_view::of(&next));
            handle.held = Some(next);
            Ok(())
        }
        None if handle.log_closed.load(Ordering::Acquire) => Err(Error::Closed.into()),
        None => Err(Failure::no_event()),
    }
}

/// Waits up to `timeout_ms` milliseconds (`UINT64_MAX`: forever) for the next event and
/// writes it to `*event`; `ANNAL_STATUS_NO_EVENT` if none came in time;
/// `ANNAL_STATUS_CLOSED` once caught up with a closed log. The view is valid until the
/// next call on this subscription or its free.
///
/// # Safety
/// `event` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_subscription_next(
    subscription: *const annal_subscription,
    timeout_ms: u64,
    event: *mut annal_event_view,
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
/// closed log. The view is valid until the next call on this subscription or its free.
///
/// # Safety
/// `event` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_subscription_poll(
    subscription: *const annal_subscription,
    event: *mut annal_event_view,
) -> annal_status {
    // SAFETY: the contract.
    guard(|| unsafe { next_with(subscription, event, |s| s.try_next()) })
}

/// Writes the next position the subscription will scan to `*position`: every event
/// before it was delivered. After handling an event, this is the checkpoint to commit.
///
/// # Safety
/// `position` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_subscription_position(
    subscription: *const annal_subscription,
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
pub extern "C" fn annal_subscription_free(subscription: *mut annal_subscription) -> annal_status {
    guard(|| {
        if !subscription.is_null() {
            SUBSCRIPTIONS.remove(id_of(subscription))?;
        }
        Ok(())
    })
}
