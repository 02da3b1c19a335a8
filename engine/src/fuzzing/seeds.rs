//! The seed corpus of every target, generated from the real encoders so that the fuzzer
//! starts from valid inputs (and their near misses). `engine/examples/fuzz_seeds.rs`
//! writes them to `fuzz/corpus/<target>/`.

use super::index::{fix_checkpoint_header, template};
use super::recovery::{
    FIX_CHECKSUMS, FIX_HEADERS, FIX_POSITIONS, LAST_SEGMENT, SEGMENT_BYTES, SEGMENT_SEPARATOR,
    TRUNCATE_AT_DAMAGE, VERIFY_READS,
};
use super::FUZZ_EPOCH;
use crate::format::consumer_checkpoint::{CheckpointEntry, Slot, SLOT_BYTES};
use crate::format::envelope::{encode, EnvelopeParts, Kind, SAME_RECORD};
use crate::format::extension::{put_entry, KIND_CONSUMER_CHECKPOINT};
use crate::format::record::{encode_record, encode_seal};
use crate::format::segment_header::SegmentHeader;
use crate::index::checkpoint;
use crate::index::Index;
use crate::position::{Location, Position};

/// The seeds of the target `name` (empty for an unknown name).
pub fn seed_corpus(name: &str) -> Vec<Vec<u8>> {
    match name {
        "record_decoder" => record_seeds(),
        "segment_recovery" => segment_seeds(),
        "index_checkpoint" => checkpoint_seeds(),
        "stream_envelope" => envelope_seeds(),
        "consumer_checkpoint" => consumer_seeds(),
        "operations" => operation_seeds(),
        _ => Vec::new(),
    }
}

fn record(position: u64, synced_before: u64, events: &[&[u8]], extension: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_record(
        &mut out,
        FUZZ_EPOCH,
        position,
        synced_before,
        events,
        extension,
    );
    out
}

fn with_mode(mode: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend_from_slice(bytes);
    out
}

fn extension() -> Vec<u8> {
    let entry = CheckpointEntry {
        incarnation: 1,
        sequence: 2,
        position: 3,
        name: "billing",
    };
    let mut out = Vec::new();
    put_entry(&mut out, KIND_CONSUMER_CHECKPOINT, &entry.encode());
    put_entry(&mut out, 9, b"other");
    out
}

fn record_seeds() -> Vec<Vec<u8>> {
    let one = record(0, 0, &[b"hello"], &[]);
    let three = record(7, 5, &[b"a", b"", &[9u8; 40]], &[]);
    let extended = record(1, 1, &[b"x"], &extension());
    let seal = encode_seal(FUZZ_EPOCH, 12, 12).to_vec();
    let high = record(u64::MAX - 1, 3, &[b"near", b"end"], &[]);
    let mut flipped = three.clone();
    flipped[45] ^= 4;
    let mut seeds = Vec::new();
    for bytes in [&one, &three, &extended, &seal, &high] {
        seeds.push(with_mode(0, bytes));
        seeds.push(with_mode(1, &bytes[..bytes.len() - 3]));
    }
    seeds.push(with_mode(1, &flipped));
    seeds.push(with_mode(0, &[0u8; 16]));
    seeds.push(with_mode(6, &[5, 0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0, 0]));
    seeds
}

fn segment(first: u64, records: &[Vec<u8>]) -> Vec<u8> {
    let header = SegmentHeader {
        first_position: first,
        epoch: FUZZ_EPOCH,
        segment_bytes: SEGMENT_BYTES as u64,
    };
    let mut out = header.encode().to_vec();
    for record in records {
        out.extend_from_slice(record);
    }
    out
}

fn log(mode: u8, segments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![mode];
    for (k, segment) in segments.iter().enumerate() {
        if k > 0 {
            out.extend_from_slice(SEGMENT_SEPARATOR);
        }
        out.extend_from_slice(segment);
    }
    out
}

