//! The operation-sequence target: bytes decoded into appends (every expectation kind,
//! with and without ids, single- and multi-stream), retries of earlier appends, reads of
//! every kind, truncations, deletions, checkpoints, clean reopens and simulated power
//! losses, run on an `EventStore` over `SimStorage` and checked after every step against
//! the in-memory model (`model.rs`).

use std::sync::Arc;

use super::checks::{check_events, check_result, same_error};
use super::model::{event_id, Entry, Model, ModelEvent, Prediction, STREAMS};
use crate::error::Error;
use crate::io::{CrashMode, SimStorage};
use crate::log::Visibility;
use crate::name::Name;
use crate::options::{Durability, Options};
use crate::position::{ExpectedRevision, Position, Revision};
use crate::stream::{Direction, EventStore, NewEvent, StreamAppend, StreamInfo, WriteResult};
use crate::stream::{StoreFilter, StoreSubscriptionOptions};

mod recombined;

const STORE_DIR: &str = "/fuzz/operations";
const SEGMENT_BYTES: u64 = 64 << 10;
/// Operations decoded from one input at most.
const OPS_MAX: usize = 64;
/// Reopens and crashes in one input at most (each costs an open).
const REOPENS_MAX: usize = 6;
const CATEGORIES: [&str; 3] = ["order", "cust", "nope"];
const MAX_COUNTS: [usize; 5] = [0, 1, 2, 5, usize::MAX];
/// Added to the number of a multi-stream append's part to tag its events.
const MULTI_TAG: usize = 1 << 40;

/// One single-stream append, kept so that it can be sent again as a retry.
#[derive(Debug, Clone)]
struct Attempt {
    stream: usize,
    expected: ExpectedRevision,
    events: Vec<NewEvent>,
    with_ids: bool,
    durability: Durability,
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    /// A parameter byte: zero once the input is used up.
    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }
}

struct Run {
    storage: SimStorage,
    store: Option<EventStore>,
    model: Model,
    attempts: Vec<Attempt>,
    /// Appends made so far (single or multi), numbering their events' data and ids.
    appends: usize,
    reopens: usize,
}

fn open(storage: &SimStorage) -> EventStore {
    EventStore::open_with_storage(
        STORE_DIR,
        Options::default().segment_bytes(SEGMENT_BYTES),
        Arc::new(storage.clone()),
    )
    .unwrap_or_else(|e| panic!("the store does not open: {e}"))
}

fn expectation(byte: u8, current: Option<u64>) -> ExpectedRevision {
    let k = u64::from(byte / 6 % 3);
    match byte % 6 {
        0 => ExpectedRevision::Any,
        1 => ExpectedRevision::NoStream,
        2 => ExpectedRevision::StreamExists,
        3 => current.map_or(ExpectedRevision::NoStream, |r| {
            ExpectedRevision::Exact(Revision(r))
        }),
        4 => ExpectedRevision::Exact(Revision(current.map_or(k, |c| c + 1 + k))),
        _ => ExpectedRevision::Exact(Revision(u64::MAX)),
    }
}

fn durability(byte: u8) -> Durability {
    if byte & 8 != 0 {
        Durability::Synced
    } else {
        Durability::Written
    }
}

/// `count` events tagged `tag` (in their ids and data).
fn new_events(tag: usize, count: usize, with_ids: bool) -> Vec<NewEvent> {
    (0..count)
        .map(|i| NewEvent {
            id: with_ids.then(|| event_id(tag, i)),
            event_type: format!("T{i}").into(),
            data: format!("{tag}:{i}").into(),
            metadata: if i % 2 == 1 {
                "m".into()
            } else {
                Default::default()
            },
        })
        .collect()
}

impl Run {
    fn store(&self) -> &EventStore {
        self.store.as_ref().expect("the store is open")
    }

    fn all_durable(&mut self) {
        self.model.durable = self.model.entries.len();
    }

