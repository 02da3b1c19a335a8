//! Stream names to ids, in a map that never stalls an append to grow.
//!
//! One hash map of every stream rehashes all of them when it grows: at 917 504 streams
//! that took an append 160–330 ms (the `append_stalls` example). So the names are split
//! by a hash of the name over `SHARDS` maps, and a growth moves one shard's entries only.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use bytes::Bytes;
use foldhash::quality::RandomState;

/// Maps a growth is spread over (a power of two).
const SHARDS: usize = 256;

/// Stream names and their ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameIds {
    shards: Vec<HashMap<Bytes, u32, RandomState>>,
}

impl Default for NameIds {
    fn default() -> NameIds {
        NameIds {
            shards: (0..SHARDS)
                .map(|_| HashMap::with_hasher(RandomState::default()))
                .collect(),
        }
    }
}

impl NameIds {
    /// The shard of `name`: an FNV-1a hash of it, cheap for short names. Only the
    /// spread over shards depends on it; each shard's map hashes its keys with a
    /// randomly seeded hasher (foldhash), so crafted names cannot aim at one bucket.
    fn shard(name: &[u8]) -> usize {
        let mut hash: u32 = 0x811c_9dc5;
        for &byte in name {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
        (hash ^ (hash >> 16)) as usize & (SHARDS - 1)
    }

    /// The id of `name`, if it has one.
    pub(crate) fn get(&self, name: &[u8]) -> Option<u32> {
        self.shards[Self::shard(name)].get(name).copied()
    }

    /// Gives `name` the id `id`; returns the id it had, if any (which it keeps).
    pub(crate) fn insert(&mut self, name: Bytes, id: u32) -> Option<u32> {
        match self.shards[Self::shard(&name)].entry(name) {
            Entry::Occupied(existing) => Some(*existing.get()),
            Entry::Vacant(slot) => {
                slot.insert(id);
                None
            }
        }
    }

    /// Entries the maps have room for (for the memory measurement).
    pub(crate) fn capacity(&self) -> usize {
        self.shards.iter().map(HashMap::capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_their_ids_across_shards() {
        // Proves every name inserted is found with its id, a second insert keeps the first id, and unknown names have none.
        let mut ids = NameIds::default();
        for id in 0..5_000u32 {
            assert_eq!(ids.insert(Bytes::from(format!("order-{id}")), id), None);
        }
        assert_eq!(ids.insert(Bytes::from_static(b"order-7"), 99), Some(7));
        for id in 0..5_000u32 {
            assert_eq!(ids.get(format!("order-{id}").as_bytes()), Some(id));
        }
        assert_eq!(ids.get(b"order-5000"), None);
        assert_eq!(ids.get(b""), None);
        let used = ids.shards.iter().filter(|s| !s.is_empty()).count();
        assert!(
            used > SHARDS / 2,
            "names spread over {used} of {SHARDS} shards"
        );
    }
}
