//! Objects kept out of CPython's cycle collector. PyO3 makes every class a GC type, so
//! each `NewEvent` and `LogEvent` would join the youngest generation, and every 700
//! allocations a collection would walk all of them: about half the cost of building a
//! `NewEvent` (callgrind, `docs/python.md`, "Benchmarks"). These classes hold no
//! reference that can lead back to a container of themselves (bytes, the engine's
//! buffers, and `Payload`s), so they can never be part of a cycle, and CPython lets such
//! objects be untracked (it does so for tuples and dicts of atoms itself). The read
//! path's classes (`raw.rs`) are not GC types at all.
#![expect(
    unsafe_code,
    reason = "PyObject_GC_UnTrack is an FFI call on a raw object pointer"
)]

use pyo3::prelude::*;
use pyo3::{ffi, PyClass};

/// `obj`, untracked by the cycle collector. Only for classes whose values can never
/// reach a Python container (see the module doc).
pub(crate) fn untracked<T: PyClass>(obj: Bound<'_, T>) -> Bound<'_, T> {
    // SAFETY: `obj` is a live object of a GC type (every PyO3 class is one), created
    // and owned here; untracking is allowed at any time, and PyO3's dealloc untracks
    // only if tracked. What `T` holds cannot lead back to `obj`, so no cycle is hidden.
    unsafe { ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    obj
}

/// A new `T` object, untracked (see [`untracked`]).
pub(crate) fn new_untracked<T>(py: Python<'_>, value: T) -> PyResult<Bound<'_, T>>
where
    T: PyClass + Into<pyo3::PyClassInitializer<T>>,
{
    Ok(untracked(Bound::new(py, value)?))
}
