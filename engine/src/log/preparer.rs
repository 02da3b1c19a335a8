//! Prepares the next segment file (sparse, its length synced) on a background thread, so
//! a roll on the append path only writes a header and renames. It is asked for once the
//! active segment is half full, so a log that never fills a segment has one file.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crossbeam::channel::{self, Sender, TrySendError};

use super::directory::prepare_segment_file;
use crate::error::Result;
use crate::io::{Storage, StorageFile};

#[derive(Default)]
struct Slot {
    ready: Option<Arc<dyn StorageFile>>,
    busy: bool,
    /// The writer holds a file taken from here that it has not installed yet: it still
    /// bears the prepared name, so no other file may be created under that name.
    taken: bool,
}

struct Shared {
    slot: Mutex<Slot>,
    changed: Condvar,
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    segment_bytes: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prepares a file unless one is ready, being prepared, or taken and not yet
    /// installed. The file is created with the slot marked busy, so only one file of the
    /// prepared name exists at a time; with `keep` it is left in the slot, without it it
    /// is marked taken, in the same critical section that clears busy.
    fn prepare_once(&self, keep: bool) -> Option<Result<Arc<dyn StorageFile>>> {
        let mut slot = self.lock();
        if slot.ready.is_some() || slot.busy || slot.taken {
            return None;
        }
        slot.busy = true;
        drop(slot);
        let prepared = prepare_segment_file(self.storage.as_ref(), &self.dir, self.segment_bytes);
        let mut slot = self.lock();
        slot.busy = false;
        self.changed.notify_all();
        match prepared {
            Ok(file) if keep => {
                slot.ready = Some(file);
                None
            }
            Ok(file) => {
                slot.taken = true;
                Some(Ok(file))
            }
            Err(e) => Some(Err(e)),
        }
    }
}

/// The background preparer; dropping it stops the thread.
pub(crate) struct Preparer {
    shared: Arc<Shared>,
    requests: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Preparer {
    pub(crate) fn start(storage: Arc<dyn Storage>, dir: PathBuf, segment_bytes: u64) -> Preparer {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            changed: Condvar::new(),
            storage,
            dir,
            segment_bytes,
        });
        let (requests, received) = channel::bounded::<()>(1);
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("annal-preparer".into())
            .spawn(move || {
                for () in received {
                    // A failure here (a full disk, say) is left for the roll to meet and
                    // report: it prepares synchronously when nothing is ready.
                    let _ = worker.prepare_once(true);
                }
            })
            .ok();
        Preparer {
            shared,
            requests: Some(requests),
            thread,
        }
    }

    /// Tells the preparer the file it gave out is installed (renamed away from the
    /// prepared name), which frees the name for the next file.
    pub(crate) fn installed(&self) {
        self.shared.lock().taken = false;
    }

    /// Asks for a spare segment to be prepared in the background; never blocks. The
    /// writer calls it once the active segment is half full (or at open, when it
    /// already is), after installing the file it took before.
    pub(crate) fn request(&self) {
        self.shared.lock().taken = false;
        if let Some(requests) = &self.requests {
            match requests.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
            }
        }
    }

    /// Takes the prepared file, waiting for one in preparation, or prepares one now.
    /// Until the next [`Preparer::request`], the background thread creates no file: the
    /// taken one keeps the prepared name until the writer renames it.
    pub(crate) fn take(&self) -> Result<Arc<dyn StorageFile>> {
        // A file taken earlier and not installed (its roll failed) is abandoned.
        self.shared.lock().taken = false;
        loop {
            let mut slot = self.shared.lock();
            while slot.busy {
                slot = self
                    .shared
                    .changed
                    .wait(slot)
                    .unwrap_or_else(|e| e.into_inner());
            }
            if let Some(file) = slot.ready.take() {
                slot.taken = true;
                return Ok(file);
            }
            drop(slot);
            if let Some(prepared) = self.shared.prepare_once(false) {
                return prepared;
            }
        }
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
