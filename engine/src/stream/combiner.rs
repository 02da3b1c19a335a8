//! Flat combining: concurrent callers hand their jobs to one of them, which runs them all
//! under the lock it holds while the others sleep, instead of each taking the lock in
//! turn (a wake-up, a lock handoff and the lock's cache lines moving per job).
//!
//! A caller puts its job in a [`Slot`] on its own stack and [`Combiner::submit`]s it.
//! The first caller to find no combiner running becomes the combiner: it runs its own
//! job, then [`Combining::take`]s the jobs queued meanwhile, for as long as it likes
//! (the event store's holds its turn until the group commit covering its jobs is over,
//! so the jobs that arrive meanwhile queue for the next turn), and finally
//! [`Combining::pass`]es the turn: to the first queued caller, which wakes as the next
//! combiner and takes the rest, or, with none queued, to whoever submits next. Passing
//! and queueing are one critical section each, so a job is either queued where a
//! combiner will take it or finds no combiner and combines itself: none is stranded.
//! Every other caller sleeps (parks) until its job is completed with its own output
//! ([`Taken::complete`]), the turn is passed to it ([`Turn::Combine`]), or its job is
//! handed back unrun ([`Turn::Unrun`]) because the combiner unwound, to run itself.
//!
//! The protocol runs on the `crate::sync` facade, so the loom models
//! (`engine/tests/loom_combiner.rs`) check the same code.

use std::ptr::NonNull;

use crate::sync::atomic::{AtomicU8, Ordering};
use crate::sync::thread::{self, Thread};
use crate::sync::Mutex;

/// The slot's job is queued or being run.
const PENDING: u8 = 0;
/// The slot holds its job's output.
const DONE: u8 = 1;
/// The combiner gave the job back without running it.
const UNRUN: u8 = 2;
/// The combiner passed its turn to the slot's caller.
const COMBINE: u8 = 3;

/// How a sleeping caller was woken.
enum Woken<O> {
    Done(O),
    Unrun,
    Combine,
}

/// One caller's job and, once run, its output. It lives on the caller's stack while the
/// caller sleeps in [`Combiner::submit`].
pub struct Slot<J, O> {
    job: J,
    output: Mutex<Option<O>>,
    state: AtomicU8,
    caller: Thread,
}

impl<J, O> Slot<J, O> {
    /// A slot for `job`, to be submitted by the calling thread.
    pub fn new(job: J) -> Slot<J, O> {
        Slot {
            job,
            output: Mutex::new(None),
            state: AtomicU8::new(PENDING),
            caller: thread::current(),
        }
    }

    /// The job.
    pub fn job(&self) -> &J {
        &self.job
    }

    /// Sleeps until the combiner completes the job, gives it back or passes its turn.
    fn wait(&self) -> Woken<O> {
        loop {
            match self.state.load(Ordering::Acquire) {
                // A spurious wake-up, or an unpark from before: look again.
                PENDING => thread::park(),
                DONE => {
                    let output = self.output.lock().unwrap_or_else(|e| e.into_inner()).take();
                    return output.map_or(Woken::Unrun, Woken::Done);
                }
                COMBINE => return Woken::Combine,
                _ => return Woken::Unrun,
            }
        }
    }
}

/// A queued slot. Only the combiner that takes it dereferences it, before completing it.
struct SlotRef<J, O>(NonNull<Slot<J, O>>);

// SAFETY: a `SlotRef` is the address of a `Slot` whose caller sleeps in `Slot::wait`
// until the slot leaves `PENDING`; the combiner that moves it to another thread reads
// the job (`J: Sync`) and writes the output (`O: Send`) only before that.
#[expect(
    unsafe_code,
    reason = "a queued slot's address crosses to the combiner's thread"
)]
unsafe impl<J: Sync, O: Send> Send for SlotRef<J, O> {}

/// What a submitted job came to.
pub enum Turn<'c, J, O> {
    /// No combiner was running, or the last one passed its turn to the caller: the caller
    /// is the combiner. It runs its own job, takes the queued ones and passes the turn.
    Combine(Combining<'c, J, O>),
    /// The combiner ran the job: its output.
    Done(O),
    /// The combiner unwound (a panic) before running the job: the caller runs it itself.
    Unrun,
}

struct Queue<J, O> {
    waiting: Vec<SlotRef<J, O>>,
    combining: bool,
}

/// The queue of jobs waiting for a combiner, and whether one is running.
pub struct Combiner<J, O> {
    queue: Mutex<Queue<J, O>>,
    /// Loom models only: end a turn in the broken twin's way ([`Combining::take`]).
    #[cfg(loom)]
    stop_after_looking: crate::sync::atomic::AtomicBool,
}

