//! A model test of the stream layer: random multi-stream appends (every expectation kind,
//! retries of earlier appends with the same event ids, partial overlaps of ids), reads of
//! every kind (streams, the whole log, categories, stream info, reads as of a position
//! and as of a time), truncations, deletions, checkpoints, clean reopens and simulated
//! power losses run against an `EventStore` on `SimStorage` with small segments, and
//! checked after every step against an in-memory event-store model.
//!
//! The model is the log as a list of records (events, truncations, tombstones); every
//! stream, category and id fact is derived from it. Appends at `Durability::Synced`,
//! truncations, deletions, checkpoints and closes make everything before them durable;
//! after a power loss the store must hold the durable records plus a prefix of the later
//! appends, whole appends only, and the model adopts what survived.
//!
//! Here: the operations, their strategies and the tests; the reference model is in
//! `reference`, the harness that runs both and compares them in `harness`.

use std::collections::HashMap;
use std::sync::Arc;

use annal::testing::{CrashMode, SimStorage};
use annal::Revision;
use annal::{
    Direction, Durability, Error, EventId, EventStore, ExpectedRevision, NewEvent, Options,
    Position, RecordedEvent, StreamAppend, StreamHandle, StreamInfo, WriteResult,
};
use bytes::Bytes;
use proptest::prelude::*;

use harness::Harness;

mod harness;
mod reference;

const DIR: &str = "/sim/stream-model";
const SEGMENT_BYTES: u64 = 64 << 10;
/// Index checkpoints fall due every few events, so the store's index is most of the time
/// a mapped checkpoint with changes over it, often while the next one is being written
/// in the background and installed by a later append.
const INDEX_CHECKPOINT_EVENTS: u64 = 7;

/// The streams the test uses: three categories (`order`, `cust` and the empty one of
/// `-lead`), a name with two dashes, and one name without a category.
const STREAMS: [&str; 7] = [
    "order-1",
    "order-2",
    "order-3-x",
    "cust-1",
    "cust-2",
    "solo",
    "-lead",
];
/// Categories read (one never written).
const CATEGORIES: [&str; 4] = ["order", "cust", "", "nope"];

fn open(storage: &SimStorage) -> EventStore {
    EventStore::open_with_storage(
        DIR,
        Options::default()
            .segment_bytes(SEGMENT_BYTES)
            .index_checkpoint_events(INDEX_CHECKPOINT_EVENTS),
        Arc::new(storage.clone()),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// Operations (abstract: stream and revision picks are resolved against the model at run
// time, so every generated sequence is meaningful).
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Expect {
    Any,
    NoStream,
    StreamExists,
    /// Exact(the stream's current revision), or NoStream when it has none: right.
    ExactCurrent,
    /// Exact(current ± (1 + n)): wrong.
    ExactOff(u8),
    /// Exact of a fixed value from `EXACT_VALUES`.
    ExactAt(u8),
}

const EXACT_VALUES: [u64; 4] = [0, 1, 5, u64::MAX];

#[derive(Debug, Clone, Copy)]
enum Ids {
    None,
    Fresh,
    /// Every other event has an id.
    Mixed,
}

#[derive(Debug, Clone)]
struct PartSpec {
    stream: usize,
    expect: Expect,
    events: usize,
    ids: Ids,
}

/// A revision to read from.
#[derive(Debug, Clone, Copy)]
enum RevPick {
    Zero,
    Max,
    Pick(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<PartSpec>, Durability),
    /// Sends an earlier append again, unchanged.
    Retry(u64, Durability),
    /// Sends an earlier append changed: 0 replace the last id, 1 drop the last event,
    /// 2 add a fresh event, 3 drop the first event, 4 expect `Any`.
    PartialRetry(u64, u8, Durability),
    /// Sends the events of two earlier appends of one stream as one append: 0 with the
    /// first one's expectation, 1 expecting `Any`.
    MergedRetry(u64, u8, Durability),
    ReadStream(usize, RevPick, Direction, usize),
    ReadStreamAsOf(usize, u64, RevPick, Direction, usize),
    ReadAll(u64, Direction, usize),
    ReadCategory(usize, u64, Direction, usize),
    Info(usize),
    /// Position after the time of an event (`pick`) plus a delta, and the stream at it.
    AtTime(u64, i8, usize, usize),
    Truncate(usize, u64),
    Delete(usize),
    Checkpoint,
    Reopen,
    CrashDrop,
    CrashTear(u64),
}

const MAX_COUNTS: [usize; 6] = [0, 1, 2, 5, 50, usize::MAX];

fn durability() -> impl Strategy<Value = Durability> {
    prop_oneof![
        6 => Just(Durability::Synced),
        3 => Just(Durability::Written),
        1 => Just(Durability::Buffered),
    ]
}

fn expect() -> impl Strategy<Value = Expect> {
    prop_oneof![
        4 => Just(Expect::Any),
        1 => Just(Expect::NoStream),
        2 => Just(Expect::StreamExists),
        8 => Just(Expect::ExactCurrent),
        1 => any::<u8>().prop_map(Expect::ExactOff),
        1 => (0..EXACT_VALUES.len() as u8).prop_map(Expect::ExactAt),
    ]
}

fn ids() -> impl Strategy<Value = Ids> {
    prop_oneof![2 => Just(Ids::None), 5 => Just(Ids::Fresh), 1 => Just(Ids::Mixed)]
}

fn part_spec() -> impl Strategy<Value = PartSpec> {
    (0..STREAMS.len(), expect(), 1..=4usize, ids()).prop_map(|(stream, expect, events, ids)| {
        PartSpec {
            stream,
            expect,
            events,
            ids,
        }
    })
}

/// Mostly one part per stream (a stream named twice is an error, tried now and then).
fn distinct_streams(mut parts: Vec<PartSpec>, keep_duplicates: u8) -> Vec<PartSpec> {
    if keep_duplicates >= 16 {
        let mut seen = Vec::new();
        parts.retain(|p| {
            let new = !seen.contains(&p.stream);
            seen.push(p.stream);
            new
        });
    }
    parts
}

fn from() -> impl Strategy<Value = RevPick> {
    prop_oneof![
        1 => Just(RevPick::Zero),
        1 => Just(RevPick::Max),
        3 => any::<u64>().prop_map(RevPick::Pick),
    ]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Forwards), Just(Direction::Backwards)]
}

