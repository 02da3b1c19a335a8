//! `annal tail DIR`: follows a store another process writes, like `tail -f`: the store
//! is opened read-only and a subscription (from the end, or from a position) prints each
//! event as it is written.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use annal::{Position, Start, StoreFilter, StoreSubscriptionOptions, Visibility};
use clap::Args;
use serde_json::json;

use crate::output::{error, hex, utc_time, Out, Outcome};
use crate::store::{open_read_only, Opened};

/// Follow a live store, printing each new event as another process writes it.
///
/// Starts at the end (use --from 0 for everything first). Stops on Ctrl-C, after --count
/// events, or after --idle seconds without one.
///
/// Example: annal tail /var/lib/orders --category order --type OrderCreated
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The store's directory.
    pub dir: PathBuf,
    /// Only this category's events.
    #[arg(long)]
    pub category: Option<String>,
    /// Only events of this type.
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// Start at this position instead of the end.
    #[arg(long)]
    pub from: Option<u64>,
    /// Stop after this many events.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this many seconds without an event.
    #[arg(long)]
    pub idle: Option<f64>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `annal tail`.
pub fn run(args: TailArgs) -> Outcome {
    let idle = match args.idle {
        Some(seconds) if !(seconds.is_finite() && seconds > 0.0) => {
            return Err(error("--idle must be a positive number of seconds"))
        }
        Some(seconds) => Some(Duration::from_secs_f64(seconds)),
        None => None,
    };
    let store = match open_read_only(&args.dir)? {
        Opened::Store(store) => store,
        Opened::Log(_) => {
            return Err(error(format!(
                "{} is a raw log, not an event store",
                args.dir.display()
            )))
        }
    };
    let start = args.from.map_or(Start::End, |p| Start::from(Position(p)));
    // Everything the writer has written, not only what it has synced.
    let mut options = StoreSubscriptionOptions::default().visibility(Visibility::Written);
    if let Some(category) = &args.category {
        options = options.filter(StoreFilter::category(category.as_str()));
    } else if let Some(event_type) = &args.event_type {
        options = options.filter(StoreFilter::event_type(event_type.as_str()));
    }
    let mut subscription = store.subscribe(start, options)?;
    let mut out = Out::new();
    let mut printed = 0;
    let mut last_event = Instant::now();
    while args.count.is_none_or(|count| printed < count) {
        let Some(event) = subscription.next(Duration::from_millis(200))? else {
            if idle.is_some_and(|idle| last_event.elapsed() >= idle) {
                break;
            }
            continue;
        };
        last_event = Instant::now();
        if args.category.is_some()
            && args
                .event_type
                .as_ref()
                .is_some_and(|wanted| event.event_type != wanted.as_bytes())
        {
            continue;
        }
        let stream = String::from_utf8_lossy(&event.stream);
        let event_type = String::from_utf8_lossy(&event.event_type);
        let data = match std::str::from_utf8(&event.data) {
            Ok(text) => text.to_owned(),
            Err(_) => format!("hex:{}", hex(&event.data)),
        };
        if args.json {
            out.json_line(&json!({
                "position": event.position.0,
                "stream": stream,
                "revision": event.revision.0,
                "type": event_type,
                "time": utc_time(event.timestamp_ns),
                "data": data,
            }))?;
        } else {
            out.line(format!(
                "{}  {stream}@{}  {event_type}  {}  {}",
                event.position.0,
                event.revision.0,
                utc_time(event.timestamp_ns),
                data.escape_debug()
            ))?;
        }
        out.flush()?;
        printed += 1;
    }
    Ok(())
}
