//! The index checkpoint as a mapped table with changes over it: a crash at any step of
//! writing a checkpoint (a failed write or sync, then a power loss that keeps only what
//! was synced, or tears what was not) reopens with every answer the store gave before; a
//! checkpoint of format version 2 is loaded (and rewritten as version 3), a damaged one
//! rebuilt and reported, never trusted; a
//! checkpoint written in the background takes the changes it holds off the heap, and a
//! store reopened from it holds next to nothing per stream on the heap.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use annal::testing::{CrashMode, SimStorage};
use annal::{
    Direction, Durability, EventStore, ExpectedRevision, IndexRecovery, NewEvent, Options,
    Position, Revision,
};

const DIR: &str = "/sim/checkpoint-table";
/// Enough streams for the checkpoint to take several writes (it goes out in 1 MiB pieces).
const STREAMS: usize = 30_000;

fn sim_options() -> Options {
    Options::default().segment_bytes(4 << 20)
}

fn name(i: usize) -> String {
    match i % 3 {
        0 => format!("order-{i}"),
        1 => format!("cust-{i}"),
        _ => format!("solo{i}"),
    }
}

/// What the store answers about a sample of its streams and its categories.
fn answers(store: &EventStore) -> Vec<String> {
    let mut out: Vec<String> = (0..STREAMS)
        .step_by(997)
        .chain([1, 2, STREAMS - 1])
        .map(|i| {
            let events = store.read_stream(name(i), Revision(0), Direction::Forwards, 100);
            let info = store.stream_info(name(i));
            let digest = events.map(|events| {
                events
                    .iter()
                    .map(|e| (e.revision.0, e.position.0, e.data.clone()))
                    .collect::<Vec<_>>()
            });
            format!("{i}: {digest:?} {info:?}")
        })
        .collect();
    for category in ["order", "cust", "solo", "none"] {
        let read = store.read_category(category, Position(0), Direction::Forwards, 50);
        let positions = read.map(|events| events.iter().map(|e| e.position.0).collect::<Vec<_>>());
        out.push(format!("{category}: {positions:?}"));
    }
    out.push(format!("{:?}", store.index_memory().streams));
    out
}

/// A store with a checkpoint, then changes after it (appends to old and new streams, a
/// truncation, a deletion), all synced.
fn build(storage: &SimStorage) -> Vec<String> {
    let store =
        EventStore::open_with_storage(DIR, sim_options(), Arc::new(storage.clone())).unwrap();
    for i in 0..STREAMS {
        let event = NewEvent::new("Opened", format!("{i}"));
        store
            .append(
                name(i),
                ExpectedRevision::NoStream,
                vec![event],
                Durability::Buffered,
            )
            .unwrap();
    }
    store.checkpoint().unwrap();
    for i in (0..STREAMS + 500).step_by(7) {
        let event = NewEvent::new("Changed", format!("again {i}"));
        store
            .append(
                name(i),
                ExpectedRevision::Any,
                vec![event],
                Durability::Buffered,
            )
            .unwrap();
    }
    store.truncate_stream(name(3), Revision(1)).unwrap();
    store.delete_stream(name(4)).unwrap();
    let want = answers(&store);
    drop(store);
    want
}

#[test]
fn a_crash_at_any_step_of_a_checkpoint_write_reopens_with_every_answer() {
    // Proves a checkpoint write that fails at its k-th write or sync, followed by a power loss (dropping or tearing what was not synced), reopens on the old checkpoint or a rebuild with every answer intact, and never panics.
    let base = SimStorage::new();
    let want = build(&base);
    let base = base.crash(CrashMode::DropUnsynced);
    let mut failed = 0;
    for fault in 0..8u64 {
        for mode in [
            CrashMode::DropUnsynced,
            CrashMode::TearUnsynced { seed: fault },
        ] {
            let storage = base.fork();
            let store =
                EventStore::open_with_storage(DIR, sim_options(), Arc::new(storage.clone()))
                    .unwrap();
            assert_eq!(
                answers(&store),
                want,
                "fault {fault}: before the checkpoint"
            );
            if fault < 4 {
                storage.fail_writes_after(fault, false);
            } else {
                storage.fail_syncs_after(fault - 4);
            }
            let written = store.checkpoint();
            failed += usize::from(written.is_err());
            storage.clear_faults();
            drop(store);
            let after = storage.crash(mode);
            let store = EventStore::open_with_storage(DIR, sim_options(), Arc::new(after)).unwrap();
            let what = format!(
                "fault {fault} ({written:?}), {mode:?}: {:?}",
                store.index_recovery()
            );
            assert_eq!(answers(&store), want, "{what}");
        }
    }
    // Some faults come after the last write or sync a checkpoint makes; most must not.
    assert!(
        failed >= 8,
        "only {failed} of 16 checkpoint writes met their fault"
    );
}

