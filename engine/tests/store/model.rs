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

// ---------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ev {
    stream: Bytes,
    revision: u64,
    position: u64,
    event_type: Bytes,
    id: Option<EventId>,
    metadata: Bytes,
    data: Bytes,
    /// The position of the first event of the append's part for this stream: which
    /// append it came from.
    part: u64,
}

#[derive(Debug, Clone)]
enum Rec {
    Event(Ev),
    Truncate(Bytes, u64),
    Tombstone(Bytes),
}

/// An error, as far as the model predicts it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ModelErr {
    WrongExpected {
        stream: Vec<u8>,
        expected: ExpectedRevision,
        actual: Option<u64>,
    },
    Deleted(Vec<u8>),
    NotFound(Vec<u8>),
    Conflict(Vec<u8>),
    InvalidArgument,
    EmptyBatch,
    OutOfRange,
}

fn model_err(e: &Error) -> ModelErr {
    match e {
        Error::WrongExpectedRevision {
            stream,
            expected,
            actual,
        } => ModelErr::WrongExpected {
            stream: stream.to_vec(),
            expected: *expected,
            actual: actual.map(|r| r.0),
        },
        Error::StreamDeleted { stream } => ModelErr::Deleted(stream.to_vec()),
        Error::StreamNotFound { stream } => ModelErr::NotFound(stream.to_vec()),
        Error::IdempotencyConflict { stream, .. } => ModelErr::Conflict(stream.to_vec()),
        Error::InvalidArgument { .. } => ModelErr::InvalidArgument,
        Error::EmptyBatch => ModelErr::EmptyBatch,
        Error::PositionOutOfRange { .. } => ModelErr::OutOfRange,
        other => panic!("unexpected error from the store: {other}"),
    }
}

/// One stream's state, derived from the records.
#[derive(Debug, Default)]
struct StreamState {
    events: Vec<Ev>,
    truncate_before: u64,
    deleted: bool,
}

impl StreamState {
    fn current(&self) -> Option<u64> {
        self.events.last().map(|e| e.revision)
    }

    /// Whether revisions `first..first + count` are exactly one earlier append's part:
    /// a retry must match one append, not two, nor a piece of one.
    fn is_one_append(&self, first: u64, count: usize) -> bool {
        let Some(head) = self.events.iter().find(|e| e.revision == first) else {
            return false;
        };
        head.part == head.position
            && self.events.iter().filter(|e| e.part == head.part).count() == count
            && self
                .events
                .iter()
                .filter(|e| e.revision >= first && e.revision < first + count as u64)
                .all(|e| e.part == head.part)
    }
}

enum Plan {
    Retry(WriteResult),
    Append(Option<u64>),
}

fn result_of(first: &Ev, last: &Ev) -> WriteResult {
    WriteResult {
        first_revision: Revision(first.revision),
        last_revision: Revision(last.revision),
        first_position: Position(first.position),
        last_position: Position(last.position),
    }
}

fn category_of(stream: &[u8]) -> Option<&[u8]> {
    let dash = stream.iter().position(|&b| b == b'-')?;
    Some(&stream[..dash])
}

/// Applies a read window to events in ascending order of `key`.
fn window(
    events: Vec<Ev>,
    key: impl Fn(&Ev) -> u64,
    from: u64,
    direction: Direction,
    max: usize,
) -> Vec<Ev> {
    match direction {
        Direction::Forwards => events
            .into_iter()
            .filter(|e| key(e) >= from)
            .take(max)
            .collect(),
        Direction::Backwards => events
            .into_iter()
            .rev()
            .filter(|e| key(e) <= from)
            .take(max)
            .collect(),
    }
}

#[derive(Default)]
struct Model {
    records: Vec<Rec>,
    /// Records below this index are durable.
    synced: usize,
    /// Record counts of the appends made after `synced`, in order.
    unsynced_appends: Vec<usize>,
    /// Every append sent, for retries.
    sent: Vec<Vec<StreamAppend>>,
    /// Timestamps learned from reads, by position.
    timestamps: HashMap<u64, u64>,
    next_id: u64,
    next_event: u64,
}

