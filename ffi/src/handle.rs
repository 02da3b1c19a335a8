//! Handles: what C holds is an id, not a pointer. Each kind of handle has a table of
//! slots; an id names a slot, the slot's generation when the handle was made, and the
//! kind. Freeing a handle bumps its slot's generation, so a later call, or a second free,
//! finds a newer generation and returns `ANNAL_STATUS_USE_AFTER_CLOSE` instead of
//! touching freed memory; a handle of another kind (or a stray pointer) is
//! `ANNAL_STATUS_INVALID_HANDLE`. No handle value is ever dereferenced, by Rust or by C:
//! the C types (`annal_log`, …) are declared opaque (a zero-sized struct cbindgen emits
//! as an incomplete type).
//!
//! A call holds its slot's lock while it runs (read for handles many threads share,
//! write for one-thread-at-a-time handles), and freeing takes the write lock: a free
//! waits for the calls in flight on that handle, and no call sees a half-freed object.
//! Slots live in chunks that are never freed (a chunk is allocated when first needed),
//! so a lookup is an index, a generation compare and the slot's lock: no global lock on
//! the hot path.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::failure::Failure;
use crate::status::{
    ANNAL_STATUS_INVALID_HANDLE, ANNAL_STATUS_NULL_ARGUMENT, ANNAL_STATUS_USE_AFTER_CLOSE,
};

const _: () = assert!(usize::BITS == 64, "handle ids need 64-bit pointers");

/// Bits of an id that name its kind (the lowest).
const KIND_BITS: u32 = 4;
/// Bits of an id that name its slot (above the kind).
const SLOT_BITS: u32 = 32;
/// Bits of an id that carry its slot's generation (the highest).
const GENERATION_BITS: u32 = 64 - KIND_BITS - SLOT_BITS;
/// A slot whose generation reaches this is retired rather than reused.
const GENERATION_MAX: u64 = (1 << GENERATION_BITS) - 1;
/// Slots per chunk.
const CHUNK_SLOTS: usize = 1024;
/// Chunks per table: at most `CHUNK_SLOTS * CHUNKS_MAX` handles of one kind live at once.
const CHUNKS_MAX: usize = 1024;

const _: () = assert!((CHUNK_SLOTS * CHUNKS_MAX) as u64 <= 1 << SLOT_BITS);

/// The kinds of handle; an id's low [`KIND_BITS`] bits. 0 is no kind, so that NULL or an
/// aligned pointer is never a valid handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
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
    /// `annal_recovery_report`.
    RecoveryReport = 9,
    /// `annal_store_consumer`.
    StoreConsumer = 10,
}

/// One slot: the generation of its current (or last) handle and the object, if live.
struct Slot<T> {
    state: RwLock<SlotState<T>>,
}

/// A slot's lock-protected state.
pub struct SlotState<T> {
    generation: u64,
    value: Option<T>,
}

/// [`CHUNK_SLOTS`] slots, allocated together when the first of them is needed.
type Chunk<T> = Box<[Slot<T>]>;

/// Slots handed out so far and those free for reuse.
struct Allocation {
    free: Vec<usize>,
    used: usize,
}

/// The live handles of one kind.
pub struct Table<T> {
    kind: Kind,
    name: &'static str,
    chunks: Box<[OnceLock<Chunk<T>>]>,
    allocation: Mutex<Allocation>,
}

/// Why an id names no live object of a table.
enum Missing {
    Null,
    Freed,
    Invalid,
}

impl<T> Table<T> {
    /// An empty table for handles of `kind`, called `name` in messages.
    pub fn new(kind: Kind, name: &'static str) -> Table<T> {
        Table {
            kind,
            name,
            chunks: (0..CHUNKS_MAX).map(|_| OnceLock::new()).collect(),
            allocation: Mutex::new(Allocation {
                free: Vec::new(),
                used: 0,
            }),
        }
    }

    fn slot(&self, index: usize) -> Option<&Slot<T>> {
        let chunk = self.chunks.get(index / CHUNK_SLOTS)?.get()?;
        chunk.get(index % CHUNK_SLOTS)
    }

    /// Adds `value` and returns its new handle id (never 0).
    pub fn insert(&self, value: T) -> Result<usize, Failure> {
        let index = {
            let mut allocation = self.allocation.lock().unwrap_or_else(|e| e.into_inner());
            match allocation.free.pop() {
                Some(index) => index,
                None => {
                    let index = allocation.used;
                    if index == CHUNK_SLOTS * CHUNKS_MAX {
                        return Err(Failure::boundary(
                            ANNAL_STATUS_INVALID_HANDLE,
                            format!("too many live {} handles", self.name),
                        ));
                    }
                    allocation.used += 1;
                    index
                }
            }
        };
        let chunk = self.chunks[index / CHUNK_SLOTS].get_or_init(|| {
            (0..CHUNK_SLOTS)
                .map(|_| Slot {
                    state: RwLock::new(SlotState {
                        generation: 1,
                        value: None,
                    }),
                })
                .collect()
        });
        let mut state = chunk[index % CHUNK_SLOTS]
            .state
            .write()
            .unwrap_or_else(|e| e.into_inner());
        state.value = Some(value);
        Ok(self.id(index, state.generation))
    }

