//! The record frame: one appended batch of events, checksummed, 8-byte aligned.
//!
//! ```text
//! 0   u32 body_bytes     length of the body; 0 here (an all-zero word) marks the end of the log
//! 4   u32 event_count    events in the body (0 for a seal record)
//! 8   u64 position       position of the first event
//! 16  u64 synced_before  every position below this was durable when the record was written
//! 24  u16 flags          bit 0: seal (the segment holds no more records)
//! 26  u16 reserved       zero
//! 28  u32 body_crc       crc32 of the body
//! 32  u32 extension_bytes the body's last bytes that are the record's extension, not events
//! 36  u32 header_crc     crc32 of the log's epoch (u64) then bytes 0..36
//! 40  body               event_count × (u32 length, payload), then the extension;
//!                        a seal's body is u64 position
//!     padding            zeros up to the next multiple of 8
//! ```

use super::{align_up, crc32, crc32_salted, read_u16, read_u32, read_u64, ALIGNMENT_BYTES};

/// Bytes of a record header.
pub const RECORD_HEADER_BYTES: usize = 40;
/// Bytes of the length prefix before each event's payload.
pub const EVENT_LENGTH_BYTES: usize = 4;
/// Bytes of a seal record's body.
pub const SEAL_BODY_BYTES: usize = 8;
/// Bytes a seal record occupies; the writer always keeps this much room at a segment's end.
pub const SEAL_RECORD_BYTES: usize = align_up(RECORD_HEADER_BYTES + SEAL_BODY_BYTES);
/// Flag bit: this record seals its segment.
pub const FLAG_SEAL: u16 = 1;
const FLAGS_KNOWN: u16 = FLAG_SEAL;

/// A decoded, checksum-verified record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Length of the body in bytes (without padding).
    pub body_bytes: u32,
    /// Number of events in the body.
    pub event_count: u32,
    /// Position of the first event (for a seal: the position the next segment starts at).
    pub position: u64,
    /// Every position below this was synced when the record was written.
    pub synced_before: u64,
    /// Flag bits.
    pub flags: u16,
    /// crc32 of the body.
    pub body_crc: u32,
    /// The last bytes of the body that are the record's extension (data about the
    /// record, such as a consumer checkpoint committed with it), not events.
    pub extension_bytes: u32,
}

impl RecordHeader {
    /// Bytes the whole record occupies, padding included.
    pub fn record_bytes(&self) -> usize {
        align_up(RECORD_HEADER_BYTES + self.body_bytes as usize)
    }

    /// Whether this record seals its segment.
    pub fn is_seal(&self) -> bool {
        self.flags & FLAG_SEAL != 0
    }

    /// Bytes of the body that hold events (the body without its extension).
    pub fn events_bytes(&self) -> usize {
        (self.body_bytes - self.extension_bytes) as usize
    }

    /// The position after the last event of this record.
    pub fn end_position(&self) -> u64 {
        self.position + u64::from(self.event_count)
    }

    fn encode_into(&self, epoch: u64, out: &mut [u8]) {
        self.encode_fields(out);
        let crc = crc32_salted(epoch, &out[0..36]);
        out[36..40].copy_from_slice(&crc.to_le_bytes());
    }

    /// Bytes 0..36: every field but the header checksum.
    fn encode_fields(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.body_bytes.to_le_bytes());
        out[4..8].copy_from_slice(&self.event_count.to_le_bytes());
        out[8..16].copy_from_slice(&self.position.to_le_bytes());
        out[16..24].copy_from_slice(&self.synced_before.to_le_bytes());
        out[24..26].copy_from_slice(&self.flags.to_le_bytes());
        out[26..28].copy_from_slice(&0u16.to_le_bytes());
        out[28..32].copy_from_slice(&self.body_crc.to_le_bytes());
        out[32..36].copy_from_slice(&self.extension_bytes.to_le_bytes());
    }
}

/// What the bytes at a record boundary hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// An all-zero word: nothing was written here.
    End,
    /// A record whose header checks out and whose bytes fit in the input.
    Record(RecordHeader),
}

/// Why the bytes at a record boundary are not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The header or the record runs past the end of the input.
    Truncated,
    /// The header checksum does not match.
    HeaderChecksum,
    /// The header's fields contradict each other (reserved bits, lengths, counts).
    Malformed,
    /// The body checksum does not match.
    BodyChecksum,
}

