//! The index's levels against an index that never left memory: a checkpoint table read
//! in place answers as the index it was written from; changes merged into a new table,
//! installed or thawed, answer at every step as before; damaged tables are refused.

use std::sync::Arc;

use bytes::Bytes;

use super::checkpoint::encode;
use super::table::Table;
use super::ChainEntry;
use crate::format::envelope::{Envelope, Kind};
use crate::format::index_table::Invalid;
use crate::index::Index;
use crate::position::{Location, Position};

const EPOCH: u64 = 77;

fn envelope(kind: Kind, stream: String, revision: u64, timestamp_ns: u64) -> Envelope {
    Envelope {
        kind,
        stream: Bytes::from(stream),
        event_type: Bytes::from_static(b"T"),
        revision,
        timestamp_ns,
        previous_in_stream: None,
        previous_in_category: None,
        id: None,
        link_block: Bytes::new(),
        metadata: Bytes::new(),
        data: Bytes::new(),
    }
}

/// Applies events at `positions` to streams `order-k`, `cust-k` and `solo` (every
/// 97th position a truncation, every 211th a tombstone of a stream of its own).
fn apply(index: &mut Index, positions: std::ops::Range<u64>, streams: u64) {
    for position in positions {
        let link = Location::new(Position(position), 64 + position as u32 * 8);
        let envelope = if position % 211 == 5 {
            envelope(Kind::Tombstone, format!("gone-{position}"), 0, position)
        } else if position % 97 == 3 {
            envelope(
                Kind::TruncateBefore,
                "order-1".into(),
                position / 97,
                position,
            )
        } else {
            let k = position * 7 % streams;
            let name = match k % 3 {
                0 => format!("order-{k}"),
                1 => format!("cust-{k}"),
                _ => format!("solo{k}"),
            };
            let revision = index
                .stream(name.as_bytes())
                .map_or(0, |s| s.chain.next_seq());
            envelope(Kind::Event, name, revision, position * 10)
        };
        index.apply(&envelope, link).expect("in sequence");
    }
}

fn names(streams: u64, through: u64) -> Vec<String> {
    let mut names: Vec<String> = (0..streams)
        .flat_map(|k| {
            [
                format!("order-{k}"),
                format!("cust-{k}"),
                format!("solo{k}"),
            ]
        })
        .collect();
    names.extend((0..through).map(|p| format!("gone-{p}")));
    names.extend(["order", "cust", "solo", "", "nope-1"].map(String::from));
    names
}

/// An entry's facts, wherever its heads are kept.
fn describe(entry: &ChainEntry) -> String {
    let chain = &entry.chain;
    let heads: Vec<Location> = (0..).map_while(|g| chain.head(g)).collect();
    let open: Vec<Location> = chain.open_links().collect();
    format!(
        "{:?} {} {} {} {heads:?} {open:?} {:?}",
        entry.name,
        entry.truncate_before,
        entry.deleted,
        chain.next_seq(),
        chain.last()
    )
}

/// Everything the index answers about `names`, as streams and as categories.
fn answers(index: &Index, names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .map(|name| {
            let stream = index.stream(name.as_bytes()).map(|e| describe(&e));
            let category = index.category(name.as_bytes()).map(|e| describe(&e));
            format!("{name}: {stream:?} {category:?}")
        })
        .collect();
    out.push(format!(
        "{} {} {} {} {:?}",
        index.stream_count(),
        index.through,
        index.events_indexed,
        index.last_timestamp_ns,
        index.time
    ));
    out
}

fn assert_same(got: &[String], want: &[String], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    if let Some((g, w)) = got.iter().zip(want).find(|(g, w)| g != w) {
        panic!("{what}: got\n{g}\nwant\n{w}");
    }
}

fn table_of(index: &mut Index) -> Arc<Table> {
    let snapshot = index.freeze(EPOCH).expect("changes to write");
    let bytes = encode(&snapshot);
    Arc::new(Table::open(Bytes::from(bytes), EPOCH).expect("a valid checkpoint"))
}

#[test]
fn a_table_answers_as_the_index_it_was_written_from() {
    // Proves an index read in place from a checkpoint answers every stream, category, count and time lookup exactly as the index that wrote it.
    let mut index = Index::starting_at(0);
    apply(&mut index, 0..3000, 200);
    let names = names(200, 3000);
    let want = answers(&index, &names);
    let loaded = Index::on_table(table_of(&mut index));
    assert_same(&answers(&loaded, &names), &want, "loaded");
    assert!(loaded.heap_bytes() < 4096, "nothing per stream on the heap");
}

