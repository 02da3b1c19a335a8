//! The index checkpoint's encoding (`streams.idx`, version 3): an immutable table that
//! the index searches in place through a read-only mapping, so opening a store decodes
//! nothing per stream. Pure: byte layouts, the name hash and the header checks; the
//! table's searching and validation are in `index/table.rs`. `docs/format.md` is the
//! specification.
//!
//! ```text
//! header (112 bytes)
//! 0   [u8; 8] magic "ANNALIDX"
//! 8   u32     version (3)
//! 12  u32     reserved, zero
//! 16  u64     epoch of the log it indexes
//! 24  u64     through: the position after the last event it covers
//! 32  u64     events indexed
//! 40  u64     last timestamp (ns)
//! 48  u64     time entries
//! 56  u64     streams
//! 64  u64     categories
//! 72  u64     stream records' bytes
//! 80  u64     category records' bytes
//! 88  u8      stream directory bits, u8 category directory bits, 6 bytes zero
//! 96  u64     file bytes
//! 104 u32     CRC-32 of bytes 112..file bytes
//! 108 u32     CRC-32 of bytes 0..108
//! body
//!     time entries × (u64 timestamp_ns, u64 position)
//!     stream records, then category records (in slot order, back to back)
//!     stream slots × (u64 name hash, u64 record offset in the file), sorted by
//!         (hash, name); stream directory: 2^bits + 1 × u32, entry k = the first slot
//!         whose hash's top `bits` bits are ≥ k
//!     category slots, category directory (the same)
//! record: u16 name bytes, u8 deleted, u8 open links, u32 heads, u64 events,
//!     u64 truncate-before, name, heads × link, open links × link
//! link: u64 position, u32 record offset
//! ```

use super::{crc32, read_u16, read_u32, read_u64};

pub(crate) const MAGIC: [u8; 8] = *b"ANNALIDX";
pub(crate) const VERSION: u32 = 3;
pub(crate) const HEADER_BYTES: usize = 112;
/// A record's fixed part, before the name.
pub(crate) const RECORD_FIXED_BYTES: usize = 24;
pub(crate) const SLOT_BYTES: usize = 16;
pub(crate) const TIME_ENTRY_BYTES: usize = 16;
/// The most directory bits (a directory of 2^30 + 1 entries, 4 GiB).
pub(crate) const DIRECTORY_BITS_MAX: u8 = 30;

