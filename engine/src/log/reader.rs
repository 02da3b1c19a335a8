//! A forward reader over the log, lock-free on the writer's path.
//!
//! The reader loads the log's watermark (Acquire), then the segment's published length
//! (Acquire), and decodes only bytes below it: the writer stores both after the bytes
//! (Release), so everything below is complete. It takes the segment-list lock only to
//! move to the next segment.

use std::sync::Arc;

use bytes::Bytes;

use super::located::view_of;
use super::segment::Segment;
use super::walker::{RecordWalker, Step};
use super::Shared;
use super::{Event, Visibility};
use crate::error::{Error, Result};
use crate::format::record::{EventRanges, RECORD_HEADER_BYTES};
use crate::format::segment_header::SEGMENT_HEADER_BYTES;
use crate::position::{Location, Position};

/// The events of one record not yet returned, as offsets into the reader's view (payloads
/// are sliced straight from the view: one reference-count increment per event).
struct RecordCursor {
    /// Offset of the record in its segment.
    record_offset: u32,
    /// Offset in the view of the next event's length prefix.
    next_event: usize,
    /// Offset in the view of the end of the record's events (its extension follows).
    events_end: usize,
    /// Offset in the view of the end of the record's body.
    body_end: usize,
    position: u64,
    remaining: u32,
}

/// Reads events in position order from a start position; see [`crate::Log::read_from`].
///
/// ```
/// use annal::{Durability, Log, Options, Position};
///
/// let dir = tempfile::tempdir()?;
/// let log = Log::open(dir.path(), Options::default())?;
/// let appended = log.append_batch(&[b"a".as_slice(), b"b"], Durability::Written)?;
/// let mut reader = log.read_from(Position(0))?;
/// let first = reader.next().expect("an event")?;
/// assert_eq!(reader.location(), appended.location(0)); // where `first` is, for a later read
/// assert_eq!(log.read_in_record(reader.location())?, first);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LogReader {
    shared: Arc<Shared>,
    visibility: Visibility,
    segment: Arc<Segment>,
    view: Bytes,
    /// Offset of the next record to decode in `segment`.
    offset: u64,
    /// Position of the next record to decode.
    next_record_position: u64,
    record: Option<RecordCursor>,
    /// Events below this position are skipped (the start fell inside a record).
    start: u64,
    /// The watermark as last loaded, and `segment`'s published length as last loaded
    /// (0: not yet). Both only grow and were loaded with `Acquire`, so every byte below
    /// them is readable; they are reloaded only once the reader gets there. The writer
    /// stores both on every append: a reader loading them per record would pull their
    /// cache lines away from the writer that often.
    known_limit: u64,
    known_published: u64,
    /// Copies of the log's epoch and `verify_reads`, read per record: kept here so that
    /// reading a record touches no cache line of the log's shared state, which holds
    /// fields the writer stores on every append.
    epoch: u64,
    verify_reads: bool,
    /// Reading a sealed segment the open did not scan, from its start: the position its
    /// seal must carry. Each record is then verified as it is read (both checksums, the
    /// position, the seal), instead of a scan of the whole segment ahead of the read.
    verifying: Option<u64>,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("segment", &self.segment.path)
            .field("offset", &self.offset)
            .field("next_record_position", &self.next_record_position)
            .finish()
    }
}

impl LogReader {
    pub(crate) fn new(
        shared: Arc<Shared>,
        start: u64,
        visibility: Visibility,
    ) -> Result<LogReader> {
        let segment = shared
            .segment_for(start)
            .ok_or_else(|| shared.out_of_range(start))?;
        // Starting at a sealed, unscanned segment's first position, the reader verifies
        // as it goes; starting inside one, it scans it first (which also builds the
        // sparse index that finds the start).
        let verifying = segment
            .unscanned_seal_position()
            .filter(|_| start == segment.first_position);
        let view = match verifying {
            Some(_) => map_unscanned(&segment)?,
            None => view_of(&segment)?,
        };
        let (next_record_position, offset) = segment
            .index
            .floor(start)
            .unwrap_or((segment.first_position, SEGMENT_HEADER_BYTES as u64));
        let (epoch, verify_reads) = (shared.epoch, shared.options.verify_reads);
        Ok(LogReader {
            shared,
            visibility,
            segment,
            view,
            offset,
            next_record_position,
            record: None,
            start,
            known_limit: 0,
            known_published: 0,
            epoch,
            verify_reads,
            verifying,
        })
    }

    /// The location of the last returned event (its position and its record's offset),
    /// for [`crate::Log::read_in_record`].
    pub fn location(&self) -> Location {
        let position = self
            .record
            .as_ref()
            .map_or(self.next_record_position, |c| c.position);
        Location::new(Position(position.saturating_sub(1)), self.record_offset())
    }