    fn id(&self, index: usize, generation: u64) -> usize {
        ((generation << (KIND_BITS + SLOT_BITS)) | ((index as u64) << KIND_BITS) | self.kind as u64)
            as usize
    }

    /// The slot index and generation `id` names, if it is of this table's kind.
    fn decode(&self, id: usize) -> Result<(usize, u64), Missing> {
        if id == 0 {
            return Err(Missing::Null);
        }
        let id = id as u64;
        if id & ((1 << KIND_BITS) - 1) != self.kind as u64 {
            return Err(Missing::Invalid);
        }
        let index = ((id >> KIND_BITS) & ((1 << SLOT_BITS) - 1)) as usize;
        Ok((index, id >> (KIND_BITS + SLOT_BITS)))
    }

    /// The object behind `id`, holding its slot's read lock while the result lives.
    pub fn get(&self, id: usize) -> Result<Ref<'_, T>, Failure> {
        let (index, generation) = self.decode(id).map_err(|m| self.failure(m))?;
        let slot = self
            .slot(index)
            .ok_or_else(|| self.failure(Missing::Invalid))?;
        let state = slot.state.read().unwrap_or_else(|e| e.into_inner());
        live(&state, generation).map_err(|m| self.failure(m))?;
        Ok(Ref(state))
    }

    /// The object behind `id`, holding its slot's write lock while the result lives (for
    /// handles used by one thread at a time).
    pub fn get_mut(&self, id: usize) -> Result<RefMut<'_, T>, Failure> {
        let (index, generation) = self.decode(id).map_err(|m| self.failure(m))?;
        let slot = self
            .slot(index)
            .ok_or_else(|| self.failure(Missing::Invalid))?;
        let state = slot.state.write().unwrap_or_else(|e| e.into_inner());
        live(&state, generation).map_err(|m| self.failure(m))?;
        Ok(RefMut(state))
    }

    /// Removes `id`'s object, once the calls in flight on it are done, and returns it:
    /// after this the handle is closed.
    pub fn remove(&self, id: usize) -> Result<T, Failure> {
        let (index, generation) = self.decode(id).map_err(|m| self.failure(m))?;
        let slot = self
            .slot(index)
            .ok_or_else(|| self.failure(Missing::Invalid))?;
        let (value, reusable) = {
            let mut state = slot.state.write().unwrap_or_else(|e| e.into_inner());
            live(&state, generation).map_err(|m| self.failure(m))?;
            state.generation += 1;
            let value = state.value.take().expect("a live slot holds a value");
            (value, state.generation < GENERATION_MAX)
        };
        if reusable {
            let mut allocation = self.allocation.lock().unwrap_or_else(|e| e.into_inner());
            allocation.free.push(index);
        }
        Ok(value)
    }

    fn failure(&self, missing: Missing) -> Failure {
        let name = self.name;
        match missing {
            Missing::Null => {
                Failure::boundary(ANNAL_STATUS_NULL_ARGUMENT, format!("the {name} is NULL"))
            }
            Missing::Freed => Failure::boundary(
                ANNAL_STATUS_USE_AFTER_CLOSE,
                format!("the {name} was closed or freed already"),
            ),
            Missing::Invalid => Failure::boundary(
                ANNAL_STATUS_INVALID_HANDLE,
                format!("the value passed as an {name} is not one"),
            ),
        }
    }
}

/// Whether a slot holds the handle of `generation`: an older generation was freed, a
/// newer one was never handed out.
fn live<T>(state: &SlotState<T>, generation: u64) -> Result<(), Missing> {
    if generation == state.generation && state.value.is_some() {
        Ok(())
    } else if generation < state.generation {
        Err(Missing::Freed)
    } else {
        Err(Missing::Invalid)
    }
}

/// A live object, its slot read-locked.
pub struct Ref<'a, T>(RwLockReadGuard<'a, SlotState<T>>);

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.value.as_ref().expect("a live slot holds a value")
    }
}

/// A live object, its slot write-locked.
pub struct RefMut<'a, T>(RwLockWriteGuard<'a, SlotState<T>>);

impl<T> Deref for RefMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.value.as_ref().expect("a live slot holds a value")
    }
}

impl<T> DerefMut for RefMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.value.as_mut().expect("a live slot holds a value")
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
