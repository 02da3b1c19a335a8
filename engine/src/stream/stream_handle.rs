//! Stream handles: what an application holds for a stream it appends to again and
//! again (an aggregate's repository, a bulk loader). A handle keeps the stream's name,
//! checked once, and the index ids its last append found, so the next append through it
//! skips hashing and looking the name up. A remembered id is used only after checking
//! that the index entry it names is still this stream's (and its category's): an id from
//! before a checkpoint renumbered the index is never taken for another stream's; the
//! append then looks the name up as `append` does and remembers the new ids.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::append::check_stream_name;
use super::types::{NewEvent, WriteResult};
use super::EventStore;
use crate::error::Result;
use crate::index::{category_of, KnownIds};
use crate::name::Name;
use crate::options::Durability;
use crate::position::ExpectedRevision;

/// Nothing remembered yet (or a stream without a category, in the category's half).
const NONE: u32 = u32::MAX;

/// An owned handle on one stream of an event store, for appending to it repeatedly:
/// [`EventStore::append_to`] appends exactly as [`EventStore::append`] would with the
/// handle's name, and skips looking the name up when the handle's remembered index ids
/// are still the stream's. The name is checked when the handle is made
/// ([`EventStore::stream_handle`]), with the errors `append` gives.
///
/// A handle borrows nothing: it can be cloned, sent and shared between threads, kept
/// for as long as the application likes (across checkpoints, retention, a deletion of
/// the stream). Its ids are checked against the index of the store it is used with, so
/// a handle used with another store appends to that store's stream of the same name.
/// A handle for a stream with no events yet is fine: the first append creates it.
///
/// ```
/// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Revision};
///
/// # let dir = tempfile::tempdir()?;
/// # let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
/// let order = store.stream_handle("order-1")?;
/// let placed = NewEvent::new("OrderPlaced", "");
/// store.append_to(&order, ExpectedRevision::NoStream, std::slice::from_ref(&placed), Durability::Buffered)?;
/// let paid = NewEvent::new("OrderPaid", "");
/// let written = store.append_to(&order, ExpectedRevision::Exact(Revision(0)), &[paid], Durability::Buffered)?;
/// assert_eq!(written.last_revision, Revision(1));
/// assert!(store.stream_handle("").is_err()); // the name is checked here
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StreamHandle {
    name: Bytes,
    /// Bytes of the name before its first `-` (the category's name), if it has one.
    category_len: Option<usize>,
    /// The stream's active index id (low half) and its category's (high half) as the
    /// last append through this handle left them; `NONE` where not known. One word, so
    /// that a handle shared between threads never holds one append's stream id with
    /// another's category id (each is checked before use in any case).
    remembered: AtomicU64,
}

impl StreamHandle {
    /// The stream's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The ids remembered, as the index hands them out.
    #[inline]
    pub(super) fn remembered(&self) -> KnownIds {
        let word = self.remembered.load(Ordering::Relaxed);
        let id = |half: u64| Some(half as u32).filter(|&id| id != NONE);
        KnownIds {
            stream: id(word & 0xffff_ffff),
            category: id(word >> 32),
        }
    }

    /// Remembers the ids an append through this handle found.
    #[inline]
    pub(super) fn remember(&self, known: KnownIds) {
        let word = u64::from(known.stream.unwrap_or(NONE))
            | u64::from(known.category.unwrap_or(NONE)) << 32;
        self.remembered.store(word, Ordering::Relaxed);
    }

    /// Bytes of the name before its first `-`, if it has a category.
    pub(super) fn category_len(&self) -> Option<usize> {
        self.category_len
    }
}

impl Clone for StreamHandle {
    fn clone(&self) -> StreamHandle {
        StreamHandle {
            name: self.name.clone(),
            category_len: self.category_len,
            remembered: AtomicU64::new(self.remembered.load(Ordering::Relaxed)),
        }
    }
}

impl EventStore {
    /// A handle on the stream `stream` (which need not exist yet), for
    /// [`EventStore::append_to`]. Refuses the names `append` refuses (empty, longer than
    /// [`crate::limits::STREAM_NAME_BYTES_MAX`], holding a NUL) with the same
    /// [`crate::Error::InvalidArgument`].
    pub fn stream_handle(&self, stream: impl Into<Name>) -> Result<StreamHandle> {
        let name = stream.into().into_bytes();
        check_stream_name(&name)?;
        Ok(StreamHandle {
            category_len: category_of(&name).map(<[u8]>::len),
            name,
            remembered: AtomicU64::new(u64::MAX),
        })
    }

    /// Appends `events` to the handle's stream: the same expectations, checks, errors,
    /// retries and durability as [`EventStore::append`] with the handle's name. A
    /// single event without an id, the common append, goes through the handle's
    /// remembered index ids where they still hold.
    pub fn append_to(
        &self,
        handle: &StreamHandle,
        expected: ExpectedRevision,
        events: &[NewEvent],
        durability: Durability,
    ) -> Result<WriteResult> {
        match events {
            [event] if event.id.is_none() => {
                self.core
                    .append_one(&handle.name, Some(handle), expected, event, durability)
            }
            _ => self.append(handle.name.clone(), expected, events.to_vec(), durability),
        }
    }
}
