//! Stream handles: what an application holds for a stream it appends to again and
//! again (an aggregate's repository, a bulk loader). A handle keeps the stream's name,
//! checked once, and the index id its last append found, so the next append through it
//! skips hashing and looking the name up. A remembered id is used only after checking
//! that the index entry it names is still this stream's: an id from before a checkpoint
//! renumbered the index is never taken for another stream's; the append then looks the
//! name up as `append` does and remembers the new id.

use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

use super::append::check_stream_name;
use super::types::{NewEvent, WriteResult};
use super::EventStore;
use crate::error::Result;
use crate::name::Name;
use crate::options::Durability;
use crate::position::ExpectedRevision;

/// No index id remembered yet.
const UNKNOWN: u32 = u32::MAX;

/// An owned handle on one stream of an event store, for appending to it repeatedly:
/// [`EventStore::append_to`] appends exactly as [`EventStore::append`] would with the
/// handle's name, and skips looking the name up when the handle's remembered index id
/// is still the stream's. The name is checked when the handle is made
/// ([`EventStore::stream_handle`]), with the errors `append` gives.
///
/// A handle borrows nothing: it can be cloned, sent and shared between threads, kept
/// for as long as the application likes (across checkpoints, retention, a deletion of
/// the stream). Its id is checked against the index of the store it is used with, so
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
    /// The stream's active index id as the last append through this handle left it,
    /// `UNKNOWN` before the first. Checked against the index before each use.
    remembered: AtomicU32,
}

impl StreamHandle {
    /// The stream's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The stream's index id remembered, if any.
    #[inline]
    pub(super) fn remembered(&self) -> Option<u32> {
        Some(self.remembered.load(Ordering::Relaxed)).filter(|&id| id != UNKNOWN)
    }

    /// Remembers the stream's index id an append through this handle found.
    #[inline]
    pub(super) fn remember(&self, stream: Option<u32>) {
        self.remembered
            .store(stream.unwrap_or(UNKNOWN), Ordering::Relaxed);
    }
}

impl Clone for StreamHandle {
    fn clone(&self) -> StreamHandle {
        StreamHandle {
            name: self.name.clone(),
            remembered: AtomicU32::new(self.remembered.load(Ordering::Relaxed)),
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
            name,
            remembered: AtomicU32::new(UNKNOWN),
        })
    }

    /// Appends `events` to the handle's stream: the same expectations, checks, errors,
    /// retries and durability as [`EventStore::append`] with the handle's name. A
    /// single event without an id, the common append, goes through the handle's
    /// remembered index id where it still holds.
    #[inline]
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