fn max_count() -> impl Strategy<Value = usize> {
    (0..MAX_COUNTS.len()).prop_map(|i| MAX_COUNTS[i])
}

fn op() -> impl Strategy<Value = Op> {
    let stream = 0..STREAMS.len();
    prop_oneof![
        12 => (proptest::collection::vec(part_spec(), 1..=3), any::<u8>(), durability())
            .prop_map(|(parts, keep, d)| Op::Append(distinct_streams(parts, keep), d)),
        3 => (any::<u64>(), durability()).prop_map(|(pick, d)| Op::Retry(pick, d)),
        2 => (any::<u64>(), 0..5u8, durability())
            .prop_map(|(pick, mode, d)| Op::PartialRetry(pick, mode, d)),
        1 => (any::<u64>(), 0..2u8, durability())
            .prop_map(|(pick, mode, d)| Op::MergedRetry(pick, mode, d)),
        3 => (stream.clone(), from(), direction(), max_count())
            .prop_map(|(s, f, d, m)| Op::ReadStream(s, f, d, m)),
        2 => (stream.clone(), any::<u64>(), from(), direction(), max_count())
            .prop_map(|(s, p, f, d, m)| Op::ReadStreamAsOf(s, p, f, d, m)),
        2 => (any::<u64>(), direction(), max_count()).prop_map(|(p, d, m)| Op::ReadAll(p, d, m)),
        2 => (0..CATEGORIES.len(), any::<u64>(), direction(), max_count())
            .prop_map(|(c, p, d, m)| Op::ReadCategory(c, p, d, m)),
        1 => stream.clone().prop_map(Op::Info),
        2 => (any::<u64>(), -1..=1i8, stream.clone(), max_count())
            .prop_map(|(p, delta, s, m)| Op::AtTime(p, delta, s, m)),
        1 => (stream.clone(), any::<u64>()).prop_map(|(s, b)| Op::Truncate(s, b)),
        1 => stream.prop_map(Op::Delete),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
        1 => Just(Op::CrashDrop),
        1 => any::<u64>().prop_map(Op::CrashTear),
    ]
}

fn run(ops: &[Op]) {
    let mut harness = Harness::new();
    for op in ops {
        harness.apply(op);
    }
    harness.check_everything("at the end");
    // Whatever happened, a power loss keeps at least what was durable.
    harness.apply(&Op::CrashTear(ops.len() as u64));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn event_store_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        // Proves every sequence of appends, retries, reads, deletes, reopens and crashes keeps the store equal to the model.
        run(&ops);
    }
}

// ---------------------------------------------------------------------------------------
// Hand-written sequences and regressions.
// ---------------------------------------------------------------------------------------

fn part(stream: usize, expect: Expect, events: usize, ids: Ids) -> PartSpec {
    PartSpec {
        stream,
        expect,
        events,
        ids,
    }
}

