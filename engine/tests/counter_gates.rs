//! Counter gates: deterministic counts of the engine's work, each checked against the
//! threshold listed in `docs/benchmarks.md` ("Counter gates"), so CI fails when one
//! regresses. These are counts, never seconds: fdatasyncs per `Synced` append as
//! concurrency grows (group commit), bytes written per event against its payload, storage
//! calls per append, heap allocations per append (a counting global allocator), and the
//! records a stream read fetches per event it returns. A failure names the counter, its
//! value and its threshold.
//!
//! Storage calls are counted by a wrapper around the backend ([`Counting`]); group commit
//! runs on `SimStorage` with an fdatasync that sleeps 200 µs, as a device's takes a
//! while, so that appenders arrive during a sync and batching does not depend on luck.
//! Every test here takes [`serial`] first, so no two measure at once.
//!
//! `cargo test -p annal --test counter_gates -- --nocapture` prints every counter.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::Duration;

use annal::testing::record_bytes_for;
use annal::testing::SimStorage;
use annal::Revision;
use annal::Storage;
use annal::{
    Direction, Durability, EventStore, ExpectedRevision, Log, Metrics, NewEvent, Options, Position,
};
use bytes::Bytes;
use support::{FileOrigin, HookedStorage, StorageHooks};

/// Payload bytes of every event, as in the benchmarks.
const PAYLOAD_BYTES: usize = 100;

/// How long the simulated fdatasync of the group-commit gates takes.
const SYNC_DELAY: Duration = Duration::from_micros(200);

// ---------------------------------------------------------------------------------------
// Thresholds (docs/benchmarks.md, "Counter gates", lists each with its current value).

/// One appender alone pays exactly one fdatasync per `Synced` append: no more.
const SYNCS_PER_APPEND_1_MAX: f64 = 1.0;
/// 8 appenders: one fdatasync covers at least 2 appends (measured 6 to 7; 3.6 at worst
/// with the 2-core machine loaded 10 times over).
const SYNCS_PER_APPEND_8_MAX: f64 = 0.5;
/// 64 appenders: one fdatasync covers at least 8 appends (measured 43 to 55; 25 at worst
/// under load).
const SYNCS_PER_APPEND_64_MAX: f64 = 0.125;
/// Mean appends per group commit with 8 appenders.
const BATCH_8_MIN: f64 = 2.0;
/// Mean appends per group commit with 64 appenders.
const BATCH_64_MIN: f64 = 8.0;
/// Amortisation must grow with concurrency: batch at 64 ÷ batch at 8 (measured 6 to 8;
/// 3.6 at worst under load).
const BATCH_GROWTH_8_TO_64_MIN: f64 = 2.0;
/// The records of the `Synced` appends a group commit covers go to the file in one
/// write, made by the leader just before its fdatasync: concurrent appenders share the
/// write as well as the sync.
const WRITES_PER_GROUP_COMMIT_MAX: f64 = 1.0;

/// Bytes written per single-event append of a 100-byte payload: the 144-byte record.
const BYTES_PER_EVENT_SINGLE_MAX: f64 = 144.0;
/// Bytes written per event in 100-event batches: one 40-byte header per record, a 4-byte
/// length per event, padding to 8 bytes (10 440 bytes per 100 events).
const BYTES_PER_EVENT_BATCH100_MAX: f64 = 104.4;
/// Bytes written per stream event (100-byte data, 12-byte stream name, 9-byte type): a
/// 40-byte record header, a 4-byte length, the 177-byte envelope, padding to 8 bytes
/// (224), plus the 96-byte link block every 8th event carries (12 per event).
const BYTES_PER_STREAM_EVENT_MAX: f64 = 236.0;

/// A `Written` append is one pwrite.
const CALLS_PER_WRITTEN_APPEND_MAX: f64 = 1.0;
/// A `Synced` append alone is one pwrite and one fdatasync.
const CALLS_PER_SYNCED_APPEND_MAX: f64 = 2.0;
/// `Buffered` appends are written 256 KiB at a time: one pwrite per ~1 800 appends of
/// 144 bytes (measured 0.00056 per append); this allows a buffer half that size.
const CALLS_PER_BUFFERED_APPEND_MAX: f64 = 0.0012;
/// A segment roll: seal write + fdatasync, header write + fdatasync, rename, directory
/// fsync (the next file is created in advance by the preparer thread).
const CALLS_PER_ROLL_MAX: f64 = 6.0;
/// fdatasyncs per roll: the seal's and the new header's.
const SYNCS_PER_ROLL_MAX: f64 = 2.0;

