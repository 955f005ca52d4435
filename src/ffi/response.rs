//! `otlpmetric_config_set_max_response_bytes`: how much of a receiver's answer is read.

use super::boundary::{arg_mut, boundary};
use super::config::otlpmetric_config;
use super::types::otlpmetric_status;

/// Sets the largest response body read into memory (default 4 MiB; above 0), after
/// decompression. A receiver's answer over it fails that attempt, for good
/// (`OTLPMETRIC_ERR_EXPORT` naming the limit): the data may have arrived, and sending it
/// again could duplicate it. An error answer over it is reported without its text.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_max_response_bytes(
    config: *mut otlpmetric_config,
    max_bytes: usize,
) -> otlpmetric_status {
    boundary("otlpmetric_config_set_max_response_bytes", || {
        unsafe { arg_mut(config, "config") }?
            .inner
            .set_max_response_bytes(max_bytes)
    })
}
