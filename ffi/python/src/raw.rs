//! Classes made with the C API itself (`PyType_FromSpec`) rather than `#[pyclass]`, for
//! the objects a read makes once per event (`Payload`, `RecordedEvent`): PyO3 builds a
//! class instance through `tp_alloc` as a cycle-collected object and runs each getter
//! through its trampoline, and that was most of what an event read cost in Python
//! (`docs/python.md`, "Benchmarks"). These objects are plain (never cycle-collected:
//! they hold no reference that can lead back to themselves), allocated with
//! `PyObject_Malloc`, with integer fields read by CPython's own member descriptors.
//!
//! This module holds what both share: making a type, allocating and freeing an
//! instance, and running a slot's body with errors and panics turned into a Python
//! exception.
#![expect(
    unsafe_code,
    reason = "classes made with the C API: raw object pointers and type slots"
)]

use std::ffi::CStr;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::exceptions::{PyMemoryError, PyRuntimeError};
use pyo3::ffi;
use pyo3::prelude::*;

/// A class made at module init, kept for the life of the process.
pub(crate) struct RawType(AtomicPtr<ffi::PyTypeObject>);

impl RawType {
    /// Not made yet.
    pub(crate) const fn new() -> RawType {
        RawType(AtomicPtr::new(ptr::null_mut()))
    }

    /// The type object (null before `create`).
    pub(crate) fn get(&self) -> *mut ffi::PyTypeObject {
        self.0.load(Ordering::Acquire)
    }

    /// Makes the class `name` ("annal.X") for instances of `basicsize` bytes with
    /// `slots` (the terminating zero slot is added here), final and not instantiable
    /// from Python; returns it for the module to export.
    pub(crate) fn create<'py>(
        &self,
        py: Python<'py>,
        name: &'static CStr,
        basicsize: usize,
        mut slots: Vec<ffi::PyType_Slot>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slots.push(ffi::PyType_Slot {
            slot: 0,
            pfunc: ptr::null_mut(),
        });
        // CPython keeps pointers into the spec's slots (members, getsets, methods), so
        // they live as long as the process, like the type.
        let slots: &'static mut [ffi::PyType_Slot] = Box::leak(slots.into_boxed_slice());
        let spec = Box::leak(Box::new(ffi::PyType_Spec {
            name: name.as_ptr(),
            basicsize: c_int::try_from(basicsize)
                .map_err(|_| PyRuntimeError::new_err("class too large"))?,
            itemsize: 0,
            flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as _,
            slots: slots.as_mut_ptr(),
        }));
        // SAFETY: the spec and everything it points to is leaked, so 'static; the
        // interpreter is attached (`py`).
        let made = unsafe { ffi::PyType_FromSpec(spec) };
        // SAFETY: a new reference or null with an exception set.
        let made = unsafe { Bound::from_owned_ptr_or_err(py, made)? };
        // The reference stored here is never released: the class outlives every
        // instance, and instances keep their type alive anyway.
        self.0
            .store(made.clone().into_ptr().cast(), Ordering::Release);
        Ok(made)
    }
}

/// A type slot.
pub(crate) fn slot(slot: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot, pfunc }
}

/// A new, uninitialised instance of `T` (a `#[repr(C)]` struct starting with a
/// `PyObject`) of class `tp`: the header is set (one reference, the type referenced),
/// every other field must be written before the object is used or freed.
///
/// # Safety
///
/// `tp` is a class made by [`RawType::create`] with `basicsize == size_of::<T>()`; the
/// interpreter is attached.
pub(crate) unsafe fn alloc<T>(tp: *mut ffi::PyTypeObject) -> PyResult<*mut T> {
    // SAFETY: the caller is attached; `PyObject_Malloc` returns memory for any object.
    let obj = unsafe { ffi::PyObject_Malloc(size_of::<T>()) }.cast::<ffi::PyObject>();
    if obj.is_null() {
        return Err(PyMemoryError::new_err("out of memory for an annal object"));
    }
    // SAFETY: `obj` is fresh memory of the class's size; `PyObject_Init` sets its type
    // and reference count and takes a reference to the (heap) type.
    unsafe { ffi::PyObject_Init(obj, tp) };
    Ok(obj.cast())
}

/// Frees an instance made by [`alloc`] whose fields were already dropped, and releases
/// its reference to its type (the heap-type rule of `tp_dealloc`).
///
/// # Safety
///
/// `obj` came from [`alloc`], its reference count reached zero, and it is not used after.
pub(crate) unsafe fn free(obj: *mut ffi::PyObject) {
    // SAFETY: `obj` is a dying object of a heap type made by `RawType::create`.
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        ffi::PyObject_Free(obj.cast());
        ffi::Py_DECREF(tp.cast());
    }
}

/// Runs a slot's body with the interpreter attached: a returned error becomes the
/// raised exception and null, and so does a panic (none may cross into CPython).
///
/// PyO3 does not know the thread is attached here (its count is kept by its own
/// trampolines), so a `Py<T>` dropped in `body` would be released only at PyO3's next
/// call; a body that may drop one runs inside `Python::attach` (see `buffer::compare`).
pub(crate) fn guard<F>(body: F) -> *mut ffi::PyObject
where
    F: for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>>,
{
    // SAFETY: slots run only from CPython, with the calling thread attached.
    let py = unsafe { Python::assume_attached() };
    let err = match catch_unwind(AssertUnwindSafe(|| body(py))) {
        Ok(Ok(obj)) => return obj.into_ptr(),
        Ok(Err(err)) => err,
        Err(_) => PyRuntimeError::new_err("a panic in annal's Python binding"),
    };
    err.restore(py);
    ptr::null_mut()
}

/// `obj` as a borrowed `Bound`, for a slot's body.
///
/// # Safety
///
/// `obj` is a live object the caller holds for `'py`.
pub(crate) unsafe fn borrowed<'py>(py: Python<'py>, obj: *mut ffi::PyObject) -> Bound<'py, PyAny> {
    // SAFETY: as the caller promises.
    unsafe { Bound::from_borrowed_ptr(py, obj) }
}
