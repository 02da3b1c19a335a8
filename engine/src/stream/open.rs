//! Opening a store, with a writer or read-only: the index checkpoint loaded if it is
//! usable (else rebuilt from the whole log), the id window replayed, then the log after
//! the checkpoint.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::envelope::decode;
use crate::handle::Log;
use crate::index::checkpointer::Checkpointer;
use crate::index::{checkpoint, Index, IDEMPOTENCY_WINDOW_EVENTS};
use crate::io::FileStorage;
use crate::io::Storage;
use crate::options::Options;
use crate::position::{Location, Position};

use super::read::not_an_envelope;
use super::state_lock::StateLock;
use super::IndexRecovery;
use super::{append, Core, EventStore, State};

impl EventStore {
    /// Opens (creating if needed) the event store in `dir` on the local file system.
    ///
    /// ```
    /// use annal::{EventStore, Options};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = EventStore::open(dir.path(), Options::default())?;
    /// store.close()?;
    /// let again = EventStore::open(dir.path(), Options::default())?; // reopens it
    /// # drop(again);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<EventStore> {
        let storage = FileStorage::with_io_path(options.io_path)?;
        EventStore::open_with_storage(dir, options, Arc::new(storage))
    }

    /// Opens the event store on a given storage backend.
    pub fn open_with_storage(
        dir: impl AsRef<Path>,
        options: Options,
        storage: Arc<dyn Storage>,
    ) -> Result<EventStore> {
        let log = Log::open_with_storage(dir, options, Arc::clone(&storage))?;
        EventStore::on_log(log, storage)
    }

    /// Opens the event store in `dir` read-only, as a follower of the process that writes
    /// it (or of a read-only copy): see [`Log::open_read_only`]. It takes no lock and
    /// writes nothing — an unusable index checkpoint is left in place and the index
    /// rebuilt in memory — and every read first catches up with what the writer added.
    /// Appends, deletes, checkpoints and consumer changes return
    /// [`Error::ReadOnly`].
    pub fn open_read_only(dir: impl AsRef<Path>, options: Options) -> Result<EventStore> {
        EventStore::open_read_only_with_storage(dir, options, Arc::new(FileStorage::default()))
    }

    /// [`EventStore::open_read_only`] on a given storage backend.
    pub fn open_read_only_with_storage(
        dir: impl AsRef<Path>,
        options: Options,
        storage: Arc<dyn Storage>,
    ) -> Result<EventStore> {
        let log = Log::open_read_only_with_storage(dir, options, Arc::clone(&storage))?;
        EventStore::on_log(log, storage)
    }

    /// The store on an open log: its index loaded or rebuilt.
    fn on_log(log: Log, storage: Arc<dyn Storage>) -> Result<EventStore> {
        let (index, index_recovery) = load_index(&log, storage.as_ref(), log.is_read_only())?;
        if let IndexRecovery::Rebuilt { reason } = &index_recovery {
            ::log::info!(
                "annal: index of {} rebuilt from the log ({reason})",
                log.dir().display()
            );
        }
        let events_at_checkpoint = index.events_indexed;
        let core = Core {
            checkpointer: Checkpointer::new(storage, log.dir()),
            log,
            state: StateLock::new(State {
                index,
                events_at_checkpoint,
                plans: Vec::new(),
                batch: append::EncodedBatch::default(),
                writer_key: None,
            }),
        };
        // From here on the store's appends take its lock alone (`state_lock`).
        let writer_key = core.log.set_owner_lock(core.state.owner_lock());
        core.write_state().writer_key = writer_key;
        Ok(EventStore {
            core: Arc::new(core),
            index_recovery,
        })
    }
}

/// Why the index checkpoint was not loaded.
enum NotLoaded {
    /// There is none (a new store, or one never checkpointed).
    Missing,
    /// It is damaged or does not fit the log: it is removed, and the index rebuilt.
    Unusable(String),
}

