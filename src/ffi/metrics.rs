//! `otlpmetric_meter_provider_*`, `otlpmetric_meter_*`, `otlpmetric_instrument_*`,
//! `otlpmetric_bound_*`, `otlpmetric_observer_*`: the metrics pipeline, and the
//! configuration setters it adds.
//!
//! Handles: the provider is a box C owns; meters and instruments are boxes the provider
//! owns (so their pointers stay valid and equal for the same identity until the provider
//! is freed); a bound instrument is a box C owns; an observer is the core's `Observer`,
//! lent to a callback for its call.

use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use super::boundary::{arg_mut, arg_ref, arg_str, boundary};
use super::config::{otlpmetric_config, with_pipeline};
use super::exporter::call_timeout;
use super::types::*;
use crate::error::{Error, Result};
use crate::metrics::attributes::{AttributeSet, KeyValue, Value};
use crate::metrics::instrument::{
    BoundInstrument, Callback, Descriptor, Instrument, NumberType, Observer,
};
use crate::metrics::lock;
use crate::metrics::pipeline::Meter;
use crate::metrics::provider::MeterProvider;
use crate::metrics::settings::MetricsSettings;
use crate::selectors::InstrumentKind;
use crate::Config;

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

fn number_type_from_c(value: NumberTypeValue) -> Result<NumberType> {
    match value {
        1 => Ok(NumberType::I64),
        2 => Ok(NumberType::F64),
        other => Err(Error::invalid(format!(
            "number type {other} is unknown (expected INT64=1 or DOUBLE=2)"
        ))),
    }
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
        with_pipeline("otlpmetric_config_set_resource", config, |p| {
            with_attributes(attrs, len, |attrs| p.set_resource(attrs))
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
        with_pipeline("otlpmetric_config_set_export_interval_ms", config, |p| {
            p.set_export_interval(
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
        with_pipeline("otlpmetric_config_set_cardinality_limit", config, |p| {
            p.set_cardinality_limit(series_per_instrument as usize)
        })
    }
}

/// Makes the meter provider record its exporter's own metrics (default: off, or the
/// environment variable `OTLPMETRIC_EXPORTER_METRICS=true`; this call wins), as the
/// semantic conventions for SDK metrics name them, in the scope `otlpmetric`:
/// - `otel.sdk.exporter.metric_data_point.exported` (counter, `{data_point}`): points
///   whose export finished; failed ones carry `error.type`, points the receiver rejected
///   in a partial success `error.type = rejected`;
/// - `otel.sdk.exporter.metric_data_point.inflight` (up-down counter, `{data_point}`):
///   points being delivered now, across retries (points waiting in the queue or spool
///   are not in flight yet: `otlpmetric_stats.queue_bytes` counts them);
/// - `otel.sdk.exporter.operation.duration` (histogram, `s`): one observation per export,
///   from the first attempt to the end of the last, with `rpc.grpc.status_code` or
///   `http.response.status_code` when the receiver answered.
///
/// Every point carries `otel.component.type` (`otlp_grpc_metric_exporter`,
/// `otlp_http_metric_exporter` or `otlp_http_json_metric_exporter`), `otel.component.name`
/// (the type, `/` and a per-process counter), `server.address` and `server.port` (the
/// socket path and no port for a Unix socket). `error.type` is the gRPC status name (e.g.
/// `UNAVAILABLE`) or HTTP status number (e.g. `503`) of the receiver's answer, else
/// `timeout`, `export` (no answer, e.g. the connection failed), `shutdown` or `cancelled`.
/// They are exported with everything else, so an export's figures appear in the next one.
/// `enabled` must be `false` or `true` (a byte other than 0 or 1 is
/// `OTLPMETRIC_ERR_INVALID_ARGUMENT`).
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_exporter_metrics(
    config: *mut otlpmetric_config,
    enabled: BoolValue,
) -> otlpmetric_status {
    unsafe {
        with_pipeline("otlpmetric_config_set_exporter_metrics", config, |p| {
            p.set_exporter_metrics(bool_from_c(enabled, "enabled")?);
            Ok(())
        })
    }
}

/// Counts the forks this process descends from (bumped in the child by a `pthread_atfork`
/// handler): a handle made under another count belongs to the parent's pipeline. One
/// relaxed load is all the recording path pays for fork safety.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn forked_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

fn watch_forks() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic, which is
        // async-signal-safe as the child side of fork requires.
        unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
    });
}

struct Live<T> {
    generation: u64,
    value: T,
}

/// A value of this process: made again (by `make`) the first time it is used in a forked
/// child. The parent's value is never touched in the child, not even freed: other threads
/// of the parent may have held its locks at the fork, and its threads do not exist here.
struct PerProcess<T> {
    current: AtomicPtr<Live<T>>,
}

impl<T> PerProcess<T> {
    fn new(value: T) -> Self {
        PerProcess {
            current: AtomicPtr::new(Box::into_raw(Box::new(Live {
                generation: FORK_GENERATION.load(Ordering::Relaxed),
                value,
            }))),
        }
    }

    fn get_or(&self, make: impl FnOnce(&T) -> Result<T>) -> Result<&T> {
        let current = self.current.load(Ordering::Acquire);
        // SAFETY: `current` is never null and is freed only when `self` is dropped.
        let live = unsafe { &*current };
        let generation = FORK_GENERATION.load(Ordering::Relaxed);
        if live.generation == generation {
            return Ok(&live.value);
        }
        self.replace(current, generation, make)
    }

    #[cold]
    fn replace(
        &self,
        stale: *mut Live<T>,
        generation: u64,
        make: impl FnOnce(&T) -> Result<T>,
    ) -> Result<&T> {
        // SAFETY: as in `get_or`.
        let fresh = Box::into_raw(Box::new(Live {
            generation,
            value: make(unsafe { &(*stale).value })?,
        }));
        match self
            .current
            .compare_exchange(stale, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            // The parent's value is left as it is (see the type's documentation).
            Ok(_) => Ok(unsafe { &(*fresh).value }),
            Err(winner) => {
                // Another thread of this child made it first.
                drop(unsafe { Box::from_raw(fresh) });
                Ok(unsafe { &(*winner).value })
            }
        }
    }
}

impl<T> Drop for PerProcess<T> {
    fn drop(&mut self) {
        let current = *self.current.get_mut();
        // SAFETY: `current` came from `Box::into_raw` and is freed only here.
        if unsafe { &*current }.generation == FORK_GENERATION.load(Ordering::Relaxed) {
            drop(unsafe { Box::from_raw(current) });
        }
    }
}

/// A handle's owner, which outlives it (it frees the handle).
struct Owner<T>(*const T);
// SAFETY: the owners are thread-safe handles (their interior is behind locks, atomics and
// `PerProcess`), only ever read through this pointer.
unsafe impl<T> Send for Owner<T> {}
// SAFETY: as for Send.
unsafe impl<T> Sync for Owner<T> {}

impl<T> Owner<T> {
    fn get(&self) -> &T {
        // SAFETY: the owner frees this handle before it is freed itself.
        unsafe { &*self.0 }
    }
}

/// A meter provider: meters, instruments, in-process aggregation as the config's
/// selectors say, and an exporter made from the same config. Thread-safe. Create with
/// `otlpmetric_meter_provider_new`, free with `otlpmetric_meter_provider_free` (which
/// frees its meters and instruments) once no other thread uses it or anything it owns.
pub struct otlpmetric_meter_provider {
    /// What a forked child makes its own provider from.
    config: Config,
    pipeline: MetricsSettings,
    live: PerProcess<MeterProvider>,
    // Boxed: C holds pointers to them, which must not move when the list grows.
    #[allow(clippy::vec_box)]
    meters: Mutex<Vec<Box<otlpmetric_meter>>>,
}

/// One instrumentation scope. Thread-safe; owned by its provider, valid until the
/// provider is freed (there is no function to free it).
pub struct otlpmetric_meter {
    provider: Owner<otlpmetric_meter_provider>,
    name: Box<str>,
    version: Option<Box<str>>,
    live: PerProcess<Arc<Meter>>,
    // Boxed, as the provider's meters are.
    #[allow(clippy::vec_box)]
    instruments: Mutex<Vec<Box<otlpmetric_instrument>>>,
}

/// An instrument. Thread-safe; owned by its provider, valid until the provider is freed
/// (there is no function to free it).
pub struct otlpmetric_instrument {
    meter: Owner<otlpmetric_meter>,
    descriptor: Descriptor,
    /// An observable instrument's callbacks, each (callback, user_data) once.
    callbacks: Mutex<Vec<(ObserveFn, UserData)>>,
    live: PerProcess<Arc<Instrument>>,
}

/// An instrument bound to one attribute set. Thread-safe. Create with
/// `otlpmetric_instrument_bind`, free with `otlpmetric_bound_free` before the provider.
pub struct otlpmetric_bound_instrument {
    instrument: Owner<otlpmetric_instrument>,
    attributes: AttributeSet,
    live: PerProcess<BoundInstrument>,
}

type ObserveFn = unsafe extern "C" fn(user_data: *mut c_void, observer: *mut otlpmetric_observer);

impl otlpmetric_meter_provider {
    fn live(&self) -> Result<&MeterProvider> {
        self.live.get_or(|parents| {
            if parents.is_shut_down() {
                // Shut down before the fork: so it stays in the child.
                return Err(crate::metrics::instrument::shut_down_error());
            }
            MeterProvider::new(&self.config, &self.pipeline)
        })
    }
}

impl otlpmetric_meter {
    fn live(&self) -> Result<&Arc<Meter>> {
        self.live.get_or(|_| {
            self.provider
                .get()
                .live()?
                .meter(&self.name, self.version.as_deref())
        })
    }
}

impl otlpmetric_instrument {
    fn live(&self) -> Result<&Arc<Instrument>> {
        self.live
            .get_or(|_| self.register(self.meter.get().live()?))
    }

    /// Registers this instrument (and its callbacks) with `meter`.
    fn register(&self, meter: &Meter) -> Result<Arc<Instrument>> {
        let d = &self.descriptor;
        let callbacks = lock(&self.callbacks).clone();
        if callbacks.is_empty() {
            return meter.instrument(d.kind, d.number, &d.name, &d.unit, &d.description);
        }
        let mut registered = None;
        for (callback, user_data) in callbacks {
            registered = Some(meter.observable(
                d.kind,
                d.number,
                &d.name,
                &d.unit,
                &d.description,
                observe_callback(callback, user_data),
            )?);
        }
        Ok(registered.expect("an observable instrument has a callback"))
    }
}

impl otlpmetric_bound_instrument {
    fn live(&self) -> Result<&BoundInstrument> {
        self.live.get_or(|_| {
            let attrs: Vec<KeyValue<'_>> = self.attributes.iter().collect();
            self.instrument.get().live()?.bind(&attrs)
        })
    }
}

fn observe_callback(callback: ObserveFn, user_data: UserData) -> Callback {
    Box::new(move |observer: &mut Observer<'_>| {
        let observer: *mut Observer<'_> = observer;
        // SAFETY: the C callback is documented to call only the observe functions on
        // this observer, during this call.
        unsafe { callback(user_data.get(), observer.cast()) }
    })
}

