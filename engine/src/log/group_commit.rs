//! Group commit: many `Synced` appenders share each write and each fdatasync.
//!
//! A `Synced` append leaves its record in the writer's buffer. The first appender to find
//! no sync in flight becomes the leader: it writes every buffered record in one write
//! (its own and its followers') with the sync linked behind it where the storage can
//! (io_uring), notes what is written, waits for the sync outside every lock,
//! publishes the new synced watermark and wakes the followers. Appenders that arrive
//! meanwhile wait; when the leader finishes, those it covered return and one of the rest
//! leads the next sync, covering everything appended while the previous one ran. No timer
//! forms a batch: the batch is whatever arrived during the previous fdatasync.
//!
//! Before syncing, a new leader yields the processor while more followers keep arriving:
//! the appenders the previous sync just woke get to append and join this sync, instead
//! of forming a second cohort that waits for the next one (which halved the appends per
//! fdatasync in a closed loop). A leader that is the only `Synced` appender in progress
//! does not yield at all: a yield is a system call, about 2 % of a lone durable append.
//!
//! The protocol ([`GroupCommit::wait_synced`]) runs over any [`Syncable`] log and on the
//! `crate::sync` facade, so the loom models (`engine/tests/loom_group_commit.rs`) check
//! the same code.

use std::sync::atomic::Ordering as StdOrdering;

use super::{append, Shared};
use crate::error::{Error, Result};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex, MutexGuard};

/// What group commit needs of a log: its durable watermark, whether it failed, and a
/// sync. Implemented by the log's shared state, and by the loom models
/// (`engine/tests/loom_group_commit.rs`).
pub trait Syncable {
    /// The position after the last durable event (an `Acquire` load).
    fn synced(&self) -> u64;
    /// Whether the log is poisoned: nothing more will become durable.
    fn poisoned(&self) -> bool;
    /// Writes what is buffered and syncs it, raising the synced watermark over every
    /// record appended before the call. An I/O failure poisons the log.
    fn lead_sync(&self) -> Result<()>;
    /// Whether a waiter for `target` is done: every position below it is durable. A log
    /// whose suffix was truncated caps the target at its end (`truncation`).
    fn reached(&self, target: u64) -> bool {
        self.synced() >= target
    }
}

/// Whether a sync is in flight, and the condition its followers wait on.
#[derive(Default)]
pub struct GroupCommit {
    leader_active: Mutex<bool>,
    finished: Condvar,
    /// Appenders waiting for a sync to cover them.
    followers: AtomicUsize,
    /// `Synced` appends in progress (writing, or waiting for their sync).
    appending: AtomicUsize,
    /// Loom models only: step down in the broken twin's order ([`Self::step_down`]).
    #[cfg(loom)]
    notify_before_stepping_down: crate::sync::atomic::AtomicBool,
}

/// A `Synced` append in progress, counted until dropped.
pub struct Appending<'a>(&'a AtomicUsize);

impl Drop for Appending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The leader's place held by a caller that syncs itself ([`GroupCommit::exclusive_term`]);
/// stepping down on drop wakes the followers.
pub(crate) struct ExclusiveTerm<'a>(&'a GroupCommit);

impl Drop for ExclusiveTerm<'_> {
    fn drop(&mut self) {
        self.0.step_down();
    }
}

/// Most yields a leader makes while followers keep arriving.
const LEADER_YIELDS_MAX: usize = 16;

