//! Allocation gates: heap allocations per append and per event read on the log, and per
//! append on the event store, counted by the counting global allocator.

use super::*;

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