fn check_kind(kind: InstrumentKindValue, observable: bool) -> Result<InstrumentKind> {
    let kind = instrument_kind_from_c(kind)?;
    let is_observable = kind as i32 >= InstrumentKind::ObservableCounter as i32;
    if is_observable != observable {
        return Err(Error::invalid(if observable {
            format!(
                "instrument kind {} is synchronous: use otlpmetric_meter_instrument (kinds 5-7 \
                 here)",
                kind.name()
            )
        } else {
            format!(
                "instrument kind {} is observable: use otlpmetric_meter_observable (kinds 1-4 \
                 here)",
                kind.name()
            )
        }));
    }
    Ok(kind)
}

/// An optional C string: NULL is `""`.
///
/// # Safety
/// `ptr` is NULL or NUL-terminated.
unsafe fn arg_optional_str<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        unsafe { arg_str(ptr, name) }.map(Some)
    }
}

/// The handle of the instrument `descriptor` names in `meter` (registering it, or for an
/// observable instrument adding `callback` unless that callback with that `user_data` is
/// registered already).
fn instrument_handle(
    meter: &otlpmetric_meter,
    descriptor: Descriptor,
    callback: Option<(ObserveFn, UserData)>,
) -> Result<*mut otlpmetric_instrument> {
    let live = meter.live()?;
    let mut handles = lock(&meter.instruments);
    let d = &descriptor;
    if let Some(handle) = handles.iter().find(|h| h.descriptor.same_instrument(d)) {
        if let Some((callback, user_data)) = callback {
            let mut callbacks = lock(&handle.callbacks);
            let known = callbacks
                .iter()
                .any(|&(f, u)| f as usize == callback as usize && u.get() == user_data.get());
            if !known {
                live.observable(
                    d.kind,
                    d.number,
                    &d.name,
                    &d.unit,
                    &d.description,
                    observe_callback(callback, user_data),
                )?;
                callbacks.push((callback, user_data));
            }
        }
        return Ok(&**handle as *const otlpmetric_instrument as *mut _);
    }
    let instrument = match callback {
        None => live.instrument(d.kind, d.number, &d.name, &d.unit, &d.description)?,
        Some((callback, user_data)) => live.observable(
            d.kind,
            d.number,
            &d.name,
            &d.unit,
            &d.description,
            observe_callback(callback, user_data),
        )?,
    };
    let handle = Box::new(otlpmetric_instrument {
        meter: Owner(meter),
        descriptor,
        callbacks: Mutex::new(callback.into_iter().collect()),
        live: PerProcess::new(instrument),
    });
    let pointer = &*handle as *const otlpmetric_instrument as *mut _;
    handles.push(handle);
    Ok(pointer)
}