    fn model_events(
        &self,
        stream: usize,
        first: u64,
        position: u64,
        events: &[NewEvent],
    ) -> Vec<ModelEvent> {
        events
            .iter()
            .enumerate()
            .map(|(i, event)| ModelEvent {
                stream,
                revision: first + i as u64,
                position: position + i as u64,
                event: event.clone(),
            })
            .collect()
    }

    /// Sends attempt `n` (first time or again) and checks the outcome.
    fn send(&mut self, n: usize) {
        let attempt = self.attempts[n].clone();
        let prediction =
            self.model
                .predict(attempt.stream, attempt.expected, attempt.with_ids, Some(n));
        let before = self.model.next_position();
        let result = self.store().append(
            STREAMS[attempt.stream],
            attempt.expected,
            attempt.events.clone(),
            attempt.durability,
        );
        let synced = attempt.durability == Durability::Synced;
        match prediction {
            Prediction::Fails(expected) => match result {
                Err(actual) if same_error(&actual, &expected) => {}
                other => panic!("append {n}: {other:?} instead of {expected}"),
            },
            Prediction::Retry(original) => {
                assert_eq!(result.ok(), Some(original), "retry of append {n}");
                if synced {
                    self.all_durable();
                }
            }
            Prediction::RetryOrRefused(original) => match result {
                Ok(found) => {
                    assert_eq!(found, original, "retry of append {n}");
                    if synced {
                        self.all_durable();
                    }
                }
                Err(Error::IdempotencyConflict { .. } | Error::WrongExpectedRevision { .. }) => {}
                Err(other) => panic!("retry of append {n}: {other}"),
            },
            Prediction::Append { current } => {
                let first = current.map_or(0, |c| c + 1);
                let count = attempt.events.len() as u64;
                let expected = WriteResult {
                    first_revision: Revision(first),
                    last_revision: Revision(first + count - 1),
                    first_position: Position(before),
                    last_position: Position(before + count - 1),
                };
                match result {
                    Ok(found) => assert_eq!(found, expected, "append {n}"),
                    Err(e) => panic!("append {n} failed: {e}"),
                }
                let events = self.model_events(attempt.stream, first, before, &attempt.events);
                self.model.entries.push(Entry::Events {
                    events,
                    attempt: Some(n),
                });
                if synced {
                    self.all_durable();
                }
            }
        }
        assert_eq!(
            self.store().log_next_position(),
            Position(self.model.next_position())
        );
    }

    fn append(&mut self, input: &mut Input<'_>) {
        let stream = usize::from(input.byte()) % STREAMS.len();
        let current = self.model.stream(stream).revision;
        let expected = expectation(input.byte(), current);
        let shape = input.byte();
        let with_ids = shape & 4 != 0;
        self.appends += 1;
        self.attempts.push(Attempt {
            stream,
            expected,
            events: new_events(self.appends, 1 + usize::from(shape % 3), with_ids),
            with_ids,
            durability: durability(shape),
        });
        self.send(self.attempts.len() - 1);
    }

    fn retry(&mut self, input: &mut Input<'_>) {
        let back = usize::from(input.byte());
        if self.attempts.is_empty() {
            return;
        }
        let n = self.attempts.len() - 1 - back % self.attempts.len().min(8);
        self.send(n);
    }

