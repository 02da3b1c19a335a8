//! A chain: the events of one stream (or one category) linked backwards through their
//! envelopes, with a sparse in-memory index of every `SPARSE_EVERY`-th link.
//!
//! The log never scans other streams' events to read a stream: a read starts at the
//! nearest indexed link at or after the last event it wants and follows the envelopes'
//! back-links, so it costs the events it returns plus at most `SPARSE_EVERY` hops.

use super::envelope::Link;

/// One sparse entry is kept per this many events of a chain.
pub(crate) const SPARSE_EVERY: u64 = 32;

/// A sequence number and the link of its event.
pub(crate) type Entry = (u64, Link);

/// The sparse index of one chain. Sequence numbers are gapless from 0 (a stream's
/// revisions; a category's n-th event).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Chain {
    last: Option<(u64, Link)>,
    sparse: Vec<(u64, Link)>,
}

impl Chain {
    /// Rebuilds a chain from its persisted parts.
    pub(crate) fn from_parts(last: Option<(u64, Link)>, sparse: Vec<(u64, Link)>) -> Chain {
        Chain { last, sparse }
    }

    /// The last link and the sparse entries, for persisting.
    pub(crate) fn parts(&self) -> (Option<Entry>, &[Entry]) {
        (self.last, &self.sparse)
    }

    /// Adds the link of the chain's next event.
    pub(crate) fn push(&mut self, link: Link) -> u64 {
        let seq = self.next_seq();
        if seq.is_multiple_of(SPARSE_EVERY) {
            self.sparse.push((seq, link));
        }
        self.last = Some((seq, link));
        seq
    }

    /// The sequence number the next event gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.last.map_or(0, |(seq, _)| seq + 1)
    }

    /// The last event's sequence number and link.
    pub(crate) fn last(&self) -> Option<(u64, Link)> {
        self.last
    }

    /// The nearest link at or after `seq` to walk backwards from: the first sparse entry
    /// at or after it, else the last link.
    pub(crate) fn anchor_at_or_after(&self, seq: u64) -> Option<(u64, Link)> {
        let at = self.sparse.partition_point(|&(s, _)| s < seq);
        self.sparse.get(at).copied().or(self.last)
    }

    /// The nearest link at a position at or after `position` to walk backwards from (the
    /// first sparse entry there, else the last link), and the sequence number of the last
    /// sparse entry before it (a walk never needs to go below it).
    pub(crate) fn anchor_at_or_after_position(&self, position: u64) -> Option<((u64, Link), u64)> {
        let at = self.sparse.partition_point(|&(_, l)| l.position < position);
        let floor = at.checked_sub(1).map_or(0, |before| self.sparse[before].0);
        let anchor = self.sparse.get(at).copied().or(self.last)?;
        Some((anchor, floor))
    }

    /// Heap bytes this chain holds (for the memory measurements in docs/design.md).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.sparse.capacity() * std::mem::size_of::<(u64, Link)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(position: u64) -> Link {
        Link {
            position,
            record_offset: 64,
        }
    }

    #[test]
    fn anchors_are_the_nearest_indexed_link_at_or_after() {
        // Proves a walk starts at most SPARSE_EVERY links above the wanted event.
        let mut chain = Chain::default();
        for seq in 0..100u64 {
            assert_eq!(chain.push(link(seq * 10)), seq);
        }
        assert_eq!(chain.anchor_at_or_after(0), Some((0, link(0))));
        assert_eq!(chain.anchor_at_or_after(1), Some((32, link(320))));
        assert_eq!(chain.anchor_at_or_after(97), Some((99, link(990))));
        let ((anchor, _), floor) = chain.anchor_at_or_after_position(325).expect("anchor");
        assert_eq!((anchor, floor), (64, 32));
        assert_eq!(Chain::default().anchor_at_or_after(0), None);
    }
}
