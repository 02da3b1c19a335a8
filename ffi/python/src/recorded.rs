//! `annal.RecordedEvent`: an event as a read returns it, made with the C API (`raw.rs`):
//! one plain object per event holding the engine's event, its integer fields read by
//! CPython's member descriptors, and its `data`/`metadata` `Payload` made only when
//! asked for (then the same object while anyone holds it), sharing the event's bytes.
#![expect(
    unsafe_code,
    reason = "a class made with the C API: raw object pointers and type slots"
)]

use std::mem::offset_of;
use std::os::raw::c_void;
use std::ptr;
use std::sync::OnceLock;

use bytes::Bytes;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::args::text;
use crate::buffer;
use crate::raw::{guard, slot, RawType};

/// The class `annal.RecordedEvent`.
static RECORDED_EVENT: RawType = RawType::new();

/// A `RecordedEvent` instance: the header, the integers as CPython reads them, the
/// engine's event, and its live payload objects (borrowed; null: none now).
#[repr(C)]
struct EventObject {
    ob_base: ffi::PyObject,
    revision: u64,
    position: u64,
    timestamp_ns: u64,
    event: annal::RecordedEvent,
    data: *mut ffi::PyObject,
    metadata: *mut ffi::PyObject,
}

/// An engine event on its way to Python: converts into a `RecordedEvent` object
/// (`IntoPyObject`), so functions can return it, a list or an `Option` of it.
pub(crate) struct RecordedEvent(annal::RecordedEvent);

impl RecordedEvent {
    /// Wraps `event`.
    pub(crate) fn new(event: annal::RecordedEvent) -> RecordedEvent {
        RecordedEvent(event)
    }
}

impl<'py> IntoPyObject<'py> for RecordedEvent {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        object(py, self.0)
    }
}

/// The `RecordedEvent` object for `event`.
pub(crate) fn object(py: Python<'_>, event: annal::RecordedEvent) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: attached (`py`); the class was made with this struct's size at module init.
    let obj = unsafe { RECORDED_EVENT.alloc::<EventObject>()? };
    let fields = EventObject {
        // SAFETY: `PyObject` is plain data; the header `alloc` wrote is kept below.
        ob_base: unsafe { ptr::read(&raw const (*obj).ob_base) },
        revision: event.revision.0,
        position: event.position.0,
        timestamp_ns: event.timestamp_ns,
        event,
        data: ptr::null_mut(),
        metadata: ptr::null_mut(),
    };
    // SAFETY: a fresh object of our class, seen by no one yet: every field is written
    // once (the header with the value `alloc` gave it).
    unsafe {
        ptr::write(obj, fields);
        Ok(Bound::from_owned_ptr(py, obj.cast()))
    }
}

/// The `RecordedEvent` object for `event` as a new reference; null with an exception
/// set if out of memory. For `tp_iternext`.
///
/// # Safety
///
/// The interpreter is attached and the module is initialised.
pub(crate) unsafe fn new_ptr(event: annal::RecordedEvent) -> *mut ffi::PyObject {
    // SAFETY: attached, as the caller promises.
    let py = unsafe { Python::assume_attached() };
    match object(py, event) {
        Ok(obj) => obj.into_ptr(),
        Err(err) => {
            err.restore(py);
            ptr::null_mut()
        }
    }
}

/// The engine's event of a `RecordedEvent` slot's `self`.
///
/// # Safety
///
/// `obj` is a live `RecordedEvent` (CPython calls a class's slots only on its instances).
unsafe fn event_of<'a>(obj: *mut ffi::PyObject) -> &'a annal::RecordedEvent {
    // SAFETY: as the caller promises.
    unsafe { &(*obj.cast::<EventObject>()).event }
}

/// `tp_dealloc`: drops the engine event, then the object. Its payloads are gone already
/// (each holds a reference to the event) and cleared their pointers.
unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    let event = obj.cast::<EventObject>();
    // SAFETY: CPython calls this once, attached, on a `RecordedEvent` whose count
    // reached zero.
    unsafe {
        ptr::drop_in_place(&raw mut (*event).event);
        RECORDED_EVENT.free(obj);
    }
}

/// The `Payload` of the event `obj`'s field `bytes`, kept in `cell` while it lives (a
/// borrowed pointer, cleared by the payload when it dies: the payload holds a reference
/// to the event, so a strong one back would be a cycle), as a new reference. While
/// anyone holds it, `event.data` is the same object.
///
/// # Safety
///
/// Attached; `obj` is a live `RecordedEvent`, `cell` and `bytes` its fields. Nothing
/// between the check and the store runs Python code, so no other thread can fill the
/// cell in between.
unsafe fn cached(
    obj: *mut ffi::PyObject,
    cell: *mut *mut ffi::PyObject,
    bytes: *const Bytes,
) -> *mut ffi::PyObject {
    // SAFETY: as the caller promises.
    unsafe {
        if (*cell).is_null() {
            let made = buffer::new_borrowed(obj, cell, bytes);
            *cell = made;
            return made;
        }
        ffi::Py_INCREF(*cell);
        *cell
    }
}

