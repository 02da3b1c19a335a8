//! The consumer file and the consumer checkpoint entry of a record extension: pure
//! encoding and decoding, no I/O. `docs/format.md` ("Consumers") is the specification.
//!
//! ```text
//! consumer file: 8192 bytes, slot 0 at offset 0, slot 1 at offset 4096;
//! a state with sequence s is written to slot s % 2, so the other slot keeps the
//! previous state while this one is written.
//!
//! slot
//! 0   [u8; 8] magic "ANNALCSM"
//! 8   u32     version (1)
//! 12  u32     reserved, zero
//! 16  u64     epoch of the log the consumer belongs to
//! 24  u64     incarnation: chosen when the consumer is created, new for every re-creation
//! 32  u64     sequence: increases with every state the consumer commits (file or log)
//! 40  u64     position: the checkpoint, the next position the consumer has to handle
//! 48  u64     replay_from: NONE (u64::MAX) or the log position from which records may
//!             carry newer checkpoints of this consumer
//! 56  u16     name_bytes
//! 58  u16     reserved, zero
//! 60  u32     crc32 of bytes 0..60 followed by the name
//! 64  name
//!
//! checkpoint entry body (extension entry kind 1)
//! 0   u64 incarnation
//! 8   u64 sequence
//! 16  u64 position
//! 24  u16 name_bytes
//! 26  name
//! ```

use crate::format::{read_u16, read_u32, read_u64};
use crate::limits::CONSUMER_NAME_BYTES_MAX;

/// Bytes of a consumer file.
pub(crate) const FILE_BYTES: u64 = 2 * SLOT_BYTES as u64;
/// Bytes of one slot: a page, so writing one slot never rewrites the other's page.
pub(crate) const SLOT_BYTES: usize = 4096;
const MAGIC: [u8; 8] = *b"ANNALCSM";
const VERSION: u32 = 1;
const SLOT_HEADER_BYTES: usize = 64;
/// `replay_from` when no record after the file can hold a newer checkpoint.
const REPLAY_NONE: u64 = u64::MAX;
const ENTRY_FIXED_BYTES: usize = 26;

const _: () = assert!(SLOT_HEADER_BYTES + CONSUMER_NAME_BYTES_MAX <= SLOT_BYTES);

/// One consumer state as a file slot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) epoch: u64,
    pub(crate) incarnation: u64,
    pub(crate) sequence: u64,
    pub(crate) position: u64,
    pub(crate) replay_from: Option<u64>,
    pub(crate) name: String,
}

impl Slot {
    /// The offset in the file of the slot this state is written to.
    pub(crate) fn offset(&self) -> u64 {
        (self.sequence % 2) * SLOT_BYTES as u64
    }

    /// The slot's bytes (header and name; the rest of the slot is left as it is).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let name = self.name.as_bytes();
        let mut out = Vec::with_capacity(SLOT_HEADER_BYTES + name.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&self.incarnation.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.position.to_le_bytes());
        out.extend_from_slice(&self.replay_from.unwrap_or(REPLAY_NONE).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        let crc = slot_crc(&out[0..60], name);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(name);
        out
    }

