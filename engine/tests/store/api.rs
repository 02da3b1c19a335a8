//! The store's API in the domain's words: names of every kind, names as text in errors,
//! reads from a stream's end, temporal reads at a `SystemTime`, and subscriptions as
//! blocking and timed iterators.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use annal::testing::SimStorage;
use annal::{
    Durability, Error, EventStore, ExpectedRevision, Name, NewEvent, Options, Revision, Start,
    StoreFilter, StoreSubscriptionOptions, StreamAppend,
};
use bytes::Bytes;

fn open(storage: &SimStorage) -> EventStore {
    EventStore::open_with_storage(
        "/api",
        Options::default().segment_bytes(64 << 10),
        Arc::new(storage.clone()),
    )
    .unwrap()
}

fn ev(event_type: &str) -> NewEvent {
    NewEvent::new(event_type, "")
}

#[test]
fn names_are_accepted_as_str_string_bytes_and_byte_slices_alike() {
    // Proves appends and reads take a stream name as &str, String, &[u8], Vec<u8> or Bytes and mean the same stream.
    let store = open(&SimStorage::new());
    let borrowed = String::from("order-7");
    let w = Durability::Written;
    store
        .append(
            borrowed.as_str(),
            ExpectedRevision::NoStream,
            vec![ev("A")],
            w,
        )
        .unwrap();
    store
        .append(borrowed.clone(), ExpectedRevision::Any, vec![ev("B")], w)
        .unwrap();
    store
        .append(&b"order-7"[..], ExpectedRevision::Any, vec![ev("C")], w)
        .unwrap();
    store
        .append(b"order-7".to_vec(), ExpectedRevision::Any, vec![ev("D")], w)
        .unwrap();
    store
        .append(
            Bytes::from_static(b"order-7"),
            ExpectedRevision::Any,
            vec![ev("E")],
            w,
        )
        .unwrap();
    let part = StreamAppend::new(
        &borrowed,
        ExpectedRevision::Exact(Revision(4)),
        vec![ev("F")],
    );
    store.append_multi(&[part], w).unwrap();
    assert_eq!(store.stream_revision(&borrowed), Some(Revision(5)));
    assert_eq!(store.stream_revision(b"order-7"), Some(Revision(5)));
    assert_eq!(
        store.stream_revision(Bytes::from_static(b"order-7")),
        Some(Revision(5))
    );
    let types: Vec<Bytes> = store
        .read_stream(borrowed.as_str(), Revision::ZERO, Default::default(), 10)
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, ["A", "B", "C", "D", "E", "F"]);
    assert_eq!(
        store
            .read_category("order", Default::default(), Default::default(), 10)
            .unwrap()
            .len(),
        6
    );
}

#[test]
fn errors_show_stream_names_as_text() {
    // Proves Debug and Display of an error name the stream as text, not as a byte array.
    let store = open(&SimStorage::new());
    let error = store.stream_info("order-404").unwrap_err();
    assert!(matches!(&error, Error::StreamNotFound { stream } if stream == "order-404"));
    let debug = format!("{error:?}");
    assert!(debug.contains("\"order-404\""), "{debug}");
    assert_eq!(error.to_string(), "stream \"order-404\" does not exist");
    let odd = Name::from(&b"bad-\xff"[..]);
    assert_eq!(format!("{odd:?}"), "b\"bad-\\xff\"");
}

#[test]
fn a_stream_reads_backwards_from_its_end_and_gives_its_last_events() {
    // Proves read_stream_backwards starts at the newest event and read_stream_last returns the last N oldest first, also past a truncation.
    let store = open(&SimStorage::new());
    let events = (0..20)
        .map(|i| NewEvent::new("Ticked", format!("{i}")))
        .collect();
    store
        .append(
            "clock-1",
            ExpectedRevision::NoStream,
            events,
            Durability::Written,
        )
        .unwrap();
    let revisions = |events: Vec<annal::RecordedEvent>| -> Vec<u64> {
        events.iter().map(|e| e.revision.0).collect()
    };
    assert_eq!(
        revisions(store.read_stream_backwards("clock-1", 3).unwrap()),
        [19, 18, 17]
    );
    assert_eq!(
        revisions(store.read_stream_last("clock-1", 3).unwrap()),
        [17, 18, 19]
    );
    store.truncate_stream("clock-1", Revision(18)).unwrap();
    assert_eq!(
        revisions(store.read_stream_last("clock-1", 5).unwrap()),
        [18, 19]
    );
    assert_eq!(store.read_stream_last("clock-1", 0).unwrap().len(), 0);
}

