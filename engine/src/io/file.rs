//! The real backend: files on the local file system, read through memory maps.
//!
//! A new file (a segment being prepared) is sparse: its length is set and synced, and it
//! gets blocks (`fallocate`: unwritten extents, reading as zeros) for its first
//! `ALLOCATION_CHUNK_BYTES`; the flusher thread allocates further chunks ahead of the
//! writer (`allocate_through`), off the append path. So a store of a few events takes a
//! chunk per segment file on disk, not a whole segment (a fully allocated 64 MiB segment
//! and its prepared successor were 129 MiB for 10 events), and the writer still writes
//! into allocated blocks. The length never changes after creation, so no fdatasync has a
//! file size to commit; an allocation lost in a crash reads as zeros again, as a hole
//! does. The first fdatasync after a write into an unwritten extent (or a hole) also
//! commits the extent's conversion (or allocation) in the file system's journal; so a
//! small write that runs past what the file has had written is followed by zeros up to
//! the next `ZERO_AHEAD_BYTES` boundary, and a run of small durable appends pays that
//! commit once per 64 KiB rather than once per 4 KiB block. Large writes (a flush of
//! buffered appends) amortize it themselves and are not extended.
//!
//! Recovery asks where data may be (`next_data`: `SEEK_DATA` / `SEEK_HOLE`), so it never
//! reads the unused, never-written rest of a segment.
//!
//! Writes are `pwrite`s, except the group-commit leader's on a storage opened with
//! io_uring (`FileStorage::with_io_path`): its write, zero-ahead and fdatasync go to the
//! kernel as one linked request (`uring.rs`). Readers see writes through a read-only shared mapping of the same
//! page cache. (Writing through a writable mapping was measured 5–7× slower for durable
//! appends: after each fdatasync the page is write-protected again, and the next write
//! takes a fault into the file system.)

use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use memmap2::Mmap;

#[cfg(target_os = "linux")]
use super::uring::{self, Ring, Target};
use super::{out_of_bounds, DirLock, PendingSync, Storage, StorageFile};
use crate::error::{Error, Result};
use crate::options::IoPath;

/// The local file system. `FileStorage::default()` writes with `pwrite`;
/// [`FileStorage::with_io_path`] may give it an io_uring ring for durable writes.
#[derive(Default, Clone)]
pub struct FileStorage {
    /// The ring durable writes go through (`None`: `pwrite` then `fdatasync`).
    #[cfg(target_os = "linux")]
    ring: Option<Arc<Ring>>,
}

impl std::fmt::Debug for FileStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStorage")
            .field("io_path", &self.io_path())
            .finish()
    }
}

/// What `IoPath::Auto` takes: the path measured faster on the reference machine
/// (docs/benchmarks.md, "io_uring against pwrite").
const AUTO_PREFERS_IO_URING: bool = false;

impl FileStorage {
    /// A file storage whose durable writes take `io_path`. `Auto` probes io_uring (once
    /// per process) if it is the measured default and falls back to `pwrite` where it
    /// is unavailable; `IoUring` there is [`Error::IoUringUnavailable`].
    pub fn with_io_path(io_path: IoPath) -> Result<FileStorage> {
        choose(io_path, AUTO_PREFERS_IO_URING, FileStorage::with_ring)
    }

