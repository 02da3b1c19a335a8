//! Why an export did not succeed: an engine error, a boundary check, or "no event yet".

use annal::Error;

use crate::status::{self, annal_status, ANNAL_STATUS_NO_EVENT};

/// What an export's body returns instead of success.
#[derive(Debug)]
pub enum Failure {
    /// The engine refused: its own error, code and message.
    Engine(Error),
    /// The boundary refused an argument or a handle.
    Boundary {
        /// One of the boundary's statuses (100 to 199).
        status: annal_status,
        /// A sentence with the facts.
        message: String,
    },
    /// A status returned without touching the last error: "no event yet" (not an error),
    /// or a failure of the last-error functions themselves.
    Quiet(annal_status),
}

impl Failure {
    /// A boundary failure.
    pub fn boundary(status: annal_status, message: impl Into<String>) -> Failure {
        Failure::Boundary {
            status,
            message: message.into(),
        }
    }

    /// "No event available now": `ANNAL_STATUS_NO_EVENT`, the last error left alone.
    pub fn no_event() -> Failure {
        Failure::Quiet(ANNAL_STATUS_NO_EVENT)
    }

    /// The status the export returns.
    pub fn status(&self) -> annal_status {
        match self {
            Failure::Engine(error) => status::from_error_code(error.code()),
            Failure::Boundary { status, .. } => *status,
            Failure::Quiet(status) => *status,
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Engine(error)
    }
}
