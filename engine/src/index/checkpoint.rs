//! The index checkpoint: the whole stream index serialized to one checksummed file, so
//! opening a store replays only the log written after it.
//!
//! ```text
//! header (48 bytes)
//! 0   [u8; 8] magic "ANNALIDX"
//! 8   u32     version (2)
//! 12  u32     reserved, zero
//! 16  u64     epoch of the log it indexes
//! 24  u64     through: the position after the last event it covers
//! 32  u64     body_bytes
//! 40  u32     body_crc
//! 44  u32     header_crc (of bytes 0..44)
//! body
//!     u64 events_indexed, u64 last_timestamp_ns
//!     u32 streams, then per stream: u16 name_bytes, name, u64 truncate_before,
//!         u8 deleted, chain
//!     u32 categories, then per category: u16 name_bytes, name, chain
//!     u32 time entries, then per entry: u64 timestamp_ns, u64 position
//! chain: u64 events, u32 heads, then per head: link; u32 open links, then per link: link
//!     (the link of every `LINK_GROUP`-th event, then those of the open group: chain.rs)
//! link: u64 position, u32 record_offset
//! ```

use bytes::Bytes;

use super::chain::{Chain, LINK_GROUP};
use super::{CategoryEntry, Index, StreamEntry};
use crate::format::envelope::{read_link, LINK_BYTES};
use crate::format::{crc32, read_u32, read_u64};

const MAGIC: [u8; 8] = *b"ANNALIDX";
const VERSION: u32 = 2;
const HEADER_BYTES: usize = 48;

/// The checkpoint file's name in the log directory.
pub(crate) const CHECKPOINT_FILE_NAME: &str = "streams.idx";

fn put_name(out: &mut Vec<u8>, name: &[u8]) {
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name);
}

/// Serializes the index of the log `epoch`. The store holds its lock meanwhile, so this
/// writes into one buffer of `capacity_hint` bytes (the last checkpoint's size: a pass
/// to size it exactly would read every stream's entry twice), the header last.
pub(crate) fn encode(index: &Index, epoch: u64, capacity_hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity_hint.max(HEADER_BYTES));
    out.resize(HEADER_BYTES, 0);
    out.extend_from_slice(&index.events_indexed.to_le_bytes());
    out.extend_from_slice(&index.last_timestamp_ns.to_le_bytes());
    out.extend_from_slice(&(index.streams.len() as u32).to_le_bytes());
    for stream in &index.streams {
        put_name(&mut out, &stream.name);
        out.extend_from_slice(&stream.truncate_before.to_le_bytes());
        out.push(u8::from(stream.deleted));
        stream.chain.put(&mut out);
    }
    out.extend_from_slice(&(index.categories.len() as u32).to_le_bytes());
    for category in &index.categories {
        put_name(&mut out, &category.name);
        category.chain.put(&mut out);
    }
    out.extend_from_slice(&(index.time.len() as u32).to_le_bytes());
    for &(timestamp, position) in &index.time {
        out.extend_from_slice(&timestamp.to_le_bytes());
        out.extend_from_slice(&position.to_le_bytes());
    }
    let body_len = (out.len() - HEADER_BYTES) as u64;
    let body_crc = crc32(&out[HEADER_BYTES..]);
    let mut header = Vec::with_capacity(HEADER_BYTES);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&epoch.to_le_bytes());
    header.extend_from_slice(&index.through.to_le_bytes());
    header.extend_from_slice(&body_len.to_le_bytes());
    header.extend_from_slice(&body_crc.to_le_bytes());
    let header_crc = crc32(&header);
    header.extend_from_slice(&header_crc.to_le_bytes());
    out[..HEADER_BYTES].copy_from_slice(&header);
    out
}

/// Why a checkpoint was not loaded (it is then rebuilt from the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid(pub(crate) &'static str);

/// A bounds-checked cursor over the body; every read fails rather than panics.
struct Cursor<'a> {
    /// The whole checkpoint (heads are kept as slices of it).
    file: &'a Bytes,
    /// The body: `file[HEADER_BYTES..]`.
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], Invalid> {
        if self.bytes.len() - self.at < len {
            return Err(Invalid("checkpoint body ends early"));
        }
        let slice = &self.bytes[self.at..self.at + len];
        self.at += len;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, Invalid> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Invalid> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Invalid> {
        Ok(read_u32(self.take(4)?, 0))
    }

    fn u64(&mut self) -> Result<u64, Invalid> {
        Ok(read_u64(self.take(8)?, 0))
    }

    fn name(&mut self) -> Result<Bytes, Invalid> {
        let len = self.u16()? as usize;
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }

    /// A count of items each at least `item_bytes` long, checked against what is left.
    fn count(&mut self, item_bytes: usize) -> Result<usize, Invalid> {
        let count = self.u32()? as usize;
        if count.saturating_mul(item_bytes) > self.bytes.len() - self.at {
            return Err(Invalid("checkpoint count larger than its body"));
        }
        Ok(count)
    }

    /// `count` links, each at or above the position of the sequence number
    /// `first_seq + i × seq_step` (every event takes a position of its own), below
    /// `through`, and increasing; returned as their bytes in the checkpoint.
    fn link_bytes(
        &mut self,
        first_seq: u64,
        seq_step: u64,
        through: u64,
    ) -> Result<Bytes, Invalid> {
        let count = self.count(LINK_BYTES)?;
        let start = self.at;
        let bytes = self.take(count * LINK_BYTES)?;
        let mut previous: Option<u64> = None;
        for (i, link) in bytes.chunks_exact(LINK_BYTES).enumerate() {
            let position = read_link(link).position.0;
            let seq = (i as u64)
                .saturating_mul(seq_step)
                .saturating_add(first_seq);
            let increasing = previous.is_none_or(|p| p < position);
            if seq > position || position >= through || !increasing {
                return Err(Invalid("checkpoint chain link out of range or order"));
            }
            previous = Some(position);
        }
        let start = HEADER_BYTES + start;
        Ok(self.file.slice(start..start + bytes.len()))
    }

    /// A chain whose links could have been written by this log (see `link_bytes`), with
    /// one head per group and the open group's links after the last head. The heads stay
    /// in the checkpoint's bytes (not copied); the open group's are decoded.
    fn chain(&mut self, through: u64) -> Result<Chain, Invalid> {
        let len = self.u64()?;
        let heads = self.link_bytes(0, LINK_GROUP, through)?;
        let open_start = (heads.len() / LINK_BYTES).saturating_sub(1) as u64 * LINK_GROUP;
        let open = self.link_bytes(open_start, 1, through)?;
        Chain::from_parts(len, heads, &open).ok_or(Invalid("checkpoint chain inconsistent"))
    }
}

