//! The event store's full verification ([`EventStore::verify`]): the log's (every record,
//! every consumer file), then the index — rebuilt from the log's events and compared
//! with the index checkpoint file and with the index the store reads from — and every
//! event's envelope and back-link checked on the way. Nothing is written.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::EventStore;
use crate::error::Result;
use crate::format::envelope::{decode, Kind, SAME_RECORD};
use crate::index::{checkpoint, Index};
use crate::log::{VerifyProblemKind, VerifyProgress, VerifyReport, VerifyStage};
use crate::position::{Location, Position};

/// Problems of one kind (events, index) listed before the rest are only counted.
const PROBLEMS_LISTED_MAX: usize = 20;

/// Events between two progress reports of the index stage.
const PROGRESS_EVERY_EVENTS: u64 = 64 << 10;

impl EventStore {
    /// Checks the whole store without writing anything: everything [`crate::Log::verify`]
    /// checks, then every event's envelope (it decodes, its revision and its back-link
    /// follow on from the previous event of its stream), and the index — rebuilt from
    /// the log and compared with the index checkpoint file and with the index this handle
    /// reads from. Each problem names its file and, where there is one, its offset or
    /// position. Works on a store opened read-only (another process may be writing it).
    /// When retention removed the log's first events, the rebuild starts from the index
    /// checkpoint instead (there is nothing before it to rebuild from).
    ///
    /// ```
    /// use annal::{Durability, EventStore, ExpectedRevision, NewEvent, Options};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = EventStore::open(dir.path(), Options::default())?;
    /// store.append("order-1", ExpectedRevision::NoStream, vec![NewEvent::new("Placed", "")], Durability::Synced)?;
    /// let report = store.verify(&mut |_progress| {})?;
    /// assert!(report.is_clean(), "{report:?}");
    /// assert_eq!(report.streams_checked, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self, progress: &mut dyn FnMut(VerifyProgress)) -> Result<VerifyReport> {
        let log = &self.core.log;
        let mut report = log.verify(progress)?;
        let dir = log.dir().to_path_buf();
        let checkpoint_path = dir.join(checkpoint::CHECKPOINT_FILE_NAME);
        let saved = read_checkpoint(&checkpoint_path, log.epoch(), &mut report);
        let first = log.first_position().0;
        let saved = saved.filter(|index| {
            let fits = index.through >= first && index.through <= log.next_position().0;
            if !fits {
                report.push(
                    VerifyProblemKind::IndexCheckpoint,
                    checkpoint_path.clone(),
                    None,
                    Some(index.through),
                    "index checkpoint is not within the log (the log lost its tail, or \
                     retention passed it)",
                );
            }
            fits
        });
        let (mut rebuilt, compare_saved) = match saved {
            _ if first == 0 => (Index::starting_at(0), true),
            Some(saved) => (saved, false),
            // Nothing to rebuild from: the log's beginning is gone and no checkpoint
            // holds what it said.
            None => return Ok(report),
        };
        let mut rebuild = Rebuild {
            dir: &dir,
            report: &mut report,
            index_problems: 0,
            event_problems: 0,
            progress,
            done: 0,
            total: log.next_position().0.saturating_sub(rebuilt.through),
        };
        if compare_saved {
            if let Some(saved) =
                read_checkpoint(&checkpoint_path, log.epoch(), &mut VerifyReport::default())
                    .filter(|saved| saved.through <= log.next_position().0)
            {
                rebuild.advance(self, &mut rebuilt, saved.through)?;
                rebuild.compare(&saved, &rebuilt, &checkpoint_path, "index checkpoint");
            }
        }
        // The rest under the index's lock, so the index compared with is the one at the
        // same position (a follower catches up under the other lock; appends wait).
        self.core.catch_up()?;
        let state = self.core.read_state();
        rebuild.advance(self, &mut rebuilt, state.index.through)?;
        rebuild.compare(&state.index, &rebuilt, &dir, "index in memory");
        rebuild.finish();
        let streams = rebuilt.streams.len() as u64;
        let total = rebuild.total;
        (rebuild.progress)(VerifyProgress {
            stage: VerifyStage::Index,
            done: total,
            total,
        });
        drop(state);
        report.streams_checked = streams;
        Ok(report)
    }
}

/// The index checkpoint file, if there is one that decodes; a problem if it does not.
fn read_checkpoint(path: &Path, epoch: u64, report: &mut VerifyReport) -> Option<Index> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => Bytes::from(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            let detail = format!("cannot read the index checkpoint: {e}");
            report.push(
                VerifyProblemKind::IndexCheckpoint,
                path.into(),
                None,
                None,
                detail,
            );
            return None;
        }
    };
    match checkpoint::decode(&bytes, epoch) {
        Ok(index) => Some(index),
        Err(invalid) => {
            report.push(
                VerifyProblemKind::IndexCheckpoint,
                path.into(),
                Some(0),
                None,
                invalid.0,
            );
            None
        }
    }
}

