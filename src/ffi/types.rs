//! The C-visible types. Enums are declared for the header; values that come *from* C
//! arrive as plain integers (`*Value` aliases, printed in the header under the enum's
//! name) and are checked, so an unknown value is an error, never undefined behaviour.

use std::ffi::{c_char, c_void};

use crate::error::{Error, Result};
use crate::selectors::{Aggregation, InstrumentKind, Temporality};
use crate::{Compression, LogLevel, Protocol, StatsSnapshot};

/// The library's major version.
pub const OTLPMETRIC_VERSION_MAJOR: u32 = 0;
/// The library's minor version.
pub const OTLPMETRIC_VERSION_MINOR: u32 = 1;
/// The library's patch version.
pub const OTLPMETRIC_VERSION_PATCH: u32 = 0;

/// The result of every call that can fail. On failure, `otlpmetric_last_error()` says why.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum otlpmetric_status {
    /// Done (a partial success is OK too; see the log callback).
    OTLPMETRIC_OK = 0,
    /// A null pointer, bad enum value, bad config value or invalid selector result.
    OTLPMETRIC_ERR_INVALID_ARGUMENT = 1,
    /// The bytes are not a valid protobuf (or OTLP/JSON) message of the expected type.
    OTLPMETRIC_ERR_DECODE = 2,
    /// The exporter was already shut down.
    OTLPMETRIC_ERR_SHUTDOWN = 3,
    /// The deadline passed before the work finished.
    OTLPMETRIC_ERR_TIMEOUT = 4,
    /// The receiver refused the data, or every retry failed.
    OTLPMETRIC_ERR_EXPORT = 5,
    /// Asynchronous enqueue refused: the bounded queue is full.
    OTLPMETRIC_ERR_QUEUE_FULL = 6,
    /// A bug inside the library (a caught panic); the process goes on.
    OTLPMETRIC_ERR_INTERNAL = 7,
    /// The call's cancellation handle was triggered (`otlpmetric_cancel_trigger`).
    OTLPMETRIC_ERR_CANCELLED = 8,
}

/// The OTLP transport protocol.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum otlpmetric_protocol {
    /// OTLP/gRPC (default endpoint `http://localhost:4317`).
    OTLPMETRIC_PROTOCOL_GRPC = 1,
    /// OTLP/HTTP with protobuf bodies (the default; `http://localhost:4318/v1/metrics`).
    OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF = 2,
    /// OTLP/HTTP with JSON bodies.
    OTLPMETRIC_PROTOCOL_HTTP_JSON = 3,
}

/// Payload compression.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum otlpmetric_compression {
    /// No compression (the default).
    OTLPMETRIC_COMPRESSION_NONE = 0,
    /// gzip.
    OTLPMETRIC_COMPRESSION_GZIP = 1,
    /// Zstandard (gRPC `grpc-encoding: zstd`, HTTP `Content-Encoding: zstd`).
    OTLPMETRIC_COMPRESSION_ZSTD = 2,
}

/// Severity of a message passed to the log callback.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum otlpmetric_log_level {
    /// Something failed.
    OTLPMETRIC_LOG_ERROR = 1,
    /// Something is wrong but work goes on (bad environment value, partial success).
    OTLPMETRIC_LOG_WARN = 2,
    /// Lifecycle events.
    OTLPMETRIC_LOG_INFO = 3,
    /// Per-request details such as retries.
    OTLPMETRIC_LOG_DEBUG = 4,
}

/// The instrument kinds of the OpenTelemetry metrics API.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum otlpmetric_instrument_kind {
    /// Synchronous monotonic counter.
    OTLPMETRIC_INSTRUMENT_COUNTER = 1,
    /// Synchronous up-down counter.
    OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER = 2,
    /// Synchronous histogram.
    OTLPMETRIC_INSTRUMENT_HISTOGRAM = 3,
    /// Synchronous gauge.
    OTLPMETRIC_INSTRUMENT_GAUGE = 4,
    /// Asynchronous monotonic counter.
    OTLPMETRIC_INSTRUMENT_OBSERVABLE_COUNTER = 5,
    /// Asynchronous up-down counter.
    OTLPMETRIC_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER = 6,
    /// Asynchronous gauge.
    OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE = 7,
}

