//! Process-level tests on real files: a child process (`annal-crash-child`, started by
//! the one harness in `child`) killed with SIGKILL while appending (`kill9`) or while its
//! consumers commit (`consumers_kill9`) or its store consumer reacts (`store_kill9`), the directory lock between processes (`lock`),
//! and a roll right after open run in a child so a SIGBUS fails the test
//! (`roll_after_open`).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod child;
mod consumers_kill9;
mod follower;
mod kill9;
mod lock;
mod roll_after_open;
mod store_kill9;
mod truncate_kill9;
