//! otlpmetric: an OpenTelemetry OTLP metrics exporter with a C ABI.
//!
//! The crate is split in two:
//! - a pure-Rust core that knows nothing of C and is tested as ordinary Rust:
//!   `config` (settings from code, environment and defaults), `selectors` (temporality
//!   and aggregation per instrument kind), `retry` (backoff), `proto` (the OTLP wire
//!   format: validation, OTLP/JSON, splitting), `transport` (OTLP/gRPC and OTLP/HTTP)
//!   and `exporter` (deadlines, retries, the queue);
//! - a thin [`ffi`] layer that checks pointers, converts integers from C into the core's
//!   types, catches panics and keeps the thread's last error message.
//!
//! The C contract lives in `include/otlpmetric.h`, generated from [`ffi`] by cbindgen.
#![warn(missing_docs)]
// The core is read with `cargo doc --document-private-items`; its docs link private items
// on purpose, also from the few modules made public for the `internals` door.
#![allow(rustdoc::private_intra_doc_links)]

mod cancel;
mod config;
mod error;
mod exporter;
pub mod ffi;
mod log;
mod metrics;
mod proto;
mod retry;
mod selectors;
mod spool;
mod stats;
mod sync;
mod transport;

pub use cancel::Cancel;
pub use config::{
    AttemptHeaders, Compression, Config, HeaderCallback, Protocol, Proxy, Settings, TlsMaterial,
};
pub use error::{Error, ErrorKind, Result};
pub use exporter::Exporter;
pub use log::{LogFn, LogLevel, Logger};
pub use retry::RetryPolicy;
pub use selectors::{Aggregation, InstrumentKind, Temporality};
pub use spool::{Durability, FullPolicy, SpoolStats};
pub use stats::StatsSnapshot;

/// The library's semantic version, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The wire-format internals, for the project's own tests, fuzz targets and benchmark.
/// Not part of the API: anything here may change in any release.
#[doc(hidden)]
pub mod internals {
    pub use crate::proto::{json, split, validate};

    /// The metrics pipeline's core, until the C ABI and a public provider stand on it.
    pub mod metrics {
        pub use crate::metrics::attributes::{AttributeSet, KeyValue, Value};
        pub use crate::metrics::instrument::{
            BoundInstrument, Callback, Instrument, NumberType, Observer,
        };
        pub use crate::metrics::pipeline::{Meter, Pipeline};
        pub use crate::metrics::provider::MeterProvider;
        pub use crate::metrics::settings::MetricsSettings;
        pub use crate::selectors::{HistogramPreference, Selections, TemporalityPreference};
    }
}
