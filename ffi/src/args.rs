//! Arguments from C: byte slices, arrays, strings and paths checked before use, enum
//! integers decoded, and out-parameters checked for NULL before any work is done (so a
//! call that will fail writing its result never has a side effect) and written only on
//! success. Every unsafe read of caller memory is here.
#![expect(
    unsafe_code,
    reason = "reads and writes caller memory: the one place raw C pointers become slices"
)]

use std::ffi::{c_char, CStr, OsStr};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;

use crate::failure::Failure;
use crate::status::{
    ANNAL_STATUS_INVALID_LENGTH, ANNAL_STATUS_INVALID_PATH, ANNAL_STATUS_INVALID_UTF8,
    ANNAL_STATUS_NULL_ARGUMENT,
};

fn null(what: &str) -> Failure {
    Failure::boundary(ANNAL_STATUS_NULL_ARGUMENT, format!("{what} is NULL"))
}

/// An out-parameter known not to be NULL.
pub struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// Checks `ptr` for NULL.
    ///
    /// # Safety
    /// `ptr` is NULL or valid for writing one `T` until [`Out::write`] is called.
    pub unsafe fn new(ptr: *mut T, what: &str) -> Result<Out<T>, Failure> {
        NonNull::new(ptr).map(Out).ok_or_else(|| null(what))
    }

    /// Writes the result (the call succeeded).
    pub fn write(self, value: T) {
        // SAFETY: non-NULL (checked in `new`) and valid for a write of one T (the contract
        // of `new`, which the export's caller keeps); `write` does not read or drop the
        // old value, which may be uninitialized C memory.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// The `len` bytes at `ptr`: NULL with length 0 is the empty slice.
///
/// # Safety
/// Unless NULL, `ptr` points to `len` readable bytes that stay valid and unchanged for
/// `'a` (the duration of the export).
pub unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    array(ptr, len, what)
}

/// The `count` values at `ptr`: NULL with count 0 is the empty slice.
///
/// # Safety
/// Unless NULL, `ptr` points to `count` initialized `T` that stay valid and unchanged for
/// `'a` (the duration of the export).
pub unsafe fn array<'a, T>(ptr: *const T, count: usize, what: &str) -> Result<&'a [T], Failure> {
    if count == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(null(what));
    }
    if count
        .checked_mul(size_of::<T>())
        .is_none_or(|n| n > isize::MAX as usize)
    {
        return Err(Failure::boundary(
            ANNAL_STATUS_INVALID_LENGTH,
            format!("{what} has an impossible length {count}"),
        ));
    }
    if !ptr.is_aligned() {
        return Err(Failure::boundary(
            ANNAL_STATUS_INVALID_LENGTH,
            format!("{what} is not aligned for its type"),
        ));
    }
    // SAFETY: non-NULL, aligned, and the byte size fits isize (checked above); the caller
    // guarantees `count` initialized values that outlive the export.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
}

/// A NUL-terminated C string.
///
/// # Safety
/// Unless NULL, `ptr` points to a NUL-terminated string valid for `'a`.
pub unsafe fn c_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a CStr, Failure> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL and NUL-terminated, valid for 'a (the caller's contract).
    Ok(unsafe { CStr::from_ptr(ptr) })
}

/// A NUL-terminated UTF-8 string (a consumer name).
///
/// # Safety
/// As for [`c_str`].
pub unsafe fn utf8<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: the caller's contract is c_str's.
    let c = unsafe { c_str(ptr, what) }?;
    c.to_str().map_err(|e| {
        Failure::boundary(
            ANNAL_STATUS_INVALID_UTF8,
            format!("{what} is not UTF-8: {e}"),
        )
    })
}

