//! Reading streams and categories by walking their chains, reading the whole log, and
//! finding the position at a time.

use std::path::Path;

use super::types::{Direction, RecordedEvent};
use crate::error::{Error, Result};
use crate::format::envelope::{decode, decode_in, Envelope, Kind, SAME_RECORD};
use crate::handle::Log;
use crate::index::chain::{Chain, LINK_GROUP};
use crate::index::{ChainEntry, Index};
use crate::name::Name;
use crate::position::{Location, Position, Revision};

/// Which back-link a walk follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Follow {
    Stream,
    Category,
}

/// Reads and decodes the envelope at `link`.
pub(crate) fn fetch(log: &Log, link: Location) -> Result<Envelope> {
    let event = log.read_in_record(link)?;
    decode(&event.payload).map_err(|e| not_an_envelope(log.dir(), link.position, e.0))
}

/// The error for a log event that should be an envelope and is not; `dir` is the log's.
pub(crate) fn not_an_envelope(dir: &Path, position: impl Into<Position>, reason: &str) -> Error {
    let position = position.into().0;
    Error::Corrupt {
        path: dir.to_path_buf(),
        offset: position,
        reason: format!("event at position {position} is not a valid envelope: {reason}"),
    }
}

pub(crate) fn recorded(envelope: Envelope, position: u64) -> RecordedEvent {
    RecordedEvent {
        stream: envelope.stream,
        revision: Revision(envelope.revision),
        position: Position(position),
        timestamp_ns: envelope.timestamp_ns,
        event_type: envelope.event_type,
        id: envelope.id,
        metadata: envelope.metadata,
        data: envelope.data,
    }
}

/// The link an envelope points back to, resolving "same record" to the record of `at`.
fn previous(envelope: &Envelope, at: Location, follow: Follow) -> Option<Location> {
    let link = match follow {
        Follow::Stream => envelope.previous_in_stream,
        Follow::Category => envelope.previous_in_category,
    }?;
    Some(resolve(link, at))
}

/// `link` as stored in the envelope at `at`: "same record" means `at`'s record.
fn resolve(link: Location, at: Location) -> Location {
    let record_offset = if link.record_offset == SAME_RECORD {
        at.record_offset
    } else {
        link.record_offset
    };
    Location::new(link.position, record_offset)
}

/// The links of the closed groups `groups` of a stream chain, in sequence order: read
/// from the link blocks of the groups' successors' heads, all at once.
fn stream_group_links(
    log: &Log,
    chain: &Chain,
    groups: std::ops::RangeInclusive<u64>,
) -> Result<Vec<Location>> {
    let first_group = *groups.start();
    let heads = groups
        .map(|group| {
            chain
                .head(group + 1)
                .ok_or_else(|| not_an_envelope(log.dir(), 0, "a closed group without a successor"))
        })
        .collect::<Result<Vec<Location>>>()?;
    let mut links = Vec::with_capacity(heads.len() * LINK_GROUP as usize);
    log.visit_located(&heads, |i, view, range| {
        let head = heads[i];
        let envelope =
            decode_in(view, range).map_err(|e| not_an_envelope(log.dir(), head.position, e.0))?;
        let expected_revision = (first_group + 1 + i as u64) * LINK_GROUP;
        let before = links.len();
        links.extend(envelope.block_links().map(|link| resolve(link, head)));
        let count = links.len() - before;
        if envelope.kind != Kind::Event
            || envelope.revision != expected_revision
            || count != LINK_GROUP as usize
        {
            return Err(not_an_envelope(
                log.dir(),
                head.position,
                "a group head without its link block",
            ));
        }
        Ok(())
    })?;
    Ok(links)
}

/// The links of the closed groups `groups` of a category chain, in sequence order:
/// category envelopes carry no link blocks, so each group is a back-link walk from the
/// next group's head.
fn category_group_links(
    log: &Log,
    chain: &Chain,
    groups: std::ops::RangeInclusive<u64>,
) -> Result<Vec<Location>> {
    let mut links = Vec::new();
    for group in groups {
        let (Some(head), Some(next_head)) = (chain.head(group), chain.head(group + 1)) else {
            return Err(not_an_envelope(
                log.dir(),
                0,
                "a closed group without a successor",
            ));
        };
        let mut walked = Vec::with_capacity(LINK_GROUP as usize);
        let mut at = next_head;
        for _ in 1..LINK_GROUP {
            let envelope = fetch(log, at)?;
            match previous(&envelope, at, Follow::Category) {
                Some(back) if back.position < at.position && back.position > head.position => {
                    walked.push(back);
                    at = back;
                }
                _ => return Err(not_an_envelope(log.dir(), at.position, "broken back-link")),
            }
        }
        let envelope = fetch(log, at)?;
        if previous(&envelope, at, Follow::Category) != Some(head) {
            return Err(not_an_envelope(log.dir(), at.position, "broken back-link"));
        }
        links.push(head);
        links.extend(walked.into_iter().rev());
    }
    Ok(links)
}

