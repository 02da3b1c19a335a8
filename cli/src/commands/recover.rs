//! `annal recover DIR`: shows what recovery would cut (`--dry-run`: nothing is written),
//! and applies it after confirmation (or `--yes`). What recovery cuts is kept in the
//! store's `quarantine/` directory; the command lists where.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use annal::{Log, Options, RecoveryAction, RecoveryMode, RecoveryReport};
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::output::{error, Failure, Out, Outcome};
use crate::store::{check_dir, file_name, locked_by_another_process};

/// Show what recovery would cut from a store, and cut it after confirmation.
///
/// Recovery cuts a torn last write; damage elsewhere makes it refuse unless --mode
/// truncate-at-damage (which cuts there, and drops everything after). Every cut byte is
/// kept in DIR/quarantine/. The store must not be open in another process.
///
/// Examples: annal recover /var/lib/orders --dry-run;
/// annal recover /var/lib/orders --mode truncate-at-damage --yes
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The store's directory.
    pub dir: PathBuf,
    /// Only show what recovery would do; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// What damage recovery may cut.
    #[arg(long, value_enum, default_value_t = Mode::Strict)]
    pub mode: Mode,
    /// Apply without asking.
    #[arg(long, conflicts_with = "dry_run")]
    pub yes: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Recovery's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Cut only a torn last write; refuse other damage.
    Strict,
    /// Also cut at damage, dropping what follows it.
    TruncateAtDamage,
}

impl Mode {
    fn options(self) -> Options {
        Options::default().recovery(match self {
            Mode::Strict => RecoveryMode::Strict,
            Mode::TruncateAtDamage => RecoveryMode::TruncateAtDamage,
        })
    }
}

/// Runs `annal recover`.
pub fn run(args: RecoverArgs) -> Outcome {
    check_dir(&args.dir)?;
    if locked_by_another_process(&args.dir)? {
        // Its tail is moving: a plan made now would show appends in flight as torn.
        return Err(error(format!(
            "{} is open in another process (its LOCK is held): that process recovered it \
             when it opened it; stop it first to recover here",
            args.dir.display()
        )));
    }
    let planned = match Log::recovery_dry_run(&args.dir, args.mode.options()) {
        Ok(planned) => planned,
        Err(refused @ annal::Error::Corrupt { .. }) => {
            let hint = if args.mode == Mode::Strict {
                "; `--mode truncate-at-damage --dry-run` shows what cutting there would take"
            } else {
                ""
            };
            return Err(Failure::Damage(format!(
                "recovery would refuse: {refused}{hint}"
            )));
        }
        Err(other) => return Err(other.into()),
    };
    let mut out = Out::new();
    if args.dry_run || planned.is_clean() {
        print(
            &mut out,
            &args,
            &planned,
            !args.dry_run || planned.is_clean(),
        )?;
        return out.flush();
    }
    if !args.json {
        print(&mut out, &args, &planned, false)?;
        out.flush()?;
    }
    if !args.yes && !confirmed()? {
        return Err(error(
            "nothing changed: not confirmed (pass --yes to apply without asking)",
        ));
    }
    let log = Log::open(&args.dir, args.mode.options())?;
    let done = log.recovery_report();
    log.close()?;
    if !args.json {
        out.line("")?;
    }
    print(&mut out, &args, &done, true)?;
    out.flush()
}

fn confirmed() -> Result<bool, Failure> {
    if !io::stdin().is_terminal() {
        return Err(error(
            "refusing to change the store without confirmation: stdin is not a terminal \
             (pass --yes)",
        ));
    }
    eprint!("apply these changes? [y/N] ");
    io::stderr().flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn print(out: &mut Out, args: &RecoverArgs, report: &RecoveryReport, done: bool) -> Outcome {
    let verb = if done && !args.dry_run {
        "did"
    } else {
        "would do"
    };
    if args.json {
        let actions: Vec<_> = report.actions.iter().map(action_json).collect();
        return out.json(&json!({
            "dir": args.dir.display().to_string(),
            "applied": done && !args.dry_run && !report.is_clean(),
            "segments_scanned": report.segments_scanned,
            "actions": actions,
        }));
    }
    if report.is_clean() {
        return out.line(format!(
            "{}: nothing to recover ({} segments scanned)",
            args.dir.display(),
            report.segments_scanned
        ));
    }
    out.line(format!("{}: recovery {verb}:", args.dir.display()))?;
    let rows: Vec<Vec<String>> = report.actions.iter().map(action_row).collect();
    out.table(
        &[
            "action",
            "segment",
            "offset",
            "bytes",
            "records",
            "why",
            "copy kept in",
        ],
        &rows,
    )
}

fn action_row(action: &RecoveryAction) -> Vec<String> {
    match action {
        RecoveryAction::Cut {
            segment,
            offset,
            bytes_cut,
            records_cut,
            reason,
            quarantine,
        } => vec![
            "cut".into(),
            file_name(segment),
            offset.to_string(),
            bytes_cut.to_string(),
            records_cut.to_string(),
            reason.to_string(),
            quarantine
                .as_ref()
                .map_or("-".into(), |q| q.display().to_string()),
        ],
        RecoveryAction::Removed {
            segment,
            reason,
            quarantine,
        } => vec![
            "remove".into(),
            file_name(segment),
            "-".into(),
            "whole file".into(),
            "-".into(),
            reason.to_string(),
            quarantine.display().to_string(),
        ],
        other => vec![format!("{other}")],
    }
}

fn action_json(action: &RecoveryAction) -> serde_json::Value {
    match action {
        RecoveryAction::Cut {
            segment,
            offset,
            bytes_cut,
            records_cut,
            reason,
            quarantine,
        } => json!({
            "action": "cut",
            "segment": segment.display().to_string(),
            "offset": offset,
            "bytes_cut": bytes_cut,
            "records_cut": records_cut,
            "reason": reason.to_string(),
            "quarantine": quarantine.as_ref().map(|q| q.display().to_string()),
        }),
        RecoveryAction::Removed {
            segment,
            reason,
            quarantine,
        } => json!({
            "action": "remove",
            "segment": segment.display().to_string(),
            "reason": reason.to_string(),
            "quarantine": quarantine.display().to_string(),
        }),
        other => json!({ "action": other.to_string() }),
    }
}