/// `data`: a `Payload` sharing the event's data.
unsafe extern "C" fn get_data(obj: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    let event = obj.cast::<EventObject>();
    // SAFETY: a live `RecordedEvent`, attached.
    unsafe { cached(obj, &raw mut (*event).data, &raw const (*event).event.data) }
}

/// `metadata`: a `Payload` sharing the event's metadata.
unsafe extern "C" fn get_metadata(obj: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    let event = obj.cast::<EventObject>();
    // SAFETY: a live `RecordedEvent`, attached.
    unsafe {
        cached(
            obj,
            &raw mut (*event).metadata,
            &raw const (*event).event.metadata,
        )
    }
}

/// `stream`: the name decoded as UTF-8, invalid bytes replaced.
unsafe extern "C" fn get_stream(obj: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: a live `RecordedEvent`.
    guard(|py| Ok(PyString::new(py, &text(&unsafe { event_of(obj) }.stream)).into_any()))
}

/// `stream_bytes`: the name as stored.
unsafe extern "C" fn get_stream_bytes(
    obj: *mut ffi::PyObject,
    _: *mut c_void,
) -> *mut ffi::PyObject {
    // SAFETY: a live `RecordedEvent`.
    guard(|py| Ok(PyBytes::new(py, &unsafe { event_of(obj) }.stream).into_any()))
}

/// `event_type`: the type decoded as UTF-8, invalid bytes replaced.
unsafe extern "C" fn get_event_type(obj: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: a live `RecordedEvent`.
    guard(|py| Ok(PyString::new(py, &text(&unsafe { event_of(obj) }.event_type)).into_any()))
}

/// `event_type_bytes`: the type as stored.
unsafe extern "C" fn get_event_type_bytes(
    obj: *mut ffi::PyObject,
    _: *mut c_void,
) -> *mut ffi::PyObject {
    // SAFETY: a live `RecordedEvent`.
    guard(|py| Ok(PyBytes::new(py, &unsafe { event_of(obj) }.event_type).into_any()))
}

/// `id`: the 16 bytes, or `None`.
unsafe extern "C" fn get_id(obj: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: a live `RecordedEvent`.
    guard(|py| {
        Ok(match unsafe { event_of(obj) }.id {
            Some(id) => PyBytes::new(py, &id).into_any(),
            None => py.None().into_bound(py),
        })
    })
}

/// An integer field as a Python `int`.
macro_rules! int_getter {
    ($name:ident, $field:ident) => {
        /// The field as an `int` (for the attribute fast path).
        unsafe extern "C" fn $name(obj: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
            // SAFETY: a live `RecordedEvent`, attached; null with an exception if out of
            // memory.
            unsafe { ffi::PyLong_FromUnsignedLongLong((*obj.cast::<EventObject>()).$field) }
        }
    };
}
int_getter!(get_revision, revision);
int_getter!(get_position, position);
int_getter!(get_timestamp_ns, timestamp_ns);

/// Every attribute's interned name (as an address) and getter, most read first. The
/// names are held for the life of the process, so an address stays the canonical
/// interned string's.
static FAST_ATTRIBUTES: OnceLock<Vec<(usize, ffi::getter)>> = OnceLock::new();

/// `tp_getattro`: an attribute named by an interned string (every name written in
/// Python code is one) is found by its address among the class's own, without the
/// generic lookup through the type's dictionary and descriptor (half the cost of
/// `event.revision`); anything else goes the generic way, which finds the same
/// values through the members and getters.
unsafe extern "C" fn getattro(
    obj: *mut ffi::PyObject,
    name: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    if let Some(attributes) = FAST_ATTRIBUTES.get() {
        for &(interned, get) in attributes {
            if interned == name as usize {
                // SAFETY: a live `RecordedEvent`, attached (CPython's call).
                return unsafe { get(obj, ptr::null_mut()) };
            }
        }
    }
    // SAFETY: CPython's call: live objects, attached.
    unsafe { ffi::PyObject_GenericGetAttr(obj, name) }
}