/// Aggregation temporality; the same numbers as the OTLP `AggregationTemporality` enum.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum otlpmetric_temporality {
    /// Each point covers the time since the previous export.
    OTLPMETRIC_TEMPORALITY_DELTA = 1,
    /// Each point covers the time since the start (the default).
    OTLPMETRIC_TEMPORALITY_CUMULATIVE = 2,
}

/// The aggregations of the OpenTelemetry metrics SDK.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum otlpmetric_aggregation_kind {
    /// Measurements are dropped (fits every kind).
    OTLPMETRIC_AGGREGATION_DROP = 1,
    /// Arithmetic sum (counters, up-down counters, histogram).
    OTLPMETRIC_AGGREGATION_SUM = 2,
    /// Last value (gauges).
    OTLPMETRIC_AGGREGATION_LAST_VALUE = 3,
    /// Explicit bucket histogram (counter, up-down counter, histogram, gauge).
    OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM = 4,
    /// Base-2 exponential histogram (counter, up-down counter, histogram, gauge).
    OTLPMETRIC_AGGREGATION_BASE2_EXPONENTIAL_HISTOGRAM = 5,
}

/// An `otlpmetric_status` as C passes it: any integer.
pub type StatusValue = i32;
/// An `otlpmetric_protocol` as C passes it: any integer.
pub type ProtocolValue = i32;
/// An `otlpmetric_compression` as C passes it: any integer.
pub type CompressionValue = i32;
/// An `otlpmetric_instrument_kind` as C passes it: any integer.
pub type InstrumentKindValue = i32;
/// An `otlpmetric_temporality` as C passes (or a selector returns) it: any integer.
pub type TemporalityValue = i32;
/// An `otlpmetric_aggregation_kind` as a selector writes it: any integer.
pub type AggregationKindValue = i32;
/// A C `bool` as C passes or writes it: any byte. A Rust `bool` holding anything but 0 or
/// 1 is undefined behaviour, so the byte is read as it is and checked.
pub type BoolValue = u8;

/// The most boundaries an aggregation selector may give (a guard against a garbage length).
pub const OTLPMETRIC_MAX_BOUNDARIES: usize = 65536;

/// An aggregation and its parameters.
///
/// From `otlpmetric_exporter_aggregation`: the fields that do not apply to `kind` are 0 /
/// NULL / false. Into an aggregation selector: `kind` is the instrument kind's default and
/// every other field holds the SDK default (the 15 default boundaries, `record_min_max`
/// true, `max_size` 160, `max_scale` 20), so a selector changes only what it wants.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct otlpmetric_aggregation {
    /// Which aggregation.
    pub kind: AggregationKindValue,
    /// Explicit bucket histogram: strictly increasing, finite boundaries (copied by the
    /// library; NULL is fine when `boundaries_len` is 0, which means one bucket).
    pub boundaries: *const f64,
    /// Number of boundaries, at most `OTLPMETRIC_MAX_BOUNDARIES`.
    pub boundaries_len: usize,
    /// Histograms: whether min and max are recorded. A selector must write `false` or
    /// `true` (a byte other than 0 or 1 makes `otlpmetric_exporter_new` fail with
    /// `OTLPMETRIC_ERR_INVALID_ARGUMENT`, whatever `kind` is).
    pub record_min_max: BoolValue,
    /// Exponential histogram: maximum number of buckets, at least 2 (default 160).
    pub max_size: i32,
    /// Exponential histogram: maximum scale, -10 to 20 (default 20).
    pub max_scale: i32,
}

/// Export statistics; all but `queue_bytes` only grow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct otlpmetric_stats {
    /// Export requests the receiver accepted (after any split).
    pub requests_sent: u64,
    /// Export requests that failed for good.
    pub requests_failed: u64,
    /// Retry attempts, and requests the receiver refused as too large and that were
    /// sent again split in smaller ones (one per split).
    pub retries: u64,
    /// Protobuf bytes of accepted requests, before compression.
    pub bytes_sent: u64,
    /// Data points the receiver rejected in partial successes.
    pub data_points_rejected: u64,
    /// Enqueued uploads refused as full or dropped at shutdown.
    pub queue_dropped: u64,
    /// Bytes waiting in the queue now.
    pub queue_bytes: u64,
}

