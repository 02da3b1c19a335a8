//! The storage backend: every file-system call the log makes goes through [`Storage`]
//! and [`StorageFile`], so tests can run the same log on [`SimStorage`], which keeps
//! written-but-unsynced bytes apart from synced ones, fails chosen calls and "crashes".

mod file;
#[cfg(any(test, feature = "testing"))]
mod rng;
#[cfg(any(test, feature = "testing"))]
mod sim;
#[cfg(target_os = "linux")]
mod uring;

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::options::IoPath;

pub use file::FileStorage;
#[cfg(any(test, feature = "testing"))]
pub use rng::Rng;
#[cfg(any(test, feature = "testing"))]
pub use sim::{CrashMode, SimCounters, SimStorage};

/// A directory of files, as the log uses it.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the regular files in `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Opens an existing file; `writable` files accept [`StorageFile::write_at`].
    fn open_file(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn StorageFile>>;
    /// Creates (or replaces) `path` as `len_bytes` bytes that read as zeros, its length
    /// synced. A backend may give the file its blocks lazily (the file backend leaves it
    /// sparse past its first [`StorageFile::allocate_through`] chunk), so a store holding
    /// little takes little disk. The name is durable only after [`Storage::sync_dir`].
    fn create_file(&self, path: &Path, len_bytes: u64) -> io::Result<Arc<dyn StorageFile>>;
    /// Renames a file; durable only after [`Storage::sync_dir`].
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file; durable only after [`Storage::sync_dir`].
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes the exclusive lock on `dir`, held until the returned guard is dropped.
    /// Fails with [`io::ErrorKind::WouldBlock`] when another owner holds it.
    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock>;
    /// The path its files' [`StorageFile::write_then_sync_data`] takes:
    /// [`IoPath::IoUring`] or [`IoPath::Pwrite`], never `Auto`. The default (every
    /// backend without a ring) is `Pwrite`.
    fn io_path(&self) -> IoPath {
        IoPath::Pwrite
    }
}

/// One file of fixed length (its blocks allocated up front or as it fills).
pub trait StorageFile: Send + Sync {
    /// The file's length in bytes.
    fn len_bytes(&self) -> u64;
    /// Copies `data` into the file at `offset`. The range must lie within the file.
    /// Callers never write a range a reader may be reading (the watermark protocol).
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes every completed write durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Starts writing `len_bytes` from `offset` to the device without waiting for it, so a
    /// later [`StorageFile::sync_data`] finds less to do. Only a hint: it makes nothing
    /// durable, and a write error it meets is reported by the next `sync_data`. The
    /// default does nothing.
    fn start_writeback(&self, offset: u64, len_bytes: u64) {
        let _ = (offset, len_bytes);
    }
    /// Asks the backend to give the file blocks for every byte below `end` ahead of the
    /// writes that will land there, so those writes do not allocate. Only a hint, run off
    /// the append path: it changes no byte and no length, needs no sync (an allocation
    /// lost in a crash reads as zeros again, as a hole does), and a failure (a full disk)
    /// is left for the write itself to meet. The default does nothing.
    fn allocate_through(&self, end: u64) {
        let _ = end;
    }
    /// The first range at or after `offset` that may hold non-zero bytes, or `None` when
    /// every byte from `offset` to the end reads as zeros. A backend that cannot tell
    /// (the default) answers `offset..len`; the file backend skips holes and
    /// never-written (unwritten) extents with `SEEK_DATA` / `SEEK_HOLE`, so recovery
    /// never reads the unused rest of a segment.
    fn next_data(&self, offset: u64) -> io::Result<Option<Range<u64>>> {
        let len = self.len_bytes();
        Ok((offset < len).then_some(offset..len))
    }
    /// Writes `data` at `offset` as [`StorageFile::write_at`] does and starts a data sync
    /// covering it and every earlier completed write; the returned [`PendingSync`]
    /// finishes the sync (given this file). An error means the write failed (the sync's
    /// own failure is [`PendingSync::wait`]'s). The default writes, then syncs when waited on; the
    /// io_uring path submits both as one linked request.
    fn write_then_sync_data(&self, offset: u64, data: &[u8]) -> io::Result<PendingSync<'_>> {
        if !data.is_empty() {
            self.write_at(offset, data)?;
        }
        Ok(PendingSync::sync_data())
    }
    /// A read-only view of the file from offset 0. It covers at least every byte written
    /// before the call; a reader needing bytes past its end asks again.
    fn view(&self) -> io::Result<Bytes>;
}

/// A data sync started by [`StorageFile::write_then_sync_data`]. Waiting on it is the
/// only way to learn whether it succeeded: nothing it covers may be reported durable
/// before [`PendingSync::wait`] returns `Ok`. Making one allocates nothing.
#[must_use = "a sync's result must be checked"]
pub struct PendingSync<'a>(Pending<'a>);

enum Pending<'a> {
    /// Not started: `sync_data` on the file when waited on.
    SyncData,
    /// Submitted on the storage's io_uring ring, linked behind the write.
    #[cfg(target_os = "linux")]
    Ring(uring::RingSync<'a>),
    #[cfg(not(target_os = "linux"))]
    _Unused(std::marker::PhantomData<&'a ()>),
}

impl<'a> PendingSync<'a> {
    /// A sync that [`StorageFile::sync_data`] makes when waited on: what a backend
    /// without its own way of syncing returns (the trait's default does).
    pub fn sync_data() -> PendingSync<'a> {
        PendingSync(Pending::SyncData)
    }

    #[cfg(target_os = "linux")]
    fn ring(sync: uring::RingSync<'a>) -> PendingSync<'a> {
        PendingSync(Pending::Ring(sync))
    }

    /// Waits for the sync of `file` (the file that started it) and reports its result.
    pub fn wait(self, file: &dyn StorageFile) -> io::Result<()> {
        match self.0 {
            Pending::SyncData => file.sync_data(),
            #[cfg(target_os = "linux")]
            Pending::Ring(sync) => sync.wait(),
            #[cfg(not(target_os = "linux"))]
            Pending::_Unused(_) => unreachable!("never constructed"),
        }
    }
}

/// The guard of a directory lock; dropping it releases the lock.
pub struct DirLock(#[allow(dead_code)] Box<dyn Send + Sync>);

impl DirLock {
    pub(crate) fn new(guard: Box<dyn Send + Sync>) -> DirLock {
        DirLock(guard)
    }
}

impl fmt::Debug for DirLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirLock")
    }
}

fn out_of_bounds(offset: u64, len: usize, file_len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("write of {len} bytes at offset {offset} runs past the file's {file_len} bytes"),
    )
}
