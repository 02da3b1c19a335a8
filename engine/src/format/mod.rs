//! The on-disk format: segment headers, record frames and their extensions, the event
//! envelope, consumer checkpoint slots, the index checkpoint table. Pure encoding and decoding, no I/O; `docs/format.md` is the byte-level specification this code implements.

use std::sync::OnceLock;

pub(crate) mod clean_close;
pub mod consumer_checkpoint;
pub mod envelope;
pub mod extension;
pub(crate) mod index_table;
pub(crate) mod marker;
pub mod record;
pub mod segment_header;
pub mod truncation_marker;

/// Every record starts at a multiple of this many bytes from the start of the segment.
pub const ALIGNMENT_BYTES: usize = 8;

/// Rounds `len` up to the record alignment.
pub const fn align_up(len: usize) -> usize {
    (len + ALIGNMENT_BYTES - 1) & !(ALIGNMENT_BYTES - 1)
}

/// Segment file name for a segment whose first position is `first_position`.
pub fn segment_file_name(first_position: u64) -> String {
    format!("{first_position:020}.log")
}

/// The first position encoded in a segment file name, or `None` if it is not one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// CRC-32 (IEEE) of `bytes`. `crc32fast::hash` detects CPU features on every call; a
/// hasher cloned from one detected once skips that on the hot path.
pub fn crc32(bytes: &[u8]) -> u32 {
    static TEMPLATE: OnceLock<crc32fast::Hasher> = OnceLock::new();
    let mut hasher = TEMPLATE.get_or_init(crc32fast::Hasher::new).clone();
    hasher.update(bytes);
    hasher.finalize()
}

/// CRC-32 of the log's epoch (8 bytes, little-endian) followed by `bytes`: a record
/// header checksum that only validates in the log that wrote it, so a record copied into
/// another log's event payload is never mistaken for one of its own.
pub fn crc32_salted(epoch: u64, bytes: &[u8]) -> u32 {
    static TEMPLATE: OnceLock<crc32fast::Hasher> = OnceLock::new();
    let mut hasher = TEMPLATE.get_or_init(crc32fast::Hasher::new).clone();
    hasher.update(&epoch.to_le_bytes());
    hasher.update(bytes);
    hasher.finalize()
}

pub(crate) fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

pub(crate) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

pub(crate) fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_reject_strangers() {
        // Proves segment names sort by position and only exact names parse.
        assert_eq!(segment_file_name(42), "00000000000000000042.log");
        assert_eq!(
            parse_segment_file_name("00000000000000000042.log"),
            Some(42)
        );
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_segment_file_name("42.log"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004x.log"), None);
        assert_eq!(parse_segment_file_name("00000000000000000042.tmp"), None);
        assert_eq!(parse_segment_file_name("99999999999999999999.log"), None);
        assert!(segment_file_name(9) < segment_file_name(10));
    }

    #[test]
    fn crc32_matches_the_reference_implementation() {
        // Proves the cached-hasher CRC equals crc32fast's on short and long inputs.
        for len in [0usize, 1, 36, 104, 127, 128, 129, 4096] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            assert_eq!(crc32(&bytes), crc32fast::hash(&bytes), "len {len}");
        }
    }

    #[test]
    fn salted_crc_is_the_crc_of_salt_then_bytes() {
        // Proves the salted CRC equals crc32fast over the epoch's bytes then the input, short and long.
        let epoch = 0x0123_4567_89ab_cdefu64;
        for len in [0usize, 1, 36, 56, 57, 200] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
            let mut whole = epoch.to_le_bytes().to_vec();
            whole.extend_from_slice(&bytes);
            assert_eq!(
                crc32_salted(epoch, &bytes),
                crc32fast::hash(&whole),
                "len {len}"
            );
        }
    }

    #[test]
    fn align_up_rounds_to_eight() {
        // Proves records land on 8-byte boundaries.
        assert_eq!(align_up(0), 0);
        assert_eq!(align_up(1), 8);
        assert_eq!(align_up(8), 8);
        assert_eq!(align_up(141), 144);
    }
}