/// Chooses the temporality of an instrument kind. Called once per kind, on the thread
/// that calls `otlpmetric_exporter_new`, during that call only. Must return
/// `OTLPMETRIC_TEMPORALITY_DELTA` or `OTLPMETRIC_TEMPORALITY_CUMULATIVE`; anything else
/// makes `otlpmetric_exporter_new` fail with `OTLPMETRIC_ERR_INVALID_ARGUMENT`. For a kind
/// it leaves to the default, it returns `otlpmetric_config_default_temporality`.
pub type otlpmetric_temporality_selector = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        kind: otlpmetric_instrument_kind,
    ) -> TemporalityValue,
>;

/// Chooses the aggregation of an instrument kind by changing `*out`, which arrives filled
/// with the default. Called once per kind, on the thread that calls
/// `otlpmetric_exporter_new`, during that call only; a boundaries array it points to must
/// stay valid until `otlpmetric_exporter_new` returns (the library copies it).
pub type otlpmetric_aggregation_selector = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        kind: otlpmetric_instrument_kind,
        out: *mut otlpmetric_aggregation,
    ),
>;

/// Receives the library's diagnostics (Go's `otel.ErrorHandler`). It may be called from
/// any thread, the library's own included, and concurrently; `message` is valid only
/// during the call. It must not call back into the same exporter.
pub type otlpmetric_log_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: otlpmetric_log_level,
        message: *const c_char,
    ),
>;

/// A `void *user_data` handed back to C callbacks.
///
/// The library never dereferences it; what the C side does with it across threads is
/// the contract each callback's documentation states, hence Send and Sync.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut c_void);
// SAFETY: see above; the pointer is only passed back to the caller's own callback.
unsafe impl Send for UserData {}
// SAFETY: as for Send.
unsafe impl Sync for UserData {}

impl UserData {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper).
    pub(crate) fn get(self) -> *mut c_void {
        self.0
    }
}

pub(crate) fn protocol_from_c(value: ProtocolValue) -> Result<Protocol> {
    Protocol::from_i32(value).ok_or_else(|| {
        Error::invalid(format!(
            "protocol {value} is unknown (expected GRPC=1, HTTP_PROTOBUF=2 or HTTP_JSON=3)"
        ))
    })
}

pub(crate) fn compression_from_c(value: CompressionValue) -> Result<Compression> {
    Compression::from_i32(value).ok_or_else(|| {
        Error::invalid(format!(
            "compression {value} is unknown (expected NONE=0, GZIP=1 or ZSTD=2)"
        ))
    })
}

pub(crate) fn instrument_kind_from_c(value: InstrumentKindValue) -> Result<InstrumentKind> {
    InstrumentKind::from_i32(value).ok_or_else(|| {
        Error::invalid(format!(
            "instrument kind {value} is unknown (expected 1 to 7)"
        ))
    })
}

/// A C `bool` named `name`: 0 or 1, anything else refused.
pub(crate) fn bool_from_c(value: BoolValue, name: &str) -> Result<bool> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Error::invalid(format!(
            "{name} is {other}, not a bool (expected false=0 or true=1)"
        ))),
    }
}

pub(crate) fn temporality_from_c(value: TemporalityValue) -> Result<Temporality> {
    Temporality::from_i32(value).ok_or_else(|| {
        Error::invalid(format!(
            "temporality {value} is unknown (expected DELTA=1 or CUMULATIVE=2)"
        ))
    })
}

impl From<InstrumentKind> for otlpmetric_instrument_kind {
    fn from(kind: InstrumentKind) -> Self {
        use otlpmetric_instrument_kind::*;
        match kind {
            InstrumentKind::Counter => OTLPMETRIC_INSTRUMENT_COUNTER,
            InstrumentKind::UpDownCounter => OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER,
            InstrumentKind::Histogram => OTLPMETRIC_INSTRUMENT_HISTOGRAM,
            InstrumentKind::Gauge => OTLPMETRIC_INSTRUMENT_GAUGE,
            InstrumentKind::ObservableCounter => OTLPMETRIC_INSTRUMENT_OBSERVABLE_COUNTER,
            InstrumentKind::ObservableUpDownCounter => {
                OTLPMETRIC_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER
            }
            InstrumentKind::ObservableGauge => OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE,
        }
    }
}

impl From<LogLevel> for otlpmetric_log_level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => otlpmetric_log_level::OTLPMETRIC_LOG_ERROR,
            LogLevel::Warn => otlpmetric_log_level::OTLPMETRIC_LOG_WARN,
            LogLevel::Info => otlpmetric_log_level::OTLPMETRIC_LOG_INFO,
            LogLevel::Debug => otlpmetric_log_level::OTLPMETRIC_LOG_DEBUG,
        }
    }
}

