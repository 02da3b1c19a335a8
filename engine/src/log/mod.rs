//! The log: segments on disk, the append path with group commit, recovery at open.
//!
//! [`Log`] is the owner (it holds the directory lock); everything readers need lives in
//! [`Shared`], which readers keep alive through an `Arc` after the log is closed.

mod append;
mod directory;
mod flusher;
pub(crate) mod group_commit;
mod preparer;
mod recovery;
mod retention;
mod scan;
pub(crate) mod segment;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::consumer::Registry;
use crate::io::{DirLock, FileStorage, Storage};
use crate::metrics::{Counters, Metrics};
use crate::read::tail::Tail;
use crate::read::{Event, LogReader, Visibility};
use crate::{Durability, Error, Options, Position, Result};

use append::Writer;
use flusher::{Flusher, SealSync};
use group_commit::GroupCommit;
use preparer::Preparer;
use segment::Segment;

/// The positions one append was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Position of the first event of the append.
    pub first: Position,
    /// Position of the last event of the append.
    pub last: Position,
    /// Byte offset of the append's record in the segment holding `first`: with a position
    /// of the append it locates an event without any search ([`Log::read_in_record`]).
    pub record_offset: u32,
}

/// State shared by the log, its writer and its readers.
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) epoch: u64,
    /// Segments in position order; the last is the active one. Changed on a roll, and by
    /// retention (`truncate_before`) at the front.
    pub(crate) segments: RwLock<Vec<Arc<Segment>>>,
    /// The position after the last event published to readers.
    pub(crate) written: AtomicU64,
    /// The position the next append gets (above `written` while appends are buffered).
    pub(crate) next: AtomicU64,
    /// The position after the last event known durable.
    pub(crate) synced: AtomicU64,
    /// The first position the log holds.
    pub(crate) first: AtomicU64,
    pub(crate) poisoned: AtomicBool,
    pub(crate) closed: AtomicBool,
    pub(crate) counters: Counters,
    writer: Mutex<Writer>,
    group_commit: GroupCommit,
    /// The sealed segment whose fdatasync may still be running (`flusher`).
    seals: SealSync,
    /// Wakes subscriptions waiting at the tail; counts them (`read::tail`).
    pub(crate) tail: Tail,
    /// The log's durable consumers (`consumer`).
    pub(crate) consumers: Registry,
    /// Serializes `truncate_before` calls (`retention`).
    retention: Mutex<()>,
}

impl Shared {
    /// The segment holding `position`, if the log holds it.
    pub(crate) fn segment_for(&self, position: u64) -> Option<Arc<Segment>> {
        let segments = self.segments.read().unwrap_or_else(|e| e.into_inner());
        let at = segments.partition_point(|s| s.first_position <= position);
        segments.get(at.checked_sub(1)?).cloned()
    }

    /// The segment that starts at `first_position`.
    pub(crate) fn segment_starting_at(&self, first_position: u64) -> Option<Arc<Segment>> {
        let segments = self.segments.read().unwrap_or_else(|e| e.into_inner());
        segments
            .binary_search_by_key(&first_position, |s| s.first_position)
            .ok()
            .map(|at| Arc::clone(&segments[at]))
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn check_usable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    /// Writes and publishes buffered appends.
    pub(crate) fn flush(&self) -> Result<()> {
        let mut writer = self.writer();
        if !writer.has_buffered() {
            return Ok(());
        }
        self.check_usable()?;
        append::flush(self, &mut writer)
    }

    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
        // Nothing more will be published: waiting subscriptions must find out.
        self.tail.end();
    }
}

/// An append placed in the log and not yet waited for ([`Log::begin_append`]).
#[must_use = "an append is acknowledged only by finish()"]
pub(crate) struct PendingAppend<'log> {
    shared: &'log Shared,
    appended: Appended,
    /// Counts a `Synced` append in progress until it is covered (group commit).
    _appending: Option<group_commit::Appending<'log>>,
}