impl FrameError {
    /// A short phrase for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            FrameError::Truncated => "record runs past the end of the segment",
            FrameError::HeaderChecksum => "record header checksum mismatch",
            FrameError::Malformed => "record header fields are inconsistent",
            FrameError::BodyChecksum => "record body checksum mismatch",
        }
    }
}

/// Decodes the frame at the start of `bytes` (everything from the record boundary to the
/// end of the readable area) of a log whose epoch is `epoch`. Never trusts a length
/// before the header checksum passed.
pub fn decode_header(bytes: &[u8], epoch: u64) -> Result<Frame, FrameError> {
    if bytes.len() < 8 {
        return if bytes.iter().all(|&b| b == 0) {
            Ok(Frame::End)
        } else {
            Err(FrameError::Truncated)
        };
    }
    if read_u64(bytes, 0) == 0 {
        return Ok(Frame::End);
    }
    if bytes.len() < RECORD_HEADER_BYTES {
        return Err(FrameError::Truncated);
    }
    if crc32_salted(epoch, &bytes[0..36]) != read_u32(bytes, 36) {
        return Err(FrameError::HeaderChecksum);
    }
    let header = RecordHeader {
        body_bytes: read_u32(bytes, 0),
        event_count: read_u32(bytes, 4),
        position: read_u64(bytes, 8),
        synced_before: read_u64(bytes, 16),
        flags: read_u16(bytes, 24),
        body_crc: read_u32(bytes, 28),
        extension_bytes: read_u32(bytes, 32),
    };
    let reserved_zero = read_u16(bytes, 26) == 0;
    let lengths_fit = if header.is_seal() {
        header.event_count == 0
            && header.body_bytes as usize == SEAL_BODY_BYTES
            && header.extension_bytes == 0
    } else {
        header.event_count >= 1
            && u64::from(header.body_bytes)
                >= u64::from(header.event_count) * EVENT_LENGTH_BYTES as u64
                    + u64::from(header.extension_bytes)
    };
    if !reserved_zero || header.flags & !FLAGS_KNOWN != 0 || !lengths_fit {
        return Err(FrameError::Malformed);
    }
    if header
        .position
        .checked_add(u64::from(header.event_count))
        .is_none()
    {
        return Err(FrameError::Malformed);
    }
    if header.record_bytes() > bytes.len() {
        return Err(FrameError::Truncated);
    }
    Ok(Frame::Record(header))
}

/// The body of a record whose header was decoded from `record` (which starts at the
/// header).
pub fn body<'a>(header: &RecordHeader, record: &'a [u8]) -> &'a [u8] {
    &record[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + header.body_bytes as usize]
}

/// The events part of a body (without the extension).
pub fn events_part<'a>(header: &RecordHeader, body: &'a [u8]) -> &'a [u8] {
    &body[..header.events_bytes()]
}

/// The extension part of a body (empty when the record has none).
pub fn extension_part<'a>(header: &RecordHeader, body: &'a [u8]) -> &'a [u8] {
    &body[header.events_bytes()..]
}

/// Checks a body against its header: the checksum, and that the event lengths add up
/// exactly to the events part of the body.
pub fn check_body(header: &RecordHeader, body: &[u8]) -> Result<(), FrameError> {
    if crc32(body) != header.body_crc {
        return Err(FrameError::BodyChecksum);
    }
    if header.is_seal() {
        return if read_u64(body, 0) == header.position {
            Ok(())
        } else {
            Err(FrameError::Malformed)
        };
    }
    let events_part = events_part(header, body);
    let mut events = EventRanges::new(events_part, header.event_count);
    for _ in 0..header.event_count {
        if events.next().is_none() {
            return Err(FrameError::Malformed);
        }
    }
    if events.offset != events_part.len() {
        return Err(FrameError::Malformed);
    }
    Ok(())
}

/// Iterates over the byte ranges of a body's event payloads. Stops early, rather than
/// panicking, at a length that runs past the body.
#[derive(Debug, Clone)]
pub struct EventRanges<'a> {
    body: &'a [u8],
    remaining: u32,
    offset: usize,
}

impl<'a> EventRanges<'a> {
    /// Ranges of the `event_count` payloads in `body`.
    pub fn new(body: &'a [u8], event_count: u32) -> Self {
        EventRanges {
            body,
            remaining: event_count,
            offset: 0,
        }
    }
}

