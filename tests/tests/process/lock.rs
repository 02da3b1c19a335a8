//! The directory lock between processes on the real file system: a second process that
//! opens a log already open elsewhere gets `Error::Locked` (code 5, a message naming the
//! lock file), and the log opens again once the first owner closes it or dies.

use std::path::Path;
use std::process::{Output, Stdio};

use annal::{Durability, Error, ErrorCode, Log, Options, Position};

use crate::child::{self, Running, READY_WAIT};

const SEGMENT_BYTES: u64 = 64 << 10;

fn options() -> Options {
    Options::default().segment_bytes(SEGMENT_BYTES)
}

/// Runs `annal-crash-child open` on `dir` to completion.
fn open_in_child(dir: &Path) -> Output {
    child::command("open", dir, SEGMENT_BYTES)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a child's open failed with `Error::Locked`, reported as such.
fn assert_locked_in_child(output: &Output, dir: &Path) {
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(ErrorCode::Locked as i32),
        "second process: expected exit code {} (Locked), got {:?}; stderr: {stderr}",
        ErrorCode::Locked as i32,
        output.status
    );
    let lock_path = dir.join("LOCK");
    assert!(
        stderr.contains("error code=5: log directory is locked by another owner")
            && stderr.contains(&lock_path.display().to_string()),
        "second process: unclear error message: {stderr:?}"
    );
    assert!(output.stdout.is_empty(), "second process opened the log");
}

/// Starts a child holding the log open, returning once it has opened it.
fn hold_in_child(dir: &Path) -> Running {
    let mut holder = Running::spawn(child::command("hold", dir, SEGMENT_BYTES), Stdio::piped());
    let line = holder.wait_ready("holder");
    assert_eq!(line, "held", "holder child did not open the log");
    holder
}

#[test]
fn second_process_gets_locked_until_the_first_closes() {
    // Proves a process opening a log this process holds fails with Locked (exit code 5,
    // message naming the lock file), and succeeds after this process closes the log.
    let _turn = child::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    log.append(b"held by the parent", Durability::Synced)
        .unwrap();
    let refused = open_in_child(dir.path());
    assert_locked_in_child(&refused, dir.path());
    // The refused open must not have disturbed the owner.
    log.append(b"still mine", Durability::Synced).unwrap();
    log.close().unwrap();
    let opened = open_in_child(dir.path());
    assert!(
        opened.status.success() && text(&opened.stdout) == "opened\n",
        "open after close failed: {:?}; stderr: {}",
        opened.status,
        text(&opened.stderr)
    );
    let log = Log::open(dir.path(), options()).unwrap();
    let payloads: Vec<_> = log
        .read_from(Position(0))
        .unwrap()
        .map(|e| e.unwrap().payload)
        .collect();
    assert_eq!(payloads, [&b"held by the parent"[..], b"still mine"]);
}

#[test]
fn this_process_gets_locked_while_a_child_holds_the_log() {
    // Proves Log::open returns Error::Locked naming dir/LOCK while another process holds
    // the log, and opens once that process has closed it.
    let _turn = child::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut holder = hold_in_child(dir.path());
    match Log::open(dir.path(), options()) {
        Err(Error::Locked { path }) => assert_eq!(path, dir.path().join("LOCK")),
        other => panic!("expected Error::Locked, got {other:?}"),
    }
    // A second child is refused too.
    assert_locked_in_child(&open_in_child(dir.path()), dir.path());
    drop(holder.stdin());
    assert_eq!(holder.next_line(READY_WAIT).unwrap(), "closed");
    assert!(holder.wait().status.success());
    let log = Log::open(dir.path(), options()).unwrap();
    assert_eq!(log.next_position(), Position(0));
    log.close().unwrap();
}

#[test]
fn a_killed_owner_leaves_no_stale_lock() {
    // Proves the lock dies with its process: after the holder is SIGKILLed, the log opens.
    let _turn = child::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let holder = hold_in_child(dir.path());
    assert!(matches!(
        Log::open(dir.path(), options()),
        Err(Error::Locked { .. })
    ));
    holder.kill();
    let log = Log::open(dir.path(), options()).unwrap();
    log.append(b"after the owner died", Durability::Synced)
        .unwrap();
    log.close().unwrap();
}

#[test]
fn a_second_log_in_the_same_process_gets_locked() {
    // Proves the lock also excludes a second Log on the same directory within one process.
    let _turn = child::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    let second = Log::open(dir.path(), options());
    assert!(
        matches!(&second, Err(e) if e.code() == ErrorCode::Locked),
        "expected Locked, got {second:?}"
    );
    drop(log);
    let again = Log::open(dir.path(), options()).unwrap();
    let appended = again.append(b"x", Durability::Synced).unwrap();
    assert_eq!(appended.first, Position(0));
    assert!(matches!(
        Log::open(dir.path(), options()),
        Err(Error::Locked { .. })
    ));
    again.close().unwrap();
}

#[test]
fn closing_releases_the_lock_while_a_forked_child_still_holds_its_descriptor() {
    // Proves a log closed while a forked child (not yet exec'd) holds a copy of the lock file's descriptor can be reopened at once: closing unlocks, it does not wait for every copy to close.
    let _turn = child::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    log.append(b"before the fork", Durability::Synced).unwrap();
    // SAFETY: the child only sleeps and exits with `_exit`, both async-signal-safe, so
    // forking this multi-threaded process is sound; the parent waits for it below.
    #[expect(
        unsafe_code,
        reason = "fork a child that holds the lock file's descriptor"
    )]
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: see above; nothing else runs in the child.
        #[expect(unsafe_code, reason = "the forked child sleeps and exits")]
        unsafe {
            libc::sleep(3);
            libc::_exit(0);
        }
    }
    log.close().unwrap();
    let reopened = Log::open(dir.path(), options());
    let mut status = 0;
    // SAFETY: `pid` is this process's child; `status` is a valid out-pointer.
    #[expect(unsafe_code, reason = "reap the forked child")]
    let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(reaped, pid);
    let log = reopened.expect("the lock was released at close");
    assert_eq!(log.next_position(), Position(1));
}