/// The log's append path allocates nothing per append, at every durability.
const LOG_ALLOCATIONS_PER_APPEND_MAX: f64 = 0.0;
/// Reading the log with a `LogReader` allocates nothing per event.
const LOG_ALLOCATIONS_PER_EVENT_READ_MAX: f64 = 0.0;
/// The stream layer's single-event append allocates nothing once warm (the store reuses
/// its plans and encoding buffer under its lock); the index's vectors grow now and then
/// (measured 0.05): any allocation per append fails.
const STREAM_ALLOCATIONS_PER_APPEND_MAX: f64 = 0.1;

/// A whole-stream read fetches exactly the stream's own records: one per event, plus one
/// group head per 8 events for its link block.
const LOCATED_READS_PER_EVENT_MAX: f64 = 1.125;
/// Bytes a stream read spans per event returned: the event's own record (at most 236 on
/// average), plus an eighth of a group head's record (at most 320): 276.
const LOCATED_READ_BYTES_PER_EVENT_MAX: f64 = 276.0;
/// 4 KiB pages a stream read touches per event returned: each record is one page, or
/// two when it straddles a page boundary, plus an eighth of a head's.
const LOCATED_READ_PAGES_PER_EVENT_MAX: f64 = 1.4;
/// Records a windowed stream read fetches beyond the events it returns: the link blocks
/// of the (at most two) groups a 5-event window spans (docs/design.md, "Streams").
const EXTRA_READS_PER_WINDOW_MAX: f64 = 2.0;

// ---------------------------------------------------------------------------------------
// The gate itself.

/// Collects every counter of a test and fails with all that are past their threshold.
struct Gates {
    failures: Vec<String>,
}

impl Gates {
    fn new() -> Gates {
        Gates {
            failures: Vec::new(),
        }
    }

    /// The counter must be at most `max`.
    fn at_most(&mut self, counter: &str, value: f64, max: f64) {
        self.check(counter, value, "≤", max, value <= max + 1e-9);
    }

    /// The counter must be at least `min`.
    fn at_least(&mut self, counter: &str, value: f64, min: f64) {
        self.check(counter, value, "≥", min, value >= min - 1e-9);
    }

    fn check(&mut self, counter: &str, value: f64, relation: &str, threshold: f64, ok: bool) {
        let verdict = if ok { "ok" } else { "FAILED" };
        println!("counter gate | {counter} | {value:.4} | {relation} {threshold} | {verdict}");
        if !ok {
            self.failures.push(format!(
                "counter gate failed: {counter} = {value:.4}, threshold {relation} {threshold}"
            ));
        }
    }

    fn finish(self) {
        if !self.failures.is_empty() {
            let mut message = String::new();
            for failure in &self.failures {
                let _ = writeln!(message, "{failure}");
            }
            message.push_str("(thresholds: docs/benchmarks.md, \"Counter gates\")");
            panic!("{message}");
        }
    }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    assert!(denominator > 0, "a counter gate divided by zero");
    numerator as f64 / denominator as f64
}

/// One test measures at a time: the allocation counts and the group-commit batching must
/// not share the machine with another gate.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------
// A counting global allocator: counts the allocations of the thread that asked for them.

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: allocations during thread teardown, after the slots are gone, are not
    // counted (and must not panic).
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

#[expect(
    unsafe_code,
    reason = "a global allocator that counts, then forwards to System"
)]
// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; counting touches only const-initialised thread-locals without
// destructors, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's `layout` contract is passed on to `System` as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr` was allocated by `System` (every allocation here is) with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns its result with the heap allocations (allocs, zeroed allocs and
/// reallocs) this thread made meanwhile.
fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let result = f();
    COUNTING.with(|on| on.set(false));
    (result, ALLOCATIONS.with(Cell::get))
}

