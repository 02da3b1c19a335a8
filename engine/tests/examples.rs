//! Runs the examples of event-driven services (`engine/examples/`): each example's core
//! is a `run(dir)` function that checks its own result, included here so that
//! `cargo test` runs it without a `cargo run`.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../examples/projection.rs"]
mod projection;

#[test]
fn the_projection_example_resumes_its_view_after_a_restart() {
    // Proves the projection example's view is right and, after a restart, reads only the new events.
    let dir = tempfile::tempdir().unwrap();
    projection::run(dir.path()).unwrap();
}

#[allow(dead_code)]
#[path = "../examples/outbox.rs"]
mod outbox;

#[allow(dead_code)]
#[path = "../examples/saga.rs"]
mod saga;

#[test]
fn the_outbox_example_delivers_every_message_once_across_a_crash() {
    // Proves the outbox relay republishes after a crash before its commit and the broker's dedupe by event id delivers each message once.
    let dir = tempfile::tempdir().unwrap();
    outbox::run(dir.path()).unwrap();
}

#[test]
fn the_saga_example_takes_each_step_once_across_a_crash_and_retries() {
    // Proves the saga step's append_and_commit keeps reservations and the checkpoint together across a crash, and retries write nothing.
    let dir = tempfile::tempdir().unwrap();
    saga::run(dir.path()).unwrap();
}

#[allow(dead_code)]
#[path = "../examples/services/scenario/mod.rs"]
mod services;

#[test]
fn the_services_demo_finishes_every_order_once_across_a_restart() {
    // Proves the services scenario at 2 000 orders, with the Customer service stopped mid-step and restarted, passes its own checks from the log (one outcome and one credit answer per order, the view equal to its recomputation) and the retried step wrote nothing.
    let dir = tempfile::tempdir().unwrap();
    let config = services::Config::new(2_000);
    let summary = services::run(dir.path(), &config, &mut |_| {}).unwrap();
    assert_eq!(summary.approved + summary.rejected, 2_000);
    assert!(summary.approved > 0 && summary.rejected > 0, "{summary:?}");
    assert!(summary.retry_wrote_nothing);
    assert!(
        summary.customer_steps.0 > 0 && summary.customer_steps.1 > 0,
        "{summary:?}"
    );
    assert_eq!(summary.events, 6_000);
}
