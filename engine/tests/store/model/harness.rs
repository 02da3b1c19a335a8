//! The harness of the store model test: applies each operation to the `EventStore` on
//! `SimStorage` and to the reference model, and checks them against each other after
//! every step.

use super::reference::*;
use super::*;

pub(super) struct Harness {
    storage: SimStorage,
    store: Option<EventStore>,
    model: Model,
    /// One stream handle per stream, made on the first store and kept across crashes,
    /// reopens and checkpoints: their remembered index ids go stale and must be caught.
    handles: HashMap<Bytes, StreamHandle>,
}

impl Harness {
    pub(super) fn new() -> Harness {
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

    pub(super) fn check_everything(&mut self, when: &str) {
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

    pub(super) fn apply(&mut self, op: &Op) {
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
