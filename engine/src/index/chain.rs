//! A chain: the events of one stream (or one category) in sequence, indexed sparsely.
//!
//! Sequence numbers are gapless from 0 (a stream's revisions; a category's n-th event)
//! and fall into groups of `LINK_GROUP`. In memory a chain keeps the link of each
//! group's first event (its head) and the links of the newest, still open group. The
//! links of a closed group are on disk: the next group's head carries them in its
//! envelope's link block (streams), or they are one back-link walk of at most
//! `LINK_GROUP - 1` hops from that head (categories). Finding any `n` events of a chain
//! therefore costs the `n` events plus one envelope per group, and the envelopes of
//! different groups can be read at once, not one after another.

use bytes::Bytes;

use crate::format::envelope::{put_link, read_link, LINK_BYTES};
use crate::position::{Location, Position};

/// Events per group; every group's head is indexed in memory.
pub(crate) const LINK_GROUP: u64 = 8;
const GROUP: usize = LINK_GROUP as usize;

/// A link packed into 12 bytes (a `Location` takes 16 with its padding): position low and
/// high halves, record offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Packed([u32; 3]);

impl From<Location> for Packed {
    fn from(link: Location) -> Packed {
        Packed([
            link.position.0 as u32,
            (link.position.0 >> 32) as u32,
            link.record_offset,
        ])
    }
}

impl From<Packed> for Location {
    fn from(packed: Packed) -> Location {
        let [low, high, record_offset] = packed.0;
        Location::new(
            Position(u64::from(low) | (u64::from(high) << 32)),
            record_offset,
        )
    }
}

/// The end of a chain: its length and its open group's links. An append copies it to
/// work out the link blocks of the events it adds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tail {
    /// Events in the chain (the next sequence number).
    len: u64,
    /// The links of the open group's events, from its head to the last event.
    open: [Packed; GROUP],
}

impl Tail {
    /// Adds the link of the chain's next event and returns its sequence number.
    pub(crate) fn push(&mut self, link: Location) -> u64 {
        let seq = self.len;
        let slot = (seq % LINK_GROUP) as usize;
        if slot == 0 {
            // A new group: the last one's links are on disk now (in this event's block).
            self.open = [Packed::default(); GROUP];
        }
        self.open[slot] = Packed::from(link);
        self.len += 1;
        seq
    }

    /// The links the next event must carry in its link block: the whole previous group,
    /// when the next event starts a new group (none for the first group).
    pub(crate) fn block_for_next(&self) -> Option<[Location; GROUP]> {
        if self.len == 0 || !self.len.is_multiple_of(LINK_GROUP) {
            return None;
        }
        Some(self.open.map(Location::from))
    }
}

/// The link of every group's head: those loaded from the index checkpoint are read in
/// place from its mapping (opening does not copy them), those added since are in memory.
#[derive(Debug, Clone, Default)]
struct Heads {
    /// Persisted links (`LINK_BYTES` each), checked when they were loaded.
    persisted: Bytes,
    added: Vec<Packed>,
}

impl Heads {
    fn len(&self) -> usize {
        self.persisted.len() / LINK_BYTES + self.added.len()
    }

    fn get(&self, at: usize) -> Option<Location> {
        (at < self.len()).then(|| self.at(at))
    }

    /// The head `at`, which must be below `len()`.
    fn at(&self, at: usize) -> Location {
        let persisted = self.persisted.len() / LINK_BYTES;
        if at < persisted {
            return read_link(&self.persisted[at * LINK_BYTES..]);
        }
        Location::from(self.added[at - persisted])
    }

    fn iter(&self) -> impl ExactSizeIterator<Item = Location> + '_ {
        (0..self.len()).map(|at| self.at(at))
    }
}

impl PartialEq for Heads {
    /// Equal when they hold the same links, wherever those are kept.
    fn eq(&self, other: &Heads) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Heads {}

/// The sparse index of one chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Chain {
    /// The link of event `k × LINK_GROUP`, for every group `k`.
    heads: Heads,
    tail: Tail,
}

impl Chain {
    /// Whether persisted parts could come from a chain of `len` events: one head per
    /// group, the open group's links starting at the last head and ending at the last
    /// event (`LINK_BYTES` each). Ranges and order are the caller's to check.
    pub(crate) fn parts_consistent(len: u64, heads: &[u8], open: &[u8]) -> bool {
        let groups = len.div_ceil(LINK_GROUP);
        let open_len = len - groups.saturating_sub(1) * LINK_GROUP;
        heads.len().is_multiple_of(LINK_BYTES)
            && open.len().is_multiple_of(LINK_BYTES)
            && (heads.len() / LINK_BYTES) as u64 == groups
            && (open.len() / LINK_BYTES) as u64 == open_len
            && open.get(..LINK_BYTES) == heads.len().checked_sub(LINK_BYTES).map(|at| &heads[at..])
    }

