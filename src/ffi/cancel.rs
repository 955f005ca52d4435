//! `otlpmetric_cancel_*` and the cancellable exporter calls.

use super::boundary::{arg_bytes, arg_mut, arg_ref, boundary};
use super::exporter::{call_timeout, otlpmetric_exporter};
use super::types::otlpmetric_status;
use crate::Cancel;

/// A cancellation handle: triggering it makes the calls that use it return
/// `OTLPMETRIC_ERR_CANCELLED` promptly. Thread-safe; one handle may be used by any number
/// of calls at once, and stays triggered. Create with `otlpmetric_cancel_new`, free with
/// `otlpmetric_cancel_free` once no call uses it. Each handle holds two file descriptors
/// (a close-on-exec pipe).
pub struct otlpmetric_cancel {
    inner: Cancel,
}

/// The optional handle of a cancellable call: NULL is a call that cannot be cancelled.
///
/// # Safety
/// `cancel` is NULL or valid for the call.
unsafe fn optional_cancel<'a>(cancel: *const otlpmetric_cancel) -> Option<&'a Cancel> {
    unsafe { cancel.as_ref() }.map(|cancel| &cancel.inner)
}

/// Creates an untriggered cancellation handle and writes it to `*out`.
/// `OTLPMETRIC_ERR_INTERNAL` when the process has no file descriptor left.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_cancel_new(
    out: *mut *mut otlpmetric_cancel,
) -> otlpmetric_status {
    boundary("otlpmetric_cancel_new", || {
        let out = unsafe { arg_mut(out, "out") }?;
        let inner = Cancel::new()?;
        *out = Box::into_raw(Box::new(otlpmetric_cancel { inner }));
        Ok(())
    })
}

/// Triggers the handle: every call using it, now or later, returns
/// `OTLPMETRIC_ERR_CANCELLED` promptly (what was already sent may still arrive). Any
/// thread, any number of times; NULL is fine. Async-signal-safe: it only sets an atomic
/// flag and, the first time, `write(2)`s one byte, so a `SIGINT` handler may call it. It
/// leaves the thread's last error as it was.
///
/// # Safety
/// `cancel` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_cancel_trigger(cancel: *mut otlpmetric_cancel) {
    // No `boundary`: nothing here can panic, and it must not allocate in a signal handler.
    if let Some(cancel) = unsafe { cancel.as_ref() } {
        cancel.inner.trigger();
    }
}

/// Frees a cancellation handle. NULL is fine. Not while a call still uses it.
///
/// # Safety
/// `cancel` is NULL or came from `otlpmetric_cancel_new` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_cancel_free(cancel: *mut otlpmetric_cancel) {
    if !cancel.is_null() {
        boundary("otlpmetric_cancel_free", || {
            drop(unsafe { Box::from_raw(cancel) });
            Ok(())
        });
    }
}

/// As `otlpmetric_exporter_upload`, and `OTLPMETRIC_ERR_CANCELLED` as soon as `cancel`
/// is triggered: at once, before validation or sending, when it was triggered before the
/// call; promptly during it, whether the call is connecting, waiting for an answer or
/// waiting to retry (what was already sent may still arrive). NULL `cancel` is a call that
/// cannot be cancelled, exactly `otlpmetric_exporter_upload`.
///
/// # Safety
/// `exporter` is NULL or valid; `data` is NULL or points to `len` readable bytes;
/// `cancel` is NULL or valid for the whole call.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_upload_cancellable(
    exporter: *mut otlpmetric_exporter,
    data: *const u8,
    len: usize,
    timeout_ms: u32,
    cancel: *const otlpmetric_cancel,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_upload_cancellable", || {
        let exporter = unsafe { arg_ref(exporter, "exporter") }?;
        let data = unsafe { arg_bytes(data, len, "resource_metrics") }?;
        exporter
            .inner
            .upload_cancellable(data, call_timeout(timeout_ms), unsafe {
                optional_cancel(cancel)
            })
    })
}

/// As `otlpmetric_exporter_force_flush`, and `OTLPMETRIC_ERR_CANCELLED` as soon as
/// `cancel` is triggered (at once when it was triggered before the call); the uploads it
/// waited for go on. NULL `cancel` is exactly `otlpmetric_exporter_force_flush`.
///
/// # Safety
/// `exporter` is NULL or valid; `cancel` is NULL or valid for the whole call.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_force_flush_cancellable(
    exporter: *mut otlpmetric_exporter,
    timeout_ms: u32,
    cancel: *const otlpmetric_cancel,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_force_flush_cancellable", || {
        unsafe { arg_ref(exporter, "exporter") }?
            .inner
            .force_flush_cancellable(call_timeout(timeout_ms), unsafe { optional_cancel(cancel) })
    })
}
