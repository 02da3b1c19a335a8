//! A follower of a copy on a read-only file system (a backup): a tmpfs mounted for the
//! test, filled by a writer, then remounted read-only. Needs the privilege to mount
//! (CI runs as root); without it the test fails saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

use annal::{Direction, Position, Revision};
use annal::{Durability, Error, EventStore, ExpectedRevision, Log, NewEvent, Options};

/// A tmpfs mounted at a fresh directory, unmounted when dropped.
struct Mounted {
    point: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mounted {
    fn new() -> Mounted {
        let dir = tempfile::tempdir().unwrap();
        let point = dir.path().join("mnt");
        std::fs::create_dir(&point).unwrap();
        mount(&["-t", "tmpfs", "-o", "size=16m", "annal-test", path(&point)]);
        Mounted { point, _dir: dir }
    }

    fn remount_read_only(&self) {
        mount(&["-o", "remount,ro", path(&self.point)]);
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.point).status();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mount(args: &[&str]) {
    let output = Command::new("mount")
        .args(args)
        .output()
        .expect("run mount");
    assert!(
        output.status.success(),
        "this test needs to mount a tmpfs (as root): mount {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_log_and_a_store_on_a_read_only_file_system_open_as_followers() {
    // Proves a log and an event store on a file system mounted read-only open read-only and read every event, while a writer's open of the same directory fails with an I/O error instead of damaging anything.
    let fs = Mounted::new();
    let log_dir = fs.point.join("log");
    let store_dir = fs.point.join("store");
    let options = Options::default().segment_bytes(64 << 10);
    let log = Log::open(&log_dir, options.clone()).unwrap();
    for i in 0..500u32 {
        log.append(format!("event {i}").as_bytes(), Durability::Written)
            .unwrap();
    }
    log.close().unwrap();
    let store = EventStore::open(&store_dir, options.clone()).unwrap();
    for i in 0..50u32 {
        store
            .append(
                format!("order-{}", i % 5),
                ExpectedRevision::Any,
                vec![NewEvent::new("Placed", format!("{i}"))],
                Durability::Synced,
            )
            .unwrap();
    }
    store.close().unwrap();
    fs.remount_read_only();

    assert!(matches!(
        Log::open(&log_dir, options.clone()),
        Err(Error::Io { .. })
    ));
    let follower = Log::open_read_only(&log_dir, options.clone()).unwrap();
    let events: Vec<_> = follower
        .read_from(Position(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events.len(), 500);
    assert_eq!(&events[499].payload[..], b"event 499");
    follower.close().unwrap();

    let store = EventStore::open_read_only(&store_dir, options).unwrap();
    let order = store
        .read_stream("order-3", Revision(0), Direction::Forwards, usize::MAX)
        .unwrap();
    assert_eq!(order.len(), 10);
    store.close().unwrap();
}
