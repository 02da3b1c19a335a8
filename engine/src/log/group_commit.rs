//! Group commit: many `Synced` appenders share each fdatasync.
//!
//! The first appender to find no sync in flight becomes the leader: it notes what has
//! been written so far, syncs outside every lock, publishes the new synced watermark and
//! wakes the followers. Appenders that arrive meanwhile wait; when the leader finishes,
//! those it covered return and one of the rest leads the next sync, covering everything
//! written while the previous one ran. No timer forms a batch: the batch is whatever
//! arrived during the previous fdatasync.
//!
//! Before syncing, a new leader yields the processor while more followers keep arriving:
//! the appenders the previous sync just woke get to append and join this sync, instead
//! of forming a second cohort that waits for the next one (which halved the appends per
//! fdatasync in a closed loop). A leader that is the only `Synced` appender in progress
//! does not yield at all: a yield is a system call, about 2 % of a lone durable append.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use super::{append, Shared};
use crate::{Error, Result};

/// Whether a sync is in flight, and the condition its followers wait on.
#[derive(Default)]
pub(crate) struct GroupCommit {
    leader_active: Mutex<bool>,
    finished: Condvar,
    /// Appenders waiting for a sync to cover them.
    followers: AtomicUsize,
    /// `Synced` appends in progress (writing, or waiting for their sync).
    appending: AtomicUsize,
}

/// A `Synced` append in progress, counted until dropped.
pub(crate) struct Appending<'a>(&'a AtomicUsize);

impl Drop for Appending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl GroupCommit {
    /// Counts a `Synced` append from before its write until the guard is dropped.
    pub(crate) fn appending(&self) -> Appending<'_> {
        self.appending.fetch_add(1, Ordering::AcqRel);
        Appending(&self.appending)
    }

    /// Whether another `Synced` append is in progress besides the caller's (one that
    /// is not an append, a `sync()`, counts none).
    fn others_appending(&self) -> bool {
        self.appending.load(Ordering::Acquire) > 1
    }
}

/// Most yields a leader makes while followers keep arriving.
const LEADER_YIELDS_MAX: usize = 16;

/// Returns once every position below `target` is durable, leading a sync if needed.
pub(crate) fn wait_synced(shared: &Shared, target: u64) -> Result<()> {
    let group = &shared.group_commit;
    loop {
        if shared.synced.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        if shared.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned);
        }
        let mut leader_active = group
            .leader_active
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if shared.synced.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        if *leader_active {
            group.followers.fetch_add(1, Ordering::AcqRel);
            drop(
                group
                    .finished
                    .wait(leader_active)
                    .unwrap_or_else(|e| e.into_inner()),
            );
            group.followers.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        *leader_active = true;
        drop(leader_active);
        let mut followers = group.followers.load(Ordering::Acquire);
        let yields = if group.others_appending() || followers > 0 {
            LEADER_YIELDS_MAX
        } else {
            0
        };
        for _ in 0..yields {
            std::thread::yield_now();
            let now = group.followers.load(Ordering::Acquire);
            if now <= followers {
                break;
            }
            followers = now;
        }
        let result = lead_sync(shared);
        *group
            .leader_active
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = false;
        group.finished.notify_all();
        result?;
    }
}

/// Writes the buffered records and syncs the active segment, covering every record
/// appended before the call. Every
/// earlier segment is durable first: the one sealed last may still be waiting for its
/// fdatasync on the flusher thread, so this waits for it or runs it (`flusher`).
fn lead_sync(shared: &Shared) -> Result<()> {
    let (segment, written) = {
        let mut writer = shared.writer();
        // Nothing more is written once the log is poisoned (or closed).
        shared.check_usable()?;
        // The records of the `Synced` appends waiting for this sync (and any buffered
        // before them), in one `pwrite`.
        append::flush(shared, &mut writer)?;
        writer.sync_target()
    };
    shared.seals.make_durable(shared)?;
    match segment.file.sync_data() {
        Ok(()) => {
            shared.synced.fetch_max(written, Ordering::AcqRel);
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