/// Creates a meter provider from `config` (which may be freed right after): an exporter
/// as `otlpmetric_exporter_new` makes it (same protocol, endpoint, TLS, retries, queue,
/// selectors), the resource, and, unless the export interval is 0, a thread that collects
/// and exports every interval. Environment problems go to the log callback as warnings.
/// When the config sets a queue (`otlpmetric_config_set_queue`) or a spool, each export
/// is enqueued (as `otlpmetric_exporter_enqueue` does) instead of uploaded, so the export
/// thread never waits on the receiver; `force_flush` and `shutdown` still wait for the
/// queue's delivery within their timeouts. Without one, each export is an upload.
/// On success writes the provider to `*out`. In a child made by `fork()` the provider,
/// its meters, instruments and bound instruments start over, empty, with their own start
/// time, `service.instance.id` (unless one was set) and thread, on first use; the
/// parent's are unaffected. Recording never waits on a lock a thread of the parent may
/// have held at the fork; registering a meter or instrument does, so fork while no other
/// thread registers.
///
/// # Safety
/// `config` is NULL or valid; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_meter_provider_new(
    config: *const otlpmetric_config,
    out: *mut *mut otlpmetric_meter_provider,
) -> otlpmetric_status {
    boundary("otlpmetric_meter_provider_new", || {
        let config = unsafe { arg_ref(config, "config") }?;
        let out = unsafe { arg_mut(out, "out") }?;
        watch_forks();
        let provider = MeterProvider::new(&config.inner, &config.pipeline)?;
        *out = Box::into_raw(Box::new(otlpmetric_meter_provider {
            config: config.inner.clone(),
            pipeline: config.pipeline.clone(),
            live: PerProcess::new(provider),
            meters: Mutex::default(),
        }));
        Ok(())
    })
}

