//! The raw references' record: the same size as an Annal record holding one event (a
//! 40-byte header, a 4-byte length, the payload, padding to 8 bytes), without checksums.

/// Bytes of the raw record header (the same as Annal's record header).
pub const RAW_HEADER_BYTES: usize = 40;
/// Bytes of the length prefix before the payload.
pub const RAW_LENGTH_BYTES: usize = 4;

/// Bytes a raw record of a `payload_len`-byte event takes.
pub const fn raw_record_bytes(payload_len: usize) -> usize {
    (RAW_HEADER_BYTES + RAW_LENGTH_BYTES + payload_len).div_ceil(8) * 8
}

/// Appends the raw record of event `position` with `payload` to `out`.
pub fn encode_raw(out: &mut Vec<u8>, position: u64, payload: &[u8]) {
    let start = out.len();
    let total = raw_record_bytes(payload.len());
    out.extend_from_slice(&((total - RAW_HEADER_BYTES) as u32).to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&position.to_le_bytes());
    out.resize(start + RAW_HEADER_BYTES, 0);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.resize(start + total, 0);
}

/// Touches a payload the way every reader in the read benchmark does: its length and
/// its first and last bytes, folded into an accumulator the optimizer cannot drop.
#[inline]
pub fn touch(acc: u64, payload: &[u8]) -> u64 {
    let first = payload.first().copied().unwrap_or(0);
    let last = payload.last().copied().unwrap_or(0);
    acc.wrapping_mul(31)
        .wrapping_add(payload.len() as u64 ^ u64::from(first) ^ (u64::from(last) << 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_record_matches_annal_record_size() {
        // A 100-byte event is a 144-byte Annal record; the raw reference writes as much.
        assert_eq!(raw_record_bytes(100), 144);
        let mut out = Vec::new();
        encode_raw(&mut out, 7, &[1u8; 100]);
        assert_eq!(out.len(), 144);
        assert_eq!(&out[44..144], &[1u8; 100][..]);
    }
}
