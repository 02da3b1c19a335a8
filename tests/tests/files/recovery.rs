//! Recovery on real segment files damaged by hand: every torn length and every flipped
//! bit of the last record, flipped bits in sealed segments and in records a later sync
//! proves durable, damaged segment headers, files cut short, garbage named like a
//! segment, and unrelated files. The log must open with an intact prefix when the damage
//! can be a torn tail, refuse with `Error::Corrupt` naming the file and offset when it
//! cannot, and never panic or return altered payload bytes.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use annal::testing::parse_segment_file_name;
use annal::testing::SEGMENT_HEADER_BYTES;
use annal::{Durability, Error, Log, Options, Position};
use annal_tests::{walk_records, RecordAt, Rng};

const SEGMENT_BYTES: u64 = 64 << 10;

fn options() -> Options {
    Options::default().segment_bytes(SEGMENT_BYTES)
}

/// The segment files of `dir`, in position order.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.unwrap();
            let first = parse_segment_file_name(entry.file_name().to_str()?)?;
            entry
                .file_type()
                .unwrap()
                .is_file()
                .then(|| (first, entry.path()))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, path)| path).collect()
}

/// Appends each batch `Synced`, closes the log, and returns every payload in order.
fn write_log(dir: &Path, batches: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let log = Log::open(dir, options()).unwrap();
    let mut all = Vec::new();
    for batch in batches {
        let appended = log.append_batch(batch, Durability::Synced).unwrap();
        assert_eq!(appended.first, Position(all.len() as u64));
        all.extend(batch.iter().cloned());
    }
    log.close().unwrap();
    all
}

/// Opens the log and reads every payload, checking positions are gapless from 0.
fn open_and_read(dir: &Path) -> Result<(Log, Vec<Vec<u8>>), Error> {
    let log = Log::open(dir, options())?;
    assert_eq!(log.first_position(), Position(0));
    let mut payloads = Vec::new();
    for (at, event) in log.read_from(Position(0))?.enumerate() {
        let event = event?;
        assert_eq!(event.position, Position(at as u64), "positions have a gap");
        payloads.push(event.payload.to_vec());
    }
    assert_eq!(log.next_position(), Position(payloads.len() as u64));
    Ok((log, payloads))
}

/// Distinct, non-zero payload bytes, so any cut or damage shows in a comparison.
fn payload(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| (rng.next_u64() % 255 + 1) as u8).collect()
}

/// A few small records, the last a batch whose checksummed bytes end off an 8-byte
/// boundary (so the record has padding). Returns the payloads of all records before
/// the last one, and the last one's.
fn small_log(dir: &Path) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut rng = Rng::new(7);
    let earlier = vec![
        vec![payload(&mut rng, 30)],
        vec![
            payload(&mut rng, 3),
            payload(&mut rng, 0),
            payload(&mut rng, 17),
        ],
        vec![payload(&mut rng, 100)],
    ];
    // Body: 4+5 + 4+0 + 4+9 = 26 bytes; record 66, padded to 72.
    let last = vec![payload(&mut rng, 5), Vec::new(), payload(&mut rng, 9)];
    let mut batches = earlier.clone();
    batches.push(last.clone());
    write_log(dir, &batches);
    (earlier.concat(), last)
}

fn flip_bit(path: &Path, bit: usize) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, (bit / 8) as u64).unwrap();
    byte[0] ^= 1 << (bit % 8);
    file.write_all_at(&byte, (bit / 8) as u64).unwrap();
}

fn expect_corrupt(
    result: Result<(Log, Vec<Vec<u8>>), Error>,
    path: &Path,
    offset: u64,
    what: &str,
) {
    match result {
        Err(Error::Corrupt {
            path: p,
            offset: o,
            reason,
        }) => {
            assert_eq!(p, path, "{what}: Corrupt names the wrong file ({reason})");
            assert_eq!(
                o, offset,
                "{what}: Corrupt names the wrong offset ({reason})"
            );
        }
        Err(other) => panic!("{what}: expected Error::Corrupt, got {other}"),
        Ok((_, payloads)) => panic!(
            "{what}: expected Error::Corrupt, but the log opened with {} events",
            payloads.len()
        ),
    }
}

/// The record at `index` of the segment file at `path`.
fn record(path: &Path, index: usize) -> RecordAt {
    walk_records(&fs::read(path).unwrap())[index]
}

