//! `otlpmetric_config_set_header_callback` and `otlpmetric_headers_add`: headers computed
//! before each attempt, such as a token that changes while the exporter lives.

use std::ffi::{c_char, c_void};

use super::boundary::{arg_mut, arg_str, boundary};
use super::config::otlpmetric_config;
use super::types::{otlpmetric_status, UserData};
use crate::{AttemptHeaders, HeaderCallback};

/// The headers a header callback adds to one attempt. Valid only during the callback that
/// received it; add to it with `otlpmetric_headers_add`.
pub struct otlpmetric_headers {
    inner: AttemptHeaders,
}

/// Adds headers to one attempt by calling `otlpmetric_headers_add(out, ...)`; returns 0
/// to send the attempt, anything else to fail it, retryably (the retry policy decides
/// whether another attempt, with another call, follows). Called before every attempt
/// (each retry and each piece of a split request), on the thread that makes it: the
/// caller's for `upload*`, the exporter's worker thread for `enqueue`, possibly several
/// threads at once. It should return quickly (the worker's other work waits), must not
/// keep `out`, and must not call back into the same exporter.
pub type otlpmetric_header_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, out: *mut otlpmetric_headers) -> i32>;

/// Sets the callback that adds headers to each attempt (NULL removes it); they are sent
/// besides the configured headers, and replace a configured header of the same name for
/// that attempt. Their values, like the configured ones, never appear in a message or
/// log. `user_data` is passed to it as is and must stay valid, and usable from any
/// thread, until the exporter is freed.
///
/// # Safety
/// `config` is NULL or valid; `callback` is NULL or a function as documented on its type,
/// callable with `user_data` from any thread until the exporter is freed.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_header_callback(
    config: *mut otlpmetric_config,
    callback: otlpmetric_header_callback,
    user_data: *mut c_void,
) -> otlpmetric_status {
    let user_data = UserData(user_data);
    boundary("otlpmetric_config_set_header_callback", || {
        let config = unsafe { arg_mut(config, "config") }?;
        config.inner.set_header_callback(callback.map(|callback| {
            HeaderCallback::new(move |headers| {
                let mut out = otlpmetric_headers {
                    inner: std::mem::take(headers),
                };
                // SAFETY: the contract of the callback's type; `out` lives for the call.
                let rc = unsafe { callback(user_data.get(), &mut out) };
                *headers = out.inner;
                match rc {
                    0 => Ok(()),
                    rc => Err(format!("the header callback returned {rc}")),
                }
            })
        }));
        Ok(())
    })
}

/// Adds a header to the attempt whose header callback received `headers`; only during
/// that callback. Keys are header names (case-insensitive; sent in lower case), values
/// visible ASCII (and tabs, spaces); both are copied. A name added twice is sent twice.
/// `OTLPMETRIC_ERR_INVALID_ARGUMENT` (the message names the key, never the value) for
/// NULL, non-UTF-8 or invalid keys and values, and for the headers the library sets for
/// the protocol itself: `content-type`, `content-encoding`, `content-length`,
/// `transfer-encoding`, `connection`, `host`, `te` and `grpc-*`.
///
/// # Safety
/// `headers` is NULL or the pointer a running header callback received; `key` and
/// `value` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_headers_add(
    headers: *mut otlpmetric_headers,
    key: *const c_char,
    value: *const c_char,
) -> otlpmetric_status {
    boundary("otlpmetric_headers_add", || {
        let headers = unsafe { arg_mut(headers, "headers") }?;
        let key = unsafe { arg_str(key, "key") }?;
        let value = unsafe { arg_str(value, "value") }?;
        headers.inner.add(key, value)
    })
}
