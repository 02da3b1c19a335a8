//! The wake-up probe: how fast this machine can release a cohort of blocked threads and
//! have each of them report back, with no I/O at all.
//!
//! `threads` threads sleep (`thread::park`); a coordinator starts a round by bumping a
//! generation and unparking each of them, and the round ends when the last of them has
//! run and checked in (one atomic increment; the last one unparks the coordinator). That
//! is the least a closed-loop group commit must do between two fdatasyncs if every sync
//! is to carry every thread: so `threads ÷ (fdatasync + round)` bounds such a design, and
//! `threads ÷ round` is how fast the scheduler hands blocked threads their turn at all.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::BenchResult;

/// What one measurement found.
#[derive(Debug, Clone, Copy)]
pub struct WakeRounds {
    /// Mean time from the first unpark of a round to its last thread checking in.
    pub round: Duration,
    /// Threads woken (and checked in) per second.
    pub wakeups_per_sec: f64,
}

struct Cohort {
    generation: AtomicU64,
    checked_in: AtomicUsize,
    stop: AtomicBool,
    coordinator: Thread,
    threads: usize,
}

/// Runs rounds of `threads` wake-ups for about `duration` (at least one round).
pub fn measure(threads: usize, duration: Duration) -> BenchResult<WakeRounds> {
    let cohort = Arc::new(Cohort {
        generation: AtomicU64::new(0),
        checked_in: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        coordinator: thread::current(),
        threads,
    });
    let workers = (0..threads)
        .map(|_| {
            let cohort = Arc::clone(&cohort);
            thread::Builder::new()
                .name("wake-probe".into())
                .spawn(move || check_in_every_round(&cohort))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sleepers: Vec<Thread> = workers.iter().map(|w| w.thread().clone()).collect();
    // A first round, untimed: every worker has started once it completes.
    run_round(&cohort, &sleepers);
    let started = Instant::now();
    let mut rounds = 0u64;
    while rounds == 0 || started.elapsed() < duration {
        run_round(&cohort, &sleepers);
        rounds += 1;
    }
    let elapsed = started.elapsed();
    cohort.stop.store(true, Ordering::Release);
    for sleeper in &sleepers {
        sleeper.unpark();
    }
    for worker in workers {
        worker.join().map_err(|_| "wake probe thread panicked")?;
    }
    Ok(WakeRounds {
        round: elapsed.div_f64(rounds as f64),
        wakeups_per_sec: (rounds * threads as u64) as f64 / elapsed.as_secs_f64(),
    })
}

/// Wakes every worker and sleeps until all of them have checked in.
fn run_round(cohort: &Cohort, sleepers: &[Thread]) {
    cohort.checked_in.store(0, Ordering::Release);
    cohort.generation.fetch_add(1, Ordering::AcqRel);
    for sleeper in sleepers {
        sleeper.unpark();
    }
    while cohort.checked_in.load(Ordering::Acquire) < cohort.threads {
        thread::park();
    }
}

fn check_in_every_round(cohort: &Cohort) {
    // Generation 0 is before the first round: a worker that starts late still takes part
    // in it.
    let mut seen = 0;
    loop {
        while cohort.generation.load(Ordering::Acquire) == seen
            && !cohort.stop.load(Ordering::Acquire)
        {
            thread::park();
        }
        if cohort.stop.load(Ordering::Acquire) {
            return;
        }
        seen = cohort.generation.load(Ordering::Acquire);
        if cohort.checked_in.fetch_add(1, Ordering::AcqRel) + 1 == cohort.threads {
            cohort.coordinator.unpark();
        }
    }
}
