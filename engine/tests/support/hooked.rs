//! A `Storage` that forwards every call to an inner storage, running a test's
//! [`StorageHooks`] first: each test wrapper (crashing, counting, holding a sync) writes
//! only the hooks for the calls it changes, and the others default to doing nothing.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use annal::testing::{FLAG_SEAL, SEAL_RECORD_BYTES};
use annal::{DirLock, Storage, StorageFile};
use bytes::Bytes;

/// How a wrapped file came to be: an existing file opened, or a new one created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOrigin {
    /// Opened with [`Storage::open_file`].
    Opened,
    /// Created with [`Storage::create_file`].
    Created,
}

/// What a test does before some storage calls; each hook runs just before its call is
/// forwarded, and does nothing unless the test overrides it. Calls without a hook
/// (`create_dir_all`, `list_dir`, `open_file`, `lock_dir`, `len_bytes`,
/// `start_writeback`) are forwarded as they are.
pub trait StorageHooks: fmt::Debug + Send + Sync + 'static {
    /// What the hooks keep about each file, handed to the file hooks.
    type FileState: Send + Sync;

    /// The state of a file just opened or created.
    fn new_file(&self, origin: FileOrigin) -> Self::FileState;

    /// Before [`Storage::create_file`].
    fn before_create_file(&self, _path: &Path, _len_bytes: u64) {}

    /// Before [`Storage::rename`].
    fn before_rename(&self, _from: &Path, _to: &Path) {}

    /// Before [`Storage::remove_file`].
    fn before_remove_file(&self, _path: &Path) {}

    /// Before [`Storage::sync_dir`].
    fn before_sync_dir(&self, _dir: &Path) {}

    /// Before [`StorageFile::write_at`] on a file in state `file`.
    fn before_write(&self, _file: &Self::FileState, _offset: u64, _data: &[u8]) {}

    /// Before [`StorageFile::sync_data`] on a file in state `file`.
    fn before_sync_data(&self, _file: &Self::FileState) {}

    /// Before [`StorageFile::view`] on a file in state `file`.
    fn before_view(&self, _file: &Self::FileState) {}
}

/// Whether a write is exactly a seal record (the last record of a sealed segment).
pub fn is_seal_write(data: &[u8]) -> bool {
    data.len() == SEAL_RECORD_BYTES && data[24] & FLAG_SEAL as u8 != 0
}

/// A storage over `inner` that runs `hooks` before forwarding each call; clones share
/// the inner storage and the hooks.
#[derive(Debug)]
pub struct HookedStorage<H: StorageHooks> {
    inner: Arc<dyn Storage>,
    hooks: Arc<H>,
}

impl<H: StorageHooks> Clone for HookedStorage<H> {
    fn clone(&self) -> Self {
        HookedStorage {
            inner: Arc::clone(&self.inner),
            hooks: Arc::clone(&self.hooks),
        }
    }
}

impl<H: StorageHooks> HookedStorage<H> {
    /// A storage forwarding to `inner` after running `hooks`.
    pub fn with_hooks(inner: Arc<dyn Storage>, hooks: H) -> Self {
        HookedStorage {
            inner,
            hooks: Arc::new(hooks),
        }
    }

    /// The hooks, shared by every clone and every file this storage opened or created.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    fn hook_file(&self, file: Arc<dyn StorageFile>, origin: FileOrigin) -> Arc<dyn StorageFile> {
        Arc::new(HookedFile {
            state: self.hooks.new_file(origin),
            hooks: Arc::clone(&self.hooks),
            file,
        })
    }
}

impl<H: StorageHooks> Storage for HookedStorage<H> {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }

    fn open_file(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn StorageFile>> {
        let file = self.inner.open_file(path, writable)?;
        Ok(self.hook_file(file, FileOrigin::Opened))
    }

    fn create_file(&self, path: &Path, len_bytes: u64) -> io::Result<Arc<dyn StorageFile>> {
        self.hooks.before_create_file(path, len_bytes);
        let file = self.inner.create_file(path, len_bytes)?;
        Ok(self.hook_file(file, FileOrigin::Created))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.hooks.before_rename(from, to);
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.hooks.before_remove_file(path);
        self.inner.remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.hooks.before_sync_dir(dir);
        self.inner.sync_dir(dir)
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        self.inner.lock_dir(dir)
    }
}

/// A file of a [`HookedStorage`]: its hooks' state for it, and the inner file.
struct HookedFile<H: StorageHooks> {
    state: H::FileState,
    hooks: Arc<H>,
    file: Arc<dyn StorageFile>,
}

impl<H: StorageHooks> StorageFile for HookedFile<H> {
    fn len_bytes(&self) -> u64 {
        self.file.len_bytes()
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.hooks.before_write(&self.state, offset, data);
        self.file.write_at(offset, data)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.hooks.before_sync_data(&self.state);
        self.file.sync_data()
    }

    fn start_writeback(&self, offset: u64, len_bytes: u64) {
        self.file.start_writeback(offset, len_bytes);
    }

    fn view(&self) -> io::Result<Bytes> {
        self.hooks.before_view(&self.state);
        self.file.view()
    }
}