// ---------------------------------------------------------------------------------------
// A storage backend wrapper that counts calls.

/// The hooks of [`Counting`]: every storage call counted; fdatasyncs take `sync_delay`.
#[derive(Debug, Default)]
struct Calls {
    writes: AtomicU64,
    bytes_written: AtomicU64,
    syncs: AtomicU64,
    views: AtomicU64,
    creates: AtomicU64,
    renames: AtomicU64,
    removes: AtomicU64,
    dir_syncs: AtomicU64,
    sync_delay: Duration,
}

impl StorageHooks for Calls {
    type FileState = ();

    fn new_file(&self, _origin: FileOrigin) {}

    fn before_create_file(&self, _path: &Path, _len_bytes: u64) {
        self.creates.fetch_add(1, Ordering::SeqCst);
    }

    fn before_rename(&self, _from: &Path, _to: &Path) {
        self.renames.fetch_add(1, Ordering::SeqCst);
    }

    fn before_remove_file(&self, _path: &Path) {
        self.removes.fetch_add(1, Ordering::SeqCst);
    }

    fn before_sync_dir(&self, _dir: &Path) {
        self.dir_syncs.fetch_add(1, Ordering::SeqCst);
    }

    fn before_write(&self, _file: &(), _offset: u64, data: &[u8]) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.bytes_written
            .fetch_add(data.len() as u64, Ordering::SeqCst);
    }

    fn before_sync_data(&self, _file: &()) {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        if !self.sync_delay.is_zero() {
            std::thread::sleep(self.sync_delay);
        }
    }

    fn before_view(&self, _file: &()) {
        self.views.fetch_add(1, Ordering::SeqCst);
    }
}

/// Counts of storage calls, and differences between two counts.
#[derive(Debug, Clone, Copy, Default)]
struct CallCounts {
    writes: u64,
    bytes_written: u64,
    syncs: u64,
    views: u64,
    /// Files created: the preparer thread's work, off the append path.
    creates: u64,
    /// Renames, removals and directory syncs.
    directory_ops: u64,
}

impl CallCounts {
    fn since(self, before: CallCounts) -> CallCounts {
        CallCounts {
            writes: self.writes - before.writes,
            bytes_written: self.bytes_written - before.bytes_written,
            syncs: self.syncs - before.syncs,
            views: self.views - before.views,
            creates: self.creates - before.creates,
            directory_ops: self.directory_ops - before.directory_ops,
        }
    }

    /// Every call on the append path that changes or syncs a file or the directory:
    /// not views (reads), not the preparer's file creations.
    fn write_path_calls(self) -> u64 {
        self.writes + self.syncs + self.directory_ops
    }
}

/// A backend that counts every call into its inner one; its fdatasyncs take a delay.
type Counting = HookedStorage<Calls>;

impl Counting {
    fn new(inner: Arc<dyn Storage>, sync_delay: Duration) -> Counting {
        let calls = Calls {
            sync_delay,
            ..Calls::default()
        };
        HookedStorage::with_hooks(inner, calls)
    }

    fn sim() -> Counting {
        Counting::new(Arc::new(SimStorage::new()), Duration::ZERO)
    }

