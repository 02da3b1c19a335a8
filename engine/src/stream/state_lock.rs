//! The store's lock, which also guards the log's writer for the store's appends.
//!
//! Every store append places its record under the store's lock held exclusively (the
//! lock orders the index with the log). The store registers that lock with its log
//! (`log::owner`), so an append takes one lock, not the store's and then the writer's
//! mutex: the log's other accesses to its writer (a flush, the group-commit leader, a
//! close) hold the store's lock shared first. A thread that already holds the store's
//! lock (a read of the index that flushes buffered appends it is about to read, or an
//! append through the general path) must not take it again (a read lock taken twice
//! waits behind a waiting writer), so each thread records which store's lock it holds.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::core::State;
use crate::log::{Held, OwnerLock};

thread_local! {
    /// The store lock this thread holds (its address) and how many times (shared reads
    /// nest); `(0, 0)` for none. A thread holding two stores' locks records the first.
    static HELD: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// The store's state behind its lock; the log holds a second reference (its owner lock).
pub(super) struct StateLock {
    lock: Arc<RwLock<State>>,
}

/// Records, while it lives, that this thread holds the lock at `address`.
struct HeldMark {
    recorded: bool,
}

impl HeldMark {
    #[inline]
    fn new(address: usize) -> HeldMark {
        let recorded = HELD.with(|held| match held.get() {
            (_, 0) => {
                held.set((address, 1));
                true
            }
            (at, depth) if at == address => {
                held.set((at, depth + 1));
                true
            }
            _ => false,
        });
        HeldMark { recorded }
    }
}

impl Drop for HeldMark {
    #[inline]
    fn drop(&mut self) {
        if self.recorded {
            HELD.with(|held| {
                let (at, depth) = held.get();
                held.set(if depth <= 1 { (0, 0) } else { (at, depth - 1) });
            });
        }
    }
}

fn held_by_this_thread(address: usize) -> bool {
    HELD.with(|held| {
        let (at, depth) = held.get();
        depth > 0 && at == address
    })
}

/// The state, read (the lock shared).
pub(super) struct StateRead<'a> {
    guard: RwLockReadGuard<'a, State>,
    _mark: HeldMark,
}

/// The state, written (the lock exclusive).
pub(super) struct StateWrite<'a> {
    guard: RwLockWriteGuard<'a, State>,
    /// `None` for the single-event append (`StateLock::write_unmarked`).
    _mark: Option<HeldMark>,
}

impl Deref for StateRead<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.guard
    }
}

impl Deref for StateWrite<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for StateWrite<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl StateLock {
    pub(super) fn new(state: State) -> StateLock {
        StateLock {
            lock: Arc::new(RwLock::new(state)),
        }
    }

    fn address(&self) -> usize {
        Arc::as_ptr(&self.lock) as usize
    }

    /// What the log takes around its own accesses to the writer.
    pub(super) fn owner_lock(&self) -> Arc<dyn OwnerLock> {
        Arc::new(Owner(Arc::clone(&self.lock)))
    }

    #[inline]
    pub(super) fn read(&self) -> StateRead<'_> {
        let guard = self.lock.read().unwrap_or_else(|e| e.into_inner());
        StateRead {
            guard,
            _mark: HeldMark::new(self.address()),
        }
    }

    #[inline]
    pub(super) fn write(&self) -> StateWrite<'_> {
        let guard = self.lock.write().unwrap_or_else(|e| e.into_inner());
        StateWrite {
            guard,
            _mark: Some(HeldMark::new(self.address())),
        }
    }

    /// [`StateLock::write`] without recording that this thread holds the lock, for the
    /// single-event append: under it nothing reaches the log's writer other than through
    /// the writer key (`Core::place`, which records the lock itself where it has no key).
    /// Saves the two thread-local updates a common append would otherwise make.
    #[inline]
    pub(super) fn write_unmarked(&self) -> StateWrite<'_> {
        StateWrite {
            guard: self.lock.write().unwrap_or_else(|e| e.into_inner()),
            _mark: None,
        }
    }

    /// Records, until the result is dropped, that this thread holds the lock (which it
    /// must): for `Core::place` under `write_unmarked`.
    #[cold]
    pub(super) fn mark_held(&self) -> impl Drop {
        HeldMark::new(self.address())
    }
}

/// The store's lock as the log's owner lock.
struct Owner(Arc<RwLock<State>>);

impl OwnerLock for Owner {
    fn hold_shared(&self) -> Option<Box<dyn Held + '_>> {
        if held_by_this_thread(Arc::as_ptr(&self.0) as usize) {
            return None;
        }
        Some(Box::new(self.0.read().unwrap_or_else(|e| e.into_inner())))
    }
}
