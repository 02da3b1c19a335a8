//! The in-memory event-store model the operation-sequence target checks `EventStore`
//! against: the log as a list of entries (appends, truncations, tombstones), every
//! stream, category and retry fact derived from it.

use crate::error::Error;
use crate::index::category_of;
use crate::name::Name;
use crate::position::{EventId, ExpectedRevision, Position, Revision};
use crate::stream::{Direction, NewEvent, WriteResult};

/// The streams the target writes (two categories and a name without one).
pub(super) const STREAMS: [&str; 4] = ["order-1", "order-2", "cust-1", "solo"];

/// One event as the model stores it.
#[derive(Debug, Clone)]
pub(super) struct ModelEvent {
    pub(super) stream: usize,
    pub(super) revision: u64,
    pub(super) position: u64,
    pub(super) event: NewEvent,
}

/// One log record.
#[derive(Debug, Clone)]
pub(super) enum Entry {
    /// One (possibly multi-stream) append; `attempt` names the single-stream attempt a
    /// retry repeats.
    Events {
        events: Vec<ModelEvent>,
        attempt: Option<usize>,
    },
    Truncate {
        stream: usize,
        before: u64,
    },
    Tombstone {
        stream: usize,
    },
}

impl Entry {
    fn len(&self) -> u64 {
        match self {
            Entry::Events { events, .. } => events.len() as u64,
            Entry::Truncate { .. } | Entry::Tombstone { .. } => 1,
        }
    }
}

/// What the model knows about one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct StreamState {
    pub(super) exists: bool,
    pub(super) revision: Option<u64>,
    pub(super) truncate_before: u64,
    pub(super) deleted: bool,
}

/// The model: the log's entries, and how many of them are known durable.
#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) entries: Vec<Entry>,
    pub(super) durable: usize,
}

/// What the model says one stream's part of an append does.
#[derive(Debug)]
pub(super) enum Prediction {
    Fails(Error),
    Retry(WriteResult),
    /// A retry the engine may recognise, refuse as a conflict or refuse by its
    /// expectation (the stream was truncated past the retried events): never a write.
    RetryOrRefused(WriteResult),
    Append {
        current: Option<u64>,
    },
}

impl Model {
    pub(super) fn next_position(&self) -> u64 {
        self.entries.iter().map(Entry::len).sum()
    }

    pub(super) fn events(&self) -> impl Iterator<Item = &ModelEvent> {
        self.entries.iter().flat_map(|entry| match entry {
            Entry::Events { events, .. } => events.as_slice(),
            _ => &[],
        })
    }

    pub(super) fn stream(&self, stream: usize) -> StreamState {
        let mut state = StreamState::default();
        for entry in &self.entries {
            match entry {
                Entry::Events { events, .. } => {
                    for event in events.iter().filter(|e| e.stream == stream) {
                        state.exists = true;
                        state.revision = Some(event.revision);
                    }
                }
                Entry::Truncate { stream: s, before } if *s == stream => {
                    state.truncate_before = state.truncate_before.max(*before);
                }
                Entry::Tombstone { stream: s } if *s == stream => state.deleted = true,
                _ => {}
            }
        }
        state
    }

    /// The result of the append `attempt` if the log holds it.
    pub(super) fn applied(&self, attempt: usize) -> Option<WriteResult> {
        self.entries.iter().find_map(|entry| match entry {
            Entry::Events {
                events,
                attempt: Some(a),
            } if *a == attempt => {
                let (first, last) = (events.first()?, events.last()?);
                Some(WriteResult {
                    first_revision: Revision(first.revision),
                    last_revision: Revision(last.revision),
                    first_position: Position(first.position),
                    last_position: Position(last.position),
                })
            }
            _ => None,
        })
    }