    /// Rebuilds a chain from its persisted parts, if they are consistent
    /// ([`Chain::parts_consistent`]). The heads stay where they are (a slice of the
    /// checkpoint's mapping); the open group's links are copied.
    pub(crate) fn from_parts(len: u64, heads: Bytes, open: &[u8]) -> Option<Chain> {
        if !Chain::parts_consistent(len, &heads, open) {
            return None;
        }
        let mut chain = Chain {
            heads: Heads {
                persisted: heads,
                added: Vec::new(),
            },
            tail: Tail {
                len,
                open: [Packed::default(); GROUP],
            },
        };
        for (slot, link) in chain
            .tail
            .open
            .iter_mut()
            .zip(open.chunks_exact(LINK_BYTES))
        {
            *slot = Packed::from(read_link(link));
        }
        Some(chain)
    }

    /// Heads in the chain.
    pub(crate) fn heads_count(&self) -> usize {
        self.heads.len()
    }

    /// Appends the heads' links (`LINK_BYTES` each), those read in place copied as they are.
    pub(crate) fn put_heads(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.heads.persisted);
        for &head in &self.heads.added {
            put_link(Location::from(head), out);
        }
    }

    /// Appends the open group's links (`LINK_BYTES` each).
    pub(crate) fn put_open(&self, out: &mut Vec<u8>) {
        for link in self.open_links() {
            put_link(link, out);
        }
    }

    /// The open group's link count.
    pub(crate) fn open_len(&self) -> usize {
        self.open_count()
    }

    /// Reads the first heads in place from `persisted` (a newer checkpoint's copy of
    /// them) and lets go of their copies on the heap, if `persisted` holds a prefix of
    /// this chain's heads; otherwise changes nothing.
    pub(crate) fn rebase(&mut self, persisted: Bytes) {
        let count = persisted.len() / LINK_BYTES;
        let own = self.heads.persisted.len() / LINK_BYTES;
        if !persisted.len().is_multiple_of(LINK_BYTES)
            || count < own
            || count > self.heads.len()
            || !persisted
                .chunks_exact(LINK_BYTES)
                .map(read_link)
                .eq(self.heads.iter().take(count))
        {
            return;
        }
        self.heads.added.drain(..count - own);
        self.heads.added.shrink_to_fit();
        self.heads.persisted = persisted;
    }

    /// How many links the open group has.
    fn open_count(&self) -> usize {
        (self.tail.len - self.open_start()) as usize
    }

    /// Adds the link of the chain's next event and returns its sequence number.
    pub(crate) fn push(&mut self, link: Location) -> u64 {
        if self.tail.len.is_multiple_of(LINK_GROUP) {
            self.heads.added.push(Packed::from(link));
        }
        self.tail.push(link)
    }

    /// The sequence number the next event gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.tail.len
    }

    /// The chain's end, for an append to work out its events' link blocks (borrowed: an
    /// append of one event needs no copy of it).
    pub(crate) fn tail(&self) -> &Tail {
        &self.tail
    }

    /// The last event's sequence number and link.
    pub(crate) fn last(&self) -> Option<(u64, Location)> {
        let seq = self.tail.len.checked_sub(1)?;
        Some((
            seq,
            Location::from(self.tail.open[(seq % LINK_GROUP) as usize]),
        ))
    }

    /// The sequence number of the open group's head (0 for an empty chain).
    pub(crate) fn open_start(&self) -> u64 {
        self.heads.len().saturating_sub(1) as u64 * LINK_GROUP
    }

    /// The open group's links, head first.
    pub(crate) fn open_links(&self) -> impl Iterator<Item = Location> + '_ {
        self.tail.open[..self.open_count()]
            .iter()
            .map(|&p| Location::from(p))
    }

    /// The link of group `group`'s head, if the chain has that group.
    pub(crate) fn head(&self, group: u64) -> Option<Location> {
        self.heads.get(usize::try_from(group).ok()?)
    }

    /// The group holding the last event at a position below `position`, if any event is.
    pub(crate) fn group_before(&self, position: u64) -> Option<u64> {
        // The first head at or after `position` (heads' positions increase).
        let (mut low, mut high) = (0usize, self.heads.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.heads.get(mid) {
                Some(head) if head.position.0 < position => low = mid + 1,
                _ => high = mid,
            }
        }
        low.checked_sub(1).map(|group| group as u64)
    }

    /// Heap bytes this chain holds (for the memory measurements in docs/design.md).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.heads.added.capacity() * std::mem::size_of::<Packed>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(position: u64) -> Location {
        Location::new(Position(position), 64 + position as u32)
    }

    #[test]
    fn heads_and_the_open_group_cover_every_event() {
        // Proves a chain indexes each group's head, keeps the open group whole, and asks
        // for a link block exactly when an event starts a new group.
        let mut chain = Chain::default();
        assert_eq!(chain.last(), None);
        assert_eq!(chain.tail().block_for_next(), None);
        for seq in 0..20u64 {
            let block = chain.tail().block_for_next();
            assert_eq!(
                block.is_some(),
                seq > 0 && seq % LINK_GROUP == 0,
                "seq {seq}"
            );
            if let Some(block) = block {
                let expected: Vec<Location> =
                    (seq - LINK_GROUP..seq).map(|s| link(s * 10)).collect();
                assert_eq!(block.to_vec(), expected);
            }
            assert_eq!(chain.push(link(seq * 10)), seq);
        }
        assert_eq!(chain.last(), Some((19, link(190))));
        assert_eq!(chain.open_start(), 16);
        assert_eq!(
            chain.open_links().collect::<Vec<_>>(),
            vec![link(160), link(170), link(180), link(190)]
        );
        assert_eq!(chain.head(1), Some(link(80)));
        assert_eq!(chain.head(3), None);
        assert_eq!(chain.group_before(0), None);
        assert_eq!(chain.group_before(1), Some(0));
        assert_eq!(chain.group_before(80), Some(0));
        assert_eq!(chain.group_before(81), Some(1));
        assert_eq!(chain.group_before(u64::MAX), Some(2));
    }

    /// A chain's persisted parts, as a checkpoint record holds them.
    fn encoded_parts(chain: &Chain) -> (u64, Bytes, Vec<u8>) {
        let (mut heads, mut open) = (Vec::new(), Vec::new());
        chain.put_heads(&mut heads);
        chain.put_open(&mut open);
        assert_eq!(heads.len(), chain.heads_count() * LINK_BYTES);
        assert_eq!(open.len(), chain.open_len() * LINK_BYTES);
        (chain.next_seq(), Bytes::from(heads), open)
    }

    #[test]
    fn parts_round_trip_and_inconsistent_parts_are_refused() {
        // Proves a chain rebuilt from its parts is identical, and parts that could not
        // come from a chain (wrong head count, open group not starting at the last head)
        // are refused rather than trusted.
        let mut chain = Chain::default();
        for seq in 0..11u64 {
            chain.push(Location::new(Position((seq << 33) | seq), seq as u32));
        }
        let (len, persisted, open) = encoded_parts(&chain);
        let rebuilt = Chain::from_parts(len, persisted.clone(), &open).expect("consistent");
        assert_eq!(rebuilt, chain);
        assert_eq!(rebuilt.group_before(u64::MAX), chain.group_before(u64::MAX));
        assert_eq!(rebuilt.head(1), chain.head(1));
        let mut grown = rebuilt.clone();
        grown.push(Location::new(Position(1 << 40), 9));
        assert_eq!(grown.head(1), chain.head(1));
        assert_eq!(grown.last().map(|(seq, _)| seq), Some(len));
        assert_eq!(
            Chain::from_parts(0, Bytes::new(), &[]),
            Some(Chain::default())
        );
        assert!(Chain::from_parts(len + 1, persisted.clone(), &open).is_none());
        assert!(Chain::from_parts(len, persisted.slice(..12), &open).is_none());
        assert!(Chain::from_parts(len, persisted.slice(..13), &open).is_none());
        assert!(Chain::from_parts(len, persisted.clone(), &open[LINK_BYTES..]).is_none());
        assert!(Chain::from_parts(len, persisted.clone(), &open[..LINK_BYTES]).is_none());
        assert!(Chain::from_parts(len, persisted, &open[1..]).is_none());
        // A chain with heads both loaded (persisted) and added encodes as one that has
        // them all in memory.
        let mut mixed = rebuilt.clone();
        let mut in_memory = chain.clone();
        for seq in 11..30u64 {
            let link = Location::new(Position((seq << 33) | seq), seq as u32);
            mixed.push(link);
            in_memory.push(link);
        }
        let (len, persisted, open) = encoded_parts(&mixed);
        assert_eq!(
            encoded_parts(&in_memory),
            (len, persisted.clone(), open.clone())
        );
        assert_eq!(Chain::from_parts(len, persisted, &open), Some(in_memory));
    }

    #[test]
    fn rebase_reads_a_newer_copy_of_the_heads_in_place() {
        // Proves a chain rebased on a checkpoint's copy of its first heads answers as before and keeps only the later heads on the heap; a copy that is not a prefix of its heads changes nothing.
        let mut chain = Chain::default();
        for seq in 0..40u64 {
            chain.push(Location::new(Position(seq * 3), seq as u32));
        }
        let before = chain.clone();
        let (_, heads, _) = encoded_parts(&chain);
        let mut grown = chain.clone();
        for seq in 40..60u64 {
            grown.push(Location::new(Position(seq * 3), seq as u32));
        }
        let reference = grown.clone();
        grown.rebase(heads.clone());
        assert_eq!(grown, reference);
        assert_eq!(grown.heads.persisted.len(), heads.len());
        assert_eq!(grown.heads.added.len(), reference.heads_count() - 5);
        let mut other = before.clone();
        let mut wrong = heads.to_vec();
        wrong[0] ^= 1;
        other.rebase(Bytes::from(wrong));
        assert_eq!(other.heads.added.len(), 5);
        let mut longer = Chain::default();
        longer.push(link(0));
        longer.rebase(heads);
        assert_eq!(longer.heads.added.len(), 1, "more heads than the chain has");
    }
}