impl Iterator for EventRanges<'_> {
    type Item = std::ops::Range<usize>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 || self.body.len() - self.offset < EVENT_LENGTH_BYTES {
            return None;
        }
        let len = read_u32(self.body, self.offset) as usize;
        let start = self.offset + EVENT_LENGTH_BYTES;
        if self.body.len() - start < len {
            return None;
        }
        self.offset = start + len;
        self.remaining -= 1;
        Some(start..start + len)
    }
}

/// Bytes the record for these payloads (and extension) occupies.
pub fn record_bytes_for(payload_bytes: usize, event_count: usize, extension_bytes: usize) -> usize {
    align_up(
        RECORD_HEADER_BYTES + payload_bytes + event_count * EVENT_LENGTH_BYTES + extension_bytes,
    )
}

/// Encodes a record of the log `epoch` holding `events` and `extension` into `out`
/// (cleared first), padded to alignment. The caller has checked the limits, so lengths
/// fit their fields.
#[cfg(any(test, feature = "testing"))]
pub fn encode_record<E: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    epoch: u64,
    position: u64,
    synced_before: u64,
    events: &[E],
    extension: &[u8],
) {
    out.clear();
    append_record(out, epoch, position, synced_before, events, extension);
}

/// The events of a record to encode, by index: a slice of payloads is one; the event
/// store's batch of envelopes, encoded once into one buffer, is another.
///
/// An event is asked for its length first and then to write itself into the record: an
/// event encoded from parts (the store's single-event append) is encoded straight into
/// the writer's buffer, with no copy of its own.
pub trait RecordEvents {
    /// How many events.
    fn count(&self) -> usize;
    /// Bytes of the payload of the `i`-th event (`i < count()`).
    fn payload_bytes(&self, i: usize) -> usize;
    /// Appends the payload of the `i`-th event to `out`: exactly `payload_bytes(i)` bytes.
    fn write_payload(&self, i: usize, out: &mut Vec<u8>);
}

impl<E: AsRef<[u8]>> RecordEvents for [E] {
    fn count(&self) -> usize {
        self.len()
    }

    fn payload_bytes(&self, i: usize) -> usize {
        self[i].as_ref().len()
    }

    fn write_payload(&self, i: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self[i].as_ref());
    }
}

impl<E: AsRef<[u8]>, const N: usize> RecordEvents for [E; N] {
    fn count(&self) -> usize {
        N
    }

    fn payload_bytes(&self, i: usize) -> usize {
        self[i].as_ref().len()
    }

    fn write_payload(&self, i: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self[i].as_ref());
    }
}

/// Like [`encode_record`], but appends the record to `out` (whose length must be a
/// multiple of the alignment) instead of replacing its contents.
pub fn append_record<E: RecordEvents + ?Sized>(
    out: &mut Vec<u8>,
    epoch: u64,
    position: u64,
    synced_before: u64,
    events: &E,
    extension: &[u8],
) {
    let start = out.len();
    debug_assert_eq!(start % ALIGNMENT_BYTES, 0);
    out.resize(start + RECORD_HEADER_BYTES, 0);
    for i in 0..events.count() {
        let payload_bytes = events.payload_bytes(i);
        out.extend_from_slice(&(payload_bytes as u32).to_le_bytes());
        let payload_start = out.len();
        events.write_payload(i, out);
        assert_eq!(
            out.len() - payload_start,
            payload_bytes,
            "an event writes the bytes it announced"
        );
    }
    out.extend_from_slice(extension);
    let body_start = start + RECORD_HEADER_BYTES;
    let mut header = RecordHeader {
        body_bytes: (out.len() - body_start) as u32,
        event_count: events.count() as u32,
        position,
        synced_before,
        flags: 0,
        body_crc: 0,
        extension_bytes: extension.len() as u32,
    };
    // The header checksum covers `body_crc`, but need not wait for it: the checksum of the
    // header with that field zero, and the body's, are two independent computations the
    // processor overlaps; the field's share is then added from a table (CRC-32 is linear).
    // The result is exactly `crc32_salted` of the final header (a test checks it).
    header.encode_fields(&mut out[start..body_start]);
    let zero_field_crc = crc32_salted(epoch, &out[start..start + 36]);
    header.body_crc = crc32(&out[body_start..]);
    out[start + 28..start + 32].copy_from_slice(&header.body_crc.to_le_bytes());
    let crc = zero_field_crc ^ body_crc_field_share(header.body_crc);
    out[start + 36..body_start].copy_from_slice(&crc.to_le_bytes());
    out.resize(start + align_up(out.len() - start), 0);
}

