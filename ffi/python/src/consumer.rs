//! `annal.Consumer`: a named, durable checkpoint of a log. It holds the engine's owned
//! `Consumer` handle (`Send + Sync`, no borrow of the log), so store consumers can hand
//! out the same class.

use pyo3::prelude::*;

use crate::args::{Durability, Visibility};
use crate::errors::IntoPy;
use crate::log::{Appended, Batch};
use crate::subscription::{LogSubscription, Shared};

/// A consumer as `Log.consumers()` lists it: its name and committed checkpoint.
#[pyclass(frozen, module = "annal", get_all)]
#[derive(Clone)]
pub struct ConsumerInfo {
    /// The consumer's name.
    name: String,
    /// The next position it has to handle.
    checkpoint: u64,
}

impl From<annal::ConsumerInfo> for ConsumerInfo {
    fn from(info: annal::ConsumerInfo) -> ConsumerInfo {
        ConsumerInfo {
            name: info.name,
            checkpoint: info.checkpoint.0,
        }
    }
}

#[pymethods]
impl ConsumerInfo {
    fn __repr__(&self) -> String {
        format!(
            "ConsumerInfo(name={:?}, checkpoint={})",
            self.name, self.checkpoint
        )
    }
}

/// A named, durable consumer of a log: subscribe from its checkpoint, handle events,
/// `commit(sub.position)`; or `append_and_commit` its own events and the checkpoint in
/// one atomic record. After a restart, `log.consumer(name)` resumes where it committed.
#[pyclass(frozen, module = "annal")]
pub struct Consumer(annal::Consumer);

impl Consumer {
    pub(crate) fn new(consumer: annal::Consumer) -> Consumer {
        Consumer(consumer)
    }

    /// Runs `f` on the engine consumer with the GIL released.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&annal::Consumer) -> annal::Result<T> + Send,
    ) -> PyResult<T> {
        py.detach(|| f(&self.0)).py_err()
    }
}

#[pymethods]
impl Consumer {
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

    /// A subscription from the checkpoint (synced events only unless
    /// `visibility=WRITTEN`).
    #[pyo3(signature = (*, visibility = Visibility::Synced))]
    fn subscribe(&self, py: Python<'_>, visibility: Visibility) -> PyResult<LogSubscription> {
        let options = annal::SubscriptionOptions::default().visibility(visibility.into());
        let subscription = self.with(py, |c| c.subscribe_with(options))?;
        Ok(LogSubscription(Shared::new(subscription)))
    }

    /// Commits `position` (every event before it is handled) durably.
    fn commit(&self, py: Python<'_>, position: &Bound<'_, PyAny>) -> PyResult<()> {
        let position = annal::Position(crate::args::position(position)?);
        self.with(py, |c| c.commit(position))
    }

    /// Appends `events` and commits `position` in the same record: after any crash both
    /// or neither.
    #[pyo3(signature = (events, position, durability = Durability::Synced))]
    fn append_and_commit(
        &self,
        py: Python<'_>,
        events: &Bound<'_, PyAny>,
        position: &Bound<'_, PyAny>,
        durability: Durability,
    ) -> PyResult<Appended> {
        let position = annal::Position(crate::args::position(position)?);
        let batch = Batch::new(events)?;
        let slices = batch.slices();
        let appended = self.with(py, |c| {
            c.append_and_commit(&slices, position, durability.into())
        })?;
        Ok(appended.into())
    }

    fn __repr__(&self) -> String {
        format!("<annal.Consumer {:?}>", self.0.name())
    }
}
