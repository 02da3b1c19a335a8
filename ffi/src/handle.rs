//! Handles: what C holds is an id, not a pointer. Each kind of handle has a table of
//! slots; an id names a slot, the slot's generation when the handle was made, and the
//! kind. Freeing a handle bumps its slot's generation, so a later call, or a second free,
//! finds a newer generation and returns `ANNAL_STATUS_USE_AFTER_CLOSE` instead of
//! touching freed memory; a handle of another kind (or a stray pointer) is
//! `ANNAL_STATUS_INVALID_HANDLE`. No handle value is ever dereferenced, by Rust or by C:
//! the C types (`annal_log`, …) are declared opaque (a zero-sized struct cbindgen emits
//! as an incomplete type).
//!
//! A call holds its slot's lock while it runs (shared for handles many threads share,
//! exclusive for one-thread-at-a-time handles), and freeing takes it exclusively: a free
//! waits for the calls in flight on that handle, and no call sees a half-freed object.
//! The lock and the generation are one atomic word, so a call checks that its handle is
//! live and locks the slot with one compare-and-swap; an exclusive call unlocks with a
//! plain store (one atomic read-modify-write per call in all, where a `RwLock` and a
//! separate check took two). Slots live in chunks that are never freed (a chunk is
//! allocated when first needed), so a lookup is an index and that word: no global lock
//! on the hot path.
#![expect(
    unsafe_code,
    reason = "a slot's value is an UnsafeCell guarded by the slot's lock word"
)]

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

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
    /// `annal_stream_handle`.
    StreamHandle = 11,
}

/// A slot's lock word: the generation of its current (or last) handle in the high 32
/// bits; in the low bits, [`WRITER`] while a call holds it exclusively, else the number
/// of calls holding it shared.
const GENERATION_SHIFT: u32 = 32;
/// The exclusive bit of a lock word.
const WRITER: u64 = 1 << 31;
/// Set by an exclusive locker waiting for shared holders to leave: new shared lockers
/// wait, so a free is not starved by a stream of calls.
const PENDING: u64 = 1 << 30;

const _: () = assert!(
    GENERATION_BITS <= 32,
    "a generation fits the lock word's high half"
);