impl Model {
    fn len(&self) -> u64 {
        self.records.len() as u64
    }

    fn events(&self) -> impl Iterator<Item = &Ev> {
        self.records.iter().filter_map(|r| match r {
            Rec::Event(e) => Some(e),
            _ => None,
        })
    }

    fn stream(&self, name: &[u8]) -> Option<StreamState> {
        let mut state: Option<StreamState> = None;
        for record in &self.records {
            match record {
                Rec::Event(e) if &e.stream[..] == name => {
                    state
                        .get_or_insert_with(Default::default)
                        .events
                        .push(e.clone());
                }
                Rec::Truncate(s, before) if &s[..] == name => {
                    let st = state.as_mut().expect("truncations name existing streams");
                    st.truncate_before = st.truncate_before.max(*before);
                }
                Rec::Tombstone(s) if &s[..] == name => {
                    state
                        .as_mut()
                        .expect("tombstones name existing streams")
                        .deleted = true;
                }
                _ => {}
            }
        }
        state
    }

    /// Where each id was last stored: (stream, revision, position) — the store remembers
    /// far more ids than this test writes.
    fn id_map(&self) -> HashMap<EventId, Ev> {
        let mut map = HashMap::new();
        for e in self.events() {
            if let Some(id) = e.id {
                map.insert(id, e.clone());
            }
        }
        map
    }

    fn fresh_id(&mut self) -> EventId {
        self.next_id += 1;
        let mut id = [0xA5u8; 16];
        id[..8].copy_from_slice(&self.next_id.to_le_bytes());
        id
    }

    fn new_event(&mut self, id: Option<EventId>) -> NewEvent {
        self.next_event += 1;
        let n = self.next_event;
        let len = if n.is_multiple_of(7) {
            1500
        } else {
            40 + (n % 60) as usize
        };
        let mut data = format!("event-{n}-").into_bytes();
        data.resize(len, b'.');
        let types = ["Created", "Paid", "Shipped"];
        let mut event = NewEvent::new(types[(n % 3) as usize], data);
        if n.is_multiple_of(4) {
            event = event.with_metadata(format!("meta-{n}"));
        }
        event.id = id;
        event
    }

    fn check_input(appends: &[StreamAppend]) -> Result<(), ModelErr> {
        if appends.is_empty() {
            return Err(ModelErr::EmptyBatch);
        }
        let mut streams = Vec::new();
        let mut ids = Vec::new();
        for a in appends {
            if streams.contains(&a.stream) {
                return Err(ModelErr::InvalidArgument);
            }
            streams.push(a.stream.clone());
            if a.events.is_empty() {
                return Err(ModelErr::EmptyBatch);
            }
            for e in &a.events {
                if let Some(id) = e.id {
                    if ids.contains(&id) {
                        return Err(ModelErr::InvalidArgument);
                    }
                    ids.push(id);
                }
            }
        }
        Ok(())
    }

    /// The visible events of a stream from revision `from` forwards, at most `max`.
    fn visible_from(&self, state: &StreamState, from: u64, max: usize) -> Vec<Ev> {
        let low = from.max(state.truncate_before);
        state
            .events
            .iter()
            .filter(|e| e.revision >= low)
            .take(max)
            .cloned()
            .collect()
    }

