//! The append path: validate, encode once into the writer's buffer, write it to the
//! active segment and publish the watermark; roll to a new segment when a record won't
//! fit.
//!
//! `Buffered` and `Synced` appends stay in the buffer (no system call) until something
//! needs them written: a `Written` append (which writes the whole buffer with its own
//! record in one `pwrite`), the group-commit leader about to sync (`group_commit`), a
//! full buffer (`FLUSH_BYTES`), a roll, `Log::flush`, `Log::sync`, or a read of their
//! positions. Only written records are published.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::directory::install_segment;
use super::flusher::{Flusher, WRITE_BEHIND_BYTES};
use super::preparer::Preparer;
use super::segment::{Segment, INDEX_INTERVAL_BYTES};
use super::{Appended, Shared};
use crate::error::{Error, Limit, Result};
use crate::format::record::{
    append_record, encode_seal, record_bytes_for, RecordEvents, SEAL_RECORD_BYTES,
};
use crate::format::segment_header::SEGMENT_HEADER_BYTES;
use crate::io::{PendingSync, StorageFile};
use crate::limits::{BATCH_BYTES_MAX, BATCH_EVENTS_MAX, EVENT_BYTES_MAX, EXTENSION_BYTES_MAX};
use crate::options::Durability;
use crate::position::{check_positions_left, Position};

/// Buffered records are written once the buffer holds this many bytes.
pub(crate) const FLUSH_BYTES: usize = 256 << 10;

/// The single writer's state, guarded by the log's writer mutex.
pub(crate) struct Writer {
    active: Arc<Segment>,
    /// Where the next record goes in the active segment (after the buffered ones).
    offset: u64,
    /// The position the next append gets.
    next_position: u64,
    /// Where the buffered records start: everything before is written and published.
    written_offset: u64,
    /// The position after the last written (published) event.
    written_position: u64,
    /// Records encoded but not yet written, which belong at `written_offset`.
    buffer: Vec<u8>,
    /// The active segment holds a seal: the next append must start a new segment.
    active_sealed: bool,
    last_indexed_offset: Option<u64>,
    preparer: Option<Preparer>,
    /// Syncs sealed segments and writes behind in the background (`None`: rolls sync
    /// sealed segments themselves).
    flusher: Option<Flusher>,
}

impl Writer {
    pub(crate) fn new(
        active: Arc<Segment>,
        offset: u64,
        next_position: u64,
        active_sealed: bool,
        preparer: Option<Preparer>,
    ) -> Writer {
        Writer {
            active,
            offset,
            next_position,
            written_offset: offset,
            written_position: next_position,
            buffer: Vec::new(),
            active_sealed,
            last_indexed_offset: None,
            preparer,
            flusher: None,
        }
    }

    /// The active segment and the position after the last written event: what a group
    /// commit leader must sync to cover everything written so far (the leader writes
    /// the buffered records first).
    pub(crate) fn sync_target(&self) -> (Arc<Segment>, u64) {
        (Arc::clone(&self.active), self.written_position)
    }

    /// Where the written records end, as a clean-close marker names it: the active
    /// segment's first position, its published bytes and the position after the last
    /// written event; `None` while records are buffered.
    pub(crate) fn written_end(&self) -> Option<(u64, u64, u64)> {
        self.buffer.is_empty().then(|| {
            let active = &self.active;
            (
                active.first_position,
                active.written_bytes(),
                self.written_position,
            )
        })
    }

