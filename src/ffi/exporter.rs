//! `otlpmetric_exporter_*`: the exporter handle.

use std::ffi::c_char;
use std::time::Duration;

use super::boundary::{arg_bytes, arg_mut, arg_ref, boundary, boundary_value};
use super::config::otlpmetric_config;
use super::types::*;
use crate::Exporter;

/// An OTLP metrics exporter. Thread-safe: any number of threads may call it at once;
/// uploads run concurrently. Create with `otlpmetric_exporter_new`, free with
/// `otlpmetric_exporter_free` once no other thread uses it.
pub struct otlpmetric_exporter {
    pub(super) inner: Exporter,
}

/// A call's `timeout_ms`: 0 means the configured export timeout.
pub(super) fn call_timeout(timeout_ms: u32) -> Option<Duration> {
    (timeout_ms != 0).then(|| Duration::from_millis(timeout_ms.into()))
}

/// Creates an exporter from `config` (which may be freed right after): consults the
/// selectors once per instrument kind, reports environment problems through the log
/// callback, reads TLS files named by the environment. On success writes the new
/// exporter to `*out`. Starts one worker thread (it watches the sockets, runs gRPC's
/// shared connection and the background queue; an upload's own work, such as validation,
/// compression and, over OTLP/HTTP, the request itself, runs on the calling thread, which
/// waits); connects on first use.
/// Connections are TCP with Nagle off; the library sets no other socket option.
///
/// # Safety
/// `config` is NULL or valid; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_new(
    config: *const otlpmetric_config,
    out: *mut *mut otlpmetric_exporter,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_new", || {
        let config = unsafe { arg_ref(config, "config") }?;
        let out = unsafe { arg_mut(out, "out") }?;
        let inner = Exporter::new(&config.inner)?;
        *out = Box::into_raw(Box::new(otlpmetric_exporter { inner }));
        Ok(())
    })
}

/// Uploads one serialized `opentelemetry.proto.metrics.v1.ResourceMetrics` (`len` bytes,
/// read only during the call). Blocks until the receiver accepted it (`OTLPMETRIC_OK`,
/// also for a partial success), refused it for good or every retry failed
/// (`OTLPMETRIC_ERR_EXPORT`), or `timeout_ms` ran out (`OTLPMETRIC_ERR_TIMEOUT`; 0 means
/// the configured export timeout). Bytes that are not a valid message get
/// `OTLPMETRIC_ERR_DECODE` and nothing is sent. An error is final for that data.
/// An empty message is any non-NULL `data` with `len` 0; NULL `data` is
/// `OTLPMETRIC_ERR_INVALID_ARGUMENT` whatever `len` is, and nothing is sent.
///
/// # Safety
/// `exporter` is NULL or valid; `data` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_upload(
    exporter: *mut otlpmetric_exporter,
    data: *const u8,
    len: usize,
    timeout_ms: u32,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_upload", || {
        let exporter = unsafe { arg_ref(exporter, "exporter") }?;
        let data = unsafe { arg_bytes(data, len, "resource_metrics") }?;
        exporter.inner.upload(data, call_timeout(timeout_ms))
    })
}

/// As `otlpmetric_exporter_upload`, for one serialized
/// `opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest`.
///
/// # Safety
/// `exporter` is NULL or valid; `data` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_upload_request(
    exporter: *mut otlpmetric_exporter,
    data: *const u8,
    len: usize,
    timeout_ms: u32,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_upload_request", || {
        let exporter = unsafe { arg_ref(exporter, "exporter") }?;
        let data = unsafe { arg_bytes(data, len, "export_request") }?;
        exporter
            .inner
            .upload_request(data, call_timeout(timeout_ms))
    })
}

/// As `otlpmetric_exporter_upload_request`, for an `ExportMetricsServiceRequest` in the
/// OTLP/JSON encoding (`len` bytes of UTF-8, no NUL needed), sent over whichever protocol
/// the exporter uses. Malformed JSON gets `OTLPMETRIC_ERR_DECODE` naming line and column.
/// JSON is parsed on the calling thread, so nesting deeper than a valid request can be
/// (202 levels) is refused before parsing: a hostile document cannot exhaust that
/// thread's stack (128 KiB is enough in a release build).
///
/// # Safety
/// `exporter` is NULL or valid; `json` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_upload_json(
    exporter: *mut otlpmetric_exporter,
    json: *const c_char,
    len: usize,
    timeout_ms: u32,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_upload_json", || {
        let exporter = unsafe { arg_ref(exporter, "exporter") }?;
        let json = unsafe { arg_bytes(json.cast(), len, "json") }?;
        exporter.inner.upload_json(json, call_timeout(timeout_ms))
    })
}

