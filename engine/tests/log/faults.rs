//! Injected faults on the simulated backend: failed fsyncs and writes poison the log and
//! reopening recovers every synced event; a full disk at segment creation is a clean,
//! retryable `NoSpace`; bit rot in a sealed segment is refused with the file and offset
//! (or cut under `TruncateAtDamage`); a second open of a locked directory is refused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use annal::testing::segment_file_name;
use annal::testing::SEGMENT_HEADER_BYTES;
use annal::testing::{record_bytes_for, RECORD_HEADER_BYTES};
use annal::testing::{CrashMode, SimStorage};
use annal::{Durability, Error, Log, OpenChecks, Options, Position, RecoveryMode};

const SEGMENT_BYTES: u64 = 64 << 10;

pub(super) fn dir() -> &'static Path {
    Path::new("/sim/faults")
}

pub(super) fn options() -> Options {
    Options::default().segment_bytes(SEGMENT_BYTES)
}

pub(super) fn open(storage: &SimStorage) -> Log {
    open_with(storage, options())
}

pub(super) fn open_with(storage: &SimStorage, options: Options) -> Log {
    Log::open_with_storage(dir(), options, Arc::new(storage.clone())).unwrap()
}

/// A payload that names its position, of a length that varies with it.
pub(super) fn payload(position: u64, len: usize) -> Vec<u8> {
    let mut bytes = format!("event {position};").into_bytes();
    bytes.resize(len.max(bytes.len()), (position % 251) as u8);
    bytes
}

pub(super) fn read_all(log: &Log) -> Vec<Vec<u8>> {
    let mut expected = log.first_position().0;
    log.read_from(log.first_position())
        .unwrap()
        .map(|event| {
            let event = event.unwrap();
            assert_eq!(event.position, Position(expected), "positions have a gap");
            expected += 1;
            event.payload.to_vec()
        })
        .collect()
}

/// Appends `count` events of `len` bytes at `durability`, returning their payloads.
pub(super) fn append_events(
    log: &Log,
    count: u64,
    len: usize,
    durability: Durability,
) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            let position = log.next_position().0;
            let bytes = payload(position, len);
            let appended = log.append(&bytes, durability).unwrap();
            assert_eq!(appended.first, Position(position));
            bytes
        })
        .collect()
}

pub(super) fn assert_poisoned(log: &Log) {
    assert!(log.is_poisoned());
    for durability in [
        Durability::Buffered,
        Durability::Written,
        Durability::Synced,
    ] {
        assert!(
            matches!(log.append(b"later", durability), Err(Error::Poisoned)),
            "append at {durability:?} after poisoning"
        );
        assert!(matches!(
            log.append_batch(&[b"a".as_slice(), b"b"], durability),
            Err(Error::Poisoned)
        ));
    }
    assert!(matches!(log.sync(), Err(Error::Poisoned)));
}

#[test]
fn failed_fsync_poisons_and_reopen_recovers_synced_events() {
    // Proves a failed group-commit fsync fails its append, poisons the log for every later append and sync, and a reopen holds every synced event.
    let storage = SimStorage::new();
    let log = open(&storage);
    let synced = append_events(&log, 20, 700, Durability::Synced);
    let next = log.next_position();
    storage.fail_syncs_after(0);
    match log.append(b"unlucky", Durability::Synced) {
        Err(Error::Io { op, path, .. }) => {
            assert_eq!(op, "fdatasync segment");
            assert!(path.is_some());
        }
        other => panic!("expected the fsync failure, got {other:?}"),
    }
    assert_poisoned(&log);
    assert_eq!(
        log.next_position(),
        next.after(1),
        "the write itself happened"
    );
    drop(log);
    storage.clear_faults();
    let log = open(&storage);
    let recovered = read_all(&log);
    assert_eq!(&recovered[..synced.len()], &synced[..]);
    // The unsynced event's bytes are still in the (uncrashed) storage, so it may stay.
    assert!(recovered.len() <= synced.len() + 1);
    assert!(!log.is_poisoned());
    log.append(b"works again", Durability::Synced).unwrap();
}

#[test]
fn failed_fsync_then_power_loss_keeps_exactly_the_synced_events() {
    // Proves the event whose fsync failed is never reported durable: after a power loss exactly the synced events remain.
    let storage = SimStorage::new();
    let log = open(&storage);
    let synced = append_events(&log, 30, 1500, Durability::Synced);
    storage.fail_syncs_after(0);
    log.append(b"written only", Durability::Written).unwrap();
    assert!(matches!(log.sync(), Err(Error::Io { .. })));
    assert_poisoned(&log);
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&survivor);
    assert_eq!(read_all(&log), synced);
}

