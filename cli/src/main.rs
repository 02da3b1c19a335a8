//! `annal`: the command for people who run Annal stores — look inside one (`stat`,
//! `dump`), check it (`verify`), follow it live (`tail`), repair it (`recover`), measure
//! the machine and the engine (`bench`), and see event-driven services working on a
//! store (`demo`). `stat`, `dump`, `verify` and `tail` open the store read-only, so they
//! work beside the process that writes it.
//!
//! Output is a table by default and JSON with `--json`; long work shows a progress bar
//! when stderr is a terminal; an error is one line on stderr and a non-zero exit status
//! (`docs/cli.md` lists them).

mod bench;
mod commands;
mod demo;
mod output;
mod store;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use output::Failure;

/// Look inside, check, follow, recover and measure Annal stores.
#[derive(Debug, Parser)]
#[command(name = "annal", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Demo(demo::DemoArgs),
    Stat(commands::stat::StatArgs),
    Verify(commands::verify::VerifyArgs),
    Dump(commands::dump::DumpArgs),
    Tail(commands::tail::TailArgs),
    Recover(commands::recover::RecoverArgs),
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Stat(args) => commands::stat::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Dump(args) => commands::dump::run(args),
        Command::Tail(args) => commands::tail::run(args),
        Command::Recover(args) => commands::recover::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(Failure::Damage(message)) => {
            output::error_line(&message);
            ExitCode::from(output::EXIT_DAMAGE)
        }
        Err(Failure::Error(message)) => {
            output::error_line(&message);
            ExitCode::from(output::EXIT_ERROR)
        }
    }
}
