//! Writing the index checkpoint: the frozen heap levels merged with the previous table
//! into a new table file (`format/index_table.rs`), outside the store's lock. The merge
//! walks both in (hash, name) order: the table's records are copied as they are, the
//! frozen entries encoded, a frozen entry replacing the table's record of the same name.
//! Two passes (sizes, then bytes) so the file is created at its length and written
//! sequentially through a small buffer: writing costs no heap in proportion to the
//! streams but the slots (16 bytes per stream) it collects for the end of the file.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::checkpoint_v2;
use super::levels::Level;
use super::table::{Section, Table};
use super::{ChainEntry, Index};
use crate::error::{Error, Result};
use crate::format::envelope::LINK_BYTES;
use crate::format::index_table::{
    bucket, directory_bits, name_hash, put_record_start, record_bytes, Header, Invalid, RecordView,
    HEADER_BYTES, SLOT_BYTES, TIME_ENTRY_BYTES,
};
use crate::io::{Storage, StorageFile};

/// The checkpoint file's name in the log directory.
pub(crate) const CHECKPOINT_FILE_NAME: &str = "streams.idx";
/// The write buffer: the file goes out in pieces of about this size.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// What a checkpoint is written from: the index's scalars and time index at the moment
/// it was frozen, the table it had, and the levels frozen over it.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) epoch: u64,
    pub(crate) through: u64,
    pub(crate) events_indexed: u64,
    pub(crate) last_timestamp_ns: u64,
    pub(crate) time: Vec<(u64, u64)>,
    pub(crate) table: Option<Arc<Table>>,
    pub(crate) streams: Arc<Level>,
    pub(crate) categories: Arc<Level>,
}

/// One entry of the merged table: a record of the old table, or a frozen entry.
enum Source<'a> {
    Table(RecordView<'a>),
    Frozen(&'a ChainEntry),
}

impl Source<'_> {
    fn bytes(&self) -> usize {
        match self {
            Source::Table(record) => record.bytes.len(),
            Source::Frozen(entry) => record_bytes(
                &entry.name,
                entry.chain.heads_count(),
                entry.chain.open_len(),
            ),
        }
    }

    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Source::Table(record) => out.extend_from_slice(record.bytes),
            Source::Frozen(entry) => {
                let fields = RecordView {
                    name: &entry.name,
                    deleted: entry.deleted,
                    events: entry.chain.next_seq(),
                    truncate_before: entry.truncate_before,
                    heads: &[],
                    open: &[],
                    bytes: &[],
                };
                let (heads, open) = (entry.chain.heads_count(), entry.chain.open_len());
                put_record_start(out, &fields, heads, open);
                let start = out.len();
                entry.chain.put_heads(out);
                entry.chain.put_open(out);
                assert_eq!(out.len() - start, (heads + open) * LINK_BYTES);
            }
        }
    }
}

/// The merged entries of one section, in (hash, name) order, with their hashes.
fn merged<'a>(
    table: Option<&'a Table>,
    section: Section,
    frozen: &'a [(u64, &'a ChainEntry)],
) -> impl Iterator<Item = (u64, Source<'a>)> + 'a {
    let mut old = table
        .into_iter()
        .flat_map(move |t| t.records(section))
        .peekable();
    let mut new = frozen.iter().peekable();
    std::iter::from_fn(move || {
        let order = match (old.peek(), new.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((old_hash, record)), Some((new_hash, entry))) => {
                (old_hash, record.name).cmp(&(new_hash, &entry.name[..]))
            }
        };
        match order {
            Ordering::Less => old
                .next()
                .map(|(hash, record)| (hash, Source::Table(record))),
            Ordering::Greater => new
                .next()
                .map(|&(hash, entry)| (hash, Source::Frozen(entry))),
            Ordering::Equal => {
                old.next();
                new.next()
                    .map(|&(hash, entry)| (hash, Source::Frozen(entry)))
            }
        }
    })
}

/// A level's entries with their hashes, in (hash, name) order.
fn sorted(level: &Level) -> Vec<(u64, &ChainEntry)> {
    let mut entries: Vec<(u64, &ChainEntry)> = level
        .entries()
        .iter()
        .map(|entry| (name_hash(&entry.name), entry))
        .collect();
    entries.sort_unstable_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    entries
}

/// Where a table is written: a file, or (tests, fuzzing) memory.
trait Output {
    fn write_at(&mut self, at: u64, bytes: &[u8]) -> std::io::Result<()>;
}