    /// Whether records are buffered, not yet written.
    pub(crate) fn has_buffered(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Hands the writer the thread that syncs sealed segments and writes behind.
    pub(crate) fn set_flusher(&mut self, flusher: Option<Flusher>) {
        self.flusher = flusher;
    }

    /// The position the next append gets.
    pub(crate) fn next_position(&self) -> u64 {
        self.next_position
    }

    /// Continues appending in `active` at `offset` with `next_position`, after a suffix
    /// truncation replaced the segment (`truncation`); nothing may be buffered.
    pub(crate) fn restart_at(
        &mut self,
        active: Arc<Segment>,
        offset: u64,
        next_position: u64,
        last_indexed_offset: Option<u64>,
    ) {
        assert!(
            self.buffer.is_empty(),
            "a truncation flushes the buffer first"
        );
        self.active = active;
        self.offset = offset;
        self.next_position = next_position;
        self.written_offset = offset;
        self.written_position = next_position;
        self.active_sealed = false;
        self.last_indexed_offset = last_indexed_offset;
    }

    /// Takes the background threads, to stop them (by dropping them).
    pub(crate) fn stop_threads(&mut self) -> (Option<Preparer>, Option<Flusher>) {
        (self.preparer.take(), self.flusher.take())
    }
}

/// Largest record a segment of `segment_bytes` can hold next to its header and seal.
pub(crate) fn record_capacity_bytes(segment_bytes: u64) -> u64 {
    segment_bytes - SEGMENT_HEADER_BYTES as u64 - SEAL_RECORD_BYTES as u64
}

pub(super) fn validate<E: RecordEvents + ?Sized>(
    events: &E,
    extension: &[u8],
    segment_bytes: u64,
) -> Result<(usize, usize)> {
    if events.count() == 0 {
        return Err(Error::EmptyBatch);
    }
    if extension.len() > EXTENSION_BYTES_MAX {
        return Err(Error::LimitExceeded {
            limit: Limit::ExtensionBytes,
            value: extension.len() as u64,
            max: EXTENSION_BYTES_MAX as u64,
        });
    }
    if events.count() > BATCH_EVENTS_MAX {
        return Err(Error::LimitExceeded {
            limit: Limit::BatchEvents,
            value: events.count() as u64,
            max: BATCH_EVENTS_MAX as u64,
        });
    }
    let mut payload_bytes = 0usize;
    for i in 0..events.count() {
        let len = events.payload_bytes(i);
        if len > EVENT_BYTES_MAX {
            return Err(Error::LimitExceeded {
                limit: Limit::EventBytes,
                value: len as u64,
                max: EVENT_BYTES_MAX as u64,
            });
        }
        payload_bytes += len;
    }
    if payload_bytes > BATCH_BYTES_MAX {
        return Err(Error::LimitExceeded {
            limit: Limit::BatchBytes,
            value: payload_bytes as u64,
            max: BATCH_BYTES_MAX as u64,
        });
    }
    let record_bytes = record_bytes_for(payload_bytes, events.count(), extension.len());
    let capacity = record_capacity_bytes(segment_bytes);
    if record_bytes as u64 > capacity {
        return Err(Error::LimitExceeded {
            limit: Limit::BatchBytes,
            value: record_bytes as u64,
            max: capacity,
        });
    }
    Ok((payload_bytes, record_bytes))
}

/// Writes the buffered records in one `pwrite` and publishes them to readers.
pub(crate) fn flush(shared: &Shared, writer: &mut Writer) -> Result<()> {
    if writer.buffer.is_empty() {
        return Ok(());
    }
    write_buffer(shared, writer, |file, offset, bytes| {
        file.write_at(offset, bytes)
    })
}

/// Writes the buffered records (possibly none) into `segment`, which must be the active
/// one, publishes them, and starts the data sync that makes them durable: for the
/// group-commit leader, whose write and sync go to the kernel together where the storage
/// can (`StorageFile::write_then_sync_data`).
pub(crate) fn flush_then_sync<'a>(
    shared: &Shared,
    writer: &mut Writer,
    segment: &'a Segment,
) -> Result<PendingSync<'a>> {
    assert!(
        std::ptr::eq(segment, Arc::as_ptr(&writer.active)),
        "only the active segment takes buffered records"
    );
    let mut pending = None;
    write_buffer(shared, writer, |_, offset, bytes| {
        pending = Some(segment.file.write_then_sync_data(offset, bytes)?);
        Ok(())
    })?;
    Ok(pending.expect("written without error"))
}

