//! `otlpmetric_meter_provider_*`, `otlpmetric_meter_*`, `otlpmetric_instrument_*`,
//! `otlpmetric_bound_*`, `otlpmetric_observer_*`: the metrics pipeline, and the
//! configuration setters it adds.
//!
//! Handles: the provider is a box C owns; meters and instruments are boxes the provider
//! owns (so their pointers stay valid and equal for the same identity until the provider
//! is freed); a bound instrument is a box C owns; an observer is the core's `Observer`,
//! lent to a callback for its call.

use std::ffi::{c_char, c_void, CStr};
use std::time::Duration;

use super::config::{otlpmetric_config, with_config};
use super::types::*;
use crate::error::{Error, Result};
use crate::metrics::attributes::{KeyValue, Value};

/// An `otlpmetric_number_type` as C passes it: any integer.
pub type NumberTypeValue = i32;
/// An `otlpmetric_attribute_type` as C passes it: any integer.
pub type AttributeTypeValue = i32;

/// The number type an instrument records.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum otlpmetric_number_type {
    /// Signed 64-bit integers (`*_i64` calls).
    OTLPMETRIC_NUMBER_INT64 = 1,
    /// Doubles (`*_f64` calls).
    OTLPMETRIC_NUMBER_DOUBLE = 2,
}

/// The type of an attribute's value: which field of `otlpmetric_attribute` holds it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum otlpmetric_attribute_type {
    /// `string_value`: NUL-terminated UTF-8, not NULL.
    OTLPMETRIC_ATTRIBUTE_STRING = 1,
    /// `int_value`: 0 (false) or 1 (true); anything else is refused.
    OTLPMETRIC_ATTRIBUTE_BOOL = 2,
    /// `int_value`.
    OTLPMETRIC_ATTRIBUTE_INT = 3,
    /// `double_value`.
    OTLPMETRIC_ATTRIBUTE_DOUBLE = 4,
}

/// One attribute, borrowed for the call it is passed to (nothing is kept unless the call
/// says so). Only the field `type` names is read. In C99:
/// `{.key = "route", .type = OTLPMETRIC_ATTRIBUTE_STRING, .string_value = "/api"}`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct otlpmetric_attribute {
    /// NUL-terminated UTF-8, not empty.
    pub key: *const c_char,
    /// Which value field counts: an `otlpmetric_attribute_type`.
    pub r#type: AttributeTypeValue,
    /// `OTLPMETRIC_ATTRIBUTE_STRING`: NUL-terminated UTF-8.
    pub string_value: *const c_char,
    /// `OTLPMETRIC_ATTRIBUTE_INT`; `OTLPMETRIC_ATTRIBUTE_BOOL`: 0 or 1.
    pub int_value: i64,
    /// `OTLPMETRIC_ATTRIBUTE_DOUBLE`.
    pub double_value: f64,
}

/// Bytes the library allocated for the caller: free them with `otlpmetric_buffer_free`.
#[repr(C)]
#[derive(Debug)]
pub struct otlpmetric_buffer {
    /// The bytes (NULL when `len` is 0 and after `otlpmetric_buffer_free`).
    pub data: *mut u8,
    /// How many.
    pub len: usize,
}

/// An observable instrument's callback: observes through `observer` with
/// `otlpmetric_observer_observe_i64` / `_f64`, and calls nothing else of the library.
/// Runs during collection, on the thread that collects (the provider's own thread, or the
/// caller of `otlpmetric_meter_provider_collect`, `_force_flush` or `_shutdown`), one
/// callback at a time, holding no lock that recording takes. `observer` is valid only
/// during the call.
pub type otlpmetric_observe_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, observer: *mut otlpmetric_observer)>;

/// What an observe callback observes through; valid only during that call.
pub struct otlpmetric_observer {
    _opaque: [u8; 0],
}

/// Up to this many attributes are converted on the stack; more take one allocation.
const ATTRIBUTES_ON_STACK: usize = 16;

