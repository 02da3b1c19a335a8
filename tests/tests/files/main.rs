//! The log on real files, in one process: both durable write paths (`io_path`),
//! recovery of segment files damaged by hand (`recovery`), reopening with another
//! segment size (`reopen_options`), sparse segments and recovery around their holes
//! (`sparse`), and zero-copy payloads that outlive the log and its
//! files (`zero_copy`).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod io_path;
mod read_only_fs;
mod recovery;
mod reopen_options;
mod sparse;
mod zero_copy;

/// Whether this process may use io_uring (tests of the io_uring path skip, saying so,
/// where a sandbox or an old kernel refuses it).
fn io_uring_usable() -> bool {
    match annal::FileStorage::with_io_path(annal::IoPath::IoUring) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("io_uring unavailable here, test skipped: {e}");
            false
        }
    }
}
