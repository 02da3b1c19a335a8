//! Stream handles (`EventStore::stream_handle`, `EventStore::append_to`): every append
//! through a handle lands in the handle's own stream with the next revision, whatever
//! renumbered the index since the handle's last append (checkpoints installed or thawed,
//! retention, deletions, other streams created); bad names are refused when the handle
//! is made, with the errors `append` gives; handles are shared between threads.

use std::collections::HashMap;
use std::sync::Arc;

use annal::limits::{EVENT_TYPE_BYTES_MAX, STREAM_NAME_BYTES_MAX};
use annal::testing::SimStorage;
use annal::{
    Direction, Durability, Error, EventStore, ExpectedRevision, NewEvent, Options, Position,
    Revision, StreamHandle, Truncation,
};

const DIR: &str = "/sim/stream-handles";

fn open(storage: &SimStorage) -> EventStore {
    EventStore::open_with_storage(
        DIR,
        Options::default()
            .segment_bytes(64 << 10)
            .index_checkpoint_events(37),
        Arc::new(storage.clone()),
    )
    .unwrap()
}

/// The streams: three categories and streams without one, so that both the stream's
/// and the category's remembered ids are exercised.
fn names() -> Vec<String> {
    (0..24)
        .map(|i| match i % 4 {
            0 => format!("acct-{i}"),
            1 => format!("user-{i}-x"),
            2 => format!("plain{i}"),
            _ => format!("ord-{i}"),
        })
        .collect()
}

fn event(stream: &str, revision: u64) -> NewEvent {
    NewEvent::new("Noted", format!("{stream}/{revision}/{}", "p".repeat(900)))
}

/// What each stream should hold: its next revision and the first revision not yet
/// read back.
#[derive(Default, Clone, Copy)]
struct Expect {
    next: u64,
    checked: u64,
}

/// Reads back every stream's events appended since the last check: each must be the
/// stream's own, at the revisions expected, with the data written for that revision;
/// and each category's events since `category_from` must be exactly its streams'.
fn check(store: &EventStore, want: &mut HashMap<String, Expect>, category_from: Position) {
    for (name, expect) in want.iter_mut() {
        let events = store
            .read_stream(
                name,
                Revision(expect.checked),
                Direction::Forwards,
                usize::MAX,
            )
            .unwrap();
        let revisions: Vec<u64> = events.iter().map(|e| e.revision.0).collect();
        let wanted: Vec<u64> = (expect.checked..expect.next).collect();
        assert_eq!(revisions, wanted, "revisions of {name}");
        for e in &events {
            assert_eq!(&e.stream[..], name.as_bytes(), "an event read from {name}");
            let prefix = format!("{name}/{}/", e.revision.0);
            assert!(e.data.starts_with(prefix.as_bytes()), "data of {name}");
        }
        expect.checked = expect.next;
    }
    for category in ["acct", "user", "ord"] {
        let events = store
            .read_category(category, category_from, Direction::Forwards, usize::MAX)
            .unwrap();
        for e in &events {
            let prefix = format!("{category}-");
            assert!(
                e.stream.starts_with(prefix.as_bytes()),
                "{:?} read in category {category}",
                String::from_utf8_lossy(&e.stream)
            );
            let own = format!("{}/{}/", String::from_utf8_lossy(&e.stream), e.revision.0);
            assert!(e.data.starts_with(own.as_bytes()), "data in {category}");
        }
    }
}

