//! Reading by location (`Log::read_in_record`, `Log::read_located`): the right events
//! across segments and in any order, and a clear error for every location that does not
//! hold its position.

use annal::{Durability, Error, Location, Log, Options, Position};

/// A log in `dir` with small segments, holding `appends` single-event appends and one
/// 3-event batch; returns the locations of every event, in position order.
fn filled_log(dir: &std::path::Path, appends: u64) -> (Log, Vec<Location>) {
    let log = Log::open(dir, Options::default().segment_bytes(64 << 10)).expect("open");
    let mut locations = Vec::new();
    for i in 0..appends {
        let appended = log
            .append(
                format!("event {i:05} {}", "x".repeat(i as usize % 300)).as_bytes(),
                Durability::Written,
            )
            .expect("append");
        locations.push(appended.location(0));
    }
    let batch = log
        .append_batch(
            &[&b"batch a"[..], b"batch b", b"batch c"],
            Durability::Written,
        )
        .expect("append batch");
    for i in 0..3 {
        locations.push(batch.location(i));
    }
    (log, locations)
}

#[test]
fn located_reads_return_the_events_at_their_locations_across_segments() {
    // Proves read_located returns, for locations in any order and repeated, exactly the events a sequential read returns at those positions, across segment rolls.
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, locations) = filled_log(dir.path(), 1_500);
    assert!(
        log.metrics().rolls >= 3,
        "the log must span several segments"
    );
    let sequential: Vec<_> = log
        .read_from(Position(0))
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("sequential read");
    let mut order: Vec<usize> = (0..locations.len()).rev().step_by(3).collect();
    order.extend((0..locations.len()).step_by(7));
    order.push(0);
    order.push(0);
    let wanted: Vec<Location> = order.iter().map(|&i| locations[i]).collect();
    let mut out = Vec::new();
    log.read_located(&wanted, &mut out).expect("located read");
    assert_eq!(out.len(), wanted.len());
    for (event, &i) in out.iter().zip(&order) {
        assert_eq!(event, &sequential[i]);
        let one = log.read_in_record(locations[i]).expect("one located read");
        assert_eq!(&one, event);
    }
    log.close().expect("close");
}

#[test]
fn bad_locations_are_clear_errors_and_keep_the_events_before_them() {
    // Proves every kind of wrong location (past the watermark, inside the segment header, past the published bytes, another record, mid-record, an offset above the segment) is an error, never a panic or another event, and that read_located keeps the events before it.
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, locations) = filled_log(dir.path(), 200);
    let (first, first_offset) = (locations[0].position, locations[0].record_offset);
    let (tenth, tenth_offset) = (locations[10].position, locations[10].record_offset);
    let next = log.next_position();
    let bad: Vec<((Position, u32), &str)> = vec![
        ((next, first_offset), "out of range"),
        ((Position(u64::MAX), first_offset), "out of range"),
        ((first, 0), "segment header"),
        ((first, 8), "segment header"),
        ((first, u32::MAX), "past the published bytes"),
        ((first, tenth_offset), "another record"),
        ((tenth, first_offset), "another record"),
        ((first, first_offset + 8), "mid-record"),
        ((first, first_offset + 4), "misaligned"),
    ];
    for ((position, offset), what) in bad {
        let one = log.read_in_record(Location::new(position, offset));
        assert!(
            matches!(
                one,
                Err(Error::Corrupt { .. } | Error::PositionOutOfRange { .. })
            ),
            "{what}: read_in_record gave {one:?}"
        );
        let mut out = Vec::new();
        let wrong = Location::new(position, offset);
        let many = log.read_located(&[locations[1], locations[2], wrong], &mut out);
        assert!(
            matches!(
                many,
                Err(Error::Corrupt { .. } | Error::PositionOutOfRange { .. })
            ),
            "{what}: read_located gave {many:?}"
        );
        let kept: Vec<Position> = out.iter().map(|e| e.position).collect();
        assert_eq!(
            kept,
            vec![locations[1].position, locations[2].position],
            "{what}"
        );
    }
    let mut out = Vec::new();
    log.read_located(&[], &mut out).expect("no locations");
    assert!(out.is_empty());
    log.close().expect("close");
}

#[test]
fn located_reads_below_the_retained_start_are_out_of_range() {
    // Proves a location removed by retention is an out-of-range error, not a read of freed or reused bytes.
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, locations) = filled_log(dir.path(), 1_500);
    let keep_from = locations[1_200].position;
    log.truncate_before(keep_from).expect("retention");
    let first = log.first_position();
    assert!(first.0 > 0, "retention must have removed a segment");
    let gone = locations[0];
    assert!(matches!(
        log.read_in_record(gone),
        Err(Error::PositionOutOfRange { .. })
    ));
    let mut out = Vec::new();
    let kept = locations[1_300];
    assert!(matches!(
        log.read_located(&[kept, gone], &mut out),
        Err(Error::PositionOutOfRange { .. })
    ));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].position, kept.position);
    log.close().expect("close");
}

#[test]
fn located_reads_inside_large_batches_return_each_event_in_any_order() {
    // Proves located reads that step through a batch record (forwards, skipping ahead inside it, backwards, and across records) return exactly the events a sequential read returns.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), Options::default().segment_bytes(1 << 20)).expect("open");
    let mut locations = Vec::new();
    for batch in 0..3u64 {
        let payloads: Vec<Vec<u8>> = (0..300u64)
            .map(|i| {
                format!("batch {batch} event {i} {}", "y".repeat((i % 17) as usize)).into_bytes()
            })
            .collect();
        let appended = log
            .append_batch(&payloads, Durability::Written)
            .expect("append batch");
        locations.extend((0..300).map(|i| appended.location(i)));
    }
    let sequential: Vec<_> = log
        .read_from(Position(0))
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("sequential read");
    let forwards: Vec<usize> = (0..locations.len()).collect();
    let skipping: Vec<usize> = (0..locations.len()).step_by(7).collect();
    let backwards: Vec<usize> = (0..locations.len()).rev().collect();
    let mixed: Vec<usize> = vec![5, 6, 299, 300, 4, 301, 899, 0, 898];
    for order in [forwards, skipping, backwards, mixed] {
        let wanted: Vec<Location> = order.iter().map(|&i| locations[i]).collect();
        let mut out = Vec::new();
        log.read_located(&wanted, &mut out).expect("located read");
        let expected: Vec<_> = order.iter().map(|&i| sequential[i].clone()).collect();
        assert_eq!(out, expected);
    }
    log.close().expect("close");
}
