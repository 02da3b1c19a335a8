//! `annal stat DIR`: what a store holds — positions and watermarks, segments, index
//! checkpoint, streams and categories, consumers and their lag, size on disk. Opens the
//! store read-only.

use std::path::PathBuf;

use annal::{IndexRecovery, SegmentInfo};
use clap::Args;
use serde_json::{json, Value};

use crate::output::{bytes, Failure, Out, Outcome};
use crate::store::{file_name, open_read_only, size_on_disk, unreadable_warning, Opened};

/// Show a store's segments, positions, streams, index checkpoint and consumers.
///
/// Works on a store another process has open (the store is opened read-only).
///
/// Example: annal stat /var/lib/orders
#[derive(Debug, Args)]
pub struct StatArgs {
    /// The store's directory.
    pub dir: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// How many of the largest streams and categories to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// Runs `annal stat`.
pub fn run(args: StatArgs) -> Outcome {
    let opened = open_read_only(&args.dir)?;
    let segments = opened.segments()?;
    let damage = unreadable_warning(&segments);
    let (first, written, synced, epoch) = match &opened {
        Opened::Store(store) => (
            store.first_position(),
            store.last_written(),
            store.last_synced(),
            None,
        ),
        Opened::Log(log) => (
            log.first_position(),
            log.last_written(),
            log.last_synced(),
            Some(log.epoch()),
        ),
    };
    let next = written.map_or(first.0, |p| p.0 + 1);
    let consumers = match &opened {
        Opened::Store(store) => store.consumer_checkpoints()?,
        Opened::Log(log) => log.consumer_checkpoints()?,
    };
    let size = size_on_disk(&args.dir);
    let (summary, index) = match &opened {
        Opened::Store(store) => (
            Some(store.stream_summary(args.top)?),
            Some(index_state(&store.index_recovery())),
        ),
        Opened::Log(_) => (None, None),
    };
    let mut out = Out::new();
    if args.json {
        let value = json!({
            "dir": args.dir.display().to_string(),
            "kind": opened.kind(),
            "epoch": epoch,
            "first_position": first.0,
            "next_position": next,
            "last_written": written.map(|p| p.0),
            "last_synced": synced.map(|p| p.0),
            "events": next - first.0,
            "size_on_disk_bytes": size,
            "segments": segments.iter().map(segment_json).collect::<Vec<_>>(),
            "index_checkpoint": index,
            "streams": summary.as_ref().map(|s| json!({
                "streams": s.streams,
                "deleted_streams": s.deleted_streams,
                "events": s.events,
                "categories": s.categories.iter().take(args.top).map(|c| json!({
                    "name": c.name, "streams": c.streams, "events": c.events,
                })).collect::<Vec<_>>(),
                "largest_streams": s.largest_streams.iter().map(|(name, events)| json!({
                    "name": name, "events": events,
                })).collect::<Vec<_>>(),
            })),
            "consumers": consumers.iter().map(|c| json!({
                "name": c.name,
                "checkpoint": c.checkpoint.0,
                "lag_events": next.saturating_sub(c.checkpoint.0),
            })).collect::<Vec<_>>(),
            "damage": damage,
        });
        out.json(&value)?;
    } else {
        out.line(format!("{} ({})", args.dir.display(), opened.kind()))?;
        let fmt = |p: Option<annal::Position>| p.map_or("none".to_owned(), |p| p.0.to_string());
        out.line(format!(
            "positions: first {}, next {next}; last written {}, last synced {}; {} events",
            first.0,
            fmt(written),
            fmt(synced),
            next - first.0
        ))?;
        out.line(format!(
            "size on disk: {} in {} segment file(s)",
            bytes(size),
            segments.len()
        ))?;
        if let Some(index) = &index {
            out.line(format!(
                "index checkpoint: {}",
                index["state"].as_str().unwrap_or("")
            ))?;
        }
        out.line("")?;
        let rows: Vec<Vec<String>> = segments.iter().map(segment_row).collect();
        out.table(
            &[
                "segment", "first", "last", "written", "file", "sealed", "readable",
            ],
            &rows,
        )?;
        if let Some(summary) = &summary {
            out.line("")?;
            out.line(format!(
                "streams: {} ({} deleted), {} events, {} categories",
                summary.streams,
                summary.deleted_streams,
                summary.events,
                summary.categories.len()
            ))?;
            if !summary.categories.is_empty() {
                let rows: Vec<Vec<String>> = summary
                    .categories
                    .iter()
                    .take(args.top)
                    .map(|c| vec![c.name.clone(), c.streams.to_string(), c.events.to_string()])
                    .collect();
                out.table(&["category", "streams", "events"], &rows)?;
            }
            if !summary.largest_streams.is_empty() {
                let rows: Vec<Vec<String>> = summary
                    .largest_streams
                    .iter()
                    .map(|(name, events)| vec![name.clone(), events.to_string()])
                    .collect();
                out.line("")?;
                out.table(&["largest stream", "events"], &rows)?;
            }
        }
        out.line("")?;
        if consumers.is_empty() {
            out.line("consumers: none")?;
        } else {
            let rows: Vec<Vec<String>> = consumers
                .iter()
                .map(|c| {
                    let lag = next.saturating_sub(c.checkpoint.0);
                    vec![c.name.clone(), c.checkpoint.0.to_string(), lag.to_string()]
                })
                .collect();
            out.table(&["consumer", "checkpoint", "lag (events)"], &rows)?;
        }
    }
    out.flush()?;
    match damage {
        Some(damage) => Err(Failure::Damage(format!("damaged: {damage}"))),
        None => Ok(()),
    }
}

fn index_state(recovery: &IndexRecovery) -> Value {
    match recovery {
        IndexRecovery::Loaded { replayed_from } => json!({
            "state": format!("loaded; covers positions before {}, the rest replayed from the log", replayed_from.0),
            "through": replayed_from.0,
        }),
        IndexRecovery::Rebuilt { reason } => json!({
            "state": format!("not used ({reason}); index rebuilt from the log in memory"),
            "through": Value::Null,
        }),
    }
}

fn segment_json(segment: &SegmentInfo) -> Value {
    json!({
        "file": file_name(&segment.path),
        "first_position": segment.first_position.0,
        "end_position": segment.end_position.map(|p| p.0),
        "written_bytes": segment.written_bytes,
        "file_bytes": segment.file_bytes,
        "sealed": segment.sealed,
        "readable": segment.readable,
        "damaged_at": segment.damaged_at,
    })
}

fn segment_row(segment: &SegmentInfo) -> Vec<String> {
    let last = match segment.end_position {
        Some(end) if end.0 > segment.first_position.0 => (end.0 - 1).to_string(),
        Some(_) => "(empty)".to_owned(),
        None => "?".to_owned(),
    };
    vec![
        file_name(&segment.path),
        segment.first_position.0.to_string(),
        last,
        segment.written_bytes.map_or("?".to_owned(), bytes),
        bytes(segment.file_bytes),
        if segment.sealed { "yes" } else { "no" }.to_owned(),
        match (segment.readable, segment.damaged_at) {
            (false, _) => "NO".to_owned(),
            (true, Some(offset)) => format!("to damage at offset {offset}"),
            (true, None) => "yes".to_owned(),
        },
    ]
}