/// Interns the attribute names for [`getattro`].
fn intern_attributes(py: Python<'_>) -> PyResult<()> {
    let attributes: [(&std::ffi::CStr, ffi::getter); 10] = [
        (c"revision", get_revision),
        (c"data", get_data),
        (c"position", get_position),
        (c"event_type", get_event_type),
        (c"stream", get_stream),
        (c"timestamp_ns", get_timestamp_ns),
        (c"metadata", get_metadata),
        (c"id", get_id),
        (c"stream_bytes", get_stream_bytes),
        (c"event_type_bytes", get_event_type_bytes),
    ];
    let mut table = Vec::with_capacity(attributes.len());
    for (name, get) in attributes {
        // SAFETY: attached; a new reference or null with an exception set. It is never
        // released (see `FAST_ATTRIBUTES`).
        let interned = unsafe { ffi::PyUnicode_InternFromString(name.as_ptr()) };
        let interned = unsafe { Bound::from_owned_ptr_or_err(py, interned)? };
        table.push((interned.into_ptr() as usize, get));
    }
    let _ = FAST_ATTRIBUTES.set(table);
    Ok(())
}

/// `tp_repr`.
unsafe extern "C" fn repr(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    guard(|py| {
        // SAFETY: a live `RecordedEvent`.
        let event = unsafe { event_of(obj) };
        let text = format!(
            "RecordedEvent(stream={:?}, revision={}, position={}, event_type={:?})",
            text(&event.stream),
            event.revision,
            event.position.0,
            text(&event.event_type)
        );
        Ok(PyString::new(py, &text).into_any())
    })
}

/// A read-only `u64` field read by CPython itself.
fn member(
    name: &'static std::ffi::CStr,
    offset: usize,
    doc: &'static std::ffi::CStr,
) -> ffi::PyMemberDef {
    ffi::PyMemberDef {
        name: name.as_ptr(),
        type_code: ffi::Py_T_ULONGLONG,
        offset: offset as ffi::Py_ssize_t,
        flags: ffi::Py_READONLY,
        doc: doc.as_ptr(),
    }
}

/// A read-only attribute computed by `get`.
fn getset(
    name: &'static std::ffi::CStr,
    get: ffi::getter,
    doc: &'static std::ffi::CStr,
) -> ffi::PyGetSetDef {
    ffi::PyGetSetDef {
        name: name.as_ptr(),
        get: Some(get),
        set: None,
        doc: doc.as_ptr(),
        closure: ptr::null_mut(),
    }
}

/// Makes the class and adds it to the module as `RecordedEvent`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let members: &'static mut [ffi::PyMemberDef] = Box::leak(Box::new([
        member(
            c"revision",
            offset_of!(EventObject, revision),
            c"The revision within its stream.",
        ),
        member(
            c"position",
            offset_of!(EventObject, position),
            c"The global position.",
        ),
        member(
            c"timestamp_ns",
            offset_of!(EventObject, timestamp_ns),
            c"Nanoseconds since the Unix epoch, assigned at append, never decreasing.",
        ),
        ffi::PyMemberDef::default(),
    ]));
    let getsets: &'static mut [ffi::PyGetSetDef] = Box::leak(Box::new([
        getset(
            c"stream",
            get_stream,
            c"The stream's name (UTF-8; invalid bytes replaced).",
        ),
        getset(
            c"stream_bytes",
            get_stream_bytes,
            c"The stream's name as stored: bytes, exactly (names need not be UTF-8).",
        ),
        getset(c"event_type", get_event_type, c"The event type."),
        getset(
            c"event_type_bytes",
            get_event_type_bytes,
            c"The event type as stored: bytes, exactly.",
        ),
        getset(c"id", get_id, c"The 16-byte id, or `None`."),
        getset(
            c"data",
            get_data,
            c"The data, without a copy (a `Payload`).",
        ),
        getset(
            c"metadata",
            get_metadata,
            c"The metadata, without a copy (a `Payload`).",
        ),
        ffi::PyGetSetDef::default(),
    ]));
    let slots = vec![
        slot(ffi::Py_tp_dealloc, dealloc as *mut c_void),
        slot(
            ffi::Py_tp_doc,
            c"An event as stored: stream, revision, global position, timestamp, type, id, \
metadata and data. `data` and `metadata` are `Payload`s sharing the log's memory."
                .as_ptr()
                .cast_mut()
                .cast(),
        ),
        slot(ffi::Py_tp_repr, repr as *mut c_void),
        slot(ffi::Py_tp_getattro, getattro as *mut c_void),
        slot(ffi::Py_tp_members, members.as_mut_ptr().cast()),
        slot(ffi::Py_tp_getset, getsets.as_mut_ptr().cast()),
    ];
    intern_attributes(m.py())?;
    let class = RECORDED_EVENT.create(
        m.py(),
        c"annal.RecordedEvent",
        size_of::<EventObject>(),
        slots,
    )?;
    m.add("RecordedEvent", class)
}
