//! openraft's log storage over an Annal log.
//!
//! Raft index `i` is the log position `i - offset`: one record per entry, positions
//! gapless like indexes. The offset is learnt at open from the first entry (each entry
//! carries its log id), or, for an empty log, from the last purged log id; it moves
//! only when a purge goes past the last entry (a snapshot jumped this node ahead): the
//! log is then emptied and the next index mapped to the next position.
//!
//! `append` writes each entry as one `Buffered` record in its compact binary form
//! (`entry_codec.rs`; readable at once: a read writes the buffer) and hands the flush
//! callback to the syncer thread, which calls `Log::sync` once for every callback
//! queued meanwhile: one fdatasync acknowledges all of them, and none is called before
//! it returned. `truncate` is
//! `Log::truncate_from`; `purge` first stores the purged log id durably, then lets
//! retention remove the whole segments before it.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use annal::{Durability, Log, Options, Position};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, Entry, LogId, LogState, RaftLogReader, StorageError, StorageIOError, Vote,
};
use serde::{Deserialize, Serialize};

use crate::entry_codec;
use crate::meta::MetaFile;
use crate::syncer::{SyncStats, Syncer};
use crate::TypeConfig;

type NodeId = u64;

/// The payload of a position that holds no entry: openraft never leaves a hole in its
/// log, but its storage suite appends entries with small gaps between them; each
/// missing index takes one empty record (an entry is never empty), which reads skip.
const HOLE: &[u8] = b"";
/// The committed log id is written to the file at most this often.
const COMMITTED_WRITE_INTERVAL: Duration = Duration::from_millis(100);
/// The largest gap an append may leave.
const HOLE_ENTRIES_MAX: i64 = 1024;

/// The durable raft state beside the log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LogMeta {
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    last_purged: Option<LogId<NodeId>>,
}

/// What the store and its readers share.
struct Shared {
    log: Arc<Log>,
    /// Raft index minus log position.
    offset: AtomicI64,
    /// The state beside the log; apart, so a background write does not keep the log
    /// open.
    state: Arc<MetaState>,
}

/// The vote, committed and purged log ids, in memory and in their file.
struct MetaState {
    meta: Mutex<LogMeta>,
    meta_file: MetaFile,
    /// Held while the file is written: each writer stores the state as it is once it
    /// holds this, so a later write never carries an older state than an earlier one.
    meta_writing: Mutex<()>,
    /// A committed log id write runs in the background.
    committed_write_running: AtomicBool,
    /// The committed log id changed since the file was last written.
    committed_dirty: AtomicBool,
    /// Why the last background write failed, reported by the next `save_committed`.
    committed_write_failed: Mutex<Option<String>>,
}

/// openraft's log storage on an Annal log (see the module docs).
pub struct AnnalLogStore {
    shared: Arc<Shared>,
    syncer: Syncer,
    /// `append` calls whose flush callback went to the syncer.
    queued_flushes: Arc<AtomicU64>,
    /// When the committed log id was last written to the file.
    committed_written_at: Option<Instant>,
}

/// A reader of the log for replication: cheap to clone, reads never block appends.
#[derive(Clone)]
pub struct AnnalLogReader {
    shared: Arc<Shared>,
}

fn write_error(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write_logs(AnyError::error(e.to_string())).into()
}

fn read_error(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::read_logs(AnyError::error(e.to_string())).into()
}

fn vote_error(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write_vote(AnyError::error(e.to_string())).into()
}