/// One slot: its lock word and the object, if live.
struct Slot<T> {
    word: AtomicU64,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: `value` is only touched by a thread that holds the slot's lock word: shared
// (`&T`, from any number of threads: needs `T: Sync`) or exclusive (`&mut T`, or moving
// the value in or out: needs `T: Send`).
unsafe impl<T: Send + Sync> Sync for Slot<T> {}

fn generation_of(word: u64) -> u64 {
    word >> GENERATION_SHIFT
}

/// Waits a little for a slot another call holds: spins briefly, then yields, then
/// sleeps (a free waiting for a long call in flight, or misuse of a one-thread handle).
fn back_off(attempt: &mut u32) {
    *attempt += 1;
    if *attempt < 64 {
        std::hint::spin_loop();
    } else if *attempt < 128 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}

impl<T> Slot<T> {
    /// Locks the slot exclusively if its generation is `generation`.
    fn lock_exclusive(&self, generation: u64) -> Result<(), Missing> {
        let unlocked = generation << GENERATION_SHIFT;
        let mut attempt = 0;
        loop {
            let current = self.word.load(Ordering::Relaxed);
            compare(generation_of(current), generation)?;
            if current & !PENDING == unlocked {
                if self
                    .word
                    .compare_exchange_weak(
                        current,
                        unlocked | WRITER,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    return Ok(());
                }
                continue;
            }
            if current & (WRITER | PENDING) == 0 {
                // Shared holders: keep new ones out until they have left.
                let _ = self.word.compare_exchange_weak(
                    current,
                    current | PENDING,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            back_off(&mut attempt);
        }
    }

    /// Releases an exclusive lock, setting the slot's generation to `generation`: no
    /// other thread changes the word while it is held exclusively.
    fn unlock_exclusive(&self, generation: u64) {
        self.word
            .store(generation << GENERATION_SHIFT, Ordering::Release);
    }

    /// Locks the slot shared if its generation is `generation`.
    fn lock_shared(&self, generation: u64) -> Result<(), Missing> {
        let mut current = self.word.load(Ordering::Relaxed);
        let mut attempt = 0;
        loop {
            compare(generation_of(current), generation)?;
            if current & (WRITER | PENDING) != 0 {
                back_off(&mut attempt);
                current = self.word.load(Ordering::Relaxed);
                continue;
            }
            match self.word.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => current = now,
            }
        }
    }

    fn unlock_shared(&self) {
        self.word.fetch_sub(1, Ordering::Release);
    }
}

/// Whether a slot at generation `current` holds the handle of `generation`: an older
/// generation was freed, a newer one was never handed out.
fn compare(current: u64, generation: u64) -> Result<(), Missing> {
    if generation == current {
        Ok(())
    } else if generation < current {
        Err(Missing::Freed)
    } else {
        Err(Missing::Invalid)
    }
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

    #[inline]
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
                    word: AtomicU64::new(1 << GENERATION_SHIFT),
                    value: UnsafeCell::new(None),
                })
                .collect()
        });
        let slot = &chunk[index % CHUNK_SLOTS];
        // A free slot's generation is that of its next handle; only a forged id could
        // hold it meanwhile (and find no value).
        let generation = generation_of(slot.word.load(Ordering::Relaxed));
        slot.lock_exclusive(generation)
            .map_err(|m| self.failure(m))?;
        // SAFETY: the slot is locked exclusively.
        unsafe { *slot.value.get() = Some(value) };
        slot.unlock_exclusive(generation);
        Ok(self.id(index, generation))
    }

    fn id(&self, index: usize, generation: u64) -> usize {
        ((generation << (KIND_BITS + SLOT_BITS)) | ((index as u64) << KIND_BITS) | self.kind as u64)
            as usize
    }

    /// The slot index and generation `id` names, if it is of this table's kind.
    #[inline]
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

    /// The slot `id` names and the generation it carries.
    #[inline]
    fn locate(&self, id: usize) -> Result<(&Slot<T>, u64), Failure> {
        let (index, generation) = self.decode(id).map_err(|m| self.failure(m))?;
        let slot = self
            .slot(index)
            .ok_or_else(|| self.failure(Missing::Invalid))?;
        Ok((slot, generation))
    }

    /// The object behind `id`, holding its slot's lock shared while the result lives.
    #[inline]
    pub fn get(&self, id: usize) -> Result<Ref<'_, T>, Failure> {
        let (slot, generation) = self.locate(id)?;
        slot.lock_shared(generation).map_err(|m| self.failure(m))?;
        let locked = Ref(slot);
        // SAFETY: the slot is locked shared.
        if unsafe { (*slot.value.get()).is_none() } {
            return Err(self.failure(Missing::Invalid));
        }
        Ok(locked)
    }

    /// The object behind `id`, holding its slot's lock exclusively while the result
    /// lives (for handles used by one thread at a time).
    #[inline]
    pub fn get_mut(&self, id: usize) -> Result<RefMut<'_, T>, Failure> {
        let (slot, generation) = self.locate(id)?;
        slot.lock_exclusive(generation)
            .map_err(|m| self.failure(m))?;
        let locked = RefMut { slot, generation };
        // SAFETY: the slot is locked exclusively.
        if unsafe { (*slot.value.get()).is_none() } {
            return Err(self.failure(Missing::Invalid));
        }
        Ok(locked)
    }

    /// Removes `id`'s object, once the calls in flight on it are done, and returns it:
    /// after this the handle is closed.
    pub fn remove(&self, id: usize) -> Result<T, Failure> {
        let (slot, generation) = self.locate(id)?;
        slot.lock_exclusive(generation)
            .map_err(|m| self.failure(m))?;
        // SAFETY: the slot is locked exclusively.
        let Some(value) = (unsafe { (*slot.value.get()).take() }) else {
            slot.unlock_exclusive(generation);
            return Err(self.failure(Missing::Invalid));
        };
        let next = generation + 1;
        slot.unlock_exclusive(next);
        if next < GENERATION_MAX {
            let index = (id >> KIND_BITS) & ((1 << SLOT_BITS) - 1);
            let mut allocation = self.allocation.lock().unwrap_or_else(|e| e.into_inner());
            allocation.free.push(index);
        }
        Ok(value)
    }

    #[cold]
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

/// A live object, its slot locked shared.
pub struct Ref<'a, T>(&'a Slot<T>);

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the slot is locked shared while `self` lives, and was checked to hold a
        // value when locked (only an exclusive holder changes it).
        unsafe { (*self.0.value.get()).as_ref() }.expect("a live slot holds a value")
    }
}

impl<T> Drop for Ref<'_, T> {
    fn drop(&mut self) {
        self.0.unlock_shared();
    }
}

/// A live object, its slot locked exclusively.
pub struct RefMut<'a, T> {
    slot: &'a Slot<T>,
    generation: u64,
}

impl<T> Deref for RefMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the slot is locked exclusively while `self` lives.
        unsafe { (*self.slot.value.get()).as_ref() }.expect("a live slot holds a value")
    }
}

impl<T> DerefMut for RefMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the slot is locked exclusively while `self` lives, and `&mut self`
        // makes this the only reference through it.
        unsafe { (*self.slot.value.get()).as_mut() }.expect("a live slot holds a value")
    }
}

impl<T> Drop for RefMut<'_, T> {
    fn drop(&mut self) {
        self.slot.unlock_exclusive(self.generation);
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
