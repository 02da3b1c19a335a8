//! The event envelope: how the stream layer encodes one event into a log event's payload.
//! Pure encoding and decoding; `docs/format.md` ("Event envelope") is the specification.
//!
//! ```text
//! 0   u8   version (1)
//! 1   u8   kind: 0 event, 1 truncate-before, 2 tombstone
//! 2   u16  stream_name_bytes
//! 4   u16  event_type_bytes
//! 6   u16  flags: bit 0 = has event id, bit 1 = has a link block
//! 8   u64  revision (an event's revision; a truncate's "before" revision; 0 for a tombstone)
//! 16  u64  timestamp_ns (engine-assigned, monotonic per log)
//! 24  u64  previous event of the stream: position (u64::MAX: none)
//! 32  u32  previous event of the stream: record offset in its segment (u32::MAX: this record)
//! 36  u32  metadata_bytes
//! 40  u64  previous event of the category: position (u64::MAX: none)
//! 48  u32  previous event of the category: record offset in its segment (u32::MAX: this record)
//! 52  u32  links in the link block (0 without one)
//! 56  [16] event id, when flag bit 0 is set
//!     link block, when flag bit 1 is set: per link u64 position, u32 record offset
//!     stream name, event type, metadata, data (the rest)
//! ```
//!
//! The link block is carried by every `LINK_GROUP`-th event of a stream (revisions
//! `LINK_GROUP`, `2 × LINK_GROUP`, …) and holds the links of the stream's `LINK_GROUP`
//! events before it, so a read learns where a whole group of events is from one
//! envelope (`chain.rs`).

use bytes::Bytes;

use super::{read_u16, read_u32, read_u64};
use crate::position::{Location, Position};

const VERSION: u8 = 1;
const FIXED_BYTES: usize = 56;
const ID_BYTES: usize = 16;
const FLAG_HAS_ID: u16 = 1;
const FLAG_HAS_LINKS: u16 = 2;
/// Bytes a link takes in a link block and in the index checkpoint: u64 position, u32
/// record offset, little-endian.
pub(crate) const LINK_BYTES: usize = 12;
/// The most links a link block may hold (a decoder bound; writers use `LINK_GROUP`).
pub(crate) const LINK_BLOCK_MAX: usize = 64;
const NO_POSITION: u64 = u64::MAX;
/// A back-link's record offset meaning "the record this envelope is in": an append
/// cannot know its own record's offset before the log places it.
pub(crate) const SAME_RECORD: u32 = u32::MAX;

/// The location in the first `LINK_BYTES` of `bytes` (the caller checked the length).
pub(crate) fn read_link(bytes: &[u8]) -> Location {
    Location::new(Position(read_u64(bytes, 0)), read_u32(bytes, 8))
}

/// Appends a location's `LINK_BYTES`.
pub(crate) fn put_link(link: Location, out: &mut Vec<u8>) {
    out.extend_from_slice(&link.position.0.to_le_bytes());
    out.extend_from_slice(&link.record_offset.to_le_bytes());
}

/// What an envelope records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A stream event.
    Event,
    /// The stream's events before `revision` are deleted (soft delete).
    TruncateBefore,
    /// The stream is deleted for good (hard delete).
    Tombstone,
}

/// A decoded envelope; byte fields are zero-copy slices of the log payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) kind: Kind,
    pub(crate) stream: Bytes,
    pub(crate) event_type: Bytes,
    pub(crate) revision: u64,
    pub(crate) timestamp_ns: u64,
    pub(crate) previous_in_stream: Option<Location>,
    pub(crate) previous_in_category: Option<Location>,
    pub(crate) id: Option<[u8; 16]>,
    /// The link block's bytes (empty without one); see [`Envelope::block_links`].
    pub(crate) link_block: Bytes,
    pub(crate) metadata: Bytes,
    pub(crate) data: Bytes,
}

impl Envelope {
    /// The links of the envelope's link block, oldest first. A record offset of
    /// `SAME_RECORD` means the record this envelope is in.
    pub(crate) fn block_links(&self) -> impl Iterator<Item = Location> + '_ {
        self.link_block.chunks_exact(LINK_BYTES).map(read_link)
    }
}

