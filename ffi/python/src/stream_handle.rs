//! `annal.StreamHandle`: what `EventStore.stream_handle(name)` returns, for appending to
//! one stream again and again with `EventStore.append_to` (an aggregate's repository, a
//! loader). It wraps the engine's `StreamHandle` (the name checked once; the stream's
//! index id remembered, so a single-event append skips the name's lookup while the id
//! still holds) and remembers which `EventStore` object made it: the engine would append
//! through it to another store's stream of the same name, which a program holding two
//! stores almost certainly did not mean, so `append_to` refuses that.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args::text;
use crate::errors::to_py;

/// The identity of the next `EventStore` object opened (never reused in a process).
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh identity for an `EventStore` object.
pub(crate) fn next_store_id() -> u64 {
    NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed)
}

/// A handle on one stream of one `EventStore`, from `store.stream_handle(name)`: pass it
/// to `store.append_to(handle, events)`. Immutable, shareable between threads, and kept
/// as long as you like (across checkpoints, retention, a deletion of the stream); only
/// the store that made it accepts it.
#[pyclass(frozen, module = "annal")]
pub struct StreamHandle {
    handle: annal::StreamHandle,
    /// The identity of the `EventStore` object that made it.
    store: u64,
}

impl StreamHandle {
    pub(crate) fn new(handle: annal::StreamHandle, store: u64) -> StreamHandle {
        StreamHandle { handle, store }
    }

    /// The engine's handle, if `store` (an `EventStore`'s identity) made it; else
    /// `annal.InvalidArgument`.
    pub(crate) fn engine_for(&self, store: u64) -> PyResult<&annal::StreamHandle> {
        if self.store == store {
            return Ok(&self.handle);
        }
        Err(to_py(annal::Error::InvalidArgument {
            reason: format!(
                "the StreamHandle for stream {:?} was made by another EventStore; make one with this store's stream_handle()",
                text(self.handle.name())
            ),
        }))
    }
}

#[pymethods]
impl StreamHandle {
    /// The stream's name (decoded as UTF-8, invalid bytes replaced).
    #[getter]
    fn name(&self) -> String {
        text(self.handle.name())
    }

    /// The stream's name exactly as stored.
    #[getter]
    fn name_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.handle.name())
    }

    fn __repr__(&self) -> String {
        format!("<annal.StreamHandle {:?}>", text(self.handle.name()))
    }
}
