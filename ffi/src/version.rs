//! Versions: of this library and of the on-disk format it reads and writes.
#![expect(unsafe_code, reason = "C exports (no_mangle)")]

use std::ffi::c_char;

use crate::panic::guard_value;

/// The on-disk format version this library writes and reads. The engine keeps the
/// number in its format module, which is not part of its public API:
/// tests/status_codes.rs checks this copy against the engine's source.
pub const ANNAL_FORMAT_VERSION: u32 = 1;

/// The library's version, `"MAJOR.MINOR.PATCH"`: a static NUL-terminated string, never
/// freed. Thread-safe.
#[no_mangle]
pub extern "C" fn annal_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    guard_value(c"".as_ptr(), || VERSION.as_ptr().cast())
}

/// The on-disk format version this library writes and reads (segment headers carry it).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn annal_format_version() -> u32 {
    guard_value(0, || ANNAL_FORMAT_VERSION)
}