    fn counts(&self) -> CallCounts {
        let c = self.hooks();
        let load = |a: &AtomicU64| a.load(Ordering::SeqCst);
        CallCounts {
            writes: load(&c.writes),
            bytes_written: load(&c.bytes_written),
            syncs: load(&c.syncs),
            views: load(&c.views),
            creates: load(&c.creates),
            directory_ops: load(&c.renames) + load(&c.removes) + load(&c.dir_syncs),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn open_log(storage: &Counting, segment_bytes: u64) -> Log {
    Log::open_with_storage(
        Path::new("/sim/gates"),
        Options::default().segment_bytes(segment_bytes),
        Arc::new(storage.clone()),
    )
    .unwrap()
}

fn payload() -> Vec<u8> {
    (0..PAYLOAD_BYTES).map(|i| (i * 7 % 251) as u8).collect()
}

/// What one group-commit run counted.
struct GroupRun {
    appends: u64,
    group_syncs: u64,
    storage_syncs: u64,
    storage_writes: u64,
}

/// `threads` appenders each make `appends_each` `Synced` appends at once, on a backend
/// whose fdatasync takes [`SYNC_DELAY`].
fn group_commit_run(threads: usize, appends_each: usize) -> GroupRun {
    let storage = Counting::new(Arc::new(SimStorage::new()), SYNC_DELAY);
    let log = Arc::new(open_log(&storage, 4 << 20));
    let payload = payload();
    let before = (log.metrics(), storage.counts());
    let start = Barrier::new(threads);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (log, payload, start) = (&log, &payload, &start);
            scope.spawn(move || {
                start.wait();
                for _ in 0..appends_each {
                    log.append(payload, Durability::Synced).unwrap();
                }
            });
        }
    });
    let metrics = log.metrics();
    let calls = storage.counts().since(before.1);
    assert_eq!(
        metrics.rolls, before.0.rolls,
        "setup: the run must not roll"
    );
    let run = GroupRun {
        appends: metrics.appends - before.0.appends,
        group_syncs: metrics.group_syncs - before.0.group_syncs,
        storage_syncs: calls.syncs,
        storage_writes: calls.writes,
    };
    assert_eq!(run.appends, (threads * appends_each) as u64);
    Arc::into_inner(log).unwrap().close().unwrap();
    run
}

// ---------------------------------------------------------------------------------------
// The gates.

#[test]
fn group_commit_amortises_fdatasyncs_as_appenders_grow() {
    // Proves one fdatasync (and one write) covers more Synced appends as concurrent appenders grow from 1 to 8 to 64.
    let _serial = serial();
    let mut gates = Gates::new();
    let mut batches = Vec::new();
    for (threads, appends_each, max_syncs_per_append) in [
        (1, 200, SYNCS_PER_APPEND_1_MAX),
        (8, 200, SYNCS_PER_APPEND_8_MAX),
        (64, 50, SYNCS_PER_APPEND_64_MAX),
    ] {
        let run = group_commit_run(threads, appends_each);
        let batch = ratio(run.appends, run.group_syncs);
        println!(
            "{threads} Synced appenders: {} appends, {} group commits, {} fdatasyncs, {} writes",
            run.appends, run.group_syncs, run.storage_syncs, run.storage_writes
        );
        let appenders = if threads == 1 {
            "appender"
        } else {
            "appenders"
        };
        gates.at_most(
            &format!("fdatasyncs per Synced append, {threads} {appenders}"),
            ratio(run.storage_syncs, run.appends),
            max_syncs_per_append,
        );
        gates.at_most(
            &format!("writes per group commit, {threads} {appenders}"),
            ratio(run.storage_writes, run.group_syncs),
            WRITES_PER_GROUP_COMMIT_MAX,
        );
        batches.push(batch);
        match threads {
            8 => gates.at_least("appends per group commit, 8 appenders", batch, BATCH_8_MIN),
            64 => gates.at_least(
                "appends per group commit, 64 appenders",
                batch,
                BATCH_64_MIN,
            ),
            _ => gates.at_least("appends per group commit, 1 appender", batch, 1.0),
        }
    }
    gates.at_least(
        "growth of appends per group commit from 8 to 64 appenders",
        batches[2] / batches[1],
        BATCH_GROWTH_8_TO_64_MIN,
    );
    gates.finish();
}