/// The store in `engine/tests/fixtures/store-v2-checkpoint`, written by the code before
/// the mapped table (`fdb5eef`): 600 events, event n in stream `order-{n % 12}` (or
/// `cust-…` from 6 on) with id n, `order-3` truncated before revision 45, `cust-7`
/// deleted, then retention up to position 213, then closed (a version-2 checkpoint).
fn v2_fixture() -> tempfile::TempDir {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v2-checkpoint");
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(fixture).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn fixture_id(n: u64) -> [u8; 16] {
    let mut id = [7u8; 16];
    id[..8].copy_from_slice(&n.to_le_bytes());
    id
}

/// What the fixture's store answers, checked against what its writer wrote.
fn check_fixture(store: &EventStore, what: &str) {
    for s in 0..12u64 {
        let name = if s < 6 {
            format!("order-{s}")
        } else {
            format!("cust-{s}")
        };
        if s == 7 {
            assert!(store.stream_info(&name).unwrap().deleted, "{what}");
            continue;
        }
        let info = store.stream_info(&name).unwrap();
        assert_eq!(info.revision, Some(Revision(49)), "{what}: {name}");
        let last = store.read_stream_last(&name, 5).unwrap();
        let got: Vec<(u64, u64)> = last.iter().map(|e| (e.revision.0, e.position.0)).collect();
        let want: Vec<(u64, u64)> = (45..50).map(|r| (r, s + 12 * r)).collect();
        assert_eq!(got, want, "{what}: {name}");
        let data = format!("event {} {}", s + 12 * 49, "#".repeat(150));
        assert_eq!(last[4].data, data.as_bytes(), "{what}: {name}");
    }
    let truncated = store
        .read_stream("order-3", Revision(0), Direction::Forwards, 100)
        .unwrap();
    assert_eq!(truncated.len(), 5, "{what}: order-3 reads from revision 45");
    let orders = store
        .read_category("order", Position(500), Direction::Forwards, 1000)
        .unwrap();
    let want: Vec<u64> = (500..600).filter(|n| n % 12 < 6).collect();
    let got: Vec<u64> = orders.iter().map(|e| e.position.0).collect();
    assert_eq!(got, want, "{what}: the order category from 500");
    // A retry of the last append to order-1, found through the id window.
    let retry = NewEvent::new("Happened", "ignored").with_id(fixture_id(589));
    let result = store
        .append(
            "order-1",
            ExpectedRevision::Any,
            vec![retry],
            Durability::Synced,
        )
        .unwrap();
    assert_eq!(
        (result.first_revision, result.first_position),
        (Revision(49), Position(589)),
        "{what}"
    );
}

#[test]
fn a_version_2_checkpoint_is_loaded_and_rewritten_as_version_3() {
    // Proves a store written before the mapped table opens on its version-2 checkpoint (loaded, not rebuilt: retention removed its first events, so a rebuild could not work), answers as written, and its next checkpoint is version 3 and answers the same.
    let dir = v2_fixture();
    let path = dir.path().join("streams.idx");
    assert_eq!(fs::read(&path).unwrap()[8..12], 2u32.to_le_bytes());
    let store = EventStore::open(dir.path(), Options::default().segment_bytes(64 << 10)).unwrap();
    assert_eq!(
        store.index_recovery(),
        IndexRecovery::Loaded {
            replayed_from: Position(602)
        }
    );
    check_fixture(&store, "version 2 loaded");
    store.close().unwrap();
    assert_eq!(fs::read(&path).unwrap()[8..12], 3u32.to_le_bytes());
    let store = EventStore::open(dir.path(), Options::default().segment_bytes(64 << 10)).unwrap();
    assert!(matches!(
        store.index_recovery(),
        IndexRecovery::Loaded { .. }
    ));
    check_fixture(&store, "rewritten as version 3");
    drop(store);
    // Without a checkpoint the index cannot come back: retention took the log's start.
    let bare = v2_fixture();
    fs::remove_file(bare.path().join("streams.idx")).unwrap();
    let err =
        EventStore::open(bare.path(), Options::default().segment_bytes(64 << 10)).unwrap_err();
    assert!(err.to_string().contains("cannot be rebuilt"), "{err}");
}

#[test]
fn a_damaged_version_2_checkpoint_is_rebuilt_and_reported() {
    // Proves a version-2 checkpoint that fails its checks (here cut to its header) is not trusted: the index is rebuilt from the log, the reason named, every answer the same.
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20)).unwrap();
    for i in 0..300 {
        let event = NewEvent::new("Opened", format!("{i}"));
        store
            .append(
                name(i % 40),
                ExpectedRevision::Any,
                vec![event],
                Durability::Written,
            )
            .unwrap();
    }
    let sample = |store: &EventStore| {
        (0..40)
            .map(|i| {
                store
                    .read_stream(name(i), Revision(0), Direction::Forwards, 100)
                    .unwrap()
                    .len()
            })
            .collect::<Vec<_>>()
    };
    let want = sample(&store);
    store.close().unwrap();
    let path = dir.path().join("streams.idx");
    let mut old = fs::read(&path).unwrap();
    old[8..12].copy_from_slice(&2u32.to_le_bytes());
    old.truncate(48);
    fs::write(&path, &old).unwrap();
    let store = EventStore::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        store.index_recovery(),
        IndexRecovery::Rebuilt {
            reason: "checkpoint header checksum mismatch".into()
        }
    );
    assert_eq!(sample(&store), want);
    assert!(!path.exists(), "the damaged checkpoint is removed");
    store.close().unwrap();
    assert_eq!(fs::read(&path).unwrap()[8..12], 3u32.to_le_bytes());
}

