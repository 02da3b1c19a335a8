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

use super::append::{self, Writer};
use super::{PendingAppend, Shared};
use crate::error::Result;
use crate::format::record::RecordEvents;
use crate::options::Durability;

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

/// What the writer's mutex guards (the writer sits beside it): a type of its own, so
/// that locking it is code of its own, not shared with the log's other unit mutexes.
struct WriterLocked;

/// The writer and its mutex (see the module doc for who may skip the mutex).
pub(crate) struct WriterCell {
    lock: Mutex<WriterLocked>,
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
            lock: Mutex::new(WriterLocked),
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

/// The owner's lock held shared (nothing for the raw log, or for a thread that holds it
/// already), which an access to the writer other than the owner's appends needs first.
pub(crate) struct OwnerHold<'a> {
    _held: Option<Box<dyn Held + 'a>>,
    /// The log whose owner it holds (an address, for a check).
    log: usize,
}

/// The writer, its mutex held, under an [`OwnerHold`].
pub(crate) struct WriterGuard<'a> {
    writer: &'a mut Writer,
    _lock: MutexGuard<'a, WriterLocked>,
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

/// A [`WriterGuard`] with its [`OwnerHold`], released in that order.
pub(crate) struct HeldWriter<'a> {
    writer: WriterGuard<'a>,
    _owner: OwnerHold<'a>,
}

impl Deref for HeldWriter<'_> {
    type Target = Writer;

    fn deref(&self) -> &Writer {
        &self.writer
    }
}

impl DerefMut for HeldWriter<'_> {
    fn deref_mut(&mut self) -> &mut Writer {
        &mut self.writer
    }
}

/// The owner's lock held shared, out of line: never on the raw log's appends.
#[cold]
fn hold_owner_shared(owner: &dyn OwnerLock) -> Option<Box<dyn Held + '_>> {
    owner.hold_shared()
}

impl Shared {
    /// The owner's lock held shared where an owner is registered: what
    /// [`Shared::writer_under`] asks for.
    #[inline]
    pub(crate) fn hold_owner(&self) -> OwnerHold<'_> {
        OwnerHold {
            _held: match self.writer.owner.get() {
                None => None,
                Some(owner) => hold_owner_shared(owner.as_ref()),
            },
            log: self as *const Shared as usize,
        }
    }

    /// The writer behind its mutex, for anything but the owner's exclusive appends;
    /// `owner` is the owner's lock held (borrowed for as long as the result lives, so it
    /// cannot be released first).
    pub(crate) fn writer_under<'a>(&'a self, owner: &'a OwnerHold<'a>) -> WriterGuard<'a> {
        assert_eq!(
            owner.log, self as *const Shared as usize,
            "the writer is taken under its own log's owner hold"
        );
        self.lock_writer()
    }

    /// [`Shared::writer_under`] with the owner's lock taken here, for the rare
    /// accesses (flushes, the group-commit leader, open and close).
    pub(crate) fn writer(&self) -> HeldWriter<'_> {
        let owner = self.hold_owner();
        HeldWriter {
            // The hold is moved into the result beside the guard, which releases it
            // after the guard (field order); neither leaves the result.
            writer: self.lock_writer(),
            _owner: owner,
        }
    }

    /// The writer behind its mutex. Private: both callers hold the owner's lock for
    /// as long as the result lives.
    fn lock_writer(&self) -> WriterGuard<'_> {
        let lock = self.writer.lock.lock().unwrap_or_else(|e| e.into_inner());
        #[expect(unsafe_code, reason = "the writer behind its mutex")]
        // SAFETY: the mutex is held (and kept in the guard), and where an owner is
        // registered its lock is held by this thread too for as long as the guard
        // lives (both callers), so the owner is not inside `begin_append_exclusive` on
        // another thread: nothing else reaches the writer.
        let writer = unsafe { &mut *self.writer.writer.get() };
        WriterGuard {
            writer,
            _lock: lock,
        }
    }

    /// [`Shared::begin_append`] for the log's owner (`owner`), which holds its own lock
    /// exclusively: the writer is reached without its mutex, one lock pair per append.
    ///
    /// # Safety
    ///
    /// As for [`Shared::writer_exclusive`]: the caller holds the lock it registered with
    /// `set_owner_lock` exclusively, and `key` is the key that call returned.
    #[inline]
    #[expect(unsafe_code, reason = "the writer behind the owner's lock")]
    pub(crate) unsafe fn begin_append_exclusive<E: RecordEvents + ?Sized>(
        &self,
        key: &mut WriterKey,
        events: &E,
        extension: &[u8],
        durability: Durability,
    ) -> Result<PendingAppend<'_>> {
        let appending = (durability == Durability::Synced).then(|| self.group_commit.appending());
        let (payload_bytes, record_bytes) =
            append::validate(events, extension, self.options.segment_bytes)?;
        // SAFETY: the caller's promise, passed on.
        let writer = unsafe { self.writer_exclusive(key) };
        let appended = append::append_to(
            self,
            writer,
            events,
            extension,
            durability,
            payload_bytes,
            record_bytes,
        )?;
        Ok(PendingAppend {
            shared: self,
            appended,
            appending,
        })
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
