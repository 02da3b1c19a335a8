//! What the number of streams costs an event store: the time to open it from its index
//! checkpoint, the heap it holds once open, and the rate of whole-stream reads of
//! 100-event streams, at 10 k, 100 k and 1 M streams.
//!
//! Every store has 10 000 streams of 100 events (the ones read back); the rest of its
//! streams have 10 events each, written interleaved with them, so the 1 M-stream store
//! holds 10.9 M events. The stores are built once into a directory and closed (which
//! writes the index checkpoint); each measuring round then, for every size in turn,
//! opens the store (timed; `OpenChecks::LastSegment`, so the log's scan of sealed
//! segments, which does not depend on the streams, stays out), records the heap this process holds with it open (a counting
//! global allocator: live bytes with the store open minus live bytes before opening),
//! `EventStore::index_memory()` and RssAnon/RssFile, reads 1 000 random 100-event streams
//! twice (events per second: the first pass faults the events' pages into the process,
//! the second is warm), appends one event to each of 1 000 new streams and times
//! `checkpoint()`, then drops the store.
//!
//! ```text
//! cargo run --release -p annal-benches --example index_scale -- build DIR [10000,100000,1000000]
//! cargo run --release -p annal-benches --example index_scale -- measure DIR [rounds] [label]
//! ```
//!
//! `measure` prints one line per store and round; comparing two builds of the engine
//! (before and after a change), run each build's `measure` in alternation on its own
//! stores, so the machine's noise falls on both alike.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use annal::{
    Direction, Durability, EventStore, ExpectedRevision, IndexRecovery, NewEvent, OpenChecks,
    Options, Revision,
};
use annal_benches::streams::{random_streams, resident_bytes, stream_name};
use annal_benches::BenchResult;

/// The global allocator, counting the bytes live on the heap.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

#[expect(
    unsafe_code,
    reason = "a global allocator that counts, then forwards to System"
)]
// SAFETY: every call is forwarded to the system allocator unchanged; the counter is only
// arithmetic beside it (an atomic, which never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on as it is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract for `realloc` is passed on as it is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Streams of 100 events in every store (the ones read back).
const LONG_STREAMS: usize = 10_000;
const LONG_EVENTS: u64 = 100;
/// Events of every other stream.
const SHORT_EVENTS: u64 = 10;
/// Streams read per store and round.
const READS: usize = 1_000;
const DATA_BYTES: usize = 100;

fn store_dir(root: &Path, streams: usize) -> PathBuf {
    root.join(format!("streams-{streams}"))
}

