//! Handles: what C holds is an id, not a pointer. Each kind of handle has a table from id
//! to its object; closing or freeing removes the entry, so a second close or any later
//! call finds no entry and returns `ANNAL_STATUS_USE_AFTER_CLOSE` instead of touching
//! freed memory. Ids are never reused (a 60-bit counter), and their low 4 bits name the
//! kind, so a handle of another kind (or a stray pointer) is `ANNAL_STATUS_INVALID_HANDLE`.
//! No handle value is ever dereferenced, by Rust or by C: the C types (`annal_log`, …)
//! are declared opaque (a zero-sized struct cbindgen emits as an incomplete type).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::failure::Failure;
use crate::status::{
    ANNAL_STATUS_INVALID_HANDLE, ANNAL_STATUS_NULL_ARGUMENT, ANNAL_STATUS_USE_AFTER_CLOSE,
};

/// Bits of an id that name its kind.
const KIND_BITS: u32 = 4;

/// The kinds of handle; an id's low [`KIND_BITS`] bits. 0 is no kind, so that a NULL or
/// an aligned pointer is never a valid handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Kind {
    /// `annal_log`.
    Log = 1,
    /// `annal_reader`.
    Reader = 2,
    /// `annal_subscription`.
    Subscription = 3,
    /// `annal_consumer`.
    Consumer = 4,
    /// `annal_consumer_list`.
    ConsumerList = 5,
    /// `annal_store`.
    Store = 6,
    /// `annal_store_subscription`.
    StoreSubscription = 7,
    /// `annal_event_list`.
    EventList = 8,
}

/// Sequence numbers of ids handed out, shared by all kinds (so ids are unique overall).
static NEXT_SEQUENCE: AtomicUsize = AtomicUsize::new(1);

/// Ids are unique and dense: hashing them is multiplying by an odd constant.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, id: usize) {
        self.0 = (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The live handles of one kind.
pub struct Table<T> {
    kind: Kind,
    name: &'static str,
    live: RwLock<HashMap<usize, Arc<T>, BuildHasherDefault<IdHasher>>>,
}

impl<T> Table<T> {
    /// An empty table for handles of `kind`, called `name` in messages.
    pub fn new(kind: Kind, name: &'static str) -> Table<T> {
        Table {
            kind,
            name,
            live: RwLock::new(HashMap::default()),
        }
    }

    /// Adds `value` and returns its new handle id (never 0).
    pub fn insert(&self, value: T) -> usize {
        let sequence = NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        assert!(sequence < usize::MAX >> KIND_BITS, "handle ids exhausted");
        let id = (sequence << KIND_BITS) | self.kind as usize;
        self.live
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::new(value));
        id
    }

    /// The object behind `id`, or why there is none.
    pub fn get(&self, id: usize) -> Result<Arc<T>, Failure> {
        let found = self
            .live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned();
        found.ok_or_else(|| self.missing(id))
    }

    /// Removes `id`'s object and returns it: after this the handle is closed.
    pub fn remove(&self, id: usize) -> Result<Arc<T>, Failure> {
        let removed = self
            .live
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        removed.ok_or_else(|| self.missing(id))
    }

    /// Why `id` has no entry: NULL, closed already, or never a handle of this kind.
    fn missing(&self, id: usize) -> Failure {
        let name = self.name;
        if id == 0 {
            return Failure::boundary(ANNAL_STATUS_NULL_ARGUMENT, format!("the {name} is NULL"));
        }
        let sequence = id >> KIND_BITS;
        let issued = sequence != 0 && sequence < NEXT_SEQUENCE.load(Ordering::Relaxed);
        if id & ((1 << KIND_BITS) - 1) == self.kind as usize && issued {
            Failure::boundary(
                ANNAL_STATUS_USE_AFTER_CLOSE,
                format!("the {name} was closed or freed already"),
            )
        } else {
            Failure::boundary(
                ANNAL_STATUS_INVALID_HANDLE,
                format!("the value passed as an {name} is not one"),
            )
        }
    }
}

/// The id a C handle pointer carries.
pub fn id_of<T>(handle: *const T) -> usize {
    handle as usize
}

/// The C handle pointer for `id`.
pub fn handle_of<T>(id: usize) -> *mut T {
    id as *mut T
}
