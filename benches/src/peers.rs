//! The systems under test behind one small trait: append one event and wait until it is
//! durable (survives power loss), from any number of threads.
//!
//! - Annal: `append(payload, Durability::Synced)`; group commit shares fdatasyncs.
//! - okaywal: one entry with one chunk per event, `commit()` (which fsyncs, batching
//!   concurrent committers); default configuration, no-op checkpointer.
//! - SQLite: WAL mode, `synchronous=FULL`, one `INSERT` per transaction. Threads share one
//!   connection behind a mutex (SQLite serializes writers anyway; a mutex avoids its
//!   sleeping busy handler).
//! - fjall: `insert` then `persist(PersistMode::SyncData)` per event.
//! - raw (growing): `pwrite` of a record-sized buffer at the end of a file + `fdatasync`.
//! - raw (preallocated): the same into a zero-filled, synced file.
//! - raw (group commit): the closed loops' reference, `pwrite` into a zero-filled file
//!   and a textbook group commit (`raw_group`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use annal::{Durability, EventStore, ExpectedRevision, Log, Name, NewEvent, Options};

use crate::raw_group::RawGroupLog;
use crate::record::{encode_raw, raw_record_bytes};
use crate::BenchResult;

/// A store that appends one event durably per call.
pub trait DurableLog: Send + Sync {
    /// Appends `payload` and returns once it is durable.
    fn append_synced(&self, payload: &[u8]) -> BenchResult<()>;

    /// fdatasync calls made to acknowledge appends so far, when the system counts them.
    fn fdatasyncs(&self) -> Option<u64> {
        None
    }

    /// Closes the store, reporting errors.
    fn close(self: Box<Self>) -> BenchResult<()>;
}

/// The systems (and raw references) the durable benchmarks know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum System {
    /// Annal at `Durability::Synced`.
    Annal,
    /// Annal's event store at `Durability::Synced`, one event per append, a stream per
    /// thread and append (`ExpectedRevision::Any`): the store's overhead over the raw log.
    AnnalStore,
    /// okaywal, commit per event.
    OkayWal,
    /// SQLite, WAL, synchronous=FULL, one insert per transaction.
    Sqlite,
    /// fjall, persist(SyncData) per event.
    Fjall,
    /// pwrite + fdatasync at the end of a growing file.
    RawGrowing,
    /// pwrite + fdatasync into a preallocated file.
    RawPreallocated,
    /// pwrite into a preallocated file + a textbook group commit.
    RawGroup,
}

impl System {
    /// The name used in tables and criterion ids.
    pub fn name(self) -> &'static str {
        match self {
            System::Annal => "annal",
            System::AnnalStore => "annal-store",
            System::OkayWal => "okaywal",
            System::Sqlite => "sqlite",
            System::Fjall => "fjall",
            System::RawGrowing => "raw-growing",
            System::RawPreallocated => "raw-prealloc",
            System::RawGroup => "raw-group",
        }
    }

    /// Opens a fresh store of this system in the (empty) directory `dir`.
    pub fn open(self, dir: &Path) -> BenchResult<Box<dyn DurableLog>> {
        Ok(match self {
            System::Annal => Box::new(AnnalLog::open(dir)?),
            System::AnnalStore => Box::new(AnnalStoreLog::open(dir)?),
            System::OkayWal => Box::new(OkayWalLog::open(dir)?),
            System::Sqlite => Box::new(SqliteLog::open(dir)?),
            System::Fjall => Box::new(FjallLog::open(dir)?),
            System::RawGrowing => Box::new(RawLog::open(dir, None)?),
            System::RawPreallocated => Box::new(RawLog::open(dir, Some(RAW_PREALLOCATED_BYTES))?),
            System::RawGroup => Box::new(RawGroupLog::open(dir)?),
        })
    }
}

/// Annal with the default options.
pub struct AnnalLog {
    log: Log,
}

impl AnnalLog {
    /// Opens a log in `dir`.
    pub fn open(dir: &Path) -> BenchResult<AnnalLog> {
        Ok(AnnalLog {
            log: Log::open(dir, Options::default())?,
        })
    }
}

impl DurableLog for AnnalLog {
    fn append_synced(&self, payload: &[u8]) -> BenchResult<()> {
        self.log.append(payload, Durability::Synced)?;
        Ok(())
    }

    fn fdatasyncs(&self) -> Option<u64> {
        Some(self.log.metrics().group_syncs)
    }

    fn close(self: Box<Self>) -> BenchResult<()> {
        Ok(self.log.close()?)
    }
}

/// Annal's event store with the default options: each append is one event of type `E`
/// to stream `s-<n>`, where n cycles through `STORE_STREAMS` names, through
/// `EventStore::append_from_slice` (the single-event append that borrows its arguments).
pub struct AnnalStoreLog {
    store: EventStore,
    names: Vec<bytes::Bytes>,
    next: AtomicU64,
}

/// Streams the store workload cycles through.
pub const STORE_STREAMS: u64 = 1024;

impl AnnalStoreLog {
    /// Opens an event store in `dir`.
    pub fn open(dir: &Path) -> BenchResult<AnnalStoreLog> {
        Ok(AnnalStoreLog {
            store: EventStore::open(dir, Options::default())?,
            names: (0..STORE_STREAMS)
                .map(|i| bytes::Bytes::from(format!("s-{i}")))
                .collect(),
            next: AtomicU64::new(0),
        })
    }
}