fn heap_per_stream(store: &EventStore) -> f64 {
    let memory = store.index_memory();
    memory.heap_bytes as f64 / memory.streams as f64
}

#[test]
fn a_checkpoint_written_in_the_background_takes_its_changes_off_the_heap() {
    // Proves a due checkpoint, written in the background and installed by a later append, leaves the heap with only what changed since, answers as before, and a reopened store reads every stream in place from the mapping.
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .segment_bytes(8 << 20)
        .index_checkpoint_events(20_000);
    let store = EventStore::open(dir.path(), options.clone()).unwrap();
    for i in 0..19_999 {
        let event = NewEvent::new("Opened", format!("{i}"));
        store
            .append(
                name(i),
                ExpectedRevision::NoStream,
                vec![event],
                Durability::Buffered,
            )
            .unwrap();
    }
    let before = store.index_memory();
    assert_eq!(before.mapped_bytes, 0);
    // Every stream changed since the last checkpoint (here: none yet) is on the heap.
    let per_changed_stream = before.heap_bytes as f64 / before.streams as f64;
    assert!(
        per_changed_stream < 600.0,
        "{per_changed_stream} B per changed stream"
    );
    // The 20 000th event makes the checkpoint due; appends after it install it once written.
    let mut appended = 19_999;
    while store.index_memory().mapped_bytes == 0 {
        let event = NewEvent::new("Later", "x");
        store
            .append(
                "later-1",
                ExpectedRevision::Any,
                vec![event],
                Durability::Buffered,
            )
            .unwrap();
        appended += 1;
        assert!(appended < 1_000_000, "the checkpoint was never installed");
        if appended % 100 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let after = store.index_memory();
    assert!(after.mapped_bytes > 0);
    assert!(
        after.heap_bytes * 4 < before.heap_bytes,
        "heap {} before, {} after the install",
        before.heap_bytes,
        after.heap_bytes
    );
    let read = |store: &EventStore, i: usize| {
        store
            .read_stream(name(i), Revision(0), Direction::Forwards, 10)
            .unwrap()[0]
            .data
            .clone()
    };
    assert_eq!(read(&store, 12_345), format!("{}", 12_345).as_bytes());
    store.close().unwrap();
    let store = EventStore::open(dir.path(), options).unwrap();
    assert!(matches!(
        store.index_recovery(),
        IndexRecovery::Loaded { .. }
    ));
    assert_eq!(store.index_memory().streams, 20_000);
    assert!(
        heap_per_stream(&store) < 64.0,
        "{} heap bytes per stream after a reopen",
        heap_per_stream(&store)
    );
    assert_eq!(read(&store, 19_998), format!("{}", 19_998).as_bytes());
    assert!(store.stream_info("order-999999").is_err());
}