    /// Predicts one stream's part of an append. `attempt` is the single-stream attempt it
    /// repeats (only appends whose events all carry ids are recognised as retries).
    pub(super) fn predict(
        &self,
        stream: usize,
        expected: ExpectedRevision,
        with_ids: bool,
        attempt: Option<usize>,
    ) -> Prediction {
        let state = self.stream(stream);
        if state.deleted {
            return Prediction::Fails(Error::StreamDeleted {
                stream: Name::from(STREAMS[stream]),
            });
        }
        // Nothing can follow revision u64::MAX: the engine does not look for a retry.
        let retry_possible = with_ids && expected != ExpectedRevision::Exact(Revision(u64::MAX));
        if let Some(original) = attempt
            .filter(|_| retry_possible)
            .and_then(|a| self.applied(a))
        {
            let exact = match expected {
                ExpectedRevision::NoStream => Some(0),
                ExpectedRevision::Exact(n) => Some(n.0 + 1),
                ExpectedRevision::Any | ExpectedRevision::StreamExists => None,
            };
            return match exact {
                Some(start) if state.truncate_before > start => {
                    Prediction::RetryOrRefused(original)
                }
                _ => Prediction::Retry(original),
            };
        }
        let current = state.revision;
        let matches = match expected {
            ExpectedRevision::Any => true,
            ExpectedRevision::NoStream => current.is_none(),
            ExpectedRevision::StreamExists => current.is_some(),
            ExpectedRevision::Exact(revision) => current == Some(revision.0),
        };
        if matches {
            Prediction::Append { current }
        } else {
            Prediction::Fails(Error::WrongExpectedRevision {
                stream: Name::from(STREAMS[stream]),
                expected,
                actual: current.map(Revision),
            })
        }
    }

    /// What an append does that recombines the ids of earlier appends, all of them in
    /// the log (two appends sent as one, or a piece of one) and expecting `Any`: it is
    /// never a retry, always a conflict (unless the stream is deleted).
    pub(super) fn predict_recombined(&self, stream: usize) -> Error {
        let name = Name::from(STREAMS[stream]);
        if self.stream(stream).deleted {
            Error::StreamDeleted { stream: name }
        } else {
            Error::IdempotencyConflict {
                stream: name,
                reason: "ids of earlier appends recombined".into(),
            }
        }
    }

    /// The events a stream read returns.
    pub(super) fn read_stream(
        &self,
        stream: usize,
        from: u64,
        direction: Direction,
        max: usize,
    ) -> Result<Vec<ModelEvent>, Error> {
        let state = self.stream(stream);
        let name = Name::from(STREAMS[stream]);
        if !state.exists {
            return Err(Error::StreamNotFound { stream: name });
        }
        if state.deleted {
            return Err(Error::StreamDeleted { stream: name });
        }
        let visible = self
            .events()
            .filter(|e| e.stream == stream && e.revision >= state.truncate_before);
        Ok(match direction {
            Direction::Forwards => visible
                .filter(|e| e.revision >= from)
                .take(max)
                .cloned()
                .collect(),
            Direction::Backwards => {
                let mut events: Vec<_> = visible.filter(|e| e.revision <= from).cloned().collect();
                events.reverse();
                events.truncate(max);
                events
            }
        })
    }

    /// The events of a position-ordered selection read from `from` in `direction`.
    pub(super) fn read_positions<'a>(
        events: impl Iterator<Item = &'a ModelEvent>,
        from: u64,
        direction: Direction,
        max: usize,
    ) -> Vec<ModelEvent> {
        match direction {
            Direction::Forwards => events
                .filter(|e| e.position >= from)
                .take(max)
                .cloned()
                .collect(),
            Direction::Backwards => {
                let mut events: Vec<_> = events.filter(|e| e.position <= from).cloned().collect();
                events.reverse();
                events.truncate(max);
                events
            }
        }
    }

    /// The events of a category.
    pub(super) fn category_events<'a>(
        &'a self,
        category: &'a str,
    ) -> impl Iterator<Item = &'a ModelEvent> + 'a {
        self.events()
            .filter(move |e| category_of(STREAMS[e.stream].as_bytes()) == Some(category.as_bytes()))
    }

    /// Keeps the first `kept` entries (what a crash left).
    pub(super) fn keep(&mut self, kept: usize) {
        self.entries.truncate(kept);
        self.durable = kept;
    }
}

/// The 16-byte id of event `index` of attempt `attempt`.
pub(super) fn event_id(attempt: usize, index: usize) -> EventId {
    let mut id = [0x1du8; 16];
    id[..8].copy_from_slice(&(attempt as u64).to_le_bytes());
    id[8] = index as u8;
    id
}
