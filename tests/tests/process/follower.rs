//! A read-only follower in this process of a log another process writes (real files):
//! the child appends from a thread, consumers commit, and retention removes segments
//! behind them while the follower's subscription follows; then the child is killed with
//! SIGKILL. Every event the follower delivered is, byte for byte, the event a writer
//! reopening the log reads at that position, in order, with no gap but where retention
//! overtook the follower (then it resumes past the gap).

use std::process::Stdio;
use std::time::{Duration, Instant};

use annal::{Error, Log, Options, Position, Start, SubscriptionOptions, Visibility};
use annal_tests::clock_seed;

use crate::child::{self, Running};

const SEGMENT_BYTES: u64 = 64 << 10;

#[test]
fn a_follower_follows_another_process_through_rolls_retention_and_a_kill() {
    // Proves a follower in another process than the writer delivers the writer's events in position order and byte for byte as the log holds them, across segment rolls and retention, and that what it read survives the writer's SIGKILL and recovery.
    let _turn = child::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().segment_bytes(SEGMENT_BYTES);
    let mut command = child::command("consumers", dir.path(), SEGMENT_BYTES);
    command.arg(clock_seed().to_string());
    let mut writer = Running::spawn(command, Stdio::null());
    let line = writer.wait_ready("follower");
    assert!(line.starts_with("open "), "{line:?}");
    let follower = Log::open_read_only(dir.path(), options.clone()).unwrap();
    let mut subscription = follower
        .subscribe_with(
            Start::Beginning,
            SubscriptionOptions::default().visibility(Visibility::Written),
        )
        .unwrap();
    let mut seen: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut gaps = 0;
    let until = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < until {
        match subscription.next(Duration::from_millis(50)) {
            Ok(Some(event)) => {
                if let Some(&(last, _)) = seen.last() {
                    assert!(
                        event.position.0 > last,
                        "out of order at {}",
                        event.position
                    );
                    gaps += usize::from(event.position.0 != last + 1);
                }
                seen.push((event.position.0, event.payload.to_vec()));
            }
            Ok(None) => {}
            Err(Error::BehindRetention { first, .. }) => {
                gaps += 1;
                subscription = follower
                    .subscribe_with(
                        Start::At(first),
                        SubscriptionOptions::default().visibility(Visibility::Written),
                    )
                    .unwrap();
            }
            Err(e) => panic!("the follower's subscription failed: {e}"),
        }
    }
    writer.kill_9("follower");
    assert!(
        seen.len() > 100,
        "the follower saw only {} events",
        seen.len()
    );
    assert!(
        gaps <= seen.len() / 10,
        "{gaps} gaps in {} events",
        seen.len()
    );
    drop(subscription);
    follower.close().unwrap();
    // The writer's own recovery keeps everything the follower read (it read only whole,
    // checksummed records), unless retention removed it since.
    let log = Log::open(dir.path(), options).unwrap();
    let first = log.first_position().0;
    let mut checked = 0;
    for (position, payload) in seen.iter().filter(|(p, _)| *p >= first) {
        let event = log.read(Position(*position)).unwrap();
        assert_eq!(&event.payload[..], &payload[..], "position {position}");
        checked += 1;
    }
    assert!(checked > 0 || first > seen.last().unwrap().0);
}