#[test]
fn bytes_written_per_event_stay_at_the_format_overhead() {
    // Proves the bytes written per event are the format's documented overhead over the payload, no more.
    let _serial = serial();
    let mut gates = Gates::new();
    let payload = payload();
    let storage = Counting::sim();
    let log = open_log(&storage, 1 << 20);
    let before = (log.metrics(), storage.counts());
    let events = 1_000u64;
    for _ in 0..events {
        log.append(&payload, Durability::Written).unwrap();
    }
    let single = storage.counts().since(before.1);
    let batch: Vec<&[u8]> = vec![payload.as_slice(); 100];
    let middle = storage.counts();
    let batches = 50u64;
    for _ in 0..batches {
        log.append_batch(&batch, Durability::Written).unwrap();
    }
    let batched = storage.counts().since(middle);
    let metrics = log.metrics();
    assert_eq!(
        metrics.rolls, before.0.rolls,
        "setup: the run must not roll"
    );
    assert_eq!(
        metrics.payload_bytes - before.0.payload_bytes,
        (events + batches * 100) * PAYLOAD_BYTES as u64
    );
    assert_eq!(
        record_bytes_for(PAYLOAD_BYTES, 1, 0) as u64 * events,
        single.bytes_written,
        "every byte written is a record's"
    );
    let per_event = ratio(single.bytes_written, events);
    println!(
        "single events: {per_event} bytes per {PAYLOAD_BYTES}-byte payload ({:.2}x)",
        per_event / PAYLOAD_BYTES as f64
    );
    gates.at_most(
        "bytes written per event, single-event appends of 100 bytes",
        per_event,
        BYTES_PER_EVENT_SINGLE_MAX,
    );
    let per_event = ratio(batched.bytes_written, batches * 100);
    println!(
        "100-event batches: {per_event} bytes per {PAYLOAD_BYTES}-byte payload ({:.3}x)",
        per_event / PAYLOAD_BYTES as f64
    );
    gates.at_most(
        "bytes written per event, 100-event batches of 100 bytes",
        per_event,
        BYTES_PER_EVENT_BATCH100_MAX,
    );
    log.close().unwrap();

    let storage = Counting::sim();
    let store = EventStore::open_with_storage(
        Path::new("/sim/gates-store"),
        Options::default().segment_bytes(1 << 20),
        Arc::new(storage.clone()),
    )
    .unwrap();
    let names: Vec<Bytes> = (0..10)
        .map(|i| Bytes::from(format!("acct-{i:07}")))
        .collect();
    let before = storage.counts();
    let events = 1_000u64;
    for i in 0..events {
        let name = names[i as usize % names.len()].clone();
        let event = NewEvent::new("Deposited", payload.clone());
        store
            .append(
                name,
                ExpectedRevision::Any,
                vec![event],
                Durability::Written,
            )
            .unwrap();
    }
    let written = storage.counts().since(before);
    assert_eq!(store.metrics().rolls, 0, "setup: the run must not roll");
    gates.at_most(
        "bytes written per stream event (100-byte data, 12-byte stream, 9-byte type)",
        ratio(written.bytes_written, events),
        BYTES_PER_STREAM_EVENT_MAX,
    );
    store.close().unwrap();
    gates.finish();
}

#[test]
fn write_path_storage_calls_per_append() {
    // Proves each append costs the storage calls its durability needs and no more: one pwrite, plus one fdatasync when Synced.
    let _serial = serial();
    let mut gates = Gates::new();
    let payload = payload();
    let storage = Counting::sim();
    let log = open_log(&storage, 4 << 20);
    let rolls = log.metrics().rolls;
    let mut measure = |label: &str, appends: u64, durability: Durability, max: f64| {
        let before = storage.counts();
        for _ in 0..appends {
            log.append(&payload, durability).unwrap();
        }
        log.flush().unwrap();
        let calls = storage.counts().since(before);
        println!("{label}: {calls:?} over {appends} appends");
        gates.at_most(
            &format!("write-path storage calls per {label} append"),
            ratio(calls.write_path_calls(), appends),
            max,
        );
    };
    measure(
        "Written",
        1_000,
        Durability::Written,
        CALLS_PER_WRITTEN_APPEND_MAX,
    );
    measure(
        "Synced (one appender)",
        200,
        Durability::Synced,
        CALLS_PER_SYNCED_APPEND_MAX,
    );
    measure(
        "Buffered",
        10_000,
        Durability::Buffered,
        CALLS_PER_BUFFERED_APPEND_MAX,
    );
    assert_eq!(log.metrics().rolls, rolls, "setup: the run must not roll");
    log.close().unwrap();

    // Rolls: fill 64 KiB segments, counting the calls of each roll beyond its appends'.
    let storage = Counting::sim();
    let log = open_log(&storage, 64 << 10);
    let before = (log.metrics(), storage.counts());
    let mut appends = 0u64;
    while log.metrics().rolls - before.0.rolls < 20 {
        log.append(&payload, Durability::Written).unwrap();
        appends += 1;
    }
    let calls = storage.counts().since(before.1);
    let rolls = log.metrics().rolls - before.0.rolls;
    // Every append is one pwrite; what is left is the rolls' work.
    let roll_calls = calls.write_path_calls() - appends;
    println!("{rolls} rolls over {appends} appends: {calls:?}");
    gates.at_most(
        "storage calls per segment roll",
        ratio(roll_calls, rolls),
        CALLS_PER_ROLL_MAX,
    );
    gates.at_most(
        "fdatasyncs per segment roll",
        ratio(calls.syncs, rolls),
        SYNCS_PER_ROLL_MAX,
    );
    log.close().unwrap();
    gates.finish();
}

