//! The closed loops' raw reference: the textbook group commit, with nothing else.
//!
//! Each append `pwrite`s its record under a mutex into a zero-filled, synced file (the
//! cheapest fdatasync there is: no metadata to commit), then waits for a sync that covers
//! it. The first waiter to find no sync running leads: it notes how far the file is
//! written, runs one fdatasync outside every lock, publishes it and wakes everyone on a
//! condition variable. No checksums, no segments, no readers.
//!
//! It measures what the machine gives a group commit: the fdatasync, the wake-ups and the
//! scheduling of the threads a sync releases. A closed-loop ratio that falls short of the
//! `threads ÷ fdatasync latency` ceiling for this reference too is the machine's, not
//! the implementation's.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use crate::peers::{zero_filled_file, DurableLog, RAW_PREALLOCATED_BYTES};
use crate::record::{encode_raw, raw_record_bytes};
use crate::BenchResult;

/// Raw `pwrite`s sharing fdatasyncs through a leader and a condition variable.
pub struct RawGroupLog {
    file: File,
    writer: Mutex<Writer>,
    /// Bytes written so far, counted across wrap-arounds.
    written: AtomicU64,
    sync: Mutex<SyncState>,
    synced_now: Condvar,
    syncs: AtomicU64,
}

struct Writer {
    offset: u64,
    position: u64,
    buf: Vec<u8>,
}

struct SyncState {
    leading: bool,
    synced: u64,
}

impl RawGroupLog {
    /// Creates `raw.log` in `dir`, zero-filled to [`RAW_PREALLOCATED_BYTES`] and synced.
    pub fn open(dir: &Path) -> BenchResult<RawGroupLog> {
        Ok(RawGroupLog {
            file: zero_filled_file(dir, RAW_PREALLOCATED_BYTES)?,
            writer: Mutex::new(Writer {
                offset: 0,
                position: 0,
                buf: Vec::with_capacity(raw_record_bytes(1 << 10)),
            }),
            written: AtomicU64::new(0),
            sync: Mutex::new(SyncState {
                leading: false,
                synced: 0,
            }),
            synced_now: Condvar::new(),
            syncs: AtomicU64::new(0),
        })
    }

    /// Writes the record and returns the byte count (across wrap-arounds) it ends at.
    fn write(&self, payload: &[u8]) -> BenchResult<u64> {
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let writer = &mut *guard;
        writer.buf.clear();
        encode_raw(&mut writer.buf, writer.position, payload);
        let len = writer.buf.len() as u64;
        if writer.offset + len > RAW_PREALLOCATED_BYTES {
            writer.offset = 0;
        }
        self.file.write_at(&writer.buf, writer.offset)?;
        writer.offset += len;
        writer.position += 1;
        Ok(self.written.fetch_add(len, Ordering::AcqRel) + len)
    }
}

impl DurableLog for RawGroupLog {
    fn append_synced(&self, payload: &[u8]) -> BenchResult<()> {
        let end = self.write(payload)?;
        let mut state = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        while state.synced < end {
            if state.leading {
                state = self
                    .synced_now
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.leading = true;
            let target = self.written.load(Ordering::Acquire);
            drop(state);
            let result = self.file.sync_data();
            self.syncs.fetch_add(1, Ordering::Relaxed);
            state = self.sync.lock().unwrap_or_else(|e| e.into_inner());
            state.leading = false;
            if result.is_ok() {
                state.synced = state.synced.max(target);
            }
            self.synced_now.notify_all();
            result?;
        }
        Ok(())
    }

    fn fdatasyncs(&self) -> Option<u64> {
        Some(self.syncs.load(Ordering::Relaxed))
    }

    fn close(self: Box<Self>) -> BenchResult<()> {
        self.file.sync_all()?;
        Ok(())
    }
}
