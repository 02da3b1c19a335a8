//! The subcommands that operate on an existing store, one file each.

pub mod dump;
pub mod recover;
pub mod stat;
pub mod tail;
pub mod verify;
