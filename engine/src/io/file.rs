//! The real backend: files on the local file system, read through memory maps.
//!
//! Segments are preallocated by writing zeros, so later writes never allocate blocks and
//! an fdatasync has no metadata to flush. Writes are `pwrite`s; readers see them through
//! a read-only shared mapping of the same page cache. (Writing through a writable mapping
//! was measured 5–7× slower for durable appends: after each fdatasync the page is
//! write-protected again, and the next write takes a fault into the file system.)

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::Mmap;

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

/// A file with a read-only mapping for readers; writable ones take `pwrite`s.
struct MappedFile {
    file: File,
    len_bytes: u64,
    view: Bytes,
    writable: bool,
    _path: PathBuf,
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

impl StorageFile for MappedFile {
    fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "file was opened read-only",
            ));
        }
        offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= self.len_bytes)
            .ok_or_else(|| out_of_bounds(offset, data.len(), self.len_bytes))?;
        self.file.write_all_at(data, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn view(&self) -> io::Result<Bytes> {
        Ok(self.view.clone())
    }
}
