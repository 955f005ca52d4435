//! Exporter configuration: values set in code win over `OTEL_EXPORTER_OTLP_METRICS_*`,
//! which wins over `OTEL_EXPORTER_OTLP_*`, which wins over the OTLP exporter
//! specification's defaults.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Uri;

use crate::error::{Error, Result};
use crate::log::{LogFn, Logger};
use crate::retry::RetryPolicy;
use crate::selectors::{
    AggregationSelector, HistogramPreference, Selections, TemporalityPreference,
    TemporalitySelector,
};

/// The OTLP transport protocol; numbers as in the C contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC.
    Grpc = 1,
    /// OTLP/HTTP with protobuf bodies.
    HttpProtobuf = 2,
    /// OTLP/HTTP with JSON bodies.
    HttpJson = 3,
}

impl Protocol {
    /// The protocol with number `value`, if there is one.
    pub fn from_i32(value: i32) -> Option<Self> {
        match value {
            1 => Some(Protocol::Grpc),
            2 => Some(Protocol::HttpProtobuf),
            3 => Some(Protocol::HttpJson),
            _ => None,
        }
    }

    /// Parses the spec's `OTEL_EXPORTER_OTLP_PROTOCOL` values.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "http/json" => Some(Protocol::HttpJson),
            _ => None,
        }
    }

    fn is_http(self) -> bool {
        self != Protocol::Grpc
    }
}

/// Payload compression; numbers as in the C contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None = 0,
    /// gzip.
    Gzip = 1,
}

impl Compression {
    /// The compression with number `value`, if there is one.
    pub fn from_i32(value: i32) -> Option<Self> {
        match value {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            _ => None,
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "gzip" => Some(Compression::Gzip),
            "none" => Some(Compression::None),
            _ => None,
        }
    }
}

/// PEM material for TLS, read from files when it was configured.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsMaterial {
    /// CA certificates that replace the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate chain for mutual TLS.
    pub client_cert_pem: Option<Vec<u8>>,
    /// Client private key for mutual TLS. Never printed.
    pub client_key_pem: Option<Vec<u8>>,
    /// The files these came from, for messages.
    pub files: Vec<PathBuf>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// Reads a TLS file named by setting `what`; the message names the file, never its content.
fn read_tls_file(what: &str, path: &Path) -> Result<Vec<u8>> {
    let bytes = fs::read(path)
        .map_err(|e| Error::invalid(format!("{what}: cannot read file {}: {e}", path.display())))?;
    if bytes.is_empty() {
        return Err(Error::invalid(format!(
            "{what}: file {} is empty",
            path.display()
        )));
    }
    Ok(bytes)
}

/// What the `OTEL_EXPORTER_OTLP_*` environment said, parsed; problems become warnings.
#[derive(Clone, Debug, Default)]
struct EnvSettings {
    /// The endpoint and whether it came from the generic variable (which gets `/v1/metrics`).
    endpoint: Option<(Uri, bool)>,
    protocol: Option<Protocol>,
    headers: Option<Vec<(HeaderName, HeaderValue)>>,
    timeout: Option<Duration>,
    compression: Option<Compression>,
    ca_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_key_file: Option<PathBuf>,
    insecure: Option<bool>,
    temporality: Option<TemporalityPreference>,
    histogram: Option<HistogramPreference>,
    warnings: Vec<String>,
}

impl EnvSettings {
    fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut env = EnvSettings::default();
        // The metrics-specific variable wins; an empty value means unset.
        let get = |suffix: &str| -> Option<(String, String, bool)> {
            for (name, generic) in [
                (format!("OTEL_EXPORTER_OTLP_METRICS_{suffix}"), false),
                (format!("OTEL_EXPORTER_OTLP_{suffix}"), true),
            ] {
                if let Some(value) = lookup(&name).filter(|v| !v.trim().is_empty()) {
                    return Some((name, value, generic));
                }
            }
            None
        };
        let mut warn = |name: &str, why: String| {
            env.warnings
                .push(format!("environment variable {name} ignored: {why}"))
        };