    fn append_multi(&mut self, input: &mut Input<'_>) {
        let pick = usize::from(input.byte());
        let first_stream = pick % STREAMS.len();
        let streams = [
            first_stream,
            (first_stream + 1 + pick / 4 % 3) % STREAMS.len(),
        ];
        let shape = input.byte();
        self.appends += 1;
        let mut appends = Vec::new();
        let mut parts = Vec::new();
        for (k, &stream) in streams.iter().enumerate() {
            let current = self.model.stream(stream).revision;
            let expected = expectation(input.byte(), current);
            let with_ids = shape & (1 << k) != 0;
            // Ids of multi-stream appends live apart from single appends' (never retried).
            let tag = MULTI_TAG + self.appends * 2 + k;
            let events = new_events(tag, 1 + usize::from(shape >> 4 >> k & 1), with_ids);
            parts.push((stream, self.model.predict(stream, expected, with_ids, None)));
            appends.push(StreamAppend {
                stream: STREAMS[stream].into(),
                expected,
                events,
            });
        }
        let durability = durability(shape);
        let result = self.store().append_multi(&appends, durability);
        let failure = parts.iter().find_map(|(_, p)| match p {
            Prediction::Fails(e) => Some(e),
            _ => None,
        });
        if let Some(expected) = failure {
            match result {
                Err(actual) if same_error(&actual, expected) => {}
                other => panic!("multi-stream append: {other:?} instead of {expected}"),
            }
        } else {
            let mut position = self.model.next_position();
            let mut events = Vec::new();
            let mut expected = Vec::new();
            for ((stream, prediction), append) in parts.iter().zip(&appends) {
                let Prediction::Append { current } = prediction else {
                    unreachable!("fresh appends are never retries")
                };
                let first = current.map_or(0, |c| c + 1);
                let count = append.events.len() as u64;
                expected.push(WriteResult {
                    first_revision: Revision(first),
                    last_revision: Revision(first + count - 1),
                    first_position: Position(position),
                    last_position: Position(position + count - 1),
                });
                events.extend(self.model_events(*stream, first, position, &append.events));
                position += count;
            }
            match result {
                Ok(found) => assert_eq!(found, expected, "multi-stream append"),
                Err(e) => panic!("multi-stream append failed: {e}"),
            }
            self.model.entries.push(Entry::Events {
                events,
                attempt: None,
            });
            if durability == Durability::Synced {
                self.all_durable();
            }
        }
        assert_eq!(
            self.store().log_next_position(),
            Position(self.model.next_position())
        );
    }

    fn lifecycle(&mut self, input: &mut Input<'_>, tombstone: bool) {
        let pick = input.byte();
        let stream = usize::from(pick) % STREAMS.len();
        let before = [0, 1, 2, 3, 40, u64::MAX][usize::from(pick / 4) % 6];
        let name = STREAMS[stream].as_bytes();
        let result = if tombstone {
            self.store().delete_stream(name)
        } else {
            self.store().truncate_stream(name, Revision(before))
        };
        let state = self.model.stream(stream);
        let expected = if !state.exists {
            Some(Error::StreamNotFound {
                stream: Name::from(name),
            })
        } else if state.deleted {
            Some(Error::StreamDeleted {
                stream: Name::from(name),
            })
        } else {
            None
        };
        match (result, expected) {
            (Ok(()), None) => {
                self.model.entries.push(if tombstone {
                    Entry::Tombstone { stream }
                } else {
                    Entry::Truncate { stream, before }
                });
                self.all_durable();
            }
            (Err(actual), Some(expected)) if same_error(&actual, &expected) => {}
            (actual, expected) => {
                panic!("lifecycle of {stream}: {actual:?} instead of {expected:?}")
            }
        }
    }

    fn read_stream(&mut self, input: &mut Input<'_>) {
        let pick = input.byte();
        let stream = usize::from(pick) % STREAMS.len();
        let from = [0, 1, 2, 5, 33, u64::MAX][usize::from(pick / 4) % 6];
        let direction = if pick & 0x80 != 0 {
            Direction::Backwards
        } else {
            Direction::Forwards
        };
        let max = MAX_COUNTS[usize::from(input.byte()) % MAX_COUNTS.len()];
        let actual =
            self.store()
                .read_stream(STREAMS[stream].as_bytes(), Revision(from), direction, max);
        let expected = self.model.read_stream(stream, from, direction, max);
        check_result("read_stream", actual, expected);
    }

