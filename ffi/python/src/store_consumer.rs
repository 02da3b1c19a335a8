//! `annal.StoreConsumer`: a named, durable consumer of an event store, delivering the
//! store's events and committing its checkpoint alone or with the appends a reaction
//! causes, in one record (exactly once). It holds the engine's owned `StoreConsumer`
//! (no borrow of the store): after the store is closed its calls raise `annal.Closed`.

use pyo3::prelude::*;

use crate::args::{self, Durability, Visibility};
use crate::errors::IntoPy;
use crate::event::WriteResult;
use crate::store_args::{store_filter, stream_appends};
use crate::subscription::{Shared, Subscription};

/// A durable consumer of an event store: `subscribe()` from its checkpoint, handle
/// events, then `commit(sub.position)`, or `append_and_commit(appends, sub.position)` to
/// write the reaction's events and the checkpoint atomically (give the events ids: a
/// retry returns the original results and writes nothing twice). After a restart,
/// `store.consumer(name)` resumes where it committed.
#[pyclass(frozen, module = "annal")]
pub struct StoreConsumer(annal::StoreConsumer);

impl StoreConsumer {
    pub(crate) fn new(consumer: annal::StoreConsumer) -> StoreConsumer {
        StoreConsumer(consumer)
    }

    /// Runs `f` on the engine consumer with the GIL released.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&annal::StoreConsumer) -> annal::Result<T> + Send,
    ) -> PyResult<T> {
        py.detach(|| f(&self.0)).py_err()
    }
}

#[pymethods]
impl StoreConsumer {
    /// The consumer's name.
    #[getter]
    fn name(&self) -> &str {
        self.0.name()
    }

    /// The committed checkpoint: the next position this consumer has to handle.
    #[getter]
    fn checkpoint(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |c| c.checkpoint().map(|p| p.0))
    }

    /// A subscription from the checkpoint, optionally filtered by one of `category`,
    /// `event_type` or `stream_prefix` (synced events only unless `visibility=WRITTEN`).
    #[pyo3(signature = (*, category = None, event_type = None, stream_prefix = None, visibility = Visibility::Synced))]
    fn subscribe(
        &self,
        py: Python<'_>,
        category: Option<&Bound<'_, PyAny>>,
        event_type: Option<&Bound<'_, PyAny>>,
        stream_prefix: Option<&Bound<'_, PyAny>>,
        visibility: Visibility,
    ) -> PyResult<Subscription> {
        let options = annal::StoreSubscriptionOptions::default()
            .visibility(visibility.into())
            .filter(store_filter(category, event_type, stream_prefix)?);
        let subscription = self.with(py, |c| c.subscribe_with(options))?;
        Ok(Subscription(Shared::new(subscription)))
    }

    /// Commits `position` alone (every event before it is handled), durably.
    fn commit(&self, py: Python<'_>, position: &Bound<'_, PyAny>) -> PyResult<()> {
        let position = annal::Position(args::position(position)?);
        self.with(py, |c| c.commit(position))
    }

    /// The exactly-once step: appends to the streams in `appends` (a list of
    /// `(stream, events)` or `(stream, events, expected)` tuples, as `append_multi`) and
    /// moves the checkpoint to `position`, in one record: after any crash both are there
    /// or neither. A failed expectation writes nothing and leaves the checkpoint.
    #[pyo3(signature = (appends, position, *, durability = Durability::Synced))]
    fn append_and_commit(
        &self,
        py: Python<'_>,
        appends: &Bound<'_, PyAny>,
        position: &Bound<'_, PyAny>,
        durability: Durability,
    ) -> PyResult<Vec<WriteResult>> {
        let position = annal::Position(args::position(position)?);
        let appends = stream_appends(appends)?;
        let results = self.with(py, |c| {
            c.append_and_commit(&appends, position, durability.into())
        })?;
        Ok(results.into_iter().map(WriteResult::from).collect())
    }

    fn __repr__(&self) -> String {
        format!("<annal.StoreConsumer {:?}>", self.0.name())
    }
}
