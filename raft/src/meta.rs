//! Small durable state beside a log or a store, as JSON in one file replaced atomically:
//! written to `<name>.tmp`, fsynced, renamed over `<name>`, the directory fsynced. A
//! reader finds the old state or the new one, never a mix.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// One state file.
#[derive(Debug, Clone)]
pub(crate) struct MetaFile {
    dir: PathBuf,
    name: &'static str,
}

impl MetaFile {
    pub(crate) fn new(dir: &Path, name: &'static str) -> MetaFile {
        MetaFile {
            dir: dir.to_path_buf(),
            name,
        }
    }

    /// The stored state, or `None` when the file does not exist.
    pub(crate) fn load<T: DeserializeOwned>(&self) -> io::Result<Option<T>> {
        match fs::read(self.dir.join(self.name)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is damaged: {e}", self.name),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the state durably.
    pub(crate) fn store<T: Serialize>(&self, state: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(state).map_err(io::Error::other)?;
        let tmp = self.dir.join(format!("{}.tmp", self.name));
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_data()?;
        drop(file);
        fs::rename(&tmp, self.dir.join(self.name))?;
        File::open(&self.dir)?.sync_all()
    }
}
