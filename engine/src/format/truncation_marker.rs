//! The truncation marker (`TRUNCATE` in the log directory): the durable intent of a
//! suffix truncation (`Log::truncate_from`). While it exists, the log ends before its
//! position: recovery finishes the cut before anything else (`docs/format.md`).

use super::marker::{marker_bytes, MarkerKind};

/// The marker's file name in the log directory.
pub const TRUNCATION_MARKER_NAME: &str = "TRUNCATE";
/// Bytes of an encoded marker.
pub const TRUNCATION_MARKER_BYTES: usize = marker_bytes(2);
const KIND: MarkerKind = MarkerKind {
    name: "truncation marker",
    magic: *b"ANNALTRC",
    version: 1,
};

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
        KIND.encode([self.epoch, self.cut_position])
    }

    /// Decodes a marker, or says why the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Result<TruncationMarker, String> {
        let [epoch, cut_position] = KIND.decode(bytes)?;
        Ok(TruncationMarker {
            epoch,
            cut_position,
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