    fn position_pick(&self, byte: u8) -> u64 {
        let next = self.model.next_position();
        [0, 1, 3, next.saturating_sub(1), next, next + 1, u64::MAX][usize::from(byte) % 7]
    }

    fn read_all(&mut self, input: &mut Input<'_>) {
        let pick = input.byte();
        let from = self.position_pick(pick);
        let direction = if pick & 0x80 != 0 {
            Direction::Backwards
        } else {
            Direction::Forwards
        };
        let max = MAX_COUNTS[usize::from(input.byte()) % MAX_COUNTS.len()];
        let actual = self.store().read_all(Position(from), direction, max);
        let expected = if direction == Direction::Forwards && from > self.model.next_position() {
            Err(Error::PositionOutOfRange {
                position: Position(from),
                first: Position(0),
                next: Position(self.model.next_position()),
            })
        } else {
            Ok(Model::read_positions(
                self.model.events(),
                from,
                direction,
                max,
            ))
        };
        check_result("read_all", actual, expected);
    }

    fn read_category(&mut self, input: &mut Input<'_>) {
        let pick = input.byte();
        let category = CATEGORIES[usize::from(pick) % CATEGORIES.len()];
        let from = self.position_pick(pick / 4);
        let direction = if pick & 0x80 != 0 {
            Direction::Backwards
        } else {
            Direction::Forwards
        };
        let max = MAX_COUNTS[usize::from(input.byte()) % MAX_COUNTS.len()];
        let actual =
            self.store()
                .read_category(category.as_bytes(), Position(from), direction, max);
        let expected =
            Model::read_positions(self.model.category_events(category), from, direction, max);
        check_result("read_category", actual, Ok(expected));
    }

    /// Subscribes from a position (all events, or one category), drains what is there
    /// and checks it against the model: every event once, in order, no lifecycle record.
    fn subscribe(&mut self, input: &mut Input<'_>) {
        let pick = input.byte();
        let from = self.position_pick(pick).min(self.model.next_position());
        let category = (pick & 0x80 != 0).then(|| CATEGORIES[usize::from(pick) % CATEGORIES.len()]);
        let filter = category.map_or(StoreFilter::All, |c| {
            StoreFilter::Category(c.as_bytes().to_vec().into())
        });
        let options = StoreSubscriptionOptions::default()
            .visibility(Visibility::Written)
            .filter(filter);
        let mut subscription = self
            .store()
            .subscribe(Position(from), options)
            .unwrap_or_else(|e| panic!("subscribe from {from}: {e}"));
        let mut actual = Vec::new();
        while let Some(event) = subscription
            .try_next()
            .unwrap_or_else(|e| panic!("subscription from {from}: {e}"))
        {
            actual.push(event);
        }
        let expected = match category {
            Some(c) => Model::read_positions(
                self.model.category_events(c),
                from,
                Direction::Forwards,
                usize::MAX,
            ),
            None => {
                Model::read_positions(self.model.events(), from, Direction::Forwards, usize::MAX)
            }
        };
        check_events("subscription", &actual, &expected);
    }

    fn check_info(&self) {
        for (stream, name) in STREAMS.iter().enumerate() {
            let state = self.model.stream(stream);
            let info = self.store().stream_info(name.as_bytes());
            if state.exists {
                let expected = StreamInfo {
                    revision: state.revision.map(Revision),
                    truncate_before: Revision(state.truncate_before),
                    deleted: state.deleted,
                };
                assert_eq!(info.ok(), Some(expected), "stream_info of {name}");
            } else {
                assert!(
                    matches!(info, Err(Error::StreamNotFound { .. })),
                    "stream_info of unknown {name}: {info:?}"
                );
            }
            assert_eq!(
                self.store().stream_revision(name.as_bytes()),
                state.revision.map(Revision)
            );
        }
        let next = Position(self.model.next_position());
        let first_stamped = if self.model.entries.is_empty() {
            next
        } else {
            Position(0)
        };
        assert_eq!(
            self.store().position_after_time(0).ok(),
            Some(first_stamped)
        );
        assert_eq!(self.store().position_after_time(u64::MAX).ok(), Some(next));
    }