impl From<StatsSnapshot> for otlpmetric_stats {
    fn from(s: StatsSnapshot) -> Self {
        otlpmetric_stats {
            requests_sent: s.requests_sent,
            requests_failed: s.requests_failed,
            retries: s.retries,
            bytes_sent: s.bytes_sent,
            data_points_rejected: s.data_points_rejected,
            queue_dropped: s.queue_dropped,
            queue_bytes: s.queue_bytes,
        }
    }
}

impl otlpmetric_aggregation {
    /// `aggregation` as C sees it; `boundaries` points into `aggregation`.
    pub(crate) fn describe(aggregation: &Aggregation) -> Self {
        let mut out = otlpmetric_aggregation {
            kind: aggregation.kind_number(),
            boundaries: std::ptr::null(),
            boundaries_len: 0,
            record_min_max: 0,
            max_size: 0,
            max_scale: 0,
        };
        match aggregation {
            Aggregation::ExplicitBucketHistogram {
                boundaries,
                record_min_max,
            } => {
                out.boundaries = if boundaries.is_empty() {
                    std::ptr::null()
                } else {
                    boundaries.as_ptr()
                };
                out.boundaries_len = boundaries.len();
                out.record_min_max = (*record_min_max).into();
            }
            Aggregation::Base2ExponentialHistogram {
                max_size,
                max_scale,
                record_min_max,
            } => {
                out.max_size = *max_size;
                out.max_scale = *max_scale;
                out.record_min_max = (*record_min_max).into();
            }
            _ => {}
        }
        out
    }

    /// What a selector receives for `default`: its kind plus every SDK default.
    pub(crate) fn selector_input(default: &Aggregation) -> Self {
        let mut out = Self::describe(default);
        if !matches!(default, Aggregation::ExplicitBucketHistogram { .. }) {
            out.boundaries = crate::selectors::DEFAULT_BOUNDARIES.as_ptr();
            out.boundaries_len = crate::selectors::DEFAULT_BOUNDARIES.len();
        }
        if !matches!(default, Aggregation::Base2ExponentialHistogram { .. }) {
            out.max_size = crate::selectors::DEFAULT_EXPONENTIAL_MAX_SIZE;
            out.max_scale = crate::selectors::DEFAULT_EXPONENTIAL_MAX_SCALE;
        }
        if matches!(
            default,
            Aggregation::Drop | Aggregation::Sum | Aggregation::LastValue
        ) {
            out.record_min_max = 1;
        }
        out
    }

    /// Reads (and copies) what a selector wrote; well-formedness for the instrument kind
    /// is checked by the core.
    ///
    /// # Safety
    /// `boundaries` is null or points to `boundaries_len` doubles.
    pub(crate) unsafe fn to_aggregation(self) -> Result<Aggregation> {
        let record_min_max = bool_from_c(self.record_min_max, "record_min_max")?;
        Ok(match self.kind {
            1 => Aggregation::Drop,
            2 => Aggregation::Sum,
            3 => Aggregation::LastValue,
            4 => {
                if self.boundaries_len > OTLPMETRIC_MAX_BOUNDARIES {
                    return Err(Error::invalid(format!(
                        "boundaries_len {} is over the maximum of {OTLPMETRIC_MAX_BOUNDARIES}",
                        self.boundaries_len
                    )));
                }
                if self.boundaries_len > 0 && self.boundaries.is_null() {
                    return Err(Error::invalid(format!(
                        "boundaries is NULL but boundaries_len is {}",
                        self.boundaries_len
                    )));
                }
                let boundaries = if self.boundaries_len == 0 {
                    Vec::new()
                } else {
                    unsafe { std::slice::from_raw_parts(self.boundaries, self.boundaries_len) }
                        .to_vec()
                };
                Aggregation::ExplicitBucketHistogram {
                    boundaries,
                    record_min_max,
                }
            }
            5 => Aggregation::Base2ExponentialHistogram {
                max_size: self.max_size,
                max_scale: self.max_scale,
                record_min_max,
            },
            other => {
                return Err(Error::invalid(format!(
                    "aggregation kind {other} is unknown (expected 1 to 5)"
                )))
            }
        })
    }
}