/// Writes the meter of the instrumentation scope `scope_name` (`scope_version` may be
/// NULL: none) to `*out`: the same pointer for the same name and version. The meter is
/// owned by the provider and valid until it is freed. After shutdown:
/// `OTLPMETRIC_ERR_SHUTDOWN`.
///
/// # Safety
/// `provider` is NULL or valid; the strings are NULL or NUL-terminated; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_meter_provider_meter(
    provider: *mut otlpmetric_meter_provider,
    scope_name: *const c_char,
    scope_version: *const c_char,
    out: *mut *mut otlpmetric_meter,
) -> otlpmetric_status {
    boundary("otlpmetric_meter_provider_meter", || {
        let provider = unsafe { arg_ref(provider, "provider") }?;
        let name = unsafe { arg_str(scope_name, "scope_name") }?;
        let version = unsafe { arg_optional_str(scope_version, "scope_version") }?;
        let out = unsafe { arg_mut(out, "out") }?;
        let live = provider.live()?;
        let mut meters = lock(&provider.meters);
        if let Some(meter) = meters
            .iter()
            .find(|m| &*m.name == name && m.version.as_deref() == version)
        {
            *out = &**meter as *const otlpmetric_meter as *mut _;
            return Ok(());
        }
        let meter = Box::new(otlpmetric_meter {
            provider: Owner(provider),
            name: name.into(),
            version: version.map(Into::into),
            live: PerProcess::new(live.meter(name, version)?),
            instruments: Mutex::default(),
        });
        *out = &*meter as *const otlpmetric_meter as *mut _;
        meters.push(meter);
        Ok(())
    })
}

