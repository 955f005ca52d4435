//! otlpmetric: an OpenTelemetry OTLP metrics exporter with a C ABI.
//!
//! The crate is split in two:
//! - a pure-Rust core ([`config`], [`selectors`], [`retry`], `transport`, [`exporter`],
//!   [`validate`], [`json`]) that knows nothing of C and is tested as ordinary Rust;
//! - a thin [`ffi`] layer that checks pointers, converts integers from C into the core's
//!   types, catches panics and keeps the thread's last error message.
//!
//! The C contract lives in `include/otlpmetric.h`, generated from [`ffi`] by cbindgen.
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod exporter;
pub mod ffi;
pub mod json;
pub mod log;
pub mod retry;
mod schema;
pub mod selectors;
pub mod split;
pub mod stats;
mod transport;
pub mod validate;

pub use config::{Compression, Config, Protocol};
pub use error::{Error, ErrorKind};
pub use exporter::Exporter;
pub use log::{LogLevel, Logger};
pub use selectors::{Aggregation, InstrumentKind, Temporality};
pub use stats::StatsSnapshot;

/// The library's semantic version, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The size above which a request is split, and a response body is refused: 4 MiB,
/// what gRPC servers and the OpenTelemetry Collector accept by default.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// The largest response body the library reads into memory.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
