//! The index checkpoint target: `streams.idx` decoded on its own, then put in a small
//! store's directory and used by `EventStore::open`, followed by reads and appends. A
//! checkpoint is trusted once its checksums pass, so a forged one (checksums fixed) must
//! still yield errors, never a panic, in everything that uses it.

use std::path::Path;

use bytes::Bytes;
use std::sync::{Arc, OnceLock};

use super::FUZZ_EPOCH;
use crate::format::index_table::HEADER_BYTES;
use crate::format::{crc32, read_u64};
use crate::index::checkpoint::{self, Snapshot, CHECKPOINT_FILE_NAME};
use crate::index::checkpoint_v2;
use crate::index::table::{Section, Table};
use crate::io::{CrashMode, SimStorage, Storage};
use crate::options::{Durability, Options};
use crate::position::{ExpectedRevision, Position, Revision};
use crate::stream::{Direction, EventStore, NewEvent};

/// The directory of the store the target opens.
pub(super) const STORE_DIR: &str = "/fuzz/store";
const SEGMENT_BYTES: u64 = 64 << 10;
/// Mode bit: write the magic, version, the store's epoch, the body length and both
/// checksums, so the fuzzer explores the body rather than the header checks.
const FIX_HEADER: u8 = 1;
/// Mode bit: also open the store with the checkpoint and use it.
const OPEN_STORE: u8 = 2;

/// The streams the template store holds (and the reads ask for).
pub(super) const STREAMS: [&[u8]; 5] = [b"order-1", b"order-2", b"cust-1", b"solo", b"nope"];

/// A small store, built once per process; every run starts from a copy of it.
pub(super) struct Template {
    /// Crashed once: its `crash` hands out fresh copies of the durable state.
    pub(super) storage: SimStorage,
    pub(super) epoch: u64,
    /// The checkpoint the store wrote at close.
    pub(super) checkpoint: Vec<u8>,
}

pub(super) fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(build_template)
}

fn options() -> Options {
    Options::default().segment_bytes(SEGMENT_BYTES)
}

fn build_template() -> Template {
    let storage = SimStorage::new();
    let store = EventStore::open_with_storage(STORE_DIR, options(), Arc::new(storage.clone()))
        .expect("template store opens");
    for i in 0..40u8 {
        let stream = STREAMS[usize::from(i % 4)];
        let mut event = NewEvent::new("Happened", vec![i; usize::from(i % 5)]);
        if i % 3 == 0 {
            event = event.with_id([i; 16]);
        }
        store
            .append(
                stream,
                ExpectedRevision::Any,
                vec![event],
                Durability::Written,
            )
            .expect("template append");
    }
    store
        .truncate_stream(b"order-2", Revision(3))
        .expect("template truncate");
    store.delete_stream(b"solo").expect("template delete");
    store.close().expect("template close");
    let base = storage.crash(CrashMode::DropUnsynced);
    let dir = Path::new(STORE_DIR);
    let checkpoint = base
        .file_bytes(&dir.join(CHECKPOINT_FILE_NAME))
        .expect("template checkpoint");
    let segment = base
        .file_bytes(&dir.join(crate::format::segment_file_name(0)))
        .expect("template segment");
    Template {
        epoch: read_u64(&segment, 24),
        storage: base,
        checkpoint,
    }
}

/// Makes `bytes` a checkpoint of the log `epoch` as far as its header goes: magic,
/// version, epoch, file length and both checksums (the counts are the input's).
pub(super) fn fix_checkpoint_header(bytes: &mut [u8], epoch: u64) {
    if bytes.len() < HEADER_BYTES {
        return;
    }
    bytes[0..8].copy_from_slice(b"ANNALIDX");
    bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
    bytes[16..24].copy_from_slice(&epoch.to_le_bytes());
    let file_bytes = bytes.len() as u64;
    bytes[96..104].copy_from_slice(&file_bytes.to_le_bytes());
    let body_crc = crc32(&bytes[HEADER_BYTES..]);
    bytes[104..108].copy_from_slice(&body_crc.to_le_bytes());
    let header_crc = crc32(&bytes[0..108]);
    bytes[108..112].copy_from_slice(&header_crc.to_le_bytes());
}

