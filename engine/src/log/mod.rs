//! The log: segments on disk, the append path with group commit, recovery at open, and
//! everything the log publishes to readers — the `written` and `synced` watermarks, the
//! wake-ups of readers waiting at the tail (`watermark`), and the readers that decode
//! records below the watermarks (`reader`, `located`).
//!
//! [`LogCore`] is the owner (it holds the directory lock); everything readers need lives
//! in [`Shared`], which readers keep alive through an `Arc` after the log is closed. Its
//! fields are private to this folder: the layers above (subscriptions, consumers, the
//! event store) read it through methods, and plug into the log through [`LogHooks`].
//!
//! This layer imports only `format`, `io` and the value types: never a layer above it.

mod append;
mod directory;
mod event;
mod extensions;
mod flusher;
mod follower;
pub(crate) mod group_commit;
mod located;
mod owner;
mod preparer;
mod reader;
mod recovery;
mod retention;
mod scan;
mod segment;
mod segments;
mod truncation;
mod truncation_open;
mod verify;
mod verify_report;
mod walker;
pub(crate) mod watermark;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::format::record::RecordEvents;
use crate::io::{DirLock, Storage};
use crate::metrics::{Counters, Metrics};
use crate::options::{Durability, Options};
use crate::position::{Location, Position};

use append::Writer;
use flusher::{Flusher, SealSync};
use group_commit::GroupCommit;
use preparer::Preparer;
use segment::Segment;
use watermark::Tail;

pub use event::{Event, Visibility};
pub(crate) use owner::{Held, OwnerLock, WriterKey};
pub use reader::LogReader;
pub(crate) use recovery::dry_run as recovery_dry_run;
pub use recovery::{CutReason, RecoveryAction, RecoveryReport, QUARANTINE_DIR};
pub use segments::SegmentInfo;
pub(crate) use verify::{verify_segments, LiveEnd};
pub use verify_report::{
    VerifyProblem, VerifyProblemKind, VerifyProgress, VerifyReport, VerifyStage,
};

/// What a layer above the log needs to hear of it (the durable consumers register one):
/// called by the log at the points where that layer's state must be in step with it.
pub(crate) trait LogHooks: Send + Sync {
    /// Retention is about to remove every record before `new_first`: whatever the layer
    /// keeps only in those records must be written elsewhere first.
    fn before_truncate(&self, log: &LogCore, new_first: Position) -> Result<()>;
}

/// The positions one append was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Position of the first event of the append.
    pub first: Position,
    /// Position of the last event of the append.
    pub last: Position,
    /// Byte offset of the append's record in the segment holding `first`: with a position
    /// of the append it locates an event without any search ([`crate::Log::read_in_record`]).
    pub record_offset: u32,
}

impl Appended {
    /// The location of the append's `i`-th event (`i` counts from 0).
    pub fn location(&self, i: u64) -> Location {
        Location::new(self.first.after(i), self.record_offset)
    }
}

/// State shared by the log, its writer and its readers. Its fields are private to
/// `log/`; layers above use the methods below.
pub(crate) struct Shared {
    dir: PathBuf,
    options: Options,
    storage: Arc<dyn Storage>,
    epoch: u64,
    /// Segments in position order; the last is the active one. Changed on a roll, and by
    /// retention (`truncate_before`) at the front.
    segments: RwLock<Vec<Arc<Segment>>>,
    /// The position after the last event published to readers.
    written: AtomicU64,
    /// The position the next append gets (above `written` while appends are buffered).
    next: AtomicU64,
    /// The position after the last event known durable.
    synced: AtomicU64,
    /// The first position the log holds.
    first: AtomicU64,
    poisoned: AtomicBool,
    closed: AtomicBool,
    /// A follower (`follower`): nothing is written, the walk goes on from `follow`.
    read_only: bool,
    counters: Counters,
    /// The single writer, behind its mutex (and its owner's lock: `owner`).
    writer: owner::WriterCell,
    group_commit: GroupCommit,
    /// The sealed segment whose fdatasync may still be running (`flusher`).
    seals: SealSync,
    /// Wakes subscriptions waiting at the tail; counts them (`watermark`).
    tail: Tail,
    /// What the layers above registered ([`LogHooks`]).
    hooks: Mutex<Vec<Arc<dyn LogHooks>>>,
    /// Serializes `truncate_before` calls (`retention`).
    retention: Mutex<()>,
    /// A follower's walk of the log (`follower`); unused with a writer.
    follow: Mutex<follower::Follow>,
}

