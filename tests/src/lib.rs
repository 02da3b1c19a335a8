//! Test helpers shared by the process-level tests and the `annal-crash-child` binary:
//! a small deterministic random generator, self-describing event payloads, a walker
//! over the records of a segment file, and the store reactor of the store kill -9 test.

use annal::testing::{decode_header, Frame, RecordHeader};
use annal::testing::{SegmentHeader, SEGMENT_HEADER_BYTES};

// The engine's tests and these share one generator, so a seed replays the same workload
// in both.
pub use annal::testing::Rng;

mod reactor;

pub use reactor::{invoice_for, run_reactor, REACTOR_CONSUMER};

/// A seed derived from the clock, for tests that explore; they print it so a failure
/// can be replayed.
pub fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

/// Bytes of the self-describing header at the start of every crash-test payload.
pub const PAYLOAD_HEADER_BYTES: usize = 16;
/// Largest crash-test payload.
pub const PAYLOAD_BYTES_MAX: usize = 2000;

/// What a crash-test payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayloadId {
    /// The child process run that appended it.
    pub run: u16,
    /// The appending thread within that run.
    pub thread: u16,
    /// The event's sequence number within (run, thread), from 0.
    pub seq: u32,
    /// The event's index within its batch.
    pub index: u16,
    /// The number of events in its batch.
    pub batch_len: u16,
}

/// The length of the payload for (run, thread, seq): 24..=2000 bytes (the header and at
/// least 8 bytes that depend on all of it), fixed by the id.
pub fn payload_len(run: u16, thread: u16, seq: u32) -> usize {
    let mut rng = Rng::new(id_seed(run, thread, seq) ^ 0x5eed);
    rng.range(PAYLOAD_HEADER_BYTES as u64 + 8, PAYLOAD_BYTES_MAX as u64) as usize
}

fn id_seed(run: u16, thread: u16, seq: u32) -> u64 {
    (u64::from(run) << 48) | (u64::from(thread) << 32) | u64::from(seq)
}

/// The payload of the event `id`: its header (run, thread, seq, index, batch length,
/// total length) and then bytes that only this id generates, so any truncation,
/// substitution or flipped byte is detectable.
pub fn payload(id: PayloadId) -> Vec<u8> {
    let len = payload_len(id.run, id.thread, id.seq);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&id.run.to_le_bytes());
    out.extend_from_slice(&id.thread.to_le_bytes());
    out.extend_from_slice(&id.seq.to_le_bytes());
    out.extend_from_slice(&id.index.to_le_bytes());
    out.extend_from_slice(&id.batch_len.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    // The filler depends on every field, so no changed header byte goes unnoticed.
    let fields = (u64::from(id.index) << 16) | u64::from(id.batch_len);
    let mut rng = Rng::new(Rng::new(id_seed(id.run, id.thread, id.seq)).next_u64() ^ fields);
    while out.len() < len {
        let word = rng.next_u64().to_le_bytes();
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&word[..take]);
    }
    out
}

/// Parses a crash-test payload and checks every byte of it against what its header says
/// it must be.
pub fn check_payload(bytes: &[u8]) -> Result<PayloadId, String> {
    if bytes.len() < PAYLOAD_HEADER_BYTES {
        return Err(format!("payload of {} bytes is too short", bytes.len()));
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let id = PayloadId {
        run: u16_at(0),
        thread: u16_at(2),
        seq: u32_at(4),
        index: u16_at(8),
        batch_len: u16_at(10),
    };
    let expected = payload(id);
    if expected != bytes {
        return Err(format!(
            "payload claiming {id:?} ({} bytes, header says {}) differs from the one generated ({} bytes)",
            bytes.len(),
            u32_at(12),
            expected.len()
        ));
    }
    if id.index >= id.batch_len {
        return Err(format!("payload {id:?} has index past its batch"));
    }
    Ok(id)
}

/// FNV-1a over several byte strings, as one stream.
pub fn fnv1a<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for part in parts {
        for &byte in part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// One record found by walking a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAt {
    /// Byte offset of the record in the file.
    pub offset: usize,
    /// Its decoded header.
    pub header: RecordHeader,
}

impl RecordAt {
    /// Bytes of header and body (the part the checksums cover).
    pub fn covered_bytes(&self) -> usize {
        annal::testing::RECORD_HEADER_BYTES + self.header.body_bytes as usize
    }

    /// Bytes of the whole record, padding included.
    pub fn record_bytes(&self) -> usize {
        self.header.record_bytes()
    }
}

/// Every record of a segment file's bytes, in order, up to the end marker (the seal
/// included). Panics on damage: it is for walking files a test just wrote.
pub fn walk_records(segment: &[u8]) -> Vec<RecordAt> {
    let epoch = SegmentHeader::decode(segment)
        .expect("segment header a test just wrote")
        .epoch;
    let mut records = Vec::new();
    let mut offset = SEGMENT_HEADER_BYTES;
    while offset < segment.len() {
        match decode_header(&segment[offset..], epoch) {
            Ok(Frame::End) => break,
            Ok(Frame::Record(header)) => {
                records.push(RecordAt { offset, header });
                offset += header.record_bytes();
            }
            Err(e) => panic!("record at offset {offset}: {}", e.describe()),
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_detect_damage() {
        // Proves a generated payload checks out and any changed or missing byte is caught.
        let id = PayloadId {
            run: 3,
            thread: 1,
            seq: 77,
            index: 2,
            batch_len: 4,
        };
        let bytes = payload(id);
        assert_eq!(bytes.len(), payload_len(3, 1, 77));
        assert_eq!(check_payload(&bytes), Ok(id));
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            assert!(check_payload(&damaged).is_err(), "flip at {at} undetected");
        }
        assert!(check_payload(&bytes[..bytes.len() - 1]).is_err());
    }
}
