//! The 64-byte header at the start of every segment file.

use super::{crc32, read_u32, read_u64};

/// Bytes at the start of a segment that hold its header; the first record follows.
pub const SEGMENT_HEADER_BYTES: usize = 64;
/// The magic bytes that open every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"ANNALSEG";
/// The segment format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Position of the first record in the segment.
    pub first_position: u64,
    /// Identifies the log: every segment of one log carries the same epoch.
    pub epoch: u64,
    /// Size of the file when it was created.
    pub segment_bytes: u64,
}

/// Why a segment header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentHeaderError {
    /// Fewer than [`SEGMENT_HEADER_BYTES`] bytes.
    Short,
    /// The magic bytes are wrong: not a segment.
    BadMagic,
    /// A format version this code does not read.
    UnknownVersion(u32),
    /// The checksum does not match.
    BadChecksum,
}

impl SegmentHeaderError {
    /// A short phrase for error messages.
    pub fn describe(self) -> String {
        match self {
            SegmentHeaderError::Short => "segment shorter than its header".into(),
            SegmentHeaderError::BadMagic => "segment header has wrong magic bytes".into(),
            SegmentHeaderError::UnknownVersion(v) => {
                format!("segment format version {v} is not supported")
            }
            SegmentHeaderError::BadChecksum => "segment header checksum mismatch".into(),
        }
    }
}

impl SegmentHeader {
    /// Encodes the header into its 64 bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut out = [0u8; SEGMENT_HEADER_BYTES];
        out[0..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&(SEGMENT_HEADER_BYTES as u32).to_le_bytes());
        out[16..24].copy_from_slice(&self.first_position.to_le_bytes());
        out[24..32].copy_from_slice(&self.epoch.to_le_bytes());
        out[32..40].copy_from_slice(&self.segment_bytes.to_le_bytes());
        let crc = crc32(&out[0..60]);
        out[60..64].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks a header from the first bytes of a segment.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, SegmentHeaderError> {
        if bytes.len() < SEGMENT_HEADER_BYTES {
            return Err(SegmentHeaderError::Short);
        }
        if bytes[0..8] != SEGMENT_MAGIC {
            return Err(SegmentHeaderError::BadMagic);
        }
        if crc32(&bytes[0..60]) != read_u32(bytes, 60) {
            return Err(SegmentHeaderError::BadChecksum);
        }
        let version = read_u32(bytes, 8);
        if version != FORMAT_VERSION || read_u32(bytes, 12) != SEGMENT_HEADER_BYTES as u32 {
            return Err(SegmentHeaderError::UnknownVersion(version));
        }
        Ok(SegmentHeader {
            first_position: read_u64(bytes, 16),
            epoch: read_u64(bytes, 24),
            segment_bytes: read_u64(bytes, 32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        // Proves encode and decode are inverses.
        let header = SegmentHeader {
            first_position: 7,
            epoch: 0xfeed,
            segment_bytes: 1 << 20,
        };
        assert_eq!(SegmentHeader::decode(&header.encode()), Ok(header));
    }

    #[test]
    fn every_bit_flip_in_a_header_is_rejected() {
        // Proves the checksum and magic catch any single flipped bit.
        let header = SegmentHeader {
            first_position: 1,
            epoch: 2,
            segment_bytes: 3,
        }
        .encode();
        for bit in 0..SEGMENT_HEADER_BYTES * 8 {
            let mut damaged = header;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(SegmentHeader::decode(&damaged).is_err(), "bit {bit}");
        }
        assert_eq!(
            SegmentHeader::decode(&header[..10]),
            Err(SegmentHeaderError::Short)
        );
    }
}