    /// Byte offset, in its segment, of the record the last returned event belongs to.
    pub fn record_offset(&self) -> u32 {
        self.record
            .as_ref()
            .map_or(0, |cursor| cursor.record_offset)
    }

    /// The position of the next event this reader will return.
    pub fn position(&self) -> Position {
        match &self.record {
            Some(cursor) if cursor.remaining > 0 => Position(cursor.position.max(self.start)),
            _ => Position(self.next_record_position.max(self.start)),
        }
    }

    fn limit(&self) -> u64 {
        self.shared.watermark(self.visibility)
    }

    fn corrupt(&self, reason: &str) -> Error {
        Error::corrupt(self.segment.path.clone(), self.offset, reason)
    }

    /// A suffix truncation removed this reader's segment from `cut` on (`truncation`):
    /// a reader that returned nothing from there moves to the segment that holds the
    /// log's new end; one that did, or that was asked to start there, has nowhere to go.
    fn follow_cut(&mut self, cut: u64) -> Result<()> {
        let at = LogReader::position(self).0;
        if at > cut {
            return Err(self.shared.out_of_range(at));
        }
        *self = LogReader::new(Arc::clone(&self.shared), at, self.visibility)?;
        Ok(())
    }

    /// Decodes the next record into the cursor; `Ok(false)` when caught up.
    fn load_record(&mut self) -> Result<bool> {
        loop {
            if let Some(cut) = self.segment.cut_from() {
                if self.next_record_position >= cut {
                    self.follow_cut(cut)?;
                }
            }
            if self.next_record_position >= self.known_limit {
                self.known_limit = self.limit();
                if self.next_record_position >= self.known_limit {
                    return Ok(false);
                }
            }
            if self.offset >= self.known_published {
                self.known_published = match self.verifying {
                    // Sealed: every byte is final, and the walk stops at the seal.
                    Some(_) => self.view.len() as u64,
                    None => self.segment.written_bytes(),
                };
                if self.offset >= self.known_published {
                    if self.verifying.is_some() {
                        return Err(self.corrupt("sealed segment ends without its seal"));
                    }
                    return Ok(false);
                }
            }
            let published = self.known_published;
            if (self.view.len() as u64) < published {
                self.view = view_of(&self.segment)?;
                if (self.view.len() as u64) < published {
                    return Err(self.corrupt("segment view shorter than its published length"));
                }
            }
            let mut walker =
                RecordWalker::new(&self.view[..published as usize], self.offset, self.epoch);
            let record = match walker.step() {
                Step::Record(record) => record,
                Step::End if self.verifying.is_some() => {
                    return Err(self.corrupt("sealed segment ends without its seal"))
                }
                Step::End => return Err(self.corrupt("zeros inside published records")),
                Step::Damaged { error, .. } => return Err(self.corrupt(error.describe())),
            };
            let header = record.header;
            if header.is_seal() {
                if let Some(seal_position) = self.verifying {
                    if header.position != seal_position
                        || header.position != self.next_record_position
                    {
                        return Err(self.corrupt("seal position does not match the next segment"));
                    }
                    record
                        .check_body()
                        .map_err(|e| self.corrupt(e.describe()))?;
                }
                match self.shared.segment_starting_at(header.position) {
                    Some(next) => {
                        self.verifying = next.unscanned_seal_position();
                        self.view = match self.verifying {
                            Some(_) => map_unscanned(&next)?,
                            None => view_of(&next)?,
                        };
                        self.segment = next;
                        self.offset = SEGMENT_HEADER_BYTES as u64;
                        self.known_published = 0;
                        continue;
                    }
                    None => return Ok(false),
                }
            }
            if header.position != self.next_record_position {
                return Err(self.corrupt("record position out of sequence"));
            }
            if self.verify_reads || self.verifying.is_some() {
                record
                    .check_body()
                    .map_err(|e| self.corrupt(e.describe()))?;
            }
            let body_start = self.offset as usize + RECORD_HEADER_BYTES;
            self.record = Some(RecordCursor {
                record_offset: self.offset as u32,
                next_event: body_start,
                events_end: body_start + header.events_bytes(),
                body_end: body_start + header.body_bytes as usize,
                position: header.position,
                remaining: header.event_count,
            });
            self.offset = record.end_offset();
            self.next_record_position = header.end_position();
            return Ok(true);
        }
    }

    /// The extension of the record the last returned event belongs to (empty when it has
    /// none; see [`crate::Log::append_batch_with_extension`]).
    pub fn record_extension(&self) -> Bytes {
        match &self.record {
            Some(cursor) => self.view.slice(cursor.events_end..cursor.body_end),
            None => Bytes::new(),
        }
    }

