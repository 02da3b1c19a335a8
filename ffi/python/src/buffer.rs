//! `annal.Payload`: an event's data or metadata, read-only bytes shared with the engine
//! (for an event read back, a slice of the memory-mapped segment) and exported through
//! the buffer protocol, so `memoryview(event.data)` copies nothing. Made with the C API
//! (`raw.rs`): a read makes one per event whose data is touched.
#![expect(
    unsafe_code,
    reason = "the buffer protocol hands CPython a raw pointer into the payload"
)]

use std::os::raw::{c_int, c_void};
use std::ptr;

use bytes::Bytes;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyBufferError, PyTypeError, PyUnicodeDecodeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyString};

use crate::raw::{borrowed, guard, slot, RawType};

/// The class `annal.Payload`.
static PAYLOAD: RawType = RawType::new();

/// A `Payload` instance: the object header, then where its bytes are. A payload of a
/// `RecordedEvent` shares the event's own `Bytes` by holding a reference to the event
/// (a plain, non-atomic reference count) rather than a clone of the `Bytes` (an atomic
/// one each way); any other payload holds its `Bytes` itself.
#[repr(C)]
struct PayloadObject {
    ob_base: ffi::PyObject,
    /// The bytes: `own`, or a field of `owner`.
    bytes: *const Bytes,
    /// The object that holds `bytes` (a strong reference), or null.
    owner: *mut ffi::PyObject,
    /// The owner's pointer back to this payload (its cache, a borrowed pointer), cleared
    /// when this payload dies; null without an owner.
    back: *mut *mut ffi::PyObject,
    /// The bytes of a payload without an owner (empty otherwise).
    own: Bytes,
}

/// Fills the fields of a fresh payload and returns it as a new reference; null with an
/// exception set if `alloc` failed.
///
/// # Safety
///
/// Attached; the module is initialised; `owner`/`back`/`bytes` as [`new_borrowed`] says
/// (or null/null/ignored with `own` holding the bytes).
unsafe fn make(
    own: Bytes,
    owner: *mut ffi::PyObject,
    back: *mut *mut ffi::PyObject,
    bytes: *const Bytes,
) -> *mut ffi::PyObject {
    // SAFETY: `PAYLOAD` was made with this struct's size; attached as promised.
    match unsafe { PAYLOAD.alloc::<PayloadObject>() } {
        Ok(obj) => {
            // SAFETY: a fresh object of our class, seen by no one yet: each field is
            // written once. `bytes` points into this object (which never moves) or into
            // `owner`, which this payload keeps alive.
            unsafe {
                ptr::write(&raw mut (*obj).own, own);
                ptr::write(&raw mut (*obj).owner, owner);
                ptr::write(&raw mut (*obj).back, back);
                let bytes = if owner.is_null() {
                    &raw const (*obj).own
                } else {
                    ffi::Py_INCREF(owner);
                    bytes
                };
                ptr::write(&raw mut (*obj).bytes, bytes);
            }
            obj.cast()
        }
        Err(err) => {
            // SAFETY: attached as promised.
            err.restore(unsafe { Python::assume_attached() });
            ptr::null_mut()
        }
    }
}

/// A new `Payload` holding `bytes` (no copy), as a new reference; null with an exception
/// set if out of memory.
///
/// # Safety
///
/// The interpreter is attached and the module is initialised.
pub(crate) unsafe fn new_ptr(bytes: Bytes) -> *mut ffi::PyObject {
    // SAFETY: as the caller promises; no owner.
    unsafe { make(bytes, ptr::null_mut(), ptr::null_mut(), ptr::null()) }
}

/// A new `Payload` of the `Bytes` at `bytes`, a field of `owner` that never changes while
/// `owner` lives, as a new reference (null with an exception set if out of memory). It
/// holds a reference to `owner`, and clears `*back` when it dies: `owner` keeps the
/// payload in `*back` as a borrowed pointer (a strong one would be a cycle).
///
/// # Safety
///
/// Attached; the module is initialised; `owner` is live, `bytes` and `back` point into it.
pub(crate) unsafe fn new_borrowed(
    owner: *mut ffi::PyObject,
    back: *mut *mut ffi::PyObject,
    bytes: *const Bytes,
) -> *mut ffi::PyObject {
    // SAFETY: as the caller promises.
    unsafe { make(Bytes::new(), owner, back, bytes) }
}

