//! Reading an index checkpoint of format version 2, the one before the mapped table, so
//! that a store upgraded in place keeps its index — a store whose log's beginning
//! retention removed could not rebuild it. The whole index is loaded onto the heap (as
//! version 2 always was; the chains' heads stay slices of the file's mapping) and the
//! next checkpoint writes version 3. Never panics on bad input: a file that fails any
//! check is rebuilt from the log like any other unusable checkpoint.
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
//! link: u64 position, u32 record_offset
//! ```

use bytes::Bytes;

use super::chain::{Chain, LINK_GROUP};
use super::table::Section;
use super::{ChainEntry, Index};
use crate::format::envelope::{read_link, LINK_BYTES};
use crate::format::index_table::Invalid;
use crate::format::{crc32, read_u32, read_u64};

const MAGIC: [u8; 8] = *b"ANNALIDX";
pub(crate) const VERSION_2: u32 = 2;
const HEADER_BYTES: usize = 48;

/// Whether `file` says it is a version-2 checkpoint (nothing else checked).
pub(crate) fn is_version_2(file: &[u8]) -> bool {
    file.len() >= 12 && file[..8] == MAGIC && read_u32(file, 8) == VERSION_2
}

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

    fn u32(&mut self) -> Result<u32, Invalid> {
        Ok(read_u32(self.take(4)?, 0))
    }

    fn u64(&mut self) -> Result<u64, Invalid> {
        Ok(read_u64(self.take(8)?, 0))
    }

    fn name(&mut self) -> Result<Bytes, Invalid> {
        let length = self.take(2)?;
        let len = usize::from(u16::from_le_bytes([length[0], length[1]]));
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
    /// `first_seq + i × seq_step`, below `through`, and increasing; returned as their
    /// bytes in the checkpoint.
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

    fn chain(&mut self, through: u64) -> Result<Chain, Invalid> {
        let len = self.u64()?;
        let heads = self.link_bytes(0, LINK_GROUP, through)?;
        let open_start = (heads.len() / LINK_BYTES).saturating_sub(1) as u64 * LINK_GROUP;
        let open = self.link_bytes(open_start, 1, through)?;
        Chain::from_parts(len, heads, &open).ok_or(Invalid("checkpoint chain inconsistent"))
    }
}

/// Loads a version-2 checkpoint of the log `epoch` onto the heap.
pub(crate) fn load(file: &Bytes, epoch: u64) -> Result<Index, Invalid> {
    let bytes = &file[..];
    if bytes.len() < HEADER_BYTES || !is_version_2(bytes) {
        return Err(Invalid("not a version-2 checkpoint"));
    }
    if crc32(&bytes[0..44]) != read_u32(bytes, 44) {
        return Err(Invalid("checkpoint header checksum mismatch"));
    }
    if read_u64(bytes, 16) != epoch {
        return Err(Invalid("checkpoint of another log"));
    }
    if read_u64(bytes, 32) != (bytes.len() - HEADER_BYTES) as u64 {
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
    for _ in 0..cursor.count(15)? {
        let name = cursor.name()?;
        let truncate_before = cursor.u64()?;
        let deleted = cursor.u8()? != 0;
        let chain = cursor.chain(through)?;
        let entry = ChainEntry {
            name,
            chain,
            truncate_before,
            deleted,
        };
        if !index.insert_new(Section::Streams, entry) {
            return Err(Invalid("checkpoint names a stream twice"));
        }
    }
    for _ in 0..cursor.count(7)? {
        let name = cursor.name()?;
        let chain = cursor.chain(through)?;
        if !index.insert_new(Section::Categories, ChainEntry::with_chain(name, chain)) {
            return Err(Invalid("checkpoint names a category twice"));
        }
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

    /// The version-2 checkpoint of `engine/tests/fixtures/store-v2-checkpoint`.
    const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/store-v2-checkpoint/streams.idx");

    #[test]
    fn the_fixture_loads_and_every_cut_or_flip_is_refused() {
        // Proves a real version-2 checkpoint loads onto the heap with its streams and categories, and a cut anywhere or a flipped bit is refused, never half-loaded and never a panic.
        let file = Bytes::from_static(FIXTURE);
        let epoch = read_u64(FIXTURE, 16);
        let index = load(&file, epoch).expect("the fixture loads");
        assert_eq!(index.through, 602);
        assert_eq!(index.stream_count(), 12);
        let order_1 = index.stream(b"order-1").expect("order-1");
        assert_eq!(order_1.chain.last().map(|(seq, _)| seq), Some(49));
        assert!(index.stream(b"cust-7").expect("cust-7").deleted);
        assert_eq!(
            index.stream(b"order-3").expect("order-3").truncate_before,
            45
        );
        assert!(index.category(b"order").is_some());
        assert_eq!(
            load(&file, epoch + 1).err(),
            Some(Invalid("checkpoint of another log"))
        );
        for len in 0..FIXTURE.len() {
            assert!(load(&file.slice(..len), epoch).is_err(), "length {len}");
        }
        for bit in (0..FIXTURE.len() * 8).step_by(3) {
            let mut damaged = FIXTURE.to_vec();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(load(&Bytes::from(damaged), epoch).is_err(), "bit {bit}");
        }
    }
}
