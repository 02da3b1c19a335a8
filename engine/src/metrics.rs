//! Counters the engine keeps about its own work, for benchmarks and CI gates.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::utils::CachePadded;

/// The page size [`Metrics::located_read_pages`] counts in.
pub(crate) const PAGE_BYTES: u64 = 4096;

/// A snapshot of a log's counters since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Appends acknowledged (one per call, whatever its batch size).
    pub appends: u64,
    /// Events acknowledged.
    pub events: u64,
    /// Bytes of records written into segments (headers, lengths and padding included).
    pub record_bytes: u64,
    /// Payload bytes acknowledged.
    pub payload_bytes: u64,
    /// fdatasync calls on segments made to acknowledge `Synced` appends (group commits).
    pub group_syncs: u64,
    /// Segment rolls.
    pub rolls: u64,
    /// Events read by location ([`crate::Log::read_in_record`], how the stream layer
    /// reads every event it returns): one record lookup and decode each.
    pub located_reads: u64,
    /// Bytes those reads spanned: from the start of each record to the end of the event
    /// read (the record header, the events before it in the record, and the event).
    pub located_read_bytes: u64,
    /// 4 KiB pages of the segment those spans covered, added up read by read.
    pub located_read_pages: u64,
}

/// Located reads added up over one call, so the shared counters are updated once per
/// call rather than once per event.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LocatedSpans {
    reads: u64,
    bytes: u64,
    pages: u64,
}

impl LocatedSpans {
    /// Counts one located read spanning `span_bytes` (at least 1) from `offset` in its
    /// segment.
    pub(crate) fn add(&mut self, offset: u64, span_bytes: u64) {
        self.reads += 1;
        self.bytes += span_bytes;
        self.pages += (offset + span_bytes - 1) / PAGE_BYTES - offset / PAGE_BYTES + 1;
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    appends: AtomicU64,
    events: AtomicU64,
    record_bytes: AtomicU64,
    payload_bytes: AtomicU64,
    group_syncs: AtomicU64,
    rolls: AtomicU64,
    /// Readers add to these concurrently: a cache line of their own keeps them off the
    /// writer's counters above.
    located: CachePadded<LocatedReads>,
}

#[derive(Debug, Default)]
struct LocatedReads {
    reads: AtomicU64,
    bytes: AtomicU64,
    pages: AtomicU64,
}

impl Counters {
    /// Counts an append. Called only by the writer, under the writer mutex, so a plain
    /// load and store suffice: no locked read-modify-write on the hot path.
    pub(crate) fn appended(&self, events: u64, record_bytes: u64, payload_bytes: u64) {
        let add = |counter: &AtomicU64, n: u64| {
            counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        };
        add(&self.appends, 1);
        add(&self.events, events);
        add(&self.record_bytes, record_bytes);
        add(&self.payload_bytes, payload_bytes);
    }

    pub(crate) fn group_synced(&self) {
        self.group_syncs.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rolled(&self) {
        self.rolls.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the located reads of one call.
    pub(crate) fn located_reads(&self, spans: &LocatedSpans) {
        self.located.reads.fetch_add(spans.reads, Ordering::Relaxed);
        self.located.bytes.fetch_add(spans.bytes, Ordering::Relaxed);
        self.located.pages.fetch_add(spans.pages, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Metrics {
        Metrics {
            appends: self.appends.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            record_bytes: self.record_bytes.load(Ordering::Relaxed),
            payload_bytes: self.payload_bytes.load(Ordering::Relaxed),
            group_syncs: self.group_syncs.load(Ordering::Relaxed),
            rolls: self.rolls.load(Ordering::Relaxed),
            located_reads: self.located.reads.load(Ordering::Relaxed),
            located_read_bytes: self.located.bytes.load(Ordering::Relaxed),
            located_read_pages: self.located.pages.load(Ordering::Relaxed),
        }
    }
}
