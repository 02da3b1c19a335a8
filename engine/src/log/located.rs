//! Reading events by location: a position and the offset of its record in its segment,
//! as an append returned them. No index lookup and no scan: the record header at the
//! offset is checked and the event is sliced out of the segment's read-only mapping.
//!
//! Reading many locations at once ([`visit_located`]) touches every record's first bytes
//! before decoding any of them, so the cache and TLB misses of scattered records overlap
//! instead of being paid one after another.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::segment::Segment;
use super::{Event, Shared};
use crate::error::{Error, Result};
use crate::format::record::{
    body, check_body, decode_header, EventRanges, Frame, RECORD_HEADER_BYTES,
};
use crate::format::segment_header::SEGMENT_HEADER_BYTES;
use crate::metrics::LocatedSpans;
use crate::position::{Location, Position};

/// Bytes of each record touched ahead of decoding: the record header, an envelope and a
/// small payload (four cache lines).
const TOUCH_BYTES: usize = 256;
/// The stride of those touches (a cache line).
const CACHE_LINE_BYTES: usize = 64;
/// Locations touched ahead of decoding at a time: 256 records × 4 cache lines is 64 KiB,
/// well inside a core's L2.
const TOUCH_BATCH: usize = 256;

/// A segment's mapping as a located read uses it.
struct MappedSegment {
    segment: Arc<Segment>,
    view: Bytes,
    /// Bytes below this are published records.
    published: usize,
}

impl MappedSegment {
    fn new(segment: Arc<Segment>) -> Result<MappedSegment> {
        let view = view_of(&segment)?;
        let published = segment.written_bytes().min(view.len() as u64) as usize;
        Ok(MappedSegment {
            segment,
            view,
            published,
        })
    }

    /// The byte range of the event at `position` in the record at `record_offset`, the
    /// bytes from the record's start to the event's end (for the counters), and where the
    /// record's next event is (so a location further into the same record continues
    /// from there).
    fn locate(
        &self,
        epoch: u64,
        verify: bool,
        position: u64,
        record_offset: u32,
    ) -> Result<(Range<usize>, u64, InRecord<'_>)> {
        let corrupt = |reason: &str| {
            Error::corrupt(self.segment.path.clone(), u64::from(record_offset), reason)
        };
        let offset = record_offset as usize;
        if offset < SEGMENT_HEADER_BYTES || offset >= self.published {
            return Err(corrupt("record offset outside the segment's records"));
        }
        let at = &self.view[offset..self.published];
        let header = match decode_header(at, epoch) {
            Ok(Frame::Record(header)) if !header.is_seal() => header,
            _ => return Err(corrupt("no record at the given offset")),
        };
        if !(header.position..header.end_position()).contains(&position) {
            return Err(corrupt(
                "the record at the given offset does not hold the position",
            ));
        }
        let body = body(&header, at);
        if verify {
            check_body(&header, body).map_err(|e| corrupt(e.describe()))?;
        }
        let mut in_record = InRecord {
            record_offset,
            next_position: header.position,
            end_position: header.end_position(),
            events: EventRanges::new(&body[..header.events_bytes()], header.event_count),
        };
        let (range, span) = in_record
            .next_to(position)
            .ok_or_else(|| corrupt("event length runs past its record"))?;
        Ok((range, span, in_record))
    }

    /// Reads the first bytes of the record at `record_offset`, one per cache line.
    fn touch(&self, record_offset: u32) -> u8 {
        let offset = record_offset as usize;
        let end = offset.saturating_add(TOUCH_BYTES).min(self.published);
        let mut fold = 0u8;
        let mut at = offset;
        while at < end {
            fold ^= self.view[at];
            at += CACHE_LINE_BYTES;
        }
        fold
    }
}

/// A place in one record's events: a location further into the same record steps on from
/// here instead of walking the record's events from its start again (a stream appended
/// in large batches would otherwise cost the square of the batch to read).
struct InRecord<'view> {
    record_offset: u32,
    /// The position of the event `events` yields next.
    next_position: u64,
    end_position: u64,
    events: EventRanges<'view>,
}

impl InRecord<'_> {
    /// Whether the event at `position` in the record at `record_offset` is ahead of here.
    fn holds_ahead(&self, position: u64, record_offset: u32) -> bool {
        self.record_offset == record_offset
            && (self.next_position..self.end_position).contains(&position)
    }

    /// The view range of the event at `position` (at or after `next_position`) and the
    /// bytes from the record's start to its end; `None` when a length runs past the
    /// record.
    fn next_to(&mut self, position: u64) -> Option<(Range<usize>, u64)> {
        let skip = (position - self.next_position) as usize;
        let range = self.events.nth(skip)?;
        self.next_position = position + 1;
        let start = self.record_offset as usize + RECORD_HEADER_BYTES;
        Some((
            start + range.start..start + range.end,
            (RECORD_HEADER_BYTES + range.end) as u64,
        ))
    }
}

