//! The write path's gates: bytes written per event against its payload, and storage
//! calls per append at each durability and per segment roll.

use super::*;

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
