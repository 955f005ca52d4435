//! Headers: the checks every header passes, and the headers a callback adds to each
//! attempt (a token that changes while the exporter lives).

use std::fmt;
use std::sync::Arc;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{Error, Result};

/// Called before each attempt to add headers to it; `Err` (a short reason, never a
/// header value) fails that attempt, retryably. Runs on the thread that makes the
/// attempt: the caller's for an upload, the exporter's worker for the queue.
#[derive(Clone)]
pub struct HeaderCallback(Arc<HeaderFn>);

type HeaderFn = dyn Fn(&mut AttemptHeaders) -> std::result::Result<(), String> + Send + Sync;

impl HeaderCallback {
    /// Wraps `callback`.
    pub fn new(
        callback: impl Fn(&mut AttemptHeaders) -> std::result::Result<(), String>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        HeaderCallback(Arc::new(callback))
    }

    /// The headers of one attempt, or why the callback refused it.
    pub(crate) fn headers(&self) -> std::result::Result<AttemptHeaders, String> {
        let mut headers = AttemptHeaders::default();
        (self.0)(&mut headers)?;
        Ok(headers)
    }
}

impl fmt::Debug for HeaderCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeaderCallback")
    }
}

/// Names the library sets itself for the protocol's framing, which a callback may not
/// replace.
const RESERVED: [&str; 7] = [
    "content-type",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "te",
];

/// The headers a [`HeaderCallback`] adds to one attempt.
#[derive(Default)]
pub struct AttemptHeaders {
    pairs: Vec<(HeaderName, HeaderValue)>,
}

impl AttemptHeaders {
    /// Adds a header to this attempt. A name the configuration also has replaces its
    /// configured value for this attempt; a name added twice is sent twice. Refused (the
    /// message names the key, never the value): an invalid name or value, and the
    /// headers the protocol's framing needs (`content-type`, `te`, `grpc-*`, ...).
    pub fn add(&mut self, key: &str, value: &str) -> Result<()> {
        let (name, value) = checked_header(key, value)?;
        if RESERVED.contains(&name.as_str()) || name.as_str().starts_with("grpc-") {
            return Err(Error::invalid(format!(
                "header {key:?} is set by the library for the protocol and cannot be added"
            )));
        }
        self.pairs.push((name, value));
        Ok(())
    }

    /// Puts these headers into `headers`, replacing the values of the same names.
    pub(crate) fn apply_to(&self, headers: &mut HeaderMap) {
        for (name, _) in &self.pairs {
            headers.remove(name);
        }
        for (name, value) in &self.pairs {
            headers.append(name.clone(), value.clone());
        }
    }
}

/// A header name and value, checked; the value is marked sensitive (never printed).
pub(crate) fn checked_header(key: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let name = HeaderName::from_bytes(key.as_bytes())
        .map_err(|_| Error::invalid(format!("header key {key:?} is not a valid header name")))?;
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        Error::invalid(format!(
            "the value of header {key:?} has characters not allowed in a header"
        ))
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_and_reserved_headers_are_refused_without_their_value() {
        let mut headers = AttemptHeaders::default();
        for (key, value) in [
            ("bad key", "secret-1"),
            ("x-token", "line\nsecret-2"),
            ("Content-Type", "secret-3"),
            ("grpc-timeout", "secret-4"),
            ("", "secret-5"),
        ] {
            let err = headers.add(key, value).unwrap_err();
            assert!(!err.message().contains("secret"), "{err}");
            assert!(err.message().contains(&format!("{key:?}")), "{err}");
        }
        assert!(headers.pairs.is_empty());
    }

    #[test]
    fn added_headers_replace_configured_ones_of_the_same_name() {
        let mut configured = HeaderMap::new();
        configured.insert("authorization", HeaderValue::from_static("old"));
        configured.insert("x-keep", HeaderValue::from_static("kept"));
        let mut headers = AttemptHeaders::default();
        headers.add("Authorization", "Bearer new").unwrap();
        headers.add("x-multi", "1").unwrap();
        headers.add("x-multi", "2").unwrap();
        headers.apply_to(&mut configured);
        assert_eq!(configured["authorization"], "Bearer new");
        assert!(configured["authorization"].is_sensitive());
        assert_eq!(configured["x-keep"], "kept");
        assert_eq!(configured.get_all("x-multi").iter().count(), 2);
    }
}