/// Checks that an accepted table finds every record by its name and rewrites to the
/// same bytes (the layout is canonical).
fn check_table(table: Table, input: &[u8]) {
    for section in [Section::Streams, Section::Categories] {
        for (_, record) in table.records(section) {
            let found = table
                .find_record(section, record.name)
                .expect("every record is found by its name");
            assert_eq!(found.bytes, record.bytes);
            assert!(
                table.entry_of(&record).is_some(),
                "an accepted record loads"
            );
        }
    }
    let encoded = checkpoint::encode(&Snapshot::of_table(Arc::new(table)));
    assert_eq!(encoded, input, "an accepted checkpoint rewrites to itself");
}

/// The index checkpoint loader. Input: a mode byte (bit 0: fix the header; bit 1: open
/// a store with it), then the file's bytes (a version-2 file goes to its own loader).
pub fn index_checkpoint(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & OPEN_STORE == 0 {
        // Loader only, against a fixed epoch: fast.
        if checkpoint_v2::is_version_2(&bytes) {
            let _ = checkpoint_v2::load(&Bytes::from(bytes), FUZZ_EPOCH);
            return;
        }
        if mode & FIX_HEADER != 0 {
            fix_checkpoint_header(&mut bytes, FUZZ_EPOCH);
        }
        if let Ok(table) = Table::open(Bytes::from(bytes.clone()), FUZZ_EPOCH) {
            check_table(table, &bytes);
        }
        return;
    }
    let template = template();
    if mode & FIX_HEADER != 0 {
        fix_checkpoint_header(&mut bytes, template.epoch);
    }
    if let Ok(table) = Table::open(Bytes::from(bytes.clone()), template.epoch) {
        check_table(table, &bytes);
    }
    let storage = template.storage.crash(CrashMode::DropUnsynced);
    let dir = Path::new(STORE_DIR);
    let path = dir.join(CHECKPOINT_FILE_NAME);
    let file = storage
        .create_file(&path, bytes.len() as u64)
        .expect("sim create");
    file.write_at(0, &bytes).expect("sim write");
    file.sync_data().expect("sim sync");
    storage.sync_dir(dir).expect("sim dir sync");
    let Ok(store) = EventStore::open_with_storage(STORE_DIR, options(), Arc::new(storage)) else {
        return;
    };
    use_store(&store);
}

/// Every kind of read and an append, results ignored: only panics count. Counts are
/// small: on `SimStorage` every event fetched copies its segment.
fn use_store(store: &EventStore) {
    for stream in STREAMS {
        let _ = store.read_stream(stream, Revision(0), Direction::Forwards, 3);
        let _ = store.read_stream(stream, Revision(u64::MAX), Direction::Backwards, 3);
        let _ = store.read_stream(stream, Revision(30), Direction::Forwards, 2);
        let _ = store.read_stream_as_of(stream, Position(20), Revision(1), Direction::Forwards, 2);
        let _ = store.stream_info(stream);
        let _ = store.stream_revision(stream);
    }
    for category in [b"order".as_slice(), b"cust", b""] {
        let _ = store.read_category(category, Position(0), Direction::Forwards, 3);
        let _ = store.read_category(category, Position(u64::MAX), Direction::Backwards, 3);
        let _ = store.read_category(category, Position(25), Direction::Forwards, 2);
    }
    let _ = store.read_all(Position(0), Direction::Forwards, usize::MAX);
    let _ = store.read_all(Position(u64::MAX), Direction::Backwards, 3);
    for time_ns in [0, u64::MAX / 2, u64::MAX] {
        let _ = store.position_after_time(time_ns);
        let _ = store.read_stream_at_time(b"order-1", time_ns, 2);
    }
    let _ = store.index_memory();
    for (i, stream) in STREAMS.iter().enumerate() {
        let event = NewEvent::new("After", "x").with_id([0xa0 + i as u8; 16]);
        let _ = store.append(
            *stream,
            ExpectedRevision::Any,
            vec![event.clone()],
            Durability::Written,
        );
        let _ = store.append(
            *stream,
            ExpectedRevision::Exact(Revision(7)),
            vec![event],
            Durability::Written,
        );
    }
    let _ = store.truncate_stream(b"order-1", Revision(2));
    let _ = store.delete_stream(b"cust-1");
    let _ = store.read_stream(b"order-1", Revision(0), Direction::Forwards, 3);
    let _ = store.checkpoint();
}
