//! Reading streams and categories by walking their chains, reading the whole log, and
//! finding the position at a time.

use std::path::Path;

use super::chain::Chain;
use super::envelope::{decode, Envelope, Kind, Link, SAME_RECORD};
use super::index::Index;
use super::types::{Direction, RecordedEvent, Revision};
use crate::{Error, Log, Position, Result};

/// Which back-link a walk follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Follow {
    Stream,
    Category,
}

/// Reads and decodes the envelope at `link`.
pub(crate) fn fetch(log: &Log, link: Link) -> Result<Envelope> {
    let event = log.read_in_record(Position(link.position), link.record_offset)?;
    decode(&event.payload).map_err(|e| not_an_envelope(log.dir(), link.position, e.0))
}

/// The error for a log event that should be an envelope and is not; `dir` is the log's.
pub(crate) fn not_an_envelope(dir: &Path, position: u64, reason: &str) -> Error {
    Error::Corrupt {
        path: dir.to_path_buf(),
        offset: position,
        reason: format!("event at position {position} is not a valid envelope: {reason}"),
    }
}

pub(crate) fn recorded(envelope: Envelope, position: u64) -> RecordedEvent {
    RecordedEvent {
        stream: envelope.stream,
        revision: envelope.revision,
        position: Position(position),
        timestamp_ns: envelope.timestamp_ns,
        event_type: envelope.event_type,
        id: envelope.id,
        metadata: envelope.metadata,
        data: envelope.data,
    }
}

/// The link an envelope points back to, resolving "same record" to the record of `at`.
fn previous(envelope: &Envelope, at: Link, follow: Follow) -> Option<Link> {
    let link = match follow {
        Follow::Stream => envelope.previous_in_stream,
        Follow::Category => envelope.previous_in_category,
    }?;
    Some(Link {
        position: link.position,
        record_offset: if link.record_offset == SAME_RECORD {
            at.record_offset
        } else {
            link.record_offset
        },
    })
}

/// Walks back from `anchor` and returns the events with sequence numbers in
/// `low..=high`, highest first.
fn walk_back(
    log: &Log,
    anchor: (u64, Link),
    low: u64,
    high: u64,
    follow: Follow,
) -> Result<Vec<RecordedEvent>> {
    let (mut seq, mut link) = anchor;
    let mut out = Vec::with_capacity((high.saturating_sub(low) + 1).min(1 << 16) as usize);
    loop {
        let envelope = fetch(log, link)?;
        let back = previous(&envelope, link, follow);
        if seq <= high {
            out.push(recorded(envelope, link.position));
        }
        if seq == low {
            return Ok(out);
        }
        match back {
            Some(next) if next.position < link.position => {
                link = next;
                seq -= 1;
            }
            _ => {
                return Err(not_an_envelope(
                    log.dir(),
                    link.position,
                    "broken back-link",
                ))
            }
        }
    }
}

/// The highest sequence number of the chain whose event is at a position below
/// `position`, or `None` if none is.
fn last_seq_before(log: &Log, chain: &Chain, position: u64, follow: Follow) -> Result<Option<u64>> {
    let Some(((mut seq, mut link), floor)) = chain.anchor_at_or_after_position(position) else {
        return Ok(None);
    };
    loop {
        if link.position < position {
            return Ok(Some(seq));
        }
        if seq == 0 || seq < floor {
            return Ok(None);
        }
        let envelope = fetch(log, link)?;
        match previous(&envelope, link, follow) {
            Some(next) => {
                link = next;
                seq -= 1;
            }
            None => return Ok(None),
        }
    }
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
    let anchor = chain
        .anchor_at_or_after(high)
        .ok_or_else(|| not_an_envelope(log.dir(), 0, "empty chain"))?;
    let mut events = walk_back(log, anchor, low, high, follow)?;
    if direction == Direction::Forwards {
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
        stream: stream.to_vec(),
    })?;
    if entry.deleted {
        return Err(Error::StreamDeleted {
            stream: stream.to_vec(),
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
            from,
            direction,
            max,
        },
        entry.truncate_before,
        highest,
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
