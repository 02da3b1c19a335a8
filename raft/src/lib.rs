//! Replication for Annal on openraft (0.9, `storage-v2`): no consensus of our own.
//!
//! - [`AnnalLogStore`] is openraft's log storage over an Annal [`annal::Log`]: one
//!   record per raft entry, appends acknowledged to openraft by group commit (one
//!   fdatasync for every entry appended meanwhile), conflicting suffixes removed with
//!   [`annal::Log::truncate_from`], purges by retention (whole segments), and the vote,
//!   committed and purged log ids in a small durable file (`meta.rs`).
//! - [`EventStoreMachine`] is openraft's state machine over an [`annal::EventStore`]:
//!   every committed [`AppendRequest`] is applied as one event-store append whose
//!   expectation is checked on apply, the same on every replica, and whose events get
//!   ids derived from the entry's log id, so applying an entry again writes nothing and an
//!   open learns the applied log id from the store's last event.

// openraft's traits return its `StorageError` (over 200 bytes); the helpers return it too.
#![allow(clippy::result_large_err)]

mod entry_codec;
pub mod http;
pub mod in_process;
mod log_store;
mod meta;
mod proposer;
mod replicated;
mod state_machine;
mod syncer;
mod types;

pub use log_store::{AnnalLogReader, AnnalLogStore, LogFlushes};
pub use proposer::{ProposeError, Proposer, BATCH_APPENDS_MAX};
pub use replicated::{ReplicatedError, ReplicatedStore, READ_EVENTS_MAX};
pub use state_machine::{EventStoreMachine, SnapshotBuilder, REPLICATED_EVENTS_MAX};
pub use syncer::{SyncCounts, SyncStats};
pub use types::{AppendOutcome, AppendRequest, Expected, Proposal, ProposedEvent, TypeConfig};