    #[cfg(target_os = "linux")]
    fn with_ring() -> std::result::Result<FileStorage, String> {
        uring::probe()?;
        let ring = Ring::new().map_err(|e| e.to_string())?;
        Ok(FileStorage {
            ring: Some(Arc::new(ring)),
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn with_ring() -> std::result::Result<FileStorage, String> {
        Err("io_uring exists on Linux only".to_owned())
    }

    /// A writable file's handle, registered with the ring if there is one.
    fn writable(&self, file: File, path: PathBuf) -> io::Result<MappedFile> {
        #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
        let mut mapped = MappedFile::new(file, path, true)?;
        #[cfg(target_os = "linux")]
        if let Some(ring) = &self.ring {
            let slot = ring.register(&mapped.file);
            mapped.ring = Some((Arc::clone(ring), slot));
        }
        Ok(mapped)
    }
}

/// The storage for `io_path`, given whether `Auto` prefers io_uring and how to set up a
/// ring (which fails with the reason io_uring cannot be used).
fn choose(
    io_path: IoPath,
    auto_prefers_io_uring: bool,
    with_ring: impl FnOnce() -> std::result::Result<FileStorage, String>,
) -> Result<FileStorage> {
    match io_path {
        IoPath::Pwrite => Ok(FileStorage::default()),
        IoPath::Auto if !auto_prefers_io_uring => Ok(FileStorage::default()),
        IoPath::Auto => Ok(with_ring().unwrap_or_default()),
        IoPath::IoUring => with_ring().map_err(|reason| Error::IoUringUnavailable { reason }),
    }
}

/// A new file gets blocks for its first this many bytes; later ones are allocated this
/// many at a time ahead of the writer (`StorageFile::allocate_through`, called from the
/// flusher thread). A store of a few events takes one chunk per segment file on disk,
/// not a whole segment.
pub(crate) const ALLOCATION_CHUNK_BYTES: u64 = 2 << 20;

/// A small write past the written part of an allocated file is followed by zeros up to a
/// multiple of this (see the module doc).
const ZERO_AHEAD_BYTES: u64 = 64 << 10;

/// Zeros for [`ZERO_AHEAD_BYTES`] extensions, never written to.
static ZEROS: [u8; ZERO_AHEAD_BYTES as usize] = [0; ZERO_AHEAD_BYTES as usize];

impl Storage for FileStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    fn open_file(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new().read(true).write(writable).open(path)?;
        if writable {
            return Ok(Arc::new(self.writable(file, path.to_path_buf())?));
        }
        Ok(Arc::new(MappedFile::new(file, path.to_path_buf(), false)?))
    }

    fn create_file(&self, path: &Path, len_bytes: u64) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        // Sparse: the length is set, blocks come later (the first chunk now, the rest
        // ahead of the writer from the flusher thread, `allocate_through`).
        file.set_len(len_bytes)?;
        let first = len_bytes.min(ALLOCATION_CHUNK_BYTES);
        let can_allocate = first == 0 || allocate(&file, 0, first)?;
        // Makes the length durable: recovery checks it against the segment header.
        file.sync_all()?;
        let mut mapped = self.writable(file, path.to_path_buf())?;
        mapped.written_through = Mutex::new(0);
        mapped.allocated_through = AtomicU64::new(if can_allocate { first } else { u64::MAX });
        Ok(Arc::new(mapped))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        let path = dir.join("LOCK");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock::new(Box::new(HeldLock(file)))),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "lock held by another owner",
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn io_path(&self) -> IoPath {
        #[cfg(target_os = "linux")]
        if self.ring.is_some() {
            return IoPath::IoUring;
        }
        IoPath::Pwrite
    }
}

/// The directory's `LOCK` file while its lock is held. Dropping it unlocks explicitly
/// rather than only closing the descriptor: a child process forked by another thread
/// holds a copy of the descriptor until it execs, and the lock, which belongs to the open
/// file rather than the descriptor, would outlive the log that long (a reopen right after
/// a close then found the directory locked).
struct HeldLock(File);

impl Drop for HeldLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway once the last copy is closed; an
        // error here leaves exactly that.
        let _ = self.0.unlock();
    }
}

/// A file with a read-only mapping for readers; writable ones take `pwrite`s.
struct MappedFile {
    file: File,
    len_bytes: u64,
    view: Bytes,
    writable: bool,
    /// Every byte from here on has never been written since the file was created (it
    /// reads as zeros from unwritten extents or holes): what a zero-ahead may cover.
    /// Files opened rather than created start at their length (nothing known, nothing
    /// extended).
    written_through: Mutex<u64>,
    /// Blocks were allocated below this (`u64::MAX`: allocation is not supported here, or
    /// the file is read-only). Files opened rather than created start at 0: allocating
    /// what already has blocks is cheap and changes nothing.
    allocated_through: AtomicU64,
    /// The storage's ring and this file's registered slot in it (writable files only).
    #[cfg(target_os = "linux")]
    ring: Option<(Arc<Ring>, Option<u32>)>,
    _path: PathBuf,
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some((ring, Some(slot))) = &self.ring {
            ring.unregister(*slot);
        }
    }
}

impl MappedFile {
    fn new(file: File, path: PathBuf, writable: bool) -> io::Result<MappedFile> {
        let len_bytes = file.metadata()?.len();
        let read_map = map_read_only(&file)?;
        Ok(MappedFile {
            file,
            len_bytes,
            view: Bytes::from_owner(read_map),
            writable,
            written_through: Mutex::new(len_bytes),
            allocated_through: AtomicU64::new(if writable { 0 } else { u64::MAX }),
            #[cfg(target_os = "linux")]
            ring: None,
            _path: path,
        })
    }
}