#[test]
fn every_torn_length_of_the_last_record_keeps_it_whole_or_drops_it() {
    // Proves that zeroing the last record from any length L to its end leaves a log that
    // opens with every earlier event intact and the last batch wholly present (only when
    // nothing changed) or wholly absent, and that appends resume at the right position.
    let dir = tempfile::tempdir().unwrap();
    let (earlier, last) = small_log(dir.path());
    let segment = segment_files(dir.path()).pop().unwrap();
    let pristine = fs::read(&segment).unwrap();
    let records = walk_records(&pristine);
    let last_record = *records.last().unwrap();
    assert_eq!(last_record.header.event_count, 3);
    let (start, end) = (
        last_record.offset,
        last_record.offset + last_record.record_bytes(),
    );
    let mut kept = 0;
    for cut in 0..last_record.record_bytes() {
        fs::write(&segment, &pristine).unwrap();
        let mut torn = pristine.clone();
        torn[start + cut..end].fill(0);
        let unchanged = torn == pristine;
        fs::write(&segment, &torn).unwrap();
        let (log, payloads) =
            open_and_read(dir.path()).unwrap_or_else(|e| panic!("cut at {cut}: open failed: {e}"));
        let mut expected = earlier.clone();
        if unchanged {
            expected.extend(last.iter().cloned());
            kept += 1;
        }
        assert_eq!(
            payloads, expected,
            "cut at {cut}: the last batch is neither whole nor absent"
        );
        // Appending after recovery lands right after the recovered prefix and survives a
        // second recovery.
        let appended = log.append(b"after", Durability::Synced).unwrap();
        assert_eq!(appended.first, Position(expected.len() as u64));
        log.close().unwrap();
        let (_, again) = open_and_read(dir.path()).unwrap();
        expected.push(b"after".to_vec());
        assert_eq!(again, expected, "cut at {cut}: second recovery differs");
    }
    // Only cuts inside the zero padding leave the record as it was.
    assert_eq!(
        kept,
        last_record.record_bytes() - last_record.covered_bytes()
    );
}

#[test]
fn every_bit_flip_in_the_last_record_drops_it_or_leaves_it_intact() {
    // Proves a flipped bit anywhere in the last record's header or body drops exactly
    // that batch, and a flip in its padding leaves it intact: never altered payloads.
    let dir = tempfile::tempdir().unwrap();
    let (earlier, last) = small_log(dir.path());
    let segment = segment_files(dir.path()).pop().unwrap();
    let pristine = fs::read(&segment).unwrap();
    let last_record = *walk_records(&pristine).last().unwrap();
    assert!(last_record.record_bytes() > last_record.covered_bytes());
    for bit in 0..last_record.record_bytes() * 8 {
        fs::write(&segment, &pristine).unwrap();
        flip_bit(&segment, last_record.offset * 8 + bit);
        let (log, payloads) =
            open_and_read(dir.path()).unwrap_or_else(|e| panic!("bit {bit}: open failed: {e}"));
        let mut expected = earlier.clone();
        let in_padding = bit / 8 >= last_record.covered_bytes();
        if in_padding {
            expected.extend(last.iter().cloned());
        }
        assert_eq!(
            payloads, expected,
            "bit {bit} (padding: {in_padding}): wrong events after recovery"
        );
        drop(log);
    }
}

/// A log of three or more segments whose first segment starts with small records.
/// Returns every payload.
fn multi_segment_log(dir: &Path) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(11);
    let mut batches = vec![
        vec![payload(&mut rng, 12)],
        vec![payload(&mut rng, 6), payload(&mut rng, 9)],
        vec![payload(&mut rng, 21)],
    ];
    for k in 0..200 {
        let len = 900 + (k * 37) % 400;
        batches.push(vec![payload(&mut rng, len)]);
    }
    let all = write_log(dir, &batches);
    assert!(segment_files(dir).len() >= 3, "the log did not roll twice");
    all
}

