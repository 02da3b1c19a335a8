//! The published tail: how a subscription waiting at the end of the log is woken when the
//! writer publishes, with no system call on the writer's side while nobody waits.
//!
//! The writer publishes a watermark (`written` or `synced`) with a `Release` store and
//! then calls [`Tail::publish`], which is one atomic swap of the `sleepers` flag: when it
//! was clear (nobody asleep), that is all. A subscription that finds nothing new spins
//! briefly, then takes the sleep mutex, *arms* the flag with an `Acquire` swap, re-checks
//! the watermark, and only then waits on the condition variable (which releases the
//! mutex atomically). A publisher that finds the flag armed clears it, takes and releases
//! the sleep mutex (so every armed subscription is inside its wait) and notifies them all.
//!
//! Why no wake-up is lost: the flag is only ever changed by swaps, so all its changes are
//! totally ordered. If the publisher's swap comes first, the subscription's arming swap
//! reads the value it wrote (or a later swap in its release sequence), synchronizes with
//! it, and its re-check sees the new watermark. If the arming comes first, the
//! publisher's swap reads `true` and wakes, and its pass through the mutex cannot happen
//! while the subscription is between arming and waiting. `engine/tests/loom_wake.rs`
//! checks this under every interleaving loom explores, next to twins with the re-check
//! or the swap removed that loom catches losing a wake-up. `docs/design.md` has the
//! full argument and every ordering.
//!
//! The flag is cleared by the first publish after it was armed, so the writer makes at
//! most one wake-up call per time the subscriptions go to sleep, however many appends
//! follow.

use std::time::Instant;

use crossbeam::utils::CachePadded;

use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::sync::{lock, Condvar, Mutex};

/// Checks a waiting subscription makes while spinning, each after twice as many
/// `spin_loop` hints as the one before (1, 2, 4, … 1024: about 2047 hints in all).
#[cfg(not(loom))]
const SPIN_CHECKS: u32 = 11;
/// Checks after spinning, each after a `yield_now`, before sleeping.
#[cfg(not(loom))]
const YIELD_CHECKS: u32 = 8;

/// The wake-up side of the reader protocol, and the count of live subscriptions.
/// One per log.
#[derive(Debug)]
pub struct Tail {
    /// Armed (`true`) by a subscription about to sleep; cleared by the publisher that
    /// wakes it. Changed only by swaps (see the module docs). On a cache line of its
    /// own: the writer swaps it on every publish, and nothing a reader polls may share
    /// that line.
    sleepers: CachePadded<AtomicBool>,
    /// Set once nothing more will be published (the log closed or was poisoned), so a
    /// waiting subscription stops waiting. On its own cache line too: waiting readers
    /// poll it, and the writer never stores it in normal operation.
    ended: CachePadded<AtomicBool>,
    /// Held by a subscription from arming to waiting, and passed through by a waking
    /// publisher. Guards no data.
    sleep: Mutex<()>,
    wake: Condvar,
    subscriptions: AtomicUsize,
}

impl Default for Tail {
    fn default() -> Self {
        Tail::new()
    }
}

impl Tail {
    /// A tail nobody waits on.
    pub fn new() -> Tail {
        Tail {
            sleepers: CachePadded::new(AtomicBool::new(false)),
            ended: CachePadded::new(AtomicBool::new(false)),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            subscriptions: AtomicUsize::new(0),
        }
    }

    /// Wakes any subscription asleep on this tail. The caller has just published a
    /// watermark with a `Release` store (or more). Costs one uncontended atomic swap when
    /// nobody sleeps; never blocks then.
    pub fn publish(&self) {
        // Release: a subscription whose arming swap reads this value (or a later swap in
        // its release sequence) sees the watermark stored before it.
        if self.sleepers.swap(false, Ordering::Release) {
            self.wake_all();
        }
    }