    fn plan(&self, append: &StreamAppend) -> Result<Plan, ModelErr> {
        let name = append.stream.to_vec();
        let state = self.stream(&append.stream);
        if state.as_ref().is_some_and(|s| s.deleted) {
            return Err(ModelErr::Deleted(name));
        }
        let current = state.as_ref().and_then(StreamState::current);
        let ids: Option<Vec<EventId>> = append.events.iter().map(|e| e.id).collect();
        if let Some(ids) = ids {
            let start = match append.expected {
                ExpectedRevision::NoStream => Some(Some(0)),
                // Exact(u64::MAX) has nothing after it: never a retry.
                ExpectedRevision::Exact(r) => Some(r.0.checked_add(1)),
                ExpectedRevision::Any | ExpectedRevision::StreamExists => None,
            };
            match start {
                Some(Some(start)) if current.is_some_and(|c| c >= start) => {
                    let state = state.as_ref().expect("a current revision means a stream");
                    let stored = self.visible_from(state, start, ids.len());
                    let matching = stored
                        .iter()
                        .zip(&ids)
                        .enumerate()
                        .take_while(|(i, (e, id))| {
                            e.revision == start + *i as u64 && e.id.as_ref() == Some(id)
                        })
                        .count();
                    if matching == ids.len() {
                        if !state.is_one_append(start, ids.len()) {
                            return Err(ModelErr::Conflict(name));
                        }
                        return Ok(Plan::Retry(result_of(&stored[0], &stored[ids.len() - 1])));
                    }
                    if stored
                        .iter()
                        .any(|e| e.id.is_some_and(|id| ids.contains(&id)))
                    {
                        return Err(ModelErr::Conflict(name));
                    }
                }
                Some(_) => {}
                None => {
                    let map = self.id_map();
                    let found: Vec<Option<&Ev>> = ids.iter().map(|id| map.get(id)).collect();
                    if found.iter().any(Option::is_some) {
                        let whole = found.iter().enumerate().all(|(i, f)| {
                            f.is_some_and(|f| {
                                f.stream == append.stream
                                    && f.revision
                                        == found[0].expect("all found").revision + i as u64
                            })
                        });
                        if !whole {
                            return Err(ModelErr::Conflict(name));
                        }
                        let (first, last) = (found[0].unwrap(), found[ids.len() - 1].unwrap());
                        let state = state.as_ref().expect("found ids mean a stream");
                        if !state.is_one_append(first.revision, ids.len()) {
                            return Err(ModelErr::Conflict(name));
                        }
                        return Ok(Plan::Retry(result_of(first, last)));
                    }
                }
            }
        }
        let matches = match append.expected {
            ExpectedRevision::Any => true,
            ExpectedRevision::NoStream => current.is_none(),
            ExpectedRevision::StreamExists => current.is_some(),
            ExpectedRevision::Exact(r) => current == Some(r.0),
        };
        if !matches {
            return Err(ModelErr::WrongExpected {
                stream: name,
                expected: append.expected,
                actual: current,
            });
        }
        // Not a retry: an id already stored anywhere makes it a conflict.
        let map = self.id_map();
        if append
            .events
            .iter()
            .filter_map(|e| e.id.as_ref())
            .any(|id| map.contains_key(id))
        {
            return Err(ModelErr::Conflict(name));
        }
        Ok(Plan::Append(current))
    }

    /// What `append_multi` must return, and the model updated to match.
    fn append(
        &mut self,
        appends: &[StreamAppend],
        durability: Durability,
    ) -> Result<Vec<WriteResult>, ModelErr> {
        Model::check_input(appends)?;
        let plans = appends
            .iter()
            .map(|a| self.plan(a))
            .collect::<Result<Vec<_>, _>>()?;
        let retries: Vec<WriteResult> = plans
            .iter()
            .filter_map(|p| match p {
                Plan::Retry(r) => Some(*r),
                Plan::Append(_) => None,
            })
            .collect();
        if retries.len() == plans.len() {
            if durability == Durability::Synced {
                self.all_synced();
            }
            return Ok(retries);
        }
        if !retries.is_empty() {
            let retried = appends
                .iter()
                .zip(&plans)
                .find(|(_, p)| matches!(p, Plan::Retry(_)))
                .map_or(&appends[0], |(a, _)| a);
            return Err(ModelErr::Conflict(retried.stream.to_vec()));
        }
        let mut results = Vec::new();
        let before = self.records.len();
        for (append, plan) in appends.iter().zip(plans) {
            let Plan::Append(current) = plan else {
                unreachable!()
            };
            let first_revision = current.map_or(0, |c| c + 1);
            let first_position = self.len();
            for (i, e) in append.events.iter().enumerate() {
                let ev = Ev {
                    stream: append.stream.clone(),
                    revision: first_revision + i as u64,
                    position: self.len(),
                    event_type: e.event_type.clone(),
                    id: e.id,
                    metadata: e.metadata.clone(),
                    data: e.data.clone(),
                    part: first_position,
                };
                self.records.push(Rec::Event(ev));
            }
            let count = append.events.len() as u64;
            results.push(WriteResult {
                first_revision: Revision(first_revision),
                last_revision: Revision(first_revision + count - 1),
                first_position: Position(first_position),
                last_position: Position(first_position + count - 1),
            });
        }
        self.appended(self.records.len() - before, durability);
        Ok(results)
    }

