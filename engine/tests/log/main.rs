//! The log layer (`Log`), one module per promise: appends from many threads and readers
//! tailing them (`concurrency`), the model test of appends, reads, reopens and power
//! losses (`model`), limits and bad input (`limits`), deferred segment checks at open
//! (`open_checks`), injected faults and bit rot (`faults`), what recovery reports and
//! keeps (`recovery_report`), poisoning from the store and the flusher (`poison`), reads
//! by location (`located_reads`), retention (`retention`), the clean-close marker
//! (`clean_close`) and the batch read with borrowed payloads (`visit`). Subscriptions are the `subscriptions`
//! binary; power loss in flight is `crash`.

#![allow(clippy::unwrap_used)]

#[path = "../support/mod.rs"]
mod support;

mod clean_close;
mod concurrency;
mod faults;
mod follower;
mod limits;
mod located_reads;
mod model;
mod open_checks;
mod poison;
mod recovery_report;
mod retention;
mod truncation;
mod verify;
mod visit;
