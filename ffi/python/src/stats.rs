//! `annal.Metrics` and `annal.IndexMemory`: the engine's counters and a store index's
//! memory, as plain read-only values for operators.

use pyo3::prelude::*;

/// The engine's counters since the log or store opened.
#[pyclass(frozen, module = "annal", get_all)]
pub struct Metrics {
    /// Appends acknowledged (one per call, whatever its batch size).
    appends: u64,
    /// Events acknowledged.
    events: u64,
    /// Bytes of records written into segments.
    record_bytes: u64,
    /// Payload bytes acknowledged.
    payload_bytes: u64,
    /// fdatasync calls made to acknowledge synced appends (group commits).
    group_syncs: u64,
    /// Segment rolls.
    rolls: u64,
    /// Events read by location (every event a store read returns).
    located_reads: u64,
    /// Bytes those reads spanned.
    located_read_bytes: u64,
    /// 4 KiB pages those spans covered.
    located_read_pages: u64,
}

impl From<annal::Metrics> for Metrics {
    fn from(m: annal::Metrics) -> Metrics {
        Metrics {
            appends: m.appends,
            events: m.events,
            record_bytes: m.record_bytes,
            payload_bytes: m.payload_bytes,
            group_syncs: m.group_syncs,
            rolls: m.rolls,
            located_reads: m.located_reads,
            located_read_bytes: m.located_read_bytes,
            located_read_pages: m.located_read_pages,
        }
    }
}

#[pymethods]
impl Metrics {
    fn __repr__(&self) -> String {
        format!(
            "<annal.Metrics appends={} events={} group_syncs={} rolls={}>",
            self.appends, self.events, self.group_syncs, self.rolls
        )
    }
}

/// A store index's resident memory: approximate heap bytes and streams known.
#[pyclass(frozen, module = "annal", get_all)]
pub struct IndexMemory {
    /// Approximate heap bytes of the index.
    heap_bytes: usize,
    /// Streams it knows.
    streams: usize,
}

impl From<annal::IndexMemory> for IndexMemory {
    fn from(m: annal::IndexMemory) -> IndexMemory {
        IndexMemory {
            heap_bytes: m.heap_bytes,
            streams: m.streams,
        }
    }
}

#[pymethods]
impl IndexMemory {
    fn __repr__(&self) -> String {
        format!(
            "<annal.IndexMemory heap_bytes={} streams={}>",
            self.heap_bytes, self.streams
        )
    }
}
