//! openraft's state machine over an Annal event store.
//!
//! Each committed [`AppendRequest`] becomes one event-store append. Its expectation is
//! checked on apply against the replica's own store, which every replica reaches through
//! the same entries in the same order, so every replica decides the same. Its events
//! get ids derived from the entry's log index (index, event number): applying an entry
//! a second time, after a crash between the append and the applied-state file
//! (`dir/raft-state.json`, written at membership changes and snapshots), is a retry and
//! writes nothing. The appends of one `apply` call are buffered and written together,
//! in one `write`, before it returns; the applied log id a reopen reports is derived
//! from the store's last event, so a crash that loses some of them has them applied
//! again from the raft log.
//!
//! A snapshot is every event of the store (stream, type, id, metadata, data) with the
//! last applied log id and membership; installing one replaces the store with a new one
//! holding those events, with their ids.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use annal::{
    Direction, Durability, ErrorCode, EventStore, ExpectedRevision, NewEvent, Options, Position,
};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use crate::meta::MetaFile;
use crate::{AppendOutcome, AppendRequest, Proposal, TypeConfig};

type NodeId = u64;

/// Events read per call when a snapshot is built.
const SNAPSHOT_READ_EVENTS: usize = 4096;

/// What has been applied, stored durably after every applied batch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Applied {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

/// One event in a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotEvent {
    stream: Vec<u8>,
    event_type: Vec<u8>,
    id: Option<[u8; 16]>,
    metadata: Vec<u8>,
    data: Vec<u8>,
}

/// A snapshot's bytes: the events in position order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotBody {
    events: Vec<SnapshotEvent>,
}

/// A snapshot kept for followers that need it.
#[derive(Debug, Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    bytes: Vec<u8>,
}

struct Inner {
    dir: PathBuf,
    options: Options,
    store: Option<Arc<EventStore>>,
    applied: Applied,
    state_file: MetaFile,
    current: Option<StoredSnapshot>,
    snapshots_built: u64,
}

/// openraft's state machine on an event store (see the module docs). Cheap to clone:
/// clones share the store.
#[derive(Clone)]
pub struct EventStoreMachine {
    inner: Arc<Mutex<Inner>>,
}

/// Builds snapshots of an [`EventStoreMachine`].
pub struct SnapshotBuilder {
    machine: EventStoreMachine,
}

fn sm_error(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(AnyError::error(e.to_string())).into()
}

fn snapshot_error(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write_snapshot(None, AnyError::error(e.to_string())).into()
}

/// Most events one replicated entry may carry, over all its appends (the event's number
/// in its entry is 16 bits of its id).
pub const REPLICATED_EVENTS_MAX: usize = u16::MAX as usize;

/// The id the `n`-th event of the entry `log_id` gets on every replica: the index (u64),
/// the leader's term (u32) and node id (u16), and `n` (u16), little-endian. It carries
/// the whole log id, so an open learns the applied log id from the store's last event.
fn event_id(log_id: LogId<NodeId>, n: usize) -> Result<[u8; 16], String> {
    let leader = log_id.leader_id;
    let term =
        u32::try_from(leader.term).map_err(|_| format!("term {} above 2^32", leader.term))?;
    let node = u16::try_from(leader.node_id).map_err(|_| {
        format!(
            "node id {} above 2^16: event ids hold 16 bits",
            leader.node_id
        )
    })?;
    let n = u16::try_from(n).map_err(|_| format!("event {n} of an entry: at most 2^16 - 1"))?;
    let mut id = [0u8; 16];
    id[0..8].copy_from_slice(&log_id.index.to_le_bytes());
    id[8..12].copy_from_slice(&term.to_le_bytes());
    id[12..14].copy_from_slice(&node.to_le_bytes());
    id[14..16].copy_from_slice(&n.to_le_bytes());
    Ok(id)
}

