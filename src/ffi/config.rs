//! `otlpmetric_config_*`: the configuration builder.

use std::ffi::{c_char, c_void, CString};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::boundary::{arg_mut, arg_ref, arg_str, boundary, boundary_value};
use super::types::*;
use crate::error::Result;
use crate::metrics::settings::MetricsSettings;
use crate::retry::RetryPolicy;
use crate::selectors::{AggregationSelector, TemporalitySelector};
use crate::Config;

/// An exporter configuration being built. Use it from one thread at a time. Create with
/// `otlpmetric_config_new`, free with `otlpmetric_config_free`; it may be freed as soon
/// as `otlpmetric_exporter_new` returns.
pub struct otlpmetric_config {
    pub(crate) inner: Config,
    /// The meter provider's own settings (resource, export interval, cardinality limit),
    /// read from the same environment.
    pub(crate) pipeline: MetricsSettings,
}

/// Creates a configuration that starts from the `OTEL_EXPORTER_OTLP_*` environment and
/// the proxy variables `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` (read now). Returns NULL only if memory runs out or on an internal error (see
/// `otlpmetric_last_error`). Free it with `otlpmetric_config_free`.
#[no_mangle]
pub extern "C" fn otlpmetric_config_new() -> *mut otlpmetric_config {
    boundary_value("otlpmetric_config_new", std::ptr::null_mut(), || {
        Ok(Box::into_raw(Box::new(otlpmetric_config {
            inner: Config::from_env(),
            pipeline: MetricsSettings::from_env(),
        })))
    })
}

/// Frees a configuration. NULL is fine.
///
/// # Safety
/// `config` is NULL or came from `otlpmetric_config_new` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_free(config: *mut otlpmetric_config) {
    if !config.is_null() {
        boundary("otlpmetric_config_free", || {
            drop(unsafe { Box::from_raw(config) });
            Ok(())
        });
    }
}

/// Runs `set` on the configuration behind `config`.
pub(super) unsafe fn with_config(
    function: &str,
    config: *mut otlpmetric_config,
    set: impl FnOnce(&mut Config) -> Result<()>,
) -> otlpmetric_status {
    boundary(function, || {
        set(&mut unsafe { arg_mut(config, "config") }?.inner)
    })
}

/// As [`with_config`], for the meter provider's settings of the configuration.
///
/// # Safety
/// `config` is NULL or a live configuration no other thread uses during the call.
pub(super) unsafe fn with_pipeline(
    function: &str,
    config: *mut otlpmetric_config,
    set: impl FnOnce(&mut MetricsSettings) -> Result<()>,
) -> otlpmetric_status {
    boundary(function, || {
        set(&mut unsafe { arg_mut(config, "config") }?.pipeline)
    })
}

/// Sets the full endpoint URL, scheme included, used as given: for HTTP it includes the
/// path (`http://host:4318/v1/metrics`), for gRPC it is `http(s)://host:port`, or a Unix
/// socket as gRPC names it, `unix:///absolute/path` (see
/// `otlpmetric_config_set_unix_socket`; refused by `otlpmetric_exporter_new` for HTTP).
///
/// # Safety
/// `config` is NULL or valid; `url` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_endpoint(
    config: *mut otlpmetric_config,
    url: *const c_char,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_endpoint", config, |c| {
            c.set_endpoint(arg_str(url, "url")?)
        })
    }
}

/// Sets the protocol: `OTLPMETRIC_PROTOCOL_GRPC` (1), `_HTTP_PROTOBUF` (2) or `_HTTP_JSON` (3).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_protocol(
    config: *mut otlpmetric_config,
    protocol: ProtocolValue,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_protocol", config, |c| {
            c.set_protocol(protocol_from_c(protocol)?);
            Ok(())
        })
    }
}

/// Adds a header sent with every request, replacing one of the same key (also one from
/// `OTEL_EXPORTER_OTLP_HEADERS`). The value is never shown in messages or logs.
///
/// # Safety
/// `config` is NULL or valid; `key` and `value` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_add_header(
    config: *mut otlpmetric_config,
    key: *const c_char,
    value: *const c_char,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_add_header", config, |c| {
            c.add_header(arg_str(key, "key")?, arg_str(value, "value")?)
        })
    }
}

/// Sets the export timeout in milliseconds (default 10000); 0 means no limit.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_timeout_ms(
    config: *mut otlpmetric_config,
    timeout_ms: u32,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_timeout_ms", config, |c| {
            c.set_timeout(Duration::from_millis(timeout_ms.into()));
            Ok(())
        })
    }
}