fn segment_seeds() -> Vec<Vec<u8>> {
    let records = vec![
        record(0, 0, &[b"first"], &[]),
        record(1, 1, &[b"a", b"b", b"c"], &[]),
        record(4, 4, &[b"with extension"], &extension()),
        record(5, 5, &[&[7u8; 100]], &[]),
    ];
    let valid = segment(0, &records);
    let mut torn = valid.clone();
    torn.truncate(valid.len() - 60);
    let mut damaged_then_synced = segment(0, &records);
    let damaged_at = 64 + records[0].len() + 42;
    damaged_then_synced[damaged_at] ^= 1;
    let mut later = records.clone();
    later.push(record(6, 6, &[b"synced after the damage"], &[]));
    let mut damaged_middle = segment(0, &later);
    damaged_middle[damaged_at] ^= 1;
    let sealed = {
        let mut first = records.clone();
        first.push(encode_seal(FUZZ_EPOCH, 6, 6).to_vec());
        segment(0, &first)
    };
    let second = segment(
        6,
        &[
            record(6, 6, &[b"next segment"], &[]),
            record(7, 7, &[b"z"], &[]),
        ],
    );
    let unsealed_then_more = segment(0, &records[..2]);
    let high = segment(
        u64::MAX - 4,
        &[
            record(u64::MAX - 4, 0, &[b"near"], &[]),
            record(u64::MAX - 3, 0, &[b"the", b"end"], &[]),
        ],
    );
    let mut bad_header = valid.clone();
    bad_header[20] ^= 1;
    let fix_all = FIX_HEADERS | FIX_CHECKSUMS | FIX_POSITIONS;
    vec![
        log(0, std::slice::from_ref(&valid)),
        log(0, &[torn.clone()]),
        log(0, &[damaged_then_synced]),
        log(0, &[damaged_middle.clone()]),
        log(TRUNCATE_AT_DAMAGE, &[damaged_middle]),
        log(0, &[sealed.clone(), second.clone()]),
        log(LAST_SEGMENT, &[sealed.clone(), second.clone()]),
        log(VERIFY_READS, &[sealed, second.clone()]),
        log(0, &[unsealed_then_more, second]),
        log(0, &[high]),
        log(0, &[bad_header.clone()]),
        log(TRUNCATE_AT_DAMAGE, &[bad_header]),
        log(0, &[valid[..64].to_vec()]),
        log(0, &[Vec::new()]),
        log(fix_all, std::slice::from_ref(&valid)),
        log(fix_all, &[torn]),
        log(
            fix_all | LAST_SEGMENT,
            &[valid.clone(), valid.clone(), valid],
        ),
    ]
}

fn checkpoint_seeds() -> Vec<Vec<u8>> {
    let template = template();
    let valid = template.checkpoint.clone();
    let mut fuzz_epoch = valid.clone();
    fix_checkpoint_header(&mut fuzz_epoch, FUZZ_EPOCH);
    let empty = checkpoint::encode(
        &Index::starting_at(0)
            .freeze(FUZZ_EPOCH)
            .expect("an index without a table has a snapshot"),
    );
    let mut truncated = valid[..valid.len() - 5].to_vec();
    fix_checkpoint_header(&mut truncated, FUZZ_EPOCH);
    vec![
        with_mode(0, &fuzz_epoch),
        with_mode(1, &fuzz_epoch),
        with_mode(0, &empty),
        with_mode(1, &truncated),
        with_mode(3, &valid),
        with_mode(3, &empty),
        with_mode(2, &valid),
        with_mode(3, &truncated),
    ]
}

