//! Every subcommand of the real `annal` binary on a real store, and bad input: a missing
//! directory, an empty one, a file, bad arguments — each a one-line error and a non-zero
//! exit status, never a panic.

#![allow(clippy::unwrap_used)]

mod support;

use support::{annal, annal_at, json, make_store, segment_files};

#[test]
fn stat_shows_segments_streams_and_consumer_lag() {
    // Proves stat's table and JSON give the store's events, segments, categories and the consumer's checkpoint and lag.
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let table = annal_at("stat", dir.path(), &[]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("602 events"), "{}", table.stdout);
    assert!(table.stdout.contains("billing"), "{}", table.stdout);
    let stat = json(&annal_at("stat", dir.path(), &["--json"]));
    assert_eq!(stat["kind"], "event store");
    assert_eq!(stat["next_position"], 602);
    assert_eq!(
        stat["segments"].as_array().unwrap().len(),
        segment_files(dir.path()).len()
    );
    assert!(segment_files(dir.path()).len() > 1);
    assert_eq!(stat["streams"]["streams"], 32);
    assert_eq!(stat["streams"]["categories"][0]["name"], "order");
    assert_eq!(stat["streams"]["categories"][0]["events"], 600);
    assert_eq!(stat["consumers"][0]["name"], "billing");
    assert_eq!(stat["consumers"][0]["checkpoint"], 100);
    assert_eq!(stat["consumers"][0]["lag_events"], 502);
}

#[test]
fn verify_says_clean_and_exits_zero() {
    // Proves verify on a clean store counts every event, stream and consumer, says clean and exits 0, in both formats.
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let table = annal_at("verify", dir.path(), &[]);
    assert_eq!(table.code, 0, "{}{}", table.stdout, table.stderr);
    assert!(table.stdout.contains("clean"), "{}", table.stdout);
    let report = json(&annal_at("verify", dir.path(), &["--json"]));
    assert_eq!(report["clean"], true);
    assert_eq!(report["events_checked"], 602);
    assert_eq!(report["consumers_checked"], 1);
    assert_eq!(report["streams_checked"], 32);
}

#[test]
fn dump_selects_by_stream_category_position_and_count() {
    // Proves dump's selections (stream, category, from/to, count), its text and hex data, and its JSON lines.
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let stream = annal_at("dump", dir.path(), &["--stream", "order-3"]);
    assert_eq!(stream.code, 0, "{}", stream.stderr);
    let lines: Vec<&str> = stream.stdout.lines().collect();
    assert_eq!(lines.len(), 20);
    assert!(
        lines[0].starts_with("3  order-3@0  OrderPlaced"),
        "{}",
        lines[0]
    );
    assert!(lines[19].contains("order-3@19"), "{}", lines[19]);
    assert!(lines[0].ends_with("order 3"), "{}", lines[0]);
    let range = annal_at("dump", dir.path(), &["--from", "10", "--to", "14"]);
    assert_eq!(range.stdout.lines().count(), 5, "{}", range.stdout);
    assert!(range.stdout.starts_with("10  "), "{}", range.stdout);
    let counted = annal_at(
        "dump",
        dir.path(),
        &[
            "--category",
            "order",
            "--from",
            "590",
            "--count",
            "3",
            "--json",
        ],
    );
    let events: Vec<serde_json::Value> = counted
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["position"], 590);
    assert_eq!(events[0]["stream"], "order-20");
    assert_eq!(events[0]["data"], "order 590");
    let blob = annal_at("dump", dir.path(), &["--stream", "blob-1"]);
    assert!(blob.stdout.contains("hex:ff00fe"), "{}", blob.stdout);
    let hex = annal_at(
        "dump",
        dir.path(),
        &["--stream", "order-3", "--count", "1", "--hex"],
    );
    assert!(
        hex.stdout.trim_end().ends_with("hex:6f726465722033"),
        "{}",
        hex.stdout
    );
}

#[test]
fn tail_prints_from_a_position_and_stops_when_idle() {
    // Proves tail delivers events from --from in order, stops after --count, and stops after --idle with nothing new.
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let counted = annal_at("tail", dir.path(), &["--from", "598", "--count", "3"]);
    assert_eq!(counted.code, 0, "{}", counted.stderr);
    let positions: Vec<&str> = counted
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(positions, ["598", "599", "600"]);
    let filtered = annal_at(
        "tail",
        dir.path(),
        &["--from", "0", "--type", "Issued", "--idle", "0.5"],
    );
    assert_eq!(filtered.code, 0, "{}", filtered.stderr);
    assert_eq!(filtered.stdout.lines().count(), 1, "{}", filtered.stdout);
    assert!(
        filtered.stdout.contains("invoice-1@0  Issued"),
        "{}",
        filtered.stdout
    );
}

#[test]
fn bench_measures_and_plots() {
    // Proves a tiny bench run reports the fdatasync rate and each append cell in JSON (all positive) and writes an SVG chart.
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("appends.svg");
    let run = annal(&[
        "bench",
        "--seconds",
        "0.05",
        "--rounds",
        "1",
        "--threads",
        "1,2",
        "--durability",
        "synced",
        "--dir",
        dir.path().to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = json(&run);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "fdatasync, two append cells, the read");
    assert!(results[0]["workload"]
        .as_str()
        .unwrap()
        .starts_with("fdatasync"));
    for result in results {
        assert!(
            result["per_second_median"].as_f64().unwrap() > 0.0,
            "{result}"
        );
    }
    assert!(results[1]["appends_per_fdatasync_median"].as_f64().unwrap() >= 1.0);
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
}

#[test]
fn a_missing_directory_an_empty_one_and_a_file_are_one_line_errors() {
    // Proves stat, dump, verify, tail and recover on a missing directory, an empty directory and a plain file each print one line saying so and exit 1.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a store").unwrap();
    for command in ["stat", "dump", "verify", "tail", "recover"] {
        for (path, says) in [
            (&missing, "no such directory"),
            (&empty, "not an Annal store"),
            (&file, "not a directory"),
        ] {
            let run = annal_at(
                command,
                path,
                &["--dry-run"][..usize::from(command == "recover")],
            );
            assert_eq!(run.code, 1, "{command} {path:?}: {}", run.stderr);
            assert_eq!(run.stderr.lines().count(), 1, "{command}: {}", run.stderr);
            assert!(run.stderr.contains(says), "{command}: {}", run.stderr);
        }
    }
    assert!(!empty.join("LOCK").exists(), "nothing was created");
}

#[test]
fn bad_arguments_are_refused_with_a_non_zero_status() {
    // Proves unknown commands, conflicting or malformed options and impossible ranges are refused before any work, with usage (2) or one-line (1) errors.
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let path = dir.path().to_str().unwrap();
    for args in [
        vec!["frobnicate"],
        vec!["stat"],
        vec!["dump", path, "--stream", "a", "--category", "b"],
        vec!["dump", path, "--count", "many"],
        vec!["bench", "--durability", "sometimes"],
        vec!["recover", path, "--dry-run", "--yes"],
    ] {
        let run = annal(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
    for (args, says) in [
        (vec!["dump", path, "--from", "9", "--to", "3"], "--to"),
        (vec!["bench", "--threads", "0"], "--threads"),
        (vec!["bench", "--seconds", "0"], "--seconds"),
        (vec!["tail", path, "--idle", "0"], "--idle"),
        (vec!["demo", "--orders", "0"], "--orders"),
        (vec!["demo", path], "not empty"),
    ] {
        let run = annal(&args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
    }
}