#[test]
fn log_append_path_allocates_nothing() {
    // Proves appends to the log (every durability, single events and batches) and reads through a LogReader make no heap allocation once warm.
    let _serial = serial();
    let mut gates = Gates::new();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default().segment_bytes(8 << 20)).unwrap();
    let payload = payload();
    let batch: Vec<&[u8]> = vec![payload.as_slice(); 10];
    // Warm up: the writer's buffer grows to its working size once.
    for _ in 0..2_000 {
        log.append(&payload, Durability::Buffered).unwrap();
    }
    log.append(&payload, Durability::Synced).unwrap();
    let rolls = log.metrics().rolls;
    let mut measure = |label: &str, appends: u64, append: &dyn Fn()| {
        let ((), allocations) = count_allocations(|| {
            for _ in 0..appends {
                append();
            }
        });
        gates.at_most(
            &format!("heap allocations per {label}"),
            ratio(allocations, appends),
            LOG_ALLOCATIONS_PER_APPEND_MAX,
        );
    };
    measure("Buffered append", 5_000, &|| {
        log.append(&payload, Durability::Buffered).unwrap();
    });
    measure("Written append", 2_000, &|| {
        log.append(&payload, Durability::Written).unwrap();
    });
    measure("Synced append (one appender)", 100, &|| {
        log.append(&payload, Durability::Synced).unwrap();
    });
    measure("Written 10-event batch append", 500, &|| {
        log.append_batch(&batch, Durability::Written).unwrap();
    });
    assert_eq!(log.metrics().rolls, rolls, "setup: the run must not roll");

    let mut reader = log.read_from(Position(0)).unwrap();
    let mut read = 0u64;
    let (checksum, allocations) = count_allocations(|| {
        let mut checksum = 0u64;
        for event in &mut reader {
            let event = event.unwrap();
            checksum = checksum.wrapping_add(u64::from(event.payload[0]));
            read += 1;
        }
        checksum
    });
    std::hint::black_box(checksum);
    assert_eq!(read, log.next_position().0);
    gates.at_most(
        "heap allocations per event read with a LogReader",
        ratio(allocations, read),
        LOG_ALLOCATIONS_PER_EVENT_READ_MAX,
    );
    drop(reader);
    log.close().unwrap();
    gates.finish();
}

#[test]
fn stream_append_allocations_stay_at_their_count() {
    // Proves a single-event stream append makes no more heap allocations than the documented count.
    let _serial = serial();
    let mut gates = Gates::new();
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), Options::default().segment_bytes(8 << 20)).unwrap();
    let names: Vec<Bytes> = (0..100)
        .map(|i| Bytes::from(format!("acct-{i:07}")))
        .collect();
    let data = Bytes::from(payload());
    let event_type = Bytes::from_static(b"Deposited");
    let appends = 2_000usize;
    // The caller's values (name, events vector) are made outside the counted region.
    let mut inputs: Vec<(Bytes, Vec<NewEvent>)> = (0..appends * 2)
        .map(|i| {
            let event = NewEvent::new(event_type.clone(), data.clone());
            (names[i % names.len()].clone(), vec![event])
        })
        .collect();
    let append = |(name, events): (Bytes, Vec<NewEvent>)| {
        store
            .append(name, ExpectedRevision::Any, events, Durability::Written)
            .unwrap();
    };
    // Warm up: every stream exists and the writer's buffer has its working size.
    for input in inputs.drain(..appends) {
        append(input);
    }
    let ((), allocations) = count_allocations(|| {
        for input in inputs.drain(..) {
            append(input);
        }
    });
    gates.at_most(
        "heap allocations per single-event stream append (Written, existing stream)",
        ratio(allocations, appends as u64),
        STREAM_ALLOCATIONS_PER_APPEND_MAX,
    );
    store.close().unwrap();
    gates.finish();
}