/// The table's name hash: a fixed function (the file outlives any process's hasher
/// seed), 8 bytes at a time with a multiply-xorshift step, then the splitmix64
/// finalizer. Names that collide cost comparisons of their bytes, never a wrong match:
/// slots are ordered by (hash, name) and searched by both.
pub(crate) fn name_hash(name: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut hash = (name.len() as u64).wrapping_mul(K) ^ 0x2545_F491_4F6C_DD1D;
    let mut step = |word: u64| {
        hash = (hash ^ word).wrapping_mul(K);
        hash ^= hash >> 29;
    };
    let mut chunks = name.chunks_exact(8);
    for chunk in &mut chunks {
        step(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        step(u64::from_le_bytes(word));
    }
    let mut z = hash;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Directory bits for `count` slots: about two slots per bucket.
pub(crate) fn directory_bits(count: u64) -> u8 {
    if count <= 2 {
        return 0;
    }
    let bits = 64 - (count - 1).leading_zeros() as u8 - 1;
    bits.min(DIRECTORY_BITS_MAX)
}

/// The directory bucket of `hash`.
pub(crate) fn bucket(hash: u64, bits: u8) -> usize {
    if bits == 0 {
        0
    } else {
        (hash >> (64 - u32::from(bits))) as usize
    }
}

/// The header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Header {
    pub(crate) epoch: u64,
    pub(crate) through: u64,
    pub(crate) events_indexed: u64,
    pub(crate) last_timestamp_ns: u64,
    pub(crate) time_entries: u64,
    pub(crate) streams: u64,
    pub(crate) categories: u64,
    pub(crate) stream_records_bytes: u64,
    pub(crate) category_records_bytes: u64,
    pub(crate) stream_directory_bits: u8,
    pub(crate) category_directory_bits: u8,
    pub(crate) file_bytes: u64,
    pub(crate) body_crc: u32,
}

/// Why a checkpoint is not used (it is then rebuilt from the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid(pub(crate) &'static str);

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        let words = [
            self.epoch,
            self.through,
            self.events_indexed,
            self.last_timestamp_ns,
            self.time_entries,
            self.streams,
            self.categories,
            self.stream_records_bytes,
            self.category_records_bytes,
        ];
        for (i, word) in words.iter().enumerate() {
            out[16 + i * 8..24 + i * 8].copy_from_slice(&word.to_le_bytes());
        }
        out[88] = self.stream_directory_bits;
        out[89] = self.category_directory_bits;
        out[96..104].copy_from_slice(&self.file_bytes.to_le_bytes());
        out[104..108].copy_from_slice(&self.body_crc.to_le_bytes());
        let header_crc = crc32(&out[..108]);
        out[108..112].copy_from_slice(&header_crc.to_le_bytes());
        out
    }

    /// The header of `file`, checked: magic, checksum, version, reserved bytes zero.
    pub(crate) fn parse(file: &[u8]) -> Result<Header, Invalid> {
        if file.len() < 8 || file[..8] != MAGIC {
            return Err(Invalid("not a checkpoint"));
        }
        // Version 2 had a 48-byte header: its version is read before the length check,
        // so an old file is reported as such.
        if file.len() >= 12 && read_u32(file, 8) != VERSION {
            return Err(Invalid("unknown checkpoint version"));
        }
        if file.len() < HEADER_BYTES {
            return Err(Invalid("checkpoint shorter than its header"));
        }
        if crc32(&file[..108]) != read_u32(file, 108) {
            return Err(Invalid("checkpoint header checksum mismatch"));
        }
        if read_u32(file, 12) != 0 || file[90..96].iter().any(|&b| b != 0) {
            return Err(Invalid("checkpoint reserved bytes not zero"));
        }
        let word = |i: usize| read_u64(file, 16 + i * 8);
        Ok(Header {
            epoch: word(0),
            through: word(1),
            events_indexed: word(2),
            last_timestamp_ns: word(3),
            time_entries: word(4),
            streams: word(5),
            categories: word(6),
            stream_records_bytes: word(7),
            category_records_bytes: word(8),
            stream_directory_bits: file[88],
            category_directory_bits: file[89],
            file_bytes: read_u64(file, 96),
            body_crc: read_u32(file, 104),
        })
    }

    /// Where each part of the body lies, if the counts fit the file exactly.
    pub(crate) fn sections(&self) -> Result<Sections, Invalid> {
        let too_big = Invalid("checkpoint sections do not fit its length");
        let mut at = HEADER_BYTES as u64;
        let mut take = |bytes: Option<u64>| -> Result<(usize, usize), Invalid> {
            let bytes = bytes.ok_or(too_big)?;
            let start = at;
            at = at.checked_add(bytes).ok_or(too_big)?;
            if at > self.file_bytes {
                return Err(too_big);
            }
            Ok((start as usize, at as usize))
        };
        let directory = |bits: u8| -> Option<u64> {
            (bits <= DIRECTORY_BITS_MAX).then(|| ((1u64 << bits) + 1) * 4)
        };
        let time = take(self.time_entries.checked_mul(TIME_ENTRY_BYTES as u64))?;
        let stream_records = take(Some(self.stream_records_bytes))?;
        let category_records = take(Some(self.category_records_bytes))?;
        let stream_slots = take(self.streams.checked_mul(SLOT_BYTES as u64))?;
        let stream_directory = take(directory(self.stream_directory_bits))?;
        let category_slots = take(self.categories.checked_mul(SLOT_BYTES as u64))?;
        let category_directory = take(directory(self.category_directory_bits))?;
        if at != self.file_bytes {
            return Err(Invalid("checkpoint has trailing bytes"));
        }
        Ok(Sections {
            time,
            streams: SectionRanges {
                records: stream_records,
                slots: stream_slots,
                directory: stream_directory,
                bits: self.stream_directory_bits,
            },
            categories: SectionRanges {
                records: category_records,
                slots: category_slots,
                directory: category_directory,
                bits: self.category_directory_bits,
            },
        })
    }
}

/// Byte ranges (start, end) of one table (streams or categories) in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SectionRanges {
    pub(crate) records: (usize, usize),
    pub(crate) slots: (usize, usize),
    pub(crate) directory: (usize, usize),
    pub(crate) bits: u8,
}

/// Byte ranges of the body's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Sections {
    pub(crate) time: (usize, usize),
    pub(crate) streams: SectionRanges,
    pub(crate) categories: SectionRanges,
}

/// A record's fields, its links still as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordView<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) deleted: bool,
    pub(crate) events: u64,
    pub(crate) truncate_before: u64,
    /// `LINK_BYTES` per head.
    pub(crate) heads: &'a [u8],
    /// `LINK_BYTES` per link of the open group.
    pub(crate) open: &'a [u8],
    /// The record's whole bytes.
    pub(crate) bytes: &'a [u8],
}

/// The record at the start of `bytes`, if it fits; `None` when it does not.
pub(crate) fn parse_record(bytes: &[u8]) -> Option<RecordView<'_>> {
    use super::envelope::LINK_BYTES;
    let fixed = bytes.get(..RECORD_FIXED_BYTES)?;
    let name_bytes = usize::from(read_u16(fixed, 0));
    let deleted = match fixed[2] {
        0 => false,
        1 => true,
        _ => return None,
    };
    let open_links = usize::from(fixed[3]);
    let heads = read_u32(fixed, 4) as usize;
    let name_end = RECORD_FIXED_BYTES + name_bytes;
    let heads_end = name_end.checked_add(heads.checked_mul(LINK_BYTES)?)?;
    let end = heads_end.checked_add(open_links * LINK_BYTES)?;
    let bytes = bytes.get(..end)?;
    Some(RecordView {
        name: &bytes[RECORD_FIXED_BYTES..name_end],
        deleted,
        events: read_u64(fixed, 8),
        truncate_before: read_u64(fixed, 16),
        heads: &bytes[name_end..heads_end],
        open: &bytes[heads_end..end],
        bytes,
    })
}

