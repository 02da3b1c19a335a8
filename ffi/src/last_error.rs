//! The calling thread's last error: its status and message, kept per thread until the
//! next failing call on that thread replaces it. Successful calls leave it alone.
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and copying into a caller buffer"
)]

use std::cell::RefCell;
use std::ffi::c_char;

use crate::args::Out;
use crate::failure::Failure;
use crate::panic::{guard, guard_value};
use crate::status::{
    annal_status, ANNAL_STATUS_BUFFER_TOO_SMALL, ANNAL_STATUS_NULL_ARGUMENT, ANNAL_STATUS_OK,
};

struct LastError {
    status: annal_status,
    /// The message without interior NULs (replaced), not NUL-terminated.
    message: String,
}

thread_local! {
    static LAST: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

/// Records `failure` as the thread's last error (unless it is quiet) and returns its
/// status.
pub fn record(failure: Failure) -> annal_status {
    let status = failure.status();
    match failure {
        Failure::Engine(error) => set(status, error.to_string()),
        Failure::Boundary { message, .. } => set(status, message),
        Failure::Quiet(_) => {}
    }
    status
}

/// Sets the thread's last error.
pub fn set(status: annal_status, message: String) {
    let message = message.replace('\0', "\u{fffd}");
    // `try_with`: during thread teardown the slot may be gone; the status still returns.
    let _ = LAST.try_with(|last| *last.borrow_mut() = Some(LastError { status, message }));
}

fn with_last<R>(f: impl FnOnce(Option<&LastError>) -> R) -> R {
    LAST.with(|last| f(last.borrow().as_ref()))
}

/// The status of the calling thread's last failed call, `ANNAL_STATUS_OK` (0) if none
/// failed yet. Thread-safe (per thread).
#[no_mangle]
pub extern "C" fn annal_last_error_status() -> annal_status {
    guard_value(ANNAL_STATUS_OK, || {
        with_last(|last| last.map_or(ANNAL_STATUS_OK, |e| e.status))
    })
}

/// Writes to `*message_len` the length in bytes of the calling thread's last error
/// message, without its terminating NUL (0 when no call failed yet). Does not change the
/// last error.
///
/// # Safety
/// `message_len` is NULL or points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn annal_last_error_length(message_len: *mut usize) -> annal_status {
    guard_quietly(|| {
        // SAFETY: the caller passes NULL or a writable size_t (this function's contract).
        let out = unsafe { Out::new(message_len, "message_len") }?;
        out.write(with_last(|last| last.map_or(0, |e| e.message.len())));
        Ok(())
    })
}

/// Copies the calling thread's last error message, NUL-terminated, into `buffer`
/// (`buffer_len` bytes) and writes its length without the NUL to `*message_len`. Returns
/// `ANNAL_STATUS_BUFFER_TOO_SMALL`, writing nothing, if the message and its NUL do not
/// fit: `annal_last_error_length` tells the size to allocate (plus one). An empty message
/// when no call failed yet. Does not change the last error.
///
/// # Safety
/// `buffer` is NULL or points to `buffer_len` writable bytes; `message_len` is NULL or
/// points to a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn annal_last_error_message(
    buffer: *mut c_char,
    buffer_len: usize,
    message_len: *mut usize,
) -> annal_status {
    guard_quietly(|| {
        // SAFETY: the caller passes NULL or a writable size_t (this function's contract).
        let out_len = unsafe { Out::new(message_len, "message_len") }?;
        if buffer.is_null() {
            return Err(Failure::boundary(
                ANNAL_STATUS_NULL_ARGUMENT,
                "buffer is NULL",
            ));
        }
        with_last(|last| {
            let message = last.map_or("", |e| e.message.as_str());
            if message.len() >= buffer_len {
                return Err(Failure::boundary(
                    ANNAL_STATUS_BUFFER_TOO_SMALL,
                    "the buffer is too small for the message and its NUL",
                ));
            }
            // SAFETY: `buffer` is non-NULL and points to `buffer_len` writable bytes (the
            // contract); `message.len() + 1 <= buffer_len` was checked just above, and the
            // message (a Rust String) cannot overlap the caller's buffer.
            unsafe {
                std::ptr::copy_nonoverlapping(message.as_ptr(), buffer.cast::<u8>(), message.len());
                buffer.add(message.len()).write(0);
            }
            out_len.write(message.len());
            Ok(())
        })
    })
}

/// Like [`guard`], but a failure of the last-error functions themselves does not replace
/// the last error they are there to report.
fn guard_quietly(body: impl FnOnce() -> Result<(), Failure>) -> annal_status {
    guard(|| body().map_err(|failure| Failure::Quiet(failure.status())))
}
