//! Workload 3: read every event of a log in order, touching each payload, against reading
//! a raw file of the same records sequentially.
//!
//! Datasets are written once, untimed, then read in rounds with the page cache warm (the
//! bytes were just written): this measures the read path, not the disk.
//!
//! - Annal, one event per record: `Log::read_from(Position(0))` over a log written by
//!   single-event appends (the records workload 1 produces).
//! - Annal, 100 events per record: the same over a log written by 100-event batches.
//! - raw: `read` of a file holding the same 144-byte records through a 1 MiB buffer,
//!   decoding each record's length and touching its payload.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use annal::{Durability, Log, Options, Position};

use crate::buffered::RAW_BUFFER_BYTES;
use crate::record::{encode_raw, raw_record_bytes, touch, RAW_HEADER_BYTES, RAW_LENGTH_BYTES};
use crate::BenchResult;

/// The readers of the read workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadSystem {
    /// Annal over a log of single-event records.
    Annal,
    /// Annal over a log of 100-event records.
    AnnalBatched,
    /// A raw file of the same records, read sequentially.
    Raw,
}

/// Events per record of the batched dataset.
pub const BATCH_EVENTS: usize = 100;

impl ReadSystem {
    /// The name used in tables and criterion ids.
    pub fn name(self) -> &'static str {
        match self {
            ReadSystem::Annal => "annal",
            ReadSystem::AnnalBatched => "annal-batch100",
            ReadSystem::Raw => "raw",
        }
    }
}

/// Writes an Annal log of `n` events in `dir`, `per_append` events per append; returns
/// the time it took (appends and the closing sync).
pub fn write_annal(dir: &Path, n: u64, per_append: usize, payload: &[u8]) -> BenchResult<Duration> {
    let log = Log::open(dir, Options::default())?;
    let started = Instant::now();
    let batch: Vec<&[u8]> = vec![payload; per_append.max(1)];
    let mut left = n;
    while left > 0 {
        let take = left.min(batch.len() as u64) as usize;
        log.append_batch(&batch[..take], Durability::Buffered)?;
        left -= take as u64;
    }
    log.close()?;
    Ok(started.elapsed())
}

/// Writes the raw file `path` of `n` records and syncs it.
pub fn write_raw(path: &Path, n: u64, payload: &[u8]) -> BenchResult<()> {
    let mut file = File::create(path)?;
    let mut buf = Vec::with_capacity(RAW_BUFFER_BYTES);
    for position in 0..n {
        if buf.len() + raw_record_bytes(payload.len()) > RAW_BUFFER_BYTES {
            std::io::Write::write_all(&mut file, &buf)?;
            buf.clear();
        }
        encode_raw(&mut buf, position, payload);
    }
    std::io::Write::write_all(&mut file, &buf)?;
    file.sync_all()?;
    Ok(())
}

/// Reads every event of `log` from position 0, touching each payload; returns the count
/// and the fold of the touches.
pub fn read_annal(log: &Log) -> BenchResult<(u64, u64)> {
    let mut count = 0u64;
    let mut acc = 0u64;
    for event in log.read_from(Position(0))? {
        let event = event?;
        acc = touch(acc, &event.payload);
        count += 1;
    }
    Ok((count, acc))
}

/// Reads the raw file at `path` sequentially, touching each record's payload; returns
/// the count and the fold of the touches.
pub fn read_raw(path: &Path) -> BenchResult<(u64, u64)> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; RAW_BUFFER_BYTES];
    let mut filled = 0usize;
    let mut count = 0u64;
    let mut acc = 0u64;
    loop {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
        let mut at = 0usize;
        while filled - at >= RAW_HEADER_BYTES + RAW_LENGTH_BYTES {
            let len_at = at + RAW_HEADER_BYTES;
            let mut len_bytes = [0u8; 4];
            len_bytes.copy_from_slice(&buf[len_at..len_at + 4]);
            let len = u32::from_le_bytes(len_bytes) as usize;
            let record = raw_record_bytes(len);
            if filled - at < record {
                break;
            }
            let payload_at = len_at + RAW_LENGTH_BYTES;
            acc = touch(acc, &buf[payload_at..payload_at + len]);
            count += 1;
            at += record;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
    }
    if filled != 0 {
        return Err(format!("raw file ends with {filled} bytes of a partial record").into());
    }
    Ok((count, acc))
}
