//! openraft's own storage test suite (`openraft::testing::Suite`) against the Annal log
//! storage and the event-store state machine, on real files.

#![allow(clippy::unwrap_used, clippy::result_large_err)]

use annal::Options;
use annal_raft::{AnnalLogStore, EventStoreMachine, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;

/// Builds a fresh log store and state machine in a temporary directory it keeps alive.
struct Builder;

impl StoreBuilder<TypeConfig, AnnalLogStore, EventStoreMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, AnnalLogStore, EventStoreMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().unwrap();
        let options = Options::default().segment_bytes(64 << 10);
        let log = AnnalLogStore::open(dir.path().join("raft"), options.clone()).unwrap();
        let machine = EventStoreMachine::open(dir.path().join("machine"), options).unwrap();
        Ok((dir, log, machine))
    }
}

#[test]
fn openraft_storage_suite_passes() -> Result<(), StorageError<u64>> {
    // Proves the adapter keeps every promise openraft's suite checks: log state, reads,
    // appends with their flush callback, truncation, purge, vote, snapshots.
    Suite::test_all(Builder)
}
