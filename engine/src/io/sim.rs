//! A simulated, fault-injecting storage backend held in memory.
//!
//! Each file keeps its *live* bytes (what a process reading it sees) apart from its
//! *durable* bytes (what survives power loss): a write changes the live bytes and marks
//! its 512-byte sectors dirty; `sync_data` copies dirty sectors to the durable bytes.
//! Directory entries are live or durable the same way, made durable by `sync_dir`.
//! [`SimStorage::crash`] ends this storage (every later call on it or its files fails)
//! and returns a new one holding what survived: the durable state, plus, when tearing,
//! an arbitrary subset of the dirty sectors.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::{out_of_bounds, DirLock, Rng, Storage, StorageFile};

/// The unit a simulated crash keeps or drops.
pub const SECTOR_BYTES: usize = 512;

/// What a simulated crash keeps of the unsynced state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Only synced bytes and synced directory entries survive.
    DropUnsynced,
    /// Synced state survives, and each unsynced dirty sector independently survives or
    /// not, chosen by a generator seeded with `seed`.
    TearUnsynced {
        /// Seed for the choice of surviving sectors.
        seed: u64,
    },
}

/// Counts of the calls made on a [`SimStorage`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// `write_at` calls that succeeded.
    pub writes: u64,
    /// Bytes those calls wrote.
    pub bytes_written: u64,
    /// `sync_data` calls that succeeded.
    pub syncs: u64,
    /// `sync_dir` calls that succeeded.
    pub dir_syncs: u64,
}

#[derive(Debug, Default, Clone)]
struct SimFile {
    live: Vec<u8>,
    durable: Vec<u8>,
    dirty_sectors: BTreeSet<usize>,
    written_through: usize,
}

#[derive(Debug, Default, Clone, Copy)]
struct Faults {
    writes_before_failure: Option<u64>,
    syncs_before_failure: Option<u64>,
    write_failure_is_no_space: bool,
    creates_fail_no_space: bool,
}

#[derive(Debug, Default, Clone)]
struct SimState {
    crashed: bool,
    files: HashMap<u64, SimFile>,
    next_file_id: u64,
    live_names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    locks: HashSet<PathBuf>,
    faults: Faults,
    counters: SimCounters,
}

/// The simulated storage; clones share one state.
#[derive(Debug, Clone, Default)]
pub struct SimStorage {
    state: Arc<Mutex<SimState>>,
}

fn crashed_error() -> io::Error {
    io::Error::other("simulated storage has crashed")
}

fn no_space() -> io::Error {
    io::Error::from_raw_os_error(28)
}

impl SimStorage {
    /// An empty storage with no faults planned.
    pub fn new() -> SimStorage {
        SimStorage::default()
    }