    /// Reads up to `max` events into `out`, returning how many were added.
    pub fn next_batch(&mut self, max: usize, out: &mut Vec<Event>) -> Result<usize> {
        let before = out.len();
        while out.len() - before < max {
            match self.next() {
                Some(Ok(event)) => out.push(event),
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        Ok(out.len() - before)
    }
}

/// The view of a sealed segment whose scan was deferred, without scanning it: for a
/// reader that verifies each record as it reads it.
fn map_unscanned(segment: &Segment) -> Result<Bytes> {
    segment
        .file
        .view()
        .map_err(|e| Error::io("map segment", Some(segment.path.clone()), e))
}

impl LogReader {
    /// The next event's position and payload, borrowed from the reader (no reference
    /// count taken): valid until the reader is used again. `None` at the watermark, like
    /// [`Iterator::next`], which this saves the payload's shared handle per event; for
    /// callers that hand the bytes on within the call (the C ABI's views).
    ///
    /// ```
    /// use annal::{Durability, Log, Options, Position};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = Log::open(dir.path(), Options::default())?;
    /// log.append_batch(&[b"a".as_slice(), b"b"], Durability::Written)?;
    /// let mut reader = log.read_from(Position(1))?;
    /// let (position, payload) = reader.next_borrowed().expect("an event")?;
    /// assert_eq!((position, payload), (Position(1), b"b".as_slice()));
    /// assert!(reader.next_borrowed().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_borrowed(&mut self) -> Option<Result<(Position, &[u8])>> {
        match self.next_range()? {
            Ok((position, range)) => Some(Ok((Position(position), &self.view[range]))),
            Err(e) => Some(Err(e)),
        }
    }

    /// Calls `visit` with the position and payload of each of the next events, up to
    /// `max` of them, and returns how many it visited: `Ok(0)` at the watermark (a later
    /// call may find more). Payloads are borrowed from the reader's mapping for the
    /// duration of each call (no reference count taken per event), so this is the
    /// cheapest way to read many events; copy what must outlive the call. Every event's
    /// record is checked as [`Iterator::next`] checks it; on an error, the events visited
    /// before it stay visited and the reader stays at the damaged record.
    ///
    /// ```
    /// use annal::{Durability, Log, Options, Position};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = Log::open(dir.path(), Options::default())?;
    /// log.append_batch(&[b"a".as_slice(), b"bc", b"d"], Durability::Written)?;
    /// let mut reader = log.read_from(Position(0))?;
    /// let mut seen = Vec::new();
    /// let visited = reader.visit_next(2, |position, payload| seen.push((position.0, payload.len())))?;
    /// assert_eq!((visited, seen), (2, vec![(0, 1), (1, 2)]));
    /// assert_eq!(reader.visit_next(100, |_, _| {})?, 1);
    /// assert_eq!(reader.visit_next(100, |_, _| {})?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn visit_next(
        &mut self,
        max: usize,
        mut visit: impl FnMut(Position, &[u8]),
    ) -> Result<usize> {
        let mut visited = 0;
        while visited < max {
            match self.next_range() {
                Some(Ok((position, range))) => {
                    visit(Position(position), &self.view[range]);
                    visited += 1;
                }
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        Ok(visited)
    }

    /// The next event's position and its payload's range in `self.view`.
    fn next_range(&mut self) -> Option<Result<(u64, std::ops::Range<usize>)>> {
        loop {
            if let (Some(cursor), Some(cut)) = (&self.record, self.segment.cut_from()) {
                if cursor.remaining > 0 && cursor.position >= cut {
                    if let Err(e) = self.follow_cut(cut) {
                        return Some(Err(e));
                    }
                    continue;
                }
            }
            if let Some(cursor) = &mut self.record {
                if cursor.remaining > 0 {
                    let body = &self.view[cursor.next_event..cursor.events_end];
                    let Some(range) = EventRanges::new(body, 1).next() else {
                        self.record = None;
                        return Some(Err(self.corrupt("event length runs past its record")));
                    };
                    let start = cursor.next_event;
                    cursor.next_event += range.end;
                    cursor.remaining -= 1;
                    let position = cursor.position;
                    cursor.position += 1;
                    if position < self.start {
                        continue;
                    }
                    return Some(Ok((position, start + range.start..start + range.end)));
                }
                self.record = None;
            }
            match self.load_record() {
                Ok(true) => continue,
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Iterator for LogReader {
    type Item = Result<Event>;

    /// The next event, or `None` when the reader has caught up with the watermark (a
    /// later call returns events appended since).
    fn next(&mut self) -> Option<Self::Item> {
        let (position, range) = match self.next_range()? {
            Ok(next) => next,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Event {
            position: Position(position),
            payload: self.view.slice(range),
        }))
    }
}
