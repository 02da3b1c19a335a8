//! Proves every engine `ErrorCode` has a C status of the same number and name, that no
//! status was renumbered or dropped (a frozen table), and that the header and the
//! on-disk format version agree with the engine.

use std::path::Path;

use annal::ErrorCode;
use annal_ffi::status;

/// Every status ever published, frozen: a status may be added here, never changed.
const FROZEN: &[(&str, i32)] = &[
    ("ANNAL_STATUS_OK", 0),
    ("ANNAL_STATUS_IO", 1),
    ("ANNAL_STATUS_NO_SPACE", 2),
    ("ANNAL_STATUS_CORRUPT", 3),
    ("ANNAL_STATUS_POISONED", 4),
    ("ANNAL_STATUS_LOCKED", 5),
    ("ANNAL_STATUS_LIMIT_EXCEEDED", 6),
    ("ANNAL_STATUS_EMPTY_BATCH", 7),
    ("ANNAL_STATUS_POSITION_OUT_OF_RANGE", 8),
    ("ANNAL_STATUS_INVALID_OPTIONS", 9),
    ("ANNAL_STATUS_CLOSED", 10),
    ("ANNAL_STATUS_UNKNOWN_CONSUMER", 11),
    ("ANNAL_STATUS_CONSUMER_EXISTS", 12),
    ("ANNAL_STATUS_INVALID_CONSUMER_NAME", 13),
    ("ANNAL_STATUS_TOO_MANY_SUBSCRIPTIONS", 14),
    ("ANNAL_STATUS_TOO_MANY_CONSUMERS", 15),
    ("ANNAL_STATUS_BEHIND_RETENTION", 16),
    ("ANNAL_STATUS_CHECKPOINT_REGRESSION", 17),
    ("ANNAL_STATUS_IO_URING_UNAVAILABLE", 18),
    ("ANNAL_STATUS_READ_ONLY", 19),
    ("ANNAL_STATUS_WRONG_EXPECTED_REVISION", 20),
    ("ANNAL_STATUS_STREAM_DELETED", 21),
    ("ANNAL_STATUS_STREAM_NOT_FOUND", 22),
    ("ANNAL_STATUS_IDEMPOTENCY_CONFLICT", 23),
    ("ANNAL_STATUS_INVALID_ARGUMENT", 24),
    ("ANNAL_STATUS_NULL_ARGUMENT", 100),
    ("ANNAL_STATUS_PANIC", 101),
    ("ANNAL_STATUS_BUFFER_TOO_SMALL", 102),
    ("ANNAL_STATUS_INVALID_UTF8", 103),
    ("ANNAL_STATUS_INVALID_PATH", 104),
    ("ANNAL_STATUS_INVALID_ENUM", 105),
    ("ANNAL_STATUS_INVALID_LENGTH", 106),
    ("ANNAL_STATUS_USE_AFTER_CLOSE", 107),
    ("ANNAL_STATUS_INVALID_HANDLE", 108),
    ("ANNAL_STATUS_NO_EVENT", 109),
];