impl Shared {
    /// The segment holding `position`, if the log holds it.
    fn segment_for(&self, position: u64) -> Option<Arc<Segment>> {
        let segments = self.segments.read().unwrap_or_else(|e| e.into_inner());
        let at = segments.partition_point(|s| s.first_position <= position);
        segments.get(at.checked_sub(1)?).cloned()
    }

    /// The segment that starts at `first_position`.
    fn segment_starting_at(&self, first_position: u64) -> Option<Arc<Segment>> {
        let segments = self.segments.read().unwrap_or_else(|e| e.into_inner());
        segments
            .binary_search_by_key(&first_position, |s| s.first_position)
            .ok()
            .map(|at| Arc::clone(&segments[at]))
    }

    /// The log's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's storage backend.
    pub(crate) fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// The log's epoch: chosen at creation, carried by every segment.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The first position the log holds (an `Acquire` load).
    pub(crate) fn first(&self) -> u64 {
        self.first.load(Ordering::Acquire)
    }

    /// The position the next append gets (an `Acquire` load).
    pub(crate) fn next(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    /// The position after the last event published to readers (an `Acquire` load).
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// The position after the last durable event (an `Acquire` load).
    pub(crate) fn synced(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    /// The watermark a reader of `visibility` reads to (an `Acquire` load).
    pub(crate) fn watermark(&self, visibility: Visibility) -> u64 {
        match visibility {
            Visibility::Written => self.written(),
            Visibility::Synced => self.synced(),
        }
    }

    /// The wake-ups of readers waiting at the tail, and the count of subscriptions.
    pub(crate) fn tail(&self) -> &Tail {
        &self.tail
    }

    /// An error saying `position` is not in the log.
    pub(crate) fn out_of_range(&self, position: u64) -> Error {
        Error::PositionOutOfRange {
            position: Position(position),
            first: Position(self.first()),
            next: Position(self.next()),
        }
    }

    pub(crate) fn check_usable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if self.read_only {
            return Err(Error::ReadOnly);
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

    fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
        // Nothing more will be published: waiting subscriptions must find out.
        self.tail.end();
    }
}

/// An append placed in the log and not yet waited for ([`Shared::begin_append`]).
#[must_use = "an append is acknowledged only by finish()"]
pub(crate) struct PendingAppend<'log> {
    shared: &'log Shared,
    appended: Appended,
    /// Counts a `Synced` append in progress until it is covered (group commit).
    appending: Option<group_commit::Appending<'log>>,
}

impl PendingAppend<'_> {
    /// Where the append went, before its durability is reached.
    pub(crate) fn appended(&self) -> Appended {
        self.appended
    }

    /// Waits for the durability the append asked for: returns at once unless `Synced`,
    /// which joins (or leads) a group commit.
    pub(crate) fn finish(self) -> Result<Appended> {
        if self.appending.is_some() {
            group_commit::wait_synced(self.shared, self.appended.last.0 + 1)?;
        }
        Ok(self.appended)
    }
}

/// The raw log's owner: it holds the directory lock and the [`Shared`] state, which
/// carries every operation (reachable through `Deref`). The public [`crate::Log`] wraps
/// it with subscriptions and consumers.
pub(crate) struct LogCore {
    shared: Arc<Shared>,
    /// What recovery did at open.
    recovery: RecoveryReport,
    /// A follower's polling thread (`follower`).
    poller: Option<std::thread::JoinHandle<()>>,
    /// The directory lock (none for a follower, which takes no lock).
    _lock: Option<DirLock>,
}