#[test]
fn retries_of_every_expectation_kind_after_every_kind_of_restart() {
    // Proves retries of NoStream, Exact, Any and StreamExists appends are recognised live, after a reopen and after crashes.
    let mut ops = vec![
        Op::Append(
            vec![part(0, Expect::NoStream, 2, Ids::Fresh)],
            Durability::Synced,
        ),
        Op::Append(
            vec![part(0, Expect::ExactCurrent, 3, Ids::Fresh)],
            Durability::Synced,
        ),
        Op::Append(
            vec![part(0, Expect::Any, 1, Ids::Fresh)],
            Durability::Synced,
        ),
        Op::Append(
            vec![
                part(0, Expect::StreamExists, 2, Ids::Fresh),
                part(3, Expect::NoStream, 1, Ids::Fresh),
            ],
            Durability::Written,
        ),
    ];
    for restart in [Op::Checkpoint, Op::Reopen, Op::CrashDrop, Op::CrashTear(3)] {
        for pick in 0..4 {
            ops.push(Op::Retry(pick, Durability::Synced));
        }
        ops.push(restart);
    }
    for pick in 0..4 {
        for mode in 0..5 {
            ops.push(Op::PartialRetry(pick, mode, Durability::Synced));
        }
    }
    run(&ops);
}

#[test]
fn written_appends_across_rolls_then_torn_crashes() {
    // Proves unsynced multi-stream appends spanning segment rolls survive a torn crash as a whole-append prefix.
    let mut ops = Vec::new();
    for k in 0..10u64 {
        for _ in 0..12 {
            ops.push(Op::Append(
                vec![
                    part(0, Expect::Any, 4, Ids::Fresh),
                    part(3, Expect::Any, 3, Ids::None),
                    part(6, Expect::Any, 2, Ids::Mixed),
                ],
                Durability::Written,
            ));
        }
        ops.push(Op::CrashTear(k));
        ops.push(Op::Retry(k * 5, Durability::Written));
    }
    run(&ops);
}

#[test]
fn temporal_reads_across_lifecycle_records_and_reopens() {
    // Proves position_after_time and read_stream_at_time agree with the model around truncations and tombstones.
    let mut ops = Vec::new();
    for i in 0..40u64 {
        ops.push(Op::Append(
            vec![part((i % 4) as usize, Expect::Any, 2, Ids::None)],
            Durability::Written,
        ));
        if i % 9 == 4 {
            ops.push(Op::Truncate((i % 4) as usize, i));
        }
        if i == 30 {
            ops.push(Op::Delete(1));
            ops.push(Op::Reopen);
        }
        for delta in -1..=1 {
            ops.push(Op::AtTime(i * 3, delta, (i % 5) as usize, usize::MAX));
        }
    }
    run(&ops);
}

#[test]
fn exact_u64_max_with_event_ids_is_a_wrong_expected_revision() {
    // Proves Exact(u64::MAX) with event ids gets WrongExpectedRevision (regression: the retry check overflowed).
    run(&[
        Op::Append(
            vec![part(0, Expect::ExactAt(3), 1, Ids::Fresh)],
            Durability::Synced,
        ),
        Op::Append(
            vec![part(0, Expect::Any, 1, Ids::Fresh)],
            Durability::Synced,
        ),
        Op::Append(
            vec![part(0, Expect::ExactAt(3), 2, Ids::Fresh)],
            Durability::Synced,
        ),
    ]);
}

#[test]
fn ids_of_two_earlier_appends_sent_as_one_are_a_conflict() {
    // Proves a retry naming the ids of two separate earlier appends is an IdempotencyConflict, with every expectation kind, also after a reopen.
    let mut ops = vec![
        Op::Append(
            vec![part(0, Expect::NoStream, 1, Ids::Fresh)],
            Durability::Written,
        ),
        Op::Append(
            vec![part(0, Expect::Any, 1, Ids::Fresh)],
            Durability::Written,
        ),
        Op::Append(
            vec![part(0, Expect::ExactCurrent, 2, Ids::Fresh)],
            Durability::Written,
        ),
    ];
    for restart in [Op::Checkpoint, Op::Reopen] {
        for pick in 0..2 {
            ops.push(Op::MergedRetry(pick, 0, Durability::Written));
            ops.push(Op::MergedRetry(pick, 1, Durability::Written));
        }
        ops.push(restart);
    }
    run(&ops);
}

#[test]
fn a_piece_of_one_earlier_append_is_a_conflict() {
    // Proves a retry naming only the first or last ids of one earlier append is an IdempotencyConflict, not a retry.
    let mut ops = vec![
        Op::Append(
            vec![part(0, Expect::NoStream, 3, Ids::Fresh)],
            Durability::Written,
        ),
        Op::Append(
            vec![part(0, Expect::Any, 3, Ids::Fresh)],
            Durability::Written,
        ),
    ];
    for pick in 0..2 {
        ops.push(Op::PartialRetry(pick, 1, Durability::Written));
        ops.push(Op::PartialRetry(pick, 3, Durability::Written));
        ops.push(Op::PartialRetry(pick, 4, Durability::Written));
    }
    ops.push(Op::Reopen);
    for pick in 0..2 {
        ops.push(Op::PartialRetry(pick, 1, Durability::Written));
        ops.push(Op::PartialRetry(pick, 3, Durability::Written));
    }
    run(&ops);
}
