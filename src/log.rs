//! Self-diagnostics: the library's messages to the host program (Go's `otel.ErrorHandler`).

use std::fmt;
use std::sync::Arc;

/// Severity of a diagnostic message; numbers as in the C contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed.
    Error = 1,
    /// Something is wrong but work goes on (bad environment value, partial success).
    Warn = 2,
    /// Lifecycle events.
    Info = 3,
    /// Per-request details (retries).
    Debug = 4,
}

/// The function that receives diagnostics. It may be called from the library's threads.
pub type LogFn = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// Where diagnostics go; with no callback they are dropped.
#[derive(Clone, Default)]
pub struct Logger {
    callback: Option<LogFn>,
}

impl Logger {
    /// A logger that calls `callback`, or drops everything when `None`.
    pub fn new(callback: Option<LogFn>) -> Self {
        Logger { callback }
    }

    /// Sends one message.
    pub fn log(&self, level: LogLevel, message: &str) {
        if let Some(callback) = &self.callback {
            callback(level, message);
        }
    }

    /// Sends a warning.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message)
    }

    /// Sends a debug message, built only when someone listens.
    pub fn debug(&self, message: impl FnOnce() -> String) {
        if self.callback.is_some() {
            self.log(LogLevel::Debug, &message());
        }
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("callback", &self.callback.is_some())
            .finish()
    }
}
