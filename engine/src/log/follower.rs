//! Read-only followers: a log opened by a process that is not its writer — a backup, a
//! dashboard, a reader in another language — on a directory another process may be
//! appending to, or on a read-only copy.
//!
//! A follower takes no lock and never writes: no recovery, no cut, no prepared segment,
//! no consumer file. At open it walks every segment's records and publishes what is valid
//! up to the first frame that is not (at the tail that is a write in progress, or not yet
//! made). Then a thread (`annal-follower`) walks on from there every
//! `limits::FOLLOW_POLL_INTERVAL_ACTIVE` while a subscription is live, every
//! `limits::FOLLOW_POLL_INTERVAL_IDLE` otherwise (and every read looks for itself):
//! records the writer completes become readable, a seal leads to the next segment once
//! its file is named, and every reader and subscription of the follower sees them as it
//! would see an in-process writer's (the same watermarks and wake-ups).
//!
//! The follower's `written` watermark is everything it found valid; its `synced`
//! watermark is the highest `synced_before` any of those records carries, so a
//! subscription reading to `Visibility::Synced` delivers only what the writer had made
//! durable (one group commit behind). Segments the writer's retention removes stay
//! readable through the follower's mappings until it closes.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::thread::JoinHandle;

use super::append::Writer;
use super::flusher::SealSync;
use super::group_commit::GroupCommit;
use super::segment::{Segment, INDEX_INTERVAL_BYTES};
use super::walker::{RecordWalker, Step};
use super::watermark::Tail;
use super::RecoveryReport;
use super::{LogCore, Shared};
use crate::error::{Error, Result};
use crate::format::segment_header::{SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::format::{parse_segment_file_name, segment_file_name};
use crate::io::Storage;
use crate::limits::{FOLLOW_POLL_INTERVAL_ACTIVE, FOLLOW_POLL_INTERVAL_IDLE};
use crate::metrics::Counters;
use crate::options::{IoPath, Options};

/// Where the follower's walk of the log stands.
#[derive(Debug, Default)]
pub(crate) struct Follow {
    /// The next record's offset in the last segment.
    offset: u64,
    /// The position that record must start at.
    next_position: u64,
    /// The last segment is sealed: the walk continues in the next one once it is named.
    sealed: bool,
    last_indexed_offset: Option<u64>,
}

impl LogCore {
    /// Opens the log in `dir` as a read-only follower (module docs).
    pub(crate) fn open_read_only(
        dir: &Path,
        options: Options,
        storage: Arc<dyn Storage>,
    ) -> Result<LogCore> {
        options.validate()?;
        let names = storage
            .list_dir(dir)
            .map_err(|e| Error::io("list log directory", Some(dir.to_path_buf()), e))?;
        let mut firsts: Vec<u64> = names
            .iter()
            .filter_map(|name| parse_segment_file_name(name))
            .collect();
        firsts.sort_unstable();
        let Some(&first_position) = firsts.first() else {
            return Err(Error::corrupt(
                dir.to_path_buf(),
                0,
                "no segment: not a log, or one not created yet",
            ));
        };
        let mut segments = Vec::with_capacity(firsts.len());
        let mut epoch = None;
        for &first in &firsts {
            match open_segment(storage.as_ref(), dir, first, epoch)? {
                Some((segment, segment_epoch)) => {
                    epoch = Some(segment_epoch);
                    segments.push(segment);
                }
                // Removed by the writer's retention since the listing: start after it.
                None if segments.is_empty() => continue,
                None => break,
            }
        }
        let (Some(epoch), Some(active)) = (epoch, segments.last().cloned()) else {
            return Err(Error::corrupt(
                dir.to_path_buf(),
                0,
                "every segment was removed while opening",
            ));
        };
        let first_position = segments
            .first()
            .map_or(first_position, |s| s.first_position);
        let writer = Writer::new(
            Arc::clone(&active),
            SEGMENT_HEADER_BYTES as u64,
            active.first_position,
            false,
            None,
        );
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            options,
            storage,
            epoch,
            segments: RwLock::new(vec![Arc::clone(&segments[0])]),
            written: AtomicU64::new(first_position),
            next: AtomicU64::new(first_position),
            synced: AtomicU64::new(first_position),
            first: AtomicU64::new(first_position),
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            read_only: true,
            counters: Counters::default(),
            writer: super::owner::WriterCell::new(writer),
            group_commit: GroupCommit::default(),
            seals: SealSync::default(),
            tail: Tail::new(),
            hooks: Mutex::new(Vec::new()),
            retention: Mutex::new(()),
            follow: Mutex::new(Follow {
                offset: SEGMENT_HEADER_BYTES as u64,
                next_position: first_position,
                sealed: false,
                last_indexed_offset: None,
            }),
        });
        // Every segment found but the first is walked into as its predecessor's seal is.
        shared.walk(&segments[1..])?;
        let poller = start_poller(Arc::downgrade(&shared));
        let recovery = RecoveryReport {
            io_path: IoPath::Pwrite,
            ..RecoveryReport::default()
        };
        Ok(LogCore {
            shared,
            recovery,
            poller,
            _lock: None,
        })
    }
}

