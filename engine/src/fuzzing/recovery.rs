//! The segment recovery target: arbitrary bytes as the segment files of a log on
//! `SimStorage`, then `Log::open`. Recovery must never panic or read out of bounds; it
//! either opens a valid prefix (every event readable in order, appends work, a reopen
//! finds the same events) or refuses with `Error::Corrupt` naming a segment, leaving
//! every file as it was.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::decoders::fix_record_checksums;
use super::FUZZ_EPOCH;
use crate::error::Error;
use crate::format::record::{RECORD_HEADER_BYTES, SEAL_BODY_BYTES};
use crate::format::segment_header::{SegmentHeader, SEGMENT_HEADER_BYTES};
use crate::format::{align_up, read_u16, read_u32, read_u64, segment_file_name};
use crate::handle::Log;
use crate::io::{SimStorage, Storage};
use crate::options::{Durability, OpenChecks, Options, RecoveryMode};
use crate::position::Position;

/// The log's directory.
pub(super) const LOG_DIR: &str = "/fuzz/log";
/// Every segment file is this long (the smallest segment size); the input is its start.
pub(super) const SEGMENT_BYTES: usize = 64 << 10;
/// Separates the segments in an input.
pub(super) const SEGMENT_SEPARATOR: &[u8] = b"\n--segment--\n";
/// At most this many segments are made from one input.
const SEGMENTS_MAX: usize = 4;

/// Mode bit: write a valid segment header (epoch `FUZZ_EPOCH`, first position from the
/// input's header for the first segment, else where the previous one ends).
pub(super) const FIX_HEADERS: u8 = 1;
/// Mode bit: recompute every record's checksums.
pub(super) const FIX_CHECKSUMS: u8 = 2;
/// Mode bit: renumber the records' positions into sequence.
pub(super) const FIX_POSITIONS: u8 = 4;
/// Mode bit: open with `RecoveryMode::TruncateAtDamage` (else `Strict`).
pub(super) const TRUNCATE_AT_DAMAGE: u8 = 8;
/// Mode bit: open with `OpenChecks::LastSegment` (else `AllSegments`).
pub(super) const LAST_SEGMENT: u8 = 16;
/// Mode bit: open with `verify_reads`.
pub(super) const VERIFY_READS: u8 = 32;

/// Walks the records of a segment from its header, repairing what `mode` asks for, and
/// returns the position after the last record reached.
fn fix_records(segment: &mut [u8], first_position: u64, mode: u8) -> u64 {
    let mut offset = SEGMENT_HEADER_BYTES;
    let mut expected = first_position;
    while offset + RECORD_HEADER_BYTES <= segment.len() && read_u64(segment, offset) != 0 {
        let record = &mut segment[offset..];
        let seal = read_u16(record, 24) & 1 != 0;
        if mode & FIX_POSITIONS != 0 {
            record[8..16].copy_from_slice(&expected.to_le_bytes());
            if seal && record.len() >= RECORD_HEADER_BYTES + SEAL_BODY_BYTES {
                record[40..48].copy_from_slice(&expected.to_le_bytes());
            }
        }
        if mode & FIX_CHECKSUMS != 0 {
            fix_record_checksums(record, FUZZ_EPOCH);
        }
        let position = read_u64(record, 8);
        if seal {
            return position;
        }
        expected = position.saturating_add(u64::from(read_u32(record, 4)));
        offset += align_up(RECORD_HEADER_BYTES + read_u32(record, 0) as usize);
    }
    expected
}

/// The segment files an input describes: (first position of the name, bytes).
pub(super) fn segments_of(data: &[u8]) -> (u8, Vec<(u64, Vec<u8>)>) {
    let Some((&mode, rest)) = data.split_first() else {
        return (0, Vec::new());
    };
    let mut segments = Vec::new();
    let mut next_first = None;
    for part in split(rest, SEGMENT_SEPARATOR)
        .into_iter()
        .take(SEGMENTS_MAX)
    {
        let mut bytes = vec![0u8; SEGMENT_BYTES];
        let len = part.len().min(SEGMENT_BYTES);
        bytes[..len].copy_from_slice(&part[..len]);
        let named = if len >= 24 { read_u64(&bytes, 16) } else { 0 };
        let first = next_first.unwrap_or(named);
        if mode & FIX_HEADERS != 0 {
            let header = SegmentHeader {
                first_position: first,
                epoch: FUZZ_EPOCH,
                segment_bytes: SEGMENT_BYTES as u64,
            };
            bytes[..SEGMENT_HEADER_BYTES].copy_from_slice(&header.encode());
            next_first = Some(fix_records(&mut bytes, first, mode));
        } else {
            fix_records(&mut bytes, first, mode);
        }
        segments.push((
            if mode & FIX_HEADERS != 0 {
                first
            } else {
                named
            },
            bytes,
        ));
    }
    (mode, segments)
}

fn split<'a>(data: &'a [u8], separator: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest
        .windows(separator.len())
        .position(|window| window == separator)
    {
        parts.push(&rest[..at]);
        rest = &rest[at + separator.len()..];
    }
    parts.push(rest);
    parts
}