fn envelope(kind: Kind, id: bool, links: bool, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let link = |position| {
        links.then_some(Location::new(
            Position(position),
            if position % 2 == 0 { 4096 } else { SAME_RECORD },
        ))
    };
    let block: Vec<Location> = if links && kind == Kind::Event {
        (0..8).filter_map(|i| link(i * 2)).collect()
    } else {
        Vec::new()
    };
    encode(
        &EnvelopeParts {
            kind,
            stream: b"order-42",
            event_type: b"OrderCreated",
            revision: 3,
            timestamp_ns: 1_700_000_000_000_000_000,
            previous_in_stream: link(8),
            previous_in_category: link(9),
            id: id.then_some([7; 16]),
            link_block: &block,
            metadata: b"{\"by\":1}",
            data,
        },
        &mut out,
    );
    out
}

fn envelope_seeds() -> Vec<Vec<u8>> {
    vec![
        envelope(Kind::Event, true, true, b"{\"total\":10}"),
        envelope(Kind::Event, false, false, b""),
        envelope(Kind::TruncateBefore, false, false, b""),
        envelope(Kind::Tombstone, false, false, b""),
        envelope(Kind::Event, true, false, &[0u8; 64]),
        envelope(Kind::Event, false, true, b"x")[..60].to_vec(),
    ]
}

fn consumer_seeds() -> Vec<Vec<u8>> {
    let slot = |sequence: u64, name: &str| Slot {
        epoch: FUZZ_EPOCH,
        incarnation: 5,
        sequence,
        position: 100 + sequence,
        replay_from: sequence.is_multiple_of(2).then_some(40),
        name: name.into(),
    };
    let mut two = vec![0u8; SLOT_BYTES];
    let even = slot(4, "orders-view").encode();
    two[..even.len()].copy_from_slice(&even);
    two.extend_from_slice(&slot(5, "orders-view").encode());
    let entry = CheckpointEntry {
        incarnation: 5,
        sequence: 9,
        position: 77,
        name: "billing",
    };
    let mut damaged = slot(2, "x").encode();
    damaged[30] ^= 1;
    vec![
        slot(2, "billing").encode(),
        slot(3, "a.b-c_d").encode(),
        two,
        entry.encode(),
        damaged,
    ]
}

/// Appends with ids, then op 5 recombining their ids (`operations/recombined.rs`).
pub const RECOMBINED_IDS: [u8; 27] = [
    0, 0, 1, 5, 0, 0, 0, 5, 5, 0x81, 5, 0xA1, 5, 0xC0, 0, 5, 0xC1, 1, 5, 0xE1, 0, 14, 5, 0x81, 5,
    0xC0, 1,
];

/// Operation sequences: each operation's byte is followed by its parameters (see
/// `operations.rs`); a generator fills the rest.
fn operation_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        // Appends with ids, a retry, reads of each kind, a reopen.
        vec![0, 0, 1, 0x0d, 4, 0, 7, 0, 4, 8, 3, 4, 9, 0, 4, 13, 14],
        // Expectations of every kind on one stream, truncate, delete, crash.
        vec![
            0, 1, 0, 4, 1, 1, 3, 5, 2, 1, 2, 6, 3, 1, 4, 4, 10, 5, 11, 5, 15, 0, 13,
        ],
        // A multi-stream append, a checkpoint, a torn crash, a retry after it.
        vec![6, 0, 0x33, 0, 0, 12, 0, 2, 3, 12, 15, 9, 4, 0, 7, 2, 4],
        // Synced appends then a crash that drops the unsynced rest.
        vec![0, 3, 0, 8, 0, 3, 0, 9, 0, 3, 0, 2, 15, 0, 8, 0, 4],
        // Two appends with ids on one stream, then their ids recombined: both sent as
        // one (expecting Any, then their own expectation), pieces of one, a reopen.
        RECOMBINED_IDS.to_vec(),
    ];
    let mut state = 0x0123_4567_89ab_cdefu64;
    for len in [16usize, 24, 32, 48, 64, 96, 128, 160] {
        let bytes = (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 56) as u8
            })
            .collect();
        seeds.push(bytes);
    }
    seeds
}