/// The parts of an envelope to encode.
pub(crate) struct EnvelopeParts<'a> {
    pub(crate) kind: Kind,
    pub(crate) stream: &'a [u8],
    pub(crate) event_type: &'a [u8],
    pub(crate) revision: u64,
    pub(crate) timestamp_ns: u64,
    pub(crate) previous_in_stream: Option<Location>,
    pub(crate) previous_in_category: Option<Location>,
    pub(crate) id: Option<[u8; 16]>,
    /// The link block (empty: none); at most `LINK_BLOCK_MAX` links.
    pub(crate) link_block: &'a [Location],
    pub(crate) metadata: &'a [u8],
    pub(crate) data: &'a [u8],
}

impl EnvelopeParts<'_> {
    /// Bytes the envelope of these parts takes.
    // Inlined: called once per append on the store's hot path.
    #[inline(always)]
    pub(crate) fn encoded_bytes(&self) -> usize {
        envelope_bytes(
            self.stream.len(),
            self.event_type.len(),
            self.id.is_some(),
            self.link_block.len(),
            self.metadata.len(),
            self.data.len(),
        )
    }
}

/// Bytes an envelope with these parts takes.
pub(crate) fn envelope_bytes(
    stream: usize,
    event_type: usize,
    has_id: bool,
    links: usize,
    metadata: usize,
    data: usize,
) -> usize {
    FIXED_BYTES
        + if has_id { ID_BYTES } else { 0 }
        + links * LINK_BYTES
        + stream
        + event_type
        + metadata
        + data
}

fn link_fields(link: Option<Location>) -> (u64, u32) {
    link.map_or((NO_POSITION, 0), |l| (l.position.0, l.record_offset))
}

/// Appends the encoding of `parts` to `out`. Lengths were checked against the limits.
pub(crate) fn encode(parts: &EnvelopeParts<'_>, out: &mut Vec<u8>) {
    let kind = match parts.kind {
        Kind::Event => 0u8,
        Kind::TruncateBefore => 1,
        Kind::Tombstone => 2,
    };
    let mut flags = if parts.id.is_some() { FLAG_HAS_ID } else { 0 };
    if !parts.link_block.is_empty() {
        flags |= FLAG_HAS_LINKS;
    }
    let (stream_position, stream_offset) = link_fields(parts.previous_in_stream);
    let (category_position, category_offset) = link_fields(parts.previous_in_category);
    // The fixed part is built on the stack and copied once.
    let mut fixed = [0u8; FIXED_BYTES];
    fixed[0] = VERSION;
    fixed[1] = kind;
    fixed[2..4].copy_from_slice(&(parts.stream.len() as u16).to_le_bytes());
    fixed[4..6].copy_from_slice(&(parts.event_type.len() as u16).to_le_bytes());
    fixed[6..8].copy_from_slice(&flags.to_le_bytes());
    fixed[8..16].copy_from_slice(&parts.revision.to_le_bytes());
    fixed[16..24].copy_from_slice(&parts.timestamp_ns.to_le_bytes());
    fixed[24..32].copy_from_slice(&stream_position.to_le_bytes());
    fixed[32..36].copy_from_slice(&stream_offset.to_le_bytes());
    fixed[36..40].copy_from_slice(&(parts.metadata.len() as u32).to_le_bytes());
    fixed[40..48].copy_from_slice(&category_position.to_le_bytes());
    fixed[48..52].copy_from_slice(&category_offset.to_le_bytes());
    fixed[52..56].copy_from_slice(&(parts.link_block.len() as u32).to_le_bytes());
    // One reservation and one length update for the whole envelope, instead of a
    // capacity check and a length update per part.
    let total = parts.encoded_bytes();
    out.reserve(total);
    let mut rest = &mut out.spare_capacity_mut()[..total];
    let mut put = |bytes: &[u8]| {
        let (to, after) = std::mem::take(&mut rest).split_at_mut(bytes.len());
        #[expect(unsafe_code, reason = "copying into reserved, unwritten bytes")]
        // SAFETY: `to` is `bytes.len()` reserved bytes of `out` (`MaybeUninit<u8>` has
        // the layout of `u8`), which cannot overlap `bytes`: `out` is borrowed mutably.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                to.as_mut_ptr().cast::<u8>(),
                bytes.len(),
            );
        }
        rest = after;
    };
    put(&fixed);
    if let Some(id) = &parts.id {
        put(id);
    }
    for link in parts.link_block {
        put(&link.position.0.to_le_bytes());
        put(&link.record_offset.to_le_bytes());
    }
    put(parts.stream);
    put(parts.event_type);
    put(parts.metadata);
    put(parts.data);
    assert!(rest.is_empty(), "an envelope writes the bytes it announced");
    let len = out.len() + total;
    #[expect(
        unsafe_code,
        reason = "one length update for the bytes written in place"
    )]
    // SAFETY: the `total` bytes after the old length are reserved and were all written
    // (`rest`, the part not written, is empty); `u8` has no invalid values.
    unsafe {
        out.set_len(len);
    }
}