fn options(mode: u8, recovery: RecoveryMode) -> Options {
    Options::default()
        .segment_bytes(SEGMENT_BYTES as u64)
        .recovery(recovery)
        .open_checks(if mode & LAST_SEGMENT != 0 {
            OpenChecks::LastSegment
        } else {
            OpenChecks::AllSegments
        })
        .verify_reads(mode & VERIFY_READS != 0)
}

fn snapshot(storage: &SimStorage) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    storage
        .file_names()
        .into_iter()
        .map(|path| {
            let bytes = storage.file_bytes(&path);
            (path, bytes)
        })
        .collect()
}

/// Reads every event of an open log in order; `Ok` when the reader reached the end.
/// Events as (position, payload).
type Events = Vec<(u64, Vec<u8>)>;

fn read_everything(log: &Log) -> (Events, Result<(), Error>) {
    let first = log.first_position().0;
    let mut events = Vec::new();
    let reader = match log.read_from(Position(first)) {
        Ok(reader) => reader,
        Err(e) => return (events, Err(e)),
    };
    for event in reader {
        match event {
            Ok(event) => {
                assert_eq!(
                    event.position.0,
                    first + events.len() as u64,
                    "events out of order after recovery"
                );
                events.push((event.position.0, event.payload.to_vec()));
            }
            Err(e) => return (events, Err(e)),
        }
    }
    (events, Ok(()))
}

/// The segment recovery scanner. Input: a mode byte (see the `FIX_*` and option bits),
/// then up to four segments' leading bytes separated by `SEGMENT_SEPARATOR`; each file
/// is padded with zeros to 64 KiB.
pub fn segment_recovery(data: &[u8]) {
    let (mode, segments) = segments_of(data);
    if segments.is_empty() {
        return;
    }
    let storage = SimStorage::new();
    let dir = Path::new(LOG_DIR);
    for (first, bytes) in &segments {
        let file = storage
            .create_file(&dir.join(segment_file_name(*first)), bytes.len() as u64)
            .expect("sim create");
        file.write_at(0, bytes).expect("sim write");
        file.sync_data().expect("sim sync");
    }
    storage.sync_dir(dir).expect("sim dir sync");
    let recovery = if mode & TRUNCATE_AT_DAMAGE != 0 {
        RecoveryMode::TruncateAtDamage
    } else {
        RecoveryMode::Strict
    };
    let before = snapshot(&storage);
    let log =
        match Log::open_with_storage(LOG_DIR, options(mode, recovery), Arc::new(storage.clone())) {
            Ok(log) => log,
            Err(Error::Corrupt { path, offset, .. }) => {
                assert_eq!(
                    recovery,
                    RecoveryMode::Strict,
                    "TruncateAtDamage refused to open"
                );
                assert!(
                    path.starts_with(dir),
                    "corruption reported outside the log: {path:?}"
                );
                assert!(
                    offset < SEGMENT_BYTES as u64,
                    "corruption offset {offset} past the segment"
                );
                assert!(
                    snapshot(&storage) == before,
                    "a refused open changed the files"
                );
                return;
            }
            Err(other) => panic!("recovery failed with an unexpected error: {other}"),
        };
    let (events, read_result) = read_everything(&log);
    let lazily_checked = mode & LAST_SEGMENT != 0;
    match &read_result {
        Ok(()) => assert_eq!(
            events.len() as u64,
            log.next_position().0 - log.first_position().0,
            "a reader missed events"
        ),
        Err(Error::Corrupt { .. }) if lazily_checked => {}
        Err(e) => panic!("reading a recovered log failed: {e}"),
    }
    // Random access agrees with the sequential read. With lazy checks, a segment holding
    // damage the sequential read stopped at is scanned whole by a random read's first
    // visit and refused as a whole: `Corrupt`, never other bytes.
    let damage_found = read_result.is_err();
    for (position, payload) in events.iter().step_by(7) {
        match log.read(Position(*position)) {
            Ok(event) => assert_eq!(&event.payload[..], &payload[..]),
            Err(Error::Corrupt { .. }) if lazily_checked && damage_found => {}
            Err(e) => panic!("read a recovered event at {position}: {e}"),
        }
    }
    // The recovered log takes appends, and a reopen finds the same events.
    let appended = log.append(b"after recovery", Durability::Synced);
    let expected_next = log.next_position();
    log.close().expect("close a recovered log");
    let reopened = Log::open_with_storage(
        LOG_DIR,
        options(mode, RecoveryMode::Strict),
        Arc::new(storage.clone()),
    )
    .expect("a recovered log reopens");
    assert_eq!(
        reopened.next_position(),
        expected_next,
        "reopen lost events"
    );
    let (again, _) = read_everything(&reopened);
    let common = events.len().min(again.len());
    assert_eq!(&again[..common], &events[..common], "reopen changed events");
    if read_result.is_ok() && appended.is_ok() {
        assert_eq!(again.len(), events.len() + 1, "reopen lost events");
        assert_eq!(again.last().map(|e| &e.1[..]), Some(&b"after recovery"[..]));
    }
}
