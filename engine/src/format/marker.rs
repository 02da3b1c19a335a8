//! The layout the log directory's small marker files share (`TRUNCATE`, `CLEAN`): an
//! 8-byte magic, a u32 version, 4 zero bytes, the marker's u64 fields, a CRC-32 of all
//! of that, 4 zero bytes; little-endian (`docs/format.md`).

use super::{crc32, read_u32, read_u64};

/// One kind of marker file.
pub(crate) struct MarkerKind {
    /// What its errors call it ("truncation marker").
    pub name: &'static str,
    /// The magic bytes that open it.
    pub magic: [u8; 8],
    /// The version this code writes and reads.
    pub version: u32,
}

/// Bytes of a marker holding `fields` u64 fields.
pub(crate) const fn marker_bytes(fields: usize) -> usize {
    16 + 8 * fields + 8
}

impl MarkerKind {
    /// The bytes of a marker of this kind holding `fields`; `BYTES` must be
    /// `marker_bytes(N)` (checked at compile time).
    pub(crate) fn encode<const N: usize, const BYTES: usize>(
        &self,
        fields: [u64; N],
    ) -> [u8; BYTES] {
        const { assert!(BYTES == marker_bytes(N)) };
        let mut bytes = [0u8; BYTES];
        bytes[0..8].copy_from_slice(&self.magic);
        bytes[8..12].copy_from_slice(&self.version.to_le_bytes());
        for (k, field) in fields.iter().enumerate() {
            bytes[16 + 8 * k..24 + 8 * k].copy_from_slice(&field.to_le_bytes());
        }
        let crc_at = 16 + 8 * N;
        let crc = crc32(&bytes[..crc_at]);
        bytes[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// The `N` fields of a marker of this kind, or why `bytes` are not one.
    pub(crate) fn decode<const N: usize>(&self, bytes: &[u8]) -> Result<[u64; N], String> {
        let crc_at = 16 + 8 * N;
        let problem = if bytes.len() != marker_bytes(N) {
            "has the wrong length"
        } else if bytes[0..8] != self.magic {
            "has a bad magic"
        } else if read_u32(bytes, crc_at) != crc32(&bytes[..crc_at]) {
            "fails its checksum"
        } else if read_u32(bytes, 8) != self.version {
            "has an unknown version"
        } else if read_u32(bytes, 12) != 0 || read_u32(bytes, crc_at + 4) != 0 {
            "has non-zero reserved bytes"
        } else {
            return Ok(std::array::from_fn(|k| read_u64(bytes, 16 + 8 * k)));
        };
        Err(format!("{} {problem}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: MarkerKind = MarkerKind {
        name: "test marker",
        magic: *b"ANNALTST",
        version: 7,
    };

    #[test]
    fn the_bytes_are_laid_out_as_docs_format_says() {
        // Proves each part sits at its documented offset, and that decode reads them back.
        let bytes: [u8; 40] = KIND.encode([0x0102_0304_0506_0708, 42]);
        assert_eq!(&bytes[0..8], b"ANNALTST");
        assert_eq!(read_u32(&bytes, 8), 7);
        assert_eq!(read_u32(&bytes, 12), 0);
        assert_eq!(read_u64(&bytes, 16), 0x0102_0304_0506_0708);
        assert_eq!(read_u64(&bytes, 24), 42);
        assert_eq!(read_u32(&bytes, 32), crc32(&bytes[..32]));
        assert_eq!(read_u32(&bytes, 36), 0);
        assert_eq!(KIND.decode::<2>(&bytes), Ok([0x0102_0304_0506_0708, 42]));
    }

    #[test]
    fn every_problem_is_named_with_the_marker() {
        // Proves a short marker, a bad magic, a bad checksum, another version and set reserved bytes each give their own error.
        let good: [u8; 32] = KIND.encode([9]);
        assert_eq!(
            KIND.decode::<1>(&good[..31]),
            Err("test marker has the wrong length".to_string())
        );
        let mut bad = good;
        bad[0] ^= 1;
        assert_eq!(
            KIND.decode::<1>(&bad),
            Err("test marker has a bad magic".into())
        );
        let mut bad = good;
        bad[16] ^= 1;
        assert_eq!(
            KIND.decode::<1>(&bad),
            Err("test marker fails its checksum".into())
        );
        let other = MarkerKind { version: 8, ..KIND };
        let newer: [u8; 32] = other.encode([9]);
        assert_eq!(
            KIND.decode::<1>(&newer),
            Err("test marker has an unknown version".into())
        );
        let mut bad = good;
        bad[28] = 1;
        assert_eq!(
            KIND.decode::<1>(&bad),
            Err("test marker has non-zero reserved bytes".into())
        );
    }
}
