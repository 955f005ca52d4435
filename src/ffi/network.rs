//! `otlpmetric_config_set_proxy` and `otlpmetric_config_set_unix_socket`: how connections
//! reach the receiver.

use std::ffi::c_char;

use super::boundary::arg_str;
use super::config::{otlpmetric_config, with_config};
use super::types::otlpmetric_status;

/// Sets the HTTP proxy for this exporter's connections, overriding the environment's
/// `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` (and their lower-case forms):
/// - NULL: the environment decides (the default). gRPC uses `HTTPS_PROXY` whatever the
///   endpoint's scheme (as gRPC's own clients do); OTLP/HTTP uses the variable of the
///   endpoint's scheme; `NO_PROXY` (host names with their subdomains, IP addresses,
///   CIDR networks, `*`) bypasses it.
/// - `""`: no proxy, whatever the environment says.
/// - `"http://[user:password@]host[:port]"` (no scheme means `http://`): this proxy for
///   every endpoint; `NO_PROXY` does not apply.
///
/// Every protocol goes through an HTTP CONNECT tunnel (plain HTTP too, so that the
/// proxy's refusal is a connection error rather than an answer that could be the
/// receiver's); TLS to an `https://` endpoint runs inside it. The URL's user and password
/// (percent-decoded) are sent as `Proxy-Authorization: Basic` and never appear in a
/// message or log. A proxy that cannot be reached or refuses the tunnel fails the attempt
/// retryably, with a message naming the proxy. No proxy is used with a Unix socket.
///
/// Only `http://` proxies: another scheme (`https://`, `socks5://`), a missing host or a
/// port outside 1-65535 is `OTLPMETRIC_ERR_INVALID_ARGUMENT` and changes nothing. The
/// string is copied; like every setter, call it from the one thread that uses `config`.
///
/// # Safety
/// `config` is NULL or valid; `url` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_proxy(
    config: *mut otlpmetric_config,
    url: *const c_char,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_proxy", config, |c| {
            let url = if url.is_null() {
                None
            } else {
                Some(arg_str(url, "url")?)
            };
            c.set_proxy(url)
        })
    }
}

/// Connects to the Unix domain socket at `path` instead of the endpoint's host and port
/// (NULL: TCP, the default), for both protocols. As with curl's `--unix-socket`, the
/// endpoint URL still gives the scheme (`https://` runs TLS over the socket), the `Host`
/// and the path. A gRPC endpoint may instead be written as gRPC names sockets,
/// `unix:///absolute/path` or `unix:relative/path` (with `otlpmetric_config_set_endpoint`
/// or `OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT`); a path set here wins over it.
///
/// The socket need not exist yet: a missing one fails each attempt retryably, with a
/// message naming the path. An empty path or one over 107 bytes (what a socket address
/// holds) is `OTLPMETRIC_ERR_INVALID_ARGUMENT` and changes nothing. The string is copied;
/// like every setter, call it from the one thread that uses `config`.
///
/// # Safety
/// `config` is NULL or valid; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_unix_socket(
    config: *mut otlpmetric_config,
    path: *const c_char,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_unix_socket", config, |c| {
            let path = if path.is_null() {
                None
            } else {
                Some(arg_str(path, "path")?)
            };
            c.set_unix_socket(path)
        })
    }
}
