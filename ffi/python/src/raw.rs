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

use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::exceptions::{PyMemoryError, PyRuntimeError};
use pyo3::ffi;
use pyo3::prelude::*;

/// Instances of a class kept for reuse when they die (CPython keeps such free lists
/// for its floats, tuples and lists): a read makes and drops one event and one payload
/// per step, and reusing the last ones skips the allocator both ways.
const SPARE_MAX: usize = 64;

/// A class made at module init, kept for the life of the process, with its spare
/// instances.
pub(crate) struct RawType {
    class: AtomicPtr<ffi::PyTypeObject>,
    /// Dead instances (fields dropped, reference to the class released), at most
    /// `SPARE_MAX`; used only with the GIL held.
    spare: GilCell<Vec<*mut ffi::PyObject>>,
}

/// A value used only by a thread attached to the interpreter, which the GIL serialises
/// (the package is built for the stable ABI, which has no free-threaded build).
struct GilCell<T>(UnsafeCell<T>);

// SAFETY: every access is by a thread holding the GIL (see the type's doc), so no two
// threads touch the value at once.
unsafe impl<T> Sync for GilCell<T> {}

impl RawType {
    /// Not made yet.
    pub(crate) const fn new() -> RawType {
        RawType {
            class: AtomicPtr::new(ptr::null_mut()),
            spare: GilCell(UnsafeCell::new(Vec::new())),
        }
    }

    /// The type object (null before `create`).
    pub(crate) fn get(&self) -> *mut ffi::PyTypeObject {
        self.class.load(Ordering::Acquire)
    }

    /// A new, uninitialised instance of `T` (a `#[repr(C)]` struct starting with a
    /// `PyObject`) of this class: a spare one or a fresh allocation. The header is set
    /// (one reference, the class referenced); every other field must be written before
    /// the object is used or freed.
    ///
    /// # Safety
    ///
    /// The class was made by [`RawType::create`] with `basicsize == size_of::<T>()`;
    /// the interpreter is attached.
    pub(crate) unsafe fn alloc<T>(&self) -> PyResult<*mut T> {
        // SAFETY: attached, so this thread alone uses the list (`GilCell`).
        let spare = unsafe { (*self.spare.0.get()).pop() };
        let obj = match spare {
            Some(obj) => obj,
            None => {
                // SAFETY: attached; `PyObject_Malloc` returns memory for any object.
                let obj = unsafe { ffi::PyObject_Malloc(size_of::<T>()) };
                if obj.is_null() {
                    return Err(PyMemoryError::new_err("out of memory for an annal object"));
                }
                obj.cast()
            }
        };
        // SAFETY: `obj` is memory of the class's size, fresh or dead; `PyObject_Init`
        // sets its type and reference count and takes a reference to the (heap) class.
        unsafe { ffi::PyObject_Init(obj, self.get()) };
        Ok(obj.cast())
    }

    /// Frees an instance made by [`RawType::alloc`] whose fields were already dropped,
    /// keeping it as a spare if there is room, and releases its reference to the class
    /// (the heap-type rule of `tp_dealloc`).
    ///
    /// # Safety
    ///
    /// `obj` came from this class's `alloc`, its reference count reached zero, its fields
    /// are dropped, it is not used after; the interpreter is attached.
    pub(crate) unsafe fn free(&self, obj: *mut ffi::PyObject) {
        // SAFETY: attached, so this thread alone uses the list (`GilCell`); `obj` is a
        // dead instance of this heap class.
        unsafe {
            let spare = &mut *self.spare.0.get();
            if spare.len() < SPARE_MAX {
                spare.push(obj);
            } else {
                ffi::PyObject_Free(obj.cast());
            }
            ffi::Py_DECREF(self.get().cast());
        }
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
        self.class
            .store(made.clone().into_ptr().cast(), Ordering::Release);
        Ok(made)
    }
}

/// A type slot.
pub(crate) fn slot(slot: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot, pfunc }
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
