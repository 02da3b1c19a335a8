//! Workload 1: one thread appends `n` events without waiting for durability, then makes
//! them all durable with one sync. The time covers the appends and the final sync, not
//! opening or closing.
//!
//! - Annal: `append(payload, Durability::Buffered)` × n, then `sync()`; the payload is
//!   built once and borrowed by every append.
//! - Annal's event store: see [`BufferedSystem::AnnalStore`],
//!   [`BufferedSystem::AnnalStoreSlice`] and [`BufferedSystem::AnnalStoreHandle`] for
//!   what each builds per append.
//! - okaywal: one entry, `write_chunk(payload)` × n, then `commit()` (its only sync).
//!   okaywal syncs on every commit, so one entry holding every event as a chunk is its
//!   only way to append without a sync per event.
//! - raw: the same record-sized bytes as Annal (header, length, payload, padding) copied
//!   into a 1 MiB user-space buffer, `pwrite` when full, one `fdatasync` at the end.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use annal::{Durability, EventStore, ExpectedRevision, Log, Name, NewEvent, Options};

use crate::peers::STORE_STREAMS;

use crate::record::{encode_raw, raw_record_bytes};
use crate::BenchResult;

/// User-space buffer of the raw reference.
pub const RAW_BUFFER_BYTES: usize = 1 << 20;

/// The systems of the buffered-append workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BufferedSystem {
    /// Annal at `Durability::Buffered`, one `sync()` at the end.
    Annal,
    /// Annal's event store at `Durability::Buffered` (one event per append, streams
    /// cycling as in the durable workload), one `sync` append at the end. `append` takes
    /// its arguments owned, so per append the caller builds what any caller of it must:
    /// a `NewEvent` (a reference count on the shared data), a one-event `Vec`, and a
    /// clone of the stream name's `Bytes`.
    AnnalStore,
    /// `AnnalStore` through `EventStore::append_from_slice`: the stream's name and the
    /// one event borrowed, no `Vec` per append. The event is built once before the loop
    /// and borrowed by every append, as `Annal` borrows its one payload; per append the
    /// caller only picks the stream's name and the durability.
    AnnalStoreSlice,
    /// `AnnalStoreSlice` through stream handles (`EventStore::append_to`): one handle per
    /// stream, made before the loop, as an aggregate's repository holds the handle of the
    /// stream it appends to; per append the caller picks the handle and the durability.
    AnnalStoreHandle,
    /// The raw log appending events of the same sizes as `AnnalStore`'s envelopes (the
    /// fixed 56 bytes, the stream name, the type, the data, and every 8th event of a
    /// stream its link block): the log's share of a store append, the floor under it.
    AnnalStoreSized,
    /// okaywal, one entry of n chunks, one commit.
    OkayWal,
    /// Raw pwrite through a user-space buffer, one fdatasync.
    Raw,
}

impl BufferedSystem {
    /// The name used in tables and criterion ids.
    pub fn name(self) -> &'static str {
        match self {
            BufferedSystem::Annal => "annal",
            BufferedSystem::AnnalStore => "annal-store",
            BufferedSystem::AnnalStoreSlice => "annal-store-slice",
            BufferedSystem::AnnalStoreHandle => "annal-store-handle",
            BufferedSystem::AnnalStoreSized => "annal-store-sized",
            BufferedSystem::OkayWal => "okaywal",
            BufferedSystem::Raw => "raw",
        }
    }

    /// Appends `n` copies of `payload` into a fresh store in `dir` and syncs once;
    /// returns the time that took.
    pub fn run(self, dir: &Path, n: u64, payload: &[u8]) -> BenchResult<Duration> {
        match self {
            BufferedSystem::Annal => annal(dir, n, payload),
            BufferedSystem::AnnalStore => annal_store(dir, n, payload),
            BufferedSystem::AnnalStoreSlice => annal_store_slice(dir, n, payload),
            BufferedSystem::AnnalStoreHandle => annal_store_handle(dir, n, payload),
            BufferedSystem::AnnalStoreSized => annal_store_sized(dir, n, payload),
            BufferedSystem::OkayWal => okaywal(dir, n, payload),
            BufferedSystem::Raw => raw(dir, n, payload),
        }
    }
}

fn annal(dir: &Path, n: u64, payload: &[u8]) -> BenchResult<Duration> {
    let log = Log::open(dir, Options::default())?;
    let started = Instant::now();
    for _ in 0..n {
        log.append(payload, Durability::Buffered)?;
    }
    log.sync()?;
    let elapsed = started.elapsed();
    let events = log.metrics().events;
    log.close()?;
    if events != n {
        return Err(format!("annal acknowledged {events} events, expected {n}").into());
    }
    Ok(elapsed)
}

/// A bulk load of `n` single-event appends into a fresh store in `dir`, the `i`-th made
/// by `append` with `Buffered` durability (the last `Synced`), given what `setup` made
/// before the clock started; returns the time the appends took. `what` names the system
/// in errors.
fn store_bulk_load<S>(
    dir: &Path,
    n: u64,
    what: &str,
    setup: impl FnOnce(&EventStore) -> annal::Result<S>,
    mut append: impl FnMut(&EventStore, &S, u64, Durability) -> annal::Result<()>,
) -> BenchResult<Duration> {
    let store = EventStore::open(dir, Options::default())?;
    let prepared = setup(&store)?;
    let started = Instant::now();
    for i in 0..n {
        let durability = if i + 1 == n {
            Durability::Synced
        } else {
            Durability::Buffered
        };
        append(&store, &prepared, i, durability)?;
    }
    let elapsed = started.elapsed();
    let events = store.metrics().events;
    store.close()?;
    if events != n {
        return Err(format!("{what} acknowledged {events} events, expected {n}").into());
    }
    Ok(elapsed)
}

