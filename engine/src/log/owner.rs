//! The writer's lock, and the one layer above that may append without it.
//!
//! The log's single writer (`append::Writer`) sits behind its own mutex. A layer that
//! owns the log and places every append under an exclusive lock of its own (the event
//! store, whose lock orders its index with the log) would pay two lock pairs per append.
//! Instead it registers that lock with the log ([`Shared::set_owner_lock`]): from then
//! on every access to the writer other than the owner's appends holds the owner's lock
//! as well (shared), or runs on a thread that already holds it; so the owner, holding its
//! lock exclusively, excludes them all and appends without taking the mutex
//! ([`Shared::begin_append_exclusive`]). The raw log registers nothing and keeps one
//! mutex.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::append::Writer;
use super::Shared;

/// Something held until dropped: a guard of the owner's lock.
pub(crate) trait Held {}

impl<T> Held for T {}

/// The owner's lock, as the log takes it around its own accesses to the writer.
pub(crate) trait OwnerLock: Send + Sync {
    /// Holds the owner's lock shared until the result is dropped; `None` when no guard
    /// is needed: the calling thread already holds the lock (shared or exclusive), or
    /// the owner is gone (nothing can append exclusively any more).
    fn hold_shared(&self) -> Option<Box<dyn Held + '_>>;
}

/// The writer and its mutex (see the module doc for who may skip the mutex).
pub(crate) struct WriterCell {
    lock: Mutex<()>,
    writer: UnsafeCell<Writer>,
    owner: OnceLock<Arc<dyn OwnerLock>>,
}

// SAFETY: the writer is reached only through `Shared::writer` (the mutex held, and the
// owner's lock where one is registered) or `Shared::begin_append_exclusive` (the owner's
// lock held exclusively, which excludes every holder of the former): one thread at a
// time, as a `Mutex<Writer>` would allow. `Writer` is `Send`.
#[expect(unsafe_code, reason = "a writer reachable through either of two locks")]
unsafe impl Sync for WriterCell {}

impl WriterCell {
    pub(crate) fn new(writer: Writer) -> WriterCell {
        WriterCell {
            lock: Mutex::new(()),
            writer: UnsafeCell::new(writer),
            owner: OnceLock::new(),
        }
    }
}

/// The proof a caller of [`Shared::begin_append_exclusive`] names: handed out once, to
/// the owner that registered its lock, which keeps it behind that lock.
#[derive(Debug)]
pub(crate) struct WriterKey {
    /// The log it was handed out by (an address, for a check).
    log: usize,
}

/// The writer, its mutex held (and the owner's lock, where one is registered and this
/// thread does not hold it already).
pub(crate) struct WriterGuard<'a> {
    writer: &'a mut Writer,
    // Dropped in this order: the mutex before the owner's lock it was taken under.
    _lock: MutexGuard<'a, ()>,
    _owner: Option<Box<dyn Held + 'a>>,
}

impl Deref for WriterGuard<'_> {
    type Target = Writer;

    fn deref(&self) -> &Writer {
        self.writer
    }
}

impl DerefMut for WriterGuard<'_> {
    fn deref_mut(&mut self) -> &mut Writer {
        self.writer
    }
}

impl Shared {
    /// The writer, for anything but the owner's exclusive appends.
    #[inline]
    pub(crate) fn writer(&self) -> WriterGuard<'_> {
        let cell = &self.writer;
        let owner = cell.owner.get().and_then(|owner| owner.hold_shared());
        let lock = cell.lock.lock().unwrap_or_else(|e| e.into_inner());
        #[expect(unsafe_code, reason = "the writer behind its mutex")]
        // SAFETY: the mutex is held (and kept in the guard), and where an owner is
        // registered its lock is held by this thread too, so the owner is not inside
        // `begin_append_exclusive` on another thread: nothing else reaches the writer.
        let writer = unsafe { &mut *cell.writer.get() };
        WriterGuard {
            writer,
            _lock: lock,
            _owner: owner,
        }
    }

    /// Registers the lock of the layer that owns this log and appends to it only under
    /// that lock held exclusively, and hands it the key for `begin_append_exclusive`.
    /// `None` if an owner is registered already.
    pub(crate) fn set_owner_lock(&self, owner: Arc<dyn OwnerLock>) -> Option<WriterKey> {
        // Taken under the writer's mutex: an access that began before the owner existed
        // ends before the owner's first exclusive append.
        let _writer = self.writer.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.writer.owner.set(owner).ok()?;
        Some(WriterKey {
            log: self as *const Shared as usize,
        })
    }

    /// The writer for the owner's append, without the mutex.
    ///
    /// # Safety
    ///
    /// The caller holds, exclusively, the lock it registered with `set_owner_lock`, and
    /// `key` is the key that call returned, kept behind that lock.
    #[inline]
    #[expect(unsafe_code, reason = "the writer behind the owner's lock")]
    #[expect(
        clippy::mut_from_ref,
        reason = "the owner's lock, held exclusively, is what makes the borrow unique"
    )]
    pub(crate) unsafe fn writer_exclusive(&self, key: &mut WriterKey) -> &mut Writer {
        assert_eq!(
            key.log, self as *const Shared as usize,
            "a writer key is used with the log that handed it out"
        );
        // SAFETY: the owner's lock is held exclusively (the caller's promise), and every
        // other access to the writer holds that lock (`writer`): nothing else reaches it.
        unsafe { &mut *self.writer.writer.get() }
    }
}