#[test]
fn a_flipped_bit_in_a_sealed_segment_is_corrupt_at_that_record() {
    // Proves a flipped checksummed bit in any record of a sealed segment (first record,
    // a batch, a large record, the seal) refuses to open with Error::Corrupt naming that
    // segment and record offset, and that a refused open changes nothing.
    let dir = tempfile::tempdir().unwrap();
    let all = multi_segment_log(dir.path());
    let segments = segment_files(dir.path());
    let originals: Vec<Vec<u8>> = segments.iter().map(|s| fs::read(s).unwrap()).collect();
    let mut checked = 0;
    for (k, segment) in segments[..segments.len() - 1].iter().enumerate() {
        let records = walk_records(&originals[k]);
        assert!(records.last().unwrap().header.is_seal());
        // In the first segment every bit of the first records and of the seal; in the
        // others a sample, for time.
        let seal = records.len() - 1;
        let targets: Vec<(usize, usize)> = if k == 0 {
            vec![(0, 1), (1, 1), (2, 1), (3, 7), (seal - 1, 13), (seal, 1)]
        } else {
            vec![(0, 29), (records.len() / 2, 31), (seal, 3)]
        };
        for (index, step) in targets {
            let target = records[index];
            for bit in (0..target.covered_bytes() * 8).step_by(step) {
                flip_bit(segment, target.offset * 8 + bit);
                expect_corrupt(
                    open_and_read(dir.path()),
                    segment,
                    target.offset as u64,
                    &format!("segment {k} record {index} bit {bit}"),
                );
                flip_bit(segment, target.offset * 8 + bit);
                checked += 1;
            }
        }
    }
    for (segment, original) in segments.iter().zip(&originals) {
        assert_eq!(
            &fs::read(segment).unwrap(),
            original,
            "a refused open changed a file"
        );
    }
    let (_, payloads) = open_and_read(dir.path()).unwrap();
    assert_eq!(payloads, all);
    println!("{checked} flipped bits in sealed segments refused");
}

#[test]
fn a_flipped_bit_in_padding_of_a_sealed_segment_changes_nothing() {
    // Proves padding is not data: flipping a bit there leaves every event readable and
    // intact.
    let dir = tempfile::tempdir().unwrap();
    let all = multi_segment_log(dir.path());
    let segment = &segment_files(dir.path())[0];
    let target = record(segment, 1);
    assert!(target.record_bytes() > target.covered_bytes());
    for bit in target.covered_bytes() * 8..target.record_bytes() * 8 {
        flip_bit(segment, target.offset * 8 + bit);
        let (_, payloads) =
            open_and_read(dir.path()).unwrap_or_else(|e| panic!("padding bit {bit}: {e}"));
        assert_eq!(payloads, all, "padding bit {bit}");
        flip_bit(segment, target.offset * 8 + bit);
    }
}

#[test]
fn a_flipped_bit_before_a_later_synced_record_is_corrupt() {
    // Proves damage in the active segment that a later record's synced watermark proves
    // was durable is refused as Error::Corrupt at that record, not cut as a torn tail.
    let dir = tempfile::tempdir().unwrap();
    multi_segment_log(dir.path());
    let segment = segment_files(dir.path()).pop().unwrap();
    let records = walk_records(&fs::read(&segment).unwrap());
    assert!(records.len() >= 3, "active segment holds too few records");
    let target = records[records.len() - 2];
    for bit in (0..target.covered_bytes() * 8).step_by(17) {
        flip_bit(&segment, target.offset * 8 + bit);
        expect_corrupt(
            open_and_read(dir.path()),
            &segment,
            target.offset as u64,
            &format!("active segment, second-to-last record, bit {bit}"),
        );
        flip_bit(&segment, target.offset * 8 + bit);
    }
}

#[test]
fn a_damaged_segment_header_is_corrupt() {
    // Proves every flipped bit of a segment header (only segment, sealed segment, last
    // segment) refuses to open with Error::Corrupt at offset 0 of that file.
    let single = tempfile::tempdir().unwrap();
    small_log(single.path());
    let multi = tempfile::tempdir().unwrap();
    multi_segment_log(multi.path());
    let multi_segments = segment_files(multi.path());
    let cases = [
        (single.path(), segment_files(single.path())[0].clone()),
        (multi.path(), multi_segments[0].clone()),
        (
            multi.path(),
            multi_segments[multi_segments.len() - 1].clone(),
        ),
    ];
    for (dir, segment) in &cases {
        for bit in 0..SEGMENT_HEADER_BYTES * 8 {
            flip_bit(segment, bit);
            expect_corrupt(
                open_and_read(dir),
                segment,
                0,
                &format!("{} header bit {bit}", segment.display()),
            );
            flip_bit(segment, bit);
        }
    }
    open_and_read(single.path()).unwrap();
    open_and_read(multi.path()).unwrap();
}

