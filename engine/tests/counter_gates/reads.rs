//! Stream read gates: the records a stream read fetches, and their bytes and pages, per
//! event it returns.

use super::*;

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