impl Output for &dyn StorageFile {
    fn write_at(&mut self, at: u64, bytes: &[u8]) -> std::io::Result<()> {
        StorageFile::write_at(*self, at, bytes)
    }
}

impl Output for Vec<u8> {
    fn write_at(&mut self, at: u64, bytes: &[u8]) -> std::io::Result<()> {
        let at = at as usize;
        if self.len() < at + bytes.len() {
            self.resize(at + bytes.len(), 0);
        }
        self[at..at + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
}

/// Writes the file sequentially through a buffer, checksumming what it writes.
struct Sink<'a> {
    file: &'a mut dyn Output,
    at: u64,
    buffer: Vec<u8>,
    crc: crc32fast::Hasher,
}

impl Sink<'_> {
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.write_at(self.at, &self.buffer)?;
        self.crc.update(&self.buffer);
        self.at += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    fn flush_if_full(&mut self) -> std::io::Result<()> {
        if self.buffer.len() >= WRITE_CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes one section's records; returns their slots.
    fn records<'s>(
        &mut self,
        sources: impl Iterator<Item = (u64, Source<'s>)>,
    ) -> std::io::Result<Vec<(u64, u64)>> {
        let mut slots = Vec::new();
        for (hash, source) in sources {
            slots.push((hash, self.at + self.buffer.len() as u64));
            source.put(&mut self.buffer);
            self.flush_if_full()?;
        }
        Ok(slots)
    }

    /// Writes a section's slots and directory.
    fn slots(&mut self, slots: &[(u64, u64)], bits: u8) -> std::io::Result<()> {
        for &(hash, offset) in slots {
            self.buffer.extend_from_slice(&hash.to_le_bytes());
            self.buffer.extend_from_slice(&offset.to_le_bytes());
            self.flush_if_full()?;
        }
        let mut next = 0usize;
        for k in 0..=(1usize << bits) {
            while next < slots.len() && bucket(slots[next].0, bits) < k {
                next += 1;
            }
            self.buffer.extend_from_slice(&(next as u32).to_le_bytes());
            self.flush_if_full()?;
        }
        Ok(())
    }
}

/// The header of the merged table, sizes counted in a first pass over the merge.
fn plan(
    snapshot: &Snapshot,
    streams: &[(u64, &ChainEntry)],
    categories: &[(u64, &ChainEntry)],
) -> Header {
    let table = snapshot.table.as_deref();
    let count = |section, frozen| {
        merged(table, section, frozen).fold((0u64, 0u64), |(n, bytes), (_, source)| {
            (n + 1, bytes + source.bytes() as u64)
        })
    };
    let (stream_count, stream_records_bytes) = count(Section::Streams, streams);
    let (category_count, category_records_bytes) = count(Section::Categories, categories);
    let stream_directory_bits = directory_bits(stream_count);
    let category_directory_bits = directory_bits(category_count);
    let directory = |bits: u8| ((1u64 << bits) + 1) * 4;
    let file_bytes = HEADER_BYTES as u64
        + snapshot.time.len() as u64 * TIME_ENTRY_BYTES as u64
        + stream_records_bytes
        + category_records_bytes
        + (stream_count + category_count) * SLOT_BYTES as u64
        + directory(stream_directory_bits)
        + directory(category_directory_bits);
    Header {
        epoch: snapshot.epoch,
        through: snapshot.through,
        events_indexed: snapshot.events_indexed,
        last_timestamp_ns: snapshot.last_timestamp_ns,
        time_entries: snapshot.time.len() as u64,
        streams: stream_count,
        categories: category_count,
        stream_records_bytes,
        category_records_bytes,
        stream_directory_bits,
        category_directory_bits,
        file_bytes,
        body_crc: 0,
    }
}

/// Writes the table of `snapshot` into `file` (created at `header.file_bytes`); returns
/// the header with the body's checksum, as written at offset 0 last.
fn write_body(
    file: &mut dyn Output,
    snapshot: &Snapshot,
    streams: &[(u64, &ChainEntry)],
    categories: &[(u64, &ChainEntry)],
    mut header: Header,
) -> std::io::Result<Header> {
    let table = snapshot.table.as_deref();
    let mut sink = Sink {
        file,
        at: HEADER_BYTES as u64,
        buffer: Vec::with_capacity(WRITE_CHUNK_BYTES + 4096),
        crc: crc32fast::Hasher::new(),
    };
    for &(timestamp, position) in &snapshot.time {
        sink.buffer.extend_from_slice(&timestamp.to_le_bytes());
        sink.buffer.extend_from_slice(&position.to_le_bytes());
        sink.flush_if_full()?;
    }
    let stream_slots = sink.records(merged(table, Section::Streams, streams))?;
    let category_slots = sink.records(merged(table, Section::Categories, categories))?;
    sink.slots(&stream_slots, header.stream_directory_bits)?;
    sink.slots(&category_slots, header.category_directory_bits)?;
    sink.flush()?;
    assert_eq!(
        sink.at, header.file_bytes,
        "the sizing pass and the write agree"
    );
    header.body_crc = sink.crc.finalize();
    file.write_at(0, &header.encode())?;
    Ok(header)
}

/// Writes `snapshot` as the checkpoint of `dir`: a temporary file written, synced and
/// renamed over the last one, the directory synced. Returns the new table, mapped (and
/// in debug builds checked as an open would check it).
pub(crate) fn write(storage: &dyn Storage, dir: &Path, snapshot: &Snapshot) -> Result<Arc<Table>> {
    let temporary = dir.join(format!("{CHECKPOINT_FILE_NAME}.tmp"));
    let path = dir.join(CHECKPOINT_FILE_NAME);
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |e| Error::io(op, Some(path), e)
    };
    let streams = sorted(&snapshot.streams);
    let categories = sorted(&snapshot.categories);
    let header = plan(snapshot, &streams, &categories);
    let file = storage
        .create_file(&temporary, header.file_bytes)
        .map_err(io("create index checkpoint", &temporary))?;
    let header = write_body(&mut file.as_ref(), snapshot, &streams, &categories, header)
        .map_err(io("write index checkpoint", &temporary))?;
    file.sync_data()
        .map_err(io("fdatasync index checkpoint", &temporary))?;
    drop(file);
    storage
        .rename(&temporary, &path)
        .map_err(io("rename index checkpoint", &path))?;
    storage.sync_dir(dir).map_err(io("fsync directory", dir))?;
    let bytes = map(storage, &path)?;
    let table = Table::adopt(bytes, &header).map_err(|e| Error::Corrupt {
        path: path.clone(),
        offset: 0,
        reason: format!(
            "the index checkpoint just written does not read back: {}",
            e.0
        ),
    })?;
    Ok(Arc::new(table))
}

