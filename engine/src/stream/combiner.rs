//! Flat combining: concurrent callers hand their jobs to one of them, which runs them all
//! under the lock it holds while the others sleep, instead of each taking the lock in
//! turn (a wake-up, a lock handoff and the lock's cache lines moving per job).
//!
//! A caller puts its job in a [`Slot`] on its own stack and [`Combiner::submit`]s it.
//! The first caller to find no combiner running becomes the combiner: it runs its own
//! job, then [`Combining::take`]s the jobs queued meanwhile until a take finds none,
//! which closes the turn's intake: jobs queued after that wait for the next turn.
//!
//! With few callers in flight, closing the intake ends the turn: the next caller
//! combines the next jobs while this combiner finishes its own (the event store's waits
//! for their group commit). With many, the turn holds on through that wait, so the jobs
//! that arrive meanwhile queue rather than each caller taking the lock and waiting in
//! the group commit, and it then [`Combining::pass`]es the turn: with none queued, to
//! whoever submits next; otherwise to one of its own callers (the heir, woken anyway,
//! [`Turn::DoneAndCombine`]), which runs the next turn before returning, or, with none,
//! it runs the next one itself. Either way the combiner completes its jobs
//! ([`Taken::complete`]) and wakes their callers with one notification. Queueing,
//! closing the intake and passing are each one critical section, so a queued job always
//! has a combiner to take it.
//!
//! Callers sleep on one of two condition variables, by the parity of the turn that takes
//! their job, so waking a turn's callers seldom wakes those queued for the next (a
//! caller woken for another's job looks at its slot and sleeps again). A combiner that
//! unwinds hands every job it has not completed back to its caller ([`Turn::Unrun`]),
//! to run itself.
//!
//! The protocol runs on the `crate::sync` facade, so the loom models
//! (`engine/tests/loom_combiner.rs`) check the same code.

use std::ptr::NonNull;

use crate::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex, MutexGuard};

/// The slot's job is queued or being run.
const PENDING: u8 = 0;
/// The slot holds its job's output.
const DONE: u8 = 1;
/// The combiner gave the job back without running it.
const UNRUN: u8 = 2;

/// One caller's job and, once run, its output. It lives on the caller's stack while the
/// caller sleeps in [`Combiner::submit`].
pub struct Slot<J, O> {
    job: J,
    output: Mutex<Option<O>>,
    state: AtomicU8,
    /// Set before the slot is completed: its caller runs the next turn.
    heir: AtomicBool,
}

impl<J, O> Slot<J, O> {
    /// A slot for `job`.
    pub fn new(job: J) -> Slot<J, O> {
        Slot {
            job,
            output: Mutex::new(None),
            state: AtomicU8::new(PENDING),
            heir: AtomicBool::new(false),
        }
    }

    /// The job.
    pub fn job(&self) -> &J {
        &self.job
    }
}

/// A queued slot. Only the combiner that takes it dereferences it, before completing it.
struct SlotRef<J, O>(NonNull<Slot<J, O>>);

// SAFETY: a `SlotRef` is the address of a `Slot` whose caller sleeps in `submit` until
// the slot leaves `PENDING`; the combiner that moves it to another thread reads the job
// (`J: Sync`) and writes the output (`O: Send`) only before that.
#[expect(
    unsafe_code,
    reason = "a queued slot's address crosses to the combiner's thread"
)]
unsafe impl<J: Sync, O: Send> Send for SlotRef<J, O> {}

