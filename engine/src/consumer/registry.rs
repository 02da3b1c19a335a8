//! The consumers of one log: their files in the `consumers/` subdirectory, the in-memory
//! state of each, and finding every consumer's newest checkpoint when the log opens.
//!
//! A consumer's state lives in two places. Its file (two checksummed slots, written
//! alternately, so a torn write never loses the previous state) holds a checkpoint and,
//! when the consumer has started committing with its appends, a `replay_from` position.
//! Records at or after `replay_from` may carry newer checkpoints in their extension
//! (`Consumer::append_and_commit`). Opening the log takes the file's state, replays the
//! extensions of the records from the smallest `replay_from` on, keeps the checkpoint
//! with the highest sequence number, and writes every consumer that was found in the
//! log back to its file with no `replay_from`, so the next open replays nothing.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::format::consumer_checkpoint::{CheckpointEntry, Slot, FILE_BYTES};
use crate::format::extension::{Entries, KIND_CONSUMER_CHECKPOINT};
use crate::io::{Storage, StorageFile};
use crate::log::Shared;
use crate::position::Position;

/// The subdirectory of the log directory that holds consumer files.
pub(crate) const CONSUMERS_DIR: &str = "consumers";
pub(crate) const FILE_SUFFIX: &str = ".consumer";
const TEMP_SUFFIX: &str = ".consumer.tmp";

/// Every consumer of a log, by name (keys are ASCII-lowercased: names that differ only
/// in case would collide on a case-insensitive file system).
#[derive(Default)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<String, Arc<Entry>>,
    /// The `consumers/` directory exists and its entry in the log directory is durable.
    dir_durable: bool,
    last_incarnation: u64,
}

/// One consumer.
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) incarnation: u64,
    pub(crate) path: PathBuf,
    state: Mutex<State>,
}

/// What a consumer has committed, and what of it its file holds.
pub(crate) struct State {
    file: Arc<dyn StorageFile>,
    /// Deleted: every handle now reports `UnknownConsumer`.
    pub(crate) deleted: bool,
    /// Sequence number of the newest committed state.
    pub(crate) sequence: u64,
    /// The newest committed checkpoint.
    pub(crate) position: u64,
    /// Sequence number of the state in the file (`<= sequence`).
    pub(crate) file_sequence: u64,
    /// The file's `replay_from`: records from here on may hold newer states.
    pub(crate) file_replay_from: Option<u64>,
    /// When the newest state came from a record extension: the position after that
    /// record, which must be durable before the state is written to the file.
    pub(crate) sync_to: u64,
}

impl State {
    /// Whether the file lacks the newest state or still points into the log.
    pub(crate) fn needs_flush(&self) -> bool {
        self.sequence != self.file_sequence || self.file_replay_from.is_some()
    }
}

impl Entry {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes a new state (the next sequence number) into the slot the previous state is
    /// not in, and syncs it. On error nothing in memory changes, and the file still holds
    /// the previous state in its other slot.
    pub(crate) fn write_state(
        &self,
        state: &mut State,
        epoch: u64,
        position: u64,
        replay_from: Option<u64>,
    ) -> Result<()> {
        let sequence = state.sequence + 1;
        let slot = Slot {
            epoch,
            incarnation: self.incarnation,
            sequence,
            position,
            replay_from,
            name: self.name.clone(),
        };
        write_slot(state.file.as_ref(), &self.path, &slot)?;
        state.sequence = sequence;
        state.file_sequence = sequence;
        state.position = position;
        state.file_replay_from = replay_from;
        state.sync_to = 0;
        Ok(())
    }
}

fn write_slot(file: &dyn StorageFile, path: &Path, slot: &Slot) -> Result<()> {
    file.write_at(slot.offset(), &slot.encode())
        .map_err(|e| Error::io("write consumer file", Some(path.to_path_buf()), e))?;
    file.sync_data()
        .map_err(|e| Error::io("fdatasync consumer file", Some(path.to_path_buf()), e))
}

