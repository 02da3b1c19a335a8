//! The storage backend: every file-system call the log makes goes through [`Storage`]
//! and [`StorageFile`], so tests can run the same log on [`SimStorage`], which keeps
//! written-but-unsynced bytes apart from synced ones, fails chosen calls and "crashes".

mod file;
#[cfg(any(test, feature = "testing"))]
mod sim;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

pub use file::FileStorage;
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
    /// Creates (or replaces) `path` as `len_bytes` zero bytes whose data is synced, so
    /// later writes into it never allocate. The name is durable only after
    /// [`Storage::sync_dir`].
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
}

/// One preallocated file of fixed length.
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
    /// A read-only view of the file from offset 0. It covers at least every byte written
    /// before the call; a reader needing bytes past its end asks again.
    fn view(&self) -> io::Result<Bytes>;
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