/// Checks one serialized `ResourceMetrics` (NULL `data` and `OTLPMETRIC_ERR_DECODE` as
/// for upload), copies it into the exporter's bounded queue and returns at once;
/// background work delivers it with the same retry rules (failures go to the log callback
/// and the statistics). When the queue would pass its byte bound
/// (`otlpmetric_config_set_queue`), the data is refused with `OTLPMETRIC_ERR_QUEUE_FULL`
/// and counted in `queue_dropped`. With a spool (`otlpmetric_config_set_spool`) the data
/// is written to disk instead before `OTLPMETRIC_OK`; a full spool that refuses new data
/// or a write the disk refuses is `OTLPMETRIC_ERR_QUEUE_FULL`.
///
/// # Safety
/// `exporter` is NULL or valid; `data` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_enqueue(
    exporter: *mut otlpmetric_exporter,
    data: *const u8,
    len: usize,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_enqueue", || {
        let exporter = unsafe { arg_ref(exporter, "exporter") }?;
        let data = unsafe { arg_bytes(data, len, "resource_metrics") }?;
        exporter.inner.enqueue(data)
    })
}

/// Returns once every upload accepted (and everything enqueued) before this call has
/// finished (delivered or dropped), or
/// `OTLPMETRIC_ERR_TIMEOUT` when `timeout_ms` (0: the configured timeout) runs out first.
///
/// # Safety
/// `exporter` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_force_flush(
    exporter: *mut otlpmetric_exporter,
    timeout_ms: u32,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_force_flush", || {
        unsafe { arg_ref(exporter, "exporter") }?
            .inner
            .force_flush(call_timeout(timeout_ms))
    })
}

/// Flushes, closes connections and stops the exporter's threads. Acts once: later
/// upload, flush and shutdown calls return `OTLPMETRIC_ERR_SHUTDOWN`. When `timeout_ms`
/// (0: the configured timeout) runs out first, uploads still running are cancelled, the
/// exporter is shut down all the same, and the result is `OTLPMETRIC_ERR_TIMEOUT`.
/// With a spool, what is not delivered stays in its directory for the next exporter there,
/// and the directory's lock is released.
///
/// # Safety
/// `exporter` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_shutdown(
    exporter: *mut otlpmetric_exporter,
    timeout_ms: u32,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_shutdown", || {
        unsafe { arg_ref(exporter, "exporter") }?
            .inner
            .shutdown(call_timeout(timeout_ms))
    })
}

/// Frees an exporter, shutting it down first if needed (within the configured export
/// timeout, or 10 s when it has none). NULL is fine. No other thread may be using it.
///
/// # Safety
/// `exporter` is NULL or came from `otlpmetric_exporter_new` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_free(exporter: *mut otlpmetric_exporter) {
    if !exporter.is_null() {
        boundary("otlpmetric_exporter_free", || {
            drop(unsafe { Box::from_raw(exporter) });
            Ok(())
        });
    }
}

/// The temporality the exporter uses for `kind`; keeps answering after shutdown. Returns
/// 0 (no temporality) and sets the last error for a NULL exporter or an unknown kind.
///
/// # Safety
/// `exporter` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_temporality(
    exporter: *const otlpmetric_exporter,
    kind: InstrumentKindValue,
) -> TemporalityValue {
    boundary_value("otlpmetric_exporter_temporality", 0, || {
        let exporter = unsafe { arg_ref(exporter, "exporter") }?;
        Ok(exporter.inner.temporality(instrument_kind_from_c(kind)?) as TemporalityValue)
    })
}

/// Writes the aggregation the exporter uses for `kind` to `*out`; keeps answering after
/// shutdown. `out->boundaries` points into the exporter and stays valid until it is freed.
///
/// # Safety
/// `exporter` is NULL or valid; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_aggregation(
    exporter: *const otlpmetric_exporter,
    kind: InstrumentKindValue,
    out: *mut otlpmetric_aggregation,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_aggregation", || {
        let exporter = unsafe { arg_ref(exporter, "exporter") }?;
        let kind = instrument_kind_from_c(kind)?;
        let out = unsafe { arg_mut(out, "out") }?;
        *out = otlpmetric_aggregation::describe(exporter.inner.aggregation(kind));
        Ok(())
    })
}

/// Writes the exporter's statistics to `*out`. Cheap and thread-safe; works after shutdown.
///
/// # Safety
/// `exporter` is NULL or valid; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_stats(
    exporter: *const otlpmetric_exporter,
    out: *mut otlpmetric_stats,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_stats", || {
        let exporter = unsafe { arg_ref(exporter, "exporter") }?;
        let out = unsafe { arg_mut(out, "out") }?;
        *out = exporter.inner.stats().into();
        Ok(())
    })
}
