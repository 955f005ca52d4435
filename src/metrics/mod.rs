//! The metrics pipeline: meters, instruments, in-process aggregation as the selectors say,
//! and collection straight into OTLP protobuf, for programs that have no OpenTelemetry SDK.
//!
//! - [`attributes`]: attribute sets, order-independent and deduplicated; a set seen before
//!   is found from the caller's borrowed attributes without allocating.
//! - [`instrument`]: instrument identity and rules, recording (with the locking scheme and
//!   why), bound and observable instruments, the cardinality limit, and what each
//!   collection takes out under delta or cumulative temporality.
//! - [`aggregate`]: the specification's aggregations as plain state.
//! - [`pipeline`]: meters and collection into the bytes of one `ResourceMetrics`
//!   ([`encode`] writes them, with no message structs in between).
//! - [`settings`]: resource, export interval and timeout, cardinality limit, from the
//!   environment (through a lookup function) and code.
//! - [`provider`]: the pipeline with an exporter and a periodic export thread.
//! - [`exporter_metrics`]: the exporter's own metrics, recorded into the provider's
//!   pipeline.

pub mod aggregate;
pub mod attributes;
pub mod encode;
pub(crate) mod exporter_metrics;
pub mod instrument;
pub mod pipeline;
pub mod provider;
pub mod settings;

#[cfg(test)]
mod tests;

pub(crate) use crate::sync::lock;