/// What a `body_crc` field of value `body_crc` adds to the header checksum, over the same
/// header with the field zero: CRC-32 is linear in its input for a given length, and the
/// field always sits 8 bytes before the end of the checksummed bytes (`body_crc`, then
/// `extension_bytes`), so the share depends on nothing else.
fn body_crc_field_share(body_crc: u32) -> u32 {
    let [b0, b1, b2, b3] = body_crc.to_le_bytes();
    BODY_CRC_FIELD_SHARES[0][b0 as usize]
        ^ BODY_CRC_FIELD_SHARES[1][b1 as usize]
        ^ BODY_CRC_FIELD_SHARES[2][b2 as usize]
        ^ BODY_CRC_FIELD_SHARES[3][b3 as usize]
}

/// `[j][v]`: the CRC-32 register's change from byte `j` of the field being `v` instead of
/// zero, after the 8 bytes from the field to the end of the checksummed header.
static BODY_CRC_FIELD_SHARES: [[u32; 256]; 4] = body_crc_field_shares();

const fn body_crc_field_shares() -> [[u32; 256]; 4] {
    let mut shares = [[0u32; 256]; 4];
    let mut j = 0;
    while j < 4 {
        let mut v = 0;
        while v < 256 {
            // The register (no initial value, no final inversion: its linear part) after
            // the field's 4 bytes, with byte `j` = `v`, and the 4 zero bytes after them.
            let mut crc = 0u32;
            let mut i = 0;
            while i < 8 {
                if i == j {
                    crc ^= v as u32;
                }
                let mut bit = 0;
                while bit < 8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                    bit += 1;
                }
                i += 1;
            }
            shares[j][v] = crc;
            v += 1;
        }
        j += 1;
    }
    shares
}