/// Opens the segment starting at `first` read-only and checks its header (of the log
/// `epoch`, when known); `None` if it no longer exists.
fn open_segment(
    storage: &dyn Storage,
    dir: &Path,
    first: u64,
    epoch: Option<u64>,
) -> Result<Option<(Arc<Segment>, u64)>> {
    let path = dir.join(segment_file_name(first));
    let file = match storage.open_file(&path, false) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open segment", Some(path), e)),
    };
    let view = file
        .view()
        .map_err(|e| Error::io("map segment", Some(path.clone()), e))?;
    let header =
        SegmentHeader::decode(&view).map_err(|e| Error::corrupt(path.clone(), 0, e.describe()))?;
    if header.first_position != first {
        return Err(Error::corrupt(
            path,
            0,
            format!(
                "segment header says first position {}, its name says {first}",
                header.first_position
            ),
        ));
    }
    if epoch.is_some_and(|epoch| epoch != header.epoch) {
        return Err(Error::corrupt(
            path,
            0,
            "segment belongs to another log (epoch)",
        ));
    }
    let segment = Segment::new(first, path, file, SEGMENT_HEADER_BYTES as u64);
    Ok(Some((Arc::new(segment), header.epoch)))
}

impl Shared {
    /// Walks on from where the follower stands: publishes every record now valid, moving
    /// into the next segment after a seal (taking it from `ahead` when the caller opened
    /// it already, else opening it if its file is named yet). Nothing for a log with a
    /// writer.
    pub(crate) fn follow(&self) -> Result<()> {
        if !self.read_only {
            return Ok(());
        }
        self.walk(&[])
    }