#[test]
fn changes_merged_into_a_table_answer_as_an_index_built_in_memory() {
    // Proves writing a checkpoint from a table plus the changes since (new streams, appends, truncations, tombstones) answers as an index that never left memory, installed or thawed, at every step.
    let mut reference = Index::starting_at(0);
    apply(&mut reference, 0..2000, 150);
    let mut index = Index::on_table(table_of(
        &mut Index::starting_at(0).tap(|i| apply(i, 0..2000, 150)),
    ));
    let names = names(300, 5000);
    assert_same(
        &answers(&index, &names),
        &answers(&reference, &names),
        "loaded",
    );
    for (round, end) in [(0u64, 3000u64), (1, 4000), (2, 5000)] {
        let start = reference.through;
        apply(&mut reference, start..end, 300);
        apply(&mut index, start..end - 500, 300);
        let snapshot = index.freeze(EPOCH).expect("changes");
        // Changes after the freeze go to a new level over the frozen one.
        apply(&mut index, end - 500..end, 300);
        let what = format!("frozen, round {round}");
        assert_same(
            &answers(&index, &names),
            &answers(&reference, &names),
            &what,
        );
        if round == 1 {
            drop(snapshot);
            index.thaw();
            assert!(!index.is_frozen());
        } else {
            let heap = index.heap_bytes();
            let table = Table::open(Bytes::from(encode(&snapshot)), EPOCH).expect("valid");
            drop(snapshot);
            drop(index.install(Arc::new(table)));
            assert!(
                index.heap_bytes() < heap,
                "installing lets go of the frozen level"
            );
        }
        let what = format!("round {round}");
        assert_same(
            &answers(&index, &names),
            &answers(&reference, &names),
            &what,
        );
    }
    let reloaded = Index::on_table(table_of(&mut index));
    assert_same(
        &answers(&reloaded, &names),
        &answers(&reference, &names),
        "reloaded",
    );
}