/// What a submitted job came to.
pub enum Turn<'c, J, O> {
    /// No combiner was running: the caller is it. It runs its own job, takes the queued
    /// ones, completes them and passes the turn.
    Combine(Combining<'c, J, O>),
    /// The combiner ran the job: its output.
    Done(O),
    /// The combiner ran the job and passed its turn to the caller, which runs that turn
    /// (with no job of its own) before returning the output.
    DoneAndCombine(O, Combining<'c, J, O>),
    /// The combiner unwound (a panic) before running the job: the caller runs it itself.
    Unrun,
}

struct Queue<J, O> {
    waiting: Vec<SlotRef<J, O>>,
    combining: bool,
    /// Turns whose intake closed: a job queued now is taken by turn `intake`, and its
    /// caller sleeps on `woken[intake % 2]`.
    intake: u64,
}

/// Callers in flight from which a turn holds through its jobs' durability: below it,
/// overlapping one turn's sync with the next turn's placing is worth more than the
/// wake-ups holding saves (`store_vs_log`: 8 threads ran at 0.7× the raw log holding).
const HOLD_MIN: usize = 24;

/// Most yields a turn makes while jobs keep arriving.
const YIELDS_MAX: usize = 16;

#[cfg(not(loom))]
fn yield_now() {
    std::thread::yield_now();
}

#[cfg(loom)]
fn yield_now() {
    loom::thread::yield_now();
}

/// The queue of jobs waiting for a combiner, and whether one is running.
pub struct Combiner<J, O> {
    queue: Mutex<Queue<J, O>>,
    woken: [Condvar; 2],
    /// Callers between submitting and returning, the combiner included: those neither
    /// queued nor taken are about to queue (a caller woken and not yet running).
    in_flight: AtomicUsize,
    /// Callers in flight from which a turn holds through [`Combining::pass`].
    hold_min: usize,
    /// Loom models only: pass the turn in the broken twin's way ([`Combining::pass`]).
    #[cfg(loom)]
    pass_after_looking: AtomicBool,
}

impl<J, O> Default for Combiner<J, O> {
    fn default() -> Self {
        Combiner::new(HOLD_MIN)
    }
}

impl<J, O> Combiner<J, O> {
    /// A combiner whose turns hold through [`Combining::pass`] from `hold_min` callers
    /// in flight on ([`Combining::take`]).
    pub fn new(hold_min: usize) -> Combiner<J, O> {
        Combiner {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                combining: false,
                intake: 0,
            }),
            woken: [Condvar::new(), Condvar::new()],
            in_flight: AtomicUsize::new(0),
            hold_min,
            #[cfg(loom)]
            pass_after_looking: AtomicBool::new(false),
        }
    }
}

impl<J, O> Combiner<J, O> {
    fn queue(&self) -> MutexGuard<'_, Queue<J, O>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the callers sleeping on `woken[parity]` to look at their slots again; the
    /// slots were changed before (the queue's mutex orders the change before a caller's
    /// look-then-sleep).
    fn wake(&self, parity: usize) {
        drop(self.queue());
        self.woken[parity].notify_all();
    }
}

impl<J: Sync, O: Send> Combiner<J, O> {
    /// Becomes the combiner, or queues `slot` for the running one and sleeps until its
    /// job is run (or given back).
    pub fn submit<'c>(&'c self, slot: &Slot<J, O>) -> Turn<'c, J, O> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let turn = self.wait_for(slot);
        if matches!(turn, Turn::Done(_) | Turn::Unrun) {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        turn
    }

    fn wait_for<'c>(&'c self, slot: &Slot<J, O>) -> Turn<'c, J, O> {
        let mut queue = self.queue();
        if !queue.combining {
            queue.combining = true;
            let turn = queue.intake;
            return Turn::Combine(Combining::new(self, turn));
        }
        queue.waiting.push(SlotRef(NonNull::from(slot)));
        let turn = queue.intake;
        let woken = &self.woken[(turn % 2) as usize];
        loop {
            match slot.state.load(Ordering::Acquire) {
                // A wake-up for another slot (or a spurious one): sleep again.
                PENDING => queue = woken.wait(queue).unwrap_or_else(|e| e.into_inner()),
                DONE => break,
                _ => return Turn::Unrun,
            }
        }
        // The heir runs the turn after the one that took its job.
        let next = queue.intake;
        drop(queue);
        let output = slot.output.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(output) = output else {
            return Turn::Unrun;
        };
        if slot.heir.load(Ordering::Acquire) {
            Turn::DoneAndCombine(output, Combining::new(self, next))
        } else {
            Turn::Done(output)
        }
    }

    /// Loom models only: makes a combiner pass its turn in a second critical section after
    /// finding the queue empty, the broken twin that strands a job queued in between
    /// (`engine/tests/loom_combiner.rs`).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn break_pass_order(&self) {
        self.pass_after_looking.store(true, Ordering::Relaxed);
    }
}