/// Gives `file` blocks for `offset..offset + len_bytes` that read as zeros, without
/// writing them (`fallocate`, mode 0: unwritten extents; within the file's length it
/// changes no size). Returns `false` where that is not supported (the file stays sparse
/// there, which reads as zeros too).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[expect(unsafe_code, reason = "calling fallocate(2) through the C library")]
fn allocate(file: &File, offset: u64, len_bytes: u64) -> io::Result<bool> {
    use std::os::fd::AsRawFd;

    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len_bytes)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // SAFETY: `fallocate` takes no pointers: a descriptor this function borrows (open for
    // the whole call), mode 0 (allocate) and a range. It touches no memory of this
    // process; its only effects are on the file.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, len) };
    if rc == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    // Not supported by the kernel (ENOSYS) or this file system (EOPNOTSUPP).
    if error.kind() == io::ErrorKind::Unsupported || error.raw_os_error() == Some(libc::EOPNOTSUPP)
    {
        return Ok(false);
    }
    Err(error)
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn allocate(_file: &File, _offset: u64, _len_bytes: u64) -> io::Result<bool> {
    Ok(false)
}

/// The first range at or after `offset` that holds data (`SEEK_DATA`, then `SEEK_HOLE`):
/// holes and unwritten extents without dirty pages read as zeros and are skipped. `None`
/// when nothing from `offset` on holds data; `Err` when the file system cannot say
/// (the caller then reads the rest).
#[cfg(target_os = "linux")]
#[expect(unsafe_code, reason = "calling lseek(2) with SEEK_DATA and SEEK_HOLE")]
fn seek_data(file: &File, offset: u64, len_bytes: u64) -> io::Result<Option<Range<u64>>> {
    use std::os::fd::AsRawFd;

    if offset >= len_bytes {
        return Ok(None);
    }
    let from = i64::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `lseek` takes no pointers: a descriptor this function borrows (open for the
    // whole call), an offset and a whence. It only moves the descriptor's file offset,
    // which nothing else in the engine uses (every read and write is positioned).
    let start = unsafe { libc::lseek(file.as_raw_fd(), from, libc::SEEK_DATA) };
    if start < 0 {
        let error = io::Error::last_os_error();
        // ENXIO: no data at or after `offset`.
        if error.raw_os_error() == Some(libc::ENXIO) {
            return Ok(None);
        }
        return Err(error);
    }
    // SAFETY: as above.
    let end = unsafe { libc::lseek(file.as_raw_fd(), start, libc::SEEK_HOLE) };
    if end < 0 {
        return Err(io::Error::last_os_error());
    }
    let (start, end) = (start as u64, (end as u64).min(len_bytes));
    Ok((start < end).then_some(start..end))
}

#[cfg(not(target_os = "linux"))]
fn seek_data(_file: &File, offset: u64, len_bytes: u64) -> io::Result<Option<Range<u64>>> {
    Ok((offset < len_bytes).then_some(offset..len_bytes))
}

/// Starts the write-back of the file's dirty pages in the range, without waiting for it
/// (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`). Errors are left to the next
/// fdatasync, which reports write-back failures.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[expect(
    unsafe_code,
    reason = "calling sync_file_range(2) through the C library"
)]
fn write_behind(file: &File, offset: u64, len_bytes: u64) {
    use std::ffi::{c_int, c_uint};
    use std::os::fd::AsRawFd;

    const SYNC_FILE_RANGE_WRITE: c_uint = 2;
    extern "C" {
        fn sync_file_range(fd: c_int, offset: i64, nbytes: i64, flags: c_uint) -> c_int;
    }
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len_bytes)) else {
        return;
    };
    // SAFETY: `sync_file_range` takes no pointers: a descriptor this function borrows
    // (open for the whole call), a range and flags. It touches no memory of this process;
    // it only queues the range's dirty pages for writing.
    let _ = unsafe { sync_file_range(file.as_raw_fd(), offset, len, SYNC_FILE_RANGE_WRITE) };
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn write_behind(_file: &File, _offset: u64, _len_bytes: u64) {}

#[expect(unsafe_code, reason = "memory-mapping a segment file")]
fn map_read_only(file: &File) -> io::Result<Mmap> {
    // SAFETY: the mapped file must not be truncated or rewritten under the mapping. The
    // log directory is locked (`lock_dir`) while the log is open, so no cooperating
    // process writes it; the engine never shrinks a segment; and bytes below a segment's
    // published length are never rewritten while it is mapped (docs/design.md, "The
    // reader watermark"). Readers never look past the published length.
    unsafe { Mmap::map(file) }
}

/// The `written_through` guard, held through a write so a zero-ahead never covers
/// bytes another write put down meanwhile.
type WrittenThrough<'a> = std::sync::MutexGuard<'a, u64>;