    fn appended(&mut self, records: usize, durability: Durability) {
        self.unsynced_appends.push(records);
        if durability == Durability::Synced {
            self.all_synced();
        }
    }

    fn all_synced(&mut self) {
        self.synced = self.records.len();
        self.unsynced_appends.clear();
    }

    fn lifecycle(&mut self, stream: &[u8], record: Rec) -> Result<(), ModelErr> {
        let state = self
            .stream(stream)
            .ok_or_else(|| ModelErr::NotFound(stream.to_vec()))?;
        if state.deleted {
            return Err(ModelErr::Deleted(stream.to_vec()));
        }
        self.records.push(record);
        self.all_synced();
        Ok(())
    }

    fn read_stream(
        &self,
        stream: &[u8],
        from: u64,
        direction: Direction,
        max: usize,
        as_of: Option<u64>,
    ) -> Result<Vec<Ev>, ModelErr> {
        let state = self
            .stream(stream)
            .ok_or_else(|| ModelErr::NotFound(stream.to_vec()))?;
        if state.deleted {
            return Err(ModelErr::Deleted(stream.to_vec()));
        }
        let events: Vec<Ev> = state
            .events
            .iter()
            .filter(|e| e.revision >= state.truncate_before)
            .filter(|e| as_of.is_none_or(|p| e.position < p))
            .cloned()
            .collect();
        Ok(window(events, |e| e.revision, from, direction, max))
    }

    fn read_all(&self, from: u64, direction: Direction, max: usize) -> Result<Vec<Ev>, ModelErr> {
        if direction == Direction::Forwards && from > self.len() {
            return Err(ModelErr::OutOfRange);
        }
        let events = self.events().cloned().collect();
        Ok(window(events, |e| e.position, from, direction, max))
    }

    fn read_category(
        &self,
        category: &[u8],
        from: u64,
        direction: Direction,
        max: usize,
    ) -> Vec<Ev> {
        let events = self
            .events()
            .filter(|e| category_of(&e.stream) == Some(category))
            .cloned()
            .collect();
        window(events, |e| e.position, from, direction, max)
    }

    fn info(&self, stream: &[u8]) -> Result<StreamInfo, ModelErr> {
        let state = self
            .stream(stream)
            .ok_or_else(|| ModelErr::NotFound(stream.to_vec()))?;
        Ok(StreamInfo {
            revision: state.current().map(Revision),
            truncate_before: Revision(state.truncate_before),
            deleted: state.deleted,
        })
    }

    /// The record counts a power loss may leave: the durable ones plus each prefix of
    /// the later appends.
    fn allowed_after_crash(&self) -> Vec<usize> {
        let mut allowed = vec![self.synced];
        let mut total = self.synced;
        for &n in &self.unsynced_appends {
            total += n;
            allowed.push(total);
        }
        allowed
    }
}

// ---------------------------------------------------------------------------------------
// The harness.
// ---------------------------------------------------------------------------------------

struct Harness {
    storage: SimStorage,
    store: Option<EventStore>,
    model: Model,
    /// One stream handle per stream, made on the first store and kept across crashes,
    /// reopens and checkpoints: their remembered index ids go stale and must be caught.
    handles: HashMap<Bytes, StreamHandle>,
}

