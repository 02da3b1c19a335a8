//! Writing index checkpoints to disk, outside the store's lock.
//!
//! The store freezes the index's changed entries under its write lock (O(1): a snapshot,
//! `Index::freeze`), syncs the log outside the lock so that every event it covers is
//! durable, and hands the snapshot here. A checkpoint that fell due during an append is
//! written on a background thread, so neither that append nor any other waits for the
//! merge, the file's write and its fdatasync; its outcome waits in `finished` until the
//! store next holds its write lock and installs it (the new table replaces the frozen
//! entries) or thaws the snapshot (the write failed). `checkpoint()` and `close()` write
//! in the caller and report errors. One snapshot at a time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::checkpoint::{self, Snapshot};
use super::table::Table;
use super::{Index, Retired};
use crate::error::Result;
use crate::io::Storage;

/// How a background write ended.
#[derive(Debug)]
pub(crate) enum Finished {
    /// The checkpoint was written: the new table, to install.
    Written(Arc<Table>),
    /// It was not: the snapshot's entries go back to the heap.
    Failed,
}

/// Writes snapshots into the store's directory.
pub(crate) struct Checkpointer {
    target: Arc<Target>,
    /// The background write in flight, if any.
    background: Mutex<Option<JoinHandle<()>>>,
}

/// Where checkpoints go, and the outcome of the last background write not yet installed.
struct Target {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    finished: Mutex<Option<Finished>>,
    has_finished: AtomicBool,
}

impl Target {
    fn finish(&self, outcome: Finished) {
        *self.finished.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        self.has_finished.store(true, Ordering::Release);
    }
}

impl Checkpointer {
    pub(crate) fn new(storage: Arc<dyn Storage>, dir: &Path) -> Self {
        Checkpointer {
            target: Arc::new(Target {
                storage,
                dir: dir.to_path_buf(),
                finished: Mutex::new(None),
                has_finished: AtomicBool::new(false),
            }),
            background: Mutex::new(None),
        }
    }

    fn background(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        self.background.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a background write is still running.
    pub(crate) fn is_busy(&self) -> bool {
        self.background()
            .as_ref()
            .is_some_and(|handle| !handle.is_finished())
    }

    /// Writes `snapshot` on a background thread. Best effort, as the checkpoint that fell
    /// due is: a failure only means the next open replays more (and `checkpoint()` or
    /// `close()` report the next one's errors). Without a thread to run it on, it is
    /// reported failed for the same reason.
    pub(crate) fn write_in_background(&self, snapshot: Snapshot) {
        let mut background = self.background();
        if let Some(previous) = background.take() {
            let _ = previous.join();
        }
        let target = Arc::clone(&self.target);
        let spawned = std::thread::Builder::new()
            .name("annal-checkpoint".into())
            .spawn(move || {
                let written = checkpoint::write(target.storage.as_ref(), &target.dir, &snapshot);
                // The snapshot's levels go before the outcome is published, so a thaw
                // finds itself their only owner.
                drop(snapshot);
                target.finish(match written {
                    Ok(table) => Finished::Written(table),
                    Err(_) => Finished::Failed,
                });
            });
        match spawned {
            Ok(handle) => *background = Some(handle),
            Err(_) => self.target.finish(Finished::Failed),
        }
    }

    /// Records that a frozen snapshot will not be written (its log sync failed).
    pub(crate) fn abandon(&self, snapshot: Snapshot) {
        drop(snapshot);
        self.target.finish(Finished::Failed);
    }

    /// Waits for any background write, then writes `snapshot`, reporting errors.
    pub(crate) fn write_now(&self, snapshot: Snapshot) -> Result<Arc<Table>> {
        self.wait();
        checkpoint::write(self.target.storage.as_ref(), &self.target.dir, &snapshot)
    }

    /// Waits for the background write, if any.
    pub(crate) fn wait(&self) {
        if let Some(handle) = self.background().take() {
            let _ = handle.join();
        }
    }

    /// Installs the outcome of a finished background write into `index` (the caller
    /// holds the store's write lock): the new table, or the snapshot thawed. What the
    /// new table replaces is dropped on a thread of its own, so that no append waits for
    /// a million entries to be freed.
    #[inline]
    pub(crate) fn install_finished(&self, index: &mut Index) {
        // Inlined: every store append calls it, and almost always nothing has finished.
        if self.target.has_finished.load(Ordering::Acquire) {
            self.install_finished_now(index);
        }
    }

    #[cold]
    fn install_finished_now(&self, index: &mut Index) {
        let outcome = {
            let mut slot = self
                .target
                .finished
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.target.has_finished.store(false, Ordering::Release);
            slot.take()
        };
        match outcome {
            Some(Finished::Written(table)) => retire(index.install(table)),
            Some(Finished::Failed) => index.thaw(),
            None => {}
        }
    }
}

/// Drops what an install replaced on a thread of its own (where no thread can be
/// started, the closure, and with it `retired`, is dropped in the caller).
fn retire(retired: Retired) {
    let _ = std::thread::Builder::new()
        .name("annal-retire".into())
        .spawn(move || drop(retired));
}

impl Drop for Checkpointer {
    /// A store dropped without `close()` still finishes its checkpoint before the log
    /// (and its directory lock) goes.
    fn drop(&mut self) {
        self.wait();
    }
}
