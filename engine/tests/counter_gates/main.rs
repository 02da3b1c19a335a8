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
//! Here: the thresholds and the instruments (the gate, the counting allocator, the
//! counting storage); the gates themselves are in one module per part of the engine.
//!
//! `cargo test -p annal --test counter_gates -- --nocapture` prints every counter.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../support/mod.rs"]
mod support;

mod allocations;
mod group_commit;
mod reads;
mod write_path;

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
