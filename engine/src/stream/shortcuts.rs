//! Reads in the words of the domain, on top of the general ones: a stream backwards from
//! its end, its last N events, and temporal reads at a `SystemTime`.

use std::time::{SystemTime, UNIX_EPOCH};

use super::types::{Direction, RecordedEvent};
use super::EventStore;
use crate::error::{Error, Result};
use crate::position::{Position, Revision};

/// Nanoseconds since the Unix epoch of `time` (the store's timestamps).
fn nanos_since_epoch(time: SystemTime) -> Result<u64> {
    let since = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::InvalidArgument {
            reason: "a time before the Unix epoch".into(),
        })?;
    u64::try_from(since.as_nanos()).map_err(|_| Error::InvalidArgument {
        reason: "a time past the year 2554 (nanoseconds overflow u64)".into(),
    })
}

impl EventStore {
    /// Reads up to `max_count` events of a stream from its end backwards (newest first).
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let events = ["Created", "Paid", "Shipped"].map(|t| NewEvent::new(t, "")).to_vec();
    /// store.append("order-42", ExpectedRevision::NoStream, events, Durability::Written)?;
    /// let newest = store.read_stream_backwards("order-42", 2)?;
    /// assert_eq!(newest[0].event_type, "Shipped");
    /// assert_eq!(newest[1].event_type, "Paid");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_stream_backwards(
        &self,
        stream: impl AsRef<[u8]>,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        self.read_stream(stream, Revision(u64::MAX), Direction::Backwards, max_count)
    }

    /// The last `count` events of a stream, oldest first.
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options, Revision};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let events = (0..5).map(|i| NewEvent::new("Ticked", format!("{i}"))).collect();
    /// store.append("clock-1", ExpectedRevision::Any, events, Durability::Written)?;
    /// let last = store.read_stream_last("clock-1", 2)?;
    /// let revisions: Vec<Revision> = last.iter().map(|e| e.revision).collect();
    /// assert_eq!(revisions, [Revision(3), Revision(4)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_stream_last(
        &self,
        stream: impl AsRef<[u8]>,
        count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        let mut events = self.read_stream_backwards(stream, count)?;
        events.reverse();
        Ok(events)
    }

    /// Reads a stream as it was at `time`: [`EventStore::read_stream_at_time`] with a
    /// `SystemTime` ("what was order-42 at 14:03 yesterday?").
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options};
    /// use std::time::{Duration, SystemTime};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = EventStore::open(dir.path(), Options::default().segment_bytes(1 << 20))?;
    /// let created = NewEvent::new("Created", "");
    /// store.append("order-42", ExpectedRevision::NoStream, vec![created], Durability::Written)?;
    /// let between = SystemTime::now();
    /// std::thread::sleep(Duration::from_millis(2));
    /// let paid = NewEvent::new("Paid", "");
    /// store.append("order-42", ExpectedRevision::Any, vec![paid], Durability::Written)?;
    /// let then = store.read_stream_at("order-42", between, usize::MAX)?;
    /// assert_eq!(then.len(), 1);
    /// assert_eq!(store.read_stream_at("order-42", SystemTime::now(), usize::MAX)?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_stream_at(
        &self,
        stream: impl AsRef<[u8]>,
        time: SystemTime,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>> {
        self.read_stream_at_time(stream, nanos_since_epoch(time)?, max_count)
    }

    /// The position of the first event stamped after `time`: the log as of that time is
    /// everything before it ([`EventStore::position_after_time`] with a `SystemTime`).
    pub fn position_after(&self, time: SystemTime) -> Result<Position> {
        self.position_after_time(nanos_since_epoch(time)?)
    }
}