/// An index being rebuilt from the log's events.
struct Rebuild<'a> {
    dir: &'a Path,
    report: &'a mut VerifyReport,
    index_problems: usize,
    event_problems: usize,
    progress: &'a mut dyn FnMut(VerifyProgress),
    done: u64,
    total: u64,
}

impl Rebuild<'_> {
    /// Applies the log's events from `index.through` up to `to`, checking each envelope.
    fn advance(&mut self, store: &EventStore, index: &mut Index, to: u64) -> Result<()> {
        if index.through >= to {
            return Ok(());
        }
        let log = &store.core.log;
        let mut reader = log.read_from(Position(index.through))?;
        while reader.position().0 < to {
            let Some(event) = reader.next() else { break };
            let event = event?;
            let position = event.position.0;
            let link = Location::new(event.position, reader.record_offset());
            self.done += 1;
            if self.done.is_multiple_of(PROGRESS_EVERY_EVENTS) {
                (self.progress)(VerifyProgress {
                    stage: VerifyStage::Index,
                    done: self.done,
                    total: self.total,
                });
            }
            let envelope = match decode(&event.payload) {
                Ok(envelope) => envelope,
                Err(e) => {
                    self.event_problem(position, format!("not a valid envelope: {}", e.0));
                    index.through = position + 1;
                    continue;
                }
            };
            if envelope.kind == Kind::Event {
                let previous = index
                    .stream(&envelope.stream)
                    .and_then(|s| s.chain.last())
                    .map(|(_, link)| link);
                // A back-link into the event's own record names it by a marker.
                let back_link = envelope.previous_in_stream.map(|back| {
                    if back.record_offset == SAME_RECORD {
                        Location::new(back.position, link.record_offset)
                    } else {
                        back
                    }
                });
                if previous.is_some() && back_link != previous {
                    self.event_problem(
                        position,
                        format!(
                            "its back-link names {}, the previous event of stream {} is {}",
                            describe(back_link),
                            String::from_utf8_lossy(&envelope.stream),
                            describe(previous)
                        ),
                    );
                }
            }
            if let Err(e) = index.apply(&envelope, link) {
                let stream = String::from_utf8_lossy(&envelope.stream).into_owned();
                self.event_problem(position, format!("{} (stream {stream})", e.0));
                index.through = position + 1;
            }
        }
        Ok(())
    }

    fn event_problem(&mut self, position: u64, detail: String) {
        self.event_problems += 1;
        if self.event_problems <= PROBLEMS_LISTED_MAX {
            let file = self.dir.to_path_buf();
            self.report
                .push(VerifyProblemKind::Event, file, None, Some(position), detail);
        }
    }

    /// Says how many problems were found beyond those listed.
    fn finish(&mut self) {
        for (kind, count) in [
            (VerifyProblemKind::Event, self.event_problems),
            (VerifyProblemKind::Index, self.index_problems),
        ] {
            if count > PROBLEMS_LISTED_MAX {
                let more = count - PROBLEMS_LISTED_MAX;
                let detail = format!("and {more} more problems of this kind, not listed");
                self.report
                    .push(kind, self.dir.to_path_buf(), None, None, detail);
            }
        }
    }

    /// Reports where `found` (the checkpoint's or the live index) differs from `rebuilt`.
    fn compare(&mut self, found: &Index, rebuilt: &Index, file: &Path, what: &str) {
        let mut differences: Vec<String> = Vec::new();
        for stream in &found.streams {
            match rebuilt.stream(&stream.name) {
                None => differences.push(format!(
                    "{what} has stream {} that the log does not",
                    lossy(&stream.name)
                )),
                Some(expected) if expected != stream => differences.push(format!(
                    "{what} disagrees with the log on stream {} ({} events, the log {}; \
                     deleted {}, the log {})",
                    lossy(&stream.name),
                    stream.chain.next_seq(),
                    expected.chain.next_seq(),
                    stream.deleted,
                    expected.deleted
                )),
                Some(_) => {}
            }
        }
        for stream in &rebuilt.streams {
            if found.stream(&stream.name).is_none() {
                differences.push(format!(
                    "{what} lacks stream {} that the log has",
                    lossy(&stream.name)
                ));
            }
        }
        for category in &found.categories {
            if rebuilt.category(&category.name) != Some(category) {
                differences.push(format!(
                    "{what} disagrees with the log on category {}",
                    lossy(&category.name)
                ));
            }
        }
        if found.time != rebuilt.time {
            differences.push(format!("{what}'s time index disagrees with the log"));
        }
        let file: PathBuf = file.to_path_buf();
        for detail in differences {
            self.index_problems += 1;
            if self.index_problems <= PROBLEMS_LISTED_MAX {
                let position = Some(rebuilt.through);
                self.report.push(
                    VerifyProblemKind::Index,
                    file.clone(),
                    None,
                    position,
                    detail,
                );
            }
        }
    }
}

fn describe(link: Option<Location>) -> String {
    match link {
        Some(link) => format!(
            "position {} (record at offset {})",
            link.position.0, link.record_offset
        ),
        None => "none".to_owned(),
    }
}

fn lossy(name: &Bytes) -> String {
    String::from_utf8_lossy(name).into_owned()
}
