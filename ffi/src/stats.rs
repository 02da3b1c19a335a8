//! Counters and state for operators: the engine's metrics of a log or store, a store
//! index's memory, and a follower's refresh.
#![expect(
    unsafe_code,
    reason = "C exports (no_mangle) and writing caller memory"
)]

use annal::Metrics;

use crate::args::Out;
use crate::log::{self, annal_log};
use crate::panic::guard;
use crate::status::annal_status;
use crate::store::{self, annal_store};

/// The engine's counters since the log or store opened.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_metrics {
    /// Appends acknowledged (one per call, whatever its batch size).
    pub appends: u64,
    /// Events acknowledged.
    pub events: u64,
    /// Bytes of records written into segments (headers, lengths and padding included).
    pub record_bytes: u64,
    /// Payload bytes acknowledged.
    pub payload_bytes: u64,
    /// fdatasync calls made to acknowledge synced appends (group commits).
    pub group_syncs: u64,
    /// Segment rolls.
    pub rolls: u64,
    /// Events read by location (every event a store read returns).
    pub located_reads: u64,
    /// Bytes those reads spanned.
    pub located_read_bytes: u64,
    /// 4 KiB pages those spans covered, added up read by read.
    pub located_read_pages: u64,
}

impl From<Metrics> for annal_metrics {
    fn from(m: Metrics) -> Self {
        annal_metrics {
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

/// A store index's resident memory.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, reason = "C type names are snake_case")]
pub struct annal_index_memory {
    /// Approximate heap bytes of the index.
    pub heap_bytes: usize,
    /// Streams it knows.
    pub streams: usize,
}

/// Writes the log's counters to `*metrics`.
///
/// # Safety
/// `metrics` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_log_metrics(
    log: *const annal_log,
    metrics: *mut annal_metrics,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(metrics, "metrics") }?;
        out.write(log::get(log)?.with(|log| Ok(log.metrics()))?.into());
        Ok(())
    })
}

/// Writes the store's counters (its log's) to `*metrics`.
///
/// # Safety
/// `metrics` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_metrics(
    store: *const annal_store,
    metrics: *mut annal_metrics,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(metrics, "metrics") }?;
        out.write(store::get(store)?.with(|s| Ok(s.metrics()))?.into());
        Ok(())
    })
}

/// Writes the store index's resident memory to `*memory`.
///
/// # Safety
/// `memory` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn annal_store_index_memory(
    store: *const annal_store,
    memory: *mut annal_index_memory,
) -> annal_status {
    guard(|| {
        // SAFETY: the contract.
        let out = unsafe { Out::new(memory, "memory") }?;
        let found = store::get(store)?.with(|s| Ok(s.index_memory()))?;
        out.write(annal_index_memory {
            heap_bytes: found.heap_bytes,
            streams: found.streams,
        });
        Ok(())
    })
}

/// A follower (`read_only = 1`) reads what its writer added since it last looked, now
/// (it also does by itself, every few milliseconds); a log with a writer has nothing to
/// do.
#[no_mangle]
pub extern "C" fn annal_log_refresh(log: *const annal_log) -> annal_status {
    guard(|| log::get(log)?.with(|log| log.refresh()))
}