/// A new `Payload` sharing `bytes` (no copy).
pub(crate) fn payload(py: Python<'_>, bytes: Bytes) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: attached (`py`); the module made the class before any call.
    let obj = unsafe { new_ptr(bytes) };
    // SAFETY: a new reference or null with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, obj) }
}

/// The bytes of `obj` if it is a `Payload`.
fn payload_bytes<'a>(obj: &'a Bound<'_, PyAny>) -> Option<&'a Bytes> {
    // SAFETY: reading the type of a live object.
    let is_payload = unsafe { ffi::Py_TYPE(obj.as_ptr()) } == PAYLOAD.get();
    // SAFETY: it is a `PayloadObject`, alive while `obj` is borrowed.
    is_payload.then(|| unsafe { bytes_of(obj.as_ptr()) })
}

/// The bytes of a `Payload` slot's `self`.
///
/// # Safety
///
/// `obj` is a live `Payload` (CPython calls a class's slots only on its instances).
unsafe fn bytes_of<'a>(obj: *mut ffi::PyObject) -> &'a Bytes {
    // SAFETY: as the caller promises; `bytes` points at `own` or into the owner, which
    // the payload keeps alive.
    unsafe { &*(*obj.cast::<PayloadObject>()).bytes }
}

/// A bytes-like Python object's contents, or a `TypeError` naming what was given.
pub(crate) fn bytes_like(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        // `bytes` are immutable: share them rather than copy (one allocation for the
        // owner, and clones are reference-count increments). Only for payloads, which
        // the engine copies into its record and does not keep.
        return Ok(Bytes::from_owner(PyBackedBytes::from(bytes.clone())));
    }
    if let Some(bytes) = payload_bytes(obj) {
        return Ok(bytes.clone());
    }
    match PyBuffer::<u8>::get(obj) {
        Ok(buffer) => Ok(Bytes::from(buffer.to_vec(obj.py())?)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "expected bytes, bytearray or memoryview, not {}",
            obj.get_type().name()?
        ))),
    }
}

/// `tp_dealloc`: clears the owner's pointer to this payload and releases the owner, or
/// drops its own bytes (the last reference releases the mapping), then the object.
unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    let payload = obj.cast::<PayloadObject>();
    // SAFETY: CPython calls this once, attached, on a `Payload` whose count reached
    // zero; the owner is still alive (this payload held it), so `back` is valid.
    unsafe {
        let owner = (*payload).owner;
        if !owner.is_null() {
            *(*payload).back = ptr::null_mut();
            ffi::Py_DECREF(owner);
        }
        ptr::drop_in_place(&raw mut (*payload).own);
        PAYLOAD.free(obj);
    }
}

/// `bf_getbuffer`: exports the bytes read-only.
unsafe extern "C" fn get_buffer(
    obj: *mut ffi::PyObject,
    view: *mut ffi::Py_buffer,
    flags: c_int,
) -> c_int {
    // SAFETY: CPython calls this with the thread attached, on a live `Payload`.
    let py = unsafe { Python::assume_attached() };
    if view.is_null() {
        PyBufferError::new_err("a null Py_buffer").restore(py);
        return -1;
    }
    if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
        PyBufferError::new_err("an event's payload is read-only").restore(py);
        return -1;
    }
    // SAFETY: `obj` is a live `Payload`.
    let bytes = unsafe { bytes_of(obj) };
    // SAFETY: `view` is a non-null `Py_buffer` that CPython passes for us to fill. The
    // pointer is into `bytes`, which never changes (nothing writes a `Payload`'s field
    // after it is made, `Bytes` never mutates) and lives as long as `obj`;
    // `PyBuffer_FillInfo` stores a new reference to `obj` in `view.obj`, so `obj`, and
    // the bytes with it, outlive the view. `readonly = 1` and the check above keep anyone
    // from writing through it. It sets an exception itself when it fails.
    unsafe {
        ffi::PyBuffer_FillInfo(
            view,
            obj,
            bytes.as_ptr().cast_mut().cast(),
            bytes.len() as ffi::Py_ssize_t,
            1,
            flags,
        )
    }
}

/// `sq_length`: `len(payload)`.
unsafe extern "C" fn length(obj: *mut ffi::PyObject) -> ffi::Py_ssize_t {
    // SAFETY: `obj` is a live `Payload`.
    unsafe { bytes_of(obj) }.len() as ffi::Py_ssize_t
}

