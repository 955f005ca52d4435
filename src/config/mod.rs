//! Exporter configuration: values set in code win over `OTEL_EXPORTER_OTLP_METRICS_*`,
//! which wins over `OTEL_EXPORTER_OTLP_*`, which wins over the OTLP exporter
//! specification's defaults.

mod defaults;
mod endpoint;
mod env;
mod headers;
mod network;
mod protocol;
mod tls;
mod unix_socket;

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Uri;

use crate::error::{Error, Result};
use crate::log::{LogFn, Logger};
use crate::retry::RetryPolicy;
use crate::selectors::{AggregationSelector, Selections, TemporalitySelector};
use crate::spool::{Durability, FullPolicy, SpoolOptions, MIN_MAX_BYTES};

use endpoint::{with_metrics_path, Target};
use env::EnvSettings;
pub use headers::{AttemptHeaders, HeaderCallback};
pub use network::Proxy;
use network::{parse_proxy_url, resolve_proxy, ProxyChoice};
pub use protocol::{Compression, Protocol};
pub use tls::TlsMaterial;
pub(crate) use tls::{ClientIdentity, PemCertificates};
use unix_socket::check_unix_socket_path;

/// An exporter's configuration, built step by step and then given to
/// [`crate::Exporter::new`]. Setters check their value at once; a refused value leaves
/// the configuration unchanged.
#[derive(Clone, Default)]
pub struct Config {
    endpoint: Option<Target>,
    proxy: ProxyChoice,
    unix_socket: Option<PathBuf>,
    protocol: Option<Protocol>,
    headers: Vec<(HeaderName, HeaderValue)>,
    header_callback: Option<HeaderCallback>,
    timeout: Option<Duration>,
    compression: Option<Compression>,
    tls: Option<TlsMaterial>,
    insecure: Option<bool>,
    retry: Option<RetryPolicy>,
    temporality_selector: Option<TemporalitySelector>,
    aggregation_selector: Option<AggregationSelector>,
    log: Option<LogFn>,
    max_request_bytes: Option<usize>,
    max_response_bytes: Option<usize>,
    queue_max_bytes: Option<usize>,
    /// `Some(None)`: in memory only, whatever the environment says.
    spool: Option<Option<(PathBuf, u64)>>,
    spool_durability: Option<Durability>,
    spool_full_policy: Option<FullPolicy>,
    env: EnvSettings,
}

/// Everything an exporter needs, resolved from code, environment and defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where requests go (for HTTP, the full URL with path). With a Unix socket it gives
    /// the scheme, `Host` and path.
    pub endpoint: Uri,
    /// Connect to this Unix domain socket instead of the endpoint's host and port.
    pub unix_socket: Option<PathBuf>,
    /// The HTTP proxy connections go through, if any (never with a Unix socket).
    pub proxy: Option<Proxy>,
    /// The transport protocol.
    pub protocol: Protocol,
    /// Extra headers (values are marked sensitive).
    pub headers: HeaderMap,
    /// Adds headers to each attempt.
    pub header_callback: Option<HeaderCallback>,
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
    /// Largest response body read into memory.
    pub max_response_bytes: usize,
    /// Largest amount of bytes the asynchronous queue holds.
    pub queue_max_bytes: usize,
    /// Whether the queue's bound (or a spool) was set: the meter provider then enqueues
    /// its exports rather than uploading them.
    pub queue_chosen: bool,
    /// The disk spool that replaces the in-memory queue, if any.
    pub spool: Option<SpoolOptions>,
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
/// The spool's bound when `OTLPMETRIC_SPOOL_DIR` names a directory and
/// `OTLPMETRIC_SPOOL_MAX_BYTES` is unset.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// The size above which a request is split: 4 MiB, what gRPC servers and the
/// OpenTelemetry Collector accept by default.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// The default largest response body the library reads into memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// The smallest `max_request_bytes` accepted: room for a small data point.
pub const MIN_MAX_REQUEST_BYTES: usize = 256;

impl Config {
    /// A configuration that starts from the process environment (`OTEL_EXPORTER_OTLP_*` and
    /// the proxy variables).
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

    /// Sets the full endpoint URL (for HTTP, including the path), or for gRPC a Unix socket
    /// target as gRPC writes it (`unix:///path`, `unix:relative`).
    pub fn set_endpoint(&mut self, url: &str) -> Result<()> {
        self.endpoint = Some(Target::parse(url)?);
        Ok(())
    }

    /// Sets the HTTP proxy: `Some(url)` for every endpoint (`http://[user:password@]host:port`;
    /// the environment's proxy variables and `NO_PROXY` no longer apply), `Some("")` for
    /// none, `None` for what the environment says (the default).
    pub fn set_proxy(&mut self, url: Option<&str>) -> Result<()> {
        self.proxy = match url {
            None => ProxyChoice::FromEnvironment,
            Some("") => ProxyChoice::Off,
            Some(url) => ProxyChoice::Url(parse_proxy_url(url)?),
        };
        Ok(())
    }

