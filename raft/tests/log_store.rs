//! The Annal log storage beyond openraft's suite: what survives a reopen (entries, a
//! truncation of synced entries, vote, committed, purge), a purge past the last entry
//! (a snapshot moved the node ahead), and entries that would break the log's order.

#![allow(clippy::unwrap_used, clippy::result_large_err)]

use annal::Options;
use annal_raft::{AnnalLogStore, AppendRequest, Expected, ProposedEvent, TypeConfig};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, Vote};

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(
            AppendRequest {
                stream: format!("s-{index}"),
                expected: Expected::Any,
                events: vec![ProposedEvent {
                    event_type: "E".into(),
                    data: vec![index as u8; 100],
                    metadata: vec![],
                }],
            }
            .into(),
        ),
    }
}

fn open(dir: &std::path::Path) -> AnnalLogStore {
    AnnalLogStore::open(dir, Options::default().segment_bytes(64 << 10)).unwrap()
}

async fn ids(store: &mut AnnalLogStore) -> Vec<LogId<u64>> {
    let mut reader = store.get_log_reader().await;
    reader
        .try_get_log_entries(0..)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.log_id)
        .collect()
}

#[tokio::test]
async fn a_truncation_of_synced_entries_and_the_vote_survive_a_reopen() {
    // Proves a conflicting suffix removed by truncate stays removed after a reopen, the
    // entries replacing it are read back, and vote and committed are durable.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path());
        store
            .blocking_append((0..20).map(|i| entry(1, i)))
            .await
            .unwrap();
        store.truncate(log_id(1, 12)).await.unwrap();
        store
            .blocking_append((12..15).map(|i| entry(2, i)))
            .await
            .unwrap();
        store.save_vote(&Vote::new(2, 3)).await.unwrap();
        store.save_committed(Some(log_id(2, 13))).await.unwrap();
    }
    let mut store = open(dir.path());
    let expected: Vec<_> = (0..12)
        .map(|i| log_id(1, i))
        .chain((12..15).map(|i| log_id(2, i)))
        .collect();
    assert_eq!(ids(&mut store).await, expected);
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(2, 3)));
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(2, 13)));
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(2, 14)));
}

#[tokio::test]
async fn a_purge_past_the_last_entry_moves_the_log_ahead() {
    // Proves that after a snapshot moved the node far ahead, the log is empty, takes
    // the entry after the purged one, and says so again after a reopen.
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path());
        store
            .blocking_append((0..10).map(|i| entry(1, i)))
            .await
            .unwrap();
        store.purge(log_id(3, 1000)).await.unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(3, 1000)));
        assert_eq!(state.last_log_id, Some(log_id(3, 1000)));
        assert!(ids(&mut store).await.is_empty());
        store
            .blocking_append([entry(3, 1001), entry(3, 1002)])
            .await
            .unwrap();
    }
    let mut store = open(dir.path());
    assert_eq!(
        ids(&mut store).await,
        vec![log_id(3, 1001), log_id(3, 1002)]
    );
    assert_eq!(
        store.get_log_state().await.unwrap().last_purged_log_id,
        Some(log_id(3, 1000))
    );
}

#[tokio::test]
async fn a_purge_removes_whole_segments_and_hides_the_rest() {
    // Proves a purge hides every purged entry from readers and lets retention remove the
    // segments wholly before it, keeping the entries after it.
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store
        .blocking_append((0..2000).map(|i| entry(1, i)))
        .await
        .unwrap();
    store.purge(log_id(1, 1499)).await.unwrap();
    assert!(store.log().first_position().0 > 0, "whole segments went");
    let read = ids(&mut store).await;
    assert_eq!(read.first(), Some(&log_id(1, 1500)));
    assert_eq!(read.len(), 500);
}

#[tokio::test]
async fn entries_that_do_not_follow_the_log_are_refused() {
    // Proves an entry overwriting an index without a truncation, or leaving a large
    // hole, is an error that changes nothing.
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store
        .blocking_append((0..5).map(|i| entry(1, i)))
        .await
        .unwrap();
    let overwrite = store.blocking_append([entry(2, 3)]).await.unwrap_err();
    assert!(
        overwrite.to_string().contains("does not follow"),
        "{overwrite}"
    );
    let far = store
        .blocking_append([entry(1, 100_000)])
        .await
        .unwrap_err();
    assert!(far.to_string().contains("does not follow"), "{far}");
    assert_eq!(ids(&mut store).await.len(), 5);
}

#[tokio::test]
async fn log_flushes_wait_for_an_append_made_after_the_mark() {
    // Proves `LogFlushes::flushed_after(mark)` does not return while no append made
    // after the mark is durable, and returns once one is.
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let mut flushes = store.flushes();
    let mark = flushes.mark();
    assert_eq!(mark, 0);
    let early = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        flushes.flushed_after(mark),
    )
    .await;
    assert!(early.is_err(), "returned before any append");
    store.blocking_append([entry(1, 0)]).await.unwrap();
    flushes.flushed_after(mark).await;
    let mark = flushes.mark();
    assert_eq!(mark, 1);
    let early = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        flushes.flushed_after(mark),
    )
    .await;
    assert!(
        early.is_err(),
        "returned for an append made before the mark"
    );
    store
        .blocking_append([entry(1, 1), entry(1, 2)])
        .await
        .unwrap();
    flushes.flushed_after(mark).await;
    assert_eq!(flushes.mark(), 2);
}