/// Encodes the seal record that closes a segment whose next position is `position`.
pub fn encode_seal(epoch: u64, position: u64, synced_before: u64) -> [u8; SEAL_RECORD_BYTES] {
    let mut out = [0u8; SEAL_RECORD_BYTES];
    let body = position.to_le_bytes();
    out[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + SEAL_BODY_BYTES].copy_from_slice(&body);
    let header = RecordHeader {
        body_bytes: SEAL_BODY_BYTES as u32,
        event_count: 0,
        position,
        synced_before,
        flags: FLAG_SEAL,
        body_crc: crc32(&body),
        extension_bytes: 0,
    };
    header.encode_into(epoch, &mut out[0..RECORD_HEADER_BYTES]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: u64 = 0x5eed;

    fn decode_checked(bytes: &[u8]) -> Result<(RecordHeader, Vec<Vec<u8>>), FrameError> {
        match decode_header(bytes, EPOCH)? {
            Frame::End => Err(FrameError::Malformed),
            Frame::Record(header) => {
                let body = body(&header, bytes);
                check_body(&header, body)?;
                let events = EventRanges::new(events_part(&header, body), header.event_count)
                    .map(|r| body[r].to_vec())
                    .collect();
                Ok((header, events))
            }
        }
    }

    #[test]
    fn record_round_trips_with_every_event() {
        // Proves an encoded batch decodes to the same events, position and watermark.
        let events: Vec<Vec<u8>> = vec![b"a".to_vec(), vec![], vec![7; 300]];
        let mut out = Vec::new();
        encode_record(&mut out, EPOCH, 99, 42, &events, &[]);
        assert_eq!(out.len(), record_bytes_for(301, 3, 0));
        assert_eq!(out.len() % 8, 0);
        let (header, decoded) = decode_checked(&out).expect("valid record");
        assert_eq!(header.position, 99);
        assert_eq!(header.synced_before, 42);
        assert_eq!(header.end_position(), 102);
        assert_eq!(decoded, events);
    }

    #[test]
    fn extension_round_trips_apart_from_the_events() {
        // Proves a record's extension is kept apart from its events and covered by the body checksum.
        let mut out = Vec::new();
        encode_record(
            &mut out,
            EPOCH,
            7,
            0,
            &[b"one".as_slice(), b"two"],
            b"checkpoint",
        );
        let (header, events) = decode_checked(&out).expect("valid record");
        assert_eq!(events, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(extension_part(&header, body(&header, &out)), b"checkpoint");
        let mut damaged = out.clone();
        damaged[RECORD_HEADER_BYTES + 14] ^= 1;
        assert!(decode_checked(&damaged).is_err());
    }

    #[test]
    fn zero_word_is_end_of_log() {
        // Proves preallocated zeros read as the end marker, not as a record.
        assert_eq!(decode_header(&[0u8; 64], EPOCH), Ok(Frame::End));
        assert_eq!(decode_header(&[0u8; 3], EPOCH), Ok(Frame::End));
        assert_eq!(decode_header(&[0, 0, 1], EPOCH), Err(FrameError::Truncated));
    }

    #[test]
    fn header_checksum_from_the_field_share_equals_the_direct_one() {
        // Proves the header checksum append_record builds from a zero-field checksum plus the body_crc field's share is exactly crc32_salted of the final header bytes.
        let mut out = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..2_000u64 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let epoch = seed | 1;
            let payload: Vec<u8> = (0..(seed >> 40) % 300).map(|i| (i ^ seed) as u8).collect();
            let extension = vec![round as u8; (seed % 7) as usize];
            out.clear();
            append_record(
                &mut out,
                epoch,
                round,
                seed >> 3,
                &[&payload[..]],
                &extension,
            );
            let direct = crc32_salted(epoch, &out[0..36]);
            assert_eq!(read_u32(&out, 36), direct, "round {round}");
            assert_eq!(read_u32(&out, 28), crc32(body(&decoded(&out, epoch), &out)));
        }
    }

    fn decoded(bytes: &[u8], epoch: u64) -> RecordHeader {
        match decode_header(bytes, epoch) {
            Ok(Frame::Record(header)) => header,
            other => panic!("not a record: {other:?}"),
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        // Proves no flipped bit in header or body yields a record that passes both checks.
        let mut out = Vec::new();
        encode_record(
            &mut out,
            EPOCH,
            5,
            3,
            &[b"hello".as_slice(), b"world!"],
            &[],
        );
        let meaningful = RECORD_HEADER_BYTES + 4 + 5 + 4 + 6;
        for bit in 0..meaningful * 8 {
            let mut damaged = out.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_checked(&damaged).is_err(), "bit {bit} undetected");
        }
    }

    #[test]
    fn every_truncation_is_detected() {
        // Proves a record cut short at any length is never accepted.
        let mut out = Vec::new();
        encode_record(&mut out, EPOCH, 0, 0, &[vec![9u8; 50]], &[]);
        for len in 1..out.len() - 1 {
            let cut = &out[..len];
            assert!(decode_checked(cut).is_err(), "truncation to {len} accepted");
        }
    }

    #[test]
    fn a_record_of_another_log_does_not_validate() {
        // Proves the epoch salt rejects a record copied from another log (e.g. inside a payload).
        let mut out = Vec::new();
        encode_record(&mut out, EPOCH + 1, 0, 0, &[b"carried".as_slice()], &[]);
        assert_eq!(decode_header(&out, EPOCH), Err(FrameError::HeaderChecksum));
        assert!(matches!(
            decode_header(&out, EPOCH + 1),
            Ok(Frame::Record(_))
        ));
    }

    #[test]
    fn seal_round_trips() {
        // Proves a seal record decodes as a seal carrying the next position.
        let seal = encode_seal(EPOCH, 1234, 1000);
        let Ok(Frame::Record(header)) = decode_header(&seal, EPOCH) else {
            panic!("seal did not decode");
        };
        assert!(header.is_seal());
        assert_eq!(header.position, 1234);
        assert_eq!(header.record_bytes(), SEAL_RECORD_BYTES);
        assert_eq!(check_body(&header, body(&header, &seal)), Ok(()));
    }

    #[test]
    fn a_length_that_lies_cannot_read_out_of_bounds() {
        // Proves a header claiming a huge body is refused as truncated, not followed.
        let mut out = Vec::new();
        encode_record(&mut out, EPOCH, 0, 0, &[b"x".as_slice()], &[]);
        let mut forged = out.clone();
        forged[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = crc32_salted(EPOCH, &forged[0..36]);
        forged[36..40].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_header(&forged, EPOCH), Err(FrameError::Truncated));
    }
}