fn engine_source(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/src")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `WrongExpectedRevision` → `WRONG_EXPECTED_REVISION`.
fn upper_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The `Variant = number` lines of `pub enum ErrorCode` in the engine's source: the
/// variants a new engine error adds show up here without anyone updating this test.
fn engine_error_codes() -> Vec<(String, i32)> {
    let source = engine_source("error.rs");
    let start = source
        .find("pub enum ErrorCode {")
        .expect("the engine declares pub enum ErrorCode");
    let body = &source[start
        ..source[start..]
            .find('}')
            .map(|end| start + end)
            .expect("the enum ends")];
    let codes: Vec<(String, i32)> = body
        .lines()
        .filter_map(|line| {
            let (name, number) = line.trim().trim_end_matches(',').split_once(" = ")?;
            Some((name.trim().to_owned(), number.trim().parse().ok()?))
        })
        .collect();
    assert!(
        codes.len() >= 22,
        "parsed too few ErrorCode variants: {codes:?}"
    );
    codes
}

/// Proves each ErrorCode variant in the engine's source has a status of the same name and number.
#[test]
fn every_engine_error_code_has_its_status_under_the_same_number() {
    let defined: Vec<(String, i32)> = status::all()
        .map(|(code, name)| (name.to_str().expect("ASCII name").to_owned(), code))
        .collect();
    for (variant, number) in engine_error_codes() {
        let name = format!("ANNAL_STATUS_{}", upper_snake(&variant));
        assert!(
            defined.contains(&(name.clone(), number)),
            "engine ErrorCode::{variant} = {number} has no status {name} = {number} in ffi/src/status.rs"
        );
        assert!(
            number > 0 && number < 100,
            "engine codes must stay below the boundary's range"
        );
    }
}

/// Proves the boundary maps each known ErrorCode to its own number and name.
#[test]
fn error_codes_map_to_the_same_numbers() {
    let known = [
        (ErrorCode::Io, 1),
        (ErrorCode::NoSpace, 2),
        (ErrorCode::Corrupt, 3),
        (ErrorCode::Poisoned, 4),
        (ErrorCode::Locked, 5),
        (ErrorCode::LimitExceeded, 6),
        (ErrorCode::EmptyBatch, 7),
        (ErrorCode::PositionOutOfRange, 8),
        (ErrorCode::InvalidOptions, 9),
        (ErrorCode::Closed, 10),
        (ErrorCode::UnknownConsumer, 11),
        (ErrorCode::ConsumerExists, 12),
        (ErrorCode::InvalidConsumerName, 13),
        (ErrorCode::TooManySubscriptions, 14),
        (ErrorCode::TooManyConsumers, 15),
        (ErrorCode::BehindRetention, 16),
        (ErrorCode::CheckpointRegression, 17),
        (ErrorCode::IoUringUnavailable, 18),
        (ErrorCode::ReadOnly, 19),
        (ErrorCode::WrongExpectedRevision, 20),
        (ErrorCode::StreamDeleted, 21),
        (ErrorCode::StreamNotFound, 22),
        (ErrorCode::IdempotencyConflict, 23),
        (ErrorCode::InvalidArgument, 24),
    ];
    for (code, number) in known {
        assert_eq!(status::from_error_code(code), number, "{code:?}");
        let name = status::name(number).expect("a named status");
        assert_eq!(
            name.to_str().expect("ASCII name"),
            format!("ANNAL_STATUS_{}", upper_snake(&format!("{code:?}")))
        );
    }
}

/// Proves no published status changed number or went away, and every status is in its range.
#[test]
fn no_status_was_renumbered_or_dropped() {
    let defined: Vec<(&str, i32)> = status::all()
        .map(|(code, name)| (name.to_str().expect("ASCII name"), code))
        .collect();
    for frozen in FROZEN {
        assert!(
            defined.contains(frozen),
            "status {frozen:?} changed or went away"
        );
    }
    assert_eq!(
        defined.len(),
        FROZEN.len(),
        "a new status: add it to FROZEN in this test"
    );
    for (name, code) in &defined {
        // 0 success, 1 to 99 the engine's codes, 100 to 199 the boundary's.
        assert!(
            (0..200).contains(code),
            "{name} = {code} outside the ranges"
        );
    }
}

/// Proves annal.h defines every status with its number.
#[test]
fn header_defines_every_status_with_its_number() {
    let header =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/annal.h"))
            .expect("read include/annal.h");
    for (name, code) in FROZEN {
        assert!(
            header.contains(&format!("#define {name} {code}\n")),
            "annal.h lacks #define {name} {code}"
        );
    }
}

/// Proves annal_format_version() reports the engine's on-disk format version (the
/// header's constant is held equal to it at compile time).
#[test]
fn format_version_matches_the_engine() {
    assert_eq!(
        annal_ffi::version::annal_format_version(),
        annal::FORMAT_VERSION
    );
}
