//! Stream names to ids, in a map that never stalls an append to grow.
//!
//! One hash map of every stream rehashes all of them when it grows: at 917 504 streams
//! that took an append 160–330 ms (the `append_stalls` example). So the names are split
//! by a hash of the name over `SHARDS` tables, and a growth moves one shard's entries
//! only.

use std::hash::BuildHasher;

use bytes::Bytes;
use foldhash::quality::RandomState;
use hashbrown::hash_table::{Entry, HashTable};

/// Maps a growth is spread over (a power of two).
const SHARDS: usize = 256;
/// The hash bits that choose a shard: above those a table picks its buckets with (the
/// low ones) and below the seven it tags its slots with (the top ones), so that a
/// shard's names still spread over its buckets and tags.
const SHARD_SHIFT: u32 = 32;

/// Stream names and their ids.
#[derive(Debug, Clone)]
pub(crate) struct NameIds {
    /// One randomly seeded hasher (foldhash) for every shard, so that crafted names
    /// cannot aim at one bucket; a name is hashed once per lookup, and the hash picks
    /// both its shard and its place in the shard's table.
    hasher: RandomState,
    shards: Vec<HashTable<(Bytes, u32)>>,
}

impl Default for NameIds {
    fn default() -> NameIds {
        NameIds {
            hasher: RandomState::default(),
            shards: (0..SHARDS).map(|_| HashTable::new()).collect(),
        }
    }
}

/// Whether two names are equal: short names, the usual ones, compared by a few loads
/// of their ends instead of a call to `memcmp` (about a fifth of a store append's name
/// lookups went to those calls).
#[inline]
pub(crate) fn same_name(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let u32_at = |s: &[u8], i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
    let u64_at = |s: &[u8], i: usize| {
        u64::from_le_bytes([
            s[i],
            s[i + 1],
            s[i + 2],
            s[i + 3],
            s[i + 4],
            s[i + 5],
            s[i + 6],
            s[i + 7],
        ])
    };
    match n {
        0 => true,
        // The first, middle and last bytes are every byte.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        // The first and last words overlap and cover every byte.
        4..=7 => u32_at(a, 0) == u32_at(b, 0) && u32_at(a, n - 4) == u32_at(b, n - 4),
        8..=16 => u64_at(a, 0) == u64_at(b, 0) && u64_at(a, n - 8) == u64_at(b, n - 8),
        _ => a == b,
    }
}

impl NameIds {
    fn hash(&self, name: &[u8]) -> u64 {
        self.hasher.hash_one(name)
    }

    fn shard(hash: u64) -> usize {
        (hash >> SHARD_SHIFT) as usize & (SHARDS - 1)
    }

    /// The id of `name`, if it has one.
    pub(crate) fn get(&self, name: &[u8]) -> Option<u32> {
        let hash = self.hash(name);
        self.shards[Self::shard(hash)]
            .find(hash, |(stored, _)| same_name(stored, name))
            .map(|&(_, id)| id)
    }

    /// Gives `name` the id `id`; returns the id it had, if any (which it keeps).
    pub(crate) fn insert(&mut self, name: Bytes, id: u32) -> Option<u32> {
        let hash = self.hash(&name);
        let hasher = &self.hasher;
        let shard = &mut self.shards[Self::shard(hash)];
        match shard.entry(
            hash,
            |(stored, _)| same_name(stored, &name),
            |(stored, _)| hasher.hash_one(&stored[..]),
        ) {
            Entry::Occupied(existing) => Some(existing.get().1),
            Entry::Vacant(slot) => {
                slot.insert((name, id));
                None
            }
        }
    }

    /// Entries the maps have room for (for the memory measurement).
    pub(crate) fn capacity(&self) -> usize {
        self.shards.iter().map(HashTable::capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_agrees_with_byte_equality_at_every_length() {
        // Proves the short-name comparison answers as `==` for names of 0 to 40 bytes that differ in any one byte, or in length.
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_name(&a, &a.clone()), "{n} bytes, equal");
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x20;
                assert!(!same_name(&a, &b), "{n} bytes, byte {i} differs");
            }
            let mut longer = a.clone();
            longer.push(b'z');
            assert!(!same_name(&a, &longer), "{n} against {} bytes", n + 1);
        }
    }

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
