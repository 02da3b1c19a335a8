//! The syncer thread: acknowledges appends by group commit. Callbacks queue while a
//! `Log::sync` runs; the next sync covers all of them (one fdatasync), and each is
//! called only after a sync that started after it was queued returned.

use std::sync::Arc;
use std::thread::JoinHandle;

use annal::Log;
use crossbeam::channel::{self, Receiver, Sender};

/// Called once what was appended before it was queued is durable (or the sync failed).
pub(crate) type FlushCallback = Box<dyn FnOnce(Result<(), String>) + Send>;

/// The thread and the queue that feeds it; dropping it calls what is queued, then
/// stops the thread.
pub(crate) struct Syncer {
    queue: Option<Sender<FlushCallback>>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    pub(crate) fn start(log: Arc<Log>) -> std::io::Result<Syncer> {
        let (queue, callbacks) = channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("annal-raft-syncer".into())
            .spawn(move || run(&log, &callbacks))?;
        Ok(Syncer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `callback` for the next sync.
    pub(crate) fn after_sync(&self, callback: FlushCallback) -> Result<(), String> {
        self.queue
            .as_ref()
            .expect("queue present until drop")
            .send(callback)
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

fn run(log: &Log, callbacks: &Receiver<FlushCallback>) {
    while let Ok(first) = callbacks.recv() {
        let mut waiting = vec![first];
        waiting.extend(callbacks.try_iter());
        let result = log.sync().map_err(|e| e.to_string());
        for callback in waiting {
            callback(result.clone());
        }
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
    }
}