trait Tap: Sized {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

impl Tap for Index {}

#[test]
fn every_truncation_and_bit_flip_is_rejected() {
    // Proves a damaged checkpoint (cut anywhere, any bit flipped, another version, another log) is refused and never half-loaded.
    let mut index = Index::starting_at(0);
    apply(&mut index, 0..400, 40);
    let bytes = encode(&index.freeze(EPOCH).expect("changes"));
    assert!(Table::open(Bytes::from(bytes.clone()), EPOCH).is_ok());
    for len in (0..bytes.len()).step_by(3) {
        assert!(
            Table::open(Bytes::copy_from_slice(&bytes[..len]), EPOCH).is_err(),
            "length {len}"
        );
    }
    for bit in (0..bytes.len() * 8).step_by(5) {
        let mut damaged = bytes.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        assert!(
            Table::open(Bytes::from(damaged), EPOCH).is_err(),
            "bit {bit}"
        );
    }
    assert_eq!(
        Table::open(Bytes::from(bytes.clone()), EPOCH + 1).err(),
        Some(Invalid("checkpoint of another log"))
    );
    let mut version_2 = bytes;
    version_2[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(
        Table::open(Bytes::from(version_2), EPOCH).err(),
        Some(Invalid("unknown checkpoint version"))
    );
}

#[test]
fn an_unchanged_index_has_nothing_to_write() {
    // Proves an index loaded from a checkpoint and not changed since gives no snapshot, and one change gives one.
    let mut index = Index::starting_at(0);
    apply(&mut index, 0..50, 5);
    let mut loaded = Index::on_table(table_of(&mut index));
    assert!(loaded.freeze(EPOCH).is_none());
    apply(&mut loaded, 50..51, 5);
    assert!(loaded.freeze(EPOCH).is_some());
}

#[test]
fn the_name_found_last_never_answers_for_another() {
    // Proves the per-level memory of the last name found gives each name its own entry, across alternating names, a freeze and a thaw.
    let mut index = Index::starting_at(0);
    let names = [
        "cat-1", "cat-2", "dog-1", "cat-1", "cat-1", "dog-1", "cat-2",
    ];
    let mut position = 0u64;
    let mut revisions = std::collections::HashMap::new();
    let mut check = |index: &mut Index, position: &mut u64| {
        for name in names {
            let known = index.known_ids(name.as_bytes());
            let stream_id = known.stream.map(|id| index.known_stream(id).name.clone());
            let category_id = known
                .category
                .map(|id| index.known_category(id).name.clone());
            let revision: &mut u64 = revisions.entry(name).or_default();
            if *revision > 0 {
                assert_eq!(stream_id.as_deref(), Some(name.as_bytes()));
            }
            let category = &name.as_bytes()[..3];
            if let Some(found) = category_id {
                assert_eq!(&found[..], category);
            }
            let link = Location::new(Position(*position), 64);
            index
                .apply_event(name.as_bytes(), known, *revision, *position, None, link)
                .expect("in sequence");
            *revision += 1;
            *position += 1;
        }
    };
    check(&mut index, &mut position);
    let _snapshot = index.freeze(EPOCH).expect("changes to write");
    check(&mut index, &mut position);
    index.thaw();
    check(&mut index, &mut position);
    for name in ["cat-1", "cat-2", "dog-1"] {
        let expected = names.iter().filter(|n| **n == name).count() as u64 * 3;
        let entry = index.stream(name.as_bytes()).expect("stream exists");
        assert_eq!(entry.chain.next_seq(), expected, "{name}");
    }
    let cats = index.category(b"cat").expect("category exists");
    assert_eq!(cats.chain.next_seq(), 15);
    let dogs = index.category(b"dog").expect("category exists");
    assert_eq!(dogs.chain.next_seq(), 6);
}

#[test]
fn each_append_finds_its_own_category_across_freezes_installs_and_thaws() {
    // Proves the per-stream memory of a stream's category names that stream's category (or none) at every append, while freezes, installs and thaws renumber the levels, and a stream handle's remembered id is either refused or gives what a lookup by name gives.
    let mut index = Index::starting_at(0);
    let mut revisions = std::collections::HashMap::new();
    let mut handles = std::collections::HashMap::<String, u32>::new();
    let mut handle_hits = 0;
    let mut per_category = std::collections::HashMap::<Vec<u8>, u64>::new();
    let mut state = 0x2545_f491_u64;
    let mut frozen = false;
    for position in 0..2_000u64 {
        match position % 250 {
            50 if !frozen => {
                let _snapshot = index.freeze(EPOCH).expect("changes to write");
                frozen = true;
            }
            120 if frozen => {
                index.thaw();
                frozen = false;
            }
            200 if !frozen => {
                let table = table_of(&mut index);
                drop(index.install(table));
            }
            _ => {}
        }
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let name = match state % 7 {
            6 => format!("solo{}", state % 3),
            c => format!(
                "{}-{}",
                ["a", "bb", "ccc", "dd", "e", "ffff"][c as usize],
                state % 5
            ),
        };
        let through_handle = handles
            .get(&name)
            .and_then(|&id| index.known_ids_if_still(name.as_bytes(), id));
        let known = index.known_ids(name.as_bytes());
        if let Some(through_handle) = through_handle {
            assert_eq!(through_handle, known, "{name} at {position}");
            handle_hits += 1;
        }
        let found = known
            .category
            .map(|id| index.known_category(id).name.clone());
        let category = name.split_once('-').map(|(c, _)| c.as_bytes().to_vec());
        let revision: &mut u64 = revisions.entry(name.clone()).or_default();
        if let Some(found) = &found {
            assert_eq!(
                Some(&found[..]),
                category.as_deref(),
                "{name} at {position}"
            );
        }
        if category.is_some() && *revision > 0 {
            assert!(
                found.is_some(),
                "{name} at {position}: its category is known"
            );
        }
        let link = Location::new(Position(position), 64);
        let applied = index
            .apply_event(name.as_bytes(), known, *revision, position, None, link)
            .expect("in sequence");
        handles.insert(name.clone(), applied.stream.expect("the stream's id"));
        *revision += 1;
        if let Some(category) = category {
            *per_category.entry(category).or_default() += 1;
        }
    }
    for (category, events) in per_category {
        let entry = index.category(&category).expect("category exists");
        assert_eq!(entry.chain.next_seq(), events, "{category:?}");
    }
    assert!(
        handle_hits > 1_000,
        "only {handle_hits} remembered ids used"
    );
}
