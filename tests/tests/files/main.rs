//! The log on real files, in one process: recovery of segment files damaged by hand
//! (`recovery`), reopening with another segment size (`reopen_options`), and zero-copy
//! payloads that outlive the log and its files (`zero_copy`).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod read_only_fs;
mod recovery;
mod reopen_options;
mod zero_copy;
