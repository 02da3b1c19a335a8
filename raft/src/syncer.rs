//! The syncer thread: acknowledges appends by group commit. Callbacks queue while a
//! `Log::sync` runs; the next sync covers all of them (one fdatasync), and each is
//! called only after a sync that started after it was queued returned.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use annal::Log;
use crossbeam::channel::{self, Receiver, Sender};
use tokio::sync::watch;

/// Called once what was appended before it was queued is durable (or the sync failed).
pub(crate) type FlushCallback = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Longer waits for work are not counted as idle: the log had none to do (no load).
const IDLE_COUNTED_MAX_NS: u64 = 10_000_000;

/// A callback and when it was queued (ns on its stats' clock).
type Queued = (u64, FlushCallback);

/// What the syncer's `Log::sync` calls cost, counted since the store opened (for
/// benchmarks: the fdatasync latency a raft log sees under load).
#[derive(Debug, Default)]
pub struct SyncStats {
    syncs: AtomicU64,
    callbacks: AtomicU64,
    busy_ns: AtomicU64,
    wake_ns: AtomicU64,
    idle_ns: AtomicU64,
    /// When the last sync's callbacks were answered (ns since `epoch`), and whether
    /// nothing was queued since.
    answered_at_ns: AtomicU64,
    queued_since_answer: std::sync::atomic::AtomicBool,
    epoch: std::sync::OnceLock<Instant>,
}

/// A reading of [`SyncStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// `Log::sync` calls made (each at most one fdatasync).
    pub syncs: u64,
    /// Flush callbacks they answered (one per `append` call of openraft).
    pub callbacks: u64,
    /// Time spent inside those calls, in nanoseconds.
    pub busy_ns: u64,
    /// Time from the queueing of each sync's first callback to the sync's start (the
    /// syncer thread's wake-up), summed, in nanoseconds.
    pub wake_ns: u64,
    /// Time the log waited for work: from each sync's answer to the next callback
    /// queued after it, summed, in nanoseconds (gaps of 10 ms or more, when there was
    /// no work, left out).
    pub idle_ns: u64,
}

impl SyncStats {
    /// The counts now.
    pub fn read(&self) -> SyncCounts {
        SyncCounts {
            syncs: self.syncs.load(Ordering::Relaxed),
            callbacks: self.callbacks.load(Ordering::Relaxed),
            busy_ns: self.busy_ns.load(Ordering::Relaxed),
            wake_ns: self.wake_ns.load(Ordering::Relaxed),
            idle_ns: self.idle_ns.load(Ordering::Relaxed),
        }
    }

    fn now_ns(&self) -> u64 {
        self.epoch.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    /// Counts a callback queued at `now_ns`: the time since the last answer is idle if
    /// it is the first queued since.
    fn queued(&self, now_ns: u64) {
        if !self.queued_since_answer.swap(true, Ordering::AcqRel) {
            let answered = self.answered_at_ns.load(Ordering::Acquire);
            let idle = now_ns.saturating_sub(answered);
            if answered > 0 && idle < IDLE_COUNTED_MAX_NS {
                self.idle_ns.fetch_add(idle, Ordering::Relaxed);
            }
        }
    }

    /// Counts a sync's answer at `now_ns`, with nothing queued after it yet.
    fn answered(&self, now_ns: u64) {
        self.answered_at_ns.store(now_ns, Ordering::Release);
        self.queued_since_answer.store(false, Ordering::Release);
    }
}

/// The thread and the queue that feeds it; dropping it calls what is queued, then
/// stops the thread.
pub(crate) struct Syncer {
    queue: Option<Sender<Queued>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<SyncStats>,
    /// Flush callbacks answered so far, for whoever waits for a flush.
    answered: watch::Receiver<u64>,
}

impl Syncer {
    pub(crate) fn start(log: Arc<Log>) -> std::io::Result<Syncer> {
        let (queue, callbacks) = channel::unbounded();
        let stats = Arc::new(SyncStats::default());
        let counted = Arc::clone(&stats);
        let (answer, answered) = watch::channel(0);
        let thread = std::thread::Builder::new()
            .name("annal-raft-syncer".into())
            .spawn(move || run(&log, &callbacks, &counted, &answer))?;
        Ok(Syncer {
            queue: Some(queue),
            thread: Some(thread),
            stats,
            answered,
        })
    }

    /// The count of flush callbacks answered, updated after each sync's callbacks ran
    /// (they run in the order they were queued).
    pub(crate) fn answered(&self) -> watch::Receiver<u64> {
        self.answered.clone()
    }

