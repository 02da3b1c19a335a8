//! `annal verify DIR`: the full check (`EventStore::verify`, or `Log::verify` for a raw
//! log, or `Log::verify_dir` when the store cannot even be opened read-only) with a
//! progress bar; every problem with its file and offset; exit status 3 on damage. Never
//! writes.

use std::path::PathBuf;

use annal::{Log, VerifyProgress, VerifyReport, VerifyStage};
use clap::Args;
use serde_json::json;

use crate::output::{progress_bar, Failure, Out, Outcome};
use crate::store::{check_dir, file_name, open_read_only, Opened};

/// Check every record's checksums, the index against the log and every consumer's
/// checkpoint; report each problem with its file and offset.
///
/// Never writes; works on a store another process has open. Exit status: 0 clean (an
/// incomplete last write is reported but is not damage), 3 damage found, 1 error.
///
/// Example: annal verify /var/lib/orders
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The store's directory.
    pub dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `annal verify`.
pub fn run(args: VerifyArgs) -> Outcome {
    check_dir(&args.dir)?;
    let bar = progress_bar(0, "verifying");
    let mut stage = None;
    let mut progress = |p: VerifyProgress| {
        if stage != Some(p.stage) {
            stage = Some(p.stage);
            bar.set_message(match p.stage {
                VerifyStage::Records => "records",
                VerifyStage::Consumers => "consumers",
                VerifyStage::Index => "index",
                _ => "verifying",
            });
            bar.set_length(p.total.max(1));
        }
        bar.set_position(p.done);
    };
    let mut open_error = None;
    let report = match open_read_only(&args.dir) {
        Ok(Opened::Store(store)) => store.verify(&mut progress)?,
        Ok(Opened::Log(log)) => log.verify(&mut progress)?,
        Err(Failure::Error(message)) => {
            // Too damaged to open: the records and consumer files can still be checked.
            open_error = Some(message);
            Log::verify_dir(&args.dir, &mut progress)?
        }
        Err(other) => return Err(other),
    };
    bar.finish_and_clear();
    print(&args, &report, open_error.as_deref())?;
    let damage = report.damage().count() + usize::from(open_error.is_some());
    if damage > 0 {
        return Err(Failure::Damage(format!(
            "{}: {damage} problem(s) found",
            args.dir.display()
        )));
    }
    Ok(())
}

fn print(args: &VerifyArgs, report: &VerifyReport, open_error: Option<&str>) -> Outcome {
    let mut out = Out::new();
    if args.json {
        let problems: Vec<_> = report
            .problems
            .iter()
            .map(|p| {
                json!({
                    "kind": p.kind.name(),
                    "code": p.kind.code(),
                    "damage": p.kind.is_damage(),
                    "file": p.file.display().to_string(),
                    "offset": p.offset,
                    "position": p.position.map(|p| p.0),
                    "detail": p.detail,
                })
            })
            .collect();
        out.json(&json!({
            "dir": args.dir.display().to_string(),
            "clean": report.is_clean() && open_error.is_none(),
            "open_error": open_error,
            "segments_checked": report.segments_checked,
            "records_checked": report.records_checked,
            "events_checked": report.events_checked,
            "bytes_checked": report.bytes_checked,
            "consumers_checked": report.consumers_checked,
            "streams_checked": report.streams_checked,
            "problems": problems,
        }))?;
        return out.flush();
    }
    if let Some(message) = open_error {
        out.line(format!("cannot be opened read-only: {message}"))?;
    }
    if !report.problems.is_empty() {
        let rows: Vec<Vec<String>> = report
            .problems
            .iter()
            .map(|p| {
                vec![
                    p.kind.name().to_owned(),
                    file_name(&p.file),
                    p.offset.map_or("-".to_owned(), |o| o.to_string()),
                    p.position.map_or("-".to_owned(), |p| p.0.to_string()),
                    p.detail.clone(),
                ]
            })
            .collect();
        out.table(&["problem", "file", "offset", "position", "detail"], &rows)?;
    }
    let verdict = if report.is_clean() && open_error.is_none() {
        "clean"
    } else {
        "DAMAGED"
    };
    out.line(format!(
        "{}: {} segments, {} records, {} events, {} consumers, {} streams checked: {verdict}",
        args.dir.display(),
        report.segments_checked,
        report.records_checked,
        report.events_checked,
        report.consumers_checked,
        report.streams_checked
    ))?;
    out.flush()
}