/// The key a name is stored under.
fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn sync_dir(storage: &dyn Storage, dir: &Path) -> Result<()> {
    storage
        .sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", Some(dir.to_path_buf()), e))
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The consumer named exactly `name`.
    pub(crate) fn get(&self, name: &str) -> Result<Arc<Entry>> {
        self.lock()
            .entries
            .get(&key(name))
            .filter(|entry| entry.name == name)
            .cloned()
            .ok_or_else(|| Error::UnknownConsumer { name: name.into() })
    }

    /// Every consumer, in name order.
    pub(crate) fn all(&self) -> Vec<Arc<Entry>> {
        self.lock().entries.values().cloned().collect()
    }

    /// Creates the consumer `name` at `position`: a new file, named only once its first
    /// slot is synced, then the directory synced.
    pub(crate) fn create(
        &self,
        shared: &Shared,
        name: &str,
        position: u64,
        max: usize,
    ) -> Result<Arc<Entry>> {
        let mut inner = self.lock();
        if inner.entries.contains_key(&key(name)) {
            return Err(Error::ConsumerExists { name: name.into() });
        }
        if inner.entries.len() >= max {
            return Err(Error::TooManyConsumers { max });
        }
        let storage = shared.storage();
        let dir = shared.dir().join(CONSUMERS_DIR);
        if !inner.dir_durable {
            storage
                .create_dir_all(&dir)
                .map_err(|e| Error::io("create consumers directory", Some(dir.clone()), e))?;
            sync_dir(storage, shared.dir())?;
            inner.dir_durable = true;
        }
        let incarnation = new_incarnation(inner.last_incarnation);
        let temp = dir.join(format!("{name}{TEMP_SUFFIX}"));
        let path = dir.join(format!("{name}{FILE_SUFFIX}"));
        let file = storage
            .create_file(&temp, FILE_BYTES)
            .map_err(|e| Error::io("create consumer file", Some(temp.clone()), e))?;
        let slot = Slot {
            epoch: shared.epoch(),
            incarnation,
            sequence: 1,
            position,
            replay_from: None,
            name: name.into(),
        };
        write_slot(file.as_ref(), &temp, &slot)?;
        storage
            .rename(&temp, &path)
            .map_err(|e| Error::io("rename consumer file", Some(path.clone()), e))?;
        sync_dir(storage, &dir)?;
        inner.last_incarnation = incarnation;
        let entry = Arc::new(Entry {
            name: name.into(),
            incarnation,
            path,
            state: Mutex::new(State {
                file,
                deleted: false,
                sequence: 1,
                position,
                file_sequence: 1,
                file_replay_from: None,
                sync_to: 0,
            }),
        });
        inner.entries.insert(key(name), Arc::clone(&entry));
        Ok(entry)
    }

    /// Deletes the consumer named exactly `name`: removes its file and syncs the
    /// directory. Handles to it report `UnknownConsumer` from then on.
    pub(crate) fn delete(&self, shared: &Shared, name: &str) -> Result<()> {
        let mut inner = self.lock();
        let entry = inner
            .entries
            .get(&key(name))
            .filter(|entry| entry.name == name)
            .cloned()
            .ok_or_else(|| Error::UnknownConsumer { name: name.into() })?;
        let mut state = entry.lock();
        shared
            .storage()
            .remove_file(&entry.path)
            .map_err(|e| Error::io("remove consumer file", Some(entry.path.clone()), e))?;
        // The name is gone from the directory now, durably or not: forget the consumer
        // either way, and report a failed directory sync (a crash may bring it back).
        state.deleted = true;
        inner.entries.remove(&key(name));
        sync_dir(shared.storage(), &shared.dir().join(CONSUMERS_DIR))
    }

    /// The consumers of the log behind `shared`, as a crash left them: loads every
    /// consumer file and replays the log for checkpoints committed with appends; then
    /// writes each consumer found in the log back to its file.
    pub(crate) fn recover(shared: &Shared) -> Result<Registry> {
        let registry = Registry::default();
        let storage = shared.storage();
        let dir = shared.dir().join(CONSUMERS_DIR);
        let names = match storage.list_dir(&dir) {
            Ok(names) => names,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(registry),
            Err(e) => return Err(Error::io("list consumers directory", Some(dir), e)),
        };
        let mut inner = registry.lock();
        inner.dir_durable = true;
        let mut removed_temp = false;
        for file_name in &names {
            if file_name.ends_with(TEMP_SUFFIX) {
                let path = dir.join(file_name);
                storage
                    .remove_file(&path)
                    .map_err(|e| Error::io("remove temporary file", Some(path), e))?;
                removed_temp = true;
            }
        }
        if removed_temp {
            sync_dir(storage, &dir)?;
        }
        let next_position = shared.written();
        for file_name in &names {
            let Some(name) = file_name.strip_suffix(FILE_SUFFIX) else {
                continue;
            };
            let entry = load(shared, &dir, name, next_position)?;
            inner.last_incarnation = inner.last_incarnation.max(entry.incarnation);
            if let Some(other) = inner.entries.insert(key(name), Arc::new(entry)) {
                return Err(Error::corrupt(
                    other.path.clone(),
                    0,
                    "two consumer files whose names differ only in case",
                ));
            }
        }
        let entries: Vec<Arc<Entry>> = inner.entries.values().cloned().collect();
        drop(inner);
        replay(shared, &entries)?;
        let pending: Vec<&Arc<Entry>> = entries.iter().filter(|e| e.lock().needs_flush()).collect();
        if pending.is_empty() {
            return Ok(registry);
        }
        // States replayed from the active segment may not be durable yet (a process crash
        // leaves them in the page cache): sync it before any file claims them. Sealed
        // segments were synced when they were sealed.
        shared.sync_active_segment()?;
        for entry in pending {
            let mut state = entry.lock();
            let position = state.position;
            entry.write_state(&mut state, shared.epoch(), position, None)?;
        }
        Ok(registry)
    }
}

