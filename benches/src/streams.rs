//! The stream workloads: many streams written interleaved, then whole streams read back by
//! name, in Annal's `EventStore` and in two peers keyed by (stream, revision):
//!
//! - Annal: `EventStore::append(stream, Any, [event], Written)` per event (one record per
//!   event, as independent writers produce), read with `read_stream(name, 0, Forwards, ∞)`.
//!   The stored event carries an envelope (type, timestamp, back-links) the peers do not.
//! - fjall: one keyspace, key = stream name ‖ revision (u64, big-endian), value = data;
//!   `insert` per event; read with `prefix(stream name)`.
//! - SQLite: `events(stream TEXT, revision INTEGER, data BLOB, PRIMARY KEY (stream,
//!   revision)) WITHOUT ROWID`, WAL, `synchronous=NORMAL`, 10 000 inserts per transaction;
//!   read with `SELECT data … WHERE stream = ?1 ORDER BY revision`.
//!
//! Loading is not what is compared (each system loads the way it loads fastest here,
//! without per-event durability); every store is closed after loading and reopened for
//! the reads, with the page cache warm.

use std::path::Path;
use std::time::{Duration, Instant};

use annal::Revision;
use annal::{Direction, Durability, EventStore, ExpectedRevision, NewEvent, Options};

use crate::record::touch;
use crate::BenchResult;

/// The name of stream `i`: fixed width, so no name is a prefix of another.
pub fn stream_name(i: usize) -> String {
    format!("acct-{i:07}")
}

/// The event type Annal stores with every event.
pub const EVENT_TYPE: &str = "Deposited";

/// The systems compared on stream reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamSystem {
    /// Annal's `EventStore`.
    Annal,
    /// fjall, keyed by stream and revision.
    Fjall,
    /// SQLite, a table keyed by (stream, revision).
    Sqlite,
}

impl StreamSystem {
    /// The name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            StreamSystem::Annal => "annal",
            StreamSystem::Fjall => "fjall",
            StreamSystem::Sqlite => "sqlite",
        }
    }
}

/// The order events are written in: `rounds` passes, each appending one event to every
/// stream of `long` streams and to the slice of the `short` streams due in that pass
/// (each short stream gets one event every `rounds / short_events` passes).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Streams that get an event in every pass (the ones read back).
    pub long: usize,
    /// Events per long stream (= passes).
    pub rounds: u64,
    /// Streams that get fewer events, spread over the passes.
    pub short: usize,
    /// Events per short stream (must divide `rounds`).
    pub short_events: u64,
}

impl Layout {
    /// `streams` streams of `events` events each, interleaved.
    pub fn uniform(streams: usize, events: u64) -> Layout {
        Layout {
            long: streams,
            rounds: events,
            short: 0,
            short_events: 1,
        }
    }

    /// Total streams.
    pub fn streams(&self) -> usize {
        self.long + self.short
    }

    /// Total events.
    pub fn events(&self) -> u64 {
        self.long as u64 * self.rounds + self.short as u64 * self.short_events
    }

