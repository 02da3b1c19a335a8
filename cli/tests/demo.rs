//! `annal demo` as a test at small N, with the restart: the binary's own checks
//! (exactly one outcome and one credit answer per order, the view equal to its
//! recomputation) pass, and the store it leaves verifies clean.

#![allow(clippy::unwrap_used)]

mod support;

use support::{annal, annal_at, json};

#[test]
fn the_demo_finishes_every_order_once_across_a_restart_and_leaves_a_clean_store() {
    // Proves annal demo at 2 000 orders restarts the customer service mid-run, passes its exactly-once and view checks, reports its rates, and leaves a store that verify finds clean with every event.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("orders");
    let run = annal(&[
        "demo",
        store.to_str().unwrap(),
        "--orders",
        "2000",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary = json(&run);
    assert_eq!(summary["checks_passed"], true);
    assert_eq!(
        summary["approved"].as_u64().unwrap() + summary["rejected"].as_u64().unwrap(),
        2_000
    );
    assert_eq!(summary["events"], 6_000);
    assert_eq!(summary["retry_wrote_nothing"], true);
    assert!(
        summary["customer_steps_before_restart"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert!(
        summary["customer_steps_after_restart"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert!(summary["events_per_second"].as_f64().unwrap() > 0.0);
    assert!(summary["appends_per_fdatasync"].as_f64().unwrap() >= 1.0);
    let verify = json(&annal_at("verify", &store, &["--json"]));
    assert_eq!(verify["clean"], true, "{verify}");
    assert_eq!(verify["events_checked"], 6_000);
    let table = annal(&["demo", "--orders", "500", "--no-restart"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains("appends per fdatasync"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("not restarted"), "{}", table.stdout);
}
