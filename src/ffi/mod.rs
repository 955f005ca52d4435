//! The C ABI: the only place that knows about C. It checks pointers, converts integers
//! from C into the core's types, catches panics and keeps each thread's last error. Every
//! function here is exported as `otlpmetric_*` and declared in `include/otlpmetric.h`.
//!
//! Conventions (repeated in the header): inputs are `const` pointers or plain values;
//! outputs are written only on success; `_free(NULL)` does nothing; NULL where a pointer
//! is needed (a byte buffer's too, whatever its length) is refused; enum and bool values
//! are read as integers and checked; byte buffers are only read during the call; strings
//! are NUL-terminated UTF-8 and copied.
#![allow(non_camel_case_types)]

mod boundary;
mod cancel;
mod config;
mod exporter;
mod headers;
mod metrics;
mod network;
mod response;
mod spool;
mod types;

pub use boundary::{otlpmetric_last_error, otlpmetric_status_str, otlpmetric_version};
pub use cancel::*;
pub use config::*;
pub use exporter::*;
pub use headers::*;
pub use metrics::*;
pub use network::*;
pub use response::*;
pub use spool::*;
pub use types::*;