    /// Marks the tail ended (nothing more will be published: the log was closed or
    /// poisoned) and wakes every sleeping subscription to notice.
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.wake_all();
    }

    /// Whether [`Tail::end`] was called. Part of every waiting subscription's condition.
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Wakes every sleeping subscription unconditionally.
    pub fn wake_all(&self) {
        // Passing through the mutex orders this notify after every armed subscription
        // entered its wait: one that armed holds the mutex until the wait releases it.
        drop(lock(&self.sleep));
        self.wake.notify_all();
    }

    /// Waits until `ready` returns true or `deadline` passes (`None`: no deadline);
    /// returns what `ready` said last. `ready` must read the watermarks it depends on
    /// with `Acquire` loads.
    pub fn wait_until(&self, ready: impl FnMut() -> bool, deadline: Option<Instant>) -> bool {
        self.wait(ready, deadline, Recheck::AfterArming)
    }

    fn wait(
        &self,
        mut ready: impl FnMut() -> bool,
        deadline: Option<Instant>,
        recheck: Recheck,
    ) -> bool {
        if spin_until(&mut ready, self.spinning_pays()) {
            return true;
        }
        let mut guard = lock(&self.sleep);
        loop {
            if recheck == Recheck::BeforeArmingOnly && ready() {
                return true;
            }
            // Acquire: synchronizes with the publisher whose swap (or release sequence)
            // this reads, so the re-check below sees what it published.
            self.sleepers.swap(true, Ordering::Acquire);
            if recheck == Recheck::AfterArming && ready() {
                return true;
            }
            guard = match deadline {
                None => self.wake.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return ready();
                    }
                    self.wake
                        .wait_timeout(guard, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// Counts a new subscription, unless `max` are live already.
    pub(crate) fn add_subscription(&self, max: usize) -> bool {
        self.subscriptions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                (live < max).then_some(live + 1)
            })
            .is_ok()
    }

    /// Whether a waiting subscription should spin before sleeping: only while there are
    /// fewer live subscriptions than processors, so that spinners leave a processor to
    /// the writer (with more, they would take its time slices to watch it work).
    #[cfg(not(loom))]
    fn spinning_pays(&self) -> bool {
        static PROCESSORS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let processors =
            *PROCESSORS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        self.subscriptions.load(Ordering::Relaxed) < processors
    }

    #[cfg(loom)]
    fn spinning_pays(&self) -> bool {
        false
    }

    /// Uncounts a subscription that ended.
    /// Live subscriptions.
    pub(crate) fn subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::Relaxed)
    }

    pub(crate) fn remove_subscription(&self) {
        self.subscriptions.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where a waiting subscription checks its condition relative to arming the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recheck {
    /// The protocol: check again after arming, before sleeping.
    AfterArming,
    /// A deliberately broken twin for the loom models: check, then arm and sleep.
    #[cfg_attr(not(loom), allow(dead_code))]
    BeforeArmingOnly,
}

/// Spins (when `spin`), then yields, while `ready` is false: most waits at a busy tail
/// end here, without a mutex or a system call on either side. The checks back off
/// exponentially: each one reads the watermark, a cache line the writer stores on every
/// publish, and a reader polling it in a tight loop would pull it away from the writer
/// each time.
#[cfg(not(loom))]
fn spin_until(ready: &mut impl FnMut() -> bool, spin: bool) -> bool {
    for check in 0..if spin { SPIN_CHECKS } else { 0 } {
        if ready() {
            return true;
        }
        for _ in 0..1u32 << check {
            std::hint::spin_loop();
        }
    }
    for _ in 0..YIELD_CHECKS {
        if ready() {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

/// Under loom, spinning only multiplies interleavings: go straight to the protocol.
#[cfg(loom)]
fn spin_until(_ready: &mut impl FnMut() -> bool, _spin: bool) -> bool {
    false
}

/// Deliberately broken variants of the protocol, compiled only for the loom models so
/// that each model is shown to catch the bug it guards against (`#[should_panic]` twins
/// in `engine/tests/loom_wake.rs`). Not part of the engine.
#[cfg(loom)]
impl Tail {
    /// Broken publish: reads the flag with a plain load and clears it with a plain store
    /// instead of one swap, so a subscription arming in between is never woken.
    #[doc(hidden)]
    pub fn publish_without_swap(&self) {
        if self.sleepers.load(Ordering::Relaxed) {
            self.sleepers.store(false, Ordering::Relaxed);
            self.wake_all();
        }
    }

    /// Broken end: notifies without passing through the sleep mutex, so a subscription
    /// between its last check and its wait misses the notification.
    #[doc(hidden)]
    pub fn end_without_lock(&self) {
        self.ended.store(true, Ordering::Release);
        self.wake.notify_all();
    }

    /// Broken wait: checks before arming but not after, so a publish landing between the
    /// check and the arming is missed.
    #[doc(hidden)]
    pub fn wait_without_recheck(&self, ready: impl FnMut() -> bool) -> bool {
        self.wait(ready, None, Recheck::BeforeArmingOnly)
    }
}
