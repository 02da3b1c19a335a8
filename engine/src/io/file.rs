//! The real backend: files on the local file system, memory-mapped.
//!
//! Segments are preallocated by writing zeros, so later writes never allocate blocks and
//! an fdatasync has no metadata to flush. A writable file is written through its own
//! shared mapping (a memcpy, no syscall); readers get a separate read-only mapping.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use memmap2::{Mmap, MmapMut};

use super::{out_of_bounds, DirLock, Storage, StorageFile};

/// The local file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileStorage;

const ZERO_CHUNK_BYTES: usize = 1 << 20;

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
        Ok(Arc::new(MappedFile::new(
            file,
            path.to_path_buf(),
            writable,
        )?))
    }

    fn create_file(&self, path: &Path, len_bytes: u64) -> io::Result<Arc<dyn StorageFile>> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let zeros = vec![0u8; ZERO_CHUNK_BYTES];
        let mut left = len_bytes;
        while left > 0 {
            let n = left.min(ZERO_CHUNK_BYTES as u64) as usize;
            file.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        file.sync_all()?;
        Ok(Arc::new(MappedFile::new(file, path.to_path_buf(), true)?))
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
            Ok(()) => Ok(DirLock::new(Box::new(file))),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "lock held by another owner",
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// A file with a read-only mapping for readers and, when writable, a shared writable
/// mapping for the writer.
struct MappedFile {
    file: File,
    len_bytes: u64,
    view: Bytes,
    writer: Option<Mutex<MmapMut>>,
    _path: PathBuf,
}

impl MappedFile {
    fn new(file: File, path: PathBuf, writable: bool) -> io::Result<MappedFile> {
        let len_bytes = file.metadata()?.len();
        let read_map = map_read_only(&file)?;
        let writer = if writable {
            Some(Mutex::new(map_writable(&file)?))
        } else {
            None
        };
        Ok(MappedFile {
            file,
            len_bytes,
            view: Bytes::from_owner(read_map),
            writer,
            _path: path,
        })
    }
}

#[expect(unsafe_code, reason = "memory-mapping a segment file")]
fn map_read_only(file: &File) -> io::Result<Mmap> {
    // SAFETY: the mapped file must not be truncated or rewritten under the mapping. The
    // log directory is locked (`lock_dir`) while the log is open, so no cooperating
    // process writes it; the engine never shrinks a segment; and bytes below a segment's
    // published length are never rewritten while it is mapped (docs/design.md, "The
    // reader watermark"). Readers never look past the published length.
    unsafe { Mmap::map(file) }
}

#[expect(unsafe_code, reason = "memory-mapping the active segment for writing")]
fn map_writable(file: &File) -> io::Result<MmapMut> {
    // SAFETY: as for `map_read_only`. This mapping is written only by the single writer
    // (callers hold the log's writer mutex, and `write_at` the mapping's own mutex), and
    // only at offsets above the published length, which no reader reads. The file was
    // zero-filled when created, so writes through the mapping never allocate blocks.
    unsafe { MmapMut::map_mut(file) }
}

impl StorageFile for MappedFile {
    fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let Some(writer) = &self.writer else {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "file was opened read-only",
            ));
        };
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= self.len_bytes)
            .ok_or_else(|| out_of_bounds(offset, data.len(), self.len_bytes))?;
        let mut map = writer.lock().unwrap_or_else(|e| e.into_inner());
        map[offset as usize..end as usize].copy_from_slice(data);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        // fdatasync writes back pages dirtied through shared mappings of the file too.
        self.file.sync_data()
    }

    fn view(&self) -> io::Result<Bytes> {
        Ok(self.view.clone())
    }
}