/// The links of the chain's events with sequence numbers `low..=high` (all below the
/// chain's length), in sequence order.
fn chain_links(
    log: &Log,
    chain: &Chain,
    low: u64,
    high: u64,
    follow: Follow,
) -> Result<Vec<Location>> {
    let open_start = chain.open_start();
    let mut links = Vec::with_capacity((high - low + 1).min(1 << 16) as usize);
    if low < open_start {
        let groups = low / LINK_GROUP..=high.min(open_start - 1) / LINK_GROUP;
        let first_seq = groups.start() * LINK_GROUP;
        let closed = match follow {
            Follow::Stream => stream_group_links(log, chain, groups)?,
            Follow::Category => category_group_links(log, chain, groups)?,
        };
        let skip = (low - first_seq) as usize;
        let take = (high.min(open_start - 1) - low + 1) as usize;
        links.extend(closed.into_iter().skip(skip).take(take));
    }
    if high >= open_start {
        let skip = low.saturating_sub(open_start) as usize;
        let take = (high - low.max(open_start) + 1) as usize;
        links.extend(chain.open_links().skip(skip).take(take));
    }
    Ok(links)
}

/// Reads the events at `links` (sequence numbers `low` on), checking that each is an
/// event of the chain: for a stream, of that stream at the expected revision.
fn read_links(
    log: &Log,
    links: &[Location],
    low: u64,
    stream: Option<&[u8]>,
) -> Result<Vec<RecordedEvent>> {
    let mut out = Vec::with_capacity(links.len());
    log.visit_located(links, |i, view, range| {
        let position = links[i].position;
        let envelope =
            decode_in(view, range).map_err(|e| not_an_envelope(log.dir(), position, e.0))?;
        let belongs = envelope.kind == Kind::Event
            && stream.is_none_or(|name| {
                envelope.revision == low + i as u64 && envelope.stream[..] == *name
            });
        if !belongs {
            return Err(not_an_envelope(
                log.dir(),
                position,
                "the index points at another event",
            ));
        }
        out.push(recorded(envelope, position.0));
        Ok(())
    })?;
    Ok(out)
}

/// For each revision `low..=high` of a stream (all below its length), whether its event
/// starts a part of an append: its back-link to the stream's previous event is not the
/// "same record" marker. A part's later events link back within their record.
pub(crate) fn starts_of_parts(log: &Log, chain: &Chain, low: u64, high: u64) -> Result<Vec<bool>> {
    let links = chain_links(log, chain, low, high, Follow::Stream)?;
    let mut starts = Vec::with_capacity(links.len());
    log.visit_located(&links, |i, view, range| {
        let position = links[i].position;
        let envelope =
            decode_in(view, range).map_err(|e| not_an_envelope(log.dir(), position, e.0))?;
        if envelope.kind != Kind::Event || envelope.revision != low + i as u64 {
            return Err(not_an_envelope(
                log.dir(),
                position,
                "the index points at another event",
            ));
        }
        let continues = envelope
            .previous_in_stream
            .is_some_and(|link| link.record_offset == SAME_RECORD);
        starts.push(!continues);
        Ok(())
    })?;
    Ok(starts)
}

/// The positions of a stream's revisions `first..first + count`, as its chain records
/// them (fewer where the stream ends sooner).
pub(crate) fn stream_positions(
    log: &Log,
    entry: &ChainEntry,
    first: u64,
    count: usize,
) -> Result<Vec<Position>> {
    let Some((last, _)) = entry.chain.last() else {
        return Ok(Vec::new());
    };
    if count == 0 || first > last {
        return Ok(Vec::new());
    }
    let high = first.saturating_add(count as u64 - 1).min(last);
    let links = chain_links(log, &entry.chain, first, high, Follow::Stream)?;
    Ok(links.iter().map(|link| link.position).collect())
}

/// The highest sequence number of the chain whose event is at a position below
/// `position`, or `None` if none is.
fn last_seq_before(log: &Log, chain: &Chain, position: u64, follow: Follow) -> Result<Option<u64>> {
    let Some(group) = chain.group_before(position) else {
        return Ok(None);
    };
    let low = group * LINK_GROUP;
    let high = (low + LINK_GROUP - 1).min(chain.next_seq() - 1);
    let links = chain_links(log, chain, low, high, follow)?;
    let below = links.iter().take_while(|l| l.position.0 < position).count() as u64;
    Ok(below.checked_sub(1).map(|last| low + last))
}

/// Which events of a chain a read wants: at most `max` from sequence number `from` in
/// `direction`.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: u64,
    direction: Direction,
    max: usize,
}