    /// Everything the store holds against the model.
    fn check_all(&self) {
        assert_eq!(
            self.store().log_next_position(),
            Position(self.model.next_position())
        );
        self.check_info();
        for (stream, name) in STREAMS.iter().enumerate() {
            let actual = self.store().read_stream(
                name.as_bytes(),
                Revision(0),
                Direction::Forwards,
                usize::MAX,
            );
            let expected = self
                .model
                .read_stream(stream, 0, Direction::Forwards, usize::MAX);
            check_result("full read_stream", actual, expected);
        }
        let all = self
            .store()
            .read_all(Position(0), Direction::Forwards, usize::MAX);
        let expected =
            Model::read_positions(self.model.events(), 0, Direction::Forwards, usize::MAX);
        check_result("full read_all", all, Ok(expected));
    }

    fn reopen(&mut self) {
        let store = self.store.take().expect("the store is open");
        store
            .close()
            .unwrap_or_else(|e| panic!("close failed: {e}"));
        self.all_durable();
        self.store = Some(open(&self.storage));
        self.check_all();
    }

    fn crash(&mut self, mode: CrashMode) {
        let survivor = self.storage.crash(mode);
        drop(self.store.take());
        self.storage = survivor;
        self.store = Some(open(&self.storage));
        let next = self.store().log_next_position().0;
        let mut end = 0;
        let mut kept = None;
        for k in 0..=self.model.entries.len() {
            if end == next {
                kept = Some(k);
                break;
            }
            if let Some(entry) = self.model.entries.get(k) {
                end += match entry {
                    Entry::Events { events, .. } => events.len() as u64,
                    _ => 1,
                };
            }
        }
        let kept = kept.unwrap_or_else(|| panic!("a crash left position {next}, inside an append"));
        assert!(
            kept >= self.model.durable,
            "a crash lost durable appends: {kept} of {} kept",
            self.model.durable
        );
        self.model.keep(kept);
        self.check_all();
    }
}

/// The operation-sequence target. Input: one byte per operation, each followed by its
/// parameter bytes.
pub fn operations(data: &[u8]) {
    let mut input = Input(data);
    let storage = SimStorage::new();
    let mut run = Run {
        store: Some(open(&storage)),
        storage,
        model: Model::default(),
        attempts: Vec::new(),
        appends: 0,
        reopens: 0,
    };
    for _ in 0..OPS_MAX {
        let Some(op) = input.next() else { break };
        match op % 16 {
            0..=3 => run.append(&mut input),
            4 => run.retry(&mut input),
            5 => run.retry_or_recombine(&mut input),
            6 => run.append_multi(&mut input),
            7 => run.read_stream(&mut input),
            8 => run.read_all(&mut input),
            9 => run.read_category(&mut input),
            10 => run.lifecycle(&mut input, false),
            11 => run.lifecycle(&mut input, true),
            12 => {
                run.store()
                    .checkpoint()
                    .unwrap_or_else(|e| panic!("checkpoint: {e}"));
                run.all_durable();
            }
            13 => {
                run.check_info();
                run.subscribe(&mut input);
            }
            14 | 15 if run.reopens < REOPENS_MAX => {
                run.reopens += 1;
                match (op % 16, input.byte()) {
                    (14, _) => run.reopen(),
                    (_, 0) => run.crash(CrashMode::DropUnsynced),
                    (_, seed) => run.crash(CrashMode::TearUnsynced {
                        seed: u64::from(seed),
                    }),
                }
            }
            _ => {}
        }
    }
    run.check_all();
    let store = run.store.take().expect("the store is open");
    store
        .close()
        .unwrap_or_else(|e| panic!("close failed: {e}"));
}