impl AnnalLogStore {
    /// Opens (or creates) the raft log in `dir`: the Annal log in `dir/log`, the vote,
    /// committed and purged log ids in `dir/raft-log.json`.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> io::Result<AnnalLogStore> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        let log = Arc::new(Log::open(dir.join("log"), options).map_err(io::Error::other)?);
        let meta_file = MetaFile::new(dir, "raft-log.json");
        let meta: LogMeta = meta_file.load()?.unwrap_or_default();
        let shared = Arc::new(Shared {
            log: Arc::clone(&log),
            offset: AtomicI64::new(0),
            state: Arc::new(MetaState {
                meta: Mutex::new(meta),
                meta_file,
                meta_writing: Mutex::new(()),
                committed_write_running: AtomicBool::new(false),
                committed_dirty: AtomicBool::new(false),
                committed_write_failed: Mutex::new(None),
            }),
        });
        shared.learn_offset().map_err(io::Error::other)?;
        shared.rebase_if_behind_purge().map_err(io::Error::other)?;
        let syncer = Syncer::start(log)?;
        Ok(AnnalLogStore {
            shared,
            syncer,
            queued_flushes: Arc::new(AtomicU64::new(0)),
            committed_written_at: None,
        })
    }

    /// The Annal log holding the entries.
    pub fn log(&self) -> &Log {
        &self.shared.log
    }

    /// The same log, shared: its metrics stay readable once openraft owns the store.
    pub fn log_handle(&self) -> Arc<Log> {
        Arc::clone(&self.shared.log)
    }

    /// The counters of the group-commit syncs that acknowledge appends (how many, how
    /// many appends each, how long), readable once openraft owns the store.
    pub fn sync_stats(&self) -> Arc<SyncStats> {
        self.syncer.stats()
    }

    /// A way to wait for this log's flushes (see [`LogFlushes`]), usable once openraft
    /// owns the store.
    pub fn flushes(&self) -> LogFlushes {
        LogFlushes {
            queued: Arc::clone(&self.queued_flushes),
            answered: self.syncer.answered(),
        }
    }
}

/// Waits for the flushes of one raft log: [`LogFlushes::mark`] now, then
/// [`LogFlushes::flushed_after`] returns once the first `append` that openraft made
/// after the mark is durable. The [`crate::Proposer`] uses it to propose its next
/// batch only once the leader's log took the previous one.
#[derive(Clone)]
pub struct LogFlushes {
    queued: Arc<AtomicU64>,
    answered: tokio::sync::watch::Receiver<u64>,
}

impl LogFlushes {
    /// The appends handed to the log so far.
    pub fn mark(&self) -> u64 {
        self.queued.load(Ordering::Acquire)
    }

    /// Returns once an append made after `mark` was taken is durable (flush callbacks
    /// are answered in the order of the appends), or the log is closed.
    pub async fn flushed_after(&mut self, mark: u64) {
        let _ = self.answered.wait_for(|&answered| answered > mark).await;
    }
}

impl Drop for AnnalLogStore {
    fn drop(&mut self) {
        // Waits for a background write to end, then stores the last committed log id;
        // an error only leaves an older lower bound behind.
        let state = &self.shared.state;
        while state.committed_write_running.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = state.store_committed_if_dirty();
    }
}

impl MetaState {
    fn meta(&self) -> MutexGuard<'_, LogMeta> {
        self.meta.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `change` to the state and stores the result durably; the state in
    /// memory (whose committed log id may move meanwhile) gets `change` only once it is
    /// on disk.
    fn store_meta(&self, change: impl Fn(&mut LogMeta)) -> io::Result<()> {
        let _writing = self.meta_writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = self.meta().clone();
        change(&mut next);
        self.committed_dirty.store(false, Ordering::Release);
        self.meta_file.store(&next)?;
        change(&mut self.meta());
        Ok(())
    }

    /// Writes the committed log id (with the rest of the state) if it changed since
    /// the last write.
    fn store_committed_if_dirty(&self) -> io::Result<()> {
        if self.committed_dirty.load(Ordering::Acquire) {
            self.store_meta(|_| {})?;
        }
        Ok(())
    }
}

