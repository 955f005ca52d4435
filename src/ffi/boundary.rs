//! Panic catching, the thread's last error, and the argument checks every entry point uses.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::types::{otlpmetric_status, StatusValue};
use crate::error::{Error, ErrorKind, Result};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error (NUL bytes are replaced).
pub(crate) fn set_last_error(message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

/// Runs the body of the entry point `function`: a panic becomes `ERR_INTERNAL`, an error
/// its status; either way the thread's last error says what happened.
pub(crate) fn boundary(function: &str, body: impl FnOnce() -> Result<()>) -> otlpmetric_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => otlpmetric_status::OTLPMETRIC_OK,
        Ok(Err(error)) => {
            set_last_error(&format!("{function}: {error}"));
            error.kind().into()
        }
        Err(payload) => {
            set_last_error(&format!(
                "{function}: internal error (a bug in otlpmetric, please report it): {}",
                panic_message(&*payload)
            ));
            otlpmetric_status::OTLPMETRIC_ERR_INTERNAL
        }
    }
}

/// As [`boundary`], for entry points that return a value: `fallback` on error or panic.
pub(crate) fn boundary_value<T>(
    function: &str,
    fallback: T,
    body: impl FnOnce() -> Result<T>,
) -> T {
    let mut value = None;
    let status = boundary(function, || {
        value = Some(body()?);
        Ok(())
    });
    match (status, value) {
        (otlpmetric_status::OTLPMETRIC_OK, Some(value)) => value,
        _ => fallback,
    }
}

/// A shared reference from a pointer C gave, or `ERR_INVALID_ARGUMENT` naming it.
///
/// # Safety
/// `ptr` is null or points to a live `T`.
pub(crate) unsafe fn arg_ref<'a, T>(ptr: *const T, name: &str) -> Result<&'a T> {
    unsafe { ptr.as_ref() }.ok_or_else(|| Error::invalid(format!("{name} is NULL")))
}

/// A mutable reference from a pointer C gave.
///
/// # Safety
/// `ptr` is null or points to a live `T` no one else uses during the call.
pub(crate) unsafe fn arg_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T> {
    unsafe { ptr.as_mut() }.ok_or_else(|| Error::invalid(format!("{name} is NULL")))
}

/// A UTF-8 string from a NUL-terminated C string.
///
/// # Safety
/// `ptr` is null or a NUL-terminated string.
pub(crate) unsafe fn arg_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("{name} is NULL")));
    }
    unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|e| {
        Error::invalid(format!(
            "{name} is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })
}

/// A byte slice from `(pointer, length)`. NULL is refused whatever the length: the
/// contract says a NULL pointer is `ERR_INVALID_ARGUMENT`, and a NULL buffer is more
/// likely a failed allocation than a wish to send an empty message (any non-NULL
/// pointer with length 0 is that).
///
/// # Safety
/// `ptr` is null or points to `len` readable bytes.
pub(crate) unsafe fn arg_bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("{name} is NULL (length {len})")));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid(format!("{name}: length {len} is too large")));
    }
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

impl From<ErrorKind> for otlpmetric_status {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidArgument => otlpmetric_status::OTLPMETRIC_ERR_INVALID_ARGUMENT,
            ErrorKind::Decode => otlpmetric_status::OTLPMETRIC_ERR_DECODE,
            ErrorKind::Shutdown => otlpmetric_status::OTLPMETRIC_ERR_SHUTDOWN,
            ErrorKind::Timeout => otlpmetric_status::OTLPMETRIC_ERR_TIMEOUT,
            ErrorKind::Export => otlpmetric_status::OTLPMETRIC_ERR_EXPORT,
            ErrorKind::QueueFull => otlpmetric_status::OTLPMETRIC_ERR_QUEUE_FULL,
            ErrorKind::Internal => otlpmetric_status::OTLPMETRIC_ERR_INTERNAL,
            ErrorKind::Cancelled => otlpmetric_status::OTLPMETRIC_ERR_CANCELLED,
        }
    }
}

/// The name of a status code, e.g. `"OTLPMETRIC_ERR_TIMEOUT"`; `"OTLPMETRIC_UNKNOWN_STATUS"`
/// for a value that is not one. Static and never NULL.
#[no_mangle]
pub extern "C" fn otlpmetric_status_str(status: StatusValue) -> *const c_char {
    let name: &'static CStr = match status {
        0 => c"OTLPMETRIC_OK",
        1 => c"OTLPMETRIC_ERR_INVALID_ARGUMENT",
        2 => c"OTLPMETRIC_ERR_DECODE",
        3 => c"OTLPMETRIC_ERR_SHUTDOWN",
        4 => c"OTLPMETRIC_ERR_TIMEOUT",
        5 => c"OTLPMETRIC_ERR_EXPORT",
        6 => c"OTLPMETRIC_ERR_QUEUE_FULL",
        7 => c"OTLPMETRIC_ERR_INTERNAL",
        8 => c"OTLPMETRIC_ERR_CANCELLED",
        _ => c"OTLPMETRIC_UNKNOWN_STATUS",
    };
    name.as_ptr()
}

/// The message of the last failed `otlpmetric_*` call on this thread, or `""` when none
/// has failed. Never NULL. Valid until the next `otlpmetric_*` call on the same thread;
/// copy it to keep it. Messages name what was wrong and where, never a secret.
#[no_mangle]
pub extern "C" fn otlpmetric_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|last| last.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The library's semantic version, e.g. `"0.1.0"`; matches the `OTLPMETRIC_VERSION_*`
/// macros of the header it was built with. Static and never NULL.
#[no_mangle]
pub extern "C" fn otlpmetric_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        unsafe { CStr::from_ptr(otlpmetric_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_err_internal_with_a_message() {
        let status = boundary("otlpmetric_test", || panic!("boom {}", 42));
        assert_eq!(status, otlpmetric_status::OTLPMETRIC_ERR_INTERNAL);
        assert!(last_error().contains("otlpmetric_test: internal error"));
        assert!(last_error().contains("boom 42"));
        let value = boundary_value("otlpmetric_test", -1, || -> Result<i32> { panic!("again") });
        assert_eq!(value, -1);
    }

    #[test]
    fn errors_map_to_their_status_and_success_keeps_the_last_error() {
        let status = boundary("f", || Err(Error::decode("bad byte")));
        assert_eq!(status, otlpmetric_status::OTLPMETRIC_ERR_DECODE);
        assert_eq!(last_error(), "f: bad byte");
        assert_eq!(boundary("g", || Ok(())), otlpmetric_status::OTLPMETRIC_OK);
        assert_eq!(last_error(), "f: bad byte");
    }

    #[test]
    fn argument_checks_name_the_argument() {
        let err = unsafe { arg_bytes(std::ptr::null(), 3, "data") }.unwrap_err();
        assert!(err.message().contains("data is NULL"));
        let err = unsafe { arg_bytes(std::ptr::null(), 0, "data") }.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.message().contains("data is NULL"));
        let one = [7u8];
        assert!(unsafe { arg_bytes(one.as_ptr(), 0, "data") }
            .unwrap()
            .is_empty());
        let err = unsafe { arg_str(c"\xff".as_ptr(), "url") }.unwrap_err();
        assert!(err.message().contains("url is not valid UTF-8"));
        let err = unsafe { arg_ref::<u8>(std::ptr::null(), "exporter") }.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
}
