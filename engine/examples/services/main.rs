//! The event-driven services demo: an Order service, a Customer service (a durable store
//! consumer committing its checkpoint with its appends), a materialized view and an
//! auditor on one event store, with the Customer service stopped and restarted mid-run;
//! at the end every order is checked against the log (`scenario`). `annal demo` runs
//! the same scenario with a progress bar.
//!
//! `cargo run --release -p annal --example services -- [ORDERS]` (default 100 000; in a
//! temporary directory; exits non-zero if any check fails).

#![allow(clippy::print_stdout)]

mod scenario;

fn main() -> Result<(), scenario::Error> {
    let orders = match std::env::args().nth(1) {
        Some(orders) => orders.parse()?,
        None => 100_000,
    };
    let dir = tempfile::tempdir()?;
    let config = scenario::Config::new(orders);
    let mut last_phase = "";
    let summary = scenario::run(dir.path(), &config, &mut |progress| {
        if progress.phase != last_phase {
            println!(
                "{} ({} of {} orders created, {} finished)",
                progress.phase, progress.created, progress.orders, progress.finished
            );
            last_phase = progress.phase;
        }
    })?;
    println!(
        "{} orders: {} approved, {} rejected; {} events in {:.2?} ({:.0} events/s)",
        summary.orders,
        summary.approved,
        summary.rejected,
        summary.events,
        summary.elapsed,
        summary.events_per_second()
    );
    println!(
        "order latency (created to outcome): p50 {:.2?}, p99 {:.2?}, max {:.2?}; {:.1} appends per fdatasync",
        summary.latency_p50,
        summary.latency_p99,
        summary.latency_max,
        summary.appends_per_sync()
    );
    println!(
        "customer service: {} steps, stopped with a step of {} orders uncommitted, restarted: \
         its retried last step wrote nothing: {}; {} more steps",
        summary.customer_steps.0,
        summary.dropped_step_events,
        summary.retry_wrote_nothing,
        summary.customer_steps.1
    );
    println!(
        "checked: every order has exactly one outcome and one credit answer; the view of \
         {} customers equals its recomputation from the log",
        summary.view_customers
    );
    for line in &summary.audit {
        println!("audit: {line}");
    }
    Ok(())
}