#[test]
fn temporal_reads_take_a_system_time() {
    // Proves read_stream_at and position_after with a SystemTime agree with the nanosecond forms.
    let store = open(&SimStorage::new());
    let w = Durability::Written;
    store
        .append(
            "order-1",
            ExpectedRevision::NoStream,
            vec![ev("Created")],
            w,
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(2));
    let between = SystemTime::now();
    std::thread::sleep(Duration::from_millis(2));
    store
        .append("order-1", ExpectedRevision::Any, vec![ev("Paid")], w)
        .unwrap();
    let nanos = between
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert_eq!(
        store.position_after(between).unwrap(),
        store.position_after_time(nanos).unwrap()
    );
    assert_eq!(
        store.read_stream_at("order-1", between, 10).unwrap().len(),
        1
    );
    let before_epoch = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
    assert!(matches!(
        store.read_stream_at("order-1", before_epoch, 10),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn a_subscription_iterates_blocking_until_the_store_closes() {
    // Proves `for event in &mut subscription` delivers catch-up and live events, waiting for them, and ends with Closed when the store closes.
    let store = Arc::new(open(&SimStorage::new()));
    store
        .append(
            "order-1",
            ExpectedRevision::NoStream,
            vec![ev("A")],
            Durability::Synced,
        )
        .unwrap();
    let options = StoreSubscriptionOptions::default().filter(StoreFilter::category("order"));
    let mut subscription = store.subscribe(Start::Beginning, options).unwrap();
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            store
                .append(
                    "cust-1",
                    ExpectedRevision::Any,
                    vec![ev("X")],
                    Durability::Synced,
                )
                .unwrap();
            store
                .append(
                    "order-1",
                    ExpectedRevision::Any,
                    vec![ev("B")],
                    Durability::Synced,
                )
                .unwrap();
        })
    };
    let mut seen = Vec::new();
    for event in &mut subscription {
        seen.push(event.unwrap().event_type);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen, ["A", "B"]);
    writer.join().unwrap();
    let store = Arc::try_unwrap(store).unwrap();
    store.close().unwrap();
    let ended: Vec<_> = subscription.iter().collect();
    assert!(matches!(ended[..], [Err(Error::Closed)]), "{ended:?}");
}

#[test]
fn a_timed_iteration_drains_what_is_there_then_stops() {
    // Proves iter_timeout yields every event present, then ends once none arrives in time, and a later call continues after them.
    let store = open(&SimStorage::new());
    let events = (0..4)
        .map(|i| NewEvent::new("Ticked", format!("{i}")))
        .collect();
    store
        .append("clock-1", ExpectedRevision::Any, events, Durability::Synced)
        .unwrap();
    let mut subscription = store
        .subscribe(Start::Beginning, Default::default())
        .unwrap();
    let first: Vec<_> = subscription
        .iter_timeout(Duration::from_millis(5))
        .map(Result::unwrap)
        .collect();
    assert_eq!(first.len(), 4);
    store
        .append(
            "clock-1",
            ExpectedRevision::Any,
            vec![ev("Ticked")],
            Durability::Synced,
        )
        .unwrap();
    let second: Vec<_> = subscription
        .iter_timeout(Duration::from_millis(5))
        .map(Result::unwrap)
        .collect();
    assert_eq!(second.iter().map(|e| e.revision.0).collect::<Vec<_>>(), [4]);
}

#[test]
fn append_from_slice_answers_as_append_and_refuses_bad_input() {
    // Proves the borrowing append writes what `append` writes, honours expectations and retries by id, and refuses an empty slice, a bad name and an oversized type with clear errors.
    let store = open(&SimStorage::new());
    let w = Durability::Written;
    let first = store
        .append_from_slice("order-1", ExpectedRevision::NoStream, &[ev("A")], w)
        .unwrap();
    assert_eq!(first.first_revision, Revision(0));
    let two = [ev("B"), ev("C")];
    let both = store
        .append_from_slice(
            &b"order-1"[..],
            ExpectedRevision::Exact(Revision(0)),
            &two,
            w,
        )
        .unwrap();
    assert_eq!(
        (both.first_revision, both.last_revision),
        (Revision(1), Revision(2))
    );
    let stale = store.append_from_slice(
        "order-1",
        ExpectedRevision::Exact(Revision(0)),
        &[ev("D")],
        w,
    );
    assert!(
        matches!(
            stale,
            Err(Error::WrongExpectedRevision {
                actual: Some(Revision(2)),
                ..
            })
        ),
        "{stale:?}"
    );
    let with_id = [ev("E").with_id(*b"0123456789abcdef")];
    let placed = store
        .append_from_slice("order-1", ExpectedRevision::Any, &with_id, w)
        .unwrap();
    let retried = store
        .append_from_slice("order-1", ExpectedRevision::Any, &with_id, w)
        .unwrap();
    assert_eq!(retried, placed, "a retry returns the original result");
    let types: Vec<_> = store
        .read_stream("order-1", Revision::ZERO, Default::default(), 10)
        .unwrap()
        .iter()
        .map(|e| e.event_type.clone())
        .collect();
    assert_eq!(types, ["A", "B", "C", "E"]);
    assert!(matches!(
        store.append_from_slice("order-1", ExpectedRevision::Any, &[], w),
        Err(Error::EmptyBatch)
    ));
    for bad in [&b""[..], b"a\0b", &[b'x'; 256][..]] {
        let refused = store.append_from_slice(bad, ExpectedRevision::Any, &[ev("A")], w);
        assert!(
            matches!(refused, Err(Error::InvalidArgument { .. })),
            "{refused:?}"
        );
    }
    let long_type = NewEvent::new(Name::from("T".repeat(256)), "");
    let refused = store.append_from_slice("order-1", ExpectedRevision::Any, &[long_type], w);
    assert!(
        matches!(refused, Err(Error::InvalidArgument { .. })),
        "{refused:?}"
    );
    store
        .append_from_slice("cart-1", ExpectedRevision::Any, &[ev("A")], w)
        .unwrap();
    store.delete_stream("cart-1").unwrap();
    let deleted = store.append_from_slice("cart-1", ExpectedRevision::Any, &[ev("B")], w);
    assert!(
        matches!(deleted, Err(Error::StreamDeleted { .. })),
        "{deleted:?}"
    );
    assert_eq!(
        store.stream_info("order-1").unwrap().revision,
        Some(Revision(3)),
        "nothing refused was written"
    );
}