/// Sets compression: `OTLPMETRIC_COMPRESSION_NONE` (0), `_GZIP` (1) or `_ZSTD` (2).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_compression(
    config: *mut otlpmetric_config,
    compression: CompressionValue,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_compression", config, |c| {
            c.set_compression(compression_from_c(compression)?);
            Ok(())
        })
    }
}

/// Reads TLS files now (any may be NULL): a PEM CA bundle that replaces the system roots
/// for `https://` endpoints, and a PEM client certificate and key for mutual TLS (both or
/// neither). An unreadable file is an error naming it. The files (these, or those the
/// environment names) are read again when they change (modification time, size or inode,
/// through symlinks), checked once per new connection, so a certificate rotation needs no
/// new exporter; a reload that fails keeps the material in use and logs a warning naming
/// the file. Open connections keep their material; TLS sessions are not resumed.
///
/// # Safety
/// `config` is NULL or valid; each path is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_tls(
    config: *mut otlpmetric_config,
    ca_file: *const c_char,
    client_cert_file: *const c_char,
    client_key_file: *const c_char,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_tls", config, |c| {
            let path = |p: *const c_char, name| -> Result<Option<&Path>> {
                Ok(if p.is_null() {
                    None
                } else {
                    Some(Path::new(arg_str(p, name)?))
                })
            };
            c.set_tls(
                path(ca_file, "ca_file")?,
                path(client_cert_file, "client_cert_file")?,
                path(client_key_file, "client_key_file")?,
            )
        })
    }
}

/// gRPC only: send without transport security even to an `https://` endpoint.
/// `insecure` must be `false` or `true`: a byte other than 0 or 1 (from a caller that
/// passes it through another type) is `OTLPMETRIC_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_insecure(
    config: *mut otlpmetric_config,
    insecure: BoolValue,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_insecure", config, |c| {
            c.set_insecure(bool_from_c(insecure, "insecure")?);
            Ok(())
        })
    }
}

/// Sets the retry policy (default: on, 5000 ms first wait, 30000 ms cap, 60000 ms in
/// all, with jitter). When enabled, `initial_ms` must be above 0 and at most
/// `max_interval_ms`; `max_elapsed_ms` 0 means retries stop only at the call's deadline.
/// `enabled` must be `false` or `true`: a byte other than 0 or 1 is
/// `OTLPMETRIC_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_retry(
    config: *mut otlpmetric_config,
    enabled: BoolValue,
    initial_ms: u32,
    max_interval_ms: u32,
    max_elapsed_ms: u32,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_retry", config, |c| {
            c.set_retry(RetryPolicy {
                enabled: bool_from_c(enabled, "enabled")?,
                initial_interval: Duration::from_millis(initial_ms.into()),
                max_interval: Duration::from_millis(max_interval_ms.into()),
                max_elapsed: Duration::from_millis(max_elapsed_ms.into()),
            })
        })
    }
}

/// Sets the temporality selector; NULL `selector` restores the default (cumulative, or
/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`; see
/// `otlpmetric_config_default_temporality`). `user_data` need only live until
/// `otlpmetric_exporter_new` returns.
///
/// # Safety
/// `config` is NULL or valid; `selector` is NULL or a function as documented on its type.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_temporality_selector(
    config: *mut otlpmetric_config,
    selector: otlpmetric_temporality_selector,
    user_data: *mut c_void,
) -> otlpmetric_status {
    let user_data = UserData(user_data);
    unsafe {
        with_config("otlpmetric_config_set_temporality_selector", config, |c| {
            c.set_temporality_selector(selector.map(|select| -> TemporalitySelector {
                Arc::new(move |kind| temporality_from_c(select(user_data.get(), kind.into())))
            }));
            Ok(())
        })
    }
}

/// The temporality `config` gives `kind` when no temporality selector says otherwise:
/// the one `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (read by
/// `otlpmetric_config_new`) gives it, as the OTLP exporter specification maps it, else
/// `OTLPMETRIC_TEMPORALITY_CUMULATIVE`; a selector set on `config` does not change it.
/// A selector's answer cannot say "keep the default", so a selector that decides only
/// some kinds returns this for the others (with `config` as its `user_data`: it may be
/// called from inside `otlpmetric_exporter_new`). Returns 0 (no temporality) and sets the
/// last error for a NULL config or an unknown kind.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_default_temporality(
    config: *const otlpmetric_config,
    kind: InstrumentKindValue,
) -> TemporalityValue {
    boundary_value("otlpmetric_config_default_temporality", 0, || {
        let config = unsafe { arg_ref(config, "config") }?;
        let kind = instrument_kind_from_c(kind)?;
        Ok(config.inner.default_temporality(kind) as TemporalityValue)
    })
}