    fn lock(&self) -> io::Result<MutexGuard<'_, SimState>> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.crashed {
            return Err(crashed_error());
        }
        Ok(state)
    }

    fn lock_any(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets `n` more writes succeed, then fails every write (with ENOSPC when
    /// `no_space`, else EIO) until [`SimStorage::clear_faults`].
    pub fn fail_writes_after(&self, n: u64, no_space: bool) {
        let mut state = self.lock_any();
        state.faults.writes_before_failure = Some(n);
        state.faults.write_failure_is_no_space = no_space;
    }

    /// Lets `n` more `sync_data` calls succeed, then fails every one with EIO.
    pub fn fail_syncs_after(&self, n: u64) {
        self.lock_any().faults.syncs_before_failure = Some(n);
    }

    /// Makes every file creation fail with ENOSPC (a full device).
    pub fn fail_creates_no_space(&self) {
        self.lock_any().faults.creates_fail_no_space = true;
    }

    /// Removes every planned fault.
    pub fn clear_faults(&self) {
        self.lock_any().faults = Faults::default();
    }

    /// Counts of calls so far.
    pub fn counters(&self) -> SimCounters {
        self.lock_any().counters
    }

    /// The live bytes of a file (for tests that damage or inspect files).
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.lock_any();
        let id = state.live_names.get(path)?;
        Some(state.files[id].live.clone())
    }

    /// Overwrites live *and* durable bytes of a file, as bit rot or an outside writer
    /// would. Panics if the file does not exist (a test bug).
    pub fn corrupt_file(&self, path: &Path, offset: usize, bytes: &[u8]) {
        let mut state = self.lock_any();
        let id = state.live_names[path];
        let file = state.files.get_mut(&id).expect("named file exists");
        file.live[offset..offset + bytes.len()].copy_from_slice(bytes);
        file.durable[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    /// A separate storage starting from a copy of this one's state (live and durable
    /// bytes, names, planned faults, counters), holding no directory lock: for tests that
    /// replay one state many times, since a log's background threads make a workload's
    /// end state vary from run to run.
    pub fn fork(&self) -> SimStorage {
        let mut state = self.lock_any().clone();
        state.locks.clear();
        SimStorage {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The names of every live file, sorted.
    pub fn file_names(&self) -> Vec<PathBuf> {
        self.lock_any().live_names.keys().cloned().collect()
    }

    /// Simulates a power loss: this storage and every file handle from it fail from now
    /// on; the returned storage holds what survived.
    pub fn crash(&self, mode: CrashMode) -> SimStorage {
        let mut state = self.lock_any();
        state.crashed = true;
        let mut rng = Rng::new(match mode {
            CrashMode::DropUnsynced => 0,
            CrashMode::TearUnsynced { seed } => seed,
        });
        let mut survivor = SimState::default();
        for (path, id) in &state.durable_names {
            let old = &state.files[id];
            let mut bytes = old.durable.clone();
            if let CrashMode::TearUnsynced { .. } = mode {
                for &sector in &old.dirty_sectors {
                    if rng.next_u64() & 1 == 1 {
                        let start = sector * SECTOR_BYTES;
                        let end = (start + SECTOR_BYTES).min(bytes.len());
                        bytes[start..end].copy_from_slice(&old.live[start..end]);
                    }
                }
            }
            let new_id = survivor.next_file_id;
            survivor.next_file_id += 1;
            survivor.files.insert(
                new_id,
                SimFile {
                    written_through: bytes.len(),
                    live: bytes.clone(),
                    durable: bytes,
                    dirty_sectors: BTreeSet::new(),
                },
            );
            survivor.live_names.insert(path.clone(), new_id);
            survivor.durable_names.insert(path.clone(), new_id);
        }
        SimStorage {
            state: Arc::new(Mutex::new(survivor)),
        }
    }
}

impl Storage for SimStorage {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        self.lock().map(|_| ())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.lock()?;
        Ok(state
            .live_names
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| path.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn open_file(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn StorageFile>> {
        let state = self.lock()?;
        let id = *state
            .live_names
            .get(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let len_bytes = state.files[&id].live.len() as u64;
        Ok(Arc::new(SimFileHandle {
            storage: self.clone(),
            id,
            len_bytes,
            writable,
        }))
    }

    fn create_file(&self, path: &Path, len_bytes: u64) -> io::Result<Arc<dyn StorageFile>> {
        let mut state = self.lock()?;
        if state.faults.creates_fail_no_space {
            return Err(no_space());
        }
        let id = state.next_file_id;
        state.next_file_id += 1;
        let zeros = vec![0u8; len_bytes as usize];
        state.files.insert(
            id,
            SimFile {
                live: zeros.clone(),
                durable: zeros,
                dirty_sectors: BTreeSet::new(),
                written_through: 0,
            },
        );
        state.live_names.insert(path.to_path_buf(), id);
        Ok(Arc::new(SimFileHandle {
            storage: self.clone(),
            id,
            len_bytes,
            writable: true,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock()?;
        let id = state
            .live_names
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        state.live_names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock()?;
        state
            .live_names
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock()?;
        let state = &mut *state;
        state
            .durable_names
            .retain(|path, _| path.parent() != Some(dir));
        for (path, id) in &state.live_names {
            if path.parent() == Some(dir) {
                state.durable_names.insert(path.clone(), *id);
            }
        }
        state.counters.dir_syncs += 1;
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<DirLock> {
        let mut state = self.lock()?;
        if !state.locks.insert(dir.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "lock held by another owner",
            ));
        }
        Ok(DirLock::new(Box::new(SimDirLock {
            storage: self.clone(),
            dir: dir.to_path_buf(),
        })))
    }
}

struct SimDirLock {
    storage: SimStorage,
    dir: PathBuf,
}

impl Drop for SimDirLock {
    fn drop(&mut self) {
        self.storage.lock_any().locks.remove(&self.dir);
    }
}

struct SimFileHandle {
    storage: SimStorage,
    id: u64,
    len_bytes: u64,
    writable: bool,
}

impl StorageFile for SimFileHandle {
    fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut state = self.storage.lock()?;
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "file was opened read-only",
            ));
        }
        if let Some(left) = state.faults.writes_before_failure.as_mut() {
            if *left == 0 {
                return Err(if state.faults.write_failure_is_no_space {
                    no_space()
                } else {
                    io::Error::other("simulated write failure")
                });
            }
            *left -= 1;
        }
        let start = offset as usize;
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= self.len_bytes)
            .ok_or_else(|| out_of_bounds(offset, data.len(), self.len_bytes))?
            as usize;
        let file = state.files.get_mut(&self.id).ok_or_else(crashed_error)?;
        file.live[start..end].copy_from_slice(data);
        if end > start {
            file.dirty_sectors
                .extend(start / SECTOR_BYTES..=(end - 1) / SECTOR_BYTES);
        }
        file.written_through = file.written_through.max(end);
        state.counters.writes += 1;
        state.counters.bytes_written += data.len() as u64;
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut state = self.storage.lock()?;
        if let Some(left) = state.faults.syncs_before_failure.as_mut() {
            if *left == 0 {
                return Err(io::Error::other("simulated fsync failure"));
            }
            *left -= 1;
        }
        let file = state.files.get_mut(&self.id).ok_or_else(crashed_error)?;
        for sector in std::mem::take(&mut file.dirty_sectors) {
            let start = sector * SECTOR_BYTES;
            let end = (start + SECTOR_BYTES).min(file.live.len());
            let (live, durable) = (&file.live, &mut file.durable);
            durable[start..end].copy_from_slice(&live[start..end]);
        }
        state.counters.syncs += 1;
        Ok(())
    }

    fn view(&self) -> io::Result<Bytes> {
        let state = self.storage.lock()?;
        let file = state.files.get(&self.id).ok_or_else(crashed_error)?;
        Ok(Bytes::copy_from_slice(&file.live[..file.written_through]))
    }
}
