//! The one error type of the core; every failure maps to one C status code.

use std::fmt;

/// What went wrong, in the categories the C status codes name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A null pointer, bad enum value, bad config value or invalid selector result.
    InvalidArgument,
    /// The bytes are not a valid protobuf (or OTLP/JSON) message of the expected type.
    Decode,
    /// The exporter was already shut down.
    Shutdown,
    /// The deadline passed before the work finished.
    Timeout,
    /// The receiver refused the data, or every retry failed.
    Export,
    /// The asynchronous queue is full.
    QueueFull,
    /// A bug inside the library.
    Internal,
    /// The call's cancellation signal was triggered.
    Cancelled,
}

/// An error with a message that says what was wrong and where. Messages never contain
/// header values or key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// Sending the same data again cannot succeed (see [`Error::refused`]).
    refused: bool,
}

impl Error {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            refused: false,
        }
    }

    /// Shorthand for [`ErrorKind::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// Shorthand for [`ErrorKind::Decode`].
    pub fn decode(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Decode, message)
    }

    /// Shorthand for [`ErrorKind::Export`].
    pub fn export(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Export, message)
    }

    /// An [`ErrorKind::Export`] error for data that can never be delivered: the receiver
    /// refused it for good, or it cannot be made small enough to send. A background
    /// sender drops such data instead of trying it again.
    pub fn refused(message: impl Into<String>) -> Self {
        Error {
            refused: true,
            ..Self::export(message)
        }
    }

    /// Whether sending the same data again cannot succeed ([`Error::refused`]).
    pub fn is_refused(&self) -> bool {
        self.refused
    }

    /// Shorthand for [`ErrorKind::Timeout`].
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// The exporter was shut down.
    pub fn shutdown() -> Self {
        Self::new(ErrorKind::Shutdown, "the exporter was already shut down")
    }

    /// The category of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
