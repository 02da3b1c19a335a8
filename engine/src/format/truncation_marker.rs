//! The truncation marker (`TRUNCATE` in the log directory): the durable intent of a
//! suffix truncation (`Log::truncate_from`). While it exists, the log ends before its
//! position: recovery finishes the cut before anything else (`docs/format.md`).

use super::{crc32, read_u32, read_u64};

/// The marker's file name in the log directory.
pub const TRUNCATION_MARKER_NAME: &str = "TRUNCATE";
/// Bytes of an encoded marker.
pub const TRUNCATION_MARKER_BYTES: usize = 40;
/// The magic bytes that open a marker.
pub const TRUNCATION_MARKER_MAGIC: [u8; 8] = *b"ANNALTRC";
/// The marker format version this code writes and reads.
pub const TRUNCATION_MARKER_VERSION: u32 = 1;

/// A decoded truncation marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruncationMarker {
    /// The epoch of the log it belongs to.
    pub epoch: u64,
    /// The first position removed: the log ends before it.
    pub cut_position: u64,
}

impl TruncationMarker {
    /// The marker's bytes.
    pub fn encode(&self) -> [u8; TRUNCATION_MARKER_BYTES] {
        let mut bytes = [0u8; TRUNCATION_MARKER_BYTES];
        bytes[0..8].copy_from_slice(&TRUNCATION_MARKER_MAGIC);
        bytes[8..12].copy_from_slice(&TRUNCATION_MARKER_VERSION.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.epoch.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.cut_position.to_le_bytes());
        let crc = crc32(&bytes[0..32]);
        bytes[32..36].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes a marker, or says why the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Result<TruncationMarker, &'static str> {
        if bytes.len() != TRUNCATION_MARKER_BYTES {
            return Err("truncation marker has the wrong length");
        }
        if bytes[0..8] != TRUNCATION_MARKER_MAGIC {
            return Err("truncation marker has a bad magic");
        }
        if read_u32(bytes, 32) != crc32(&bytes[0..32]) {
            return Err("truncation marker fails its checksum");
        }
        if read_u32(bytes, 8) != TRUNCATION_MARKER_VERSION {
            return Err("truncation marker has an unknown version");
        }
        if read_u32(bytes, 12) != 0 || read_u32(bytes, 36) != 0 {
            return Err("truncation marker has non-zero reserved bytes");
        }
        Ok(TruncationMarker {
            epoch: read_u64(bytes, 16),
            cut_position: read_u64(bytes, 24),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_round_trips_and_any_flipped_byte_is_rejected() {
        // Proves decode inverts encode and that damage anywhere in the marker is refused.
        let marker = TruncationMarker {
            epoch: 0xfeed,
            cut_position: 1234,
        };
        let bytes = marker.encode();
        assert_eq!(TruncationMarker::decode(&bytes), Ok(marker));
        for at in 0..TRUNCATION_MARKER_BYTES {
            let mut damaged = bytes;
            damaged[at] ^= 0x10;
            assert!(TruncationMarker::decode(&damaged).is_err(), "byte {at}");
        }
        assert!(TruncationMarker::decode(&bytes[..39]).is_err());
    }
}