impl DurableLog for AnnalStoreLog {
    fn append_synced(&self, payload: &[u8]) -> BenchResult<()> {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % STORE_STREAMS;
        // The event owns a copy of the payload, as an event built from fresh data does; the
        // name and the event are borrowed (`append_from_slice`), as the raw log's row
        // borrows its payload.
        let event = NewEvent::new(
            Name::from_static("E"),
            bytes::Bytes::copy_from_slice(payload),
        );
        self.store.append_from_slice(
            &self.names[n as usize],
            ExpectedRevision::Any,
            std::slice::from_ref(&event),
            Durability::Synced,
        )?;
        Ok(())
    }

    fn fdatasyncs(&self) -> Option<u64> {
        Some(self.store.metrics().group_syncs)
    }

    fn close(self: Box<Self>) -> BenchResult<()> {
        Ok(self.store.close()?)
    }
}

/// okaywal with its default configuration and a checkpointer that does nothing.
pub struct OkayWalLog {
    wal: okaywal::WriteAheadLog,
}

impl OkayWalLog {
    /// Opens a WAL in `dir`.
    pub fn open(dir: &Path) -> BenchResult<OkayWalLog> {
        Ok(OkayWalLog {
            wal: okaywal::WriteAheadLog::recover(dir, okaywal::LogVoid)?,
        })
    }
}

impl DurableLog for OkayWalLog {
    fn append_synced(&self, payload: &[u8]) -> BenchResult<()> {
        let mut entry = self.wal.begin_entry()?;
        entry.write_chunk(payload)?;
        entry.commit()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> BenchResult<()> {
        Ok(self.wal.shutdown()?)
    }
}

/// SQLite in WAL mode with `synchronous=FULL`.
pub struct SqliteLog {
    conn: Mutex<rusqlite::Connection>,
}

impl SqliteLog {
    /// Opens `events.db` in `dir`.
    pub fn open(dir: &Path) -> BenchResult<SqliteLog> {
        let conn = rusqlite::Connection::open(dir.join("events.db"))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("SQLite refused WAL mode (got {mode})").into());
        }
        conn.execute_batch(
            "PRAGMA synchronous=FULL;
             CREATE TABLE events (position INTEGER PRIMARY KEY, payload BLOB NOT NULL);",
        )?;
        Ok(SqliteLog {
            conn: Mutex::new(conn),
        })
    }
}

impl DurableLog for SqliteLog {
    fn append_synced(&self, payload: &[u8]) -> BenchResult<()> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.prepare_cached("INSERT INTO events (payload) VALUES (?1)")?
            .execute([payload])?;
        Ok(())
    }

    fn close(self: Box<Self>) -> BenchResult<()> {
        let conn = self.conn.into_inner().unwrap_or_else(|e| e.into_inner());
        conn.close().map_err(|(_, e)| e)?;
        Ok(())
    }
}

/// fjall with one keyspace, big-endian sequence numbers as keys.
pub struct FjallLog {
    db: fjall::Database,
    events: fjall::Keyspace,
    next: AtomicU64,
}

impl FjallLog {
    /// Opens a database in `dir`.
    pub fn open(dir: &Path) -> BenchResult<FjallLog> {
        let db = fjall::Database::builder(dir).open()?;
        let events = db.keyspace("events", fjall::KeyspaceCreateOptions::default)?;
        Ok(FjallLog {
            db,
            events,
            next: AtomicU64::new(0),
        })
    }
}

impl DurableLog for FjallLog {
    fn append_synced(&self, payload: &[u8]) -> BenchResult<()> {
        let key = self.next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        self.events.insert(key, payload)?;
        self.db.persist(fjall::PersistMode::SyncData)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> BenchResult<()> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }
}

/// Size of the raw preallocated file; writes wrap around at its end.
pub const RAW_PREALLOCATED_BYTES: u64 = 64 << 20;

/// Creates (or empties) `raw.log` in `dir`.
fn create_raw_file(dir: &Path) -> BenchResult<File> {
    Ok(OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("raw.log"))?)
}

/// Creates `raw.log` in `dir` holding `bytes` zeros, synced with its directory: a file
/// whose fdatasyncs have no metadata to commit.
pub fn zero_filled_file(dir: &Path, bytes: u64) -> BenchResult<File> {
    let mut file = create_raw_file(dir)?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// The raw reference: one record-sized pwrite and one fdatasync per event, serialized.
pub struct RawLog {
    state: Mutex<RawState>,
}

struct RawState {
    file: File,
    offset: u64,
    position: u64,
    wrap_at: Option<u64>,
    buf: Vec<u8>,
}

impl RawLog {
    /// Creates `raw.log` in `dir`, zero-filled to `preallocate` bytes (and synced) when
    /// given, empty (growing with every write) otherwise.
    pub fn open(dir: &Path, preallocate: Option<u64>) -> BenchResult<RawLog> {
        let file = match preallocate {
            Some(bytes) => zero_filled_file(dir, bytes)?,
            None => {
                let file = create_raw_file(dir)?;
                File::open(dir)?.sync_all()?;
                file
            }
        };
        Ok(RawLog {
            state: Mutex::new(RawState {
                file,
                offset: 0,
                position: 0,
                wrap_at: preallocate,
                buf: Vec::with_capacity(raw_record_bytes(1 << 10)),
            }),
        })
    }
}

impl DurableLog for RawLog {
    fn append_synced(&self, payload: &[u8]) -> BenchResult<()> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *guard;
        state.buf.clear();
        encode_raw(&mut state.buf, state.position, payload);
        if let Some(wrap_at) = state.wrap_at {
            if state.offset + state.buf.len() as u64 > wrap_at {
                state.offset = 0;
            }
        }
        state.file.write_at(&state.buf, state.offset)?;
        state.file.sync_data()?;
        state.offset += state.buf.len() as u64;
        state.position += 1;
        Ok(())
    }

    fn close(self: Box<Self>) -> BenchResult<()> {
        let state = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        state.file.sync_all()?;
        Ok(())
    }
}