fn build(root: &Path, sizes: &[usize]) -> BenchResult<()> {
    for &streams in sizes {
        let dir = store_dir(root, streams);
        if dir.exists() {
            println!("{}: exists, kept", dir.display());
            continue;
        }
        let started = Instant::now();
        let store = EventStore::open(&dir, Options::default())?;
        let names: Vec<String> = (0..streams).map(stream_name).collect();
        let short = streams.saturating_sub(LONG_STREAMS);
        let mut events = 0u64;
        let mut append = |s: usize| -> BenchResult<()> {
            let event = NewEvent::new("Deposited", vec![(s % 251) as u8; DATA_BYTES]);
            store.append(
                names[s].clone(),
                ExpectedRevision::Any,
                vec![event],
                Durability::Buffered,
            )?;
            events += 1;
            Ok(())
        };
        // Every pass writes one event to each long stream and to the tenth of the short
        // streams due in it: the short streams get their 10 events spread over the log.
        for round in 0..LONG_EVENTS {
            for s in 0..LONG_STREAMS.min(streams) {
                append(s)?;
            }
            let slice = (round % (LONG_EVENTS / SHORT_EVENTS)) as usize;
            let per_slice = short.div_ceil((LONG_EVENTS / SHORT_EVENTS) as usize);
            for s in slice * per_slice..((slice + 1) * per_slice).min(short) {
                append(LONG_STREAMS + s)?;
            }
        }
        store.close()?;
        println!(
            "built {}: {streams} streams, {events} events in {:.1} s",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// RssFile from `/proc/self/status`: mapped files (segments, the index checkpoint).
fn rss_file_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("RssFile:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn measure_one(dir: &Path, streams: usize, round: usize, label: &str) -> BenchResult<()> {
    let heap_before = live_bytes();
    let started = Instant::now();
    // Only the last segment is scanned: what the log's open checks cost (the same at
    // every stream count) stays out of the figure.
    let options = Options::default().open_checks(OpenChecks::LastSegment);
    let store = EventStore::open(dir, options)?;
    let open = started.elapsed();
    if !matches!(store.index_recovery(), IndexRecovery::Loaded { .. }) {
        return Err(format!("{}: {:?}", dir.display(), store.index_recovery()).into());
    }
    let heap = live_bytes() - heap_before;
    let index = store.index_memory();
    let (_, rss_anon) = resident_bytes();
    let rss_file = rss_file_bytes();
    if index.streams < streams {
        return Err(format!(
            "{}: {} streams, expected {streams}",
            dir.display(),
            index.streams
        )
        .into());
    }
    let chosen = random_streams(LONG_STREAMS.min(streams), READS, round as u64 + 1);
    // The first pass faults the events' pages into this process's mappings; the second
    // reads the same streams again, which is what the index's own cost shows in.
    let cold = read_pass(&store, &chosen)?;
    let warm = read_pass(&store, &chosen)?;
    // A checkpoint after 1 000 appends to new streams: what the index's size costs one.
    for i in 0..1_000 {
        let event = NewEvent::new("Deposited", vec![1u8; DATA_BYTES]);
        let name = format!("extra-{label}-{round}-{i}-{}", std::process::id());
        store.append(
            name,
            ExpectedRevision::NoStream,
            vec![event],
            Durability::Buffered,
        )?;
    }
    let checkpointing = Instant::now();
    store.checkpoint()?;
    let checkpoint = checkpointing.elapsed();
    drop(store);
    println!(
        "{label}\tround {round}\tstreams {streams}\topen_ms {:.1}\theap_bytes {heap}\theap_per_stream {:.0}\tindex_heap_bytes {}\trss_anon_mib {:.1}\trss_file_mib {:.1}\tcold_read_events_per_s {cold:.0}\twarm_read_events_per_s {warm:.0}\tcheckpoint_ms {:.1}",
        ms(open),
        heap as f64 / streams as f64,
        index.heap_bytes,
        rss_anon as f64 / (1 << 20) as f64,
        rss_file as f64 / (1 << 20) as f64,
        ms(checkpoint),
    );
    Ok(())
}

/// Reads each chosen 100-event stream whole; returns events per second.
fn read_pass(store: &EventStore, chosen: &[usize]) -> BenchResult<f64> {
    let mut events = 0u64;
    let mut folded = 0u64;
    let reading = Instant::now();
    for &s in chosen {
        let read = store.read_stream(
            stream_name(s).as_bytes(),
            Revision(0),
            Direction::Forwards,
            usize::MAX,
        )?;
        if read.len() as u64 != LONG_EVENTS {
            return Err(format!("stream {s}: {} events", read.len()).into());
        }
        for event in &read {
            folded = folded
                .wrapping_mul(31)
                .wrapping_add(u64::from(event.data[0]));
        }
        events += read.len() as u64;
    }
    std::hint::black_box(folded);
    Ok(events as f64 / reading.elapsed().as_secs_f64())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn sizes_in(root: &Path) -> BenchResult<Vec<usize>> {
    let mut sizes = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(count) = name.strip_prefix("streams-") {
            sizes.push(count.parse()?);
        }
    }
    sizes.sort_unstable();
    Ok(sizes)
}

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: index_scale build DIR [sizes] | measure DIR [rounds] [label] | checkpoint DIR";
    let (Some(mode), Some(root)) = (args.first(), args.get(1)) else {
        return Err(usage.into());
    };
    let root = PathBuf::from(root);
    match mode.as_str() {
        "build" => {
            let sizes: Vec<usize> = match args.get(2) {
                Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
                None => vec![10_000, 100_000, 1_000_000],
            };
            std::fs::create_dir_all(&root)?;
            build(&root, &sizes)
        }
        "checkpoint" => {
            // Reopens every store (rebuilding an index whose checkpoint is gone) and
            // closes it, which writes the checkpoint.
            for streams in sizes_in(&root)? {
                EventStore::open(store_dir(&root, streams), Options::default())?.close()?;
            }
            Ok(())
        }
        "measure" => {
            let rounds: usize = args.get(2).map_or(Ok(1), |s| s.parse())?;
            let label = args.get(3).map_or("annal", String::as_str);
            let sizes = sizes_in(&root)?;
            for round in 0..rounds {
                // Rotate the order, so no size always follows the same one.
                for i in 0..sizes.len() {
                    let streams = sizes[(i + round) % sizes.len()];
                    measure_one(&store_dir(&root, streams), streams, round, label)?;
                }
            }
            Ok(())
        }
        _ => Err(usage.into()),
    }
}
