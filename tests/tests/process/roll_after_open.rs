//! A roll right after open, on real files: reopening a log whose active segment is full
//! and appending at once makes the writer prepare the next segment itself while the
//! background preparer thread may still hold the request sent at open. Both must never
//! create a file under the prepared name at the same time (that truncated the segment
//! being installed: SIGBUS in the writer, or a segment whose header reads as zeros).
//! Runs in a child process, so a SIGBUS is reported as a failure of this test.

use std::os::unix::process::ExitStatusExt;

use crate::child;

/// Rounds of open, roll, reopen; each takes a few milliseconds.
const ROUNDS: u32 = 100;

#[test]
fn rolling_right_after_open_never_clobbers_the_prepared_segment() {
    // Proves that 100 reopen-then-roll rounds (under spinning threads that perturb the
    // scheduler) neither crash the process nor lose or damage an event.
    let _turn = child::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let output = child::command("roll-after-open", dir.path(), 64 << 10)
        .arg(ROUNDS.to_string())
        .arg("2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "child failed with {:?} (signal {:?}): {stderr}",
        output.status,
        output.status.signal()
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
}
