//! Appending to streams: input checks, expected revisions, retries recognised by event
//! id, and the envelopes of one atomic (possibly multi-stream) append.

use std::collections::{HashMap, HashSet};
#[cfg(not(target_os = "linux"))]
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::read::{read_stream, starts_of_parts, stream_positions};
use super::types::{Direction, NewEvent, StreamAppend, WriteResult};
use crate::error::{Error, Result};
use crate::format::envelope::{encode, EnvelopeParts, Kind, SAME_RECORD};
use crate::format::record::RecordEvents;
use crate::handle::Log;
use crate::index::chain::Tail;
use crate::index::{category_of, Index, KnownIds};
use crate::limits::{EVENT_TYPE_BYTES_MAX, STREAM_NAME_BYTES_MAX};
use crate::name::Name;
use crate::position::{EventId, ExpectedRevision, Location, Position, Revision};

/// Checks a stream name: 1 to `STREAM_NAME_BYTES_MAX` bytes, no NUL (names cross the C
/// ABI as C strings).
pub(crate) fn check_stream_name(name: &[u8]) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidArgument {
            reason: "stream name is empty".into(),
        });
    }
    if name.len() > STREAM_NAME_BYTES_MAX {
        return Err(Error::InvalidArgument {
            reason: format!(
                "stream name is {} bytes, more than the maximum {STREAM_NAME_BYTES_MAX}",
                name.len()
            ),
        });
    }
    if name.contains(&0) {
        return Err(Error::InvalidArgument {
            reason: "stream name contains a NUL byte".into(),
        });
    }
    Ok(())
}

