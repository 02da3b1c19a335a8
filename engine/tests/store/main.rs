//! The event store (`EventStore`, the stream layer over the log), one module per promise:
//! its API in the domain's words (`api`), streams end to end (`streams`), the persisted
//! stream index (`index`), bad input (`bad_input`), the checkpoint as a mapped table
//! under the changes since (`checkpoint_table`), the model test of the stream layer
//! (`model`), retries by event id (`retries`), retention (`retention`), store
//! subscriptions (`subscriptions`), racing `Exact` appends from many threads
//! (`concurrency`), stream handles (`handles`), concurrent `Synced` appends each getting
//! their own result (`synced_racers`), and appends on the store's lock alone racing
//! everything else that reaches the log's writer (`one_lock`).

#![allow(clippy::unwrap_used)]

mod api;
mod bad_input;
mod checkpoint_table;
mod concurrency;
mod follower;
mod handles;
mod index;
mod model;
mod one_lock;
mod retention;
mod retries;
mod streams;
mod subscriptions;
mod synced_racers;
mod verify;