#[test]
fn a_segment_file_cut_short_or_grown_is_refused() {
    // Proves a segment file whose length changed (cut to any of several lengths, or
    // grown) is refused with Error::Corrupt naming it, never a panic, and that restoring
    // the file makes the log open intact.
    let dir = tempfile::tempdir().unwrap();
    let all = multi_segment_log(dir.path());
    let segments = segment_files(dir.path());
    for segment in [&segments[0], &segments[segments.len() - 1]] {
        let original = fs::read(segment).unwrap();
        let last = *walk_records(&original).last().unwrap();
        let len = original.len() as u64;
        let lengths = [
            0,
            1,
            8,
            63,
            64,
            65,
            last.offset as u64 + 10,
            (last.offset + last.record_bytes()) as u64,
            len / 2,
            len - 4096,
            len - 8,
            len - 1,
            len + 1,
            len + 4096,
        ];
        for cut in lengths {
            fs::write(segment, &original).unwrap();
            OpenOptions::new()
                .write(true)
                .open(segment)
                .unwrap()
                .set_len(cut)
                .unwrap();
            match open_and_read(dir.path()) {
                Err(e @ Error::Corrupt { .. }) => {
                    let Error::Corrupt { path, .. } = &e else {
                        unreachable!()
                    };
                    assert_eq!(path, segment, "length {cut}: wrong file in {e}");
                    let name = segment.file_name().unwrap().to_str().unwrap();
                    assert!(e.to_string().contains(name), "unclear message: {e}");
                }
                Err(other) => panic!("length {cut}: expected Error::Corrupt, got {other}"),
                Ok((_, payloads)) => panic!(
                    "{} cut to {cut} bytes opened with {} events",
                    segment.display(),
                    payloads.len()
                ),
            }
        }
        fs::write(segment, &original).unwrap();
    }
    let (_, payloads) = open_and_read(dir.path()).unwrap();
    assert_eq!(payloads, all);
}

/// Asserts opening refuses with Error::Corrupt naming one of `paths`.
fn expect_corrupt_in(dir: &Path, paths: &[&Path], what: &str) {
    match open_and_read(dir) {
        Err(Error::Corrupt { path, reason, .. }) => assert!(
            paths.contains(&path.as_path()),
            "{what}: Corrupt names {} ({reason})",
            path.display()
        ),
        Err(other) => panic!("{what}: expected Error::Corrupt, got {other}"),
        Ok((_, payloads)) => panic!(
            "{what}: expected Error::Corrupt, but the log opened with {} events",
            payloads.len()
        ),
    }
}

#[test]
fn garbage_named_like_a_segment_is_refused() {
    // Proves a file named like a segment that is not one (random bytes, zeros, short,
    // empty) is refused with Error::Corrupt, alone or after a real log (even one whose
    // last record is torn), is never deleted, and that the refusal leaves the log intact.
    let mut rng = Rng::new(3);
    let contents: Vec<(&str, Vec<u8>)> = vec![
        ("random", payload(&mut rng, SEGMENT_BYTES as usize)),
        ("zeros", vec![0; SEGMENT_BYTES as usize]),
        ("short", payload(&mut rng, 10)),
        ("empty", Vec::new()),
        ("magic only", b"ANNALSEG".to_vec()),
    ];
    for (what, bytes) in &contents {
        let empty = tempfile::tempdir().unwrap();
        let garbage = empty.path().join(annal::testing::segment_file_name(0));
        fs::write(&garbage, bytes).unwrap();
        expect_corrupt(
            open_and_read(empty.path()),
            &garbage,
            0,
            &format!("{what} as the only segment"),
        );
        assert_eq!(
            &fs::read(&garbage).unwrap(),
            bytes,
            "{what}: garbage changed"
        );

        let dir = tempfile::tempdir().unwrap();
        let all = multi_segment_log(dir.path());
        let last_segment = segment_files(dir.path()).pop().unwrap();
        let garbage = dir.path().join(annal::testing::segment_file_name(1 << 40));
        fs::write(&garbage, bytes).unwrap();
        // The error may name the garbage or the segment it follows, which it shows was
        // sealed; either way the garbage must survive the refusal.
        expect_corrupt_in(
            dir.path(),
            &[&garbage, &last_segment],
            &format!("{what} after a real log"),
        );
        assert_eq!(
            &fs::read(&garbage).unwrap(),
            bytes,
            "{what}: garbage deleted"
        );
        // A torn last record before the garbage is no torn tail either.
        let pristine = fs::read(&last_segment).unwrap();
        let last = *walk_records(&pristine).last().unwrap();
        let mut torn = pristine.clone();
        torn[last.offset + 41..last.offset + last.record_bytes()].fill(0);
        fs::write(&last_segment, &torn).unwrap();
        expect_corrupt_in(
            dir.path(),
            &[&garbage, &last_segment],
            &format!("{what} after a torn record"),
        );
        assert_eq!(
            &fs::read(&garbage).unwrap(),
            bytes,
            "{what}: garbage deleted"
        );
        assert_eq!(
            fs::read(&last_segment).unwrap(),
            torn,
            "{what}: segment changed"
        );
        fs::write(&last_segment, &pristine).unwrap();
        fs::remove_file(&garbage).unwrap();
        let (_, payloads) = open_and_read(dir.path()).unwrap();
        assert_eq!(payloads, all, "{what}: the refused open changed the log");
    }
}