/// The log id of the entry that wrote an event with this id.
fn log_id_of(id: &[u8; 16]) -> LogId<NodeId> {
    let index = u64::from_le_bytes(id[0..8].try_into().expect("8 bytes"));
    let term = u32::from_le_bytes(id[8..12].try_into().expect("4 bytes"));
    let node = u16::from_le_bytes(id[12..14].try_into().expect("2 bytes"));
    LogId::new(
        CommittedLeaderId::new(u64::from(term), u64::from(node)),
        index,
    )
}

/// The log id of the last entry surely applied whole: the one before the entry that
/// wrote the store's last event. A batch is several store appends, and a crash may keep
/// only the first of them, so the entry that wrote last is applied again (each of its
/// appends already stored is a retry and writes nothing); every entry between the two
/// wrote nothing, so applying them again sees the state they saw.
fn last_written_log_id(store: &EventStore) -> io::Result<Option<LogId<NodeId>>> {
    let mut next = store.log_next_position().0;
    let mut last_index = None;
    while next > 0 {
        let events = store
            .read_all(
                Position(next - 1),
                Direction::Backwards,
                SNAPSHOT_READ_EVENTS,
            )
            .map_err(io::Error::other)?;
        let Some(lowest) = events.last() else { break };
        next = lowest.position.0;
        for id in events.iter().filter_map(|e| e.id.as_ref()).map(log_id_of) {
            match last_index {
                None => last_index = Some(id.index),
                Some(index) if id.index < index => return Ok(Some(id)),
                Some(_) => {}
            }
        }
    }
    Ok(None)
}

/// Whether an append's error is a decision (the same on every replica) rather than a
/// failure of this replica.
fn is_refusal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::WrongExpectedRevision
            | ErrorCode::StreamDeleted
            | ErrorCode::StreamNotFound
            | ErrorCode::IdempotencyConflict
            | ErrorCode::LimitExceeded
            | ErrorCode::EmptyBatch
            | ErrorCode::InvalidArgument
    )
}