impl std::ops::Deref for LogCore {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl std::fmt::Debug for LogCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.shared.dir)
            .field("written", &self.shared.written())
            .field("synced", &self.shared.synced())
            .finish()
    }
}

impl LogCore {
    /// Opens the log on a given storage backend, recovering from whatever a crash left.
    pub(crate) fn open_with_storage(
        dir: impl AsRef<Path>,
        options: Options,
        storage: Arc<dyn Storage>,
    ) -> Result<LogCore> {
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
        truncation_open::finish_interrupted_truncation(storage.as_ref(), &dir)?;
        let recovered = recovery::recover(storage.as_ref(), &dir, &options)?;
        let preparer = Preparer::start(Arc::clone(&storage), dir.clone(), options.segment_bytes);
        let active = Arc::clone(
            recovered
                .segments
                .last()
                .expect("recovery leaves a segment"),
        );
        // The next segment is prepared once the active one is half full (`append`).
        if recovered.active_sealed || recovered.write_offset >= active.file.len_bytes() / 2 {
            preparer.request();
        }
        let writer = Writer::new(
            active,
            recovered.write_offset,
            recovered.next_position,
            recovered.active_sealed,
            Some(preparer),
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
            read_only: false,
            counters: Counters::default(),
            writer: owner::WriterCell::new(writer),
            group_commit: GroupCommit::default(),
            seals: SealSync::default(),
            tail: Tail::new(),
            hooks: Mutex::new(Vec::new()),
            retention: Mutex::new(()),
            follow: Mutex::new(follower::Follow::default()),
        });
        let flusher = Flusher::start(Arc::downgrade(&shared));
        shared.writer().set_flusher(flusher);
        let mut recovery = recovered.report;
        recovery.io_path = shared.storage.io_path();
        ::log::info!(
            "annal: opened {} (durable writes by {:?})",
            shared.dir.display(),
            recovery.io_path
        );
        Ok(LogCore {
            shared,
            recovery,
            poller: None,
            _lock: Some(lock),
        })
    }

    /// The shared state, for handles that outlive a borrow of the log (subscriptions,
    /// consumers).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// What recovery did when the log opened.
    pub(crate) fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Where the active segment's published records end, for a verification in the
    /// writer's process.
    pub(crate) fn live_end(&self) -> LiveEnd {
        let segments = self
            .shared
            .segments
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let active = segments.last().expect("a log holds a segment");
        LiveEnd {
            first_position: active.first_position,
            written_bytes: active.written_bytes(),
        }
    }

    /// Registers a layer's hooks (see [`LogHooks`]).
    pub(crate) fn register_hooks(&self, hooks: Arc<dyn LogHooks>) {
        self.shared
            .hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hooks);
    }

    /// Syncs and closes the log, reporting any error (a follower has nothing to sync).
    pub(crate) fn close(self) -> Result<()> {
        let result = if self.shared.read_only {
            Ok(())
        } else {
            self.sync()
        };
        self.shared.closed.store(true, Ordering::Release);
        self.shared.tail.end();
        result?;
        if !self.shared.read_only {
            recovery::clean_close::write_at_close(&self.shared)?;
        }
        Ok(())
    }
}

/// The raw log's operations, on its shared state so that owned handles (consumers) can
/// append too.
impl Shared {
    /// Appends a batch with a record extension and waits for `durability`: see
    /// [`crate::Log::append_batch_with_extension`].
    pub(crate) fn append_batch_with_extension<E: AsRef<[u8]>>(
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
    pub(crate) fn begin_append<E: RecordEvents + ?Sized>(
        &self,
        events: &E,
        extension: &[u8],
        durability: Durability,
    ) -> Result<PendingAppend<'_>> {
        let appending = (durability == Durability::Synced).then(|| self.group_commit.appending());
        let appended = append::append(self, events, extension, durability)?;
        Ok(PendingAppend {
            shared: self,
            appended,
            appending,
        })
    }