/// The index a checkpoint file of the log `epoch` holds: a version-3 table read in place,
/// or a version-2 checkpoint loaded onto the heap. Never panics on bad input.
pub(crate) fn load(bytes: Bytes, epoch: u64) -> std::result::Result<Index, Invalid> {
    if checkpoint_v2::is_version_2(&bytes) {
        return checkpoint_v2::load(&bytes, epoch);
    }
    Table::open(bytes, epoch).map(|table| Index::on_table(Arc::new(table)))
}

/// The table of `snapshot` as bytes in memory (tests and fuzzing).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn encode(snapshot: &Snapshot) -> Vec<u8> {
    let streams = sorted(&snapshot.streams);
    let categories = sorted(&snapshot.categories);
    let header = plan(snapshot, &streams, &categories);
    let mut out = Vec::with_capacity(header.file_bytes as usize);
    match write_body(&mut out, snapshot, &streams, &categories, header) {
        Ok(_) => out,
        Err(e) => unreachable!("writing to memory failed: {e}"),
    }
}

impl Snapshot {
    /// A snapshot that rewrites `table` as it is (tests and fuzzing).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn of_table(table: Arc<Table>) -> Snapshot {
        let header = *table.header();
        Snapshot {
            epoch: header.epoch,
            through: header.through,
            events_indexed: header.events_indexed,
            last_timestamp_ns: header.last_timestamp_ns,
            time: table.time(),
            table: Some(table),
            streams: Arc::default(),
            categories: Arc::default(),
        }
    }
}

/// The checkpoint file's bytes, mapped read-only.
pub(crate) fn map(storage: &dyn Storage, path: &Path) -> Result<Bytes> {
    let file = storage
        .open_file(path, false)
        .map_err(|e| Error::io("open index checkpoint", Some(path.to_path_buf()), e))?;
    file.view()
        .map_err(|e| Error::io("map index checkpoint", Some(path.to_path_buf()), e))
}