#[test]
fn failed_seal_fsync_during_roll_poisons() {
    // Proves an fsync failing on a just-sealed segment (run off the append path) poisons the log before anything past the seal is reported synced, losing no synced event.
    let storage = SimStorage::new();
    let log = open(&storage);
    let mut written = append_events(&log, 10, 2000, Durability::Synced);
    let synced = log.last_synced();
    storage.fail_syncs_after(0);
    let rolls = log.metrics().rolls;
    while log.metrics().rolls == rolls {
        let position = log.next_position().0;
        match log.append(&payload(position, 2000), Durability::Written) {
            Ok(_) => written.push(payload(position, 2000)),
            // The new segment's header sync failed too (a clean, retryable error), or the
            // flusher thread already poisoned the log.
            Err(Error::Io { .. }) | Err(Error::Poisoned) => break,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    // The sealed segment's fdatasync failed (on the flusher thread, or here, where the
    // sync waits for it or runs it): nothing past the last group commit became synced.
    match log.sync() {
        Err(Error::Io { op, .. }) => assert_eq!(op, "fdatasync segment"),
        Err(Error::Poisoned) => {}
        other => panic!("expected the seal's fsync to fail, got {other:?}"),
    }
    assert_eq!(log.last_synced(), synced);
    assert_poisoned(&log);
    drop(log);
    storage.clear_faults();
    let log = open(&storage);
    // Nothing was crashed, so every written event is still there, and nothing more.
    assert_eq!(read_all(&log), written);
}

#[test]
fn concurrent_synced_appends_all_fail_when_fsync_fails() {
    // Proves no Synced append is acknowledged while fsync fails: the leader gets the I/O error, followers get it or Poisoned.
    let storage = SimStorage::new();
    let log = Arc::new(open(&storage));
    append_events(&log, 3, 10, Durability::Synced);
    storage.fail_syncs_after(0);
    let threads = 6;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (log, barrier) = (Arc::clone(&log), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                log.append(format!("thread {t}").as_bytes(), Durability::Synced)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut io_errors = 0;
    for result in &results {
        match result {
            Err(Error::Io { .. }) => io_errors += 1,
            Err(Error::Poisoned) => {}
            other => panic!("a Synced append returned {other:?} while fsync fails"),
        }
    }
    assert!(io_errors >= 1, "{results:?}");
    assert_poisoned(&log);
}

#[test]
fn a_failed_shared_write_fails_its_waiters_and_loses_no_acknowledged_append() {
    // Proves that when the group-commit leader's one write for every waiting Synced record fails, no waiter is acknowledged, none hangs, and after a power loss every acknowledged append is present.
    let storage = SimStorage::new();
    let log = Arc::new(open(&storage));
    let threads = 6;
    let barrier = Arc::new(Barrier::new(threads));
    storage.fail_writes_after(40, false);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (log, barrier) = (Arc::clone(&log), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let mut acknowledged = Vec::new();
                for i in 0..200 {
                    let bytes = format!("thread {t} event {i};").into_bytes();
                    match log.append(&bytes, Durability::Synced) {
                        Ok(_) => acknowledged.push(bytes),
                        Err(Error::Io { .. }) | Err(Error::Poisoned) => return acknowledged,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                panic!("thread {t}: 200 appends succeeded although writes fail after 40");
            })
        })
        .collect();
    let acknowledged: Vec<Vec<u8>> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_poisoned(&log);
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&survivor);
    let present = read_all(&log);
    for bytes in &acknowledged {
        assert!(
            present.contains(bytes),
            "acknowledged {:?} is gone",
            String::from_utf8_lossy(bytes)
        );
    }
    for bytes in &present {
        assert!(
            bytes.starts_with(b"thread ") && bytes.ends_with(b";"),
            "a torn or foreign event: {bytes:?}"
        );
    }
}

#[test]
fn failed_write_poisons_and_reopen_recovers_synced_events() {
    // Proves a failed record write fails its append, poisons the log, and a reopen holds exactly the earlier events.
    let storage = SimStorage::new();
    let log = open(&storage);
    let mut events = append_events(&log, 15, 900, Durability::Synced);
    events.extend(append_events(&log, 5, 900, Durability::Written));
    let next = log.next_position();
    storage.fail_writes_after(0, false);
    match log.append(b"never written", Durability::Written) {
        Err(Error::Io { op, .. }) => assert_eq!(op, "write record"),
        other => panic!("expected the write failure, got {other:?}"),
    }
    assert_eq!(log.next_position(), next, "a failed write took a position");
    assert_poisoned(&log);
    drop(log);
    storage.clear_faults();
    let log = open(&storage);
    assert_eq!(read_all(&log), events);
    assert_eq!(log.next_position(), next);
    log.append(b"works again", Durability::Synced).unwrap();
    assert_eq!(&log.read(next).unwrap().payload[..], b"works again");
}

#[test]
fn no_space_for_a_new_segment_is_a_clean_retryable_error() {
    // Proves a full disk at roll time gives NoSpace (not a panic or poison), loses nothing acknowledged, and the next append after space returns succeeds.
    let storage = SimStorage::new();
    let log = open(&storage);
    storage.fail_creates_no_space();
    let mut acknowledged = Vec::new();
    let mut failure = None;
    // The background preparer may already hold one spare segment, so the disk is
    // certainly full by the second roll: 3 segments' worth of appends is plenty.
    for _ in 0..3 * SEGMENT_BYTES / 1000 {
        let position = log.next_position().0;
        let bytes = payload(position, 1000);
        match log.append(&bytes, Durability::Synced) {
            Ok(appended) => {
                assert_eq!(appended.first, Position(position));
                acknowledged.push(bytes);
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    match failure {
        Some(Error::NoSpace { op, .. }) => assert_eq!(op, "create segment"),
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert!(!log.is_poisoned());
    let next = log.next_position();
    assert_eq!(next, Position(acknowledged.len() as u64));
    // Still full: still a clean NoSpace, for batches and Written appends too.
    assert!(matches!(
        log.append_batch(&[b"a".as_slice(), b"b"], Durability::Written),
        Err(Error::NoSpace { .. })
    ));
    assert_eq!(log.next_position(), next);
    assert_eq!(read_all(&log), acknowledged);
    log.sync().unwrap();
    storage.clear_faults();
    let appended = log.append(b"room again", Durability::Synced).unwrap();
    assert_eq!(appended.first, next);
    acknowledged.push(b"room again".to_vec());
    assert_eq!(read_all(&log), acknowledged);
    // And all of it survives a power loss.
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&survivor);
    assert_eq!(read_all(&log), acknowledged);
}

#[test]
fn no_space_then_power_loss_then_reopen_continues() {
    // Proves a log left with a sealed last segment by NoSpace reopens after a crash and appends into a new segment.
    let storage = SimStorage::new();
    let log = open(&storage);
    storage.fail_creates_no_space();
    let mut acknowledged = Vec::new();
    loop {
        let position = log.next_position().0;
        let bytes = payload(position, 3000);
        match log.append(&bytes, Durability::Written) {
            Ok(_) => acknowledged.push(bytes),
            Err(Error::NoSpace { .. }) => break,
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert!(acknowledged.len() < 1000, "never ran out of space");
    }
    // The roll that failed sealed the full segment first; `sync` makes it durable (its
    // fdatasync may still be waiting on the flusher thread).
    log.sync().unwrap();
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&survivor);
    assert_eq!(read_all(&log), acknowledged);
    let appended = log.append(b"next", Durability::Synced).unwrap();
    assert_eq!(appended.first, Position(acknowledged.len() as u64));
    acknowledged.push(b"next".to_vec());
    assert_eq!(read_all(&log), acknowledged);
}

/// Fills three segments with synced single events of varied sizes; returns the payloads
/// and the first position of every segment.
pub(super) fn three_segments(storage: &SimStorage) -> (Vec<Vec<u8>>, Vec<u64>) {
    let log = open(storage);
    let mut events = Vec::new();
    let mut extra = 0;
    while extra < 5 {
        let position = log.next_position().0;
        let bytes = payload(position, 500 + (position as usize * 37) % 2500);
        log.append(&bytes, Durability::Synced).unwrap();
        events.push(bytes);
        if log.metrics().rolls == 2 {
            extra += 1;
        }
    }
    log.close().unwrap();
    let firsts = segment_firsts(storage);
    assert_eq!(firsts.len(), 3, "{firsts:?}");
    (events, firsts)
}

/// The segments in the log directory (not those recovery moved to its quarantine).
pub(super) fn segment_firsts(storage: &SimStorage) -> Vec<u64> {
    storage
        .file_names()
        .iter()
        .filter(|p| p.parent() == Some(dir()))
        .filter_map(|p| annal::testing::parse_segment_file_name(p.file_name()?.to_str()?))
        .collect()
}

pub(super) fn segment(first: u64) -> PathBuf {
    dir().join(segment_file_name(first))
}

/// Offset of the record holding `position` in the segment starting at `first`, for logs
/// of single-event appends.
pub(super) fn record_offset(events: &[Vec<u8>], first: u64, position: u64) -> u64 {
    let before: usize = (first..position)
        .map(|p| record_bytes_for(events[p as usize].len(), 1, 0))
        .sum();
    (SEGMENT_HEADER_BYTES + before) as u64
}

/// Flips one bit in the payload of the event at `position`; returns its record's offset.
pub(super) fn flip_payload_bit(
    storage: &SimStorage,
    events: &[Vec<u8>],
    first: u64,
    position: u64,
) -> u64 {
    let offset = record_offset(events, first, position);
    let path = segment(first);
    let at = offset as usize + RECORD_HEADER_BYTES + 4 + 3;
    let mut byte = storage.file_bytes(&path).unwrap()[at];
    assert_eq!(
        byte, events[position as usize][3],
        "offset arithmetic is off"
    );
    byte ^= 0x10;
    storage.corrupt_file(&path, at, &[byte]);
    offset
}

#[test]
fn bit_rot_in_a_sealed_segment_is_refused_naming_file_and_offset() {
    // Proves a flipped bit in a sealed segment followed by synced segments fails an open with OpenChecks::AllSegments with Corrupt at that segment and record offset.
    let storage = SimStorage::new();
    let (events, firsts) = three_segments(&storage);
    let damaged = firsts[0] + (firsts[1] - firsts[0]) / 2;
    let offset = flip_payload_bit(&storage, &events, firsts[0], damaged);
    let options = || options().open_checks(OpenChecks::AllSegments);
    match Log::open_with_storage(dir(), options(), Arc::new(storage.clone())) {
        Err(Error::Corrupt {
            path,
            offset: at,
            reason,
        }) => {
            assert_eq!(path, segment(firsts[0]));
            assert_eq!(at, offset);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Refusing changed nothing: it is refused again, and the lock was released.
    assert!(matches!(
        Log::open_with_storage(dir(), options(), Arc::new(storage.clone())),
        Err(Error::Corrupt { .. })
    ));
    assert_eq!(segment_firsts(&storage), firsts);
}

#[test]
fn bit_rot_in_a_sealed_segment_opens_by_default_and_every_read_of_it_is_refused() {
    // Proves the default open (the tail only) opens past a flipped bit in a sealed segment, verify reports it, and no read returns its bytes: reads from the segment's start get the intact events, then Corrupt naming the file and record; a read inside it, and every read after that, gets Corrupt; the other segments read.
    let storage = SimStorage::new();
    let (events, firsts) = three_segments(&storage);
    let damaged = firsts[0] + (firsts[1] - firsts[0]) / 2;
    let offset = flip_payload_bit(&storage, &events, firsts[0], damaged);
    let log = open(&storage);
    assert!(
        log.recovery_report().segments_scanned < firsts.len(),
        "only the tail was scanned"
    );
    // The full check on demand finds it without any read having reached it.
    let report = log.verify(&mut |_| {}).unwrap();
    let found = report.damage().next().expect("verify reports the damage");
    assert_eq!(found.kind, annal::VerifyProblemKind::Record);
    assert_eq!(
        (found.file.clone(), found.offset),
        (segment(firsts[0]), Some(offset))
    );
    let corrupt_here = |result: Result<annal::Event, Error>| match result {
        Err(Error::Corrupt {
            path, offset: at, ..
        }) => {
            assert_eq!(path, segment(firsts[0]));
            assert_eq!(at, offset);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    };
    // Reads from the segment's start verify as they go: the intact events before the
    // damage read, then the damaged record is Corrupt.
    assert_eq!(log.read(Position(0)).unwrap().payload.to_vec(), events[0]);
    let mut reader = log.read_from(Position(0)).unwrap();
    for expected in &events[..damaged as usize] {
        assert_eq!(&reader.next().unwrap().unwrap().payload.to_vec(), expected);
    }
    corrupt_here(reader.next().expect("an error, not the end"));
    // A read inside the segment scans it whole first; once that scan failed, every read
    // of the segment is refused.
    corrupt_here(log.read(Position(damaged)));
    corrupt_here(log.read(Position(0)));
    for position in firsts[1]..events.len() as u64 {
        let event = log.read(Position(position)).unwrap();
        assert_eq!(event.payload.to_vec(), events[position as usize]);
    }
    log.append(b"appends go on", Durability::Synced).unwrap();
    corrupt_here(log.read(Position(1)));
}

#[test]
fn bit_rot_in_the_middle_segment_is_refused_too() {
    // Proves damage in the sealed segment before the last, which the last proves durable, is reported in that segment (not the first) by the full open, and by the default open's reads of it.
    let storage = SimStorage::new();
    let (events, firsts) = three_segments(&storage);
    let damaged = firsts[1] + 1;
    let offset = flip_payload_bit(&storage, &events, firsts[1], damaged);
    let full = options().open_checks(OpenChecks::AllSegments);
    let in_that_segment = |result: Result<(), Error>| match result {
        Err(Error::Corrupt {
            path, offset: at, ..
        }) => {
            assert_eq!(path, segment(firsts[1]));
            assert_eq!(at, offset);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    };
    in_that_segment(Log::open_with_storage(dir(), full, Arc::new(storage.clone())).map(drop));
    let log = open(&storage);
    assert_eq!(
        log.recovery_report().segments_scanned,
        1,
        "the last proves the one before durable"
    );
    let mut reader = log.read_from(Position(firsts[1])).unwrap();
    assert_eq!(
        reader.next().unwrap().unwrap().payload.to_vec(),
        events[firsts[1] as usize]
    );
    in_that_segment(reader.next().unwrap().map(drop));
    in_that_segment(log.read(Position(damaged)).map(drop));
}

#[test]
fn truncate_at_damage_keeps_exactly_the_events_before_it() {
    // Proves TruncateAtDamage opens a damaged log holding exactly the events before the bad record, durably, and appends continue from there.
    let storage = SimStorage::new();
    let (events, firsts) = three_segments(&storage);
    let damaged = firsts[0] + (firsts[1] - firsts[0]) / 2;
    flip_payload_bit(&storage, &events, firsts[0], damaged);
    let log = open_with(
        &storage,
        options()
            .recovery(RecoveryMode::TruncateAtDamage)
            .open_checks(OpenChecks::AllSegments),
    );
    assert_eq!(read_all(&log), &events[..damaged as usize]);
    assert_eq!(log.next_position(), Position(damaged));
    assert!(matches!(
        log.read(Position(damaged)),
        Err(Error::PositionOutOfRange { .. })
    ));
    assert_eq!(segment_firsts(&storage), vec![firsts[0]]);
    let mut expected = events[..damaged as usize].to_vec();
    for position in damaged..damaged + 40 {
        let bytes = payload(position + 1_000_000, 2500);
        log.append(&bytes, Durability::Synced).unwrap();
        expected.push(bytes);
    }
    assert_eq!(read_all(&log), expected);
    // The cut is durable: after a power loss a strict open finds a clean log.
    let survivor = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&survivor);
    assert_eq!(read_all(&log), expected);
}

#[test]
fn bit_rot_before_a_later_synced_record_in_the_active_segment_is_refused() {
    // Proves damage in the active segment is not mistaken for a torn tail when a later record proves it was synced.
    let storage = SimStorage::new();
    let log = open(&storage);
    let events = append_events(&log, 10, 300, Durability::Synced);
    log.close().unwrap();
    let offset = flip_payload_bit(&storage, &events, 0, 4);
    match Log::open_with_storage(dir(), options(), Arc::new(storage.clone())) {
        Err(Error::Corrupt {
            path, offset: at, ..
        }) => {
            assert_eq!(path, segment(0));
            assert_eq!(at, offset);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let log = open_with(&storage, options().recovery(RecoveryMode::TruncateAtDamage));
    assert_eq!(read_all(&log), &events[..4]);
}

#[test]
fn a_second_open_of_a_locked_directory_is_refused() {
    // Proves a second Log on the same storage and directory fails with Locked while the first is open, and succeeds once it is dropped.
    let storage = SimStorage::new();
    let log = open(&storage);
    log.append(b"first owner", Durability::Synced).unwrap();
    match Log::open_with_storage(dir(), options(), Arc::new(storage.clone())) {
        Err(Error::Locked { path }) => assert!(path.starts_with(dir()), "{path:?}"),
        other => panic!("expected Locked, got {other:?}"),
    }
    // The refused open disturbed nothing.
    log.append(b"still mine", Durability::Synced).unwrap();
    let other = Log::open_with_storage("/sim/elsewhere", options(), Arc::new(storage.clone()));
    assert!(other.is_ok(), "another directory is not locked");
    drop(log);
    let log = open(&storage);
    assert_eq!(
        read_all(&log),
        vec![b"first owner".to_vec(), b"still mine".to_vec()]
    );
}
