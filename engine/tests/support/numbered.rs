//! Numbered events: each payload carries its number and bytes derived from it, so a test
//! can tell which event it read and that no byte of it changed.

use annal::{Durability, Event, Log};

/// The payload of event `n` of a test: its number and bytes derived from it.
pub fn numbered(n: u64, len: usize) -> Vec<u8> {
    let mut bytes = n.to_le_bytes().to_vec();
    bytes.extend((8..len.max(8)).map(|i| (n as usize * 31 + i) as u8));
    bytes
}

/// The number of a numbered event, after checking its payload is whole and unaltered.
pub fn number_of(event: &Event) -> u64 {
    let n = u64::from_le_bytes(event.payload[..8].try_into().unwrap());
    assert_eq!(
        event.payload[..],
        numbered(n, event.payload.len())[..],
        "payload of event {n} is damaged"
    );
    n
}

/// Appends the numbered events `from..from + count`, of 40 to 239 bytes, one by one.
pub fn append_numbered(log: &Log, from: u64, count: u64, durability: Durability) {
    for n in from..from + count {
        log.append(&numbered(n, 40 + (n % 200) as usize), durability)
            .unwrap();
    }
}
