//! Group commit: many `Synced` appenders share each fdatasync.
//!
//! The first appender to find no sync in flight becomes the leader: it notes what has
//! been written so far, syncs outside every lock, publishes the new synced watermark and
//! wakes the followers. Appenders that arrive meanwhile wait; when the leader finishes,
//! those it covered return and one of the rest leads the next sync, covering everything
//! written while the previous one ran. No timer forms a batch: the batch is whatever
//! arrived during the previous fdatasync.

use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex};

use super::Shared;
use crate::{Error, Result};

/// Whether a sync is in flight, and the condition its followers wait on.
#[derive(Default)]
pub(crate) struct GroupCommit {
    leader_active: Mutex<bool>,
    finished: Condvar,
}

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
            drop(
                group
                    .finished
                    .wait(leader_active)
                    .unwrap_or_else(|e| e.into_inner()),
            );
            continue;
        }
        *leader_active = true;
        drop(leader_active);
        let result = lead_sync(shared);
        *group
            .leader_active
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = false;
        group.finished.notify_all();
        result?;
    }
}

/// Syncs the active segment, covering every record written before the call. Earlier
/// segments were synced when they were sealed.
fn lead_sync(shared: &Shared) -> Result<()> {
    let (segment, written) = shared.writer().sync_target();
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