impl Shared {
    fn meta(&self) -> MutexGuard<'_, LogMeta> {
        self.state.meta()
    }

    fn offset(&self) -> i64 {
        self.offset.load(Ordering::Acquire)
    }

    fn position_of(&self, index: u64) -> u64 {
        (index as i64 - self.offset()).max(0) as u64
    }

    fn decode(
        &self,
        position: u64,
        payload: &[u8],
    ) -> Result<Entry<TypeConfig>, StorageError<NodeId>> {
        entry_codec::decode(payload)
            .map_err(|e| read_error(format!("entry at log position {position} is damaged: {e}")))
    }

    /// The first entry at or after `position` (holes skipped), with its position.
    fn first_entry_from(
        &self,
        position: u64,
    ) -> Result<Option<(u64, Entry<TypeConfig>)>, StorageError<NodeId>> {
        for event in self.log.read_from(Position(position)).map_err(read_error)? {
            let event = event.map_err(read_error)?;
            if event.payload.is_empty() {
                continue;
            }
            return Ok(Some((
                event.position.0,
                self.decode(event.position.0, &event.payload)?,
            )));
        }
        Ok(None)
    }

    /// The log holds no entry.
    fn is_empty(&self) -> bool {
        self.log.next_position() <= self.log.first_position()
    }

    /// Sets the offset from the first entry, or for an empty log from the last purge.
    fn learn_offset(&self) -> Result<(), StorageError<NodeId>> {
        let offset = if self.is_empty() {
            let next_index = self.meta().last_purged.map_or(0, |id| id.index + 1);
            next_index as i64 - self.log.next_position().0 as i64
        } else {
            let first = self.log.first_position().0;
            match self.first_entry_from(first)? {
                Some((position, entry)) => entry.log_id.index as i64 - position as i64,
                None => return Err(read_error("the log holds only holes")),
            }
        };
        self.offset.store(offset, Ordering::Release);
        Ok(())
    }

    /// The last entry's log id, if the log holds one.
    fn last_entry_id(&self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        if self.is_empty() {
            return Ok(None);
        }
        // The last record is always an entry: holes only come before one.
        let last = self.log.next_position().0 - 1;
        let event = self.log.read(Position(last)).map_err(read_error)?;
        Ok(Some(self.decode(last, &event.payload)?.log_id))
    }

    /// A purge past the last entry (a snapshot moved this node ahead) empties the log
    /// and maps the next position to the index after the purge.
    fn rebase_if_behind_purge(&self) -> Result<(), StorageError<NodeId>> {
        let Some(purged) = self.meta().last_purged else {
            return Ok(());
        };
        let behind = match self.last_entry_id()? {
            Some(last) => last.index < purged.index,
            None => true,
        };
        if behind {
            if !self.is_empty() {
                self.log
                    .truncate_from(self.log.first_position())
                    .map_err(write_error)?;
            }
            let next_index = purged.index + 1;
            self.offset.store(
                next_index as i64 - self.log.next_position().0 as i64,
                Ordering::Release,
            );
        }
        Ok(())
    }

    fn read_range<RB: RangeBounds<u64>>(
        &self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let purged_below = self.meta().last_purged.map_or(0, |id| id.index + 1);
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i + 1,
            Bound::Unbounded => 0,
        }
        .max(purged_below);
        let end = match range.end_bound() {
            Bound::Included(&i) => i.saturating_add(1),
            Bound::Excluded(&i) => i,
            Bound::Unbounded => u64::MAX,
        };
        let first = self.log.first_position().0;
        let next = self.log.next_position().0;
        let from = self.position_of(start).max(first);
        let mut entries = Vec::new();
        if start >= end || from >= next {
            return Ok(entries);
        }
        for event in self.log.read_from(Position(from)).map_err(read_error)? {
            let event = event.map_err(read_error)?;
            if event.payload.is_empty() {
                continue;
            }
            let entry = self.decode(event.position.0, &event.payload)?;
            if entry.log_id.index >= end {
                break;
            }
            if entry.log_id.index >= start {
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}

impl RaftLogReader<TypeConfig> for AnnalLogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        self.shared.read_range(range)
    }
}

impl RaftLogReader<TypeConfig> for AnnalLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        self.shared.read_range(range)
    }
}