/// Sets the aggregation selector; NULL `selector` restores the default. `user_data` and
/// any boundaries array the selector points to need only live until
/// `otlpmetric_exporter_new` returns.
///
/// # Safety
/// `config` is NULL or valid; `selector` is NULL or a function as documented on its type.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_aggregation_selector(
    config: *mut otlpmetric_config,
    selector: otlpmetric_aggregation_selector,
    user_data: *mut c_void,
) -> otlpmetric_status {
    let user_data = UserData(user_data);
    unsafe {
        with_config("otlpmetric_config_set_aggregation_selector", config, |c| {
            c.set_aggregation_selector(selector.map(|select| -> AggregationSelector {
                Arc::new(move |kind, default| {
                    let mut out = otlpmetric_aggregation::selector_input(default);
                    select(user_data.get(), kind.into(), &mut out);
                    out.to_aggregation()
                })
            }));
            Ok(())
        })
    }
}

/// Sets the diagnostics callback (NULL removes it). Environment problems are reported
/// through it, as warnings, when the exporter is created.
///
/// # Safety
/// `config` is NULL or valid; `callback` is NULL or a function as documented on its type,
/// callable with `user_data` from any thread until the exporter is freed.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_log_callback(
    config: *mut otlpmetric_config,
    callback: otlpmetric_log_callback,
    user_data: *mut c_void,
) -> otlpmetric_status {
    let user_data = UserData(user_data);
    unsafe {
        with_config("otlpmetric_config_set_log_callback", config, |c| {
            c.set_log_callback(callback.map(|log| -> crate::log::LogFn {
                Arc::new(move |level, message| {
                    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
                    log(user_data.get(), level.into(), text.as_ptr());
                })
            }));
            Ok(())
        })
    }
}

/// Sets the largest request, in protobuf bytes before compression (default 4 MiB, at
/// least 256); larger uploads are split into several valid requests.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_max_request_bytes(
    config: *mut otlpmetric_config,
    max_bytes: usize,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_max_request_bytes", config, |c| {
            c.set_max_request_bytes(max_bytes)
        })
    }
}

/// Sets the byte bound of the asynchronous queue used by `otlpmetric_exporter_enqueue`
/// (default 16 MiB; above 0).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_queue(
    config: *mut otlpmetric_config,
    max_bytes: usize,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_queue", config, |c| {
            c.set_queue(max_bytes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    /// The setters called as a C caller may call them: through a pointer whose `bool`
    /// parameter is a plain byte, so that any byte value arrives.
    type SetInsecure = unsafe extern "C" fn(*mut otlpmetric_config, u8) -> otlpmetric_status;
    type SetRetry =
        unsafe extern "C" fn(*mut otlpmetric_config, u8, u32, u32, u32) -> otlpmetric_status;

    fn last_error() -> String {
        unsafe { CStr::from_ptr(super::super::otlpmetric_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn bool_parameters_other_than_0_or_1_are_refused_and_change_nothing() {
        let set_insecure: SetInsecure =
            unsafe { std::mem::transmute(otlpmetric_config_set_insecure as *const ()) };
        let set_retry: SetRetry =
            unsafe { std::mem::transmute(otlpmetric_config_set_retry as *const ()) };
        // Not from the process environment, which could set insecure or retries; gRPC,
        // the only protocol insecure applies to.
        let mut inner = Config::from_lookup(&|_| None);
        inner.set_protocol(crate::Protocol::Grpc);
        let config = Box::into_raw(Box::new(otlpmetric_config {
            inner,
            pipeline: MetricsSettings::from_lookup(&|_| None),
        }));
        unsafe {
            for byte in [2u8, 0x80, 0xff] {
                let status = set_insecure(config, byte);
                assert_eq!(status, otlpmetric_status::OTLPMETRIC_ERR_INVALID_ARGUMENT);
                assert!(
                    last_error().contains(&format!("insecure is {byte}")),
                    "{}",
                    last_error()
                );
                let status = set_retry(config, byte, 10, 50, 300);
                assert_eq!(status, otlpmetric_status::OTLPMETRIC_ERR_INVALID_ARGUMENT);
                assert!(
                    last_error().contains(&format!("enabled is {byte}")),
                    "{}",
                    last_error()
                );
            }
            let settings = (*config).inner.resolve().unwrap();
            assert!(!settings.insecure);
            assert_eq!(settings.retry, RetryPolicy::default());
            assert_eq!(set_insecure(config, 1), otlpmetric_status::OTLPMETRIC_OK);
            assert_eq!(
                set_retry(config, 0, 10, 50, 300),
                otlpmetric_status::OTLPMETRIC_OK
            );
            let settings = (*config).inner.resolve().unwrap();
            assert!(settings.insecure);
            assert!(!settings.retry.enabled);
            otlpmetric_config_free(config);
        }
    }
}
