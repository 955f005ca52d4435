//! Endpoint URLs: what `set_endpoint` and `OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT` accept,
//! and the path the spec appends to the generic endpoint.

use std::path::PathBuf;

use http::Uri;

use super::unix_socket::unix_target;
use crate::error::{Error, Result};

/// Where an endpoint setting points: a URL, or a gRPC `unix:` target.
#[derive(Clone, Debug)]
pub(super) enum Target {
    Url(Uri),
    Unix(PathBuf),
}

impl Target {
    /// An `http(s)://` URL, or a `unix:` target as gRPC spells it.
    pub(super) fn parse(raw: &str) -> Result<Self> {
        match unix_target(raw) {
            Some(path) => Ok(Target::Unix(path?)),
            None => Ok(Target::Url(parse_endpoint(raw)?)),
        }
    }
}

/// Checks an endpoint URL: a scheme of http or https, a host, and a port (when given)
/// in 1-65535.
pub(super) fn parse_endpoint(raw: &str) -> Result<Uri> {
    // Messages show the URL without its user information, which may be a password.
    let shown = without_user_info(raw);
    let url = shown.as_str();
    let uri: Uri = raw
        .parse()
        .map_err(|e| Error::invalid(format!("endpoint {url:?} is not a valid URL: {e}")))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        Some(other) => {
            return Err(Error::invalid(format!(
                "endpoint {url:?}: scheme {other:?} is not http or https"
            )))
        }
        None => {
            return Err(Error::invalid(format!(
                "endpoint {url:?} has no scheme (use http:// or https://)"
            )))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(Error::invalid(format!("endpoint {url:?} has no host")));
    }
    if let Some(port) = uri.authority().and_then(|a| port_text(a.as_str())) {
        check_port(port).map_err(|why| Error::invalid(format!("endpoint {url:?}: {why}")))?;
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        // Nothing would send it (no client takes credentials from the URL here), and every
        // message naming the endpoint would carry it.
        return Err(Error::invalid(format!(
            "endpoint {url:?} has user information; send credentials in a header instead"
        )));
    }
    Ok(uri)
}

/// `url` with any user information (`user:password@`) replaced by `***@`; a URL without
/// a scheme (as proxy URLs may be written) starts with its authority.
pub(super) fn without_user_info(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// The text after the port colon of `authority`, if it has one. The `http` crate parses
/// URLs with any characters there and only reports the port when it fits a `u16`, so the
/// text is found here to be checked.
pub(super) fn port_text(authority: &str) -> Option<&str> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let after_host = match host_port.strip_prefix('[') {
        // An IPv6 literal: its colons are not the port's.
        Some(ipv6) => &ipv6[ipv6.find(']')? + 1..],
        None => host_port,
    };
    after_host.split_once(':').map(|(_, port)| port)
}

/// An empty port means the scheme's default (RFC 3986); anything else is a number in
/// 1-65535.
pub(super) fn check_port(port: &str) -> std::result::Result<(), String> {
    if port.is_empty() {
        return Ok(());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {port:?} is not a number"));
    }
    match port.parse::<u16>() {
        Ok(n) if n != 0 => Ok(()),
        _ => Err(format!("port {port} is outside 1-65535")),
    }
}

/// The generic endpoint with `/v1/metrics` appended to its path, as the spec says.
pub(super) fn with_metrics_path(uri: &Uri) -> Result<Uri> {
    let base = uri.path().trim_end_matches('/');
    let path = format!("{base}/v1/metrics");
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        path.parse()
            .map_err(|e| Error::invalid(format!("endpoint path {path:?}: {e}")))?,
    );
    Uri::from_parts(parts).map_err(|e| Error::invalid(format!("endpoint: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_is_refused_and_never_shown() {
        for url in [
            "http://user:hunter2@collector:4318/v1/metrics",
            "https://hunter2@collector/",
            "http://user:hunter2@collector:99999/",
            "ftp://user:hunter2@collector/",
        ] {
            let err = parse_endpoint(url).expect_err(url);
            assert!(!err.message().contains("hunter2"), "{err}");
            assert!(err.message().contains("***@collector"), "{err}");
        }
    }

    #[test]
    fn ports_outside_1_to_65535_are_refused_saying_so() {
        for url in [
            "http://127.0.0.1:99999/v1/metrics",
            "http://127.0.0.1:65536",
            "http://localhost:0/v1/metrics",
            "https://[::1]:70000/",
            "http://user@collector:123456789012345678901234567890/",
        ] {
            let err = parse_endpoint(url).expect_err(url);
            assert!(err.message().contains("outside 1-65535"), "{err}");
        }
        let err = parse_endpoint("http://collector:http/").unwrap_err();
        assert!(err.message().contains("not a number"), "{err}");
    }

    #[test]
    fn ports_in_range_and_default_ports_are_accepted() {
        for url in [
            "http://127.0.0.1:1",
            "http://127.0.0.1:65535/v1/metrics",
            "https://[::1]:4317",
            "https://[::1]/v1/metrics",
            "http://collector/v1/metrics",
            "http://collector:/v1/metrics",
        ] {
            parse_endpoint(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }
}