impl RaftLogStorage<TypeConfig> for AnnalLogStore {
    type LogReader = AnnalLogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged = self.shared.meta().last_purged;
        let last_entry = self.shared.last_entry_id()?;
        let last_log_id = match (last_entry, last_purged) {
            (Some(entry), Some(purged)) if entry.index < purged.index => Some(purged),
            (Some(entry), _) => Some(entry),
            (None, purged) => purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> AnnalLogReader {
        AnnalLogReader {
            shared: Arc::clone(&self.shared),
        }
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let (shared, vote) = (Arc::clone(&self.shared), *vote);
        // Durable before it returns, as openraft requires; off the async workers.
        tokio::task::spawn_blocking(move || shared.state.store_meta(|meta| meta.vote = Some(vote)))
            .await
            .map_err(vote_error)?
            .map_err(vote_error)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.shared.meta().vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        // The committed log id only lets a restart apply sooner, and any older value is
        // still a true lower bound (openraft does not require it stored at all): it is
        // written at most every `COMMITTED_WRITE_INTERVAL` (and with every vote and
        // purge, and when the store is dropped), in the background. openraft awaits
        // this call inside its core loop, so a write awaited here (two fsyncs and a
        // rename) stalled every client write of the node each time.
        if let Some(failed) = self
            .shared
            .state
            .committed_write_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            return Err(write_error(failed));
        }
        self.shared.meta().committed = committed;
        self.shared
            .state
            .committed_dirty
            .store(true, Ordering::Release);
        let now = Instant::now();
        if self
            .committed_written_at
            .is_some_and(|at| now.duration_since(at) < COMMITTED_WRITE_INTERVAL)
            || self
                .shared
                .state
                .committed_write_running
                .swap(true, Ordering::AcqRel)
        {
            return Ok(());
        }
        self.committed_written_at = Some(now);
        let state = Arc::clone(&self.shared.state);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = state.store_committed_if_dirty() {
                *state
                    .committed_write_failed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("write the committed log id: {e}"));
            }
            state
                .committed_write_running
                .store(false, Ordering::Release);
        });
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.shared.meta().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let log = &self.shared.log;
        for entry in entries {
            if self.shared.is_empty() {
                // An empty log takes its first entry where openraft puts it (after a
                // purge, openraft has checked it follows the purged log id).
                self.shared.offset.store(
                    entry.log_id.index as i64 - log.next_position().0 as i64,
                    Ordering::Release,
                );
            }
            let index = entry.log_id.index as i64;
            let next = log.next_position().0;
            let expected = index - self.shared.offset();
            let gap = expected - next as i64;
            if !(0..=HOLE_ENTRIES_MAX).contains(&gap) {
                return Err(write_error(format!(
                    "entry {} does not follow the log, whose next index is {}",
                    entry.log_id,
                    next as i64 + self.shared.offset()
                )));
            }
            for _ in 0..gap {
                log.append(HOLE, Durability::Buffered)
                    .map_err(write_error)?;
            }
            let payload = entry_codec::encode(&entry).map_err(write_error)?;
            log.append(&payload, Durability::Buffered)
                .map_err(write_error)?;
        }
        // Counted before it is queued: a mark never runs ahead of the queue.
        self.queued_flushes.fetch_add(1, Ordering::AcqRel);
        self.syncer
            .after_sync(Box::new(move |result| {
                callback.log_io_completed(result.map_err(io::Error::other));
            }))
            .map_err(write_error)
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let log = &self.shared.log;
        let position = self
            .shared
            .position_of(log_id.index)
            .max(log.first_position().0);
        if position < log.next_position().0 {
            log.truncate_from(Position(position)).map_err(write_error)?;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        if self
            .shared
            .meta()
            .last_purged
            .is_some_and(|purged| purged.index >= log_id.index)
        {
            return Ok(());
        }
        self.shared
            .state
            .store_meta(|meta| meta.last_purged = Some(log_id))
            .map_err(write_error)?;
        self.shared.rebase_if_behind_purge()?;
        let position = self.shared.position_of(log_id.index + 1);
        if position <= self.shared.log.next_position().0 {
            self.shared
                .log
                .truncate_before(Position(position))
                .map_err(write_error)?;
        }
        Ok(())
    }
}
