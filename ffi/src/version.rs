//! Versions: of this library and of the on-disk format it reads and writes.
#![expect(unsafe_code, reason = "C exports (no_mangle)")]

use std::ffi::c_char;

use crate::panic::guard_value;

/// The on-disk format version this library writes and reads: a literal, so cbindgen
/// writes it into the header, held equal to the engine's at compile time.
pub const ANNAL_FORMAT_VERSION: u32 = 1;
const _: () = assert!(ANNAL_FORMAT_VERSION == annal::FORMAT_VERSION);

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