/// The bytes of a record with these fields (links as `LINK_BYTES` each).
pub(crate) fn record_bytes(name: &[u8], heads: usize, open: usize) -> usize {
    use super::envelope::LINK_BYTES;
    RECORD_FIXED_BYTES + name.len() + (heads + open) * LINK_BYTES
}

/// Writes a record's fixed part and name; the caller appends the heads and open links.
pub(crate) fn put_record_start(
    out: &mut Vec<u8>,
    record: &RecordView<'_>,
    heads: usize,
    open: usize,
) {
    out.extend_from_slice(&(record.name.len() as u16).to_le_bytes());
    out.push(u8::from(record.deleted));
    out.push(open as u8);
    out.extend_from_slice(&(heads as u32).to_le_bytes());
    out.extend_from_slice(&record.events.to_le_bytes());
    out.extend_from_slice(&record.truncate_before.to_le_bytes());
    out.extend_from_slice(record.name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_every_damage_is_refused() {
        // Proves a header encodes and parses to itself, an old version is named as such, and a flipped bit anywhere in it is refused.
        let header = Header {
            epoch: 7,
            through: 1_000,
            events_indexed: 990,
            last_timestamp_ns: 5,
            time_entries: 1,
            streams: 3,
            categories: 1,
            stream_records_bytes: 99,
            category_records_bytes: 40,
            stream_directory_bits: 1,
            category_directory_bits: 0,
            file_bytes: 4096,
            body_crc: 0xdead_beef,
        };
        let bytes = header.encode();
        assert_eq!(Header::parse(&bytes), Ok(header));
        for bit in 0..HEADER_BYTES * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(Header::parse(&damaged).is_err(), "bit {bit}");
        }
        let mut old = bytes;
        old[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            Header::parse(&old[..48]),
            Err(Invalid("unknown checkpoint version"))
        );
        for len in 0..HEADER_BYTES {
            assert!(Header::parse(&bytes[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn sections_must_fill_the_file_exactly() {
        // Proves counts that overflow, overrun or fall short of the file length are refused.
        let mut header = Header {
            streams: 2,
            stream_records_bytes: 60,
            stream_directory_bits: 0,
            ..Header::default()
        };
        let exact = HEADER_BYTES as u64 + 60 + 32 + 8 + 8;
        header.file_bytes = exact;
        let sections = header.sections().expect("exact");
        assert_eq!(sections.streams.slots, (172, 204));
        header.file_bytes = exact + 1;
        assert!(header.sections().is_err());
        header.file_bytes = exact - 1;
        assert!(header.sections().is_err());
        header.file_bytes = u64::MAX;
        header.streams = u64::MAX / 4;
        assert!(header.sections().is_err());
        header.streams = 2;
        header.stream_directory_bits = DIRECTORY_BITS_MAX + 1;
        assert!(header.sections().is_err());
    }

    #[test]
    fn the_name_hash_is_fixed_and_spreads_similar_names() {
        // Proves the hash is a fixed function (the file's order depends on it) and that sequential names fill the directory's buckets evenly.
        assert_eq!(name_hash(b""), name_hash(b""));
        assert_ne!(name_hash(b"order-1"), name_hash(b"order-2"));
        assert_ne!(name_hash(b"a"), name_hash(b"a\0"));
        let bits = directory_bits(100_000);
        assert_eq!(bits, 16);
        let mut buckets = vec![0u32; 1 << bits];
        for i in 0..100_000 {
            buckets[bucket(name_hash(format!("order-{i}").as_bytes()), bits)] += 1;
        }
        let fullest = buckets.iter().max().copied().unwrap_or(0);
        assert!(fullest <= 16, "a bucket holds {fullest} of 100 000 names");
        assert_eq!(directory_bits(0), 0);
        assert_eq!(directory_bits(3), 1);
        assert_eq!(directory_bits(1 << 20), 19);
    }

    #[test]
    fn records_parse_only_when_whole() {
        // Proves a record parses back to its fields and a cut or a bad flag is refused, never read past.
        let view = RecordView {
            name: b"order-1",
            deleted: true,
            events: 9,
            truncate_before: 3,
            heads: &[],
            open: &[],
            bytes: &[],
        };
        let mut out = Vec::new();
        put_record_start(&mut out, &view, 2, 1);
        out.extend_from_slice(&[1u8; 36]);
        let parsed = parse_record(&out).expect("whole");
        assert_eq!(parsed.name, b"order-1");
        assert!(parsed.deleted);
        assert_eq!((parsed.events, parsed.truncate_before), (9, 3));
        assert_eq!((parsed.heads.len(), parsed.open.len()), (24, 12));
        assert_eq!(parsed.bytes.len(), record_bytes(b"order-1", 2, 1));
        for len in 0..out.len() {
            assert!(parse_record(&out[..len]).is_none(), "length {len}");
        }
        out[2] = 2;
        assert!(parse_record(&out).is_none());
    }
}
