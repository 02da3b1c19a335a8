//! What a log or store handle owns: the engine object, and a flag its children
//! (subscriptions) read to learn that it was closed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::failure::Failure;

/// An engine object behind a handle, and the flag set once it is closed.
pub struct Owner<T> {
    value: T,
    closed: Arc<AtomicBool>,
}

impl<T> Owner<T> {
    /// Owns `value`.
    pub fn new(value: T) -> Owner<T> {
        Owner {
            value,
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Runs `f` on the object, turning an engine error into a failure.
    pub fn with<R>(&self, f: impl FnOnce(&T) -> annal::Result<R>) -> Result<R, Failure> {
        f(&self.value).map_err(Failure::from)
    }

    /// Closes the object with `close` (its handle already removed from its table, so no
    /// call is in flight). Children learn of it only once `close` returned, so a
    /// subscription never reports `Closed` before the close's final sync published what
    /// it had to deliver.
    pub fn close(self, close: impl FnOnce(T) -> annal::Result<()>) -> Result<(), Failure> {
        let result = close(self.value);
        self.closed.store(true, Ordering::Release);
        result.map_err(Failure::from)
    }

    /// The flag set once the object is closed, for children that outlive it.
    pub fn closed_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.closed)
    }
}