/// A NUL-terminated path (any bytes but NUL; not empty).
///
/// # Safety
/// As for [`c_str`].
pub unsafe fn path<'a>(ptr: *const c_char, what: &str) -> Result<&'a Path, Failure> {
    // SAFETY: the caller's contract is c_str's.
    let c = unsafe { c_str(ptr, what) }?;
    if c.is_empty() {
        return Err(Failure::boundary(
            ANNAL_STATUS_INVALID_PATH,
            format!("{what} is empty"),
        ));
    }
    Ok(Path::new(OsStr::from_bytes(c.to_bytes())))
}

/// Reads a struct that starts with its own `size_t struct_size`, so it can grow: a
/// caller built against an older header passes fewer bytes (the missing fields are
/// zero, which always means "default"); a newer one may pass more, all zero. NULL is
/// every field default.
///
/// # Safety
/// Unless NULL, `ptr` points to `struct_size` readable bytes, `struct_size` being the
/// struct's first field. `T` is `repr(C)`, starts with a `usize`, and every bit pattern
/// of its fields is valid (integers and raw pointers only).
pub unsafe fn sized_struct<T: Default>(ptr: *const T, what: &str) -> Result<T, Failure> {
    let mut value = T::default();
    if ptr.is_null() {
        return Ok(value);
    }
    let size_ptr = ptr.cast::<usize>();
    if !size_ptr.is_aligned() {
        return Err(Failure::boundary(
            ANNAL_STATUS_INVALID_LENGTH,
            format!("{what} is not aligned"),
        ));
    }
    // SAFETY: non-NULL and aligned; every version of the struct starts with struct_size.
    let struct_size = unsafe { size_ptr.read() };
    if struct_size < size_of::<usize>() || struct_size > isize::MAX as usize {
        return Err(Failure::boundary(
            ANNAL_STATUS_INVALID_LENGTH,
            format!("{what}->struct_size {struct_size} is impossible"),
        ));
    }
    let known = size_of::<T>();
    if struct_size > known {
        // SAFETY: the caller says `struct_size` bytes are readable from `ptr`.
        let extra =
            unsafe { std::slice::from_raw_parts(ptr.cast::<u8>().add(known), struct_size - known) };
        if extra.iter().any(|b| *b != 0) {
            return Err(Failure::boundary(
                ANNAL_STATUS_INVALID_LENGTH,
                format!(
                    "{what} sets fields this library does not know (struct_size {struct_size}, known {known})"
                ),
            ));
        }
    }
    // SAFETY: `min(struct_size, known)` bytes are readable at `ptr` (the caller's
    // contract) and writable in `value`; every bit pattern is a valid `T` field (the
    // contract on `T`), and bytes not copied keep their zero default.
    unsafe {
        std::ptr::copy_nonoverlapping(
            ptr.cast::<u8>(),
            (&raw mut value).cast::<u8>(),
            struct_size.min(known),
        );
    }
    Ok(value)
}

/// `count` (at least 1) writable values at `ptr`, for results written only on success.
///
/// # Safety
/// Unless NULL, `ptr` points to `count` writable `T`, valid for `'a` and not read by
/// anyone else meanwhile.
pub unsafe fn out_array<'a, T>(
    ptr: *mut T,
    count: usize,
    what: &str,
) -> Result<&'a mut [MaybeUninit<T>], Failure> {
    if count == 0 {
        return Err(Failure::boundary(
            ANNAL_STATUS_INVALID_LENGTH,
            format!("{what} has capacity 0"),
        ));
    }
    if ptr.is_null() {
        return Err(null(what));
    }
    if count
        .checked_mul(size_of::<T>())
        .is_none_or(|n| n > isize::MAX as usize)
        || !ptr.is_aligned()
    {
        return Err(Failure::boundary(
            ANNAL_STATUS_INVALID_LENGTH,
            format!("{what} has an impossible capacity {count} or is misaligned"),
        ));
    }
    // SAFETY: non-NULL, aligned, size fits isize; `count` writable T (the caller's
    // contract), seen as MaybeUninit so their old contents are never read.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<MaybeUninit<T>>(), count) })
}
