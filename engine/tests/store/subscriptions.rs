//! Event-store subscriptions: category and event-type filters, catch-up then live, and
//! the store's lifecycle records never delivered.

use std::sync::Arc;
use std::time::Duration;

use annal::testing::SimStorage;
use annal::Revision;
use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Visibility};
use annal::{Start, StoreFilter, StoreSubscriptionOptions};
use bytes::Bytes;

fn open() -> EventStore {
    EventStore::open_with_storage(
        "/store",
        Options::default().segment_bytes(64 << 10),
        Arc::new(SimStorage::new()),
    )
    .unwrap()
}

fn append(store: &EventStore, stream: &str, event_type: &str, data: &str) {
    store
        .append(
            stream.to_owned(),
            ExpectedRevision::Any,
            vec![NewEvent::new(event_type.to_owned(), data.to_owned())],
            Durability::Synced,
        )
        .unwrap();
}

fn drain(subscription: &mut annal::StoreSubscription) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(event) = subscription.try_next().unwrap() {
        out.push(String::from_utf8(event.data.to_vec()).unwrap());
    }
    out
}

#[test]
fn a_category_subscription_gets_its_category_in_order_then_live() {
    // Proves a category filter delivers only that category, in order, and keeps following the tail.
    let store = open();
    for i in 0..30 {
        let stream = if i % 3 == 0 {
            format!("order-{i}")
        } else {
            format!("cust-{i}")
        };
        append(&store, &stream, "Happened", &format!("{i}"));
    }
    let options = StoreSubscriptionOptions::default()
        .filter(StoreFilter::Category(Bytes::from_static(b"order")));
    let mut subscription = store.subscribe(Start::Beginning, options).unwrap();
    let expected: Vec<String> = (0..30)
        .filter(|i| i % 3 == 0)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(drain(&mut subscription), expected);
    assert_eq!(
        subscription.position(),
        store.log_next_position(),
        "scanned past the rest"
    );
    append(&store, "cust-99", "Happened", "ignored");
    append(&store, "order-99", "Happened", "live");
    let live = subscription.next(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(&live.data[..], b"live");
    assert_eq!(&live.stream[..], b"order-99");
}

#[test]
fn an_event_type_subscription_skips_other_types_and_lifecycle_records() {
    // Proves the event-type filter matches exactly and truncations or tombstones are never delivered.
    let store = open();
    append(&store, "a-1", "Paid", "p1");
    append(&store, "a-1", "Shipped", "s1");
    store.truncate_stream(b"a-1", Revision(1)).unwrap();
    append(&store, "a-2", "Paid", "p2");
    store.delete_stream(b"a-2").unwrap();
    let options = StoreSubscriptionOptions::default()
        .visibility(Visibility::Written)
        .filter(StoreFilter::EventType(Bytes::from_static(b"Paid")));
    let mut paid = store.subscribe(Start::Beginning, options).unwrap();
    assert_eq!(drain(&mut paid), vec!["p1", "p2"]);
    let mut everything = store
        .subscribe(Start::Beginning, StoreSubscriptionOptions::default())
        .unwrap();
    assert_eq!(drain(&mut everything), vec!["p1", "s1", "p2"]);
}