/// Hands the buffered records to `write` (with the active file and their offset), then
/// publishes them; a failure poisons the log and gives the unwritten positions back.
fn write_buffer(
    shared: &Shared,
    writer: &mut Writer,
    write: impl FnOnce(&dyn StorageFile, u64, &[u8]) -> std::io::Result<()>,
) -> Result<()> {
    if let Err(e) = write(
        writer.active.file.as_ref(),
        writer.written_offset,
        &writer.buffer,
    ) {
        // Nothing unwritten survives a poisoned log: the buffered appends (acknowledged
        // as `Buffered`, which promises nothing) and the failed one give their positions
        // back.
        shared.poison();
        writer.buffer.clear();
        writer.offset = writer.written_offset;
        writer.next_position = writer.written_position;
        shared.next.store(writer.next_position, Ordering::Release);
        return Err(Error::io(
            "write record",
            Some(writer.active.path.clone()),
            e,
        ));
    }
    if writer.buffer.is_empty() {
        return Ok(());
    }
    writer.buffer.clear();
    let crossed = writer.offset / WRITE_BEHIND_BYTES > writer.written_offset / WRITE_BEHIND_BYTES;
    let half = writer.active.file.len_bytes() / 2;
    if writer.written_offset < half && writer.offset >= half {
        if let Some(preparer) = &writer.preparer {
            // The next segment is prepared once this one is half full, not when it
            // starts: a log that never fills a segment never creates (and every open
            // never removes) a second one.
            preparer.request();
        }
    }
    writer.written_offset = writer.offset;
    writer.written_position = writer.next_position;
    writer.active.publish(writer.written_offset);
    if crossed {
        if let Some(flusher) = &writer.flusher {
            // Write-back only starts early what a sync does anyway; a flusher that is
            // gone has poisoned the log, which the next append or sync reports.
            flusher.request().ok();
        }
    }
    shared
        .written
        .store(writer.written_position, Ordering::Release);
    // After the Release store: wakes waiting subscriptions (one swap when none sleeps).
    shared.tail.publish();
    Ok(())
}

/// Appends a batch (and its record extension) as one record. A `Written` record is
/// written and published before this returns; a `Synced` one is left for the group
/// commit leader to write and sync (the caller waits for it in `group_commit`).
pub(crate) fn append<E: RecordEvents + ?Sized>(
    shared: &Shared,
    events: &E,
    extension: &[u8],
    durability: Durability,
) -> Result<Appended> {
    let (payload_bytes, record_bytes) = validate(events, extension, shared.options.segment_bytes)?;
    // The owner's lock first (nothing for the raw log), then the writer's mutex.
    let owner = shared.hold_owner();
    let mut writer = shared.writer_under(&owner);
    append_to(
        shared,
        &mut writer,
        events,
        extension,
        durability,
        payload_bytes,
        record_bytes,
    )
}

/// The part of [`append`] with the writer in hand (behind its mutex, or its owner's lock:
/// `owner`), for an append `validate` accepted with these sizes.
#[inline(always)]
pub(super) fn append_to<E: RecordEvents + ?Sized>(
    shared: &Shared,
    writer: &mut Writer,
    events: &E,
    extension: &[u8],
    durability: Durability,
    payload_bytes: usize,
    record_bytes: usize,
) -> Result<Appended> {
    shared.check_usable()?;
    check_positions_left(writer.next_position, events.count() as u64)?;
    // The active segment's own size, not the option: a log reopened with another
    // `segment_bytes` keeps its existing segments at the size they were created with.
    if writer.active_sealed
        || writer.offset + record_bytes as u64 + SEAL_RECORD_BYTES as u64
            > writer.active.file.len_bytes()
    {
        roll(shared, writer)?;
    }
    let position = writer.next_position;
    let synced_before = shared.synced.load(Ordering::Acquire);
    let record_offset = writer.offset;
    append_record(
        &mut writer.buffer,
        shared.epoch,
        position,
        synced_before,
        events,
        extension,
    );
    debug_assert_eq!(
        writer.written_offset + writer.buffer.len() as u64,
        record_offset + record_bytes as u64
    );
    let indexed_long_ago = writer
        .last_indexed_offset
        .is_none_or(|last| record_offset >= last + INDEX_INTERVAL_BYTES);
    if indexed_long_ago {
        writer.active.index.push(position, record_offset);
        writer.last_indexed_offset = Some(record_offset);
    }
    writer.offset += record_bytes as u64;
    writer.next_position += events.count() as u64;
    shared.next.store(writer.next_position, Ordering::Release);
    // A `Synced` record stays in the buffer too: the group-commit leader writes every
    // record waiting for its sync in one `pwrite` just before the fdatasync, so
    // concurrent durable appends share the write as well as the sync.
    if durability == Durability::Written || writer.buffer.len() >= FLUSH_BYTES {
        flush(shared, writer)?;
    }
    shared.counters.appended(
        events.count() as u64,
        record_bytes as u64,
        payload_bytes as u64,
    );
    Ok(Appended {
        first: Position(position),
        last: Position(writer.next_position - 1),
        record_offset: record_offset as u32,
    })
}