/// Runs `body` with the C attributes as the core's borrowed ones, checked: NULL `attrs`
/// only with `len` 0, every key non-NULL, non-empty UTF-8, every type known, every text
/// UTF-8, every bool 0 or 1. Allocates nothing for up to `ATTRIBUTES_ON_STACK`
/// attributes unless it fails.
///
/// # Safety
/// `attrs` is NULL or points to `len` attributes whose strings are NUL-terminated.
unsafe fn with_attributes<R>(
    attrs: *const otlpmetric_attribute,
    len: usize,
    body: impl FnOnce(&[KeyValue<'_>]) -> Result<R>,
) -> Result<R> {
    if len == 0 {
        return body(&[]);
    }
    if attrs.is_null() {
        return Err(Error::invalid(format!("attrs is NULL (length {len})")));
    }
    if len > isize::MAX as usize / std::mem::size_of::<otlpmetric_attribute>() {
        return Err(Error::invalid(format!("attrs: length {len} is too large")));
    }
    let attrs = unsafe { std::slice::from_raw_parts(attrs, len) };
    if len <= ATTRIBUTES_ON_STACK {
        let mut converted = [KeyValue::bool("", false); ATTRIBUTES_ON_STACK];
        for (slot, (i, attr)) in converted.iter_mut().zip(attrs.iter().enumerate()) {
            *slot = unsafe { attribute_from_c(i, attr) }?;
        }
        body(&converted[..len])
    } else {
        let converted = attrs
            .iter()
            .enumerate()
            .map(|(i, attr)| unsafe { attribute_from_c(i, attr) })
            .collect::<Result<Vec<_>>>()?;
        body(&converted)
    }
}

/// The attribute at index `i`, checked.
///
/// # Safety
/// The attribute's strings are NULL or NUL-terminated.
unsafe fn attribute_from_c<'a>(i: usize, attr: &otlpmetric_attribute) -> Result<KeyValue<'a>> {
    let key = unsafe { attribute_text(attr.key, i, "key") }?;
    if key.is_empty() {
        return Err(Error::invalid(format!("attrs[{i}].key is empty")));
    }
    let value = match attr.r#type {
        1 => Value::Str(unsafe { attribute_text(attr.string_value, i, "string_value") }?),
        2 => match attr.int_value {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            other => {
                return Err(Error::invalid(format!(
                    "attrs[{i}] ({key:?}): a BOOL's int_value must be 0 or 1, not {other}"
                )))
            }
        },
        3 => Value::I64(attr.int_value),
        4 => Value::F64(attr.double_value),
        other => {
            return Err(Error::invalid(format!(
                "attrs[{i}] ({key:?}): type {other} is unknown (expected STRING=1, BOOL=2, \
                 INT=3 or DOUBLE=4)"
            )))
        }
    };
    Ok(KeyValue { key, value })
}

/// # Safety
/// `ptr` is NULL or NUL-terminated.
unsafe fn attribute_text<'a>(ptr: *const c_char, i: usize, field: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("attrs[{i}].{field} is NULL")));
    }
    unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|e| {
        Error::invalid(format!(
            "attrs[{i}].{field} is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })
}

/// Sets the meter provider's resource attributes (copied), replacing any set before; they
/// win over `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`, which win over the
/// `telemetry.sdk.*` attributes. `attrs` may be NULL when `len` is 0 (no attributes set
/// in code). Bad attributes (see `otlpmetric_attribute`) are
/// `OTLPMETRIC_ERR_INVALID_ARGUMENT` and change nothing.
///
/// # Safety
/// `config` is NULL or valid; `attrs` is NULL or points to `len` attributes.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_resource(
    config: *mut otlpmetric_config,
    attrs: *const otlpmetric_attribute,
    len: usize,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_resource", config, |c| {
            with_attributes(attrs, len, |attrs| c.set_resource(attrs))
        })
    }
}

/// Sets how often the meter provider's own thread collects and exports, in milliseconds
/// (default `OTEL_METRIC_EXPORT_INTERVAL`, else 60000); 0: no periodic export and no
/// thread (collect with `otlpmetric_meter_provider_collect` or `_force_flush`).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_export_interval_ms(
    config: *mut otlpmetric_config,
    interval_ms: u32,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_export_interval_ms", config, |c| {
            c.set_export_interval(
                (interval_ms != 0).then(|| Duration::from_millis(interval_ms.into())),
            );
            Ok(())
        })
    }
}

/// Sets the most distinct attribute sets each instrument keeps (default 2000, at least
/// 1); measurements with further sets go to one series with the attribute
/// `otel.metric.overflow = true`.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_cardinality_limit(
    config: *mut otlpmetric_config,
    series_per_instrument: u32,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_cardinality_limit", config, |c| {
            c.set_cardinality_limit(series_per_instrument as usize)
        })
    }
}