    /// Writes buffered appends and publishes them, without waiting for durability.
    pub(crate) fn flush_buffered(&self) -> Result<()> {
        self.check_usable()?;
        self.flush()
    }

    /// Makes every event appended so far durable (one fdatasync, shared with concurrent
    /// `Synced` appends).
    pub(crate) fn sync(&self) -> Result<()> {
        self.flush_buffered()?;
        group_commit::wait_synced(self, self.written())
    }

    /// Reads the event at `position`.
    pub(crate) fn read(self: &Arc<Self>, position: Position) -> Result<Event> {
        let mut reader = self.read_from(position, Visibility::Written)?;
        match reader.next() {
            Some(event) => event,
            None => Err(self.out_of_range(position.0)),
        }
    }

    /// Reads the event at `location` without any search.
    pub(crate) fn read_in_record(&self, location: Location) -> Result<Event> {
        let position = location.position.0;
        self.flush_if_buffered(position)?;
        if position < self.first() || position >= self.written() {
            return Err(self.out_of_range(position));
        }
        located::read_in_record(self, location)
    }

    /// Reads the events at `locations` into `out`, in the order given: see
    /// [`crate::Log::read_located`].
    pub(crate) fn read_located(&self, locations: &[Location], out: &mut Vec<Event>) -> Result<()> {
        self.visit_located(locations, |i, view, range| {
            out.push(Event {
                position: locations[i].position,
                payload: view.slice(range),
            });
            Ok(())
        })
    }

    /// [`Shared::read_located`] for the crate: `visit(i, view, range)` gets the payload
    /// of the `i`-th location as `view[range]`.
    pub(crate) fn visit_located(
        &self,
        locations: &[Location],
        mut visit: impl FnMut(usize, &bytes::Bytes, std::ops::Range<usize>) -> Result<()>,
    ) -> Result<()> {
        if let Some(highest) = locations.iter().map(|l| l.position.0).max() {
            self.flush_if_buffered(highest)?;
        }
        let first = self.first();
        let written = self.written();
        for (i, location) in locations.iter().enumerate() {
            let position = location.position.0;
            if position < first || position >= written {
                // The locations before it are still read, as documented.
                located::visit_located(self, &locations[..i], &mut visit)?;
                return Err(self.out_of_range(position));
            }
        }
        located::visit_located(self, locations, visit)
    }

    /// A reader of every event from `position` up to the `visibility` watermark.
    pub(crate) fn read_from(
        self: &Arc<Self>,
        position: Position,
        visibility: Visibility,
    ) -> Result<LogReader> {
        self.follow()?;
        if position.0 < self.first() || position.0 > self.next() {
            return Err(self.out_of_range(position.0));
        }
        if self.written() < self.next() && !self.is_poisoned() {
            // Buffered appends become readable when something reads them.
            self.flush()?;
        }
        LogReader::new(Arc::clone(self), position.0, visibility)
    }

    /// Buffered appends become readable when something reads them: writes the buffer if
    /// `position` was appended but is still in it.
    pub(crate) fn flush_if_buffered(&self, position: u64) -> Result<()> {
        if position >= self.written() && position < self.next() && !self.is_poisoned() {
            self.flush()?;
        }
        Ok(())
    }

    /// The options the log was opened with.
    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// Counters since open.
    pub(crate) fn metrics(&self) -> Metrics {
        self.counters.snapshot()
    }

    /// Whether the log is a read-only follower.
    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether an earlier failure poisoned the log.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }
}

impl Drop for LogCore {
    fn drop(&mut self) {
        if !self.shared.closed.load(Ordering::Acquire)
            && !self.shared.read_only
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
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
    }
}
