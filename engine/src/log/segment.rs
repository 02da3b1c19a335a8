//! One segment file as the running log sees it: its mapping, the published length, and a
//! sparse position index, all readable without a lock.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam::utils::CachePadded;

use super::scan::scan_records;
use crate::error::{Error, Result};
use crate::io::StorageFile;

/// One sparse-index entry is kept per this many bytes of records.
pub(crate) const INDEX_INTERVAL_BYTES: u64 = 8 << 10;

/// A segment shared by the writer and every reader.
pub(crate) struct Segment {
    pub(crate) first_position: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<dyn StorageFile>,
    /// End of the last published record (the seal included). Readers never read past it.
    written_bytes: AtomicU64,
    sealed: AtomicBool,
    pub(crate) index: SparseIndex,
    /// For a sealed segment not scanned at open: what its scan must find, and its result.
    deferred: Option<DeferredScan>,
    /// `u64::MAX`, or the first position a suffix truncation removed from this segment
    /// (`truncation`): readers holding it must not return events from there on. On a
    /// line of its own, so the per-event check reads a line nobody writes.
    cut_from: CachePadded<AtomicU64>,
}

/// A sealed segment's scan, put off from open to its first reader.
struct DeferredScan {
    epoch: u64,
    /// The position its seal must carry (the next segment's first position).
    end_position: u64,
    /// The scan's outcome: `Err((offset, reason))` names the damage.
    outcome: OnceLock<std::result::Result<(), (u64, String)>>,
}

impl Segment {
    pub(crate) fn new(
        first_position: u64,
        path: PathBuf,
        file: Arc<dyn StorageFile>,
        written_bytes: u64,
    ) -> Segment {
        let capacity = (file.len_bytes() / INDEX_INTERVAL_BYTES + 2) as usize;
        Segment {
            first_position,
            path,
            file,
            written_bytes: AtomicU64::new(written_bytes),
            sealed: AtomicBool::new(false),
            index: SparseIndex::with_capacity(capacity),
            deferred: None,
            cut_from: CachePadded::new(AtomicU64::new(u64::MAX)),
        }
    }

    /// A sealed segment whose records are scanned (checksums, positions, sparse index) by
    /// its first reader rather than at open; until then it publishes no bytes.
    pub(crate) fn deferred(
        first_position: u64,
        path: PathBuf,
        file: Arc<dyn StorageFile>,
        epoch: u64,
        end_position: u64,
    ) -> Segment {
        let mut segment = Segment::new(first_position, path, file, 0);
        segment.sealed = AtomicBool::new(true);
        segment.deferred = Some(DeferredScan {
            epoch,
            end_position,
            outcome: OnceLock::new(),
        });
        segment
    }

    /// Scans a deferred segment once (concurrent callers wait for that one scan); a
    /// damaged segment is reported to every caller.
    pub(crate) fn ensure_scanned(&self) -> Result<()> {
        let Some(deferred) = &self.deferred else {
            return Ok(());
        };
        let outcome = deferred.outcome.get_or_init(|| {
            let view = self
                .file
                .view()
                .map_err(|e| (0, format!("cannot map segment: {e}")))?;
            let end = scan_records(&view, deferred.epoch, self.first_position, |p, o| {
                self.index.push(p, o)
            });
            if let Some(damage) = end.damage {
                return Err((damage.offset, damage.reason.to_owned()));
            }
            if !end.sealed || end.end_position != deferred.end_position {
                return Err((
                    end.end_offset,
                    format!(
                        "sealed segment ends at position {} without the seal for {}",
                        end.end_position, deferred.end_position
                    ),
                ));
            }
            self.publish(end.end_offset);
            Ok(())
        });
        outcome
            .clone()
            .map_err(|(offset, reason)| Error::corrupt(self.path.clone(), offset, reason))
    }

    /// For a sealed segment whose deferred scan has not run: the position its seal must
    /// carry. A sequential reader entering it at its start may then verify each record as
    /// it reads it (`LogReader`) rather than scan it all first.
    pub(crate) fn unscanned_seal_position(&self) -> Option<u64> {
        let deferred = self.deferred.as_ref()?;
        deferred
            .outcome
            .get()
            .is_none()
            .then_some(deferred.end_position)
    }

    /// Bytes a reader may read: everything below is complete, published records.
    pub(crate) fn written_bytes(&self) -> u64 {
        self.written_bytes.load(Ordering::Acquire)
    }

    /// Publishes records written below `bytes` (writer only).
    pub(crate) fn publish(&self, bytes: u64) {
        self.written_bytes.store(bytes, Ordering::Release);
    }

    /// The first position a suffix truncation removed from this segment, if one did (a
    /// `Relaxed` load: the truncation stored it before it returned). `u64::MAX` stands
    /// for none, so a cut there is not told (a record ending at `u64::MAX` takes no
    /// append after it: nothing could follow the cut).
    pub(crate) fn cut_from(&self) -> Option<u64> {
        let cut = self.cut_from.load(Ordering::Relaxed);
        (cut != u64::MAX).then_some(cut)
    }

    /// Marks every position from `position` on as removed from this segment.
    pub(crate) fn mark_cut_from(&self, position: u64) {
        self.cut_from.fetch_min(position, Ordering::AcqRel);
    }

    /// Whether the segment is sealed (it takes no more records).
    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    pub(crate) fn mark_sealed(&self) {
        self.sealed.store(true, Ordering::Release);
    }
}

/// Record start offsets for some positions of one segment: a fixed-capacity, append-only
/// array filled by the single writer and read lock-free.
pub(crate) struct SparseIndex {
    positions: Box<[AtomicU64]>,
    offsets: Box<[AtomicU32]>,
    len: AtomicUsize,
}

impl SparseIndex {
    fn with_capacity(capacity: usize) -> SparseIndex {
        SparseIndex {
            positions: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            offsets: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
            len: AtomicUsize::new(0),
        }
    }

    /// Adds an entry (writer only; positions and offsets strictly increase). Entries past
    /// the capacity are dropped, which only makes lookups scan further.
    pub(crate) fn push(&self, position: u64, offset: u64) {
        let len = self.len.load(Ordering::Relaxed);
        if len == self.positions.len() {
            return;
        }
        self.positions[len].store(position, Ordering::Relaxed);
        self.offsets[len].store(offset as u32, Ordering::Relaxed);
        self.len.store(len + 1, Ordering::Release);
    }

    /// The offset of the last indexed record whose first position is at most `position`.
    pub(crate) fn floor(&self, position: u64) -> Option<(u64, u64)> {
        let len = self.len.load(Ordering::Acquire);
        let (mut low, mut high) = (0, len);
        while low < high {
            let mid = (low + high) / 2;
            if self.positions[mid].load(Ordering::Relaxed) <= position {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        let at = low.checked_sub(1)?;
        Some((
            self.positions[at].load(Ordering::Relaxed),
            u64::from(self.offsets[at].load(Ordering::Relaxed)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_finds_the_last_entry_at_or_before() {
        // Proves the sparse index answers the nearest earlier record for any position.
        let index = SparseIndex::with_capacity(4);
        assert_eq!(index.floor(5), None);
        index.push(10, 64);
        index.push(20, 8256);
        index.push(35, 16448);
        assert_eq!(index.floor(9), None);
        assert_eq!(index.floor(10), Some((10, 64)));
        assert_eq!(index.floor(34), Some((20, 8256)));
        assert_eq!(index.floor(u64::MAX), Some((35, 16448)));
        index.push(40, 20000);
        index.push(50, 30000);
        assert_eq!(
            index.floor(60),
            Some((40, 20000)),
            "past capacity is dropped"
        );
    }
}