/// Writes the synchronous instrument (`kind` COUNTER, UP_DOWN_COUNTER, HISTOGRAM or
/// GAUGE; `number` INT64 or DOUBLE) to `*out`. The same scope, name (compared
/// case-insensitively), kind, number type, unit and description give the same pointer;
/// the same name with anything else different is a duplicate registration: both work,
/// and the log callback gets a warning naming both. `name` must match
/// `[A-Za-z][A-Za-z0-9_.\-/]{0,254}`, `unit` (NULL: none) be at most 63 ASCII
/// characters; `description` may be NULL. Owned by the provider, valid until it is freed.
///
/// # Safety
/// `meter` is NULL or valid; the strings are NULL or NUL-terminated; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_meter_instrument(
    meter: *mut otlpmetric_meter,
    kind: InstrumentKindValue,
    number: NumberTypeValue,
    name: *const c_char,
    unit: *const c_char,
    description: *const c_char,
    out: *mut *mut otlpmetric_instrument,
) -> otlpmetric_status {
    boundary("otlpmetric_meter_instrument", || {
        let meter = unsafe { arg_ref(meter, "meter") }?;
        let descriptor =
            unsafe { descriptor_from_c(kind, false, number, name, unit, description) }?;
        let out = unsafe { arg_mut(out, "out") }?;
        *out = instrument_handle(meter, descriptor, None)?;
        Ok(())
    })
}

/// # Safety
/// The strings are NULL or NUL-terminated.
unsafe fn descriptor_from_c(
    kind: InstrumentKindValue,
    observable: bool,
    number: NumberTypeValue,
    name: *const c_char,
    unit: *const c_char,
    description: *const c_char,
) -> Result<Descriptor> {
    let kind = check_kind(kind, observable)?;
    let number = number_type_from_c(number)?;
    let name = unsafe { arg_str(name, "name") }?;
    let unit = unsafe { arg_optional_str(unit, "unit") }?.unwrap_or("");
    let description = unsafe { arg_optional_str(description, "description") }?.unwrap_or("");
    Descriptor::new(kind, number, name, unit, description)
}

/// Writes the observable instrument (`kind` OBSERVABLE_COUNTER, OBSERVABLE_UP_DOWN_COUNTER
/// or OBSERVABLE_GAUGE) to `*out`, with `callback` added to those it runs at each
/// collection; identity, names and pointers as for `otlpmetric_meter_instrument`. The
/// same `callback` with the same `user_data` registered again for the same instrument is
/// not added twice. Observable counters report what the callback observes as a
/// cumulative total; under delta temporality the library exports the difference.
///
/// # Safety
/// As for `otlpmetric_meter_instrument`; `callback` is NULL (refused) or a function as
/// documented on its type, callable with `user_data` until the provider is freed.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_meter_observable(
    meter: *mut otlpmetric_meter,
    kind: InstrumentKindValue,
    number: NumberTypeValue,
    name: *const c_char,
    unit: *const c_char,
    description: *const c_char,
    callback: otlpmetric_observe_callback,
    user_data: *mut c_void,
    out: *mut *mut otlpmetric_instrument,
) -> otlpmetric_status {
    boundary("otlpmetric_meter_observable", || {
        let meter = unsafe { arg_ref(meter, "meter") }?;
        let descriptor = unsafe { descriptor_from_c(kind, true, number, name, unit, description) }?;
        let callback = callback.ok_or_else(|| Error::invalid("callback is NULL"))?;
        let out = unsafe { arg_mut(out, "out") }?;
        *out = instrument_handle(meter, descriptor, Some((callback, UserData(user_data))))?;
        Ok(())
    })
}

