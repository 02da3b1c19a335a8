//! Writing index checkpoints to disk, outside the store's lock.
//!
//! The store encodes a checkpoint under its write lock (a consistent snapshot of the
//! index), syncs the log outside the lock so that every event it covers is durable, and
//! hands the bytes here. A checkpoint that fell due during an append is written on a
//! background thread, so neither that append nor any other waits for the file's write
//! and fdatasync. `checkpoint()` and `close()` write in
//! the caller and report errors. Writes are serialized, and an older snapshot never
//! replaces a newer one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::checkpoint::CHECKPOINT_FILE_NAME;
use crate::error::{Error, Result};
use crate::io::Storage;

/// An encoded checkpoint and how many events it indexes.
pub(crate) struct Snapshot {
    pub(crate) bytes: Vec<u8>,
    pub(crate) events_indexed: u64,
}

/// Writes snapshots into the store's directory.
pub(crate) struct Checkpointer {
    target: Arc<Target>,
    /// The background write in flight, if any.
    background: Mutex<Option<JoinHandle<()>>>,
}

/// Where checkpoints go, and the newest one written (which also serializes writes).
struct Target {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    newest_written: Mutex<u64>,
}

impl Checkpointer {
    pub(crate) fn new(storage: Arc<dyn Storage>, dir: &Path, events_indexed: u64) -> Self {
        Checkpointer {
            target: Arc::new(Target {
                storage,
                dir: dir.to_path_buf(),
                newest_written: Mutex::new(events_indexed),
            }),
            background: Mutex::new(None),
        }
    }

    fn background(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        self.background.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a background write is still running (a due checkpoint then waits: the
    /// store does not encode another one meanwhile).
    pub(crate) fn is_busy(&self) -> bool {
        self.background()
            .as_ref()
            .is_some_and(|handle| !handle.is_finished())
    }

    /// Writes `snapshot` on a background thread. Best effort, as the checkpoint that fell
    /// due is: a failure only means the next open replays more (and `checkpoint()` or
    /// `close()` report the next one's errors). Without a thread to run it on, it is
    /// skipped for the same reason.
    pub(crate) fn write_in_background(&self, snapshot: Snapshot) {
        let mut background = self.background();
        if let Some(previous) = background.take() {
            let _ = previous.join();
        }
        let target = Arc::clone(&self.target);
        *background = std::thread::Builder::new()
            .name("annal-checkpoint".into())
            .spawn(move || {
                let _ = target.write(&snapshot);
            })
            .ok();
    }

    /// Waits for any background write, then writes `snapshot`, reporting errors.
    pub(crate) fn write_now(&self, snapshot: &Snapshot) -> Result<()> {
        self.wait();
        self.target.write(snapshot)
    }

    /// Waits for the background write, if any.
    pub(crate) fn wait(&self) {
        if let Some(handle) = self.background().take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Checkpointer {
    /// A store dropped without `close()` still finishes its checkpoint before the log
    /// (and its directory lock) goes.
    fn drop(&mut self) {
        self.wait();
    }
}

impl Target {
    /// Writes `snapshot` to a temporary file, syncs it and renames it over the
    /// checkpoint, unless a newer one is already written.
    fn write(&self, snapshot: &Snapshot) -> Result<()> {
        let mut newest = self
            .newest_written
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if snapshot.events_indexed < *newest {
            return Ok(());
        }
        let dir = self.dir.as_path();
        let temporary = dir.join(format!("{CHECKPOINT_FILE_NAME}.tmp"));
        let path = dir.join(CHECKPOINT_FILE_NAME);
        let io = |op, path: &Path| {
            let path = path.to_path_buf();
            move |e| Error::io(op, Some(path), e)
        };
        let file = self
            .storage
            .create_file(&temporary, snapshot.bytes.len() as u64)
            .map_err(io("create index checkpoint", &temporary))?;
        file.write_at(0, &snapshot.bytes)
            .map_err(io("write index checkpoint", &temporary))?;
        file.sync_data()
            .map_err(io("fdatasync index checkpoint", &temporary))?;
        self.storage
            .rename(&temporary, &path)
            .map_err(io("rename index checkpoint", &path))?;
        self.storage
            .sync_dir(dir)
            .map_err(io("fsync directory", dir))?;
        *newest = snapshot.events_indexed;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::SimStorage;

    fn snapshot(events_indexed: u64) -> Snapshot {
        Snapshot {
            bytes: events_indexed.to_le_bytes().to_vec(),
            events_indexed,
        }
    }

    fn on_disk(storage: &SimStorage, dir: &Path) -> Vec<u8> {
        let file = storage
            .open_file(&dir.join(CHECKPOINT_FILE_NAME), false)
            .expect("a checkpoint on disk");
        file.view().expect("its bytes").to_vec()
    }

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        // Proves a checkpoint finishing late (an older snapshot) leaves the newer one on disk.
        let storage = SimStorage::new();
        let dir = Path::new("/store");
        storage.create_dir_all(dir).expect("the store's directory");
        let checkpointer = Checkpointer::new(Arc::new(storage.clone()), dir, 0);
        checkpointer.write_now(&snapshot(20)).expect("first write");
        checkpointer
            .write_now(&snapshot(10))
            .expect("an older snapshot is skipped, not an error");
        assert_eq!(on_disk(&storage, dir), 20u64.to_le_bytes());
        checkpointer.write_in_background(snapshot(30));
        checkpointer.wait();
        assert_eq!(on_disk(&storage, dir), 30u64.to_le_bytes());
    }

    #[test]
    fn a_failed_write_is_reported_and_leaves_the_previous_checkpoint() {
        // Proves a checkpoint whose fdatasync fails returns an I/O error and leaves the previous checkpoint in place.
        let storage = SimStorage::new();
        let dir = Path::new("/store");
        storage.create_dir_all(dir).expect("the store's directory");
        let checkpointer = Checkpointer::new(Arc::new(storage.clone()), dir, 0);
        checkpointer.write_now(&snapshot(5)).expect("first write");
        storage.fail_syncs_after(0);
        let err = checkpointer
            .write_now(&snapshot(6))
            .expect_err("the sync fails");
        assert!(matches!(err, Error::Io { .. }), "got {err:?}");
        storage.clear_faults();
        assert_eq!(on_disk(&storage, dir), 5u64.to_le_bytes());
    }
}
