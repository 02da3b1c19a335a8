//! The public [`Log`]: the raw log (`log::LogCore`) with its subscriptions (`read`) and
//! durable consumers (`consumer`). This is where those layers meet, so it is the only
//! `impl Log`; each method says what it does and hands over to the layer that does it.

use std::path::Path;
use std::sync::Arc;

use crate::consumer::{self, Consumer, ConsumerInfo, Registry};
use crate::error::Result;
use crate::format::record::RecordEvents;
use crate::io::{FileStorage, Storage};
use crate::log::{
    verify_segments, Appended, Event, LiveEnd, LogCore, LogReader, OwnerLock, PendingAppend,
    RecoveryReport, SegmentInfo, VerifyProgress, VerifyReport, Visibility, WriterKey,
};
use crate::metrics::Metrics;
use crate::options::{Durability, IoPath, Options};
use crate::position::{Location, Position};
use crate::read::{Start, Subscription, SubscriptionOptions};

/// An open log. `Send + Sync`: share it (in an `Arc`) between appending threads.
///
/// ```
/// use annal::{Durability, Log, Options, Position};
///
/// let dir = tempfile::tempdir()?;
/// let log = Log::open(dir.path(), Options::default())?;
/// let appended = log.append(b"OrderCreated", Durability::Synced)?;
/// assert_eq!(log.read(appended.first)?.payload.as_ref(), b"OrderCreated");
/// assert_eq!(log.next_position(), Position(1));
/// log.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Log {
    core: LogCore,
    consumers: Arc<Registry>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.fmt(f)
    }
}

impl Log {
    /// Opens (creating if needed) the log in `dir` on the local file system, recovering
    /// from whatever a crash left there. Its durable writes take `options.io_path`
    /// ([`Log::io_path`] says which path `Auto` chose).
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Log> {
        let storage = FileStorage::with_io_path(options.io_path)?;
        Log::open_with_storage(dir, options, Arc::new(storage))
    }

    /// Opens the log on a given storage backend (tests use a simulated one).
    pub fn open_with_storage(
        dir: impl AsRef<Path>,
        options: Options,
        storage: Arc<dyn Storage>,
    ) -> Result<Log> {
        let core = LogCore::open_with_storage(dir, options, storage)?;
        let consumers = Arc::new(Registry::recover(core.shared())?);
        core.register_hooks(Arc::clone(&consumers) as _);
        Ok(Log { core, consumers })
    }

    /// Opens the log in `dir` read-only, as a follower of whatever process writes it (or
    /// of nothing: a backup, a copy on a read-only file system). It takes no lock and
    /// never writes — no recovery, no cut; it reads every record that is valid now and
    /// follows what the writer adds (a thread looks every
    /// [`crate::limits::FOLLOW_POLL_INTERVAL_ACTIVE`] while a subscription is live), so
    /// its readers and subscriptions work as on the writer's own log. Appends, syncs,
    /// retention and consumer changes return [`crate::Error::ReadOnly`]; consumers are
    /// not listed. Its `synced` watermark is what the records it read say was durable.
    pub fn open_read_only(dir: impl AsRef<Path>, options: Options) -> Result<Log> {
        // A follower never writes: no ring, whatever `options.io_path` says.
        Log::open_read_only_with_storage(dir, options, Arc::new(FileStorage::default()))
    }

    /// [`Log::open_read_only`] on a given storage backend.
    pub fn open_read_only_with_storage(
        dir: impl AsRef<Path>,
        options: Options,
        storage: Arc<dyn Storage>,
    ) -> Result<Log> {
        let core = LogCore::open_read_only(dir.as_ref(), options, storage)?;
        Ok(Log {
            core,
            consumers: Arc::new(Registry::default()),
        })
    }

    /// A follower ([`Log::open_read_only`]) reads what its writer added since it last
    /// looked, now; a log with a writer has nothing to do.
    pub fn refresh(&self) -> Result<()> {
        self.core.follow()
    }

