//! Helpers shared by the engine's test binaries (each includes this module): [`Rng`], the
//! tests' one deterministic generator; numbered events ([`numbered`], [`number_of`]);
//! [`HookedStorage`], a `Storage` that forwards to an
//! inner one after a test's hooks, and on it [`CrashingStorage`], which simulates a power
//! loss on `SimStorage` just before its n-th mutating call (write, sync, create, rename,
//! remove, directory sync), so a test can crash an operation at every step.

// Each binary uses only some of these helpers.
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

mod hooked;
mod numbered;

use std::path::Path;
use std::sync::{Arc, Mutex};

use annal::testing::{CrashMode, SimStorage};

pub use annal::testing::Rng;
pub use hooked::{is_seal_write, FileOrigin, HookedStorage, StorageHooks};
pub use numbered::{append_numbered, number_of, numbered};

/// Where a [`CrashingStorage`] is in its countdown.
#[derive(Debug)]
struct Countdown {
    /// Mutating calls left before the crash; `None` when disarmed or crashed.
    left: Option<u64>,
    survivor: Option<SimStorage>,
    /// The call the crash preempted.
    crashed_at: Option<&'static str>,
}

/// The hooks of a [`CrashingStorage`]: count mutating calls down, crashing `storage`
/// just before the call that finds the count at zero.
#[derive(Debug)]
pub struct CrashCountdown {
    storage: SimStorage,
    mode: CrashMode,
    countdown: Mutex<Countdown>,
}

impl CrashCountdown {
    /// Counts a mutating call, crashing the storage first if its turn has come.
    fn step(&self, call: &'static str) {
        let mut countdown = self.countdown.lock().unwrap();
        let Some(left) = countdown.left else { return };
        if left == 0 {
            countdown.survivor = Some(self.storage.crash(self.mode));
            countdown.crashed_at = Some(call);
            countdown.left = None;
        } else {
            countdown.left = Some(left - 1);
        }
    }
}

impl StorageHooks for CrashCountdown {
    /// A created file's first write, at offset 0, is its segment header.
    type FileState = FileOrigin;

    fn new_file(&self, origin: FileOrigin) -> FileOrigin {
        origin
    }

    fn before_create_file(&self, _path: &Path, _len_bytes: u64) {
        self.step("create file");
    }

    fn before_rename(&self, _from: &Path, _to: &Path) {
        self.step("rename");
    }

    fn before_remove_file(&self, _path: &Path) {
        self.step("remove file");
    }

    fn before_sync_dir(&self, _dir: &Path) {
        self.step("sync dir");
    }

    fn before_write(&self, origin: &FileOrigin, offset: u64, data: &[u8]) {
        let call = if offset == 0 && *origin == FileOrigin::Created {
            "write segment header"
        } else if is_seal_write(data) {
            "write seal"
        } else {
            "write record"
        };
        self.step(call);
    }

    fn before_sync_data(&self, _origin: &FileOrigin) {
        self.step("sync data");
    }
}

/// A storage over `SimStorage` that crashes it just before a chosen mutating call, once
/// armed.
pub type CrashingStorage = HookedStorage<CrashCountdown>;

impl CrashingStorage {
    /// A storage over `inner` that does not crash until [`CrashingStorage::arm`].
    pub fn new(inner: SimStorage, mode: CrashMode) -> CrashingStorage {
        let countdown = CrashCountdown {
            storage: inner.clone(),
            mode,
            countdown: Mutex::new(Countdown {
                left: None,
                survivor: None,
                crashed_at: None,
            }),
        };
        HookedStorage::with_hooks(Arc::new(inner), countdown)
    }

    /// Crashes just before the mutating call after the next `calls` ones.
    pub fn arm(&self, calls: u64) {
        self.hooks().countdown.lock().unwrap().left = Some(calls);
    }

    /// The call the crash preempted, if it happened.
    pub fn crashed_at(&self) -> Option<&'static str> {
        self.hooks().countdown.lock().unwrap().crashed_at
    }

    /// What survived the crash (crashing now if it has not happened).
    pub fn survivor(&self) -> SimStorage {
        let hooks = self.hooks();
        let mut countdown = hooks.countdown.lock().unwrap();
        if countdown.survivor.is_none() {
            countdown.survivor = Some(hooks.storage.crash(hooks.mode));
            countdown.left = None;
        }
        countdown.survivor.clone().unwrap()
    }
}