    /// Connects to the Unix domain socket at `path` (`None`: TCP, the default); the
    /// endpoint URL still gives the scheme, `Host` and path, as with curl's `--unix-socket`.
    pub fn set_unix_socket(&mut self, path: Option<&str>) -> Result<()> {
        self.unix_socket = path.map(check_unix_socket_path).transpose()?;
        Ok(())
    }

    /// Sets the transport protocol.
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = Some(protocol);
    }

    /// Adds a header sent with every request (replacing one of the same name).
    pub fn add_header(&mut self, key: &str, value: &str) -> Result<()> {
        let (name, value) = headers::checked_header(key, value)?;
        put_header(&mut self.headers, name, value);
        Ok(())
    }

    /// Sets (or with `None` removes) the callback that adds headers to each attempt.
    pub fn set_header_callback(&mut self, callback: Option<HeaderCallback>) {
        self.header_callback = callback;
    }

    /// Sets the export timeout; zero means no limit.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }

    /// Sets payload compression.
    pub fn set_compression(&mut self, compression: Compression) {
        self.compression = Some(compression);
    }

    /// Reads and checks TLS files now, whatever the endpoint: a CA bundle that replaces
    /// the system roots, and a client certificate and key for mutual TLS (both or
    /// neither, and they must match).
    pub fn set_tls(
        &mut self,
        ca_file: Option<&Path>,
        client_cert_file: Option<&Path>,
        client_key_file: Option<&Path>,
    ) -> Result<()> {
        self.tls = Some(TlsMaterial::load(
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

    /// Sets the largest response body read into memory; a larger one fails the attempt.
    pub fn set_max_response_bytes(&mut self, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Err(Error::invalid("max_response_bytes must be above 0"));
        }
        self.max_response_bytes = Some(bytes);
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

    /// Spools enqueued data in `directory` (created if missing), holding at most
    /// `max_bytes` there; `None`: in memory only, whatever the environment says.
    pub fn set_spool(&mut self, directory: Option<&str>, max_bytes: usize) -> Result<()> {
        let Some(directory) = directory else {
            self.spool = Some(None);
            return Ok(());
        };
        if directory.is_empty() {
            return Err(Error::invalid(
                "spool directory is empty (pass NULL for no spool)",
            ));
        }
        check_spool_max_bytes(max_bytes as u64)?;
        self.spool = Some(Some((PathBuf::from(directory), max_bytes as u64)));
        Ok(())
    }

    /// Sets when spooled records are forced to disk (default: every second).
    pub fn set_spool_durability(&mut self, durability: Durability) -> Result<()> {
        if durability == Durability::Interval(Duration::ZERO) {
            return Err(Error::invalid(
                "spool durability: the sync interval must be above 0 ms",
            ));
        }
        self.spool_durability = Some(durability);
        Ok(())
    }

    /// Sets what a full spool does (default: drop the oldest records).
    pub fn set_spool_full_policy(&mut self, policy: FullPolicy) {
        self.spool_full_policy = Some(policy);
    }

    /// Resolves code, environment and defaults into the settings of one exporter; reads
    /// and checks TLS files named by the environment and consults the selectors.
    pub fn resolve(&self) -> Result<Settings> {
        let env = &self.env;
        let mut warnings = env.warnings.clone();
        let protocol = self
            .protocol
            .or(env.protocol)
            .unwrap_or(Protocol::HttpProtobuf);
        let mut endpoint_socket = None;
        let endpoint = match (&self.endpoint, &env.endpoint) {
            (Some(Target::Unix(path)), _) | (None, Some((Target::Unix(path), _))) => {
                if protocol.is_http() {
                    return Err(Error::invalid(format!(
                        "endpoint unix:{}: unix: endpoints are gRPC's; for OTLP/HTTP set an \
                         http:// endpoint and set_unix_socket",
                        path.display()
                    )));
                }
                endpoint_socket = Some(path.clone());
                Uri::from_static(unix_socket::UNIX_TARGET_AUTHORITY)
            }
            (Some(Target::Url(uri)), _) => uri.clone(),
            (None, Some((Target::Url(uri), generic))) if *generic && protocol.is_http() => {
                with_metrics_path(uri)?
            }
            (None, Some((Target::Url(uri), _))) => uri.clone(),
            (None, None) if protocol.is_http() => {
                Uri::from_static("http://localhost:4318/v1/metrics")
            }
            (None, None) => Uri::from_static("http://localhost:4317"),
        };
        let unix_socket = self.unix_socket.clone().or(endpoint_socket);
        // A socket file is local: a proxy has no part in reaching it.
        let proxy = match unix_socket {
            Some(_) => None,
            None => resolve_proxy(
                &self.proxy,
                &env.proxies,
                &endpoint,
                protocol == Protocol::Grpc,
            )?,
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
            None => TlsMaterial::load(
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
        let spool_place = match &self.spool {
            Some(choice) => choice.clone(),
            None => env
                .spool_dir
                .clone()
                .map(|dir| (dir, env.spool_max_bytes.unwrap_or(DEFAULT_SPOOL_MAX_BYTES))),
        };
        let spool = spool_place.map(|(directory, max_bytes)| SpoolOptions {
            directory,
            max_bytes,
            durability: self
                .spool_durability
                .or(env.spool_durability)
                .unwrap_or_default(),
            full_policy: self.spool_full_policy.unwrap_or_default(),
        });
        Ok(Settings {
            endpoint,
            unix_socket,
            proxy,
            protocol,
            headers,
            header_callback: self.header_callback.clone(),
            timeout: (!timeout.is_zero()).then_some(timeout),
            compression: self.compression.or(env.compression).unwrap_or_default(),
            tls,
            insecure: insecure && protocol == Protocol::Grpc,
            retry: self.retry.unwrap_or_default(),
            max_request_bytes: self.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES),
            max_response_bytes: self
                .max_response_bytes
                .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            queue_max_bytes: self.queue_max_bytes.unwrap_or(DEFAULT_QUEUE_MAX_BYTES),
            queue_chosen: self.queue_max_bytes.is_some() || spool.is_some(),
            spool,
            selections,
            logger: Logger::new(self.log.clone()),
            warnings,
        })
    }
}

/// A spool bound must leave room for a few records.
fn check_spool_max_bytes(max_bytes: u64) -> Result<()> {
    if max_bytes < MIN_MAX_BYTES {
        return Err(Error::invalid(format!(
            "spool max_bytes {max_bytes} is below the minimum of {MIN_MAX_BYTES}"
        )));
    }
    Ok(())
}

/// Adds `(name, value)` to `headers`, replacing earlier values of the same name.
fn put_header(headers: &mut Vec<(HeaderName, HeaderValue)>, name: HeaderName, value: HeaderValue) {
    headers.retain(|(n, _)| *n != name);
    headers.push((name, value));
}

#[cfg(test)]
impl Config {
    /// A configuration that starts from exactly these variables.
    fn from_vars(vars: &[(&str, &str)]) -> Self {
        let map: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&move |name| map.get(name).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_vars(vars)
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
            "http://127.0.0.1:99999/v1/metrics",
            "http://127.0.0.1:0/v1/metrics",
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
    fn spool_from_code_wins_over_the_environment() {
        let vars = [
            ("OTLPMETRIC_SPOOL_DIR", "/var/spool/otlp"),
            ("OTLPMETRIC_SPOOL_MAX_BYTES", "1048576"),
            ("OTLPMETRIC_SPOOL_DURABILITY", "record"),
        ];
        let s = config(&vars).resolve().unwrap();
        let spool = s.spool.unwrap();
        assert_eq!(spool.directory, Path::new("/var/spool/otlp"));
        assert_eq!(spool.max_bytes, 1 << 20);
        assert_eq!(spool.durability, Durability::EveryRecord);
        assert_eq!(spool.full_policy, FullPolicy::DropOldest);
        let mut c = config(&vars);
        c.set_spool(None, 0).unwrap();
        assert!(
            c.resolve().unwrap().spool.is_none(),
            "NULL means in memory only"
        );
        c.set_spool(Some("/tmp/s"), 8192).unwrap();
        c.set_spool_durability(Durability::Never).unwrap();
        c.set_spool_full_policy(FullPolicy::RefuseNew);
        let spool = c.resolve().unwrap().spool.unwrap();
        assert_eq!(
            (spool.max_bytes, spool.durability, spool.full_policy),
            (8192, Durability::Never, FullPolicy::RefuseNew)
        );
        assert!(c.set_spool(Some(""), 8192).is_err());
        assert!(c.set_spool(Some("/tmp/s"), 100).is_err());
        assert!(c
            .set_spool_durability(Durability::Interval(Duration::ZERO))
            .is_err());
        let s = config(&[("OTLPMETRIC_SPOOL_DIR", "/x")]).resolve().unwrap();
        assert_eq!(s.spool.unwrap().max_bytes, DEFAULT_SPOOL_MAX_BYTES);
        let s = config(&[
            ("OTLPMETRIC_SPOOL_DIR", "/x"),
            ("OTLPMETRIC_SPOOL_MAX_BYTES", "lots"),
            ("OTLPMETRIC_SPOOL_DURABILITY", "always"),
        ])
        .resolve()
        .unwrap();
        let spool = s.spool.unwrap();
        assert_eq!(
            (spool.max_bytes, spool.durability),
            (DEFAULT_SPOOL_MAX_BYTES, Durability::default())
        );
        let all = s.warnings.join("\n");
        assert!(
            all.contains("OTLPMETRIC_SPOOL_MAX_BYTES")
                && all.contains("OTLPMETRIC_SPOOL_DURABILITY"),
            "{all}"
        );
        assert_eq!(
            config(&[]).resolve().unwrap().spool,
            None,
            "no spool by default"
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
