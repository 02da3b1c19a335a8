//! What a full verification found ([`crate::Log::verify`], [`crate::EventStore::verify`]):
//! every problem with the file and offset where it is, counts of what was checked, and
//! the progress reports a long check hands its caller. Plain owned values, so a C or
//! Python caller can hold them.

use std::fmt;
use std::path::PathBuf;

use crate::position::Position;

/// What kind of problem a verification found. Each kind has a stable numeric
/// [`VerifyProblemKind::code`] (never renumbered; only added to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VerifyProblemKind {
    /// A segment header is damaged, of another log, or disagrees with its file.
    SegmentHeader,
    /// A record's header or body fails its checksum, or its frame is malformed.
    Record,
    /// Positions do not follow on: a record or segment out of sequence, a gap.
    Sequence,
    /// A sealed segment lacks its seal, or a seal names the wrong next position.
    Seal,
    /// The last write of the log is incomplete: what a crash leaves (or a write in
    /// progress, when a writer is running), which recovery cuts. Not damage.
    IncompleteTail,
    /// A consumer's checkpoint file is damaged, of another log, or past the log's end.
    Consumer,
    /// The event store's index checkpoint file is damaged or does not fit the log.
    IndexCheckpoint,
    /// The event store's index (in memory or its checkpoint) disagrees with the log.
    Index,
    /// An event of the event store is not a valid envelope, or contradicts its stream.
    Event,
}

impl VerifyProblemKind {
    /// The kind's stable number.
    pub fn code(self) -> u32 {
        match self {
            VerifyProblemKind::SegmentHeader => 1,
            VerifyProblemKind::Record => 2,
            VerifyProblemKind::Sequence => 3,
            VerifyProblemKind::Seal => 4,
            VerifyProblemKind::IncompleteTail => 5,
            VerifyProblemKind::Consumer => 6,
            VerifyProblemKind::IndexCheckpoint => 7,
            VerifyProblemKind::Index => 8,
            VerifyProblemKind::Event => 9,
        }
    }

    /// A short lowercase name (`"record"`, `"incomplete-tail"`, …).
    pub fn name(self) -> &'static str {
        match self {
            VerifyProblemKind::SegmentHeader => "segment-header",
            VerifyProblemKind::Record => "record",
            VerifyProblemKind::Sequence => "sequence",
            VerifyProblemKind::Seal => "seal",
            VerifyProblemKind::IncompleteTail => "incomplete-tail",
            VerifyProblemKind::Consumer => "consumer",
            VerifyProblemKind::IndexCheckpoint => "index-checkpoint",
            VerifyProblemKind::Index => "index",
            VerifyProblemKind::Event => "event",
        }
    }

    /// Whether the problem is damage (everything but an incomplete tail).
    pub fn is_damage(self) -> bool {
        self != VerifyProblemKind::IncompleteTail
    }
}

/// One problem a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyProblem {
    /// What kind of problem.
    pub kind: VerifyProblemKind,
    /// The file it is in.
    pub file: PathBuf,
    /// The byte offset in that file, when the problem is at one place.
    pub offset: Option<u64>,
    /// The log position concerned, when there is one.
    pub position: Option<Position>,
    /// What is wrong, as a short phrase.
    pub detail: String,
}

impl fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.file.display())?;
        if let Some(offset) = self.offset {
            write!(f, " at offset {offset}")?;
        }
        if let Some(position) = self.position {
            write!(f, " (position {})", position.0)?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// What a verification checked and found. It never writes, so it may run on a log or
/// store that another process has open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Segment files checked.
    pub segments_checked: u64,
    /// Records whose header and body checksums were checked.
    pub records_checked: u64,
    /// Events in those records.
    pub events_checked: u64,
    /// Bytes of records walked.
    pub bytes_checked: u64,
    /// Consumer checkpoint files checked.
    pub consumers_checked: u64,
    /// Streams whose index entries were compared with the log (event stores only).
    pub streams_checked: u64,
    /// Every problem, in the order found (segments in position order first).
    pub problems: Vec<VerifyProblem>,
}

impl VerifyReport {
    /// Whether nothing is damaged (an incomplete tail is not damage).
    pub fn is_clean(&self) -> bool {
        !self.problems.iter().any(|p| p.kind.is_damage())
    }

    /// The problems that are damage.
    pub fn damage(&self) -> impl Iterator<Item = &VerifyProblem> {
        self.problems.iter().filter(|p| p.kind.is_damage())
    }

    pub(crate) fn push(
        &mut self,
        kind: VerifyProblemKind,
        file: PathBuf,
        offset: Option<u64>,
        position: Option<u64>,
        detail: impl Into<String>,
    ) {
        self.problems.push(VerifyProblem {
            kind,
            file,
            offset,
            position: position.map(Position),
            detail: detail.into(),
        });
    }
}

/// Which part of a verification is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyStage {
    /// Walking the segments' records.
    Records,
    /// Reading the consumers' checkpoint files.
    Consumers,
    /// Rebuilding the event store's index from the log and comparing.
    Index,
}

/// How far a verification is, handed to its progress callback now and then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyProgress {
    /// The part running.
    pub stage: VerifyStage,
    /// Units done in this stage (bytes for records, files for consumers, events for the
    /// index).
    pub done: u64,
    /// Units this stage has in all (as known when it started).
    pub total: u64,
}