/// The segment's view, after scanning it if its scan was deferred at open.
pub(crate) fn view_of(segment: &Segment) -> Result<Bytes> {
    segment.ensure_scanned()?;
    segment
        .file
        .view()
        .map_err(|e| Error::io("map segment", Some(segment.path.clone()), e))
}

/// Reads the event at `position` in the record at `record_offset`. The caller checked
/// that the position is below the watermark.
pub(crate) fn read_in_record(shared: &Shared, location: Location) -> Result<Event> {
    let (position, record_offset) = (location.position.0, location.record_offset);
    let segment = shared
        .segment_for(position)
        .ok_or_else(|| shared.out_of_range(position))?;
    let mapped = MappedSegment::new(segment)?;
    let verify = shared.options.verify_reads;
    let (range, span, _) = mapped.locate(shared.epoch, verify, position, record_offset)?;
    let mut spans = LocatedSpans::default();
    spans.add(u64::from(record_offset), span);
    shared.counters.located_reads(&spans);
    Ok(Event {
        position: Position(position),
        payload: mapped.view.slice(range),
    })
}

/// Finds the events at `locations`, in the order given, and
/// calls `visit(i, view, range)` for the `i`-th: its payload is `view[range]`. The caller
/// checked that every position is below the watermark. Stops at the first error.
/// Locations are taken `TOUCH_BATCH` at a time, so the records touched ahead are still in
/// the cache when they are decoded, however many are asked for.
pub(crate) fn visit_located(
    shared: &Shared,
    locations: &[Location],
    mut visit: impl FnMut(usize, &Bytes, Range<usize>) -> Result<()>,
) -> Result<()> {
    for (batch, chunk) in locations.chunks(TOUCH_BATCH).enumerate() {
        let first = batch * TOUCH_BATCH;
        visit_batch(shared, chunk, |i, view, range| {
            visit(first + i, view, range)
        })?;
    }
    Ok(())
}

fn visit_batch(
    shared: &Shared,
    locations: &[Location],
    mut visit: impl FnMut(usize, &Bytes, Range<usize>) -> Result<()>,
) -> Result<()> {
    // Which segment each location is in, taking the segment list's lock once.
    let mut segments: Vec<Arc<Segment>> = Vec::new();
    let mut slots: Vec<u32> = Vec::with_capacity(locations.len());
    {
        let list = shared.segments.read().unwrap_or_else(|e| e.into_inner());
        let mut current: Option<usize> = None;
        for location in locations {
            let position = location.position.0;
            let holds = |i: usize| {
                list[i].first_position <= position
                    && list
                        .get(i + 1)
                        .is_none_or(|next| position < next.first_position)
            };
            let at = match current {
                Some(i) if holds(i) => i,
                _ => list
                    .partition_point(|s| s.first_position <= position)
                    .checked_sub(1)
                    .ok_or_else(|| shared.out_of_range(position))?,
            };
            if current != Some(at) {
                segments.push(Arc::clone(&list[at]));
                current = Some(at);
            }
            slots.push((segments.len() - 1) as u32);
        }
    }
    let mapped = segments
        .into_iter()
        .map(MappedSegment::new)
        .collect::<Result<Vec<_>>>()?;
    // Touch every record first: these loads do not depend on each other, so the CPU
    // has many misses in flight at once.
    let mut fold = 0u8;
    for (location, &slot) in locations.iter().zip(&slots) {
        fold ^= mapped[slot as usize].touch(location.record_offset);
    }
    std::hint::black_box(fold);
    let verify = shared.options.verify_reads;
    let mut spans = LocatedSpans::default();
    let mut result = Ok(());
    // The record the last location was in, per segment slot: consecutive locations in
    // one record (a stream appended in batches) continue through it.
    let mut in_record: Option<(u32, InRecord<'_>)> = None;
    for (i, (location, &slot)) in locations.iter().zip(&slots).enumerate() {
        let (position, record_offset) = (location.position.0, location.record_offset);
        let segment = &mapped[slot as usize];
        let ahead = in_record
            .as_mut()
            .filter(|(at, walk)| *at == slot && walk.holds_ahead(position, record_offset));
        let found = match ahead {
            Some((_, walk)) => walk.next_to(position).ok_or_else(|| {
                Error::corrupt(
                    segment.segment.path.clone(),
                    u64::from(record_offset),
                    "event length runs past its record",
                )
            }),
            None => segment
                .locate(shared.epoch, verify, position, record_offset)
                .map(|(range, span, walk)| {
                    in_record = Some((slot, walk));
                    (range, span)
                }),
        };
        let step = found.and_then(|(range, span)| {
            spans.add(u64::from(record_offset), span);
            visit(i, &segment.view, range)
        });
        if step.is_err() {
            result = step;
            break;
        }
    }
    shared.counters.located_reads(&spans);
    result
}
