//! The synchronization primitives of the wake-up protocol ([`crate::read::tail`]) and of
//! group commit ([`crate::log::group_commit`]): the standard library's, or `loom`'s
//! model-checked ones when built with `--cfg loom`, so the same code runs under the model
//! checker (`engine/tests/loom_*.rs`, run by `.ci/run`).
//!
//! Only those protocols' own modules use this facade. The rest of the engine keeps the
//! standard types, so a loom build still compiles it but never runs it.

#[cfg(loom)]
pub(crate) use loom::sync::{atomic, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{atomic, Condvar, Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning: the protocol's mutex guards no data (`()`), so a
/// thread that panicked while holding it left nothing half-changed.
pub(crate) fn lock(mutex: &Mutex<()>) -> MutexGuard<'_, ()> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