impl GroupCommit {
    /// Counts a `Synced` append from before its write until the guard is dropped.
    pub fn appending(&self) -> Appending<'_> {
        self.appending.fetch_add(1, Ordering::AcqRel);
        Appending(&self.appending)
    }

    /// Whether another `Synced` append is in progress besides the caller's (one that
    /// is not an append, a `sync()`, counts none).
    fn others_appending(&self) -> bool {
        self.appending.load(Ordering::Acquire) > 1
    }

    fn leader_active(&self) -> MutexGuard<'_, bool> {
        self.leader_active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns once every position below `target` is durable in `log`, leading a sync
    /// if none is in flight.
    pub fn wait_synced(&self, log: &impl Syncable, target: u64) -> Result<()> {
        loop {
            if log.reached(target) {
                return Ok(());
            }
            if log.poisoned() {
                return Err(Error::Poisoned);
            }
            let mut leader_active = self.leader_active();
            // Under the mutex: a leader raises the watermark before it takes the mutex to
            // step down, so a follower that waits below was either covered by the value
            // read here or will be notified.
            if log.reached(target) {
                return Ok(());
            }
            if *leader_active {
                self.followers.fetch_add(1, Ordering::AcqRel);
                drop(
                    self.finished
                        .wait(leader_active)
                        .unwrap_or_else(|e| e.into_inner()),
                );
                self.followers.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            *leader_active = true;
            drop(leader_active);
            self.gather_followers();
            let result = log.lead_sync();
            self.step_down();
            result?;
        }
    }

    /// Waits until no sync is in flight and holds the leader's place until the term is
    /// dropped: nobody syncs (or raises the synced watermark) meanwhile. The suffix
    /// truncation takes it before the writer's lock, in the same order as a leader.
    pub(crate) fn exclusive_term(&self) -> ExclusiveTerm<'_> {
        let mut leader_active = self.leader_active();
        while *leader_active {
            self.followers.fetch_add(1, Ordering::AcqRel);
            leader_active = self
                .finished
                .wait(leader_active)
                .unwrap_or_else(|e| e.into_inner());
            self.followers.fetch_sub(1, Ordering::AcqRel);
        }
        *leader_active = true;
        ExclusiveTerm(self)
    }

    /// Ends a leader's term and wakes its followers: those its sync covered return, and
    /// one of the rest leads next. The flag is cleared first, so a woken follower never
    /// finds a leader that is gone.
    fn step_down(&self) {
        #[cfg(loom)]
        if self.notify_before_stepping_down.load(Ordering::Relaxed) {
            self.finished.notify_all();
            *self.leader_active() = false;
            return;
        }
        *self.leader_active() = false;
        self.finished.notify_all();
    }

    /// Loom models only: makes leaders notify before clearing their flag, the broken
    /// twin that strands a follower (`engine/tests/loom_group_commit.rs`).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn break_step_down_order(&self) {
        self.notify_before_stepping_down
            .store(true, Ordering::Relaxed);
    }

    /// Yields while followers keep arriving, so the appenders the previous sync woke join
    /// this one rather than forming a second cohort; not at all when the caller is the
    /// only `Synced` append in progress.
    fn gather_followers(&self) {
        let mut followers = self.followers.load(Ordering::Acquire);
        if !self.others_appending() && followers == 0 {
            return;
        }
        for _ in 0..LEADER_YIELDS_MAX {
            yield_now();
            let now = self.followers.load(Ordering::Acquire);
            if now <= followers {
                break;
            }
            followers = now;
        }
    }
}

#[cfg(not(loom))]
fn yield_now() {
    std::thread::yield_now();
}

#[cfg(loom)]
fn yield_now() {
    loom::thread::yield_now();
}

/// Returns once every position below `target` is durable, leading a sync if needed.
pub(crate) fn wait_synced(shared: &Shared, target: u64) -> Result<()> {
    shared.group_commit.wait_synced(shared, target)
}

impl Syncable for Shared {
    fn synced(&self) -> u64 {
        self.synced.load(StdOrdering::Acquire)
    }

    fn poisoned(&self) -> bool {
        self.poisoned.load(StdOrdering::Acquire)
    }

    fn lead_sync(&self) -> Result<()> {
        lead_sync(self)
    }

    fn reached(&self, target: u64) -> bool {
        // Appended positions are below `next` unless a suffix truncation removed them:
        // their waiters are done once what the log still holds is durable. A failed
        // write also moves `next` back, after poisoning the log (so a `next` seen moved
        // back by a failure is seen with the poison): those waiters are not done.
        let synced = self.synced();
        if synced >= target {
            return true;
        }
        let next = self.next.load(StdOrdering::Acquire);
        synced >= next && !self.poisoned.load(StdOrdering::Acquire)
    }
}

/// Writes the buffered records and syncs the active segment, covering every record
/// appended before the call. The write and the sync start together
/// (`append::flush_then_sync`: one linked io_uring request where the storage has a
/// ring); the writer's lock is released once the write is done, so appenders buffer the
/// next group while the sync runs. Every earlier segment is durable first: the one sealed
/// last may still be waiting for its fdatasync on the flusher thread, so this waits for
/// it or runs it (`flusher`). The synced watermark rises only after both succeed.
fn lead_sync(shared: &Shared) -> Result<()> {
    let mut writer = shared.writer();
    // Nothing more is written once the log is poisoned (or closed).
    shared.check_usable()?;
    let (segment, _) = writer.sync_target();
    // The records of the `Synced` appends waiting for this sync (and any buffered
    // before them), in one write.
    let pending = append::flush_then_sync(shared, &mut writer, &segment)?;
    let (_, written) = writer.sync_target();
    drop(writer);
    let earlier = shared.seals.make_durable(shared);
    // Waited for even when an earlier segment failed: no completion is left behind.
    let synced = pending.wait(segment.file.as_ref());
    earlier?;
    match synced {
        Ok(()) => {
            shared.synced.fetch_max(written, StdOrdering::AcqRel);
            // Wakes subscriptions reading to the synced watermark.
            shared.tail.publish();
            shared.counters.group_synced();
            Ok(())
        }
        Err(e) => {
            shared.poison();
            Err(Error::io(
                "fdatasync segment",
                Some(segment.path.clone()),
                e,
            ))
        }
    }
}