/// Why a payload is not a valid envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EnvelopeError(pub(crate) &'static str);

fn link(position: u64, offset: u32) -> Option<Location> {
    (position != NO_POSITION).then_some(Location::new(Position(position), offset))
}

/// The stream name and event type of an event envelope, read in place (no allocation,
/// no reference counting): `None` for anything else, lifecycle records included. For
/// subscription filters, which look at every event.
pub(crate) fn peek(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    if payload.len() < FIXED_BYTES || payload[0] != VERSION || payload[1] != 0 {
        return None;
    }
    let stream_bytes = read_u16(payload, 2) as usize;
    let type_bytes = read_u16(payload, 4) as usize;
    let flags = read_u16(payload, 6);
    let id_bytes = if flags & FLAG_HAS_ID != 0 {
        ID_BYTES
    } else {
        0
    };
    let link_bytes = if flags & FLAG_HAS_LINKS != 0 {
        (read_u32(payload, 52) as usize).min(LINK_BLOCK_MAX) * LINK_BYTES
    } else {
        0
    };
    let stream_start = FIXED_BYTES + id_bytes + link_bytes;
    let type_start = stream_start + stream_bytes;
    let type_end = type_start + type_bytes;
    if payload.len() < type_end {
        return None;
    }
    Some((
        &payload[stream_start..type_start],
        &payload[type_start..type_end],
    ))
}

/// Decodes an envelope from a log event's payload. Never panics on bad input.
pub(crate) fn decode(payload: &Bytes) -> Result<Envelope, EnvelopeError> {
    decode_in(payload, 0..payload.len())
}

