//! Proves a panic inside an export's body becomes `ANNAL_STATUS_PANIC` with the panic's
//! message as the thread's last error, instead of unwinding into C.
#![allow(unsafe_code, reason = "calls the C exports as C would")]

use annal_ffi::last_error::{
    annal_last_error_length, annal_last_error_message, annal_last_error_status,
};
use annal_ffi::panic::{guard, guard_value};
use annal_ffi::status::{ANNAL_STATUS_OK, ANNAL_STATUS_PANIC};

/// Proves a panic in a fallible export is ANNAL_STATUS_PANIC with its message as the last error.
#[test]
fn a_panic_is_a_status_and_a_message() {
    let status = guard(|| panic!("boom at the boundary"));
    assert_eq!(status, ANNAL_STATUS_PANIC);
    assert_eq!(annal_last_error_status(), ANNAL_STATUS_PANIC);
    let mut length = 0usize;
    // SAFETY: `length` is a valid, writable usize.
    assert_eq!(
        unsafe { annal_last_error_length(&mut length) },
        ANNAL_STATUS_OK
    );
    let mut buffer = vec![0u8; length + 1];
    let mut written = 0usize;
    // SAFETY: `buffer` has `length + 1` writable bytes; `written` is writable.
    let status =
        unsafe { annal_last_error_message(buffer.as_mut_ptr().cast(), buffer.len(), &mut written) };
    assert_eq!(status, ANNAL_STATUS_OK);
    let message = String::from_utf8_lossy(&buffer[..written]);
    assert!(message.contains("boom at the boundary"), "{message}");
    assert_eq!(guard(|| Ok(())), ANNAL_STATUS_OK);
}

/// Proves a panic in an export without a status returns its fallback value.
#[test]
fn a_panic_in_an_infallible_export_returns_its_fallback() {
    assert_eq!(guard_value(7, || panic!("no status to return")), 7);
}