        if let Some((name, value, generic)) = get("ENDPOINT") {
            match parse_endpoint(value.trim()) {
                Ok(uri) => env.endpoint = Some((uri, generic)),
                Err(e) => warn(&name, e.message().to_string()),
            }
        }
        if let Some((name, value, _)) = get("PROTOCOL") {
            match Protocol::parse(&value) {
                Some(p) => env.protocol = Some(p),
                None => warn(
                    &name,
                    format!(
                        "unknown protocol {value:?} (expected grpc, http/protobuf or http/json)"
                    ),
                ),
            }
        }
        if let Some((name, value, _)) = get("HEADERS") {
            let mut headers = Vec::new();
            for (i, entry) in value.split(',').enumerate() {
                if entry.trim().is_empty() {
                    continue;
                }
                match parse_header_entry(entry) {
                    Ok(h) => headers.push(h),
                    Err(why) => warn(
                        &name,
                        format!("entry {} is not a valid header: {why}", i + 1),
                    ),
                }
            }
            env.headers = Some(headers);
        }
        if let Some((name, value, _)) = get("TIMEOUT") {
            match value.trim().parse::<u64>() {
                Ok(ms) => env.timeout = Some(Duration::from_millis(ms)),
                Err(_) => warn(
                    &name,
                    format!("{value:?} is not a whole number of milliseconds"),
                ),
            }
        }
        if let Some((name, value, _)) = get("COMPRESSION") {
            match Compression::parse(&value) {
                Some(c) => env.compression = Some(c),
                None => warn(
                    &name,
                    format!("unknown compression {value:?} (expected gzip or none)"),
                ),
            }
        }
        if let Some((name, value, _)) = get("INSECURE") {
            match value.trim().to_ascii_lowercase().as_str() {
                "true" => env.insecure = Some(true),
                "false" => env.insecure = Some(false),
                _ => warn(&name, format!("{value:?} is not true or false")),
            }
        }
        env.ca_file = get("CERTIFICATE").map(|(_, v, _)| PathBuf::from(v));
        env.client_cert_file = get("CLIENT_CERTIFICATE").map(|(_, v, _)| PathBuf::from(v));
        env.client_key_file = get("CLIENT_KEY").map(|(_, v, _)| PathBuf::from(v));

        let name = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
        if let Some(value) = lookup(name).filter(|v| !v.trim().is_empty()) {
            match TemporalityPreference::parse(&value) {
                Some(p) => env.temporality = Some(p),
                None => warn(
                    name,
                    format!(
                        "unknown preference {value:?} (expected cumulative, delta or lowmemory)"
                    ),
                ),
            }
        }
        let name = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION";
        if let Some(value) = lookup(name).filter(|v| !v.trim().is_empty()) {
            match HistogramPreference::parse(&value) {
                Some(h) => env.histogram = Some(h),
                None => warn(name, format!("unknown histogram aggregation {value:?} (expected explicit_bucket_histogram or base2_exponential_bucket_histogram)")),
            }
        }
        env
    }
}

/// Checks an endpoint URL: a scheme of http or https and a host.
fn parse_endpoint(url: &str) -> Result<Uri> {
    let uri: Uri = url
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
    Ok(uri)
}

/// Parses one `key=value` entry of `OTEL_EXPORTER_OTLP_HEADERS` (both percent-decoded).
/// The reason never contains the value.
fn parse_header_entry(entry: &str) -> std::result::Result<(HeaderName, HeaderValue), String> {
    let (key, value) = entry.split_once('=').ok_or("missing '='")?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s.trim())
            .decode_utf8()
            .map(|c| c.into_owned())
    };
    let key = decode(key).map_err(|_| "the key is not UTF-8 after percent-decoding")?;
    let value = decode(value).map_err(|_| "the value is not UTF-8 after percent-decoding")?;
    let name = HeaderName::from_bytes(key.as_bytes())
        .map_err(|_| format!("{key:?} is not a valid header name"))?;
    let mut value = HeaderValue::from_str(&value)
        .map_err(|_| format!("the value of {key:?} has characters not allowed in a header"))?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// Adds `(name, value)` to `headers`, replacing earlier values of the same name.
fn put_header(headers: &mut Vec<(HeaderName, HeaderValue)>, name: HeaderName, value: HeaderValue) {
    headers.retain(|(n, _)| *n != name);
    headers.push((name, value));
}

/// An exporter's configuration, built step by step and then given to
/// [`crate::Exporter::new`]. Setters check their value at once; a refused value leaves
/// the configuration unchanged.
#[derive(Clone, Default)]
pub struct Config {
    endpoint: Option<Uri>,
    protocol: Option<Protocol>,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Option<Duration>,
    compression: Option<Compression>,
    tls: Option<TlsMaterial>,
    insecure: Option<bool>,
    retry: Option<RetryPolicy>,
    temporality_selector: Option<TemporalitySelector>,
    aggregation_selector: Option<AggregationSelector>,
    log: Option<LogFn>,
    max_request_bytes: Option<usize>,
    queue_max_bytes: Option<usize>,
    env: EnvSettings,
}