/// Adds `value` to a COUNTER or UP_DOWN_COUNTER of INT64 for the attribute set `attrs`
/// (borrowed for the call; their order does not count, a later duplicate key wins;
/// NULL when `len` is 0). Any thread, never blocks on collection or the network, and
/// allocates nothing for a set seen before. Another kind or number type, or bad
/// attributes: `OTLPMETRIC_ERR_INVALID_ARGUMENT` and nothing recorded. A negative
/// value on a counter is not recorded (`OTLPMETRIC_OK`, one warning per instrument).
/// After shutdown: `OTLPMETRIC_ERR_SHUTDOWN`.
///
/// # Safety
/// `instrument` is NULL or valid; `attrs` is NULL or points to `len` attributes.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_instrument_add_i64(
    instrument: *mut otlpmetric_instrument,
    value: i64,
    attrs: *const otlpmetric_attribute,
    len: usize,
) -> otlpmetric_status {
    boundary("otlpmetric_instrument_add_i64", || {
        let instrument = unsafe { arg_ref(instrument, "instrument") }?.live()?;
        unsafe { with_attributes(attrs, len, |attrs| instrument.add_i64(value, attrs)) }
    })
}
/// As `otlpmetric_instrument_add_i64`, for instruments of DOUBLE; NaN and infinities
/// are not recorded (`OTLPMETRIC_OK`, one warning per instrument).
///
/// # Safety
/// `instrument` is NULL or valid; `attrs` is NULL or points to `len` attributes.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_instrument_add_f64(
    instrument: *mut otlpmetric_instrument,
    value: f64,
    attrs: *const otlpmetric_attribute,
    len: usize,
) -> otlpmetric_status {
    boundary("otlpmetric_instrument_add_f64", || {
        let instrument = unsafe { arg_ref(instrument, "instrument") }?.live()?;
        unsafe { with_attributes(attrs, len, |attrs| instrument.add_f64(value, attrs)) }
    })
}
/// Records `value` on a HISTOGRAM or GAUGE of INT64; attributes and errors as for
/// `otlpmetric_instrument_add_i64`.
///
/// # Safety
/// `instrument` is NULL or valid; `attrs` is NULL or points to `len` attributes.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_instrument_record_i64(
    instrument: *mut otlpmetric_instrument,
    value: i64,
    attrs: *const otlpmetric_attribute,
    len: usize,
) -> otlpmetric_status {
    boundary("otlpmetric_instrument_record_i64", || {
        let instrument = unsafe { arg_ref(instrument, "instrument") }?.live()?;
        unsafe { with_attributes(attrs, len, |attrs| instrument.record_i64(value, attrs)) }
    })
}
/// Records `value` on a HISTOGRAM or GAUGE of DOUBLE; attributes and errors as for
/// `otlpmetric_instrument_add_i64`; NaN and infinities are not recorded.
///
/// # Safety
/// `instrument` is NULL or valid; `attrs` is NULL or points to `len` attributes.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_instrument_record_f64(
    instrument: *mut otlpmetric_instrument,
    value: f64,
    attrs: *const otlpmetric_attribute,
    len: usize,
) -> otlpmetric_status {
    boundary("otlpmetric_instrument_record_f64", || {
        let instrument = unsafe { arg_ref(instrument, "instrument") }?.live()?;
        unsafe { with_attributes(attrs, len, |attrs| instrument.record_f64(value, attrs)) }
    })
}

/// Binds a synchronous instrument to the attribute set `attrs` (copied; NULL when `len`
/// is 0) and writes the bound instrument to `*out`: its record calls do no attribute
/// work. Its series is kept while it is bound. Free it with `otlpmetric_bound_free`
/// before the provider.
///
/// # Safety
/// `instrument` is NULL or valid; `attrs` is NULL or points to `len` attributes; `out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_instrument_bind(
    instrument: *mut otlpmetric_instrument,
    attrs: *const otlpmetric_attribute,
    len: usize,
    out: *mut *mut otlpmetric_bound_instrument,
) -> otlpmetric_status {
    boundary("otlpmetric_instrument_bind", || {
        let handle = unsafe { arg_ref(instrument, "instrument") }?;
        let out = unsafe { arg_mut(out, "out") }?;
        let (bound, attributes) = unsafe {
            with_attributes(attrs, len, |attrs| {
                Ok((handle.live()?.bind(attrs)?, AttributeSet::new(attrs)?))
            })
        }?;
        *out = Box::into_raw(Box::new(otlpmetric_bound_instrument {
            instrument: Owner(handle),
            attributes,
            live: PerProcess::new(bound),
        }));
        Ok(())
    })
}

