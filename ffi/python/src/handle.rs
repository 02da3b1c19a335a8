//! A closable shared handle to an engine object (`Log` or `EventStore`): calls clone the
//! `Arc` for their duration; `close` takes it away from new calls and waits for the
//! calls in flight, so the engine's own `close` (which reports errors) runs once.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use pyo3::prelude::*;

use crate::errors::closed;

/// An engine object shared by the calls on one Python object until it is closed.
pub(crate) struct Handle<T> {
    inner: RwLock<Option<Arc<T>>>,
}

impl<T> Handle<T> {
    pub(crate) fn new(value: T) -> Handle<T> {
        Handle {
            inner: RwLock::new(Some(Arc::new(value))),
        }
    }

    /// The engine object, or `annal.Closed`.
    pub(crate) fn get(&self) -> PyResult<Arc<T>> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(closed)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Takes the object away from new calls and waits until the calls in flight are
    /// done (they hold a clone for their duration only); `None` if already closed. Call
    /// with the GIL released: a call in flight may need it to finish.
    pub(crate) fn take(&self) -> Option<T> {
        let mut shared = self
            .inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        loop {
            match Arc::try_unwrap(shared) {
                Ok(value) => return Some(value),
                Err(still_shared) => {
                    shared = still_shared;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
}