/// The stream the `i`-th append of a bulk load goes to.
fn stream_slot(i: u64) -> usize {
    (i % STORE_STREAMS) as usize
}

fn annal_store(dir: &Path, n: u64, payload: &[u8]) -> BenchResult<Duration> {
    let data = bytes::Bytes::copy_from_slice(payload);
    let names = |_: &EventStore| {
        Ok((0..STORE_STREAMS)
            .map(|i| bytes::Bytes::from(format!("s-{i}")))
            .collect::<Vec<_>>())
    };
    store_bulk_load(
        dir,
        n,
        "annal-store",
        names,
        |store, names, i, durability| {
            // A literal event type, as an application names its types: no copy per append.
            let event = NewEvent::new(Name::from_static("E"), data.clone());
            store
                .append(
                    names[stream_slot(i)].clone(),
                    ExpectedRevision::Any,
                    vec![event],
                    durability,
                )
                .map(drop)
        },
    )
}

/// The one event every append of the borrowing rows hands the store: built once and
/// borrowed by every append, as the raw log's row borrows its one payload (a bulk loader
/// with the borrowing API hands the store events it already holds, so neither row pays
/// per append for building its input).
fn borrowed_event(payload: &[u8]) -> NewEvent {
    NewEvent::new(
        Name::from_static("E"),
        bytes::Bytes::copy_from_slice(payload),
    )
}

fn annal_store_slice(dir: &Path, n: u64, payload: &[u8]) -> BenchResult<Duration> {
    let event = borrowed_event(payload);
    let names = |_: &EventStore| {
        Ok((0..STORE_STREAMS)
            .map(|i| format!("s-{i}"))
            .collect::<Vec<_>>())
    };
    store_bulk_load(
        dir,
        n,
        "annal-store-slice",
        names,
        |store, names, i, durability| {
            store
                .append_from_slice(
                    &names[stream_slot(i)],
                    ExpectedRevision::Any,
                    std::slice::from_ref(&event),
                    durability,
                )
                .map(drop)
        },
    )
}

fn annal_store_handle(dir: &Path, n: u64, payload: &[u8]) -> BenchResult<Duration> {
    let event = borrowed_event(payload);
    let handles = |store: &EventStore| {
        (0..STORE_STREAMS)
            .map(|i| store.stream_handle(format!("s-{i}")))
            .collect::<annal::Result<Vec<_>>>()
    };
    store_bulk_load(
        dir,
        n,
        "annal-store-handle",
        handles,
        |store, handles, i, durability| {
            store
                .append_to(
                    &handles[stream_slot(i)],
                    ExpectedRevision::Any,
                    std::slice::from_ref(&event),
                    durability,
                )
                .map(drop)
        },
    )
}

/// Bytes of the envelope the store writes for the `i`-th append of `annal_store`: the
/// fixed part (56), the stream name, the one-byte type, the data, and a link block of
/// 8 links (12 bytes each) on every 8th event of a stream after the first.
fn store_envelope_bytes(i: u64, name: &[u8], data: usize) -> usize {
    let revision = i / STORE_STREAMS;
    let links = if revision > 0 && revision.is_multiple_of(8) {
        8 * 12
    } else {
        0
    };
    56 + name.len() + 1 + data + links
}

fn annal_store_sized(dir: &Path, n: u64, payload: &[u8]) -> BenchResult<Duration> {
    let log = Log::open(dir, Options::default())?;
    let names: Vec<String> = (0..STORE_STREAMS).map(|i| format!("s-{i}")).collect();
    let sizes: Vec<usize> = (0..n)
        .map(|i| {
            store_envelope_bytes(
                i,
                names[(i % STORE_STREAMS) as usize].as_bytes(),
                payload.len(),
            )
        })
        .collect();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let event: Vec<u8> = payload.iter().copied().cycle().take(largest).collect();
    let started = Instant::now();
    for &size in &sizes {
        log.append(&event[..size], Durability::Buffered)?;
    }
    log.sync()?;
    let elapsed = started.elapsed();
    let events = log.metrics().events;
    log.close()?;
    if events != n {
        return Err(format!("annal acknowledged {events} events, expected {n}").into());
    }
    Ok(elapsed)
}

fn okaywal(dir: &Path, n: u64, payload: &[u8]) -> BenchResult<Duration> {
    let wal = okaywal::WriteAheadLog::recover(dir, okaywal::LogVoid)?;
    let started = Instant::now();
    let mut entry = wal.begin_entry()?;
    for _ in 0..n {
        entry.write_chunk(payload)?;
    }
    entry.commit()?;
    let elapsed = started.elapsed();
    wal.shutdown()?;
    Ok(elapsed)
}

fn raw(dir: &Path, n: u64, payload: &[u8]) -> BenchResult<Duration> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("raw.log"))?;
    File::open(dir)?.sync_all()?;
    let record_bytes = raw_record_bytes(payload.len());
    let started = Instant::now();
    let mut buf = Vec::with_capacity(RAW_BUFFER_BYTES);
    let mut offset = 0u64;
    for position in 0..n {
        if buf.len() + record_bytes > RAW_BUFFER_BYTES {
            file.write_all_at(&buf, offset)?;
            offset += buf.len() as u64;
            buf.clear();
        }
        encode_raw(&mut buf, position, payload);
    }
    file.write_all_at(&buf, offset)?;
    file.sync_data()?;
    Ok(started.elapsed())
}