/// Seals the active segment (once) and starts the next one at the next position. The
/// sealed segment's fdatasync is left to the flusher thread (`flusher`): a roll only
/// waits for the previous one, so at most one sealed segment is ever not durable. A
/// failure to write the seal (or to sync the previous one) poisons the log; a failure to
/// create the next segment (a full disk) does not: the next append tries again.
fn roll(shared: &Shared, writer: &mut Writer) -> Result<()> {
    flush(shared, writer)?;
    let sealed_now = !writer.active_sealed;
    if sealed_now {
        seal(shared, writer)?;
    }
    let installed = start_next_segment(shared, writer);
    if sealed_now {
        // Only now: a seal's fdatasync in flight (tens of MB for a segment of `Buffered`
        // appends) would hold up the new segment's one-sector header sync, as a sync
        // waits for the device's queue.
        match &writer.flusher {
            Some(flusher) => flusher.request()?,
            None => shared.seals.make_durable(shared)?,
        }
    }
    installed
}

/// Writes the seal into the active segment and leaves the segment pending (`flusher`),
/// after making the previous pending one durable.
fn seal(shared: &Shared, writer: &mut Writer) -> Result<()> {
    shared.seals.make_durable(shared)?;
    let seal = encode_seal(
        shared.epoch,
        writer.next_position,
        shared.synced.load(Ordering::Acquire),
    );
    if let Err(e) = writer.active.file.write_at(writer.offset, &seal) {
        shared.poison();
        return Err(Error::io("write seal", Some(writer.active.path.clone()), e));
    }
    writer.offset += SEAL_RECORD_BYTES as u64;
    writer.written_offset = writer.offset;
    writer.active.publish(writer.offset);
    writer.active.mark_sealed();
    writer.active_sealed = true;
    shared
        .seals
        .set_pending(Arc::clone(&writer.active), writer.next_position);
    Ok(())
}

/// Takes the prepared file and installs it as the active segment at the next position.
fn start_next_segment(shared: &Shared, writer: &mut Writer) -> Result<()> {
    let preparer = writer.preparer.as_ref().ok_or(Error::Closed)?;
    let file = preparer.take()?;
    let path = install_segment(
        shared.storage.as_ref(),
        &shared.dir,
        &file,
        writer.next_position,
        shared.epoch,
    )?;
    let segment = Arc::new(Segment::new(
        writer.next_position,
        path,
        file,
        SEGMENT_HEADER_BYTES as u64,
    ));
    shared
        .segments
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::clone(&segment));
    writer.active = segment;
    writer.offset = SEGMENT_HEADER_BYTES as u64;
    writer.written_offset = writer.offset;
    writer.active_sealed = false;
    writer.last_indexed_offset = None;
    // The next file is asked for once this one is half full (`write_buffer`).
    preparer.installed();
    shared.counters.rolled();
    Ok(())
}
