//! The OTLP metrics wire format: the schema table of the messages we read and write,
//! the validator that accepts exactly what prost accepts, OTLP/JSON in and out, the
//! splitting of requests that are too large, and counting their data points. Knows
//! nothing of transports or of C.
//! (`json`, `split` and `validate` are `pub` only for the crate's `internals` door.)

pub(crate) mod count;
pub mod json;
pub(crate) mod schema;
pub mod split;
pub mod validate;
