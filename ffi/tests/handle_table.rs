//! Proves the handle tables' lock word: exclusive calls exclude each other, a free waits
//! for the calls in flight and every later call sees the handle closed, a reused slot
//! refuses the old handle, and a handle of another kind is refused.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use annal_ffi::handle::{Kind, Table};
use annal_ffi::status::{
    ANNAL_STATUS_INVALID_HANDLE, ANNAL_STATUS_NULL_ARGUMENT, ANNAL_STATUS_USE_AFTER_CLOSE,
};

#[test]
fn exclusive_calls_never_overlap() {
    // Proves two threads incrementing through get_mut lose no update (a plain, non-atomic read-modify-write under the lock).
    let table: &'static Table<u64> = Box::leak(Box::new(Table::new(Kind::Reader, "counter")));
    let id = table.insert(0).expect("insert");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    let mut value = table.get_mut(id).expect("live");
                    let read = *value;
                    std::hint::black_box(&read);
                    *value = read + 1;
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }
    assert_eq!(*table.get(id).expect("live"), 40_000);
    assert_eq!(table.remove(id).expect("remove"), 40_000);
}

#[test]
fn a_free_waits_for_calls_in_flight_and_ends_the_handle() {
    // Proves shared calls racing a remove either see the whole value or USE_AFTER_CLOSE, and none succeeds after the remove returned.
    let table: &'static Table<Vec<u64>> = Box::leak(Box::new(Table::new(Kind::Log, "shared")));
    let id = table.insert((0..1000).collect()).expect("insert");
    let removed = Arc::new(AtomicBool::new(false));
    let successes = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (removed, successes) = (Arc::clone(&removed), Arc::clone(&successes));
            std::thread::spawn(move || loop {
                let was_removed = removed.load(Ordering::Acquire);
                match table.get(id) {
                    Ok(value) => {
                        assert!(!was_removed, "a call succeeded after the free returned");
                        assert_eq!(value.iter().sum::<u64>(), 499_500);
                        successes.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(failure) => {
                        assert_eq!(failure.status(), ANNAL_STATUS_USE_AFTER_CLOSE);
                        return;
                    }
                }
            })
        })
        .collect();
    while successes.load(Ordering::Relaxed) < 1000 {
        std::thread::yield_now();
    }
    let value = table.remove(id).expect("remove");
    removed.store(true, Ordering::Release);
    assert_eq!(value.len(), 1000);
    for thread in threads {
        thread.join().expect("thread");
    }
    let again = table.remove(id).map(drop).expect_err("second remove");
    assert_eq!(again.status(), ANNAL_STATUS_USE_AFTER_CLOSE);
}

#[test]
fn reused_slots_wrong_kinds_and_null() {
    // Proves a slot reused by a new handle refuses the old one, and NULL and other kinds' ids are statuses.
    let table: Table<&str> = Table::new(Kind::Consumer, "consumer");
    let old = table.insert("old").expect("insert");
    table.remove(old).expect("remove");
    let new = table.insert("new").expect("insert");
    assert_ne!(old, new);
    assert_eq!(status(table.get(old)), ANNAL_STATUS_USE_AFTER_CLOSE);
    assert_eq!(status(table.get_mut(old)), ANNAL_STATUS_USE_AFTER_CLOSE);
    assert_eq!(*table.get(new).expect("live"), "new");
    assert_eq!(status(table.get(0)), ANNAL_STATUS_NULL_ARGUMENT);
    assert_eq!(status(table.get(new ^ 0b1111)), ANNAL_STATUS_INVALID_HANDLE);
    // The next generation of the slot was never handed out.
    assert_eq!(
        status(table.get(new + (1 << 36))),
        ANNAL_STATUS_INVALID_HANDLE
    );
}

fn status<T>(result: Result<T, annal_ffi::failure::Failure>) -> i32 {
    result.map(drop).expect_err("fails").status()
}