/// Decodes the envelope in `buffer[range]` (a log event's payload inside a segment's
/// view); its byte fields are sliced from `buffer` directly. Never panics on bad input.
pub(crate) fn decode_in(
    buffer: &Bytes,
    range: std::ops::Range<usize>,
) -> Result<Envelope, EnvelopeError> {
    let bytes = buffer
        .get(range.clone())
        .ok_or(EnvelopeError("event outside its buffer"))?;
    let base = range.start;
    if bytes.len() < FIXED_BYTES {
        return Err(EnvelopeError("event shorter than an envelope"));
    }
    if bytes[0] != VERSION {
        return Err(EnvelopeError("unknown envelope version"));
    }
    let kind = match bytes[1] {
        0 => Kind::Event,
        1 => Kind::TruncateBefore,
        2 => Kind::Tombstone,
        _ => return Err(EnvelopeError("unknown envelope kind")),
    };
    let stream_bytes = read_u16(bytes, 2) as usize;
    let type_bytes = read_u16(bytes, 4) as usize;
    let flags = read_u16(bytes, 6);
    let metadata_bytes = read_u32(bytes, 36) as usize;
    let links = read_u32(bytes, 52) as usize;
    if flags & !(FLAG_HAS_ID | FLAG_HAS_LINKS) != 0 {
        return Err(EnvelopeError("unknown envelope flags"));
    }
    let link_bytes = match (flags & FLAG_HAS_LINKS != 0, links) {
        (false, 0) => 0,
        (true, 1..=LINK_BLOCK_MAX) if kind == Kind::Event => links * LINK_BYTES,
        _ => return Err(EnvelopeError("link block flag and count disagree")),
    };
    let mut at = FIXED_BYTES;
    let id = if flags & FLAG_HAS_ID != 0 {
        let mut id = [0u8; ID_BYTES];
        id.copy_from_slice(
            bytes
                .get(at..at + ID_BYTES)
                .ok_or(EnvelopeError("envelope id runs past the event"))?,
        );
        at += ID_BYTES;
        Some(id)
    } else {
        None
    };
    // `usize::MAX` takes the rest.
    let mut take = |len: usize| -> Result<Bytes, EnvelopeError> {
        let len = if len == usize::MAX {
            bytes.len() - at
        } else {
            len
        };
        if bytes.len() - at < len {
            return Err(EnvelopeError("envelope field runs past the event"));
        }
        let slice = buffer.slice(base + at..base + at + len);
        at += len;
        Ok(slice)
    };
    let link_block = take(link_bytes)?;
    let stream = take(stream_bytes)?;
    let event_type = take(type_bytes)?;
    let metadata = take(metadata_bytes)?;
    let data = take(usize::MAX)?;
    Ok(Envelope {
        kind,
        stream,
        event_type,
        revision: read_u64(bytes, 8),
        timestamp_ns: read_u64(bytes, 16),
        previous_in_stream: link(read_u64(bytes, 24), read_u32(bytes, 32)),
        previous_in_category: link(read_u64(bytes, 40), read_u32(bytes, 48)),
        id,
        link_block,
        metadata,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        encode(
            &EnvelopeParts {
                kind: Kind::Event,
                stream: b"order-42",
                event_type: b"OrderCreated",
                revision: 3,
                timestamp_ns: 1_700_000_000_000,
                previous_in_stream: Some(Location::new(Position(9), 4096)),
                previous_in_category: None,
                id: Some([7; 16]),
                link_block: &[
                    Location::new(Position(1), 64),
                    Location::new(Position(9), SAME_RECORD),
                ],
                metadata: b"{}",
                data: b"{\"total\":10}",
            },
            &mut out,
        );
        out
    }

    #[test]
    fn envelope_round_trips() {
        // Proves every field survives encode then decode.
        let bytes = Bytes::from(sample());
        assert_eq!(bytes.len(), envelope_bytes(8, 12, true, 2, 2, 12));
        let envelope = decode(&bytes).expect("valid envelope");
        assert_eq!(envelope.kind, Kind::Event);
        assert_eq!(&envelope.stream[..], b"order-42");
        assert_eq!(&envelope.event_type[..], b"OrderCreated");
        assert_eq!(envelope.revision, 3);
        assert_eq!(envelope.timestamp_ns, 1_700_000_000_000);
        assert_eq!(
            envelope.previous_in_stream,
            Some(Location::new(Position(9), 4096))
        );
        assert_eq!(envelope.previous_in_category, None);
        assert_eq!(envelope.id, Some([7; 16]));
        let links: Vec<_> = envelope.block_links().collect();
        assert_eq!(links.len(), 2);
        assert_eq!(links[0], Location::new(Position(1), 64));
        assert_eq!(links[1], Location::new(Position(9), SAME_RECORD));
        assert_eq!(peek(&bytes), Some((&b"order-42"[..], &b"OrderCreated"[..])));
        assert_eq!(&envelope.metadata[..], b"{}");
        assert_eq!(&envelope.data[..], b"{\"total\":10}");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        // Proves a cut envelope is rejected (or decodes to a shorter data field) without panicking.
        let bytes = sample();
        for len in 0..bytes.len() {
            let cut = Bytes::copy_from_slice(&bytes[..len]);
            if let Ok(envelope) = decode(&cut) {
                assert!(envelope.data.len() < 12, "length {len}");
            }
        }
    }

    #[test]
    fn lying_lengths_are_rejected() {
        // Proves a field length pointing past the event is an error.
        let mut bytes = sample();
        bytes[2..4].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(decode(&Bytes::from(bytes)).is_err());
    }

    #[test]
    fn link_counts_that_disagree_with_the_flag_are_rejected() {
        // Proves a link block count without the flag, a flag without a count and a count
        // above the bound are each an error, never a misread of the fields after them.
        let sample = sample();
        let with_count = |flags: u16, count: u32| {
            let mut bytes = sample.clone();
            bytes[6..8].copy_from_slice(&flags.to_le_bytes());
            bytes[52..56].copy_from_slice(&count.to_le_bytes());
            decode(&Bytes::from(bytes))
        };
        assert!(with_count(FLAG_HAS_ID, 2).is_err());
        assert!(with_count(FLAG_HAS_ID | FLAG_HAS_LINKS, 0).is_err());
        assert!(with_count(FLAG_HAS_ID | FLAG_HAS_LINKS, LINK_BLOCK_MAX as u32 + 1).is_err());
        assert!(with_count(FLAG_HAS_ID | FLAG_HAS_LINKS, u32::MAX).is_err());
        assert!(with_count(FLAG_HAS_ID | FLAG_HAS_LINKS, 2).is_ok());
    }
}