impl EventStoreMachine {
    /// Opens (or creates) the state machine in `dir`: the store in `dir/store`, the
    /// applied state in `dir/raft-state.json`.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> io::Result<EventStoreMachine> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        finish_interrupted_install(&dir)?;
        let store =
            EventStore::open(dir.join("store"), options.clone()).map_err(io::Error::other)?;
        let state_file = MetaFile::new(&dir, "raft-state.json");
        let mut applied: Applied = state_file.load()?.unwrap_or_default();
        // The file is written at membership changes and snapshots; the store's last
        // event says how far appends were applied since.
        let written = last_written_log_id(&store)?;
        if written > applied.last_applied {
            applied.last_applied = written;
        }
        Ok(EventStoreMachine {
            inner: Arc::new(Mutex::new(Inner {
                dir,
                options,
                store: Some(Arc::new(store)),
                applied,
                state_file,
                current: None,
                snapshots_built: 0,
            })),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The event store the machine applies to: read it on any replica (it holds only
    /// committed events).
    pub fn store(&self) -> Arc<EventStore> {
        Arc::clone(self.lock().store.as_ref().expect("the store is open"))
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId<NodeId>> {
        self.lock().applied.last_applied
    }
}

/// Undoes or completes a snapshot install a crash interrupted: the old store is put
/// back if the new one had not taken its name yet, and removed if it had.
fn finish_interrupted_install(dir: &Path) -> io::Result<()> {
    let live = dir.join("store");
    let old = dir.join("store.old");
    let fresh = dir.join("store.installing");
    if old.exists() {
        if live.exists() {
            std::fs::remove_dir_all(&old)?;
        } else {
            std::fs::rename(&old, &live)?;
        }
    }
    if fresh.exists() {
        std::fs::remove_dir_all(&fresh)?;
    }
    std::fs::File::open(dir)?.sync_all()
}

impl Inner {
    fn store(&self) -> &EventStore {
        self.store.as_ref().expect("the store is open")
    }

    /// Writes the store appends of an apply batch, buffered until now, in one `write`.
    /// Before this returns, a crash of the process may lose them; the applied log id is
    /// then derived from what the store holds (`last_written_log_id`), so those entries
    /// are applied again.
    fn write_buffered(&self) -> Result<(), String> {
        self.store()
            .flush()
            .map_err(|e| format!("write the applied events: {e}"))
    }

    /// Makes the store durable, then the applied state: the file never runs ahead of
    /// the store.
    fn persist_applied(&self) -> Result<(), String> {
        self.store().checkpoint().map_err(|e| e.to_string())?;
        self.state_file
            .store(&self.applied)
            .map_err(|e| format!("write applied state: {e}"))
    }

    fn build(&mut self) -> Result<StoredSnapshot, StorageError<NodeId>> {
        // Openraft purges the log up to the snapshot: the applied state must be on
        // disk at least that far.
        self.persist_applied().map_err(snapshot_error)?;
        let store = self.store();
        let mut events = Vec::new();
        let mut from = Position(0);
        loop {
            let batch = store
                .read_all(from, Direction::Forwards, SNAPSHOT_READ_EVENTS)
                .map_err(snapshot_error)?;
            let Some(last) = batch.last() else { break };
            from = Position(last.position.0 + 1);
            events.extend(batch.into_iter().map(|e| SnapshotEvent {
                stream: e.stream.to_vec(),
                event_type: e.event_type.to_vec(),
                id: e.id,
                metadata: e.metadata.to_vec(),
                data: e.data.to_vec(),
            }));
        }
        let bytes = serde_json::to_vec(&SnapshotBody { events }).map_err(snapshot_error)?;
        self.snapshots_built += 1;
        let last = self.applied.last_applied;
        let snapshot_id = format!(
            "{}-{}",
            last.map_or("none".to_string(), |id| id.to_string()),
            self.snapshots_built
        );
        let snapshot = StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: last,
                last_membership: self.applied.membership.clone(),
                snapshot_id,
            },
            bytes,
        };
        self.current = Some(snapshot.clone());
        Ok(snapshot)
    }

    fn install(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        bytes: Vec<u8>,
    ) -> Result<(), StorageError<NodeId>> {
        let body: SnapshotBody = serde_json::from_slice(&bytes).map_err(snapshot_error)?;
        // The new store is built beside the old one and renamed into place.
        let fresh_dir = self.dir.join("store.installing");
        if fresh_dir.exists() {
            std::fs::remove_dir_all(&fresh_dir).map_err(snapshot_error)?;
        }
        let fresh = EventStore::open(&fresh_dir, self.options.clone()).map_err(snapshot_error)?;
        let count = body.events.len();
        for (k, event) in body.events.into_iter().enumerate() {
            let mut new = NewEvent::new(event.event_type, event.data);
            new.metadata = event.metadata.into();
            if let Some(id) = event.id {
                new = new.with_id(id);
            }
            let durability = if k + 1 == count {
                Durability::Synced
            } else {
                Durability::Buffered
            };
            fresh
                .append(event.stream, ExpectedRevision::Any, vec![new], durability)
                .map_err(snapshot_error)?;
        }
        fresh.close().map_err(snapshot_error)?;
        if let Some(old) = self.store.take() {
            match Arc::try_unwrap(old) {
                Ok(old) => old.close().map_err(snapshot_error)?,
                Err(_) => return Err(snapshot_error("the store is still in use by a reader")),
            }
        }
        // The old store steps aside before the new one takes its name: a crash in
        // between leaves `store.old`, which the next open puts back.
        let live = self.dir.join("store");
        let old = self.dir.join("store.old");
        let sync_dir = || std::fs::File::open(&self.dir).and_then(|d| d.sync_all());
        std::fs::rename(&live, &old).map_err(snapshot_error)?;
        std::fs::rename(&fresh_dir, &live).map_err(snapshot_error)?;
        sync_dir().map_err(snapshot_error)?;
        std::fs::remove_dir_all(&old).map_err(snapshot_error)?;
        self.store = Some(Arc::new(
            EventStore::open(&live, self.options.clone()).map_err(snapshot_error)?,
        ));
        self.applied = Applied {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        self.state_file
            .store(&self.applied)
            .map_err(snapshot_error)?;
        self.current = Some(StoredSnapshot {
            meta: meta.clone(),
            bytes,
        });
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let snapshot = self.machine.lock().build()?;
        Ok(Snapshot {
            meta: snapshot.meta,
            snapshot: Box::new(Cursor::new(snapshot.bytes)),
        })
    }
}

/// Applies one append of the entry `log_id`, whose events are numbered from `first_n`.
fn apply_append(
    inner: &Inner,
    log_id: LogId<NodeId>,
    first_n: usize,
    request: &AppendRequest,
) -> Result<AppendOutcome, StorageError<NodeId>> {
    let events = request
        .events
        .iter()
        .enumerate()
        .map(|(n, e)| Ok(e.to_new_event(event_id(log_id, first_n + n)?)))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| StorageIOError::apply(log_id, AnyError::error(e)))?;
    // `Buffered`: `apply` writes the whole batch once at its end (`write_buffered`).
    // The raft log holds the entry durably on a majority; a crash that loses this
    // append lowers the applied log id derived at open, and the entry is applied again
    // (each append of a batch is a retry of itself: its events keep their ids).
    match inner.store().append(
        request.stream.as_str(),
        request.expected.into(),
        events,
        Durability::Buffered,
    ) {
        Ok(result) => Ok(AppendOutcome::Appended {
            first_revision: result.first_revision.0,
            last_revision: result.last_revision.0,
            first_position: result.first_position.0,
        }),
        Err(e) if is_refusal(e.code()) => Ok(AppendOutcome::Refused {
            reason: e.to_string(),
        }),
        Err(e) => Err(StorageIOError::apply(log_id, AnyError::error(e.to_string())).into()),
    }
}

impl RaftStateMachine<TypeConfig> for EventStoreMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let inner = self.lock();
        Ok((inner.applied.last_applied, inner.applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<AppendOutcome>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.lock();
        let mut membership_changed = false;
        let mut outcomes = Vec::new();
        for entry in entries {
            inner.applied.last_applied = Some(entry.log_id);
            let outcome = match entry.payload {
                EntryPayload::Blank => AppendOutcome::None,
                EntryPayload::Membership(membership) => {
                    inner.applied.membership =
                        StoredMembership::new(Some(entry.log_id), membership);
                    membership_changed = true;
                    AppendOutcome::None
                }
                EntryPayload::Normal(proposal) => {
                    let requests = match &proposal {
                        Proposal::Append(request) => std::slice::from_ref(request),
                        Proposal::Batch(requests) => requests.as_slice(),
                    };
                    let events: usize = requests.iter().map(|r| r.events.len()).sum();
                    if events > REPLICATED_EVENTS_MAX {
                        let reason = format!(
                            "{events} events in one entry: at most {REPLICATED_EVENTS_MAX}"
                        );
                        match proposal {
                            Proposal::Append(_) => AppendOutcome::Refused { reason },
                            Proposal::Batch(requests) => AppendOutcome::Batch(
                                requests
                                    .iter()
                                    .map(|_| AppendOutcome::Refused {
                                        reason: reason.clone(),
                                    })
                                    .collect(),
                            ),
                        }
                    } else {
                        // Events are numbered across the whole entry.
                        let mut first_n = 0;
                        let mut outcomes = Vec::with_capacity(requests.len());
                        for request in requests {
                            outcomes.push(apply_append(&inner, entry.log_id, first_n, request)?);
                            first_n += request.events.len();
                        }
                        match proposal {
                            Proposal::Append(_) => outcomes.pop().expect("one outcome"),
                            Proposal::Batch(_) => AppendOutcome::Batch(outcomes),
                        }
                    }
                }
            };
            outcomes.push(outcome);
        }
        inner.write_buffered().map_err(sm_error)?;
        if membership_changed {
            inner.persist_applied().map_err(sm_error)?;
        }
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            machine: self.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        self.lock().install(meta, snapshot.into_inner())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        Ok(self.lock().current.clone().map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.bytes)),
        }))
    }
}
