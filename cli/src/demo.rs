//! `annal demo [DIR]`: the event-driven services scenario of the engine's `services`
//! example (its code, compiled in from `engine/examples/services/scenario/`) on a new
//! store, with a progress bar and a summary of what happened and how fast.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::output::{error, progress_bar, Out, Outcome};

#[allow(dead_code)]
#[path = "../../engine/examples/services/scenario/mod.rs"]
mod scenario;

/// Run event-driven services on a new store and check every order against the log.
///
/// An Order service creates orders; a Customer service (a durable consumer committing
/// its checkpoint with its appends) reserves credit; the Order service approves or
/// rejects; a view follows; the Customer service is stopped mid-step and restarted. At
/// the end every order must have exactly one outcome, no reaction may be applied twice,
/// and the view must equal a recomputation from the log.
///
/// Examples: annal demo; annal demo /tmp/orders --orders 10000 (then: annal stat
/// /tmp/orders)
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to create the store (a new or empty directory, kept afterwards); a
    /// temporary directory, removed at the end, when not given.
    pub dir: Option<PathBuf>,
    /// How many orders.
    #[arg(long, default_value_t = 100_000)]
    pub orders: u64,
    /// Client threads creating orders (their Synced appends share fdatasyncs).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// The new store's segment size in bytes.
    #[arg(long, default_value_t = annal::Options::default().segment_bytes)]
    pub segment_bytes: u64,
    /// Do not stop and restart the Customer service.
    #[arg(long)]
    pub no_restart: bool,
    /// Print JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `annal demo`.
pub fn run(args: DemoArgs) -> Outcome {
    if args.orders == 0 || args.clients == 0 {
        return Err(error("--orders and --clients must be at least 1"));
    }
    let temporary;
    let dir = match &args.dir {
        Some(dir) => {
            let occupied = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
            if occupied {
                return Err(error(format!(
                    "{}: not empty; the demo creates a new store (pick a new or empty directory)",
                    dir.display()
                )));
            }
            dir.clone()
        }
        None => {
            temporary = tempfile::tempdir()?;
            temporary.path().to_path_buf()
        }
    };
    let mut config = scenario::Config::new(args.orders);
    config.clients = args.clients;
    config.restart = !args.no_restart;
    config.segment_bytes = args.segment_bytes;
    let bar = progress_bar(args.orders, "orders finished");
    let summary = scenario::run(&dir, &config, &mut |progress| {
        bar.set_message(progress.phase);
        bar.set_position(progress.finished);
    })
    .map_err(|e| error(format!("the demo failed: {e}")))?;
    bar.finish_and_clear();
    let mut out = Out::new();
    if args.json {
        out.json(&json!({
            "dir": args.dir.as_ref().map(|d| d.display().to_string()),
            "orders": summary.orders,
            "approved": summary.approved,
            "rejected": summary.rejected,
            "events": summary.events,
            "elapsed_s": summary.elapsed.as_secs_f64(),
            "events_per_second": summary.events_per_second(),
            "latency_p50_ms": summary.latency_p50.as_secs_f64() * 1e3,
            "latency_p99_ms": summary.latency_p99.as_secs_f64() * 1e3,
            "latency_max_ms": summary.latency_max.as_secs_f64() * 1e3,
            "appends": summary.appends,
            "fdatasyncs": summary.group_syncs,
            "appends_per_fdatasync": summary.appends_per_sync(),
            "customer_steps_before_restart": summary.customer_steps.0,
            "customer_steps_after_restart": summary.customer_steps.1,
            "dropped_step_events": summary.dropped_step_events,
            "retry_wrote_nothing": summary.retry_wrote_nothing,
            "view_customers": summary.view_customers,
            "checks_passed": true,
            "audit": summary.audit,
        }))?;
        return out.flush();
    }
    let restart = if config.restart {
        format!(
            "stopped after {} steps with a step of {} orders read but not committed, \
             restarted from its checkpoint ({} more steps); its last step sent again wrote \
             nothing: {}",
            summary.customer_steps.0,
            summary.dropped_step_events,
            summary.customer_steps.1,
            summary.retry_wrote_nothing
        )
    } else {
        format!("{} steps, not restarted", summary.customer_steps.0)
    };
    let rows = vec![
        vec![
            "orders".to_owned(),
            format!(
                "{} ({} approved, {} rejected for credit)",
                summary.orders, summary.approved, summary.rejected
            ),
        ],
        vec![
            "events".to_owned(),
            format!(
                "{} in {:.2?}: {:.0} events/s",
                summary.events,
                summary.elapsed,
                summary.events_per_second()
            ),
        ],
        vec![
            "order latency".to_owned(),
            format!(
                "created to approved/rejected: p50 {:.2?}, p99 {:.2?}, max {:.2?}",
                summary.latency_p50, summary.latency_p99, summary.latency_max
            ),
        ],
        vec![
            "group commit".to_owned(),
            format!(
                "{} appends, {} fdatasyncs: {:.1} appends per fdatasync",
                summary.appends,
                summary.group_syncs,
                summary.appends_per_sync()
            ),
        ],
        vec!["customer service".to_owned(), restart],
        vec![
            "checked".to_owned(),
            format!(
                "every order has exactly one outcome and one credit answer; no customer over \
                 its limit; the view of {} customers equals its recomputation from the log",
                summary.view_customers
            ),
        ],
    ];
    out.table(&["", ""], &rows)?;
    for line in &summary.audit {
        out.line(format!("audit: {line}"))?;
    }
    if let Some(dir) = &args.dir {
        out.line(format!(
            "store kept in {} (try: annal stat {0})",
            dir.display()
        ))?;
    }
    out.flush()
}
