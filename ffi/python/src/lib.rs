//! The `annal` Python package's native module (`annal._annal`): PyO3 classes over the
//! engine's public API, and the three a read makes per event made with the C API.
//! `python/annal/__init__.py` re-exports everything here.
//!
//! One file per job: `store` (the event store), `store_args` (its append and filter
//! arguments), `stream_handle` (its stream handles), `read` (its read iterator), `log`
//! (the raw log), `consumer` (durable consumers), `subscription` (waiting with signals
//! checked), `event` (the values appended), `recorded` (the events read), `args`
//! (Python arguments into engine values), `errors` (exceptions). `unsafe` is allowed
//! only in `raw` (classes made with the C API), `buffer` (zero-copy payloads),
//! `recorded`, `read` and `gc` (objects kept out of the cycle collector).

mod args;
mod buffer;
mod consumer;
mod errors;
mod event;
mod gc;
mod handle;
mod log;
mod options;
mod raw;
mod read;
mod recorded;
mod recovery;
mod stats;
mod store;
mod store_args;
mod store_consumer;
mod stream_handle;
mod subscription;

use pyo3::prelude::*;

use args::{ExpectedRevision, Start, StartKind};

#[pymodule]
fn _annal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<store::EventStore>()?;
    m.add_class::<stream_handle::StreamHandle>()?;
    read::register(m)?;
    m.add_class::<log::Log>()?;
    m.add_class::<log::LogEvent>()?;
    m.add_class::<log::LogReader>()?;
    m.add_class::<log::Appended>()?;
    m.add_class::<consumer::Consumer>()?;
    m.add_class::<store_consumer::StoreConsumer>()?;
    m.add_class::<recovery::RecoveryReport>()?;
    m.add_class::<recovery::RecoveryAction>()?;
    m.add_class::<recovery::IndexRecovery>()?;
    m.add_class::<options::IoPath>()?;
    m.add_class::<stats::Metrics>()?;
    m.add_class::<stats::IndexMemory>()?;
    m.add_class::<consumer::ConsumerInfo>()?;
    m.add_class::<subscription::Subscription>()?;
    m.add_class::<subscription::LogSubscription>()?;
    m.add_class::<event::NewEvent>()?;
    recorded::register(m)?;
    m.add_class::<event::WriteResult>()?;
    m.add_class::<event::StreamInfo>()?;
    buffer::register(m)?;
    m.add_class::<args::Durability>()?;
    m.add_class::<args::Direction>()?;
    m.add_class::<args::Visibility>()?;
    m.add_class::<ExpectedRevision>()?;
    m.add_class::<Start>()?;
    m.add("ANY", ExpectedRevision(annal::ExpectedRevision::Any))?;
    m.add(
        "NO_STREAM",
        ExpectedRevision(annal::ExpectedRevision::NoStream),
    )?;
    m.add(
        "STREAM_EXISTS",
        ExpectedRevision(annal::ExpectedRevision::StreamExists),
    )?;
    m.add("BEGINNING", Start(StartKind::Beginning))?;
    m.add("END", Start(StartKind::End))?;
    m.add("EVENT_BYTES_MAX", annal::limits::EVENT_BYTES_MAX)?;
    m.add("BATCH_EVENTS_MAX", annal::limits::BATCH_EVENTS_MAX)?;
    m.add("BATCH_BYTES_MAX", annal::limits::BATCH_BYTES_MAX)?;
    m.add(
        "STREAM_NAME_BYTES_MAX",
        annal::limits::STREAM_NAME_BYTES_MAX,
    )?;
    m.add("EVENT_TYPE_BYTES_MAX", annal::limits::EVENT_TYPE_BYTES_MAX)?;
    m.add(
        "CONSUMER_NAME_BYTES_MAX",
        annal::limits::CONSUMER_NAME_BYTES_MAX,
    )?;
    m.add("SUBSCRIPTIONS_MAX", annal::limits::SUBSCRIPTIONS_MAX)?;
    m.add("CONSUMERS_MAX", annal::limits::CONSUMERS_MAX)?;
    m.add("SEGMENT_BYTES_MIN", annal::limits::SEGMENT_BYTES_MIN)?;
    m.add("SEGMENT_BYTES_MAX", annal::limits::SEGMENT_BYTES_MAX)?;
    m.add(
        "IDEMPOTENCY_WINDOW_EVENTS",
        annal::IDEMPOTENCY_WINDOW_EVENTS,
    )?;
    Ok(())
}
