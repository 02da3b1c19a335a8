//! The clean-close marker (`CLEAN` in the log directory): written by `Log::close` once
//! every record is durable, naming where the log ended; taken (removed) by the next open
//! for writing before anything can change. While it matches the last segment, the
//! segments before it were durable at the close, so the open need not scan the one
//! before the last for a torn seal (`docs/format.md`, `docs/design.md`).

use super::{crc32, read_u32, read_u64};

/// The marker's file name in the log directory.
pub const CLEAN_CLOSE_MARKER_NAME: &str = "CLEAN";
/// Bytes of an encoded marker.
pub const CLEAN_CLOSE_MARKER_BYTES: usize = 56;
/// The magic bytes that open a marker.
pub const CLEAN_CLOSE_MARKER_MAGIC: [u8; 8] = *b"ANNALCLN";
/// The marker format version this code writes and reads.
pub const CLEAN_CLOSE_MARKER_VERSION: u32 = 1;

/// A decoded clean-close marker: where the log ended when it was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanClose {
    /// The epoch of the log it belongs to.
    pub epoch: u64,
    /// The first position of the last segment (its file name).
    pub last_segment_first_position: u64,
    /// The offset in that segment where its records ended (after the seal, if sealed).
    pub end_offset: u64,
    /// The position after the last event.
    pub end_position: u64,
}

impl CleanClose {
    /// The marker's bytes.
    pub fn encode(&self) -> [u8; CLEAN_CLOSE_MARKER_BYTES] {
        let mut bytes = [0u8; CLEAN_CLOSE_MARKER_BYTES];
        bytes[0..8].copy_from_slice(&CLEAN_CLOSE_MARKER_MAGIC);
        bytes[8..12].copy_from_slice(&CLEAN_CLOSE_MARKER_VERSION.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.epoch.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.last_segment_first_position.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.end_offset.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.end_position.to_le_bytes());
        let crc = crc32(&bytes[0..48]);
        bytes[48..52].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes a marker, or says why the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Result<CleanClose, &'static str> {
        if bytes.len() != CLEAN_CLOSE_MARKER_BYTES {
            return Err("clean-close marker has the wrong length");
        }
        if bytes[0..8] != CLEAN_CLOSE_MARKER_MAGIC {
            return Err("clean-close marker has a bad magic");
        }
        if read_u32(bytes, 48) != crc32(&bytes[0..48]) {
            return Err("clean-close marker fails its checksum");
        }
        if read_u32(bytes, 8) != CLEAN_CLOSE_MARKER_VERSION {
            return Err("clean-close marker has an unknown version");
        }
        if read_u32(bytes, 12) != 0 || read_u32(bytes, 52) != 0 {
            return Err("clean-close marker has non-zero reserved bytes");
        }
        Ok(CleanClose {
            epoch: read_u64(bytes, 16),
            last_segment_first_position: read_u64(bytes, 24),
            end_offset: read_u64(bytes, 32),
            end_position: read_u64(bytes, 40),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_round_trips_and_any_flipped_byte_is_rejected() {
        // Proves decode inverts encode and that damage anywhere in the marker, or a short one, is refused.
        let marker = CleanClose {
            epoch: 0xfeed,
            last_segment_first_position: 1000,
            end_offset: 4096,
            end_position: 1234,
        };
        let bytes = marker.encode();
        assert_eq!(CleanClose::decode(&bytes), Ok(marker));
        for at in 0..CLEAN_CLOSE_MARKER_BYTES {
            let mut damaged = bytes;
            damaged[at] ^= 0x10;
            assert!(CleanClose::decode(&damaged).is_err(), "byte {at}");
        }
        assert!(CleanClose::decode(&bytes[..55]).is_err());
        assert!(CleanClose::decode(&[]).is_err());
    }
}
