//! Appending to streams: input checks, expected revisions, retries recognised by event
//! id, and the envelopes of one atomic (possibly multi-stream) append.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::read::{read_stream, starts_of_parts};
use super::types::{Direction, StreamAppend, WriteResult};
use crate::error::{Error, Result};
use crate::format::envelope::{encode, envelope_bytes, EnvelopeParts, Kind, SAME_RECORD};
use crate::format::record::RecordEvents;
use crate::handle::Log;
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
    if appends.is_empty() {
        return Err(Error::EmptyBatch);
    }
    // The duplicate checks allocate only when there can be a duplicate.
    let mut streams = HashSet::new();
    let mut ids = HashSet::new();
    let ids_to_check = appends
        .iter()
        .flat_map(|a| &a.events)
        .filter(|e| e.id.is_some())
        .count()
        > 1;
    for append in appends {
        check_stream_name(&append.stream)?;
        if appends.len() > 1 && !streams.insert(&append.stream[..]) {
            return Err(Error::InvalidArgument {
                reason: format!(
                    "stream {} is named twice in one append",
                    String::from_utf8_lossy(&append.stream)
                ),
            });
        }
        if append.events.is_empty() {
            return Err(Error::EmptyBatch);
        }
        for event in &append.events {
            if event.event_type.len() > EVENT_TYPE_BYTES_MAX {
                return Err(Error::InvalidArgument {
                    reason: format!(
                        "event type is {} bytes, more than the maximum {EVENT_TYPE_BYTES_MAX}",
                        event.event_type.len()
                    ),
                });
            }
            if let Some(id) = event.id.filter(|_| ids_to_check) {
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
pub(crate) fn plan(log: &Log, index: &Index, append: &StreamAppend) -> Result<Plan> {
    let known = index.known_ids(&append.stream);
    let entry = known.stream.map(|id| &index.streams[id as usize]);
    if entry.is_some_and(|e| e.deleted) {
        return Err(Error::StreamDeleted {
            stream: Name::from(&append.stream),
        });
    }
    let current = entry.and_then(|e| e.chain.last()).map(|(seq, _)| seq);
    let ids: Option<Vec<EventId>> = append.events.iter().map(|e| e.id).collect();
    if let Some(ids) = ids {
        let retry = find_retry(log, index, known.stream, append, current, &ids)
            .map_err(|e| removed_by_retention(e, &append.stream))?;
        if let Some(original) = retry {
            return Ok(Plan::Retry(original));
        }
    }
    let matches = match append.expected {
        ExpectedRevision::Any => true,
        ExpectedRevision::NoStream => current.is_none(),
        ExpectedRevision::StreamExists => current.is_some(),
        ExpectedRevision::Exact(revision) => current == Some(revision.0),
    };
    if !matches {
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
    stream_id: Option<u32>,
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
            if !is_one_append(log, index, stream_id, start, ids.len())? {
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
    let whole_retry = found.iter().enumerate().all(|(i, f)| {
        f.is_some_and(|f| {
            Some(f.stream) == stream_id
                && found[0].is_some_and(|first| f.revision == first.revision + i as u64)
        })
    });
    if !whole_retry {
        return Err(conflict(
            &append.stream,
            "some of these event ids are already stored, not all of them as one append",
        ));
    }
    let (first, last) = (found[0], found[ids.len() - 1]);
    match (first, last) {
        (Some(first), Some(last)) => {
            if !is_one_append(log, index, stream_id, first.revision, ids.len())? {
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
    stream_id: Option<u32>,
    first: u64,
    count: usize,
) -> Result<bool> {
    let Some(entry) = stream_id.map(|id| &index.streams[id as usize]) else {
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
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    now.max(floor)
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
    let mut categories_in_batch: HashMap<&[u8], Location> = HashMap::new();
    // Only a later event of the same append needs to find an earlier one's category link.
    let events_in_batch: usize = appends.iter().map(|a| a.events.len()).sum();
    let mut position = first_position;
    for (append, plan) in appends.iter().zip(plans) {
        let Plan::Append { current, known } = *plan else {
            continue;
        };
        let chain = known.stream.map(|id| &index.streams[id as usize].chain);
        let mut tail = chain.map(|c| c.tail()).unwrap_or_default();
        let mut previous_in_stream = chain.and_then(|c| c.last()).map(|(_, link)| link);
        let first_revision = current.map_or(0, |r| r + 1);
        let category = category_of(&append.stream);
        let category_last = known
            .category
            .and_then(|id| index.categories[id as usize].chain.last())
            .map(|(_, link)| link);
        for (i, event) in append.events.iter().enumerate() {
            let previous_in_category =
                category.and_then(|c| categories_in_batch.get(c).copied().or(category_last));
            let block = tail.block_for_next();
            let link_block = block.as_ref().map_or(&[][..], |b| &b[..]);
            batch.bytes.reserve(envelope_bytes(
                append.stream.len(),
                event.event_type.len(),
                event.id.is_some(),
                link_block.len(),
                event.metadata.len(),
                event.data.len(),
            ));
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
            tail.push(here);
            if let Some(category) = category {
                if events_in_batch > 1 {
                    categories_in_batch.insert(category, here);
                }
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
    let mut payload = Vec::with_capacity(envelope_bytes(stream.len(), 0, false, 0, 0, 0));
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