    /// The counters of this syncer's work.
    pub(crate) fn stats(&self) -> Arc<SyncStats> {
        Arc::clone(&self.stats)
    }

    /// Queues `callback` for the next sync.
    pub(crate) fn after_sync(&self, callback: FlushCallback) -> Result<(), String> {
        let now_ns = self.stats.now_ns();
        self.stats.queued(now_ns);
        self.queue
            .as_ref()
            .expect("queue present until drop")
            .send((now_ns, callback))
            .map_err(|_| "the syncer thread is gone".to_string())
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(log: &Log, callbacks: &Receiver<Queued>, stats: &SyncStats, answered: &watch::Sender<u64>) {
    while let Ok(first) = callbacks.recv() {
        let (first_queued_ns, first) = first;
        let mut waiting = vec![first];
        waiting.extend(callbacks.try_iter().map(|(_, callback)| callback));
        stats.wake_ns.fetch_add(
            stats.now_ns().saturating_sub(first_queued_ns),
            Ordering::Relaxed,
        );
        let started = Instant::now();
        let result = log.sync().map_err(|e| e.to_string());
        stats.syncs.fetch_add(1, Ordering::Relaxed);
        stats
            .callbacks
            .fetch_add(waiting.len() as u64, Ordering::Relaxed);
        stats
            .busy_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let count = waiting.len() as u64;
        stats.answered(stats.now_ns());
        for callback in waiting {
            callback(result.clone());
        }
        answered.send_modify(|answered| *answered += count);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc;

    use annal::{Durability, Options, Position};

    use super::*;

    #[test]
    fn callbacks_fire_only_once_durable_and_share_fdatasyncs() {
        // Proves every callback sees its append covered by the synced watermark when it
        // is called, and that many appends are acknowledged by fewer fdatasyncs.
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Log::open(dir.path(), Options::default()).unwrap());
        let syncer = Syncer::start(Arc::clone(&log)).unwrap();
        let (done, finished) = mpsc::channel();
        let uncovered = Arc::new(AtomicU64::new(0));
        const APPENDS: u64 = 500;
        for _ in 0..APPENDS {
            let appended = log.append(b"entry", Durability::Buffered).unwrap();
            let (log, done, uncovered) = (Arc::clone(&log), done.clone(), Arc::clone(&uncovered));
            syncer
                .after_sync(Box::new(move |result| {
                    result.unwrap();
                    if log.last_synced() < Some(appended.last) {
                        uncovered.fetch_add(1, Ordering::Relaxed);
                    }
                    done.send(()).unwrap();
                }))
                .unwrap();
        }
        for _ in 0..APPENDS {
            finished.recv().unwrap();
        }
        assert_eq!(uncovered.load(Ordering::Relaxed), 0);
        assert!(
            log.metrics().group_syncs < APPENDS,
            "{} fdatasyncs for {APPENDS} appends",
            log.metrics().group_syncs
        );
        assert_eq!(log.last_synced(), Some(Position(APPENDS - 1)));
        let counts = syncer.stats().read();
        assert_eq!(counts.callbacks, APPENDS);
        assert!(counts.syncs >= 1 && counts.syncs < APPENDS, "{counts:?}");
        assert!(counts.busy_ns > 0, "{counts:?}");
        assert!(counts.wake_ns > 0, "{counts:?}");
    }

    #[test]
    fn idle_time_counts_short_waits_for_work_and_leaves_out_long_ones() {
        // Proves the idle counter adds the wait between a sync's answer and the next
        // callback when it is short, and leaves out a wait of 10 ms or more (no load).
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Log::open(dir.path(), Options::default()).unwrap());
        let syncer = Syncer::start(Arc::clone(&log)).unwrap();
        let sync_once = || {
            let (done, finished) = mpsc::channel();
            log.append(b"entry", Durability::Buffered).unwrap();
            syncer
                .after_sync(Box::new(move |result| {
                    result.unwrap();
                    done.send(()).unwrap();
                }))
                .unwrap();
            finished.recv().unwrap();
        };
        sync_once();
        std::thread::sleep(std::time::Duration::from_millis(30));
        sync_once();
        assert_eq!(syncer.stats().read().idle_ns, 0, "a 30 ms wait was counted");
        // A few tries: a loaded machine may hold this thread back 10 ms once.
        for _ in 0..5 {
            sync_once();
            if syncer.stats().read().idle_ns > 0 {
                break;
            }
        }
        let idle = syncer.stats().read().idle_ns;
        assert!(idle > 0 && idle < 5 * IDLE_COUNTED_MAX_NS, "idle {idle} ns");
    }
}
