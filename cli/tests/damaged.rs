//! The real `annal` binary on damaged stores: `verify` finds a flipped byte with its file
//! and offset and exits 3; `stat` and `dump` say the log cannot be read past the damage;
//! a store too damaged to open is still verified; `recover` shows and makes its cut,
//! keeping a copy, only when told to.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;

use support::{annal_at, flip_byte, json, make_store, segment_files};

/// Offset of a segment's first record's body (after the 64-byte segment header and the
/// 40-byte record header).
const FIRST_BODY: u64 = 64 + 40;

#[test]
fn a_flipped_byte_is_found_with_its_file_and_offset() {
    // Proves verify reports a payload byte flipped in a sealed segment as a record problem at that segment's first record (offset 64), in the table and the JSON, exits 3, and leaves the file as it was.
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let second = segment_files(dir.path())[1].clone();
    flip_byte(&second, FIRST_BODY + 20);
    let before = std::fs::read(&second).unwrap();
    let table = annal_at("verify", dir.path(), &[]);
    assert_eq!(table.code, 3, "{}{}", table.stdout, table.stderr);
    let name = second.file_name().unwrap().to_str().unwrap();
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("record"))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(
        row.contains(name) && row.contains(" 64 ") && row.contains("checksum"),
        "{row}"
    );
    assert!(table.stdout.contains("DAMAGED"), "{}", table.stdout);
    assert!(
        table.stderr.contains("problem(s) found"),
        "{}",
        table.stderr
    );
    let report = json(&annal_at("verify", dir.path(), &["--json"]));
    assert_eq!(report["clean"], false);
    let damage: Vec<_> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["damage"] == true)
        .collect();
    assert_eq!(damage[0]["file"], second.to_str().unwrap());
    assert_eq!(damage[0]["offset"], 64);
    assert_eq!(
        std::fs::read(&second).unwrap(),
        before,
        "verify wrote nothing"
    );
}

#[test]
fn stat_and_dump_say_where_the_log_stops() {
    // Proves stat and dump on a store with a damaged sealed segment name the position the log cannot be read past, point to verify, and exit 3; dump still prints the events before it.
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let second = segment_files(dir.path())[1].clone();
    flip_byte(&second, FIRST_BODY + 20);
    let stat = annal_at("stat", dir.path(), &[]);
    assert_eq!(stat.code, 3, "{}{}", stat.stdout, stat.stderr);
    assert!(
        stat.stderr.contains("cannot be read past position"),
        "{}",
        stat.stderr
    );
    assert!(stat.stderr.contains("annal verify"), "{}", stat.stderr);
    assert!(
        stat.stdout.contains("NO"),
        "an unreadable segment row: {}",
        stat.stdout
    );
    let dump = annal_at("dump", dir.path(), &[]);
    assert_eq!(dump.code, 3, "{}", dump.stderr);
    assert!(
        dump.stderr.contains("cannot be read past position"),
        "{}",
        dump.stderr
    );
    assert!(dump.stdout.starts_with("0  order-0@0"), "{}", dump.stdout);
}

#[test]
fn a_store_that_cannot_open_is_still_verified() {
    // Proves a damaged first segment header makes stat fail with one line naming the file, while verify still walks the other segments and reports the header with its file, exiting 3.
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let first = segment_files(dir.path())[0].clone();
    flip_byte(&first, 20);
    let stat = annal_at("stat", dir.path(), &[]);
    assert_eq!(stat.code, 1, "{}", stat.stderr);
    assert_eq!(stat.stderr.lines().count(), 1, "{}", stat.stderr);
    assert!(
        stat.stderr.contains(first.to_str().unwrap()),
        "{}",
        stat.stderr
    );
    let verify = json(&annal_at("verify", dir.path(), &["--json"]));
    assert!(verify["open_error"].is_string(), "{verify}");
    let header = &verify["problems"][0];
    assert_eq!(header["kind"], "segment-header");
    assert_eq!(header["file"], first.to_str().unwrap());
}

