//! The reference model of the store test: the log as a list of records (events,
//! truncations, tombstones), with every stream, category and id fact derived from it,
//! and what the store must answer for each operation.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ev {
    pub(super) stream: Bytes,
    pub(super) revision: u64,
    pub(super) position: u64,
    pub(super) event_type: Bytes,
    pub(super) id: Option<EventId>,
    pub(super) metadata: Bytes,
    pub(super) data: Bytes,
    /// The position of the first event of the append's part for this stream: which
    /// append it came from.
    pub(super) part: u64,
}

#[derive(Debug, Clone)]
pub(super) enum Rec {
    Event(Ev),
    Truncate(Bytes, u64),
    Tombstone(Bytes),
}

/// An error, as far as the model predicts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ModelErr {
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

pub(super) fn model_err(e: &Error) -> ModelErr {
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
pub(super) struct StreamState {
    pub(super) events: Vec<Ev>,
    pub(super) truncate_before: u64,
    pub(super) deleted: bool,
}

impl StreamState {
    pub(super) fn current(&self) -> Option<u64> {
        self.events.last().map(|e| e.revision)
    }

    /// Whether revisions `first..first + count` are exactly one earlier append's part:
    /// a retry must match one append, not two, nor a piece of one.
    pub(super) fn is_one_append(&self, first: u64, count: usize) -> bool {
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

pub(super) enum Plan {
    Retry(WriteResult),
    Append(Option<u64>),
}

pub(super) fn result_of(first: &Ev, last: &Ev) -> WriteResult {
    WriteResult {
        first_revision: Revision(first.revision),
        last_revision: Revision(last.revision),
        first_position: Position(first.position),
        last_position: Position(last.position),
    }
}

pub(super) fn category_of(stream: &[u8]) -> Option<&[u8]> {
    let dash = stream.iter().position(|&b| b == b'-')?;
    Some(&stream[..dash])
}

/// Applies a read window to events in ascending order of `key`.
pub(super) fn window(
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
pub(super) struct Model {
    pub(super) records: Vec<Rec>,
    /// Records below this index are durable.
    pub(super) synced: usize,
    /// Record counts of the appends made after `synced`, in order.
    pub(super) unsynced_appends: Vec<usize>,
    /// Every append sent, for retries.
    pub(super) sent: Vec<Vec<StreamAppend>>,
    /// Timestamps learned from reads, by position.
    pub(super) timestamps: HashMap<u64, u64>,
    pub(super) next_id: u64,
    pub(super) next_event: u64,
}

impl Model {
    pub(super) fn len(&self) -> u64 {
        self.records.len() as u64
    }

    pub(super) fn events(&self) -> impl Iterator<Item = &Ev> {
        self.records.iter().filter_map(|r| match r {
            Rec::Event(e) => Some(e),
            _ => None,
        })
    }

    pub(super) fn stream(&self, name: &[u8]) -> Option<StreamState> {
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
    pub(super) fn id_map(&self) -> HashMap<EventId, Ev> {
        let mut map = HashMap::new();
        for e in self.events() {
            if let Some(id) = e.id {
                map.insert(id, e.clone());
            }
        }
        map
    }

    pub(super) fn fresh_id(&mut self) -> EventId {
        self.next_id += 1;
        let mut id = [0xA5u8; 16];
        id[..8].copy_from_slice(&self.next_id.to_le_bytes());
        id
    }

    pub(super) fn new_event(&mut self, id: Option<EventId>) -> NewEvent {
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

    pub(super) fn check_input(appends: &[StreamAppend]) -> Result<(), ModelErr> {
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
    pub(super) fn visible_from(&self, state: &StreamState, from: u64, max: usize) -> Vec<Ev> {
        let low = from.max(state.truncate_before);
        state
            .events
            .iter()
            .filter(|e| e.revision >= low)
            .take(max)
            .cloned()
            .collect()
    }

    pub(super) fn plan(&self, append: &StreamAppend) -> Result<Plan, ModelErr> {
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
    pub(super) fn append(
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

    pub(super) fn appended(&mut self, records: usize, durability: Durability) {
        self.unsynced_appends.push(records);
        if durability == Durability::Synced {
            self.all_synced();
        }
    }

    pub(super) fn all_synced(&mut self) {
        self.synced = self.records.len();
        self.unsynced_appends.clear();
    }

    pub(super) fn lifecycle(&mut self, stream: &[u8], record: Rec) -> Result<(), ModelErr> {
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

    pub(super) fn read_stream(
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

    pub(super) fn read_all(
        &self,
        from: u64,
        direction: Direction,
        max: usize,
    ) -> Result<Vec<Ev>, ModelErr> {
        if direction == Direction::Forwards && from > self.len() {
            return Err(ModelErr::OutOfRange);
        }
        let events = self.events().cloned().collect();
        Ok(window(events, |e| e.position, from, direction, max))
    }

    pub(super) fn read_category(
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

    pub(super) fn info(&self, stream: &[u8]) -> Result<StreamInfo, ModelErr> {
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
    pub(super) fn allowed_after_crash(&self) -> Vec<usize> {
        let mut allowed = vec![self.synced];
        let mut total = self.synced;
        for &n in &self.unsynced_appends {
            total += n;
            allowed.push(total);
        }
        allowed
    }
}