#[test]
fn appends_through_handles_land_in_their_own_streams_across_checkpoints_retention_and_deletion() {
    // Proves a handle's remembered index ids are never used once they name another entry: across checkpoints installed and thawed, background checkpoints, retention, stream truncations and deletions and streams created in between, every append through a handle lands in its own stream (and category) at the next revision, and a deleted stream answers as through `append`.
    let storage = SimStorage::new();
    let store = open(&storage);
    let names = names();
    let handles: Vec<StreamHandle> = names
        .iter()
        .map(|n| store.stream_handle(n.as_str()).unwrap())
        .collect();
    let mut want: HashMap<String, Expect> = names
        .iter()
        .map(|n| (n.clone(), Expect::default()))
        .collect();
    let mut deleted: Vec<usize> = Vec::new();
    let mut thawed = 0;
    for round in 0..16u64 {
        let round_start = store.log_next_position();
        for k in 0..names.len() as u64 {
            // A different order every round, and a new stream now and then, so that
            // the active entries are numbered differently after every freeze.
            let i = ((k * 7 + round * 5) % names.len() as u64) as usize;
            if k % 5 == round % 5 {
                let other = format!("{}-new{round}-{k}", ["acct", "ord", "zz"][k as usize % 3]);
                store
                    .append(
                        other.as_str(),
                        ExpectedRevision::NoStream,
                        vec![event(&other, 0)],
                        Durability::Buffered,
                    )
                    .unwrap();
            }
            let name = &names[i];
            let expect = want.get_mut(name).map(|e| e.next);
            let Some(next) = expect.filter(|_| !deleted.contains(&i)) else {
                let through_handle = store
                    .append_to(
                        &handles[i],
                        ExpectedRevision::Any,
                        &[event(name, 0)],
                        Durability::Buffered,
                    )
                    .unwrap_err();
                let through_name = store
                    .append(
                        name.as_str(),
                        ExpectedRevision::Any,
                        vec![event(name, 0)],
                        Durability::Buffered,
                    )
                    .unwrap_err();
                assert!(matches!(through_handle, Error::StreamDeleted { .. }));
                assert_eq!(through_handle.to_string(), through_name.to_string());
                continue;
            };
            let expected = match next {
                0 => ExpectedRevision::NoStream,
                n => ExpectedRevision::Exact(Revision(n - 1)),
            };
            let durability = if k + 1 == names.len() as u64 {
                Durability::Synced
            } else {
                Durability::Buffered
            };
            let written = store
                .append_to(&handles[i], expected, &[event(name, next)], durability)
                .unwrap();
            assert_eq!(written.first_revision, Revision(next), "append to {name}");
            want.get_mut(name).unwrap().next += 1;
        }
        check(&store, &mut want, round_start);
        match round % 4 {
            0 => store.checkpoint().unwrap(),
            1 => {
                // A checkpoint whose write fails: the snapshot is thawed back into the
                // index, numbering its entries anew.
                storage.fail_writes_after(0, false);
                thawed += usize::from(store.checkpoint().is_err());
                storage.clear_faults();
            }
            2 => {
                // Retention: the streams are truncated first, so that no read reaches
                // back past the log's new beginning.
                for (i, name) in names.iter().enumerate() {
                    if !deleted.contains(&i) {
                        store
                            .truncate_stream(name, Revision(want[name].checked))
                            .unwrap();
                    }
                }
                store
                    .truncate_before(round_start, Truncation::Forced)
                    .unwrap();
            }
            _ => {
                let victim = (round as usize * 5) % names.len();
                store.delete_stream(&names[victim]).unwrap();
                deleted.push(victim);
                want.remove(&names[victim]);
            }
        }
    }
    assert!(thawed >= 3, "only {thawed} checkpoint writes failed");
    assert!(
        store.first_position() > Position(0),
        "retention removed nothing"
    );
    let info = store.stream_info(&names[1]).unwrap();
    assert_eq!(info.revision, Some(Revision(want[&names[1]].next - 1)));
}

#[test]
fn handles_refuse_the_names_append_refuses_with_the_same_errors() {
    // Proves empty, too long and NUL-holding names are refused when a handle is made, with the error `append` gives for them, and an event type too long is refused through a handle as through `append`.
    let store = open(&SimStorage::new());
    let too_long = "n".repeat(STREAM_NAME_BYTES_MAX + 1);
    for bad in ["", "has\0nul", too_long.as_str()] {
        let from_handle = store.stream_handle(bad).unwrap_err();
        let from_append = store
            .append(
                bad,
                ExpectedRevision::Any,
                vec![event("x", 0)],
                Durability::Buffered,
            )
            .unwrap_err();
        assert!(
            matches!(from_handle, Error::InvalidArgument { .. }),
            "{bad:?}"
        );
        assert_eq!(from_handle.to_string(), from_append.to_string(), "{bad:?}");
        assert_eq!(from_handle.code(), from_append.code());
    }
    let longest = "n".repeat(STREAM_NAME_BYTES_MAX);
    assert_eq!(
        store.stream_handle(longest.as_str()).unwrap().name(),
        longest.as_bytes()
    );
    let handle = store.stream_handle("order-1").unwrap();
    let typed = NewEvent::new("t".repeat(EVENT_TYPE_BYTES_MAX + 1), "");
    let from_handle = store
        .append_to(
            &handle,
            ExpectedRevision::Any,
            std::slice::from_ref(&typed),
            Durability::Buffered,
        )
        .unwrap_err();
    let from_append = store
        .append(
            "order-1",
            ExpectedRevision::Any,
            vec![typed],
            Durability::Buffered,
        )
        .unwrap_err();
    assert_eq!(from_handle.to_string(), from_append.to_string());
    assert!(store
        .append_to(&handle, ExpectedRevision::Any, &[], Durability::Buffered)
        .is_err());
    assert!(
        matches!(
            store.stream_info("order-1"),
            Err(Error::StreamNotFound { .. })
        ),
        "nothing written"
    );
}