/// `tp_richcompare`: `==` and `!=` with any bytes-like object (anything else is unequal).
unsafe extern "C" fn compare(
    obj: *mut ffi::PyObject,
    other: *mut ffi::PyObject,
    op: c_int,
) -> *mut ffi::PyObject {
    guard(|py| {
        if op != ffi::Py_EQ && op != ffi::Py_NE {
            return Ok(py.NotImplemented().into_bound(py));
        }
        // SAFETY: `obj` is a live `Payload`; CPython holds `other` for the call.
        let (bytes, other) = unsafe { (bytes_of(obj), borrowed(py, other)) };
        // `bytes_like` may share a `bytes` object through a `Py` it drops here: attach
        // (cheap when attached) so PyO3 releases it now rather than at its next call.
        let equal = Python::attach(|_| bytes_like(&other).is_ok_and(|other| *bytes == other));
        Ok(pyo3::types::PyBool::new(py, equal == (op == ffi::Py_EQ))
            .to_owned()
            .into_any())
    })
}

/// `tp_hash`: the hash of the same bytes as a `bytes` object.
unsafe extern "C" fn hash(obj: *mut ffi::PyObject) -> ffi::Py_hash_t {
    // SAFETY: CPython calls this with the thread attached, on a live `Payload`.
    let (py, bytes) = unsafe { (Python::assume_attached(), bytes_of(obj)) };
    match PyBytes::new(py, bytes).hash() {
        Ok(hash) => hash,
        Err(err) => {
            err.restore(py);
            -1
        }
    }
}

/// `tp_repr`: `Payload(b'...')`.
unsafe extern "C" fn repr(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    guard(|py| {
        // SAFETY: `obj` is a live `Payload`.
        let bytes = PyBytes::new(py, unsafe { bytes_of(obj) });
        Ok(PyString::new(py, &format!("Payload({})", bytes.repr()?.to_str()?)).into_any())
    })
}

/// `__bytes__()` and `tobytes()`: a copy as `bytes`.
unsafe extern "C" fn to_bytes(
    obj: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: `obj` is a live `Payload`.
    guard(|py| Ok(PyBytes::new(py, unsafe { bytes_of(obj) }).into_any()))
}

/// `decode()`: the payload decoded as UTF-8 (`errors="strict"` like `bytes.decode`).
unsafe extern "C" fn decode(obj: *mut ffi::PyObject, _: *mut ffi::PyObject) -> *mut ffi::PyObject {
    guard(|py| {
        // SAFETY: `obj` is a live `Payload`.
        let text = std::str::from_utf8(unsafe { bytes_of(obj) })
            .map_err(|e| PyUnicodeDecodeError::new_err(e.to_string()))?;
        Ok(PyString::new(py, text).into_any())
    })
}

/// A no-argument method of the class.
fn method(
    name: &'static std::ffi::CStr,
    doc: &'static std::ffi::CStr,
    f: ffi::PyCFunction,
) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: f },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: doc.as_ptr(),
    }
}

/// Makes the class and adds it to the module as `Payload`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let methods: &'static mut [ffi::PyMethodDef] = Box::leak(Box::new([
        method(c"__bytes__", c"A copy as bytes.", to_bytes),
        method(c"tobytes", c"A copy as `bytes`.", to_bytes),
        method(
            c"decode",
            c"The payload decoded as UTF-8 (`errors=\"strict\"` like `bytes.decode`).",
            decode,
        ),
        ffi::PyMethodDef::zeroed(),
    ]));
    let slots = vec![
        slot(ffi::Py_tp_dealloc, dealloc as *mut c_void),
        slot(
            ffi::Py_tp_doc,
            c"Read-only bytes of an event (its data or metadata), without a copy: supports the \
buffer protocol (`memoryview`, `bytes(...)`, `==` with bytes-like objects, `len`)."
                .as_ptr()
                .cast_mut()
                .cast(),
        ),
        slot(ffi::Py_bf_getbuffer, get_buffer as *mut c_void),
        slot(ffi::Py_sq_length, length as *mut c_void),
        slot(ffi::Py_tp_richcompare, compare as *mut c_void),
        slot(ffi::Py_tp_hash, hash as *mut c_void),
        slot(ffi::Py_tp_repr, repr as *mut c_void),
        slot(ffi::Py_tp_methods, methods.as_mut_ptr().cast()),
    ];
    let class = PAYLOAD.create(m.py(), c"annal.Payload", size_of::<PayloadObject>(), slots)?;
    m.add("Payload", class)
}
