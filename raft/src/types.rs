//! The application types openraft replicates: what a client proposes (an append to one
//! stream with its expectation) and what applying it answered.

use std::io::Cursor;

use annal::{ExpectedRevision, NewEvent, Revision};
use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// openraft's type configuration for an Annal cluster.
    pub TypeConfig:
        D = AppendRequest,
        R = AppendOutcome,
);

/// An expected revision as it travels in the log (`annal::ExpectedRevision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expected {
    /// No check.
    Any,
    /// The stream has no events.
    NoStream,
    /// The stream has at least one event.
    StreamExists,
    /// The stream's last revision is exactly this.
    Exact(u64),
}

impl From<Expected> for ExpectedRevision {
    fn from(expected: Expected) -> ExpectedRevision {
        match expected {
            Expected::Any => ExpectedRevision::Any,
            Expected::NoStream => ExpectedRevision::NoStream,
            Expected::StreamExists => ExpectedRevision::StreamExists,
            Expected::Exact(n) => ExpectedRevision::Exact(Revision(n)),
        }
    }
}

/// One event of a proposed append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedEvent {
    /// The event type.
    pub event_type: String,
    /// The event's data.
    pub data: Vec<u8>,
    /// Caller metadata.
    pub metadata: Vec<u8>,
}

impl ProposedEvent {
    /// The event as the store takes it, with the id it gets on every replica.
    pub(crate) fn to_new_event(&self, id: [u8; 16]) -> NewEvent {
        let mut event = NewEvent::new(self.event_type.as_str(), self.data.clone()).with_id(id);
        event.metadata = self.metadata.clone().into();
        event
    }
}

/// An append to one stream, proposed through the leader and applied on every replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendRequest {
    /// The stream's name.
    pub stream: String,
    /// Checked when the entry is applied, against the replica's store.
    pub expected: Expected,
    /// The events, 1 or more.
    pub events: Vec<ProposedEvent>,
}

impl std::fmt::Display for AppendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "append {} events to {:?} expecting {:?}",
            self.events.len(),
            self.stream,
            self.expected
        )
    }
}

/// What applying an append answered: the same on every replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendOutcome {
    /// Not an append (a blank or membership entry).
    None,
    /// Appended: the revisions and positions the events got.
    Appended {
        /// Revision of the first event.
        first_revision: u64,
        /// Revision of the last event.
        last_revision: u64,
        /// Position of the first event in the store's log.
        first_position: u64,
    },
    /// Refused, writing nothing: the expectation failed, or the request was invalid.
    Refused {
        /// The store's error, as a sentence.
        reason: String,
    },
}
