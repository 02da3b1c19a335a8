//! `annal dump DIR`: events with their positions, streams, revisions, types, ids, times
//! and data (text when it is UTF-8, hex otherwise), one per line or as JSON lines. Opens
//! the store read-only.

use std::path::PathBuf;

use annal::{Direction, Position, RecordedEvent, Revision};
use clap::Args;
use serde_json::json;

use crate::output::{error, hex, utc_time, warning, Failure, Out, Outcome};
use crate::store::{open_read_only, unreadable_warning, Opened};

/// Events read per call.
const PAGE_EVENTS: usize = 4_096;

/// Print events: their positions, streams, revisions, types, ids, times and data.
///
/// Data is printed as text when it is UTF-8, as hex otherwise (or always with --hex).
/// Works on a store another process has open.
///
/// Examples: annal dump /var/lib/orders --stream order-42;
/// annal dump /var/lib/orders --category order --from 1000 --count 20 --json
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The store's directory.
    pub dir: PathBuf,
    /// Only this stream's events.
    #[arg(long, conflicts_with = "category")]
    pub stream: Option<String>,
    /// Only this category's events (the stream-name prefix before the first '-').
    #[arg(long)]
    pub category: Option<String>,
    /// From this position on.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Up to this position (included).
    #[arg(long)]
    pub to: Option<u64>,
    /// At most this many events.
    #[arg(long)]
    pub count: Option<u64>,
    /// One JSON object per line.
    #[arg(long, conflicts_with = "hex")]
    pub json: bool,
    /// Data always as hex.
    #[arg(long)]
    pub hex: bool,
}

/// Runs `annal dump`.
pub fn run(args: DumpArgs) -> Outcome {
    if args.to.is_some_and(|to| to < args.from) {
        return Err(error("--to must not be below --from"));
    }
    let opened = open_read_only(&args.dir)?;
    let damage = unreadable_warning(&opened.segments()?);
    if let Some(damage) = &damage {
        warning(damage);
    }
    let mut out = Out::new();
    let mut printed = 0u64;
    let limit = args.count.unwrap_or(u64::MAX);
    let to = args.to.unwrap_or(u64::MAX);
    match &opened {
        Opened::Store(store) => {
            let mut from = Position(args.from);
            let mut revision = Revision::ZERO;
            'pages: while printed < limit {
                let page = match (&args.stream, &args.category) {
                    (Some(stream), _) => {
                        store.read_stream(stream, revision, Direction::Forwards, PAGE_EVENTS)?
                    }
                    (None, Some(category)) => {
                        store.read_category(category, from, Direction::Forwards, PAGE_EVENTS)?
                    }
                    (None, None) => store.read_all(from, Direction::Forwards, PAGE_EVENTS)?,
                };
                for event in &page {
                    if event.position.0 < args.from {
                        continue;
                    }
                    if event.position.0 > to || printed >= limit {
                        break 'pages;
                    }
                    print_event(&mut out, &args, event)?;
                    printed += 1;
                }
                match page.last() {
                    Some(last) if page.len() == PAGE_EVENTS => {
                        from = last.position.after(1);
                        revision = Revision(last.revision.0 + 1);
                    }
                    _ => break,
                }
            }
        }
        Opened::Log(log) => {
            if args.stream.is_some() || args.category.is_some() {
                return Err(error(format!(
                    "{} is a raw log, not an event store: it has no streams",
                    args.dir.display()
                )));
            }
            let from = Position(args.from.max(log.first_position().0));
            for event in log.read_from(from)? {
                let event = event?;
                if event.position.0 > to || printed >= limit {
                    break;
                }
                let (text, data_hex) = data_parts(&event.payload, args.hex);
                if args.json {
                    out.json_line(&json!({
                        "position": event.position.0,
                        "data": text,
                        "data_hex": data_hex,
                    }))?;
                } else {
                    let data =
                        text.unwrap_or_else(|| format!("hex:{}", data_hex.unwrap_or_default()));
                    out.line(format!("{}  {data}", event.position.0))?;
                }
                printed += 1;
            }
        }
    }
    out.flush()?;
    match damage {
        Some(damage) => Err(Failure::Damage(format!("damaged: {damage}"))),
        None => Ok(()),
    }
}

/// The data as text (UTF-8, control characters escaped) or as hex.
fn data_parts(data: &[u8], always_hex: bool) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(data) {
        Ok(text) if !always_hex => (Some(escape_controls(text)), None),
        _ => (None, Some(hex(data))),
    }
}

fn escape_controls(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn print_event(out: &mut Out, args: &DumpArgs, event: &RecordedEvent) -> Outcome {
    let stream = String::from_utf8_lossy(&event.stream);
    let event_type = String::from_utf8_lossy(&event.event_type);
    let (text, data_hex) = data_parts(&event.data, args.hex);
    if args.json {
        return out.json_line(&json!({
            "position": event.position.0,
            "stream": stream,
            "revision": event.revision.0,
            "type": event_type,
            "id": event.id.map(|id| hex(&id)),
            "time_ns": event.timestamp_ns,
            "time": utc_time(event.timestamp_ns),
            "data": text,
            "data_hex": data_hex,
            "metadata_hex": (!event.metadata.is_empty()).then(|| hex(&event.metadata)),
        }));
    }
    let id = event.id.map_or("-".to_owned(), |id| hex(&id));
    let data = text.unwrap_or_else(|| format!("hex:{}", data_hex.unwrap_or_default()));
    out.line(format!(
        "{}  {stream}@{}  {event_type}  id={id}  {}  {data}",
        event.position.0,
        event.revision.0,
        utc_time(event.timestamp_ns)
    ))
}