/// Loads the index checkpoint if it is usable, then replays the log after it. A
/// read-only store (a follower) leaves an unusable checkpoint where it is and rebuilds
/// the index in memory.
pub(super) fn load_index(
    log: &Log,
    storage: &dyn Storage,
    read_only: bool,
) -> Result<(Index, IndexRecovery)> {
    let path = log.dir().join(checkpoint::CHECKPOINT_FILE_NAME);
    let first = log.first_position().0;
    let next = log.next_position().0;
    let loaded = match storage.open_file(&path, false) {
        Ok(file) => {
            let bytes = file
                .view()
                .map_err(|e| Error::io("map index checkpoint", Some(path.clone()), e))?;
            // A version-2 checkpoint (before the mapped table) is loaded onto the heap:
            // an upgraded store keeps its index, even where retention has made a
            // rebuild impossible; its next checkpoint is version 3.
            checkpoint::load(bytes, log.epoch())
                .map_err(|e| NotLoaded::Unusable(e.0.to_owned()))
                .and_then(|index| {
                    if index.through < first || index.through > next {
                        Err(NotLoaded::Unusable(
                            "checkpoint is not within the log (the log lost its tail)".to_owned(),
                        ))
                    } else {
                        Ok(index)
                    }
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(NotLoaded::Missing),
        Err(e) => return Err(Error::io("open index checkpoint", Some(path), e)),
    };
    let (mut index, recovery) = match loaded {
        Ok(index) => {
            let replayed_from = Position(index.through);
            (index, IndexRecovery::Loaded { replayed_from })
        }
        Err(NotLoaded::Missing) => (
            Index::starting_at(first),
            IndexRecovery::Rebuilt {
                reason: "no checkpoint".to_owned(),
            },
        ),
        Err(NotLoaded::Unusable(reason)) if read_only => {
            (Index::starting_at(first), IndexRecovery::Rebuilt { reason })
        }
        Err(NotLoaded::Unusable(reason)) => {
            // A stale or damaged checkpoint must never be trusted later either.
            storage
                .remove_file(&path)
                .map_err(|e| Error::io("remove index checkpoint", Some(path.clone()), e))?;
            storage
                .sync_dir(log.dir())
                .map_err(|e| Error::io("fsync directory", Some(log.dir().to_path_buf()), e))?;
            (Index::starting_at(first), IndexRecovery::Rebuilt { reason })
        }
    };
    let ids_from = index
        .through
        .saturating_sub(IDEMPOTENCY_WINDOW_EVENTS as u64)
        .max(first);
    let mut reader = log.read_from(Position(ids_from))?;
    while reader.position().0 < index.through {
        let Some(event) = reader.next() else { break };
        let event = event?;
        let envelope = decode(&event.payload)
            .map_err(|e| not_an_envelope(log.dir(), event.position.0, e.0))?;
        index.remember_envelope_id(&envelope, event.position.0);
    }
    let rebuilt = matches!(recovery, IndexRecovery::Rebuilt { .. });
    replay(log, &mut index, rebuilt)?;
    Ok((index, recovery))
}

/// Applies the log's events from `index.through` on to the index: at open, and when a
/// follower catches up with what its writer added.
pub(super) fn replay(log: &Log, index: &mut Index, rebuilt: bool) -> Result<()> {
    let first = log.first_position().0;
    let mut reader = log.read_from(Position(index.through))?;
    while let Some(event) = reader.next() {
        let event = event?;
        let position = event.position.0;
        let envelope =
            decode(&event.payload).map_err(|e| not_an_envelope(log.dir(), position, e.0))?;
        let link = Location::new(Position(position), reader.record_offset());
        index.apply(&envelope, link).map_err(|e| {
            // A rebuild from a log whose beginning retention removed finds streams that
            // start past revision 0: say so rather than blame the envelope.
            let reason = if first > 0 && rebuilt {
                "the index checkpoint is missing or unusable and retention removed the \
                 log's first events: the index cannot be rebuilt"
            } else {
                e.0
            };
            not_an_envelope(log.dir(), position, reason)
        })?;
    }
    Ok(())
}