#[test]
fn unrelated_files_in_the_directory_are_ignored() {
    // Proves files and directories whose names are not exact segment names are left
    // alone: the log opens intact, appends, and the strangers are unchanged.
    let dir = tempfile::tempdir().unwrap();
    let (earlier, last) = small_log(dir.path());
    let strangers = [
        "README",
        "notes.txt",
        "42.log",
        "00000000000000000000.log.bak",
        "0000000000000000000x.log",
        "99999999999999999999.log",
        ".00000000000000000000.log.swp",
    ];
    for name in strangers {
        fs::write(dir.path().join(name), name.as_bytes()).unwrap();
    }
    fs::create_dir(dir.path().join(annal::testing::segment_file_name(1000))).unwrap();
    let (log, payloads) = open_and_read(dir.path()).unwrap();
    assert_eq!(payloads, [earlier, last].concat());
    log.append(b"more", Durability::Synced).unwrap();
    log.close().unwrap();
    let (_, payloads) = open_and_read(dir.path()).unwrap();
    assert_eq!(payloads.last().unwrap(), b"more");
    for name in strangers {
        assert_eq!(
            fs::read(dir.path().join(name)).unwrap(),
            name.as_bytes(),
            "{name} was changed"
        );
    }
    assert!(dir
        .path()
        .join(annal::testing::segment_file_name(1000))
        .is_dir());
}

#[test]
fn a_cut_on_real_files_is_reported_and_its_bytes_kept_in_the_quarantine() {
    // Proves that on the real file system a torn last record is reported (offset, size, reason) and its bytes are copied into quarantine/ in the log directory before the segment is zeroed there.
    let dir = tempfile::tempdir().unwrap();
    let (earlier, _) = small_log(dir.path());
    let segment = segment_files(dir.path()).pop().unwrap();
    let pristine = fs::read(&segment).unwrap();
    let last = *walk_records(&pristine).last().unwrap();
    let mut torn = pristine.clone();
    torn[last.offset + last.record_bytes() / 2..last.offset + last.record_bytes()].fill(0);
    fs::write(&segment, &torn).unwrap();
    let (log, payloads) = open_and_read(dir.path()).unwrap();
    assert_eq!(payloads, earlier);
    let report = log.recovery_report();
    let [annal::RecoveryAction::Cut {
        offset,
        bytes_cut,
        reason: annal::CutReason::TornTail { .. },
        quarantine: Some(copy),
        ..
    }] = &report.actions[..]
    else {
        panic!("expected one torn-tail cut, got {report:?}");
    };
    assert_eq!(*offset, last.offset as u64);
    assert!(copy.starts_with(dir.path().join(annal::QUARANTINE_DIR)));
    let kept = fs::read(copy).unwrap();
    assert_eq!(kept.len() as u64, *bytes_cut);
    assert_eq!(&kept[..], &torn[last.offset..last.offset + kept.len()]);
    assert!(fs::read(&segment).unwrap()[last.offset..]
        .iter()
        .all(|&b| b == 0));
}
