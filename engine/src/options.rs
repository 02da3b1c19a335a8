//! How a log is opened and what an append waits for.

use crate::error::{Error, Limit, Result};
use crate::limits;

/// What an acknowledged append survives.
///
/// ```
/// use annal::{Durability, Log, Options};
///
/// let dir = tempfile::tempdir()?;
/// let log = Log::open(dir.path(), Options::default())?;
/// log.append(b"cache hint", Durability::Buffered)?; // survives nothing
/// log.append(b"order placed", Durability::Synced)?; // survives power loss
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub enum Durability {
    /// Acknowledged once copied into the log's shared mapping. With the file backend
    /// this is the same as [`Durability::Written`]; other backends may keep it in
    /// process memory, so callers must assume it survives nothing.
    Buffered,
    /// Acknowledged once the bytes are in the operating system's page cache: survives a
    /// crash of this process, not a power loss.
    Written,
    /// Acknowledged after an fdatasync covering the append: survives power loss.
    #[default]
    Synced,
}

/// What opening a log does when it finds damage that is not a torn tail.
///
/// ```
/// use annal::{Log, Options, RecoveryMode};
///
/// let dir = tempfile::tempdir()?;
/// // An operator who prefers the valid prefix to an offline repair:
/// let log = Log::open(dir.path(), Options::default().recovery(RecoveryMode::TruncateAtDamage))?;
/// assert!(log.recovery_report().is_clean());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Cut off a torn tail (the last, incomplete write); refuse to open on any other
    /// damage, naming the file and offset.
    #[default]
    Strict,
    /// Cut the log at the first damaged record the open finds, discarding it and
    /// everything after it, even records a later sync made durable. Loses data: for
    /// operators who have decided the valid prefix is worth more than an offline repair.
    /// The open finds damage where it scans: in the tail by default, anywhere with
    /// [`OpenChecks::AllSegments`] (damage in a sealed segment the open did not scan is
    /// reported to its readers instead).
    TruncateAtDamage,
}

/// How much of the log opening checks. Whatever is chosen, a sealed segment's records
/// are checked (header and body checksums, positions, the seal) before any reader sees
/// them. On demand, [`crate::Log::verify`] checks every record of the open log, and
/// [`OpenChecks::AllSegments`] checks every record at open (`docs/design.md`, "What is
/// checked when").
///
/// ```
/// use annal::{Log, OpenChecks, Options};
///
/// let dir = tempfile::tempdir()?;
/// // Before a backup, say: refuse to open on damage anywhere, at the cost of reading it all.
/// let log = Log::open(dir.path(), Options::default().open_checks(OpenChecks::AllSegments))?;
/// # drop(log);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenChecks {
    /// Scan every record of every segment (checksums, position sequence): damage
    /// anywhere refuses the open. Opening reads the whole log.
    AllSegments,
    /// The default: scan only the tail a crash can have left — the last segment, and the
    /// one before it unless a record in the last proves it durable (its seal's
    /// fdatasync runs in the background, so it may be torn) or the log was closed
    /// cleanly since (`Log::close`'s marker) — and check the other
    /// segments' headers and names. Those were durable before the crash; each is checked
    /// (every checksum) by the reads that reach it, and damage is then reported to that
    /// reader as `Corrupt`, never as wrong data. Opening costs one or two segments,
    /// whatever the log's size.
    #[default]
    LastSegment,
}

/// How the group-commit leader writes and syncs the records it covers (only
/// [`crate::Log::open`] and [`crate::EventStore::open`] read it: a storage passed to
/// `open_with_storage` has its own path, [`crate::Storage::io_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum IoPath {
    /// The measured default: see `docs/benchmarks.md`, "io_uring against pwrite".
    #[default]
    Auto,
    /// io_uring (Linux): the write linked to an fdatasync, submitted as one request.
    /// Opening fails with [`Error::IoUringUnavailable`] where the kernel or a sandbox
    /// refuses io_uring.
    IoUring,
    /// `pwrite` then `fdatasync`, two system calls: works everywhere.
    Pwrite,
}

/// Events an event store indexes between checkpoints of its index, by default.
pub(crate) const INDEX_CHECKPOINT_EVENTS_DEFAULT: u64 = 1_000_000;

/// Settings for [`crate::Log::open`].
///
/// ```
/// use annal::{OpenChecks, Options, RecoveryMode};
///
/// let options = Options::default()
///     .segment_bytes(8 << 20)
///     .open_checks(OpenChecks::LastSegment)
///     .recovery(RecoveryMode::Strict);
/// assert_eq!(options.segment_bytes, 8 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Size of every segment file, preallocated when it is created.
    pub segment_bytes: u64,
    /// What to do with damage found at open.
    pub recovery: RecoveryMode,
    /// Check each record's body checksum on every read. Off by default: every record is
    /// verified once per open before any reader sees it (by the scan of the tail at open,
    /// or by the scan of a sealed segment when its first reader needs it) or was written
    /// by this process, and readers always check the header checksum. Turn it on for
    /// media that may rot while the log is open.
    pub verify_reads: bool,
    /// How much of the log opening checks.
    pub open_checks: OpenChecks,
    /// Event stores only: the stream index is checkpointed after this many events since
    /// the last checkpoint (and at close), which bounds what an open replays. The index
    /// is encoded under the store's lock and written on a background thread.
    pub index_checkpoint_events: u64,
    /// How durable appends are written and synced.
    pub io_path: IoPath,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_bytes: limits::SEGMENT_BYTES_DEFAULT,
            recovery: RecoveryMode::Strict,
            verify_reads: false,
            open_checks: OpenChecks::LastSegment,
            index_checkpoint_events: INDEX_CHECKPOINT_EVENTS_DEFAULT,
            io_path: IoPath::Auto,
        }
    }
}

impl Options {
    /// Sets the segment size.
    pub fn segment_bytes(mut self, segment_bytes: u64) -> Self {
        self.segment_bytes = segment_bytes;
        self
    }

    /// Sets whether every read re-checks body checksums.
    pub fn verify_reads(mut self, verify_reads: bool) -> Self {
        self.verify_reads = verify_reads;
        self
    }

    /// Sets how much of the log opening checks.
    pub fn open_checks(mut self, open_checks: OpenChecks) -> Self {
        self.open_checks = open_checks;
        self
    }

    /// Sets the recovery mode.
    pub fn recovery(mut self, recovery: RecoveryMode) -> Self {
        self.recovery = recovery;
        self
    }

    /// Sets how many events an event store indexes between checkpoints of its index.
    pub fn index_checkpoint_events(mut self, events: u64) -> Self {
        self.index_checkpoint_events = events;
        self
    }

    /// Sets how durable appends are written and synced.
    pub fn io_path(mut self, io_path: IoPath) -> Self {
        self.io_path = io_path;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.segment_bytes < limits::SEGMENT_BYTES_MIN {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "segment_bytes {} is below the minimum {}",
                    self.segment_bytes,
                    limits::SEGMENT_BYTES_MIN
                ),
            });
        }
        if self.segment_bytes > limits::SEGMENT_BYTES_MAX {
            return Err(Error::LimitExceeded {
                limit: Limit::SegmentBytes,
                value: self.segment_bytes,
                max: limits::SEGMENT_BYTES_MAX,
            });
        }
        if self.index_checkpoint_events == 0 {
            return Err(Error::InvalidOptions {
                reason: "index_checkpoint_events must be at least 1".to_owned(),
            });
        }
        if !self.segment_bytes.is_multiple_of(4096) {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "segment_bytes {} is not a multiple of 4096",
                    self.segment_bytes
                ),
            });
        }
        Ok(())
    }
}