impl Harness {
    fn new() -> Harness {
        let storage = SimStorage::new();
        let store = open(&storage);
        Harness {
            storage,
            store: Some(store),
            model: Model::default(),
            handles: HashMap::new(),
        }
    }

    fn store(&self) -> &EventStore {
        self.store.as_ref().expect("store is open")
    }

    /// Checks read events against the model's, learning (then checking) timestamps.
    fn check_events(&mut self, got: &[RecordedEvent], want: &[Ev], what: &str) {
        let got_plain: Vec<Ev> = got
            .iter()
            .zip(want)
            .map(|(e, w)| Ev {
                stream: e.stream.clone(),
                revision: e.revision.0,
                position: e.position.0,
                event_type: e.event_type.clone(),
                id: e.id,
                metadata: e.metadata.clone(),
                data: e.data.clone(),
                // Reads do not say which append an event came from.
                part: w.part,
            })
            .collect();
        assert_eq!(got.len(), want.len(), "{what}: event count");
        assert_eq!(got_plain, want, "{what}");
        for e in got {
            let known = *self
                .model
                .timestamps
                .entry(e.position.0)
                .or_insert(e.timestamp_ns);
            assert_eq!(
                known, e.timestamp_ns,
                "{what}: timestamp of {} changed",
                e.position
            );
        }
    }

    fn check_result<T: std::fmt::Debug + PartialEq>(
        &self,
        got: &annal::Result<T>,
        want: &Result<T, ModelErr>,
        what: &str,
    ) -> bool {
        match (got, want) {
            (Ok(g), Ok(w)) => {
                assert_eq!(g, w, "{what}");
                true
            }
            (Err(g), Err(w)) => {
                assert_eq!(&model_err(g), w, "{what}: {g}");
                false
            }
            (Ok(g), Err(w)) => panic!("{what}: store returned {g:?}, model expected {w:?}"),
            (Err(g), Ok(w)) => panic!("{what}: store failed with {g}, model expected {w:?}"),
        }
    }

    fn check_reads(
        &mut self,
        got: annal::Result<Vec<RecordedEvent>>,
        want: Result<Vec<Ev>, ModelErr>,
        what: &str,
    ) {
        match (got, want) {
            (Ok(g), Ok(w)) => self.check_events(&g, &w, what),
            (Err(g), Err(w)) => assert_eq!(model_err(&g), w, "{what}: {g}"),
            (Ok(g), Err(w)) => panic!(
                "{what}: store read {} events, model expected {w:?}",
                g.len()
            ),
            (Err(g), Ok(w)) => panic!(
                "{what}: store failed with {g}, model expected {} events",
                w.len()
            ),
        }
    }

    fn resolve_expect(&self, stream: &[u8], expect: Expect) -> ExpectedRevision {
        let current = self.model.stream(stream).and_then(|s| s.current());
        match expect {
            Expect::Any => ExpectedRevision::Any,
            Expect::NoStream => ExpectedRevision::NoStream,
            Expect::StreamExists => ExpectedRevision::StreamExists,
            Expect::ExactCurrent => current.map_or(ExpectedRevision::NoStream, |r| {
                ExpectedRevision::Exact(Revision(r))
            }),
            Expect::ExactOff(n) => {
                let off = 1 + u64::from(n % 4);
                let c = current.unwrap_or(0);
                ExpectedRevision::Exact(Revision(if n.is_multiple_of(2) || c < off {
                    c + off
                } else {
                    c - off
                }))
            }
            Expect::ExactAt(i) => ExpectedRevision::Exact(Revision(EXACT_VALUES[i as usize])),
        }
    }

