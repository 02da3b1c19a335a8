//! Retention: removing whole segments from the front of the log.
//!
//! Segments are removed oldest first, each file removal followed by a directory sync, so
//! after any crash the segments left are still a gapless run and recovery accepts them.
//! A segment leaves the in-memory list only once its file is gone; readers holding it
//! (a reader, a subscription, an event's payload) keep its mapping, which lives as long
//! as any of them refers to it: removal never pulls a page from under a reader.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::segment::Segment;
use super::LogCore;
use crate::error::{Error, Result};
use crate::position::Position;

impl LogCore {
    /// Removes every segment whose events all lie before `position` and returns the
    /// log's new first position (the first position of the oldest segment kept, at most
    /// `position`: only whole segments go). The active segment always stays.
    ///
    /// Readers and subscriptions that already hold a removed segment finish reading it;
    /// a read of a removed position from then on gets [`Error::PositionOutOfRange`], and
    /// a subscription that needs one gets [`Error::BehindRetention`]. The layers above
    /// hear of it first ([`super::LogHooks::before_truncate`]): consumers whose newest
    /// checkpoints only records being removed hold are written to their files. On an I/O error the segments removed so far stay removed and the log stays
    /// usable. A position past the next one to be written is
    /// [`Error::PositionOutOfRange`].
    pub(crate) fn truncate_before(&self, position: Position) -> Result<Position> {
        let shared = &**self;
        shared.check_usable()?;
        let _serialized = shared.retention.lock().unwrap_or_else(|e| e.into_inner());
        // Buffered appends (above `written`) belong to the active segment, which stays.
        let next = shared.next.load(Ordering::Acquire);
        if position.0 > next {
            return Err(shared.out_of_range(position.0));
        }
        let (doomed, new_first): (Vec<Arc<Segment>>, u64) = {
            let segments = shared.segments.read().unwrap_or_else(|e| e.into_inner());
            // The segment holding `position` (or the active one) and those after it stay.
            let keep_from = segments
                .partition_point(|s| s.first_position <= position.0)
                .saturating_sub(1)
                .min(segments.len() - 1);
            (
                segments[..keep_from].to_vec(),
                segments[keep_from].first_position,
            )
        };
        if doomed.is_empty() {
            return Ok(Position(shared.first()));
        }
        let hooks = shared
            .hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for hook in hooks {
            hook.before_truncate(self, Position(new_first))?;
        }
        let storage = shared.storage.as_ref();
        for segment in &doomed {
            storage
                .remove_file(&segment.path)
                .map_err(|e| Error::io("remove segment", Some(segment.path.clone()), e))?;
            storage
                .sync_dir(&shared.dir)
                .map_err(|e| Error::io("fsync directory", Some(shared.dir.clone()), e))?;
            let mut segments = shared.segments.write().unwrap_or_else(|e| e.into_inner());
            segments.retain(|s| s.first_position != segment.first_position);
            let first = segments[0].first_position;
            drop(segments);
            shared.first.fetch_max(first, Ordering::AcqRel);
        }
        Ok(Position(shared.first()))
    }
}
