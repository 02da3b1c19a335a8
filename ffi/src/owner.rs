//! What a log or store handle owns: the engine object until it is closed, and a flag its
//! children (subscriptions, consumers) read to learn that it was.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use annal::Error;

use crate::failure::Failure;

/// An engine object shared by the calls on its handle and by its children. Calls hold a
/// read lock while they use it; closing takes the write lock, so it waits for calls in
/// flight and no call ever sees a half-closed object.
pub struct Owner<T> {
    inner: RwLock<Option<T>>,
    closed: Arc<AtomicBool>,
}

impl<T> Owner<T> {
    /// Owns `value`.
    pub fn new(value: T) -> Owner<T> {
        Owner {
            inner: RwLock::new(Some(value)),
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Runs `f` on the object, or fails with the engine's `Closed` once it was closed.
    pub fn with<R>(&self, f: impl FnOnce(&T) -> annal::Result<R>) -> Result<R, Failure> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        match inner.as_ref() {
            Some(value) => f(value).map_err(Failure::from),
            None => Err(Failure::Engine(Error::Closed)),
        }
    }

    /// Takes the object out, waiting for calls in flight, and runs `close` on it; later
    /// calls fail with `Closed`. Children learn of it only once `close` returned, so a
    /// subscription never reports `Closed` before the close's final sync published what it
    /// had to deliver.
    pub fn close(&self, close: impl FnOnce(T) -> annal::Result<()>) -> Result<(), Failure> {
        let taken = self.inner.write().unwrap_or_else(|e| e.into_inner()).take();
        let result = taken.map_or(Ok(()), close);
        self.closed.store(true, Ordering::Release);
        result.map_err(Failure::from)
    }

    /// The flag set once the object is closed, for children that outlive it.
    pub fn closed_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.closed)
    }
}