    fn send(&mut self, appends: Vec<StreamAppend>, durability: Durability) {
        let want = self.model.append(&appends, durability);
        // A single part goes through the borrowing `append_from_slice` or through the
        // stream's handle two times in three: every entry point (and the fused
        // single-event path, with and without a handle's remembered ids) must answer as
        // the model.
        let got = match &appends[..] {
            [part] if self.model.len().is_multiple_of(3) => self
                .store()
                .append_from_slice(&part.stream, part.expected, &part.events, durability)
                .map(|result| vec![result]),
            [part] if self.model.len() % 3 == 1 => {
                let store = self.store.as_ref().expect("store is open");
                let handle = self
                    .handles
                    .entry(part.stream.clone())
                    .or_insert_with(|| store.stream_handle(&part.stream).expect("a valid name"));
                store
                    .append_to(handle, part.expected, &part.events, durability)
                    .map(|result| vec![result])
            }
            _ => self.store().append_multi(&appends, durability),
        };
        self.check_result(
            &got,
            &want,
            &format!("append_multi {appends:?} {durability:?}"),
        );
        assert_eq!(
            self.store().log_next_position().0,
            self.model.len(),
            "positions after an append"
        );
        self.model.sent.push(appends);
    }

    fn append(&mut self, parts: &[PartSpec], durability: Durability) {
        let mut appends = Vec::new();
        for part in parts {
            let stream = Bytes::from_static(STREAMS[part.stream].as_bytes());
            let expected = self.resolve_expect(&stream, part.expect);
            let events = (0..part.events)
                .map(|i| {
                    let id = match part.ids {
                        Ids::None => None,
                        Ids::Fresh => Some(self.model.fresh_id()),
                        Ids::Mixed => i.is_multiple_of(2).then(|| self.model.fresh_id()),
                    };
                    self.model.new_event(id)
                })
                .collect();
            appends.push(StreamAppend {
                stream,
                expected,
                events,
            });
        }
        self.send(appends, durability);
    }

    fn earlier(&self, pick: u64) -> Option<Vec<StreamAppend>> {
        if self.model.sent.is_empty() {
            return None;
        }
        Some(self.model.sent[(pick % self.model.sent.len() as u64) as usize].clone())
    }

    fn partial_retry(&mut self, pick: u64, mode: u8, durability: Durability) {
        let Some(mut appends) = self.earlier(pick) else {
            return;
        };
        let which = (pick / 7) as usize % appends.len();
        match mode {
            0 => {
                let fresh = self.model.fresh_id();
                let part = &mut appends[which];
                let last = part.events.len() - 1;
                part.events[last].id = Some(fresh);
            }
            1 => {
                let part = &mut appends[which];
                if part.events.len() > 1 {
                    part.events.pop();
                }
            }
            2 => {
                let id = Some(self.model.fresh_id());
                let event = self.model.new_event(id);
                appends[which].events.push(event);
            }
            3 => {
                let part = &mut appends[which];
                if part.events.len() > 1 {
                    part.events.remove(0);
                }
            }
            _ => appends[which].expected = ExpectedRevision::Any,
        }
        self.send(appends, durability);
    }

    /// Sends, as one append, one part of the earlier append `pick` followed by the next
    /// later append's part for the same stream (nothing if there is none).
    fn merged_retry(&mut self, pick: u64, mode: u8, durability: Durability) {
        if self.model.sent.is_empty() {
            return;
        }
        let first = (pick % self.model.sent.len() as u64) as usize;
        let which = (pick / 7) as usize % self.model.sent[first].len();
        let mut merged = self.model.sent[first][which].clone();
        let Some(second) = self.model.sent[first + 1..]
            .iter()
            .find_map(|appends| appends.iter().find(|a| a.stream == merged.stream))
        else {
            return;
        };
        merged.events.extend(second.events.iter().cloned());
        if mode == 1 {
            merged.expected = ExpectedRevision::Any;
        }
        self.send(vec![merged], durability);
    }

    fn revision_of_pick(&self, stream: &[u8], from: RevPick) -> u64 {
        match from {
            RevPick::Zero => 0,
            RevPick::Max => u64::MAX,
            RevPick::Pick(p) => {
                let top = self
                    .model
                    .stream(stream)
                    .and_then(|s| s.current())
                    .unwrap_or(0);
                p % (top + 3)
            }
        }
    }