impl<J, O> Default for Combiner<J, O> {
    fn default() -> Self {
        Combiner {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                combining: false,
            }),
            #[cfg(loom)]
            stop_after_looking: crate::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl<J, O> Combiner<J, O> {
    fn queue(&self) -> crate::sync::MutexGuard<'_, Queue<J, O>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<J: Sync, O: Send> Combiner<J, O> {
    /// Becomes the combiner, or queues `slot` for the running one and sleeps until its
    /// job is run (or given back). The slot must have been made by this thread.
    pub fn submit<'c>(&'c self, slot: &Slot<J, O>) -> Turn<'c, J, O> {
        let mut queue = self.queue();
        if !queue.combining {
            queue.combining = true;
            return Turn::Combine(Combining {
                combiner: self,
                ended: false,
            });
        }
        queue.waiting.push(SlotRef(NonNull::from(slot)));
        drop(queue);
        match slot.wait() {
            Woken::Done(output) => Turn::Done(output),
            Woken::Unrun => Turn::Unrun,
            Woken::Combine => Turn::Combine(Combining {
                combiner: self,
                ended: false,
            }),
        }
    }

    /// Loom models only: makes a combiner pass its turn in a second critical section after
    /// finding the queue empty, the broken twin that strands a job queued in between
    /// (`engine/tests/loom_combiner.rs`).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn break_stop_order(&self) {
        self.stop_after_looking
            .store(true, crate::sync::atomic::Ordering::Relaxed);
    }
}

/// A combiner's turn. Dropped before it ended (an unwinding combiner), it ends the turn
/// and gives every queued job back to its caller.
pub struct Combining<'c, J, O> {
    combiner: &'c Combiner<J, O>,
    ended: bool,
}

impl<J, O> Combining<'_, J, O> {
    /// Moves the jobs queued since the last take into `into` (in the order they came);
    /// returns whether there were any. The turn goes on either way.
    pub fn take(&mut self, into: &mut Vec<Taken<J, O>>) -> bool {
        let mut queue = self.combiner.queue();
        into.extend(queue.waiting.drain(..).map(Taken));
        !into.is_empty()
    }

    /// Ends the turn: the first queued caller wakes as the next combiner (and takes the
    /// others), or, with none queued, the next caller to submit becomes it.
    pub fn pass(mut self) {
        self.ended = true;
        let mut queue = self.combiner.queue();
        if queue.waiting.is_empty() {
            #[cfg(loom)]
            if self
                .combiner
                .stop_after_looking
                .load(crate::sync::atomic::Ordering::Relaxed)
            {
                drop(queue);
                self.combiner.queue().combining = false;
                return;
            }
            queue.combining = false;
            return;
        }
        let next = Taken(queue.waiting.remove(0));
        drop(queue);
        next.finish(COMBINE);
        // Finished: the slot's caller is the combiner now, and the drop must not finish it
        // again.
        std::mem::forget(next);
    }
}

impl<J, O> Drop for Combining<'_, J, O> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let mut queue = self.combiner.queue();
        queue.combining = false;
        let waiting: Vec<_> = queue.waiting.drain(..).map(Taken).collect();
        drop(queue);
        // Each `Taken` dropped unrun wakes its caller to run its job itself.
        drop(waiting);
    }
}

/// A job taken by the combiner. Completing it wakes its caller with the output; dropped
/// without completing (an unwinding combiner), it wakes its caller to run it itself.
pub struct Taken<J, O>(SlotRef<J, O>);

impl<J, O> Taken<J, O> {
    #[expect(unsafe_code, reason = "reading a slot on its sleeping caller's stack")]
    fn slot(&self) -> &Slot<J, O> {
        // SAFETY: the slot's caller sleeps until its state leaves `PENDING`, which only
        // `finish` does, consuming this `Taken` (see `SlotRef`).
        unsafe { self.0 .0.as_ref() }
    }

    /// The job to run.
    pub fn job(&self) -> &J {
        &self.slot().job
    }

    /// Hands the caller its job's output and wakes it.
    pub fn complete(self, output: O) {
        *self.slot().output.lock().unwrap_or_else(|e| e.into_inner()) = Some(output);
        self.finish(DONE);
        // Finished: the slot may be gone, and the drop must not finish it again.
        std::mem::forget(self);
    }

    /// Moves the slot out of `PENDING`, after which it may be gone, and wakes its caller
    /// through a handle taken before. Called once per `Taken`.
    fn finish(&self, state: u8) {
        let caller = self.slot().caller.clone();
        self.slot().state.store(state, Ordering::Release);
        caller.unpark();
    }
}

impl<J, O> Drop for Taken<J, O> {
    fn drop(&mut self) {
        // `complete` forgets the `Taken` after finishing it; anything else is unrun.
        self.finish(UNRUN);
    }
}