/// Everything an exporter needs, resolved from code, environment and defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where requests go (for HTTP, the full URL with path).
    pub endpoint: Uri,
    /// The transport protocol.
    pub protocol: Protocol,
    /// Extra headers (values are marked sensitive).
    pub headers: HeaderMap,
    /// The export timeout; `None` means no limit.
    pub timeout: Option<Duration>,
    /// Payload compression.
    pub compression: Compression,
    /// TLS material (empty: system roots, no client certificate).
    pub tls: TlsMaterial,
    /// gRPC without transport security.
    pub insecure: bool,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Largest request, in protobuf bytes before compression.
    pub max_request_bytes: usize,
    /// Largest amount of bytes the asynchronous queue holds.
    pub queue_max_bytes: usize,
    /// Temporality and aggregation for every instrument kind.
    pub selections: Selections,
    /// Self-diagnostics.
    pub logger: Logger,
    /// Problems found in the environment, to report at create.
    pub warnings: Vec<String>,
}

/// The default export timeout of the specification.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default bound of the asynchronous queue.
pub const DEFAULT_QUEUE_MAX_BYTES: usize = 16 * 1024 * 1024;
/// The size above which a request is split: 4 MiB, what gRPC servers and the
/// OpenTelemetry Collector accept by default.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// The largest response body the library reads into memory.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// The smallest `max_request_bytes` accepted: room for a small data point.
pub const MIN_MAX_REQUEST_BYTES: usize = 256;

impl Config {
    /// A configuration that starts from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// A configuration that starts from the variables `lookup` returns.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        Config {
            env: EnvSettings::read(lookup),
            ..Config::default()
        }
    }

    /// Sets the full endpoint URL (for HTTP, including the path).
    pub fn set_endpoint(&mut self, url: &str) -> Result<()> {
        self.endpoint = Some(parse_endpoint(url)?);
        Ok(())
    }

    /// Sets the transport protocol.
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = Some(protocol);
    }

    /// Adds a header sent with every request (replacing one of the same name).
    pub fn add_header(&mut self, key: &str, value: &str) -> Result<()> {
        let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
            Error::invalid(format!("header key {key:?} is not a valid header name"))
        })?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid(format!(
                "the value of header {key:?} has characters not allowed in a header"
            ))
        })?;
        value.set_sensitive(true);
        put_header(&mut self.headers, name, value);
        Ok(())
    }

    /// Sets the export timeout; zero means no limit.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }

    /// Sets payload compression.
    pub fn set_compression(&mut self, compression: Compression) {
        self.compression = Some(compression);
    }

    /// Reads TLS files now: a CA bundle that replaces the system roots, and a client
    /// certificate and key for mutual TLS (both or neither).
    pub fn set_tls(
        &mut self,
        ca_file: Option<&Path>,
        client_cert_file: Option<&Path>,
        client_key_file: Option<&Path>,
    ) -> Result<()> {
        self.tls = Some(load_tls(
            "set_tls",
            ca_file,
            client_cert_file,
            client_key_file,
        )?);
        Ok(())
    }

    /// gRPC only: send without transport security.
    pub fn set_insecure(&mut self, insecure: bool) {
        self.insecure = Some(insecure);
    }

    /// Sets the retry policy. When enabled, `initial` must be positive and at most `max_interval`.
    pub fn set_retry(&mut self, policy: RetryPolicy) -> Result<()> {
        if policy.enabled {
            if policy.initial_interval.is_zero() {
                return Err(Error::invalid("retry: initial interval must be above 0 ms"));
            }
            if policy.max_interval < policy.initial_interval {
                return Err(Error::invalid(
                    "retry: max interval must be at least the initial interval",
                ));
            }
        }
        self.retry = Some(policy);
        Ok(())
    }

    /// Sets (or with `None` resets) the temporality selector.
    pub fn set_temporality_selector(&mut self, selector: Option<TemporalitySelector>) {
        self.temporality_selector = selector;
    }

    /// Sets (or with `None` resets) the aggregation selector.
    pub fn set_aggregation_selector(&mut self, selector: Option<AggregationSelector>) {
        self.aggregation_selector = selector;
    }

    /// Sets (or with `None` removes) the diagnostics callback.
    pub fn set_log_callback(&mut self, callback: Option<LogFn>) {
        self.log = callback;
    }

    /// Sets the largest request in protobuf bytes; larger ones are split.
    pub fn set_max_request_bytes(&mut self, bytes: usize) -> Result<()> {
        if bytes < MIN_MAX_REQUEST_BYTES {
            return Err(Error::invalid(format!(
                "max_request_bytes {bytes} is below the minimum of {MIN_MAX_REQUEST_BYTES}"
            )));
        }
        self.max_request_bytes = Some(bytes);
        Ok(())
    }

    /// Sets the byte bound of the asynchronous queue.
    pub fn set_queue(&mut self, max_bytes: usize) -> Result<()> {
        if max_bytes == 0 {
            return Err(Error::invalid("queue max_bytes must be above 0"));
        }
        self.queue_max_bytes = Some(max_bytes);
        Ok(())
    }

    /// Resolves code, environment and defaults into the settings of one exporter; reads
    /// TLS files named by the environment and consults the selectors.
    pub fn resolve(&self) -> Result<Settings> {
        let env = &self.env;
        let mut warnings = env.warnings.clone();
        let protocol = self
            .protocol
            .or(env.protocol)
            .unwrap_or(Protocol::HttpProtobuf);
        let endpoint = match (&self.endpoint, &env.endpoint) {
            (Some(uri), _) => uri.clone(),
            (None, Some((uri, generic))) if *generic && protocol.is_http() => {
                with_metrics_path(uri)?
            }
            (None, Some((uri, _))) => uri.clone(),
            (None, None) if protocol.is_http() => {
                Uri::from_static("http://localhost:4318/v1/metrics")
            }
            (None, None) => Uri::from_static("http://localhost:4317"),
        };

        let mut header_list = env.headers.clone().unwrap_or_default();
        for (name, value) in &self.headers {
            put_header(&mut header_list, name.clone(), value.clone());
        }
        let mut headers = HeaderMap::new();
        for (name, value) in header_list {
            headers.append(name, value);
        }

        let timeout = self.timeout.or(env.timeout).unwrap_or(DEFAULT_TIMEOUT);
        let tls = match &self.tls {
            Some(tls) => tls.clone(),
            None => load_tls(
                "OTEL_EXPORTER_OTLP_[METRICS_]CERTIFICATE/CLIENT_CERTIFICATE/CLIENT_KEY",
                env.ca_file.as_deref(),
                env.client_cert_file.as_deref(),
                env.client_key_file.as_deref(),
            )?,
        };
        let insecure = self.insecure.or(env.insecure).unwrap_or(false);
        if insecure && protocol.is_http() {
            warnings.push("insecure applies to gRPC only; ignored for OTLP/HTTP (the endpoint's scheme decides)".into());
        }
        let selections = Selections::resolve(
            env.temporality.unwrap_or_default(),
            env.histogram.unwrap_or_default(),
            self.temporality_selector.as_ref(),
            self.aggregation_selector.as_ref(),
        )?;
        Ok(Settings {
            endpoint,
            protocol,
            headers,
            timeout: (!timeout.is_zero()).then_some(timeout),
            compression: self.compression.or(env.compression).unwrap_or_default(),
            tls,
            insecure: insecure && protocol == Protocol::Grpc,
            retry: self.retry.unwrap_or_default(),
            max_request_bytes: self
                .max_request_bytes
                .unwrap_or(DEFAULT_MAX_REQUEST_BYTES),
            queue_max_bytes: self.queue_max_bytes.unwrap_or(DEFAULT_QUEUE_MAX_BYTES),
            selections,
            logger: Logger::new(self.log.clone()),
            warnings,
        })
    }
}