    fn pick_position(&self, pick: u64) -> u64 {
        if pick.is_multiple_of(11) {
            u64::MAX
        } else {
            pick % (self.model.len() + 3)
        }
    }

    /// Reads the whole log to learn every event's timestamp, checking them nondecreasing.
    fn learn_timestamps(&mut self) -> Vec<(u64, u64)> {
        let got = self
            .store()
            .read_all(Position(0), Direction::Forwards, usize::MAX);
        let want = self.model.read_all(0, Direction::Forwards, usize::MAX);
        self.check_reads(got, want, "read_all to learn timestamps");
        let mut known: Vec<(u64, u64)> = self
            .model
            .events()
            .map(|e| (e.position, self.model.timestamps[&e.position]))
            .collect();
        known.sort_unstable();
        assert!(
            known.windows(2).all(|w| w[0].1 <= w[1].1),
            "timestamps decrease along the log: {known:?}"
        );
        known
    }

    fn at_time(&mut self, pick: u64, delta: i8, stream: usize, max: usize) {
        let known = self.learn_timestamps();
        let time = if known.is_empty() || pick.is_multiple_of(13) {
            [0, u64::MAX][(pick % 2) as usize]
        } else {
            let ts = known[(pick % known.len() as u64) as usize].1;
            match delta {
                -1 => ts.saturating_sub(1),
                0 => ts,
                _ => ts.saturating_add(1),
            }
        };
        // Between the last event stamped at or before `time` and the first after it lie
        // only truncations and tombstones, whose timestamps reads do not show.
        let low = known
            .iter()
            .filter(|(_, ts)| *ts <= time)
            .map(|(p, _)| p + 1)
            .max()
            .unwrap_or(0);
        let high = known
            .iter()
            .find(|(_, ts)| *ts > time)
            .map_or(self.model.len(), |(p, _)| *p);
        let position = self.store().position_after_time(time).unwrap().0;
        assert!(
            (low..=high).contains(&position),
            "position_after_time({time}) = {position}, expected within {low}..={high}"
        );
        let name = STREAMS[stream].as_bytes();
        let got = self.store().read_stream_at_time(name, time, max);
        let want = self
            .model
            .read_stream(name, 0, Direction::Forwards, max, Some(position));
        self.check_reads(got, want, &format!("read_stream_at_time {time}"));
    }

    fn crash(&mut self, mode: CrashMode) {
        let survivor = self.storage.crash(mode);
        drop(self.store.take());
        self.storage = survivor;
        self.store = Some(open(&self.storage));
        let recovered = self.store().log_next_position().0 as usize;
        let allowed = self.model.allowed_after_crash();
        assert!(
            allowed.contains(&recovered),
            "{mode:?}: recovered {recovered} records, allowed {allowed:?}"
        );
        self.model.records.truncate(recovered);
        self.model.all_synced();
        self.model.timestamps.retain(|&p, _| p < recovered as u64);
        self.check_everything("after a crash");
    }