    fn walk(&self, ahead: &[Arc<Segment>]) -> Result<()> {
        let mut follow = self.follow.lock().unwrap_or_else(|e| e.into_inner());
        let mut ahead = ahead.iter();
        let mut moved = false;
        loop {
            let active = self
                .segments
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .last()
                .cloned()
                .expect("a follower holds a segment");
            if follow.sealed {
                let next = match ahead.next() {
                    Some(next) => Some(Arc::clone(next)),
                    None => open_segment(
                        self.storage.as_ref(),
                        &self.dir,
                        follow.next_position,
                        Some(self.epoch),
                    )?
                    .map(|(segment, _)| segment),
                };
                let next = match next {
                    Some(next) => next,
                    None => match self.skip_removed(follow.next_position)? {
                        // Retention removed the next segment before the follower got to
                        // it: the follower's log now starts after the gap.
                        Some(later) => later,
                        None => break,
                    },
                };
                let gap = next.first_position > follow.next_position;
                if next.first_position < follow.next_position {
                    return Err(Error::corrupt(
                        next.path.clone(),
                        0,
                        "segment does not start where the previous one's seal says",
                    ));
                }
                {
                    let mut segments = self.segments.write().unwrap_or_else(|e| e.into_inner());
                    if gap {
                        // Everything before the gap goes: readers of it get
                        // `BehindRetention` or `PositionOutOfRange`, as on the writer.
                        segments.clear();
                        self.first.store(next.first_position, Ordering::Release);
                        follow.next_position = next.first_position;
                    }
                    segments.push(next);
                }
                *follow = Follow {
                    offset: SEGMENT_HEADER_BYTES as u64,
                    next_position: follow.next_position,
                    sealed: false,
                    last_indexed_offset: None,
                };
                continue;
            }
            let view = active
                .file
                .view()
                .map_err(|e| Error::io("map segment", Some(active.path.clone()), e))?;
            let mut walker = RecordWalker::new(&view, follow.offset, self.epoch);
            let mut synced_before = 0;
            while let Step::Record(record) = walker.step() {
                let header = record.header;
                // A frame being written, or damage: what follows is not readable yet.
                if header.position != follow.next_position || record.check_body().is_err() {
                    break;
                }
                synced_before = synced_before.max(header.synced_before);
                if header.is_seal() {
                    follow.offset = record.end_offset();
                    follow.sealed = true;
                    active.publish(follow.offset);
                    active.mark_sealed();
                    break;
                }
                if follow
                    .last_indexed_offset
                    .is_none_or(|last| record.offset >= last + INDEX_INTERVAL_BYTES)
                {
                    active.index.push(header.position, record.offset);
                    follow.last_indexed_offset = Some(record.offset);
                }
                follow.offset = record.end_offset();
                follow.next_position = header.end_position();
                active.publish(follow.offset);
                moved = true;
            }
            self.next.store(follow.next_position, Ordering::Release);
            self.written.store(follow.next_position, Ordering::Release);
            self.synced
                .fetch_max(synced_before.min(follow.next_position), Ordering::AcqRel);
            if !follow.sealed {
                break;
            }
        }
        drop(follow);
        if moved {
            self.tail.publish();
        }
        Ok(())
    }
}

impl Shared {
    /// The first segment after `position` still in the directory, when the segment that
    /// should start at `position` is gone while a later one exists: the writer's
    /// retention removed it before the follower opened it. `None` when nothing later
    /// exists yet (the segment is still to be named).
    fn skip_removed(&self, position: u64) -> Result<Option<Arc<Segment>>> {
        let names = self
            .storage
            .list_dir(&self.dir)
            .map_err(|e| Error::io("list log directory", Some(self.dir.clone()), e))?;
        let later = names
            .iter()
            .filter_map(|name| parse_segment_file_name(name))
            .filter(|&first| first > position)
            .min();
        let Some(later) = later else {
            return Ok(None);
        };
        // Named after the listing, so it exists unless retention removed it too: then the
        // next look finds the one after.
        Ok(
            open_segment(self.storage.as_ref(), &self.dir, later, Some(self.epoch))?
                .map(|(segment, _)| segment),
        )
    }
}

/// Starts the thread that follows the log; `None` if it cannot be spawned (reads still
/// follow for themselves).
fn start_poller(shared: Weak<Shared>) -> Option<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("annal-follower".into())
        .spawn(move || loop {
            let Some(log) = shared.upgrade() else { break };
            if log.closed.load(Ordering::Acquire) {
                break;
            }
            // A damaged frame stops the walk where it is; the next poll retries, and the
            // readers meet the end of what is valid, never a bad record.
            let _ = log.follow();
            let interval = if log.tail.subscriptions() > 0 {
                FOLLOW_POLL_INTERVAL_ACTIVE
            } else {
                FOLLOW_POLL_INTERVAL_IDLE
            };
            drop(log);
            std::thread::sleep(interval);
        })
        .ok()
}