/// Reads one consumer file at open.
fn load(shared: &Shared, dir: &Path, name: &str, next_position: u64) -> Result<Entry> {
    let path = dir.join(format!("{name}{FILE_SUFFIX}"));
    let file = shared
        .storage()
        .open_file(&path, true)
        .map_err(|e| Error::io("open consumer file", Some(path.clone()), e))?;
    let view = file
        .view()
        .map_err(|e| Error::io("map consumer file", Some(path.clone()), e))?;
    if file.len_bytes() != FILE_BYTES {
        return Err(Error::corrupt(
            path,
            0,
            format!(
                "consumer file is {} bytes, not {FILE_BYTES}",
                file.len_bytes()
            ),
        ));
    }
    let Some(slot) = Slot::newest(&view) else {
        return Err(Error::corrupt(path, 0, "no valid slot in consumer file"));
    };
    if slot.name != name {
        return Err(Error::corrupt(
            path,
            slot.offset(),
            format!("consumer file holds the consumer {:?}", slot.name),
        ));
    }
    if slot.epoch != shared.epoch() {
        return Err(Error::corrupt(
            path,
            slot.offset(),
            "consumer file belongs to another log (epoch)",
        ));
    }
    // A checkpoint past the end of the log: the log lost its tail after the checkpoint
    // was committed (only `RecoveryMode::TruncateAtDamage` or outside damage do that).
    // Positions past the end will be given to new events, which the consumer has not seen.
    let position = slot.position.min(next_position);
    Ok(Entry {
        name: name.into(),
        incarnation: slot.incarnation,
        path,
        state: Mutex::new(State {
            file,
            deleted: false,
            sequence: slot.sequence,
            position,
            file_sequence: if position == slot.position {
                slot.sequence
            } else {
                0
            },
            file_replay_from: slot.replay_from,
            sync_to: 0,
        }),
    })
}

/// Reads the extensions of every record from the smallest `replay_from` to the end of
/// the log and applies each consumer checkpoint newer than the consumer's file.
fn replay(shared: &Shared, entries: &[Arc<Entry>]) -> Result<()> {
    let by_name: HashMap<(&str, u64), &Arc<Entry>> = entries
        .iter()
        .map(|entry| ((entry.name.as_str(), entry.incarnation), entry))
        .collect();
    let Some(from) = entries
        .iter()
        .filter_map(|e| e.lock().file_replay_from)
        .min()
    else {
        return Ok(());
    };
    let end = shared.written();
    shared.visit_extensions(Position(from), |record, extension| {
        for entry in Entries::new(extension) {
            let (kind, entry_body) = entry.map_err(|e| record.corrupt(e.describe()))?;
            if kind != KIND_CONSUMER_CHECKPOINT {
                continue;
            }
            let checkpoint = CheckpointEntry::decode(entry_body).ok_or_else(|| {
                record.corrupt("malformed consumer checkpoint in record extension")
            })?;
            let Some(consumer) = by_name.get(&(checkpoint.name, checkpoint.incarnation)) else {
                // A deleted consumer (or an earlier one of the same name).
                continue;
            };
            let mut state = consumer.lock();
            let in_range = state
                .file_replay_from
                .is_some_and(|replay_from| record.position.0 >= replay_from);
            if in_range && checkpoint.sequence > state.sequence {
                state.sequence = checkpoint.sequence;
                state.position = checkpoint.position.min(end);
                state.sync_to = record.end_position.0;
            }
        }
        Ok(())
    })
}

/// A new incarnation number: the clock in nanoseconds, and always above the last one.
fn new_incarnation(last: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos.max(last + 1)
}

/// A consumer's position for [`crate::ConsumerInfo`].
pub(crate) fn checkpoint_of(entry: &Entry) -> Position {
    Position(entry.lock().position)
}
