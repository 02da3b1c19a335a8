//! The event store's appends against the raw log's, side by side in alternating rounds:
//! the cost of the stream layer on the one write path they share.
//!
//! ```text
//! cargo run --release -p annal-benches --example store_vs_log -- [rounds] [bulk events] [durable seconds] [slices]
//! ```
//!
//! Per round: a bulk load (`Buffered` single-event appends, one sync at the end) into a
//! fresh log and a fresh store, then durable closed loops (`Synced`, one event per append)
//! at 1, 8, 64 and 256 threads, each system for the same time. A durable run opens a fresh
//! log and a fresh store and alternates between them in `slices` pairs of short runs
//! (default 6, each `durable seconds / slices` long; the first of a pair alternates too),
//! the store's ratio to the log taken per pair: the disk's fdatasync latency drifts over
//! seconds, and a pair a fraction of a second apart sees the same disk. Prints each
//! system's median rate over the rounds (operations over time, per round) and the store's
//! ratio to the raw log (the median of the per-pair ratios of every round; of the
//! per-round ratios for the bulk rows), with the store's appends per fdatasync. The first
//! bulk row appends through `EventStore::append` (a `Vec` of one event per call), the
//! second through `EventStore::append_from_slice` (the event borrowed), the third through
//! `EventStore::append_to` (a stream handle per stream, made before the loop). A fourth
//! bulk row is the floor under the store's: the raw log appending events of the sizes of the store's
//! envelopes (its "event store" column is that log's rate).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use annal_benches::buffered::BufferedSystem;
use annal_benches::closed_loop::{self, Stop, Tally};
use annal_benches::peers::System;
use annal_benches::report::fmt_rate;
use annal_benches::stats::rate;
use annal_benches::{dirs, payload, BenchResult, PAYLOAD_BYTES};

const THREADS: [usize; 4] = [1, 8, 64, 256];

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Row {
    name: String,
    log: Vec<f64>,
    store: Vec<f64>,
    ratios: Vec<f64>,
    store_appends_per_sync: Vec<f64>,
}

impl Row {
    fn new(name: String) -> Row {
        Row {
            name,
            log: Vec::new(),
            store: Vec::new(),
            ratios: Vec::new(),
            store_appends_per_sync: Vec::new(),
        }
    }

    fn add(&mut self, log: f64, store: f64) {
        self.log.push(log);
        self.store.push(store);
        self.ratios.push(store / log);
    }

    /// One round of a durable row: both systems opened fresh, then `slices` alternating
    /// pairs of closed loops of `seconds / slices` each, one ratio per pair.
    fn durable_round(
        &mut self,
        threads: usize,
        seconds: f64,
        slices: usize,
        payload: &[u8],
    ) -> BenchResult<()> {
        let dirs = [
            dirs::scratch("store-vs-log-")?,
            dirs::scratch("store-vs-log-")?,
        ];
        let systems = [
            System::Annal.open(dirs[0].path())?,
            System::AnnalStore.open(dirs[1].path())?,
        ];
        let slice = Duration::from_secs_f64(seconds / slices as f64);
        let mut tallies = [Tally::default(), Tally::default()];
        for pair in 0..slices {
            // Neither system always goes first (right after the other's run).
            let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
            let mut rates = [0.0; 2];
            for i in order {
                let stats =
                    closed_loop::run(systems[i].as_ref(), threads, Stop::After(slice), payload)?;
                rates[i] = stats.ops_per_sec();
                tallies[i].add(&stats);
            }
            self.ratios.push(rates[1] / rates[0]);
        }
        self.log.push(tallies[0].ops_per_sec());
        self.store.push(tallies[1].ops_per_sec());
        if let Some(syncs) = tallies[1].syncs {
            self.store_appends_per_sync
                .push(tallies[1].ops as f64 / syncs.max(1) as f64);
        }
        for system in systems {
            system.close()?;
        }
        Ok(())
    }
}

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args.first().map_or(Ok(3), |s| s.parse())?;
    let bulk: u64 = args.get(1).map_or(Ok(1_000_000), |s| s.parse())?;
    let seconds: f64 = args.get(2).map_or(Ok(2.0), |s| s.parse())?;
    let slices: usize = args.get(3).map_or(Ok(6), |s| s.parse())?;
    if slices == 0 {
        return Err("slices must be at least 1".into());
    }
    let payload = payload(PAYLOAD_BYTES, 9);
    let mut rows = vec![Row::new(format!("bulk load {bulk} buffered"))];
    // The floor: the raw log writing records the size of the store's (its own share of
    // a store append), against the raw log's own bulk load in the same round.
    let mut slice = Row::new(format!("bulk load {bulk} buffered, append_from_slice"));
    let mut handle = Row::new(format!(
        "bulk load {bulk} buffered, append_to (stream handles)"
    ));
    let mut floor = Row::new(format!(
        "bulk load {bulk} buffered, raw log with the store's event sizes"
    ));
    rows.extend(
        THREADS
            .iter()
            .map(|t| Row::new(format!("durable, {t} threads"))),
    );
    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        let mut bulk_rates = [0.0; 5];
        for (i, system) in [
            BufferedSystem::Annal,
            BufferedSystem::AnnalStore,
            BufferedSystem::AnnalStoreSlice,
            BufferedSystem::AnnalStoreHandle,
            BufferedSystem::AnnalStoreSized,
        ]
        .into_iter()
        .enumerate()
        {
            let dir = dirs::scratch("store-vs-log-")?;
            bulk_rates[i] = rate(bulk, system.run(dir.path(), bulk, &payload)?);
        }
        rows[0].add(bulk_rates[0], bulk_rates[1]);
        slice.add(bulk_rates[0], bulk_rates[2]);
        handle.add(bulk_rates[0], bulk_rates[3]);
        floor.add(bulk_rates[0], bulk_rates[4]);
        for (row, &threads) in rows[1..].iter_mut().zip(&THREADS) {
            row.durable_round(threads, seconds, slices, &payload)?;
        }
    }
    rows.insert(1, slice);
    rows.insert(2, handle);
    rows.insert(3, floor);
    println!("| workload | raw log | event store | store / log (median of per-round, durable: per-pair, ratios) | store appends per fdatasync |");
    println!("| --- | --- | --- | --- | --- |");
    for row in &mut rows {
        let per_sync = if row.store_appends_per_sync.is_empty() {
            "—".to_owned()
        } else {
            format!("{:.1}", median(&mut row.store_appends_per_sync))
        };
        println!(
            "| {} | {} | {} | {:.2}× | {} |",
            row.name,
            fmt_rate(median(&mut row.log)),
            fmt_rate(median(&mut row.store)),
            median(&mut row.ratios),
            per_sync
        );
    }
    Ok(())
}