/// Writes `streams` streams of `events` events each, interleaved (one event per append),
/// into an event store on a counting simulated backend.
fn interleaved_store(streams: usize, events: u64) -> (Counting, EventStore) {
    let storage = Counting::sim();
    let store = EventStore::open_with_storage(
        Path::new("/sim/gates-streams"),
        Options::default().segment_bytes(256 << 10),
        Arc::new(storage.clone()),
    )
    .unwrap();
    let names: Vec<Bytes> = (0..streams)
        .map(|i| Bytes::from(format!("acct-{i:07}")))
        .collect();
    let data = Bytes::from(payload());
    for _ in 0..events {
        for name in &names {
            let event = NewEvent::new("Deposited", data.clone());
            store
                .append(
                    name.clone(),
                    ExpectedRevision::Any,
                    vec![event],
                    Durability::Written,
                )
                .unwrap();
        }
    }
    (storage, store)
}

fn located_since(after: Metrics, before: Metrics) -> (u64, u64, u64) {
    (
        after.located_reads - before.located_reads,
        after.located_read_bytes - before.located_read_bytes,
        after.located_read_pages - before.located_read_pages,
    )
}

#[test]
fn stream_reads_fetch_only_their_own_records() {
    // Proves a stream read fetches one record per event returned, never another stream's, and at most 2 extra reads (link blocks) for a 5-event window.
    let _serial = serial();
    let mut gates = Gates::new();
    let (streams, events) = (200usize, 40u64);
    let (storage, store) = interleaved_store(streams, events);
    let mut returned = 0u64;
    let before = (store.metrics(), storage.counts());
    for s in (0..streams).step_by(7) {
        let name = format!("acct-{s:07}");
        let read = store
            .read_stream(
                name.as_bytes(),
                Revision(0),
                Direction::Forwards,
                usize::MAX,
            )
            .unwrap();
        assert_eq!(read.len() as u64, events);
        assert!(read.iter().all(|e| e.stream == name.as_bytes()));
        returned += read.len() as u64;
    }
    let (reads, bytes, pages) = located_since(store.metrics(), before.0);
    let views = storage.counts().since(before.1).views;
    println!(
        "whole-stream reads: {returned} events returned, {reads} located reads ({views} \
         segment views), {bytes} bytes, {pages} pages"
    );
    // Bytes and pages are counted for located reads (`Log::read_in_record`); a stream
    // read that looked records up any other way (a scan with a `LogReader`) would show
    // here, as segment lookups the engine did not count.
    gates.at_most(
        "segment lookups per event returned outside located reads, whole-stream reads",
        ratio(views.saturating_sub(reads), returned),
        0.0,
    );
    gates.at_most(
        "located reads per event returned, whole-stream reads",
        ratio(reads, returned),
        LOCATED_READS_PER_EVENT_MAX,
    );
    gates.at_most(
        "bytes read per event returned, whole-stream reads",
        ratio(bytes, returned),
        LOCATED_READ_BYTES_PER_EVENT_MAX,
    );
    gates.at_most(
        "4 KiB pages touched per event returned, whole-stream reads",
        ratio(pages, returned),
        LOCATED_READ_PAGES_PER_EVENT_MAX,
    );

    // Every 5-event window, forwards and backwards: the extra hops the sparse index
    // leaves, at worst.
    let name = b"acct-0000003";
    let mut worst_extra = 0u64;
    for direction in [Direction::Forwards, Direction::Backwards] {
        for from in 0..events {
            let before = store.metrics();
            let read = store
                .read_stream(name, Revision(from), direction, 5)
                .unwrap();
            let (reads, _, _) = located_since(store.metrics(), before);
            worst_extra = worst_extra.max(reads - read.len() as u64);
        }
    }
    gates.at_most(
        "located reads beyond the events returned, worst 5-event window",
        worst_extra as f64,
        EXTRA_READS_PER_WINDOW_MAX,
    );
    store.close().unwrap();
    gates.finish();
}