impl PendingAppend<'_> {
    /// Where the append went, before its durability is reached.
    pub(crate) fn appended(&self) -> Appended {
        self.appended
    }

    /// Waits for the durability the append asked for: returns at once unless `Synced`,
    /// which joins (or leads) a group commit.
    pub(crate) fn finish(self) -> Result<Appended> {
        if self._appending.is_some() {
            group_commit::wait_synced(self.shared, self.appended.last.0 + 1)?;
        }
        Ok(self.appended)
    }
}

/// An open log. `Send + Sync`: share it (in an `Arc`) between appending threads.
pub struct Log {
    shared: Arc<Shared>,
    _lock: DirLock,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.shared.dir)
            .field("written", &self.shared.written.load(Ordering::Relaxed))
            .field("synced", &self.shared.synced.load(Ordering::Relaxed))
            .finish()
    }
}

impl Log {
    /// Opens (creating if needed) the log in `dir` on the local file system, recovering
    /// from whatever a crash left there.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Log> {
        Log::open_with_storage(dir, options, Arc::new(FileStorage))
    }

    /// Opens the log on a given storage backend (tests use [`crate::io::SimStorage`]).
    pub fn open_with_storage(
        dir: impl AsRef<Path>,
        options: Options,
        storage: Arc<dyn Storage>,
    ) -> Result<Log> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        storage
            .create_dir_all(&dir)
            .map_err(|e| Error::io("create log directory", Some(dir.clone()), e))?;
        let lock = storage.lock_dir(&dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                Error::Locked {
                    path: dir.join("LOCK"),
                }
            } else {
                Error::io("lock log directory", Some(dir.join("LOCK")), e)
            }
        })?;
        let recovered = recovery::recover(storage.as_ref(), &dir, &options)?;
        let preparer = Preparer::start(Arc::clone(&storage), dir.clone(), options.segment_bytes);
        let active = Arc::clone(
            recovered
                .segments
                .last()
                .expect("recovery leaves a segment"),
        );
        preparer.request();
        let writer = Writer::new(
            active,
            recovered.write_offset,
            recovered.next_position,
            recovered.active_sealed,
            preparer,
        );
        let shared = Arc::new(Shared {
            dir,
            options,
            storage,
            epoch: recovered.epoch,
            segments: RwLock::new(recovered.segments),
            written: AtomicU64::new(recovered.next_position),
            next: AtomicU64::new(recovered.next_position),
            synced: AtomicU64::new(recovered.next_position),
            first: AtomicU64::new(recovered.first_position),
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
            writer: Mutex::new(writer),
            group_commit: GroupCommit::default(),
            seals: SealSync::default(),
            tail: Tail::new(),
            consumers: Registry::default(),
            retention: Mutex::new(()),
        });
        let flusher = Flusher::start(Arc::downgrade(&shared));
        shared.writer().set_flusher(flusher);
        if let Err(e) = shared.consumers.recover(&shared) {
            // Joined here, so the flusher (which may hold the state for a moment) never
            // drops the last reference on its own thread.
            let threads = shared.writer().stop_threads();
            drop(threads);
            return Err(e);
        }
        Ok(Log {
            shared,
            _lock: lock,
        })
    }

    /// Appends one event and waits for the given durability.
    pub fn append(&self, event: &[u8], durability: Durability) -> Result<Appended> {
        self.append_batch(&[event], durability)
    }

    /// Appends a batch of events atomically (one record: after a crash, all or none of
    /// them are present) and waits for the given durability.
    pub fn append_batch<E: AsRef<[u8]>>(
        &self,
        events: &[E],
        durability: Durability,
    ) -> Result<Appended> {
        self.append_batch_with_extension(events, &[], durability)
    }

    /// Appends a batch together with a record extension: bytes stored in the same record,
    /// so all-or-nothing with the events, that are not events themselves (they take no
    /// position). Layers above the raw log use it for data that must commit atomically
    /// with a batch, such as a consumer's checkpoint. Readers see it through
    /// [`LogReader::record_extension`].
    pub fn append_batch_with_extension<E: AsRef<[u8]>>(
        &self,
        events: &[E],
        extension: &[u8],
        durability: Durability,
    ) -> Result<Appended> {
        self.begin_append(events, extension, durability)?.finish()
    }

    /// The first half of every append: the record is placed (positions assigned, written
    /// and published if `Written`, left in the writer's buffer otherwise) and the returned
    /// [`PendingAppend`] waits for the durability asked for. Layers above (the event store)
    /// place their record under their own lock and wait after releasing it, so concurrent
    /// `Synced` appends share one write and one fdatasync whatever layer they come from.
    pub(crate) fn begin_append<E: AsRef<[u8]>>(
        &self,
        events: &[E],
        extension: &[u8],
        durability: Durability,
    ) -> Result<PendingAppend<'_>> {
        let appending =
            (durability == Durability::Synced).then(|| self.shared.group_commit.appending());
        let appended = append::append(&self.shared, events, extension, durability)?;
        Ok(PendingAppend {
            shared: &self.shared,
            appended,
            _appending: appending,
        })
    }

    /// Writes buffered appends (`Durability::Buffered`) and publishes them to readers,
    /// without waiting for them to be durable.
    pub fn flush(&self) -> Result<()> {
        self.shared.check_usable()?;
        self.shared.flush()
    }

    /// Makes every event appended so far durable (one fdatasync, shared with concurrent
    /// `Synced` appends).
    pub fn sync(&self) -> Result<()> {
        self.flush()?;
        let written = self.shared.written.load(Ordering::Acquire);
        group_commit::wait_synced(&self.shared, written)
    }

    /// Syncs and closes the log, reporting any error (dropping it syncs on a best-effort
    /// basis and ignores errors).
    pub fn close(self) -> Result<()> {
        let flushed = self.flush_consumers();
        let result = self.sync();
        self.shared.closed.store(true, Ordering::Release);
        self.shared.tail.end();
        flushed.and(result)
    }

    /// Reads the event at `position`.
    pub fn read(&self, position: Position) -> Result<Event> {
        let mut reader = self.read_from(position)?;
        match reader.next() {
            Some(event) => event,
            None => Err(self.out_of_range(position)),
        }
    }

    /// Reads the event at `position` from the record at `record_offset` in its segment (as
    /// returned in [`Appended::record_offset`] or by [`LogReader::record_offset`]): no
    /// index lookup and no scan. A location that does not hold `position` is an error.
    pub fn read_in_record(&self, position: Position, record_offset: u32) -> Result<Event> {
        self.flush_if_buffered(position.0)?;
        let written = self.shared.written.load(Ordering::Acquire);
        if position.0 < self.shared.first.load(Ordering::Acquire) || position.0 >= written {
            return Err(self.out_of_range(position));
        }
        crate::read::read_in_record(&self.shared, position.0, record_offset)
    }

    /// Reads the events at `locations` (each a position and its record's offset, as for
    /// [`Log::read_in_record`]) and appends them to `out` in the order given. Scattered
    /// events cost much less this way than one by one: every record is touched before
    /// any is decoded, so their cache misses overlap. Stops at the first location that
    /// is out of range or does not hold its position; `out` then holds the events
    /// before it.
    pub fn read_located(&self, locations: &[(Position, u32)], out: &mut Vec<Event>) -> Result<()> {
        let raw: Vec<(u64, u32)> = locations.iter().map(|&(p, o)| (p.0, o)).collect();
        self.visit_located(&raw, |i, view, range| {
            out.push(Event {
                position: locations[i].0,
                payload: view.slice(range),
            });
            Ok(())
        })
    }

    /// [`Log::read_located`] for the crate: `visit(i, view, range)` gets the payload of
    /// the `i`-th location as `view[range]`.
    pub(crate) fn visit_located(
        &self,
        locations: &[(u64, u32)],
        mut visit: impl FnMut(usize, &bytes::Bytes, std::ops::Range<usize>) -> Result<()>,
    ) -> Result<()> {
        if let Some(highest) = locations.iter().map(|&(position, _)| position).max() {
            self.flush_if_buffered(highest)?;
        }
        let first = self.shared.first.load(Ordering::Acquire);
        let written = self.shared.written.load(Ordering::Acquire);
        for (i, &(position, _)) in locations.iter().enumerate() {
            if position < first || position >= written {
                // The locations before it are still read, as documented.
                crate::read::visit_located(&self.shared, &locations[..i], &mut visit)?;
                return Err(self.out_of_range(Position(position)));
            }
        }
        crate::read::visit_located(&self.shared, locations, visit)
    }

    /// A reader of every event from `position` up to the written watermark, in order.
    /// The reader keeps going as the log grows: after it returns `None`, calling
    /// `next` again returns events appended since.
    pub fn read_from(&self, position: Position) -> Result<LogReader> {
        self.reader_from(position, Visibility::Written)
    }

    /// A reader like [`Log::read_from`] that only sees events already synced.
    pub fn read_synced_from(&self, position: Position) -> Result<LogReader> {
        self.reader_from(position, Visibility::Synced)
    }

    fn reader_from(&self, position: Position, visibility: Visibility) -> Result<LogReader> {
        let first = self.shared.first.load(Ordering::Acquire);
        let next = self.shared.next.load(Ordering::Acquire);
        if position.0 < first || position.0 > next {
            return Err(self.out_of_range(position));
        }
        if self.shared.written.load(Ordering::Acquire) < next && !self.is_poisoned() {
            // Buffered appends become readable when something reads them.
            self.shared.flush()?;
        }
        LogReader::new(Arc::clone(&self.shared), position.0, visibility)
    }

    /// Buffered appends become readable when something reads them: writes the buffer if
    /// `position` was appended but is still in it.
    pub(crate) fn flush_if_buffered(&self, position: u64) -> Result<()> {
        let written = self.shared.written.load(Ordering::Acquire);
        if position >= written
            && position < self.shared.next.load(Ordering::Acquire)
            && !self.is_poisoned()
        {
            self.shared.flush()?;
        }
        Ok(())
    }

    fn out_of_range(&self, position: Position) -> Error {
        Error::PositionOutOfRange {
            position,
            first: self.first_position(),
            next: self.next_position(),
        }
    }

    /// The first position the log holds.
    pub fn first_position(&self) -> Position {
        Position(self.shared.first.load(Ordering::Acquire))
    }

    /// The position the next append will get.
    pub fn next_position(&self) -> Position {
        Position(self.shared.next.load(Ordering::Acquire))
    }

    /// The last position written (visible to readers), if any.
    pub fn last_written(&self) -> Option<Position> {
        let written = self.shared.written.load(Ordering::Acquire);
        let first = self.shared.first.load(Ordering::Acquire);
        (written > first).then(|| Position(written - 1))
    }

    /// The last position known durable, if any.
    pub fn last_synced(&self) -> Option<Position> {
        let synced = self.shared.synced.load(Ordering::Acquire);
        let first = self.shared.first.load(Ordering::Acquire);
        (synced > first).then(|| Position(synced - 1))
    }

    /// The log's epoch: chosen at creation, carried by every segment.
    pub fn epoch(&self) -> u64 {
        self.shared.epoch
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    /// Counters since open.
    pub fn metrics(&self) -> Metrics {
        self.shared.counters.snapshot()
    }

    /// Whether an earlier failure poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::Acquire)
    }

    /// The state shared with readers, for the layers built on the log (subscriptions,
    /// consumers).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if !self.shared.closed.load(Ordering::Acquire)
            && !self.shared.poisoned.load(Ordering::Acquire)
            && self.shared.flush().is_ok()
        {
            let written = self.shared.written.load(Ordering::Acquire);
            let _ = group_commit::wait_synced(&self.shared, written);
        }
        self.shared.closed.store(true, Ordering::Release);
        self.shared.tail.end();
        // Joins the background threads, so nothing touches the directory once the lock
        // goes.
        let threads = self.shared.writer().stop_threads();
        drop(threads);
    }
}
