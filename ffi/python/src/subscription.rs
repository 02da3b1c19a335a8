//! Subscriptions as Python iterators: `Subscription` (the store's recorded events) and
//! `LogSubscription` (the raw log's events). Waiting releases the GIL and wakes every
//! `SIGNAL_CHECK_INTERVAL` to run Python's signal handlers, so Ctrl-C stops a
//! `for event in subscription:` loop.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::{closed, IntoPy};
use crate::log::LogEvent;
use crate::recorded::RecordedEvent;

/// How long a wait runs with the GIL released before checking for signals.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The engine's two subscription types, waited on the same way.
pub(crate) trait Follow: Send {
    /// What it delivers.
    type Item: Send;
    /// The next item, waiting up to `timeout`.
    fn next_within(&mut self, timeout: Duration) -> annal::Result<Option<Self::Item>>;
    /// The next item if one is there now.
    fn next_now(&mut self) -> annal::Result<Option<Self::Item>>;
    /// The next position it will look at (the checkpoint to commit once all before it
    /// is handled).
    fn next_position(&self) -> annal::Position;
}

impl Follow for annal::Subscription {
    type Item = annal::Event;
    fn next_within(&mut self, timeout: Duration) -> annal::Result<Option<annal::Event>> {
        self.next(timeout)
    }
    fn next_now(&mut self) -> annal::Result<Option<annal::Event>> {
        self.try_next()
    }
    fn next_position(&self) -> annal::Position {
        self.position()
    }
}

impl Follow for annal::StoreSubscription {
    type Item = annal::RecordedEvent;
    fn next_within(&mut self, timeout: Duration) -> annal::Result<Option<annal::RecordedEvent>> {
        self.next(timeout)
    }
    fn next_now(&mut self) -> annal::Result<Option<annal::RecordedEvent>> {
        self.try_next()
    }
    fn next_position(&self) -> annal::Position {
        self.position()
    }
}

/// A subscription shared by the Python threads that call it (one at a time).
pub(crate) struct Shared<S>(Mutex<Option<S>>);

impl<S: Follow> Shared<S> {
    pub(crate) fn new(subscription: S) -> Shared<S> {
        Shared(Mutex::new(Some(subscription)))
    }

    fn lock(&self) -> MutexGuard<'_, Option<S>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next item, waiting up to `timeout` (`None`: for ever) with the GIL released,
    /// checking for signals (Ctrl-C raises `KeyboardInterrupt`) between slices.
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<S::Item>> {
        let deadline = match timeout {
            Some(seconds) if !(seconds >= 0.0 && seconds.is_finite()) => {
                return Err(PyValueError::new_err(
                    "timeout must be a finite number of seconds >= 0",
                ))
            }
            Some(seconds) => Some(Instant::now() + Duration::from_secs_f64(seconds)),
            None => None,
        };
        loop {
            let slice = deadline.map_or(SIGNAL_CHECK_INTERVAL, |deadline| {
                deadline
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK_INTERVAL)
            });
            let next = py.detach(|| match self.lock().as_mut() {
                Some(subscription) => Ok(subscription.next_within(slice)),
                None => Err(()),
            });
            if let Some(item) = next.map_err(|()| closed())?.py_err()? {
                return Ok(Some(item));
            }
            py.check_signals()?;
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Ok(None);
            }
        }
    }

    fn now(&self, py: Python<'_>) -> PyResult<Option<S::Item>> {
        let next = py.detach(|| self.lock().as_mut().map(|s| s.next_now()));
        next.ok_or_else(closed)?.py_err()
    }

    fn position(&self) -> PyResult<u64> {
        self.lock()
            .as_ref()
            .map(|s| s.next_position().0)
            .ok_or_else(closed)
    }

    /// For `__next__`: the next item, waiting for ever; `None` (end of iteration) once
    /// the log is closed.
    fn iterate(&self, py: Python<'_>) -> PyResult<Option<S::Item>> {
        match self.wait(py, None) {
            Err(e) if e.is_instance_of::<crate::errors::Closed>(py) => Ok(None),
            other => other,
        }
    }

    fn close(&self) {
        self.lock().take();
    }
}

/// Declares a Python subscription class over one engine subscription type.
macro_rules! subscription_class {
    ($(#[$doc:meta])* $name:ident, $engine:ty, $item:ty, $convert:expr) => {
        $(#[$doc])*
        #[pyclass(frozen, module = "annal")]
        pub struct $name(pub(crate) Shared<$engine>);

        #[pymethods]
        impl $name {
            /// The next event, waiting up to `timeout` seconds (`None`: until one comes);
            /// `None` when the timeout passed first. Raises `annal.Closed` once the log
            /// is closed and every event before was delivered.
            #[pyo3(signature = (timeout = None))]
            fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<$item>> {
                Ok(self.0.wait(py, timeout)?.map($convert))
            }

            /// The next event if one is published now, else `None`.
            fn try_next(&self, py: Python<'_>) -> PyResult<Option<$item>> {
                Ok(self.0.now(py)?.map($convert))
            }

            /// The next position this subscription will look at: every event before
            /// it was delivered or filtered out (the checkpoint to commit).
            #[getter]
            fn position(&self) -> PyResult<u64> {
                self.0.position()
            }

            /// Ends the subscription (frees its slot); later calls raise `annal.Closed`.
            fn close(&self) {
                self.0.close()
            }

            fn __iter__(slf: Py<Self>) -> Py<Self> {
                slf
            }

            fn __next__(&self, py: Python<'_>) -> PyResult<Option<$item>> {
                Ok(self.0.iterate(py)?.map($convert))
            }

            fn __enter__(slf: Py<Self>) -> Py<Self> {
                slf
            }

            fn __exit__(
                &self,
                _kind: &Bound<'_, PyAny>,
                _value: &Bound<'_, PyAny>,
                _traceback: &Bound<'_, PyAny>,
            ) -> bool {
                self.0.close();
                false
            }
        }
    };
}

subscription_class!(
    /// A subscription to the store's events in position order: catch-up, then live.
    /// Iterate it (`for event in sub:`, Ctrl-C works; ends when the store closes) or
    /// call `next(timeout=...)`.
    Subscription,
    annal::StoreSubscription,
    RecordedEvent,
    RecordedEvent::new
);

subscription_class!(
    /// A subscription to the raw log's events in position order: catch-up, then live.
    /// Iterate it (`for event in sub:`, Ctrl-C works; ends when the log closes) or call
    /// `next(timeout=...)`.
    LogSubscription,
    annal::Subscription,
    LogEvent,
    LogEvent::new
);