impl MappedFile {
    /// Checks a write of `data` at `offset` and plans its zero-ahead: the zeros to write
    /// after it and where, if it runs past everything written so far (module doc). The
    /// returned guard is to be held through the writes and then raised past them.
    #[allow(clippy::type_complexity)]
    fn plan_write(
        &self,
        offset: u64,
        data: &[u8],
    ) -> io::Result<(WrittenThrough<'_>, Option<(u64, &'static [u8])>)> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "file was opened read-only",
            ));
        }
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= self.len_bytes)
            .ok_or_else(|| out_of_bounds(offset, data.len(), self.len_bytes))?;
        let written_through = self
            .written_through
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut zeros = None;
        if end > *written_through && !data.is_empty() {
            // Everything from `end` on is unwritten: earlier writes all ended below
            // `written_through`.
            let ahead = if (data.len() as u64) < ZERO_AHEAD_BYTES {
                end.next_multiple_of(ZERO_AHEAD_BYTES).min(self.len_bytes)
            } else {
                end
            };
            if ahead > end {
                zeros = Some((end, &ZEROS[..(ahead - end) as usize]));
            }
        }
        Ok((written_through, zeros))
    }
}

impl StorageFile for MappedFile {
    fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let (mut written_through, zeros) = self.plan_write(offset, data)?;
        self.file.write_all_at(data, offset)?;
        if let Some((zeros_offset, zeros)) = zeros {
            self.file.write_all_at(zeros, zeros_offset)?;
        }
        *written_through = (*written_through)
            .max(offset + data.len() as u64 + zeros.map_or(0, |(_, z)| z.len() as u64));
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn write_then_sync_data(&self, offset: u64, data: &[u8]) -> io::Result<PendingSync<'_>> {
        let Some((ring, slot)) = &self.ring else {
            if !data.is_empty() {
                self.write_at(offset, data)?;
            }
            return Ok(PendingSync::sync_data());
        };
        let (mut written_through, zeros) = self.plan_write(offset, data)?;
        let target = Target {
            file: &self.file,
            slot: *slot,
        };
        // The record bytes, then their zero-ahead: no allocation per group.
        let writes: [(u64, &[u8]); 2] = [(offset, data), zeros.unwrap_or((offset, &[]))];
        let count = if zeros.is_some() { 2 } else { 1 };
        let writes = &writes[usize::from(data.is_empty())..count];
        let sync = ring.write_then_sync(target, writes)?;
        *written_through = (*written_through)
            .max(offset + data.len() as u64 + zeros.map_or(0, |(_, z)| z.len() as u64));
        Ok(PendingSync::ring(sync))
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn start_writeback(&self, offset: u64, len_bytes: u64) {
        write_behind(&self.file, offset, len_bytes);
    }

    fn allocate_through(&self, end: u64) {
        let from = self.allocated_through.load(Ordering::Relaxed);
        let end = end
            .next_multiple_of(ALLOCATION_CHUNK_BYTES)
            .min(self.len_bytes);
        if end <= from {
            return;
        }
        // One caller at a time (the flusher thread); a lost race only allocates twice.
        match allocate(&self.file, from, end - from) {
            Ok(true) => self.allocated_through.store(end, Ordering::Relaxed),
            Ok(false) => self.allocated_through.store(u64::MAX, Ordering::Relaxed),
            // A full disk: the writes will meet it themselves, with an error.
            Err(_) => {}
        }
    }

    fn next_data(&self, offset: u64) -> io::Result<Option<Range<u64>>> {
        match seek_data(&self.file, offset, self.len_bytes) {
            Ok(range) => Ok(range),
            // EINVAL on a file system without SEEK_DATA: read it all.
            Err(_) => Ok((offset < self.len_bytes).then_some(offset..self.len_bytes)),
        }
    }

    fn view(&self) -> io::Result<Bytes> {
        Ok(self.view.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> std::result::Result<FileStorage, String> {
        Err("io_uring_setup: Operation not permitted (os error 1)".to_owned())
    }

    #[test]
    fn io_uring_where_refused_is_a_clear_error_and_auto_falls_back() {
        // Proves that where io_uring is refused (EPERM from a sandbox, say) `IoUring`
        // fails with `IoUringUnavailable` naming why, and `Auto` takes `pwrite` whichever
        // path it prefers.
        match choose(IoPath::IoUring, true, refused) {
            Err(Error::IoUringUnavailable { reason }) => {
                assert!(reason.contains("not permitted"), "{reason}");
            }
            other => panic!("expected IoUringUnavailable, got {other:?}"),
        }
        for prefers in [false, true] {
            let storage = choose(IoPath::Auto, prefers, refused).expect("auto falls back");
            assert_eq!(storage.io_path(), IoPath::Pwrite);
        }
        let storage = choose(IoPath::Pwrite, true, refused).expect("pwrite");
        assert_eq!(storage.io_path(), IoPath::Pwrite);
    }
}
