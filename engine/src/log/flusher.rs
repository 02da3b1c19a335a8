//! The `annal-flusher` thread: makes sealed segments durable off the append path, and
//! starts the write-back of the active segment as it fills.
//!
//! **Seals.** A roll writes the seal and starts the next segment at once; the sealed
//! segment's fdatasync runs here. Until it has run, that segment is *pending*, and three
//! rules keep every promise:
//!
//! - At most one segment is pending: a roll first makes the previous pending one durable
//!   (normally long done). So after a crash only the segment before the last can be torn,
//!   which is what recovery accepts (docs/design.md, "Recovery").
//! - Nothing is reported synced past a pending segment: `synced` is raised to the seal's
//!   position only once its fdatasync returned, and the group-commit leader makes the
//!   pending segment durable (waiting for the sync in flight, or running it) before it
//!   syncs the active one and raises `synced` into it.
//! - The pending slot's mutex is held through the fdatasync, so whoever needs the segment
//!   durable waits for the sync in flight rather than racing it, and each seal is synced
//!   once.
//!
//! **Write-behind.** Each time the writer's published bytes cross a
//! [`WRITE_BEHIND_BYTES`] boundary it wakes this thread, which asks the storage to start
//! writing the active segment's new whole pages ([`StorageFile::start_writeback`]), without
//! waiting. `Buffered` appends otherwise reach the device only at the next fdatasync, all
//! at once: with write-behind the device writes while the appender is still appending, and
//! a seal's or a `sync()`'s fdatasync finds little left to write. Durability is unchanged:
//! only fdatasync makes anything durable, and only it raises `synced`.
//!
//! **Allocation ahead.** On the same wake-up it asks the storage for blocks up to
//! [`ALLOCATE_AHEAD_BYTES`] past the published bytes ([`StorageFile::allocate_through`]):
//! segments are created sparse (a small store stays small on disk) and grow their
//! allocation here, never on the append path. It is only a hint: a write that outruns it
//! lands in a hole, which the file system allocates itself.
//!
//! [`StorageFile::start_writeback`]: crate::io::StorageFile::start_writeback
//! [`StorageFile::allocate_through`]: crate::io::StorageFile::allocate_through

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;

use crossbeam::channel::{self, Sender, TrySendError};

use super::segment::Segment;
use super::Shared;
use crate::error::{Error, Result};

/// The writer wakes the flusher each time its published bytes in the active segment
/// cross a multiple of this.
pub(crate) const WRITE_BEHIND_BYTES: u64 = 1 << 20;

/// The active segment has blocks allocated this far past its published bytes, at least
/// (`StorageFile::allocate_through`; the writer wakes this thread every
/// [`WRITE_BEHIND_BYTES`]), so the writer's `pwrite`s land in allocated blocks.
const ALLOCATE_AHEAD_BYTES: u64 = 2 * WRITE_BEHIND_BYTES;

/// Write-back is started in whole pages of this size (a partial last page would be
/// written again when it fills).
const PAGE_BYTES: u64 = 4096;

/// A sealed segment whose fdatasync may not have run yet.
struct Pending {
    segment: Arc<Segment>,
    /// The seal's position: every position below it is in this segment or an earlier one.
    end_position: u64,
}

/// The pending sealed segment, if any (at most one).
#[derive(Default)]
pub(crate) struct SealSync {
    pending: Mutex<Option<Pending>>,
}

impl SealSync {
    fn lock(&self) -> MutexGuard<'_, Option<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `segment`, just sealed at `end_position`, as pending. The caller (a roll)
    /// made the previous pending segment durable first.
    pub(crate) fn set_pending(&self, segment: Arc<Segment>, end_position: u64) {
        let mut pending = self.lock();
        debug_assert!(pending.is_none(), "two sealed segments pending");
        *pending = Some(Pending {
            segment,
            end_position,
        });
    }

    /// Makes the pending sealed segment durable, if there is one (waiting for a sync in
    /// flight), and raises `synced` to its seal. A failed fdatasync poisons the log.
    pub(crate) fn make_durable(&self, shared: &Shared) -> Result<()> {
        let mut pending = self.lock();
        let Some(seal) = pending.as_ref() else {
            return Ok(());
        };
        if shared.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned);
        }
        if let Err(e) = seal.segment.file.sync_data() {
            let path = seal.segment.path.clone();
            shared.poison();
            return Err(Error::io("fdatasync segment", Some(path), e));
        }
        shared.synced.fetch_max(seal.end_position, Ordering::AcqRel);
        *pending = None;
        drop(pending);
        // Wakes subscriptions reading to the synced watermark.
        shared.tail.publish();
        Ok(())
    }
}

/// The background thread; dropping it stops the thread.
pub(crate) struct Flusher {
    requests: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts the thread, or returns `None` if it cannot be spawned (rolls then sync the
    /// sealed segment themselves, and nothing is written behind).
    pub(crate) fn start(log: Weak<Shared>) -> Option<Flusher> {
        let (requests, received) = channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("annal-flusher".into())
            .spawn(move || {
                let _dart = PoisonDart(log.clone());
                let mut written_back = WrittenBack::default();
                for () in received {
                    let Some(shared) = log.upgrade() else { break };
                    // A failure poisons the log; the next sync or append reports it.
                    if shared.seals.make_durable(&shared).is_ok() {
                        written_back.advance(&shared);
                    }
                }
            })
            .ok()?;
        Some(Flusher {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Wakes the thread (to sync the pending seal, and start the write-back of what the
    /// active segment gained); never blocks. Requests made while one is queued coalesce.
    /// A thread that is gone (it panicked: its dart already poisoned the log) is reported
    /// as [`Error::Poisoned`], never ignored.
    pub(crate) fn request(&self) -> Result<()> {
        let Some(requests) = &self.requests else {
            return Ok(());
        };
        match requests.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => Ok(()),
            Err(TrySendError::Disconnected(())) => Err(Error::Poisoned),
        }
    }
}

/// Poisons the log if the flusher thread unwinds: a seal it was to make durable would
/// otherwise wait silently, and nothing may be acknowledged as synced past it.
struct PoisonDart(Weak<Shared>);

impl Drop for PoisonDart {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(shared) = self.0.upgrade() {
                shared.poison();
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How far the flusher has started the active segment's write-back.
#[derive(Default)]
struct WrittenBack {
    /// The segment (by first position) and the offset write-back was started up to.
    through: Option<(u64, u64)>,
}

impl WrittenBack {
    fn advance(&mut self, shared: &Shared) {
        let Some(active) = shared
            .segments
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
        else {
            return;
        };
        let from = match self.through {
            Some((first, offset)) if first == active.first_position => offset,
            _ => 0,
        };
        let written = active.written_bytes();
        active.file.allocate_through(written + ALLOCATE_AHEAD_BYTES);
        let to = written / PAGE_BYTES * PAGE_BYTES;
        if to > from {
            active.file.start_writeback(from, to - from);
            self.through = Some((active.first_position, to));
        }
    }
}