/// A combiner's turn. Dropped before it was passed (an unwinding combiner), it ends the
/// turn and hands every queued job back to its caller.
pub struct Combining<'c, J, O> {
    combiner: &'c Combiner<J, O>,
    /// The turn's number: its callers sleep on `woken[turn % 2]`.
    turn: u64,
    intake_open: bool,
    /// Jobs this turn took (their callers are in flight, asleep).
    taken: usize,
    /// Yields made while gathering jobs, and whether the last look followed one.
    yields: usize,
    just_yielded: bool,
    passed: bool,
}

impl<'c, J, O> Combining<'c, J, O> {
    fn new(combiner: &'c Combiner<J, O>, turn: u64) -> Combining<'c, J, O> {
        Combining {
            combiner,
            turn,
            intake_open: true,
            taken: 0,
            yields: 0,
            just_yielded: false,
            passed: false,
        }
    }

    fn parity(&self) -> usize {
        (self.turn % 2) as usize
    }

    /// Moves the jobs queued since the last take into `into` (in the order they came)
    /// and returns true; or, when none is queued, closes the turn's intake and returns
    /// false: jobs queued from now on are the next turn's.
    ///
    /// With fewer than the combiner's `hold_min` callers in flight, closing the intake
    /// also ends the turn (the combiner then waits for its jobs' durability while the
    /// next caller combines the next ones, overlapping the two); with more, the turn
    /// holds until [`Combining::pass`], and before closing it yields the processor while
    /// callers it counts in flight (woken, not yet queued) keep arriving, so they join
    /// this turn rather than forming a second group that waits for the next (as the
    /// group commit's leader does).
    pub fn take(&mut self, into: &mut Vec<Taken<'c, J, O>>) -> bool {
        if !self.intake_open {
            return false;
        }
        loop {
            let mut queue = self.combiner.queue();
            if !queue.waiting.is_empty() {
                let combiner = self.combiner;
                let parity = self.parity();
                self.taken += queue.waiting.len();
                into.extend(queue.waiting.drain(..).map(|slot| Taken {
                    slot,
                    combiner,
                    parity,
                }));
                self.just_yielded = false;
                return true;
            }
            let in_flight = self.combiner.in_flight.load(Ordering::Acquire);
            let hold = in_flight >= self.combiner.hold_min;
            // Callers neither queued, nor taken by this turn, nor this combiner: woken
            // and about to queue again.
            let coming = hold && in_flight > self.taken + 1;
            if !coming || self.just_yielded || self.yields == YIELDS_MAX {
                queue.intake = self.turn + 1;
                self.intake_open = false;
                if !hold {
                    queue.combining = false;
                    self.passed = true;
                    self.combiner.in_flight.fetch_sub(1, Ordering::AcqRel);
                }
                return false;
            }
            drop(queue);
            yield_now();
            self.yields += 1;
            self.just_yielded = true;
        }
    }

    /// Wakes the callers of the jobs completed in this turn ([`Taken::complete`]).
    pub fn wake(&self) {
        self.combiner.wake(self.parity());
    }

    /// After the intake closed: ends the turn (if closing the intake did not) when no job
    /// is queued (the next caller to
    /// submit combines) and returns false; otherwise returns true and the turn goes on
    /// as the next one: the caller passes it to an heir among the jobs it completes, or
    /// runs it itself, with [`Combining::next_turn`].
    pub fn pass(&mut self) -> bool {
        debug_assert!(!self.intake_open, "the turn's intake is still open");
        if self.passed {
            // Ended when its intake closed.
            return false;
        }
        let mut queue = self.combiner.queue();
        let more = !queue.waiting.is_empty();
        #[cfg(loom)]
        if !more && self.combiner.pass_after_looking.load(Ordering::Relaxed) {
            drop(queue);
            queue = self.combiner.queue();
        }
        if !more {
            queue.combining = false;
            self.passed = true;
            self.combiner.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        more
    }

    /// The turn after this one (which [`Combining::pass`] kept), run by this combiner.
    pub fn next_turn(mut self) -> Combining<'c, J, O> {
        self.passed = true;
        Combining::new(self.combiner, self.turn + 1)
    }

    /// Ends this turn, kept by [`Combining::pass`], for an heir completed in it: the heir
    /// runs the next turn once woken ([`Turn::DoneAndCombine`]).
    pub fn hand_over(mut self) {
        self.passed = true;
        self.combiner.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.wake();
    }

    /// Ends this turn, which [`Combining::pass`] found nothing queued after, waking the
    /// callers of the jobs completed in it.
    pub fn finish(self) {
        debug_assert!(self.passed, "the turn was not passed");
        self.wake();
    }
}

impl<J, O> Drop for Combining<'_, J, O> {
    fn drop(&mut self) {
        if self.passed {
            return;
        }
        // An unwinding combiner: nobody runs the queued jobs; their callers run them.
        self.combiner.in_flight.fetch_sub(1, Ordering::AcqRel);
        let mut queue = self.combiner.queue();
        queue.combining = false;
        for slot in queue.waiting.drain(..) {
            give_back(&slot);
        }
        if self.intake_open {
            queue.intake = self.turn + 1;
        }
        drop(queue);
        self.combiner.woken[0].notify_all();
        self.combiner.woken[1].notify_all();
    }
}