/// As `otlpmetric_instrument_add_i64` on the bound attribute set, with no attribute
/// work.
///
/// # Safety
/// `bound` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_bound_add_i64(
    bound: *mut otlpmetric_bound_instrument,
    value: i64,
) -> otlpmetric_status {
    boundary("otlpmetric_bound_add_i64", || {
        unsafe { arg_ref(bound, "bound") }?.live()?.add_i64(value)
    })
}
/// As `otlpmetric_instrument_add_f64` on the bound attribute set.
///
/// # Safety
/// `bound` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_bound_add_f64(
    bound: *mut otlpmetric_bound_instrument,
    value: f64,
) -> otlpmetric_status {
    boundary("otlpmetric_bound_add_f64", || {
        unsafe { arg_ref(bound, "bound") }?.live()?.add_f64(value)
    })
}
/// As `otlpmetric_instrument_record_i64` on the bound attribute set.
///
/// # Safety
/// `bound` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_bound_record_i64(
    bound: *mut otlpmetric_bound_instrument,
    value: i64,
) -> otlpmetric_status {
    boundary("otlpmetric_bound_record_i64", || {
        unsafe { arg_ref(bound, "bound") }?
            .live()?
            .record_i64(value)
    })
}
/// As `otlpmetric_instrument_record_f64` on the bound attribute set.
///
/// # Safety
/// `bound` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_bound_record_f64(
    bound: *mut otlpmetric_bound_instrument,
    value: f64,
) -> otlpmetric_status {
    boundary("otlpmetric_bound_record_f64", || {
        unsafe { arg_ref(bound, "bound") }?
            .live()?
            .record_f64(value)
    })
}

/// Frees a bound instrument (its series may then be forgotten under delta temporality
/// once idle). NULL is fine.
///
/// # Safety
/// `bound` is NULL or came from `otlpmetric_instrument_bind`, its provider is not freed
/// yet, and it is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_bound_free(bound: *mut otlpmetric_bound_instrument) {
    if !bound.is_null() {
        boundary("otlpmetric_bound_free", || {
            drop(unsafe { Box::from_raw(bound) });
            Ok(())
        });
    }
}