    /// Decodes a slot; `None` when it is empty, torn or damaged.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Slot> {
        if bytes.len() < SLOT_HEADER_BYTES || bytes[0..8] != MAGIC {
            return None;
        }
        if read_u32(bytes, 8) != VERSION || read_u32(bytes, 12) != 0 || read_u16(bytes, 58) != 0 {
            return None;
        }
        let name_bytes = read_u16(bytes, 56) as usize;
        if name_bytes > CONSUMER_NAME_BYTES_MAX || bytes.len() < SLOT_HEADER_BYTES + name_bytes {
            return None;
        }
        let name = &bytes[SLOT_HEADER_BYTES..SLOT_HEADER_BYTES + name_bytes];
        if slot_crc(&bytes[0..60], name) != read_u32(bytes, 60) {
            return None;
        }
        let replay_from = read_u64(bytes, 48);
        Some(Slot {
            epoch: read_u64(bytes, 16),
            incarnation: read_u64(bytes, 24),
            sequence: read_u64(bytes, 32),
            position: read_u64(bytes, 40),
            replay_from: (replay_from != REPLAY_NONE).then_some(replay_from),
            name: String::from_utf8(name.to_vec()).ok()?,
        })
    }

    /// The newest valid slot of a consumer file's bytes.
    pub(crate) fn newest(file: &[u8]) -> Option<Slot> {
        // A view may end early (it need only cover the bytes written): a missing tail
        // reads as an empty slot.
        let slot = |k: usize| {
            file.get(k * SLOT_BYTES..file.len().min((k + 1) * SLOT_BYTES))
                .and_then(Slot::decode)
                // A slot holds only states of its parity: anything else is not ours.
                .filter(|slot| slot.sequence % 2 == k as u64)
        };
        match (slot(0), slot(1)) {
            (Some(a), Some(b)) => Some(if a.sequence > b.sequence { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}

fn slot_crc(header: &[u8], name: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(name);
    hasher.finalize()
}

/// A consumer checkpoint carried in a record extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckpointEntry<'a> {
    pub(crate) incarnation: u64,
    pub(crate) sequence: u64,
    pub(crate) position: u64,
    pub(crate) name: &'a str,
}

impl CheckpointEntry<'_> {
    /// The entry's body (without the extension entry header).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENTRY_FIXED_BYTES + self.name.len());
        out.extend_from_slice(&self.incarnation.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.position.to_le_bytes());
        out.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out
    }

    /// Decodes an entry body; `None` when malformed.
    pub(crate) fn decode(body: &[u8]) -> Option<CheckpointEntry<'_>> {
        if body.len() < ENTRY_FIXED_BYTES {
            return None;
        }
        let name_bytes = read_u16(body, 24) as usize;
        if body.len() != ENTRY_FIXED_BYTES + name_bytes {
            return None;
        }
        Some(CheckpointEntry {
            incarnation: read_u64(body, 0),
            sequence: read_u64(body, 8),
            position: read_u64(body, 16),
            name: std::str::from_utf8(&body[ENTRY_FIXED_BYTES..]).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(sequence: u64) -> Slot {
        Slot {
            epoch: 0xe9,
            incarnation: 77,
            sequence,
            position: 1000 + sequence,
            replay_from: sequence.is_multiple_of(3).then_some(500),
            name: "orders-projection".into(),
        }
    }

    fn file_with(slots: &[Slot]) -> Vec<u8> {
        let mut file = vec![0u8; FILE_BYTES as usize];
        for slot in slots {
            let bytes = slot.encode();
            let at = slot.offset() as usize;
            file[at..at + bytes.len()].copy_from_slice(&bytes);
        }
        file
    }

    #[test]
    fn slots_round_trip_and_the_newest_wins() {
        // Proves a slot decodes to what was encoded and the higher sequence is chosen.
        for sequence in 1..7 {
            assert_eq!(Slot::decode(&slot(sequence).encode()), Some(slot(sequence)));
        }
        assert_eq!(Slot::newest(&file_with(&[slot(4), slot(5)])), Some(slot(5)));
        assert_eq!(Slot::newest(&file_with(&[slot(7), slot(6)])), Some(slot(7)));
        assert_eq!(Slot::newest(&file_with(&[slot(1)])), Some(slot(1)));
        assert_eq!(Slot::newest(&vec![0u8; FILE_BYTES as usize]), None);
        let short = file_with(&[slot(1)]);
        let written = SLOT_BYTES + slot(1).encode().len();
        assert_eq!(Slot::newest(&short[..written]), Some(slot(1)), "short view");
        assert_eq!(Slot::newest(&short[..written - 1]), None);
    }

    #[test]
    fn a_damaged_slot_leaves_the_other() {
        // Proves a flipped bit anywhere in the newest slot falls back to the previous state.
        let file = file_with(&[slot(8), slot(9)]);
        let newest_bytes = slot(9).encode().len();
        for bit in 0..newest_bytes * 8 {
            let mut damaged = file.clone();
            damaged[SLOT_BYTES + bit / 8] ^= 1 << (bit % 8);
            assert_eq!(Slot::newest(&damaged), Some(slot(8)), "bit {bit}");
        }
    }

    #[test]
    fn a_slot_in_the_wrong_half_is_ignored() {
        // Proves a state is only accepted from the slot its sequence selects.
        let mut file = vec![0u8; FILE_BYTES as usize];
        let bytes = slot(3).encode();
        file[..bytes.len()].copy_from_slice(&bytes);
        assert_eq!(Slot::newest(&file), None);
    }

    #[test]
    fn checkpoint_entries_round_trip() {
        // Proves a checkpoint entry decodes to what was encoded and rejects wrong lengths.
        let entry = CheckpointEntry {
            incarnation: 3,
            sequence: 99,
            position: 12345,
            name: "billing",
        };
        let body = entry.encode();
        assert_eq!(CheckpointEntry::decode(&body), Some(entry));
        assert_eq!(CheckpointEntry::decode(&body[..body.len() - 1]), None);
        let mut longer = body.clone();
        longer.push(0);
        assert_eq!(CheckpointEntry::decode(&longer), None);
    }
}