/// Marks a queued slot unrun; its caller then runs the job itself.
fn give_back<J, O>(slot: &SlotRef<J, O>) {
    // SAFETY: the slot's caller sleeps until its state leaves `PENDING`, which this is
    // the last access to (see `SlotRef`).
    #[expect(unsafe_code, reason = "reading a slot on its sleeping caller's stack")]
    let slot = unsafe { slot.0.as_ref() };
    slot.state.store(UNRUN, Ordering::Release);
}

/// A job taken by the combiner, to be completed in its turn. Dropped without completing
/// (an unwinding combiner), it wakes its caller to run it itself.
pub struct Taken<'c, J, O> {
    slot: SlotRef<J, O>,
    combiner: &'c Combiner<J, O>,
    parity: usize,
}

impl<J, O> Taken<'_, J, O> {
    fn slot(&self) -> &Slot<J, O> {
        // SAFETY: the slot's caller sleeps until its state leaves `PENDING`, which only
        // `complete` and the drop do, consuming this `Taken`.
        #[expect(unsafe_code, reason = "reading a slot on its sleeping caller's stack")]
        unsafe {
            self.slot.0.as_ref()
        }
    }

    /// The job to run.
    pub fn job(&self) -> &J {
        &self.slot().job
    }

    /// Hands the job's caller its output, waking it at the turn's next
    /// [`Combining::wake`]; as the heir (`heir`), the caller then runs the next turn.
    pub fn complete(self, output: O, heir: bool) {
        let slot = self.slot();
        *slot.output.lock().unwrap_or_else(|e| e.into_inner()) = Some(output);
        slot.heir.store(heir, Ordering::Relaxed);
        slot.state.store(DONE, Ordering::Release);
        // Completed: the slot may be gone once its caller looks, and the drop must not
        // touch it again.
        std::mem::forget(self);
    }
}

impl<J, O> Drop for Taken<'_, J, O> {
    fn drop(&mut self) {
        // `complete` forgets the `Taken`; anything else is unrun.
        give_back(&self.slot);
        self.combiner.wake(self.parity);
    }
}