/// What one run of store appends counted.
struct StoreRun {
    appends: u64,
    group_syncs: u64,
    storage_syncs: u64,
    storage_writes: u64,
}

/// `threads` appenders each make `appends_each` single-event store appends at
/// `durability` (each thread its own stream), on a backend whose fdatasync takes
/// [`SYNC_DELAY`]; buffered appends are flushed at the end.
fn store_run(threads: usize, appends_each: usize, durability: Durability) -> StoreRun {
    let storage = Counting::new(Arc::new(SimStorage::new()), SYNC_DELAY);
    let store = EventStore::open_with_storage(
        Path::new("/sim/gates-store-path"),
        Options::default().segment_bytes(8 << 20),
        Arc::new(storage.clone()),
    )
    .unwrap();
    let payload = Bytes::from(payload());
    let before = (store.metrics(), storage.counts());
    let start = Barrier::new(threads);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (store, payload, start) = (&store, &payload, &start);
            scope.spawn(move || {
                let name = Bytes::from(format!("acct-{thread}"));
                start.wait();
                for _ in 0..appends_each {
                    let event = NewEvent::new("Deposited", payload.clone());
                    store
                        .append(name.clone(), ExpectedRevision::Any, vec![event], durability)
                        .unwrap();
                }
            });
        }
    });
    // Reading the stream's last event writes what is still buffered.
    store
        .read_stream(b"acct-0", Revision(0), Direction::Backwards, 1)
        .unwrap();
    let metrics = store.metrics();
    let calls = storage.counts().since(before.1);
    assert_eq!(
        metrics.rolls, before.0.rolls,
        "setup: the run must not roll"
    );
    let run = StoreRun {
        appends: metrics.appends - before.0.appends,
        group_syncs: metrics.group_syncs - before.0.group_syncs,
        storage_syncs: calls.syncs,
        storage_writes: calls.writes,
    };
    assert_eq!(run.appends, (threads * appends_each) as u64);
    store.close().unwrap();
    run
}

#[test]
fn store_appends_take_the_log_write_path() {
    // Proves event-store appends cost what raw log appends cost in storage calls: concurrent Synced ones share one write and one fdatasync per group commit, Buffered ones stay in the writer's buffer.
    let _serial = serial();
    let mut gates = Gates::new();
    for (threads, appends_each, max_syncs_per_append) in [
        (1, 100, SYNCS_PER_APPEND_1_MAX),
        (8, 100, SYNCS_PER_APPEND_8_MAX),
        (64, 25, SYNCS_PER_APPEND_64_MAX),
    ] {
        let run = store_run(threads, appends_each, Durability::Synced);
        println!(
            "{threads} Synced store appenders: {} appends, {} group commits, {} fdatasyncs, {} writes",
            run.appends, run.group_syncs, run.storage_syncs, run.storage_writes
        );
        gates.at_most(
            &format!("fdatasyncs per Synced store append, {threads} appenders"),
            ratio(run.storage_syncs, run.appends),
            max_syncs_per_append,
        );
        gates.at_most(
            &format!("writes per group commit of store appends, {threads} appenders"),
            ratio(run.storage_writes, run.group_syncs),
            WRITES_PER_GROUP_COMMIT_MAX,
        );
    }
    let run = store_run(1, 10_000, Durability::Buffered);
    println!(
        "Buffered store appends: {} writes over {} appends",
        run.storage_writes, run.appends
    );
    gates.at_most(
        "writes per Buffered store append",
        ratio(run.storage_writes, run.appends),
        CALLS_PER_BUFFERED_APPEND_MAX,
    );
    let run = store_run(1, 1_000, Durability::Written);
    gates.at_most(
        "writes per Written store append",
        ratio(run.storage_writes, run.appends),
        CALLS_PER_WRITTEN_APPEND_MAX,
    );
    gates.finish();
}