/// Checks everything about an append that does not depend on the store's state.
pub(crate) fn check_input(appends: &[StreamAppend]) -> Result<()> {
    // One event for one stream (the common append) has nothing to compare.
    if let [StreamAppend { stream, events, .. }] = appends {
        if let [event] = &events[..] {
            check_stream_name(stream)?;
            return check_event_type(event);
        }
    }
    if appends.is_empty() {
        return Err(Error::EmptyBatch);
    }
    // The duplicate checks allocate only when there can be a duplicate: a single part
    // with at most one id (the common append) builds no set at all.
    let mut streams = (appends.len() > 1).then(HashSet::new);
    let ids_to_check = appends
        .iter()
        .flat_map(|a| &a.events)
        .filter(|e| e.id.is_some())
        .nth(1)
        .is_some();
    let mut ids = ids_to_check.then(HashSet::new);
    for append in appends {
        check_stream_name(&append.stream)?;
        if let Some(streams) = streams.as_mut() {
            if !streams.insert(&append.stream[..]) {
                return Err(Error::InvalidArgument {
                    reason: format!(
                        "stream {} is named twice in one append",
                        String::from_utf8_lossy(&append.stream)
                    ),
                });
            }
        }
        if append.events.is_empty() {
            return Err(Error::EmptyBatch);
        }
        for event in &append.events {
            check_event_type(event)?;
            if let (Some(id), Some(ids)) = (event.id, ids.as_mut()) {
                if !ids.insert(id) {
                    return Err(Error::InvalidArgument {
                        reason: "an event id appears twice in one append".into(),
                    });
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn check_event_type(event: &NewEvent) -> Result<()> {
    if event.event_type.len() > EVENT_TYPE_BYTES_MAX {
        return Err(Error::InvalidArgument {
            reason: format!(
                "event type is {} bytes, more than the maximum {EVENT_TYPE_BYTES_MAX}",
                event.event_type.len()
            ),
        });
    }
    Ok(())
}

/// What to do with one stream's part of an append.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plan {
    /// Already written (a retry): the original result.
    Retry(WriteResult),
    /// Write it after the stream's current revision; `known` holds the index ids looked
    /// up while planning, so encoding and indexing do not look them up again.
    Append {
        current: Option<u64>,
        known: KnownIds,
    },
}

/// The result of a single-part append, kept without a vector.
#[derive(Debug, Default)]
pub(crate) struct OneResult(pub(crate) Option<WriteResult>);

impl Extend<WriteResult> for OneResult {
    fn extend<I: IntoIterator<Item = WriteResult>>(&mut self, results: I) {
        for result in results {
            self.0 = Some(result);
        }
    }
}

/// The envelopes of one append, encoded back to back into one buffer that the store
/// keeps and reuses under its lock: no allocation per event, and the log copies each
/// envelope once, into its record.
#[derive(Debug, Default)]
pub(crate) struct EncodedBatch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl EncodedBatch {
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

impl RecordEvents for EncodedBatch {
    fn count(&self) -> usize {
        self.ends.len()
    }

    fn payload_bytes(&self, i: usize) -> usize {
        self.payload(i).len()
    }

    fn write_payload(&self, i: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.payload(i));
    }
}

impl EncodedBatch {
    fn payload(&self, i: usize) -> &[u8] {
        let start = i.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.bytes[start..self.ends[i]]
    }
}

fn result_of(first: (u64, Position), last: (u64, Position)) -> WriteResult {
    WriteResult {
        first_revision: Revision(first.0),
        last_revision: Revision(last.0),
        first_position: first.1,
        last_position: last.1,
    }
}

/// Checks one stream's part against the index: a retry, a conflict, or an append.
pub(crate) fn plan(log: &Log, index: &mut Index, append: &StreamAppend) -> Result<Plan> {
    // The stream's and its category's entries are looked up once, and copied up to the
    // heap where the append would change them (a copy changes no answer, so one made
    // for an append that then fails is harmless).
    let known = index.known_ids(&append.stream);
    let (deleted, current) = match known.stream.map(|id| index.known_stream(id)) {
        Some(entry) => (entry.deleted, entry.chain.last().map(|(seq, _)| seq)),
        None => (false, None),
    };
    if deleted {
        return Err(Error::StreamDeleted {
            stream: Name::from(&append.stream),
        });
    }
    let ids: Option<Vec<EventId>> = append.events.iter().map(|e| e.id).collect();
    if let Some(ids) = ids {
        let retry = find_retry(log, index, append, current, &ids)
            .map_err(|e| removed_by_retention(e, &append.stream))?;
        if let Some(original) = retry {
            return Ok(Plan::Retry(original));
        }
    }
    if !expectation_holds(append.expected, current) {
        return Err(Error::WrongExpectedRevision {
            stream: Name::from(&append.stream),
            expected: append.expected,
            actual: current.map(Revision),
        });
    }
    // Not a retry, and the expectation holds: none of its ids may be stored already (at
    // an earlier revision, in another stream, or in a batch where only some carry ids).
    if let Some(stored) = append
        .events
        .iter()
        .filter_map(|e| e.id.as_ref())
        .find_map(|id| index.recent_id(id))
    {
        return Err(conflict(
            &append.stream,
            &format!(
                "an event id of this append is already stored, at position {}",
                stored.position
            ),
        ));
    }
    Ok(Plan::Append { current, known })
}

/// Whether a stream at revision `current` (`None`: no events) meets `expected`.
pub(crate) fn expectation_holds(expected: ExpectedRevision, current: Option<u64>) -> bool {
    match expected {
        ExpectedRevision::Any => true,
        ExpectedRevision::NoStream => current.is_none(),
        ExpectedRevision::StreamExists => current.is_some(),
        ExpectedRevision::Exact(revision) => current == Some(revision.0),
    }
}

/// A retry check that had to read events retention removed cannot tell a retry from a
/// new append: that is a conflict the caller must resolve, not a read past the log.
fn removed_by_retention(error: Error, stream: &Bytes) -> Error {
    match error {
        Error::PositionOutOfRange { .. } => conflict(
            stream,
            "the events these ids would repeat were removed by retention: \
             whether this append is a retry cannot be told",
        ),
        other => other,
    }
}

fn conflict(stream: &Bytes, reason: &str) -> Error {
    Error::IdempotencyConflict {
        stream: Name::from(stream),
        reason: reason.into(),
    }
}

/// Whether the append is a retry of one already stored.
///
/// With `NoStream` or `Exact(n)` the check is exact at any age: the events right after
/// the expected revision are read back and their ids compared. With `Any` or
/// `StreamExists` it uses the window of the last `IDEMPOTENCY_WINDOW_EVENTS` ids.
fn find_retry(
    log: &Log,
    index: &Index,
    append: &StreamAppend,
    current: Option<u64>,
    ids: &[EventId],
) -> Result<Option<WriteResult>> {
    let after_expected = match append.expected {
        ExpectedRevision::NoStream => Some(0),
        // Nothing can follow revision u64::MAX: not a retry.
        ExpectedRevision::Exact(Revision(u64::MAX)) => return Ok(None),
        ExpectedRevision::Exact(revision) => Some(revision.0 + 1),
        ExpectedRevision::Any | ExpectedRevision::StreamExists => None,
    };
    if let Some(start) = after_expected {
        if current.is_none_or(|current| current < start) {
            return Ok(None);
        }
        let stored = read_stream(
            log,
            index,
            &append.stream,
            Revision(start),
            Direction::Forwards,
            ids.len(),
            None,
        )?;
        let matching = stored
            .iter()
            .zip(ids)
            .enumerate()
            .take_while(|(i, (event, id))| {
                event.revision == Revision(start + *i as u64) && event.id.as_ref() == Some(id)
            })
            .count();
        if matching == ids.len() {
            let (first, last) = (&stored[0], &stored[ids.len() - 1]);
            if !is_one_append(log, index, &append.stream, start, ids.len())? {
                return Err(not_one_append(&append.stream));
            }
            return Ok(Some(result_of(
                (first.revision.0, first.position),
                (last.revision.0, last.position),
            )));
        }
        let any_stored = stored
            .iter()
            .any(|event| event.id.is_some_and(|id| ids.contains(&id)));
        if any_stored {
            return Err(conflict(
                &append.stream,
                "the events after the expected revision hold only some of these ids",
            ));
        }
        return Ok(None);
    }
    let found: Vec<_> = ids.iter().map(|id| index.recent_id(id)).collect();
    if found.iter().all(Option::is_none) {
        return Ok(None);
    }
    let consecutive = found.iter().enumerate().all(|(i, f)| {
        f.is_some_and(|f| found[0].is_some_and(|first| f.revision == first.revision + i as u64))
    });
    // The ids name this stream when its events at those revisions are at those
    // positions (positions are unique).
    let whole_retry = consecutive
        && match (index.stream(&append.stream), found[0]) {
            (Some(entry), Some(first)) => {
                let positions = stream_positions(log, &entry, first.revision, ids.len())?;
                positions
                    .iter()
                    .map(|p| p.0)
                    .eq(found.iter().flatten().map(|f| f.position))
            }
            _ => false,
        };
    if !whole_retry {
        return Err(conflict(
            &append.stream,
            "some of these event ids are already stored, not all of them as one append",
        ));
    }
    let (first, last) = (found[0], found[ids.len() - 1]);
    match (first, last) {
        (Some(first), Some(last)) => {
            if !is_one_append(log, index, &append.stream, first.revision, ids.len())? {
                return Err(not_one_append(&append.stream));
            }
            Ok(Some(result_of(
                (first.revision, Position(first.position)),
                (last.revision, Position(last.position)),
            )))
        }
        _ => Ok(None),
    }
}

/// Whether the stream's revisions `first..first + count` are exactly one earlier append's
/// part for this stream: the first starts a part, the others continue it, and the event
/// after them (if any) starts another. Ids spread over two appends, or a part of one
/// append, are not a retry.
fn is_one_append(
    log: &Log,
    index: &Index,
    stream: &[u8],
    first: u64,
    count: usize,
) -> Result<bool> {
    let Some(entry) = index.stream(stream) else {
        return Ok(false);
    };
    let Some((current, _)) = entry.chain.last() else {
        return Ok(false);
    };
    let end = first + count as u64;
    let starts = starts_of_parts(log, &entry.chain, first, end.min(current))?;
    let (inside, after) = starts.split_at(count.min(starts.len()));
    Ok(inside.first() == Some(&true)
        && inside[1..].iter().all(|start| !start)
        && after.iter().all(|start| *start))
}

fn not_one_append(stream: &Bytes) -> Error {
    conflict(
        stream,
        "these event ids are stored, but not as exactly one earlier append",
    )
}

/// Nanoseconds since the Unix epoch, never below `floor` (timestamps never decrease).
pub(crate) fn timestamp_ns(floor: u64) -> u64 {
    now_ns().max(floor)
}

/// The wall clock in nanoseconds since the Unix epoch (0 before it), read straight from
/// `clock_gettime`: `SystemTime::now().duration_since(UNIX_EPOCH)` costs a tenth of a
/// bulk store append more in its checks and conversions.
#[cfg(target_os = "linux")]
#[expect(unsafe_code, reason = "reading the clock through the C library")]
fn now_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable `timespec` that outlives the call, and
    // `CLOCK_REALTIME` is a clock every Linux kernel has.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    if read != 0 || now.tv_sec < 0 {
        return 0;
    }
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

/// The wall clock in nanoseconds since the Unix epoch (0 before it).
#[cfg(not(target_os = "linux"))]
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Encodes the envelopes of the planned parts, starting at `first_position`, into
/// `batch` (cleared first), and adds each part's result to `results`.
pub(crate) fn encode_envelopes(
    index: &Index,
    appends: &[StreamAppend],
    plans: &[Plan],
    first_position: u64,
    timestamp_ns: u64,
    batch: &mut EncodedBatch,
    results: &mut impl Extend<WriteResult>,
) {
    batch.clear();
    // Only a later event of the same append needs to find an earlier one's category link:
    // an append of one event builds no map.
    let events_in_batch: usize = appends.iter().map(|a| a.events.len()).sum();
    let mut categories_in_batch: Option<HashMap<&[u8], Location>> =
        (events_in_batch > 1).then(HashMap::new);
    let mut position = first_position;
    for (append, plan) in appends.iter().zip(plans) {
        let Plan::Append { current, known } = *plan else {
            continue;
        };
        let chain = known.stream.map(|id| &index.known_stream(id).chain);
        // The chain's tail is borrowed; a part of several events works on a copy, as each
        // event's link block depends on the events before it.
        let empty = Tail::default();
        let base_tail = chain.map_or(&empty, |c| c.tail());
        let mut copied_tail = (append.events.len() > 1).then_some(*base_tail);
        let mut previous_in_stream = chain.and_then(|c| c.last()).map(|(_, link)| link);
        let first_revision = current.map_or(0, |r| r + 1);
        let category = category_of(&append.stream);
        let category_last = known
            .category
            .and_then(|id| index.known_category(id).chain.last())
            .map(|(_, link)| link);
        for (i, event) in append.events.iter().enumerate() {
            let previous_in_category = category.and_then(|c| {
                categories_in_batch
                    .as_ref()
                    .and_then(|m| m.get(c).copied())
                    .or(category_last)
            });
            let block = copied_tail.as_ref().unwrap_or(base_tail).block_for_next();
            let link_block = block.as_ref().map_or(&[][..], |b| &b[..]);
            encode(
                &EnvelopeParts {
                    kind: Kind::Event,
                    stream: &append.stream,
                    event_type: &event.event_type,
                    revision: first_revision + i as u64,
                    timestamp_ns,
                    previous_in_stream,
                    previous_in_category,
                    id: event.id,
                    link_block,
                    metadata: &event.metadata,
                    data: &event.data,
                },
                &mut batch.bytes,
            );
            batch.ends.push(batch.bytes.len());
            let here = Location::new(Position(position), SAME_RECORD);
            previous_in_stream = Some(here);
            if let Some(tail) = copied_tail.as_mut() {
                tail.push(here);
            }
            if let (Some(category), Some(map)) = (category, categories_in_batch.as_mut()) {
                map.insert(category, here);
            }
            position += 1;
        }
        let count = append.events.len() as u64;
        results.extend([result_of(
            (first_revision, Position(position - count)),
            (first_revision + count - 1, Position(position - 1)),
        )]);
    }
}

/// Encodes a lifecycle envelope (truncate-before or tombstone) for a stream.
pub(crate) fn encode_lifecycle(
    stream: &[u8],
    kind: Kind,
    revision: u64,
    timestamp_ns: u64,
) -> Vec<u8> {
    let mut payload = Vec::new();
    encode(
        &EnvelopeParts {
            kind,
            stream,
            event_type: b"",
            revision,
            timestamp_ns,
            previous_in_stream: None,
            previous_in_category: None,
            id: None,
            link_block: &[],
            metadata: b"",
            data: b"",
        },
        &mut payload,
    );
    payload
}
