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

use super::envelope::Link;

/// Events per group; every group's head is indexed in memory.
pub(crate) const LINK_GROUP: u64 = 8;
const GROUP: usize = LINK_GROUP as usize;

/// A link packed into 12 bytes (a `Link` takes 16 with its padding): position low and
/// high halves, record offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Packed([u32; 3]);

impl From<Link> for Packed {
    fn from(link: Link) -> Packed {
        Packed([
            link.position as u32,
            (link.position >> 32) as u32,
            link.record_offset,
        ])
    }
}

impl From<Packed> for Link {
    fn from(packed: Packed) -> Link {
        let [low, high, record_offset] = packed.0;
        Link {
            position: u64::from(low) | (u64::from(high) << 32),
            record_offset,
        }
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
    pub(crate) fn push(&mut self, link: Link) -> u64 {
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
    pub(crate) fn block_for_next(&self) -> Option<[Link; GROUP]> {
        if self.len == 0 || !self.len.is_multiple_of(LINK_GROUP) {
            return None;
        }
        Some(self.open.map(Link::from))
    }
}

/// The sparse index of one chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Chain {
    /// The link of event `k × LINK_GROUP`, for every group `k`.
    heads: Vec<Packed>,
    tail: Tail,
}

impl Chain {
    /// Rebuilds a chain from its persisted parts, if they are consistent: one head per
    /// group, the open group's links starting at the last head and ending at the last
    /// event.
    pub(crate) fn from_parts(len: u64, heads: &[Link], open: &[Link]) -> Option<Chain> {
        let groups = len.div_ceil(LINK_GROUP);
        let open_len = len - groups.saturating_sub(1) * LINK_GROUP;
        if heads.len() as u64 != groups
            || open.len() as u64 != open_len
            || open.first() != heads.last()
        {
            return None;
        }
        let mut chain = Chain {
            heads: heads.iter().map(|&l| Packed::from(l)).collect(),
            tail: Tail {
                len,
                open: [Packed::default(); GROUP],
            },
        };
        for (slot, &link) in chain.tail.open.iter_mut().zip(open) {
            *slot = Packed::from(link);
        }
        Some(chain)
    }

    /// The persisted parts: the number of events, the heads and the open group's links.
    pub(crate) fn parts(&self) -> (u64, Vec<Link>, Vec<Link>) {
        let heads = self.heads.iter().map(|&p| Link::from(p)).collect();
        let open = self.open_links().collect();
        (self.tail.len, heads, open)
    }

    /// Adds the link of the chain's next event and returns its sequence number.
    pub(crate) fn push(&mut self, link: Link) -> u64 {
        if self.tail.len.is_multiple_of(LINK_GROUP) {
            self.heads.push(Packed::from(link));
        }
        self.tail.push(link)
    }

    /// The sequence number the next event gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.tail.len
    }

    /// The chain's end, for an append to work out its events' link blocks.
    pub(crate) fn tail(&self) -> Tail {
        self.tail
    }

    /// The last event's sequence number and link.
    pub(crate) fn last(&self) -> Option<(u64, Link)> {
        let seq = self.tail.len.checked_sub(1)?;
        Some((seq, Link::from(self.tail.open[(seq % LINK_GROUP) as usize])))
    }

    /// The sequence number of the open group's head (0 for an empty chain).
    pub(crate) fn open_start(&self) -> u64 {
        self.heads.len().saturating_sub(1) as u64 * LINK_GROUP
    }

    /// The open group's links, head first.
    pub(crate) fn open_links(&self) -> impl Iterator<Item = Link> + '_ {
        let count = (self.tail.len - self.open_start()) as usize;
        self.tail.open[..count].iter().map(|&p| Link::from(p))
    }

    /// The link of group `group`'s head, if the chain has that group.
    pub(crate) fn head(&self, group: u64) -> Option<Link> {
        let at = usize::try_from(group).ok()?;
        self.heads.get(at).map(|&p| Link::from(p))
    }

    /// The group holding the last event at a position below `position`, if any event is.
    pub(crate) fn group_before(&self, position: u64) -> Option<u64> {
        let after = self
            .heads
            .partition_point(|&p| Link::from(p).position < position);
        after.checked_sub(1).map(|group| group as u64)
    }

    /// Heap bytes this chain holds (for the memory measurements in docs/design.md).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.heads.capacity() * std::mem::size_of::<Packed>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(position: u64) -> Link {
        Link {
            position,
            record_offset: 64 + position as u32,
        }
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
                let expected: Vec<Link> = (seq - LINK_GROUP..seq).map(|s| link(s * 10)).collect();
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

    #[test]
    fn parts_round_trip_and_inconsistent_parts_are_refused() {
        // Proves a chain rebuilt from its parts is identical, and parts that could not
        // come from a chain (wrong head count, open group not starting at the last head)
        // are refused rather than trusted.
        let mut chain = Chain::default();
        for seq in 0..11u64 {
            chain.push(Link {
                position: (seq << 33) | seq,
                record_offset: seq as u32,
            });
        }
        let (len, heads, open) = chain.parts();
        assert_eq!(Chain::from_parts(len, &heads, &open), Some(chain.clone()));
        assert_eq!(Chain::from_parts(0, &[], &[]), Some(Chain::default()));
        assert!(Chain::from_parts(len + 1, &heads, &open).is_none());
        assert!(Chain::from_parts(len, &heads[..1], &open).is_none());
        assert!(Chain::from_parts(len, &heads, &open[1..]).is_none());
        assert!(Chain::from_parts(len, &heads, &heads).is_none());
    }
}
