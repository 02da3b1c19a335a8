//! What the CLI tests share: running the real `annal` binary, and making real stores.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use annal::{
    Durability, EventStore, ExpectedRevision, NewEvent, Options, Position, Start, StreamAppend,
};

/// The result of one run of `annal`.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `annal` with `args`; asserts it never panicked (a panic would print a trace).
pub fn annal(args: &[&str]) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(args)
        .output()
        .expect("run annal");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "annal {args:?} panicked: {}",
        run.stderr
    );
    run
}

/// Runs `annal` with `args` and a path argument.
pub fn annal_at(command: &str, dir: &Path, more: &[&str]) -> Run {
    let dir = dir.to_str().expect("utf-8 path");
    let mut args = vec![command, dir];
    args.extend_from_slice(more);
    annal(&args)
}

/// Parses a run's stdout as JSON.
pub fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// Segment bytes of the test stores: small, so they have several segments.
pub const SEGMENT_BYTES: u64 = 64 << 10;

/// A store of 30 order streams with 20 events each (600 events, 300 bytes of metadata
/// each, over four segments),
/// one event with binary data in `blob-1`, and the consumer `billing` at position 100
/// (committed with an append).
pub fn make_store(dir: &Path) {
    let store = EventStore::open(dir, Options::default().segment_bytes(SEGMENT_BYTES)).unwrap();
    for k in 0..600u32 {
        let event =
            NewEvent::new("OrderPlaced", format!("order {k}")).with_metadata(vec![7u8; 300]);
        store
            .append(
                format!("order-{}", k % 30),
                ExpectedRevision::Any,
                vec![event],
                Durability::Written,
            )
            .unwrap();
    }
    store
        .append(
            "blob-1",
            ExpectedRevision::NoStream,
            vec![NewEvent::new("Blob", vec![0xFFu8, 0x00, 0xFE])],
            Durability::Synced,
        )
        .unwrap();
    let billing = store.create_consumer("billing", Start::Beginning).unwrap();
    let invoice = StreamAppend::new(
        "invoice-1",
        ExpectedRevision::NoStream,
        vec![NewEvent::new("Issued", "1")],
    );
    billing
        .append_and_commit(&[invoice], Position(100), Durability::Synced)
        .unwrap();
    store.close().unwrap();
}

/// The store's segment files, in position order.
pub fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

/// Flips one byte of `path` at `offset`.
pub fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}