    fn check_everything(&mut self, when: &str) {
        assert_eq!(
            self.store().log_next_position().0,
            self.model.len(),
            "{when}"
        );
        self.learn_timestamps();
        for name in STREAMS {
            let name = name.as_bytes();
            let got = self.store().stream_info(name);
            let want = self.model.info(name);
            self.check_result(&got, &want, &format!("{when}: stream_info"));
            let got = self
                .store()
                .read_stream(name, Revision(0), Direction::Forwards, usize::MAX);
            let want = self
                .model
                .read_stream(name, 0, Direction::Forwards, usize::MAX, None);
            self.check_reads(got, want, &format!("{when}: whole stream"));
        }
        for category in CATEGORIES {
            let category = category.as_bytes();
            let got =
                self.store()
                    .read_category(category, Position(0), Direction::Forwards, usize::MAX);
            let want = self
                .model
                .read_category(category, 0, Direction::Forwards, usize::MAX);
            self.check_reads(got, Ok(want), &format!("{when}: whole category"));
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(parts, durability) => self.append(parts, *durability),
            Op::Retry(pick, durability) => {
                if let Some(appends) = self.earlier(*pick) {
                    self.send(appends, *durability);
                }
            }
            Op::PartialRetry(pick, mode, durability) => {
                self.partial_retry(*pick, *mode, *durability)
            }
            Op::MergedRetry(pick, mode, durability) => self.merged_retry(*pick, *mode, *durability),
            Op::ReadStream(stream, from, direction, max) => {
                let name = STREAMS[*stream].as_bytes();
                let from = self.revision_of_pick(name, *from);
                let got = self
                    .store()
                    .read_stream(name, Revision(from), *direction, *max);
                let want = self.model.read_stream(name, from, *direction, *max, None);
                self.check_reads(
                    got,
                    want,
                    &format!("read_stream {from} {direction:?} {max}"),
                );
            }
            Op::ReadStreamAsOf(stream, pick, from, direction, max) => {
                let name = STREAMS[*stream].as_bytes();
                let as_of = self.pick_position(*pick);
                let from = self.revision_of_pick(name, *from);
                let got = self.store().read_stream_as_of(
                    name,
                    Position(as_of),
                    Revision(from),
                    *direction,
                    *max,
                );
                let want = self
                    .model
                    .read_stream(name, from, *direction, *max, Some(as_of));
                self.check_reads(
                    got,
                    want,
                    &format!("read_stream_as_of {as_of} {from} {direction:?} {max}"),
                );
            }
            Op::ReadAll(pick, direction, max) => {
                let from = self.pick_position(*pick);
                let got = self.store().read_all(Position(from), *direction, *max);
                let want = self.model.read_all(from, *direction, *max);
                self.check_reads(got, want, &format!("read_all {from} {direction:?} {max}"));
            }
            Op::ReadCategory(category, pick, direction, max) => {
                let category = CATEGORIES[*category].as_bytes();
                let from = self.pick_position(*pick);
                let got = self
                    .store()
                    .read_category(category, Position(from), *direction, *max);
                let want = self.model.read_category(category, from, *direction, *max);
                self.check_reads(
                    got,
                    Ok(want),
                    &format!("read_category {from} {direction:?} {max}"),
                );
            }
            Op::Info(stream) => {
                let name = STREAMS[*stream].as_bytes();
                let got = self.store().stream_info(name);
                let want = self.model.info(name);
                self.check_result(&got, &want, "stream_info");
            }
            Op::AtTime(pick, delta, stream, max) => self.at_time(*pick, *delta, *stream, *max),
            Op::Truncate(stream, pick) => {
                let name = STREAMS[*stream].as_bytes();
                let before = self.revision_of_pick(name, RevPick::Pick(*pick));
                let want = self.model.lifecycle(
                    name,
                    Rec::Truncate(Bytes::from_static(STREAMS[*stream].as_bytes()), before),
                );
                let got = self.store().truncate_stream(name, Revision(before));
                self.check_result(&got, &want, &format!("truncate_stream {before}"));
            }
            Op::Delete(stream) => {
                let name = STREAMS[*stream].as_bytes();
                let want = self.model.lifecycle(
                    name,
                    Rec::Tombstone(Bytes::from_static(STREAMS[*stream].as_bytes())),
                );
                let got = self.store().delete_stream(name);
                self.check_result(&got, &want, "delete_stream");
            }
            Op::Checkpoint => {
                self.store().checkpoint().unwrap();
                self.model.all_synced();
            }
            Op::Reopen => {
                self.store.take().expect("open").close().unwrap();
                self.model.all_synced();
                self.store = Some(open(&self.storage));
                self.check_everything("after a reopen");
            }
            Op::CrashDrop => self.crash(CrashMode::DropUnsynced),
            Op::CrashTear(seed) => self.crash(CrashMode::TearUnsynced { seed: *seed }),
        }
        assert_eq!(
            self.store().log_next_position().0,
            self.model.len(),
            "after {op:?}"
        );
    }
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