/// Observes `value` for the attribute set `attrs` (borrowed for the call; NULL when
/// `len` is 0), from inside an observe callback of an INT64 instrument. Observations
/// of one set in one collection add up for counters; the last one counts for gauges.
/// Another number type or bad attributes: `OTLPMETRIC_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `observer` is NULL or the one the running callback was given; `attrs` is NULL or
/// points to `len` attributes.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_observer_observe_i64(
    observer: *mut otlpmetric_observer,
    value: i64,
    attrs: *const otlpmetric_attribute,
    len: usize,
) -> otlpmetric_status {
    boundary("otlpmetric_observer_observe_i64", || {
        let observer = unsafe { arg_mut(observer.cast::<Observer<'static>>(), "observer") }?;
        unsafe { with_attributes(attrs, len, |attrs| observer.observe_i64(value, attrs)) }
    })
}
/// As `otlpmetric_observer_observe_i64`, for an instrument of DOUBLE.
///
/// # Safety
/// `observer` is NULL or the one the running callback was given; `attrs` is NULL or
/// points to `len` attributes.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_observer_observe_f64(
    observer: *mut otlpmetric_observer,
    value: f64,
    attrs: *const otlpmetric_attribute,
    len: usize,
) -> otlpmetric_status {
    boundary("otlpmetric_observer_observe_f64", || {
        let observer = unsafe { arg_mut(observer.cast::<Observer<'static>>(), "observer") }?;
        unsafe { with_attributes(attrs, len, |attrs| observer.observe_f64(value, attrs)) }
    })
}

/// Collects now and writes, as the bytes of one `opentelemetry.proto.metrics.v1.
/// ResourceMetrics`, what an export would send (to `otlpmetric_exporter_upload` them
/// yourself, or to look at them); counts as that export for delta temporality. Runs the
/// observe callbacks on this thread. Free the buffer with `otlpmetric_buffer_free`.
/// After shutdown: `OTLPMETRIC_ERR_SHUTDOWN`.
///
/// # Safety
/// `provider` is NULL or valid; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_meter_provider_collect(
    provider: *mut otlpmetric_meter_provider,
    out: *mut otlpmetric_buffer,
) -> otlpmetric_status {
    boundary("otlpmetric_meter_provider_collect", || {
        let provider = unsafe { arg_ref(provider, "provider") }?;
        let out = unsafe { arg_mut(out, "out") }?;
        let bytes = provider.live()?.collect()?;
        let len = bytes.len();
        let data = if len == 0 {
            std::ptr::null_mut()
        } else {
            Box::into_raw(bytes.into_boxed_slice()).cast::<u8>()
        };
        *out = otlpmetric_buffer { data, len };
        Ok(())
    })
}

/// Frees the bytes of a buffer the library filled and zeroes it. NULL, and a zeroed
/// buffer, are fine.
///
/// # Safety
/// `buffer` is NULL, zeroed, or filled by the library and not freed since.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_buffer_free(buffer: *mut otlpmetric_buffer) {
    if let Some(buffer) = unsafe { buffer.as_mut() } {
        boundary("otlpmetric_buffer_free", || {
            if !buffer.data.is_null() {
                let bytes = std::ptr::slice_from_raw_parts_mut(buffer.data, buffer.len);
                drop(unsafe { Box::from_raw(bytes) });
            }
            *buffer = otlpmetric_buffer {
                data: std::ptr::null_mut(),
                len: 0,
            };
            Ok(())
        });
    }
}

/// Collects and exports now, and waits for every export begun before, within
/// `timeout_ms` (0: the export timeout, `OTEL_METRIC_EXPORT_TIMEOUT`, default 30000).
/// Runs the observe callbacks on this thread. After shutdown: `OTLPMETRIC_ERR_SHUTDOWN`.
///
/// # Safety
/// `provider` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_meter_provider_force_flush(
    provider: *mut otlpmetric_meter_provider,
    timeout_ms: u32,
) -> otlpmetric_status {
    boundary("otlpmetric_meter_provider_force_flush", || {
        let provider = unsafe { arg_ref(provider, "provider") }?;
        provider.live()?.force_flush(call_timeout(timeout_ms))
    })
}

/// Stops the export thread, collects and exports one last time, and shuts the exporter
/// down, within `timeout_ms` (0: the export timeout). Acts once: later calls, and
/// recording, collecting or flushing from then on, get `OTLPMETRIC_ERR_SHUTDOWN`.
///
/// # Safety
/// `provider` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_meter_provider_shutdown(
    provider: *mut otlpmetric_meter_provider,
    timeout_ms: u32,
) -> otlpmetric_status {
    boundary("otlpmetric_meter_provider_shutdown", || {
        let provider = unsafe { arg_ref(provider, "provider") }?;
        provider.live()?.shutdown(call_timeout(timeout_ms))
    })
}

/// Writes the statistics of the provider's exporter to `*out`. Works after shutdown.
///
/// # Safety
/// `provider` is NULL or valid; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_meter_provider_stats(
    provider: *const otlpmetric_meter_provider,
    out: *mut otlpmetric_stats,
) -> otlpmetric_status {
    boundary("otlpmetric_meter_provider_stats", || {
        let provider = unsafe { arg_ref(provider, "provider") }?;
        let out = unsafe { arg_mut(out, "out") }?;
        let stats = match provider.live() {
            Ok(live) => live.exporter().stats(),
            // A child of a parent that shut down: nothing was exported here.
            Err(_) => Default::default(),
        };
        *out = stats.into();
        Ok(())
    })
}

/// Frees a provider, shutting it down first if needed (with the export timeout), and with
/// it its meters and instruments. Bound instruments must be freed before. NULL is fine.
///
/// # Safety
/// `provider` is NULL or came from `otlpmetric_meter_provider_new`, and no other thread
/// uses it or anything it owns; none of it is used afterwards.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_meter_provider_free(provider: *mut otlpmetric_meter_provider) {
    if !provider.is_null() {
        boundary("otlpmetric_meter_provider_free", || {
            drop(unsafe { Box::from_raw(provider) });
            Ok(())
        });
    }
}
