//! The real `annal` binary on a store another process is writing: a second `annal`
//! process runs the demo (clients, services and their consumers appending), and `stat`,
//! `dump`, `tail` and `verify` read it meanwhile (`recover` refuses it); then the writer is killed with SIGKILL
//! and the store is verified and its recovery shown.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{annal_at, json};

#[test]
fn stat_dump_tail_and_verify_work_beside_a_writer_and_after_its_kill() {
    // Proves the read-only commands succeed on a store a live process appends to (verify clean, tail sees new events), recover refuses it, and after that process is killed with SIGKILL, verify finds no damage and recover --dry-run runs.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut writer = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["demo", store.to_str().unwrap(), "--orders", "1000000"])
        // Small segments: the reads below meet segment rolls.
        .args(["--segment-bytes", "1048576"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait (bounded) for the writer's first events: never a timing assertion.
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the writer never wrote"
        );
        assert!(
            writer.try_wait().unwrap().is_none(),
            "the writer ended early"
        );
        let stat = annal_at("stat", &store, &["--json"]);
        if stat.code == 0 && json(&stat)["segments"].as_array().unwrap().len() > 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stat = annal_at("stat", &store, &["--json"]);
    assert_eq!(stat.code, 0, "{}", stat.stderr);
    let stat = json(&stat);
    assert_eq!(stat["kind"], "event store");
    let consumers: Vec<_> = stat["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert!(consumers.contains(&"order-service".into()), "{stat}");
    let dump = annal_at("dump", &store, &["--count", "5"]);
    assert_eq!(dump.code, 0, "{}", dump.stderr);
    assert_eq!(dump.stdout.lines().count(), 5, "{}", dump.stdout);
    let tail = annal_at("tail", &store, &["--count", "3", "--idle", "30"]);
    assert_eq!(tail.code, 0, "{}", tail.stderr);
    assert_eq!(
        tail.stdout.lines().count(),
        3,
        "new events arrived: {}",
        tail.stdout
    );
    let from = stat["next_position"].as_u64().unwrap();
    let first_tailed: u64 = tail
        .stdout
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        first_tailed >= from,
        "tail starts at the end: {first_tailed} < {from}"
    );
    let verify = json(&annal_at("verify", &store, &["--json"]));
    assert_eq!(verify["clean"], true, "{verify}");
    assert!(verify["events_checked"].as_u64().unwrap() > 5_000);
    assert!(
        writer.try_wait().unwrap().is_none(),
        "the writer ran all along"
    );
    writer.kill().unwrap();
    writer.wait().unwrap();
    let verify = json(&annal_at("verify", &store, &["--json"]));
    assert_eq!(verify["clean"], true, "{verify}");
    let recover = annal_at("recover", &store, &["--dry-run"]);
    assert_eq!(recover.code, 0, "{}{}", recover.stdout, recover.stderr);
}