/// Decodes a checkpoint of the log `epoch`. Never panics on bad input.
pub(crate) fn decode(file: &Bytes, epoch: u64) -> Result<Index, Invalid> {
    let bytes = &file[..];
    if bytes.len() < HEADER_BYTES || bytes[0..8] != MAGIC {
        return Err(Invalid("not a checkpoint"));
    }
    if crc32(&bytes[0..44]) != read_u32(bytes, 44) {
        return Err(Invalid("checkpoint header checksum mismatch"));
    }
    if read_u32(bytes, 8) != VERSION {
        return Err(Invalid("unknown checkpoint version"));
    }
    if read_u64(bytes, 16) != epoch {
        return Err(Invalid("checkpoint of another log"));
    }
    let body_bytes = read_u64(bytes, 32);
    if body_bytes != (bytes.len() - HEADER_BYTES) as u64 {
        return Err(Invalid("checkpoint length mismatch"));
    }
    let body = &bytes[HEADER_BYTES..];
    if crc32(body) != read_u32(bytes, 40) {
        return Err(Invalid("checkpoint body checksum mismatch"));
    }
    let mut cursor = Cursor {
        file,
        bytes: body,
        at: 0,
    };
    let through = read_u64(bytes, 24);
    let mut index = Index::starting_at(through);
    index.events_indexed = cursor.u64()?;
    if index.events_indexed > through {
        return Err(Invalid("checkpoint counts more events than positions"));
    }
    index.last_timestamp_ns = cursor.u64()?;
    for id in 0..cursor.count(15)? {
        let name = cursor.name()?;
        let truncate_before = cursor.u64()?;
        let deleted = cursor.u8()? != 0;
        let chain = cursor.chain(through)?;
        if index.stream_ids.insert(name.clone(), id as u32).is_some() {
            return Err(Invalid("checkpoint names a stream twice"));
        }
        index.streams.push(StreamEntry {
            name,
            chain,
            truncate_before,
            deleted,
        });
    }
    for id in 0..cursor.count(7)? {
        let name = cursor.name()?;
        let chain = cursor.chain(through)?;
        if index.category_ids.insert(name.clone(), id as u32).is_some() {
            return Err(Invalid("checkpoint names a category twice"));
        }
        index.categories.push(CategoryEntry { name, chain });
    }
    for _ in 0..cursor.count(16)? {
        let (timestamp, position) = (cursor.u64()?, cursor.u64()?);
        if position >= through {
            return Err(Invalid("checkpoint time entry past its position"));
        }
        index.time.push((timestamp, position));
    }
    if cursor.at != body.len() {
        return Err(Invalid("checkpoint has trailing bytes"));
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::envelope::{Envelope, Kind};
    use crate::position::{Location, Position};

    fn sample_index() -> Index {
        let mut index = Index::starting_at(0);
        for position in 0..100u64 {
            let stream = format!("order-{}", position % 7);
            let revision = index
                .stream(stream.as_bytes())
                .map_or(0, |s| s.chain.next_seq());
            let envelope = Envelope {
                kind: Kind::Event,
                stream: Bytes::from(stream),
                event_type: Bytes::from_static(b"T"),
                revision,
                timestamp_ns: position * 10,
                previous_in_stream: None,
                previous_in_category: None,
                id: None,
                link_block: Bytes::new(),
                metadata: Bytes::new(),
                data: Bytes::new(),
            };
            let link = Location::new(Position(position), 64 + position as u32 * 8);
            index.apply(&envelope, link).expect("in sequence");
        }
        index
    }

    #[test]
    fn checkpoint_round_trips() {
        // Proves a decoded checkpoint holds the same streams, categories and time index.
        let index = sample_index();
        let bytes = Bytes::from(encode(&index, 77, 0));
        let decoded = decode(&bytes, 77).expect("valid checkpoint");
        assert_eq!(decoded.streams, index.streams);
        assert_eq!(decoded.categories, index.categories);
        assert_eq!(decoded.time, index.time);
        assert_eq!(decoded.through, 100);
        assert_eq!(decoded.stream_ids, index.stream_ids);
        assert_eq!(
            decode(&bytes, 78).err(),
            Some(Invalid("checkpoint of another log"))
        );
    }

    #[test]
    fn every_truncation_and_bit_flip_is_rejected() {
        // Proves a damaged checkpoint is refused (and rebuilt by the caller), never half-loaded.
        let bytes = Bytes::from(encode(&sample_index(), 1, 0));
        for len in 0..bytes.len() {
            assert!(decode(&bytes.slice(..len), 1).is_err(), "length {len}");
        }
        for bit in (0..bytes.len() * 8).step_by(7) {
            let mut damaged = bytes.to_vec();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&Bytes::from(damaged), 1).is_err(), "bit {bit}");
        }
    }
}
