//! The clean-close marker (`CLEAN` in the log directory): written by `Log::close` once
//! every record is durable, naming where the log ended; taken (removed) by the next open
//! for writing before anything can change. While it matches the last segment, the
//! segments before it were durable at the close, so the open need not scan the one
//! before the last for a torn seal (`docs/format.md`, `docs/design.md`).

use super::marker::{marker_bytes, MarkerKind};

/// The marker's file name in the log directory.
pub const CLEAN_CLOSE_MARKER_NAME: &str = "CLEAN";
/// Bytes of an encoded marker.
pub const CLEAN_CLOSE_MARKER_BYTES: usize = marker_bytes(4);
const KIND: MarkerKind = MarkerKind {
    name: "clean-close marker",
    magic: *b"ANNALCLN",
    version: 1,
};

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
        KIND.encode([
            self.epoch,
            self.last_segment_first_position,
            self.end_offset,
            self.end_position,
        ])
    }

    /// Decodes a marker, or says why the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Result<CleanClose, String> {
        let [epoch, last_segment_first_position, end_offset, end_position] = KIND.decode(bytes)?;
        Ok(CleanClose {
            epoch,
            last_segment_first_position,
            end_offset,
            end_position,
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