/// Events of a chain with sequence numbers in `lowest..=highest` within the window.
fn read_chain(
    log: &Log,
    chain: &Chain,
    follow: Follow,
    window: Window,
    lowest: u64,
    highest: Option<u64>,
    stream: Option<&[u8]>,
) -> Result<Vec<RecordedEvent>> {
    let Window {
        from,
        direction,
        max,
    } = window;
    let Some(highest) = highest else {
        return Ok(Vec::new());
    };
    if max == 0 || lowest > highest {
        return Ok(Vec::new());
    }
    let span = max as u64 - 1;
    let (low, high) = match direction {
        Direction::Forwards => {
            let low = from.max(lowest);
            if low > highest {
                return Ok(Vec::new());
            }
            (low, highest.min(low.saturating_add(span)))
        }
        Direction::Backwards => {
            let high = from.min(highest);
            if high < lowest {
                return Ok(Vec::new());
            }
            (high.saturating_sub(span).max(lowest), high)
        }
    };
    let links = chain_links(log, chain, low, high, follow)?;
    let mut events = read_links(log, &links, low, stream)?;
    if direction == Direction::Backwards {
        events.reverse();
    }
    Ok(events)
}

/// Reads a stream from a revision; with `as_of`, only events at positions below it.
pub(crate) fn read_stream(
    log: &Log,
    index: &Index,
    stream: &[u8],
    from: Revision,
    direction: Direction,
    max: usize,
    as_of: Option<Position>,
) -> Result<Vec<RecordedEvent>> {
    let entry = index.stream(stream).ok_or_else(|| Error::StreamNotFound {
        stream: Name::from(stream),
    })?;
    if entry.deleted {
        return Err(Error::StreamDeleted {
            stream: Name::from(stream),
        });
    }
    let highest = match as_of {
        Some(position) => last_seq_before(log, &entry.chain, position.0, Follow::Stream)?,
        None => entry.chain.last().map(|(seq, _)| seq),
    };
    read_chain(
        log,
        &entry.chain,
        Follow::Stream,
        Window {
            from: from.0,
            direction,
            max,
        },
        entry.truncate_before,
        highest,
        Some(stream),
    )
}

/// Reads a category from a position (forwards: events at or after it; backwards: at or
/// before it).
pub(crate) fn read_category(
    log: &Log,
    index: &Index,
    category: &[u8],
    from: Position,
    direction: Direction,
    max: usize,
) -> Result<Vec<RecordedEvent>> {
    let Some(entry) = index.category(category) else {
        return Ok(Vec::new());
    };
    let chain = &entry.chain;
    let highest = chain.last().map(|(seq, _)| seq);
    let from_seq = match direction {
        Direction::Forwards => {
            last_seq_before(log, chain, from.0, Follow::Category)?.map_or(0, |seq| seq + 1)
        }
        Direction::Backwards => {
            match last_seq_before(log, chain, from.0.saturating_add(1), Follow::Category)? {
                Some(seq) => seq,
                None => return Ok(Vec::new()),
            }
        }
    };
    read_chain(
        log,
        chain,
        Follow::Category,
        Window {
            from: from_seq,
            direction,
            max,
        },
        0,
        highest,
        None,
    )
}

/// Reads the whole log's stream events from a position, skipping the store's own
/// lifecycle records (truncations and tombstones).
pub(crate) fn read_all(
    log: &Log,
    from: Position,
    direction: Direction,
    max: usize,
) -> Result<Vec<RecordedEvent>> {
    let mut out = Vec::new();
    match direction {
        Direction::Forwards => {
            for event in log.read_from(from)? {
                if out.len() >= max {
                    break;
                }
                let event = event?;
                let envelope = decode(&event.payload)
                    .map_err(|e| not_an_envelope(log.dir(), event.position.0, e.0))?;
                if envelope.kind == Kind::Event {
                    out.push(recorded(envelope, event.position.0));
                }
            }
        }
        Direction::Backwards => {
            log.flush_if_buffered(Position(log.next_position().0.saturating_sub(1)))?;
            let Some(last) = log.last_written() else {
                return Ok(out);
            };
            let mut position = from.0.min(last.0);
            let first = log.first_position().0;
            while out.len() < max && position >= first {
                let event = log.read(Position(position))?;
                let envelope = decode(&event.payload)
                    .map_err(|e| not_an_envelope(log.dir(), position, e.0))?;
                if envelope.kind == Kind::Event {
                    out.push(recorded(envelope, position));
                }
                if position == 0 {
                    break;
                }
                position -= 1;
            }
        }
    }
    Ok(out)
}

/// The position of the first event stamped after `time_ns`: the log "as of" that time
/// is everything below it.
pub(crate) fn position_after_time(log: &Log, index: &Index, time_ns: u64) -> Result<Position> {
    let at = index.time.partition_point(|&(ts, _)| ts <= time_ns);
    let start = match at.checked_sub(1) {
        Some(entry) => Position(index.time[entry].1),
        None => log.first_position(),
    };
    for event in log.read_from(start)? {
        let event = event?;
        let envelope = decode(&event.payload)
            .map_err(|e| not_an_envelope(log.dir(), event.position.0, e.0))?;
        if envelope.timestamp_ns > time_ns {
            return Ok(event.position);
        }
    }
    Ok(log.next_position())
}
