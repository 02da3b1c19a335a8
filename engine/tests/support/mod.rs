//! Helpers shared by the subscription and consumer tests: a `Storage` over `SimStorage`
//! that simulates a power loss just before its n-th mutating call (write, sync, create,
//! rename, remove, directory sync), so a test can crash an operation at every step.

#![allow(dead_code, clippy::unwrap_used)]

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use annal::io::{CrashMode, DirLock, SimStorage, Storage, StorageFile};
use bytes::Bytes;

#[derive(Debug)]
struct Countdown {
    /// Mutating calls left before the crash; `None` when disarmed or crashed.
    left: Option<u64>,
    survivor: Option<SimStorage>,
    crashed_at: Option<&'static str>,
    mode: CrashMode,
}

/// A storage that crashes itself before a chosen mutating call, once armed.
#[derive(Debug, Clone)]
pub struct CrashingStorage {
    inner: SimStorage,
    countdown: Arc<Mutex<Countdown>>,
}

impl CrashingStorage {
    /// A storage over `inner` that does not crash until [`CrashingStorage::arm`].
    pub fn new(inner: SimStorage, mode: CrashMode) -> CrashingStorage {
        CrashingStorage {
            inner,
            countdown: Arc::new(Mutex::new(Countdown {
                left: None,
                survivor: None,
                crashed_at: None,
                mode,
            })),
        }
    }

    /// Crashes just before the mutating call after the next `calls` ones.
    pub fn arm(&self, calls: u64) {
        self.countdown.lock().unwrap().left = Some(calls);
    }

    /// The call the crash preempted, if it happened.
    pub fn crashed_at(&self) -> Option<&'static str> {
        self.countdown.lock().unwrap().crashed_at
    }

    /// What survived the crash (crashing now if it has not happened).
    pub fn survivor(&self) -> SimStorage {
        let mut countdown = self.countdown.lock().unwrap();
        if countdown.survivor.is_none() {
            countdown.survivor = Some(self.inner.crash(countdown.mode));
            countdown.left = None;
        }
        countdown.survivor.clone().unwrap()
    }

    fn step(&self, call: &'static str) {
        let mut countdown = self.countdown.lock().unwrap();
        let Some(left) = countdown.left else { return };
        if left == 0 {
            countdown.survivor = Some(self.inner.crash(countdown.mode));
            countdown.crashed_at = Some(call);
            countdown.left = None;
        } else {
            countdown.left = Some(left - 1);
        }
    }

    fn wrap(&self, file: Arc<dyn StorageFile>) -> Arc<dyn StorageFile> {
        Arc::new(CrashingFile {
            storage: self.clone(),
            file,
        })
    }
}

struct CrashingFile {
    storage: CrashingStorage,
    file: Arc<dyn StorageFile>,
}

impl StorageFile for CrashingFile {
    fn len_bytes(&self) -> u64 {
        self.file.len_bytes()
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.storage.step("write");
        self.file.write_at(offset, data)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.storage.step("sync data");
        self.file.sync_data()
    }

    fn view(&self) -> io::Result<Bytes> {
        self.file.view()
    }
}

impl Storage for CrashingStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }

    fn open_file(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn StorageFile>> {
        Ok(self.wrap(self.inner.open_file(path, writable)?))
    }

    fn create_file(&self, path: &Path, len_bytes: u64) -> io::Result<Arc<dyn StorageFile>> {
        self.step("create file");
        Ok(self.wrap(self.inner.create_file(path, len_bytes)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.step("rename");
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.step("remove file");
        self.inner.remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.step("sync dir");
        self.inner.sync_dir(dir)
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        self.inner.lock_dir(dir)
    }
}