    /// Calls `write(stream, revision)` for every event, in log order.
    pub fn for_each(
        &self,
        mut write: impl FnMut(usize, u64) -> BenchResult<()>,
    ) -> BenchResult<()> {
        let every = (self.rounds / self.short_events.max(1)).max(1);
        for round in 0..self.rounds {
            for s in 0..self.long {
                write(s, round)?;
            }
            if self.short > 0 {
                let slice = round % every;
                let revision = round / every;
                if revision < self.short_events {
                    let per_slice = self.short.div_ceil(every as usize);
                    let start = slice as usize * per_slice;
                    for s in start..(start + per_slice).min(self.short) {
                        write(self.long + s, revision)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Writes `layout` into a new Annal store in `dir` and closes it (which checkpoints the
/// index). `progress` is called after every event with the store and the event count.
pub fn load_annal(
    dir: &Path,
    layout: &Layout,
    data: &[u8],
    mut progress: impl FnMut(&EventStore, u64),
) -> BenchResult<Duration> {
    let names: Vec<String> = (0..layout.streams()).map(stream_name).collect();
    let store = EventStore::open(dir, Options::default())?;
    let started = Instant::now();
    let mut written = 0u64;
    layout.for_each(|s, _| {
        store.append(
            names[s].clone(),
            ExpectedRevision::Any,
            vec![NewEvent::new(EVENT_TYPE, data.to_vec())],
            Durability::Written,
        )?;
        written += 1;
        progress(&store, written);
        Ok(())
    })?;
    store.close()?;
    Ok(started.elapsed())
}

fn fjall_key(stream: &str, revision: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.len() + 8);
    key.extend_from_slice(stream.as_bytes());
    key.extend_from_slice(&revision.to_be_bytes());
    key
}

fn open_fjall(dir: &Path) -> BenchResult<(fjall::Database, fjall::Keyspace)> {
    let db = fjall::Database::builder(dir).open()?;
    let events = db.keyspace("events", fjall::KeyspaceCreateOptions::default)?;
    Ok((db, events))
}

/// Writes `layout` into a new fjall database in `dir` and persists it.
pub fn load_fjall(dir: &Path, layout: &Layout, data: &[u8]) -> BenchResult<Duration> {
    let names: Vec<String> = (0..layout.streams()).map(stream_name).collect();
    let (db, events) = open_fjall(dir)?;
    let started = Instant::now();
    layout.for_each(|s, revision| {
        events.insert(fjall_key(&names[s], revision), data)?;
        Ok(())
    })?;
    db.persist(fjall::PersistMode::SyncAll)?;
    Ok(started.elapsed())
}

fn open_sqlite(dir: &Path) -> BenchResult<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(dir.join("events.db"))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("SQLite refused WAL mode (got {mode})").into());
    }
    conn.execute_batch("PRAGMA synchronous=NORMAL;")?;
    Ok(conn)
}

/// Rows per SQLite transaction while loading.
pub const SQLITE_ROWS_PER_TRANSACTION: u64 = 10_000;

/// Writes `layout` into a new SQLite database in `dir`.
pub fn load_sqlite(dir: &Path, layout: &Layout, data: &[u8]) -> BenchResult<Duration> {
    let names: Vec<String> = (0..layout.streams()).map(stream_name).collect();
    let conn = open_sqlite(dir)?;
    conn.execute_batch(
        "CREATE TABLE events (stream TEXT NOT NULL, revision INTEGER NOT NULL, \
         data BLOB NOT NULL, PRIMARY KEY (stream, revision)) WITHOUT ROWID;",
    )?;
    let started = Instant::now();
    let mut in_transaction = 0u64;
    conn.execute_batch("BEGIN")?;
    layout.for_each(|s, revision| {
        conn.prepare_cached("INSERT INTO events (stream, revision, data) VALUES (?1, ?2, ?3)")?
            .execute(rusqlite::params![names[s], revision as i64, data])?;
        in_transaction += 1;
        if in_transaction == SQLITE_ROWS_PER_TRANSACTION {
            conn.execute_batch("COMMIT; BEGIN")?;
            in_transaction = 0;
        }
        Ok(())
    })?;
    conn.execute_batch("COMMIT")?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(started.elapsed())
}

/// An open store that reads whole streams by name.
pub enum StreamReader {
    /// Annal (boxed: the store is much larger than the peers' handles).
    Annal(Box<EventStore>),
    /// fjall (the database is kept open with its keyspace).
    Fjall(fjall::Database, fjall::Keyspace),
    /// SQLite.
    Sqlite(rusqlite::Connection),
}

impl StreamReader {
    /// Opens the store `system` loaded in `dir`.
    pub fn open(system: StreamSystem, dir: &Path) -> BenchResult<StreamReader> {
        Ok(match system {
            StreamSystem::Annal => {
                StreamReader::Annal(Box::new(EventStore::open(dir, Options::default())?))
            }
            StreamSystem::Fjall => {
                let (db, events) = open_fjall(dir)?;
                StreamReader::Fjall(db, events)
            }
            StreamSystem::Sqlite => StreamReader::Sqlite(open_sqlite(dir)?),
        })
    }

    /// Reads every event of stream `name`, touching each event's data; returns the
    /// count and the fold of the touches.
    pub fn read(&self, name: &str) -> BenchResult<(u64, u64)> {
        let mut count = 0u64;
        let mut acc = 0u64;
        match self {
            StreamReader::Annal(store) => {
                for event in store.read_stream(
                    name.as_bytes(),
                    Revision(0),
                    Direction::Forwards,
                    usize::MAX,
                )? {
                    acc = touch(acc, &event.data);
                    count += 1;
                }
            }
            StreamReader::Fjall(_, events) => {
                for guard in events.prefix(name.as_bytes()) {
                    let (_key, value) = guard.into_inner()?;
                    acc = touch(acc, &value);
                    count += 1;
                }
            }
            StreamReader::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(
                    "SELECT data FROM events WHERE stream = ?1 ORDER BY revision",
                )?;
                let mut rows = statement.query([name])?;
                while let Some(row) = rows.next()? {
                    acc = touch(acc, row.get_ref(0)?.as_blob()?);
                    count += 1;
                }
            }
        }
        Ok((count, acc))
    }

    /// Closes the store, reporting errors.
    pub fn close(self) -> BenchResult<()> {
        match self {
            StreamReader::Annal(store) => store.close()?,
            StreamReader::Fjall(db, _) => db.persist(fjall::PersistMode::SyncAll)?,
            StreamReader::Sqlite(conn) => conn.close().map_err(|(_, e)| e)?,
        }
        Ok(())
    }
}

/// What reading a set of streams measured.
#[derive(Debug, Clone)]
pub struct ReadRun {
    /// Events read.
    pub events: u64,
    /// Total time.
    pub elapsed: Duration,
    /// Each stream read's latency, ascending.
    pub latencies: Vec<Duration>,
}

/// Reads each named stream whole, expecting `events_per_stream` events in each.
pub fn read_streams(
    reader: &StreamReader,
    names: &[String],
    events_per_stream: u64,
) -> BenchResult<ReadRun> {
    let mut latencies = Vec::with_capacity(names.len());
    let mut events = 0u64;
    let mut acc = 0u64;
    let started = Instant::now();
    for name in names {
        let one = Instant::now();
        let (count, folded) = reader.read(name)?;
        latencies.push(one.elapsed());
        if count != events_per_stream {
            return Err(
                format!("{name}: read {count} events, expected {events_per_stream}").into(),
            );
        }
        events += count;
        acc ^= folded;
    }
    let elapsed = started.elapsed();
    std::hint::black_box(acc);
    latencies.sort_unstable();
    Ok(ReadRun {
        events,
        elapsed,
        latencies,
    })
}

/// `count` distinct stream indices below `streams`, chosen by a generator seeded with
/// `seed`.
pub fn random_streams(streams: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut chosen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count.min(streams) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let s = (state % streams as u64) as usize;
        if chosen.insert(s) {
            out.push(s);
        }
    }
    out
}

/// Resident memory of this process from `/proc/self/status`: (VmRSS, RssAnon) in bytes.
/// RssAnon leaves out mapped files (the log's segments), so it tracks the heap.
pub fn resident_bytes() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("RssAnon:"))
}
