//! The panic boundary: every export runs its body through [`guard`] (or
//! [`guard_value`]), so a panic becomes `ANNAL_STATUS_PANIC` and never unwinds into C.
//! Built with `panic = "abort"`, a panic aborts the process instead: this crate relies on
//! the default `panic = "unwind"`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::failure::Failure;
use crate::last_error;
use crate::status::{annal_status, ANNAL_STATUS_OK, ANNAL_STATUS_PANIC};

/// Runs an export's body: `Ok` is `ANNAL_STATUS_OK`; a failure records the calling
/// thread's last error and returns its status; a panic is caught and returned as
/// `ANNAL_STATUS_PANIC`. Handles keep working after a panic: their locks ignore poisoning
/// and every handle's state stays valid between the engine's calls.
pub fn guard(body: impl FnOnce() -> Result<(), Failure>) -> annal_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => ANNAL_STATUS_OK,
        Ok(Err(failure)) => last_error::record(failure),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with no message".to_owned());
            last_error::set(ANNAL_STATUS_PANIC, format!("annal panicked: {message}"));
            ANNAL_STATUS_PANIC
        }
    }
}

/// Runs an infallible export's body, returning `fallback` if it panicked.
pub fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}
