//! `annal.Payload`: an event's data or metadata, read-only bytes shared with the engine
//! (for an event read back, a slice of the memory-mapped segment) and exported through
//! the buffer protocol, so `memoryview(event.data)` copies nothing.
//!
//! The only module allowed `unsafe`: filling a `Py_buffer` is an FFI call on raw pointers.
#![expect(
    unsafe_code,
    reason = "the buffer protocol hands CPython a raw pointer into the payload"
)]

use std::os::raw::c_int;

use bytes::Bytes;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

/// Read-only bytes of an event (its data or metadata), without a copy: supports the
/// buffer protocol (`memoryview`, `bytes(...)`, `==` with bytes-like objects, `len`).
#[pyclass(frozen, module = "annal")]
pub struct Payload {
    bytes: Bytes,
}

impl Payload {
    /// Wraps engine bytes (a reference-count increment, no copy).
    pub(crate) fn new(bytes: Bytes) -> Payload {
        Payload { bytes }
    }

    /// The `Payload` of `bytes` kept in `cell`, made on first access: an event's
    /// `data` is the same object each time it is asked for. Not `get_or_init`, which
    /// detaches from the interpreter around its lock (a GIL release and reacquire per
    /// event): the object is made first and offered to the cell, and a caller that lost
    /// the race (another thread, or a finalizer run by the allocation) takes the winner's.
    pub(crate) fn cached(
        py: Python<'_>,
        cell: &PyOnceLock<Py<Payload>>,
        bytes: &Bytes,
    ) -> PyResult<Py<Payload>> {
        if let Some(payload) = cell.get(py) {
            return Ok(payload.clone_ref(py));
        }
        let made = crate::gc::new_untracked(py, Payload::new(bytes.clone()))?.unbind();
        // A lost race drops `made` here, attached to the interpreter.
        let _ = cell.set(py, made);
        let payload = cell.get(py).expect("the cell was set just now");
        Ok(payload.clone_ref(py))
    }
}

/// A bytes-like Python object's contents, or a `TypeError` naming what was given.
pub(crate) fn bytes_like(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        // `bytes` are immutable: share them rather than copy (one allocation for the
        // owner, and clones are reference-count increments). Only for payloads, which
        // the engine copies into its record and does not keep.
        return Ok(Bytes::from_owner(PyBackedBytes::from(bytes.clone())));
    }
    if let Ok(payload) = obj.cast::<Payload>() {
        return Ok(payload.get().bytes.clone());
    }
    match PyBuffer::<u8>::get(obj) {
        Ok(buffer) => Ok(Bytes::from(buffer.to_vec(obj.py())?)),
        Err(_) => Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "expected bytes, bytearray or memoryview, not {}",
            obj.get_type().name()?
        ))),
    }
}

#[pymethods]
impl Payload {
    /// Exports the bytes read-only.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("a null Py_buffer"));
        }
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("an event's payload is read-only"));
        }
        let bytes = &slf.get().bytes;
        let len = bytes.len() as ffi::Py_ssize_t;
        let data = bytes.as_ptr().cast_mut().cast();
        // SAFETY: `view` is a non-null `Py_buffer` that CPython passes for us to fill. The
        // pointer is into `self.bytes`, which is immutable (frozen class, `Bytes` never
        // mutates) and lives as long as `self`; `PyBuffer_FillInfo` stores a new reference
        // to `self` in `view.obj`, so `self`, and the bytes with it, outlive the view.
        // `readonly = 1` and the check above keep anyone from writing through it.
        let filled = unsafe { ffi::PyBuffer_FillInfo(view, slf.as_ptr(), data, len, 1, flags) };
        if filled == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    /// Nothing to free: the view borrowed `self.bytes`, and CPython drops its reference
    /// to `self` (`view.obj`) after this returns.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    fn __len__(&self) -> usize {
        self.bytes.len()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match bytes_like(other) {
            Ok(other) => self.bytes == other,
            Err(_) => false,
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        PyBytes::new(py, &self.bytes).hash()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Payload({})",
            PyBytes::new(py, &self.bytes).repr()?.to_str()?
        ))
    }

    /// A copy as `bytes`.
    fn tobytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    /// The payload decoded as UTF-8 (`errors="strict"` like `bytes.decode`).
    fn decode(&self) -> PyResult<String> {
        String::from_utf8(self.bytes.to_vec())
            .map_err(|e| pyo3::exceptions::PyUnicodeDecodeError::new_err(e.to_string()))
    }
}