#[test]
fn a_handle_shared_between_threads_and_stores_appends_each_event_once() {
    // Proves one handle and its clones used from several threads at once, and then with a second store, append every event exactly once to the stream of that name in the store used.
    let store = Arc::new(open(&SimStorage::new()));
    let handle = Arc::new(store.stream_handle("shared-1").unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            let handle = if t % 2 == 0 {
                Arc::clone(&handle)
            } else {
                Arc::new((*handle).clone())
            };
            std::thread::spawn(move || {
                for _ in 0..500 {
                    // Another stream between, so the store's own most-recent lookup misses.
                    store
                        .append(
                            format!("shared-other{t}"),
                            ExpectedRevision::Any,
                            vec![event("o", 0)],
                            Durability::Buffered,
                        )
                        .unwrap();
                    store
                        .append_to(
                            &handle,
                            ExpectedRevision::Any,
                            &[event("shared-1", 0)],
                            Durability::Buffered,
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let events = store
        .read_stream("shared-1", Revision(0), Direction::Forwards, usize::MAX)
        .unwrap();
    let revisions: Vec<u64> = events.iter().map(|e| e.revision.0).collect();
    let first_wrong = revisions.iter().enumerate().find(|&(i, &r)| r != i as u64);
    assert_eq!(revisions.len(), 2000, "events in shared-1");
    assert_eq!(first_wrong, None, "revisions of shared-1");
    let second = open(&SimStorage::new());
    second
        .append(
            "first-0",
            ExpectedRevision::NoStream,
            vec![event("first-0", 0)],
            Durability::Buffered,
        )
        .unwrap();
    let written = second
        .append_to(
            &handle,
            ExpectedRevision::NoStream,
            &[event("shared-1", 0)],
            Durability::Buffered,
        )
        .unwrap();
    assert_eq!(written.first_revision, Revision(0));
    assert_eq!(
        second.stream_info("first-0").unwrap().revision,
        Some(Revision(0))
    );
    assert_eq!(
        second.stream_info("shared-1").unwrap().revision,
        Some(Revision(0))
    );
    assert_eq!(
        store.stream_info("shared-1").unwrap().revision,
        Some(Revision(1999))
    );
}

#[test]
fn a_handle_whose_stream_kept_its_index_id_but_whose_category_did_not_appends_to_its_own_category()
{
    // Proves the category's remembered id is checked on its own: after a checkpoint, a truncation copies the handle's stream (alone) back to the id it had, and another category takes its category's old id; the next append through the handle must still go to its own category.
    let store = EventStore::open_with_storage(
        DIR,
        Options::default().segment_bytes(64 << 10),
        Arc::new(SimStorage::new()),
    )
    .unwrap();
    let acct = store.stream_handle("acct-1").unwrap();
    let ord = store.stream_handle("ord-2").unwrap();
    for (handle, name) in [(&acct, "acct-1"), (&ord, "ord-2")] {
        store
            .append_to(
                handle,
                ExpectedRevision::NoStream,
                &[event(name, 0)],
                Durability::Buffered,
            )
            .unwrap();
    }
    // Both numberings start again from zero; "acct-1" comes back as stream 0 without
    // its category, and "ord" becomes category 0.
    store.checkpoint().unwrap();
    store.truncate_stream("acct-1", Revision(0)).unwrap();
    store
        .append(
            "ord-2",
            ExpectedRevision::Exact(Revision(0)),
            vec![event("ord-2", 1)],
            Durability::Buffered,
        )
        .unwrap();
    let written = store
        .append_to(
            &acct,
            ExpectedRevision::Exact(Revision(0)),
            &[event("acct-1", 1)],
            Durability::Buffered,
        )
        .unwrap();
    assert_eq!(written.first_revision, Revision(1));
    let mut want: HashMap<String, Expect> = [("acct-1", 2), ("ord-2", 2)]
        .into_iter()
        .map(|(name, next)| (name.to_owned(), Expect { next, checked: 0 }))
        .collect();
    check(&store, &mut want, Position(0));
    let in_category = |c: &str| {
        store
            .read_category(c, Position(0), Direction::Forwards, usize::MAX)
            .unwrap()
            .len()
    };
    assert_eq!((in_category("acct"), in_category("ord")), (2, 2));
}