#[test]
fn recover_shows_its_cut_then_makes_it_only_when_told() {
    // Proves recover --dry-run lists the cut of a torn tail and changes nothing, recover without --yes and without a terminal refuses, and recover --yes cuts and keeps the cut bytes in quarantine/.
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let last = segment_files(dir.path()).last().unwrap().clone();
    let stat = json(&annal_at("stat", dir.path(), &["--json"]));
    let end = stat["segments"].as_array().unwrap().last().unwrap()["written_bytes"]
        .as_u64()
        .unwrap();
    let mut file = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(end)).unwrap();
    file.write_all(&[0xAB; 40]).unwrap();
    drop(file);
    let before = std::fs::read(&last).unwrap();
    let verify = annal_at("verify", dir.path(), &[]);
    assert_eq!(
        verify.code, 0,
        "a torn tail is not damage: {}",
        verify.stdout
    );
    assert!(
        verify.stdout.contains("incomplete-tail"),
        "{}",
        verify.stdout
    );
    let planned = json(&annal_at("recover", dir.path(), &["--dry-run", "--json"]));
    assert_eq!(planned["applied"], false);
    assert_eq!(planned["actions"][0]["action"], "cut");
    assert_eq!(planned["actions"][0]["offset"], end);
    assert_eq!(planned["actions"][0]["bytes_cut"], 40);
    let refused = annal_at("recover", dir.path(), &[]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(std::fs::read(&last).unwrap(), before, "nothing changed");
    let applied = json(&annal_at("recover", dir.path(), &["--yes", "--json"]));
    assert_eq!(applied["applied"], true, "{applied}");
    let copy = applied["actions"][0]["quarantine"].as_str().unwrap();
    assert_eq!(std::fs::read(copy).unwrap(), vec![0xAB; 40]);
    let again = annal_at("recover", dir.path(), &["--dry-run"]);
    assert!(
        again.stdout.contains("nothing to recover"),
        "{}",
        again.stdout
    );
}

#[test]
fn recover_refuses_damage_unless_the_mode_allows_it() {
    // Proves the dry run of damage in a sealed segment says recovery would refuse (exit 3) and, under truncate-at-damage, lists the cut at the damaged record and the segments after it.
    let dir = tempfile::tempdir().unwrap();
    make_store(dir.path());
    let second = segment_files(dir.path())[1].clone();
    flip_byte(&second, FIRST_BODY + 20);
    let strict = annal_at("recover", dir.path(), &["--dry-run"]);
    assert_eq!(strict.code, 3, "{}", strict.stderr);
    assert!(strict.stderr.contains("would refuse"), "{}", strict.stderr);
    let lenient = json(&annal_at(
        "recover",
        dir.path(),
        &["--dry-run", "--mode", "truncate-at-damage", "--json"],
    ));
    let actions = lenient["actions"].as_array().unwrap();
    assert!(
        actions.iter().any(|a| a["action"] == "cut"
            && a["offset"] == 64
            && a["segment"] == second.to_str().unwrap()),
        "{lenient}"
    );
    assert_eq!(
        actions.len(),
        segment_files(dir.path()).len() - 1,
        "{lenient}"
    );
}

#[test]
fn stat_names_damage_in_the_last_segment() {
    // Proves a flipped byte in the last segment's first record, with valid records after it, makes stat name that segment and offset 64 as damage and exit 3 (not mistaken for a write in progress).
    let dir = tempfile::tempdir().unwrap();
    let store = annal::EventStore::open(dir.path(), annal::Options::default()).unwrap();
    for k in 0..50 {
        let event = annal::NewEvent::new("Placed", format!("{k}"));
        store
            .append(
                "order-1",
                annal::ExpectedRevision::Any,
                vec![event],
                annal::Durability::Synced,
            )
            .unwrap();
    }
    store.close().unwrap();
    let only = segment_files(dir.path())[0].clone();
    flip_byte(&only, FIRST_BODY + 2);
    let stat = annal_at("stat", dir.path(), &[]);
    assert_eq!(stat.code, 3, "{}{}", stat.stdout, stat.stderr);
    assert!(stat.stderr.contains("at offset 64"), "{}", stat.stderr);
    assert!(
        stat.stdout.contains("to damage at offset 64"),
        "{}",
        stat.stdout
    );
    let verify = annal_at("verify", dir.path(), &[]);
    assert_eq!(verify.code, 3, "{}", verify.stdout);
}