    /// Whether the log was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.core.is_read_only()
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
        self.core
            .append_batch_with_extension(events, extension, durability)
    }

    /// Places a batch and returns before waiting for its durability (the event store's
    /// appends: see `log::Shared::begin_append`).
    pub(crate) fn begin_append<E: RecordEvents + ?Sized>(
        &self,
        events: &E,
        extension: &[u8],
        durability: Durability,
    ) -> Result<PendingAppend<'_>> {
        self.core.begin_append(events, extension, durability)
    }

    /// [`Log::begin_append`] for the log's owner, without the writer's mutex (see
    /// `log::Shared::begin_append_exclusive`).
    ///
    /// # Safety
    ///
    /// The caller holds, exclusively, the lock it registered with
    /// [`Log::set_owner_lock`], and `key` is the key that call returned.
    #[inline]
    #[expect(unsafe_code, reason = "passes the owner's promise on")]
    pub(crate) unsafe fn begin_append_exclusive<E: RecordEvents + ?Sized>(
        &self,
        key: &mut WriterKey,
        events: &E,
        extension: &[u8],
        durability: Durability,
    ) -> Result<PendingAppend<'_>> {
        // SAFETY: the caller's promise, passed on.
        unsafe {
            self.core
                .begin_append_exclusive(key, events, extension, durability)
        }
    }

    /// Registers the lock of the layer that owns this log (the event store), under which
    /// it places every append, and returns the key of its appends without the writer's
    /// mutex; `None` if an owner is registered already (`log::owner`).
    pub(crate) fn set_owner_lock(&self, owner: Arc<dyn OwnerLock>) -> Option<WriterKey> {
        self.core.set_owner_lock(owner)
    }

    /// Writes buffered appends (`Durability::Buffered`) and publishes them to readers,
    /// without waiting for them to be durable.
    pub fn flush(&self) -> Result<()> {
        self.core.flush_buffered()
    }

    /// Makes every event appended so far durable (one fdatasync, shared with concurrent
    /// `Synced` appends).
    pub fn sync(&self) -> Result<()> {
        self.core.sync()
    }

    /// Syncs and closes the log, reporting any error (dropping it syncs on a best-effort
    /// basis and ignores errors). Once everything is durable it leaves a clean-close
    /// marker, so the next open scans only the last segment (`docs/design.md`, "A clean
    /// close"); a dropped log leaves none.
    pub fn close(self) -> Result<()> {
        let flushed = self.flush_consumers();
        flushed.and(self.core.close())
    }

    /// Reads the event at `position`.
    pub fn read(&self, position: Position) -> Result<Event> {
        self.core.shared().read(position)
    }

    /// Reads the event at `location` (as returned by [`Appended::location`] or
    /// [`LogReader::location`]): no index lookup and no scan. A location that does not
    /// hold its position is an error.
    pub fn read_in_record(&self, location: Location) -> Result<Event> {
        self.core.read_in_record(location)
    }

    /// Reads the events at `locations` and appends them to `out` in the order given.
    /// Scattered events cost much less this way than one by one: every record is touched
    /// before any is decoded, so their cache misses overlap. Stops at the first location
    /// that is out of range or does not hold its position; `out` then holds the events
    /// before it.
    pub fn read_located(&self, locations: &[Location], out: &mut Vec<Event>) -> Result<()> {
        self.core.read_located(locations, out)
    }

    /// [`Log::read_located`] for the crate: `visit(i, view, range)` gets the payload of
    /// the `i`-th location as `view[range]`.
    pub(crate) fn visit_located(
        &self,
        locations: &[Location],
        visit: impl FnMut(usize, &bytes::Bytes, std::ops::Range<usize>) -> Result<()>,
    ) -> Result<()> {
        self.core.visit_located(locations, visit)
    }

    /// Writes the buffer if `position` was appended but is still in it.
    pub(crate) fn flush_if_buffered(&self, position: Position) -> Result<()> {
        self.core.flush_if_buffered(position.0)
    }

    /// A reader of every event from `position` up to the written watermark, in order.
    /// The reader keeps going as the log grows: after it returns `None`, calling
    /// `next` again returns events appended since.
    pub fn read_from(&self, position: Position) -> Result<LogReader> {
        self.core.shared().read_from(position, Visibility::Written)
    }

    /// A reader like [`Log::read_from`] that only sees events already synced.
    pub fn read_synced_from(&self, position: Position) -> Result<LogReader> {
        self.core.shared().read_from(position, Visibility::Synced)
    }

    /// The first position the log holds.
    pub fn first_position(&self) -> Position {
        Position(self.core.first())
    }

    /// The position the next append will get.
    pub fn next_position(&self) -> Position {
        Position(self.core.next())
    }

    /// The last position written (visible to readers), if any.
    pub fn last_written(&self) -> Option<Position> {
        let (written, first) = (self.core.written(), self.core.first());
        (written > first).then(|| Position(written - 1))
    }

    /// The last position known durable, if any.
    pub fn last_synced(&self) -> Option<Position> {
        let (synced, first) = (self.core.synced(), self.core.first());
        (synced > first).then(|| Position(synced - 1))
    }

    /// The log's epoch: chosen at creation, carried by every segment.
    pub fn epoch(&self) -> u64 {
        self.core.epoch()
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        self.core.dir()
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &Options {
        self.core.options()
    }

    /// Counters since open.
    pub fn metrics(&self) -> Metrics {
        self.core.metrics()
    }

    /// The path durable writes take: [`IoPath::IoUring`] or [`IoPath::Pwrite`] (what
    /// `IoPath::Auto` resolved to at open).
    pub fn io_path(&self) -> IoPath {
        self.core.shared().storage().io_path()
    }

    /// What recovery did when the log opened: every segment it cut or removed, why, and
    /// where it kept a copy (`quarantine/` in the log directory). Empty after a clean
    /// close. Each action was also logged as a warning through the `log` facade.
    pub fn recovery_report(&self) -> RecoveryReport {
        self.core.recovery_report().clone()
    }

    /// What opening the log in `dir` with `options` would cut or remove, without writing
    /// anything (no lock, no file created, moved or zeroed): the report [`Log::open`]
    /// would return, or the error it would refuse with. Every segment is scanned in
    /// full, whatever `options.open_checks` says; the quarantine paths are where the
    /// copies would go. Run it while no writer has the log open: a writer's tail in
    /// progress looks like a torn one.
    pub fn recovery_dry_run(dir: impl AsRef<Path>, options: Options) -> Result<RecoveryReport> {
        options.validate()?;
        crate::log::recovery_dry_run(&FileStorage::default(), dir.as_ref(), &options)
    }

    /// Checks the whole log without writing anything: every record of every segment
    /// file in the directory (header and body checksums, the position sequence, the
    /// seals), and every consumer file (its slots, its log, a checkpoint within the
    /// log). Each problem names its file and offset; an incomplete last write (a torn
    /// tail, or an append in progress in another process) is reported as
    /// [`crate::VerifyProblemKind::IncompleteTail`], which is not damage.
    /// `progress` is called now and then with how far the check is. Works on a log
    /// opened read-only; on a writer's own log it stops at what is published.
    ///
    /// ```
    /// use annal::{Durability, Log, Options};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = Log::open(dir.path(), Options::default())?;
    /// log.append(b"x", Durability::Synced)?;
    /// let report = log.verify(&mut |_progress| {})?;
    /// assert!(report.is_clean(), "{report:?}");
    /// assert_eq!(report.events_checked, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self, progress: &mut dyn FnMut(VerifyProgress)) -> Result<VerifyReport> {
        let live = (!self.is_read_only()).then(|| self.core.live_end());
        let storage = self.core.shared().storage();
        verify_log(storage, self.dir(), live, progress)
    }

    /// [`Log::verify`] on the log in `dir` without opening it: for a log too damaged to
    /// open, even read-only.
    pub fn verify_dir(
        dir: impl AsRef<Path>,
        progress: &mut dyn FnMut(VerifyProgress),
    ) -> Result<VerifyReport> {
        verify_log(&FileStorage::default(), dir.as_ref(), None, progress)
    }

    /// Every segment file of the log's directory with its positions, bytes and whether it
    /// is sealed, in position order; files the open log does not read (past damage a
    /// read-only open stopped at) are listed as not readable.
    pub fn segments(&self) -> Result<Vec<SegmentInfo>> {
        self.core.shared().segment_infos()
    }

    /// Every consumer and its checkpoint, in name order, also on a log opened read-only
    /// (read from the consumer files and the checkpoints committed with appends; damaged
    /// files are left out: [`Log::verify`] reports them).
    pub fn consumer_checkpoints(&self) -> Result<Vec<ConsumerInfo>> {
        if self.is_read_only() {
            consumer::list_read_only(self.core.shared())
        } else {
            Ok(self.consumers())
        }
    }

    /// Whether an earlier failure poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.core.is_poisoned()
    }

    /// Removes every segment whose events all lie before `position` and returns the
    /// log's new first position (the first position of the oldest segment kept, at most
    /// `position`: only whole segments go). The active segment always stays.
    ///
    /// Readers and subscriptions that already hold a removed segment finish reading it;
    /// a read of a removed position from then on gets
    /// [`crate::Error::PositionOutOfRange`], and a subscription that needs one gets
    /// [`crate::Error::BehindRetention`]. Consumers whose newest checkpoints only records
    /// being removed hold are written to their files first. On an I/O error the
    /// segments removed so far stay removed and the log stays usable. A position past
    /// the next one to be written is [`crate::Error::PositionOutOfRange`].
    pub fn truncate_before(&self, position: Position) -> Result<Position> {
        self.core.truncate_before(position)
    }

    /// Removes every event from `position` on, synced ones included: for a replicated
    /// log whose tail conflicts with the leader's. When it returns, the next append gets
    /// `position`, no reader returns a removed event, and no crash brings one back (a
    /// durable marker makes the removal all-or-nothing: `docs/format.md`).
    ///
    /// It first makes every append durable, then waits for any sync in flight and holds
    /// appends back while it works. Published bytes are never rewritten: the segment
    /// holding `position` is replaced by a copy of its records before it (up to one
    /// segment of copying), and the segments after it are removed. A reader or
    /// subscription that reaches `position` continues with what is appended there next,
    /// unless it had already returned an event at or after `position`: it then fails
    /// with [`crate::Error::PositionOutOfRange`]. Followers in other processes must
    /// reopen. Event stores and durable consumers are not truncated this way (their
    /// indexes and checkpoints would point past the cut).
    ///
    /// `position` must be the first position of an append (a truncation removes whole
    /// appends: [`crate::Error::InvalidArgument`] otherwise) and between the first
    /// position held and the next one ([`crate::Error::PositionOutOfRange`]); the next
    /// one removes nothing. An I/O error poisons the log; reopening finishes the cut.
    ///
    /// ```
    /// use annal::{Durability, Log, Options, Position};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = Log::open(dir.path(), Options::default())?;
    /// log.append(b"kept", Durability::Synced)?;
    /// log.append(b"conflicting", Durability::Synced)?;
    /// log.truncate_from(Position(1))?;
    /// assert_eq!(log.next_position(), Position(1));
    /// log.append(b"the leader's", Durability::Synced)?;
    /// assert_eq!(&log.read(Position(1))?.payload[..], b"the leader's");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn truncate_from(&self, position: Position) -> Result<()> {
        self.core.truncate_from(position)
    }

    /// A subscription from `start` (a [`Position`], [`Start::Beginning`] or
    /// [`Start::End`]) seeing synced events only: see [`Log::subscribe_with`].
    pub fn subscribe(&self, start: impl Into<Start>) -> Result<Subscription> {
        self.subscribe_with(start, SubscriptionOptions::default())
    }

    /// A subscription from `start`: it delivers every event from there on, in order,
    /// each once, first those already in the log (catch-up), then each new one as the
    /// writer publishes it. It never holds the writer back: a slow subscription only
    /// falls behind. `Durability::Buffered` appends are delivered once they are written
    /// (by a later `Written` or `Synced` append, a full buffer, `flush` or `sync`): a
    /// subscription never takes the writer's lock to write them.
    /// Errors: [`crate::Error::PositionOutOfRange`] for a position before the first or
    /// after the next to be written, [`crate::Error::TooManySubscriptions`] when
    /// [`crate::limits::SUBSCRIPTIONS_MAX`] are live.
    pub fn subscribe_with(
        &self,
        start: impl Into<Start>,
        options: SubscriptionOptions,
    ) -> Result<Subscription> {
        Subscription::new(self.core.shared(), start.into(), options)
    }

    /// Creates the consumer `name` with its checkpoint at `start` (durably: its file is
    /// written, synced and named before this returns). The handle owns what it uses, so
    /// it may outlive this borrow and cross threads. Errors:
    /// [`crate::Error::ConsumerExists`] (also for a name differing only in ASCII case),
    /// [`crate::Error::InvalidConsumerName`], [`crate::Error::TooManyConsumers`],
    /// [`crate::Error::PositionOutOfRange`].
    pub fn create_consumer(&self, name: &str, start: impl Into<Start>) -> Result<Consumer> {
        consumer::create(self.core.shared(), &self.consumers, name, start.into())
    }

    /// A handle to the existing consumer `name`, or [`crate::Error::UnknownConsumer`].
    pub fn consumer(&self, name: &str) -> Result<Consumer> {
        consumer::open(self.core.shared(), &self.consumers, name)
    }

    /// Every consumer and its checkpoint, in name order.
    pub fn consumers(&self) -> Vec<ConsumerInfo> {
        consumer::list(&self.consumers)
    }

    /// Deletes the consumer `name` (its file, then a directory sync). Checkpoints it
    /// committed with appends stay in the log and are ignored, also by a new consumer of
    /// the same name.
    pub fn delete_consumer(&self, name: &str) -> Result<()> {
        consumer::delete(self.core.shared(), &self.consumers, name)
    }

    /// Writes back to their files the checkpoints that consumers committed with appends
    /// and that only the log holds, so the next open replays nothing for them. `close`
    /// and `truncate_before` do this; long-running processes may call it now and then.
    pub fn flush_consumers(&self) -> Result<()> {
        self.consumers.flush_where(self.core.shared(), |_| true)
    }
}

/// The log's part of a verification: the records, then the consumer files.
pub(crate) fn verify_log(
    storage: &dyn Storage,
    dir: &Path,
    live: Option<LiveEnd>,
    progress: &mut dyn FnMut(VerifyProgress),
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let walked = verify_segments(storage, dir, live, progress, &mut report)?;
    consumer::verify_files(
        storage,
        dir,
        walked.epoch,
        walked.end_position,
        progress,
        &mut report,
    )?;
    Ok(report)
}