/// The generic endpoint with `/v1/metrics` appended to its path, as the spec says.
fn with_metrics_path(uri: &Uri) -> Result<Uri> {
    let base = uri.path().trim_end_matches('/');
    let path = format!("{base}/v1/metrics");
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        path.parse()
            .map_err(|e| Error::invalid(format!("endpoint path {path:?}: {e}")))?,
    );
    Uri::from_parts(parts).map_err(|e| Error::invalid(format!("endpoint: {e}")))
}

fn load_tls(
    what: &str,
    ca_file: Option<&Path>,
    client_cert_file: Option<&Path>,
    client_key_file: Option<&Path>,
) -> Result<TlsMaterial> {
    if client_cert_file.is_some() != client_key_file.is_some() {
        return Err(Error::invalid(format!(
            "{what}: a client certificate and a client key are needed together"
        )));
    }
    let mut tls = TlsMaterial::default();
    if let Some(path) = ca_file {
        tls.ca_pem = Some(read_tls_file(what, path)?);
        tls.files.push(path.to_path_buf());
    }
    if let (Some(cert), Some(key)) = (client_cert_file, client_key_file) {
        tls.client_cert_pem = Some(read_tls_file(what, cert)?);
        tls.client_key_pem = Some(read_tls_file(what, key)?);
        tls.files.push(cert.to_path_buf());
        tls.files.push(key.to_path_buf());
    }
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Config {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&move |name| map.get(name).cloned())
    }

    #[test]
    fn spec_defaults() {
        let s = config(&[]).resolve().unwrap();
        assert_eq!(s.protocol, Protocol::HttpProtobuf);
        assert_eq!(s.endpoint, "http://localhost:4318/v1/metrics");
        assert_eq!(s.timeout, Some(Duration::from_secs(10)));
        assert_eq!(s.compression, Compression::None);
        assert_eq!(s.retry, RetryPolicy::default());
        assert_eq!(s.max_request_bytes, 4 << 20);
        let mut c = config(&[]);
        c.set_protocol(Protocol::Grpc);
        assert_eq!(c.resolve().unwrap().endpoint, "http://localhost:4317/");
    }

    #[test]
    fn generic_endpoint_gets_the_path_and_specific_one_does_not() {
        let s = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")])
            .resolve()
            .unwrap();
        assert_eq!(s.endpoint, "http://collector:4318/v1/metrics");
        let s = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:1"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://b:2/custom"),
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.endpoint, "http://b:2/custom");
        let s = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.endpoint, "http://a:4317/");
    }

    #[test]
    fn code_wins_over_metrics_env_over_generic_env() {
        let mut c = config(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "2000"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", ""),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ]);
        let s = c.resolve().unwrap();
        assert_eq!(s.timeout, Some(Duration::from_secs(2)));
        assert_eq!(s.protocol, Protocol::Grpc, "empty means unset");
        assert_eq!(s.compression, Compression::Gzip);
        c.set_timeout(Duration::ZERO);
        c.set_protocol(Protocol::HttpJson);
        let s = c.resolve().unwrap();
        assert_eq!(s.timeout, None, "zero means no limit");
        assert_eq!(s.protocol, Protocol::HttpJson);
    }

    #[test]
    fn bad_env_values_become_warnings_naming_the_variable() {
        let s = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "weekly",
            ),
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.protocol, Protocol::HttpProtobuf);
        assert_eq!(s.timeout, Some(DEFAULT_TIMEOUT));
        let all = s.warnings.join("\n");
        for name in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        ] {
            assert!(all.contains(name), "{name} missing in {all}");
        }
    }

    #[test]
    fn headers_are_percent_decoded_and_the_metrics_list_replaces_the_generic_one() {
        let s = config(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
                "api-key=s%20ecret%3D,x-tenant=t1, bad entry ,y=",
            ),
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.headers.get("api-key").unwrap(), "s ecret=");
        assert_eq!(s.headers.get("x-tenant").unwrap(), "t1");
        assert_eq!(s.headers.get("y").unwrap(), "");
        assert!(s.headers.get("a").is_none());
        assert_eq!(s.warnings.len(), 1);
        assert!(!s.warnings[0].contains("s ecret"));
    }

    #[test]
    fn code_headers_replace_env_headers() {
        let mut c = config(&[("OTEL_EXPORTER_OTLP_HEADERS", "k=env")]);
        c.add_header("k", "code").unwrap();
        assert_eq!(c.resolve().unwrap().headers.get("k").unwrap(), "code");
        let err = c.add_header("bad key", "topsecret").unwrap_err();
        assert!(!err.message().contains("topsecret"));
        let err = c.add_header("k2", "line\nbreak-secret").unwrap_err();
        assert!(!err.message().contains("secret"), "{err}");
    }

    #[test]
    fn setters_check_values_at_once() {
        let mut c = config(&[]);
        for bad in [
            "",
            "localhost:4318",
            "ftp://x/",
            "http://",
            "http:// spaces",
        ] {
            assert!(c.set_endpoint(bad).is_err(), "{bad:?} accepted");
        }
        c.set_endpoint("https://example.com:4318/v1/metrics")
            .unwrap();
        assert!(c.set_max_request_bytes(10).is_err());
        assert!(c.set_queue(0).is_err());
        assert!(c
            .set_tls(Some(Path::new("/nonexistent/ca.pem")), None, None)
            .unwrap_err()
            .message()
            .contains("/nonexistent/ca.pem"));
        assert!(c
            .set_tls(None, Some(Path::new("/etc/hostname")), None)
            .is_err());
        assert!(c
            .set_retry(RetryPolicy {
                enabled: true,
                initial_interval: Duration::ZERO,
                ..RetryPolicy::default()
            })
            .is_err());
        assert_eq!(
            c.resolve().unwrap().endpoint,
            "https://example.com:4318/v1/metrics"
        );
    }

    #[test]
    fn missing_env_tls_file_fails_at_resolve_naming_it() {
        let err = config(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nope/ca.pem")])
            .resolve()
            .unwrap_err();
        assert!(err.message().contains("/nope/ca.pem"), "{err}");
    }
}
