//! Recovery's dry run: what opening the log would cut or remove, found by running
//! recovery itself — the same scan, decision table and quarantine naming — on a storage
//! that writes nothing: no file is created, moved, zeroed or synced, and no lock is
//! taken. `annal recover --dry-run` shows it before an operator agrees to the real thing.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::{recover, RecoveryReport};
use crate::error::Result;
use crate::format::parse_segment_file_name;
use crate::io::{DirLock, Storage, StorageFile};
use crate::options::{IoPath, OpenChecks, Options};

thread_local! {
    /// Set while a dry run records its actions: they are logged as what would happen.
    static DRY_RUN: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread is in a dry run (the report logs accordingly).
pub(super) fn in_dry_run() -> bool {
    DRY_RUN.with(Cell::get)
}

/// The report opening the log in `dir` with `options` would return, every segment
/// scanned in full (whatever `options.open_checks` says), or the error it would refuse
/// with. Quarantine paths are where the copies would go.
pub(crate) fn dry_run(
    storage: &dyn Storage,
    dir: &Path,
    options: &Options,
) -> Result<RecoveryReport> {
    let names = storage
        .list_dir(dir)
        .map_err(|e| crate::error::Error::io("list log directory", Some(dir.to_path_buf()), e))?;
    if !names
        .iter()
        .any(|name| parse_segment_file_name(name).is_some())
    {
        // Opening would create a new log: nothing to recover.
        return Ok(RecoveryReport::default());
    }
    let options = options.clone().open_checks(OpenChecks::AllSegments);
    let dry = DryStorage { real: storage };
    let _dry = DryRunFlag::set();
    Ok(recover(&dry, dir, &options)?.report)
}

/// Holds the thread's dry-run flag up while it lives (also through an unwind).
struct DryRunFlag;

impl DryRunFlag {
    fn set() -> DryRunFlag {
        DRY_RUN.with(|flag| flag.set(true));
        DryRunFlag
    }
}

impl Drop for DryRunFlag {
    fn drop(&mut self) {
        DRY_RUN.with(|flag| flag.set(false));
    }
}

/// Reads through to the real storage; every change is dropped.
struct DryStorage<'a> {
    real: &'a dyn Storage,
}

impl fmt::Debug for DryStorage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DryStorage")
    }
}

impl Storage for DryStorage<'_> {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        match self.real.list_dir(dir) {
            // A directory the dry run "created" (the quarantine) is empty.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            other => other,
        }
    }

    fn open_file(&self, path: &Path, _writable: bool) -> io::Result<Arc<dyn StorageFile>> {
        let real = self.real.open_file(path, false)?;
        Ok(Arc::new(DryFile {
            len_bytes: real.len_bytes(),
            real: Some(real),
        }))
    }

    fn create_file(&self, _path: &Path, len_bytes: u64) -> io::Result<Arc<dyn StorageFile>> {
        Ok(Arc::new(DryFile {
            len_bytes,
            real: None,
        }))
    }

    fn rename(&self, _from: &Path, _to: &Path) -> io::Result<()> {
        Ok(())
    }

    fn remove_file(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn lock_dir(&self, _dir: &Path) -> io::Result<DirLock> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a dry run takes no lock",
        ))
    }

    fn io_path(&self) -> IoPath {
        IoPath::Pwrite
    }
}

/// A file read through to the real one (or, created by the dry run, empty); writes and
/// syncs do nothing.
struct DryFile {
    len_bytes: u64,
    real: Option<Arc<dyn StorageFile>>,
}

impl StorageFile for DryFile {
    fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    fn write_at(&self, _offset: u64, _data: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn view(&self) -> io::Result<Bytes> {
        match &self.real {
            Some(real) => real.view(),
            None => Ok(Bytes::new()),
        }
    }

    fn next_data(&self, offset: u64) -> io::Result<Option<std::ops::Range<u64>>> {
        match &self.real {
            // Where the real file holds data, as recovery itself would look.
            Some(real) => real.next_data(offset),
            None => Ok(None),
        }
    }
}
