//! The `OTEL_EXPORTER_OTLP_*` environment, read once into [`EnvSettings`]: one table row
//! per variable, whose parser stores what it understood; anything else becomes a warning
//! naming the variable, reported when the exporter is created.

use std::path::PathBuf;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};

use super::endpoint::Target;
use super::network::EnvProxies;
use super::protocol::{Compression, Protocol};
use crate::selectors::{HistogramPreference, TemporalityPreference};
use crate::spool::{Durability, MIN_MAX_BYTES};

/// What the `OTEL_EXPORTER_OTLP_*` environment said, parsed; problems become warnings.
#[derive(Clone, Debug, Default)]
pub(super) struct EnvSettings {
    /// The endpoint and whether it came from the generic variable (which gets `/v1/metrics`).
    pub(super) endpoint: Option<(Target, bool)>,
    pub(super) protocol: Option<Protocol>,
    pub(super) headers: Option<Vec<(HeaderName, HeaderValue)>>,
    pub(super) timeout: Option<Duration>,
    pub(super) compression: Option<Compression>,
    /// TLS files: read and checked at resolve, which can fail (reading the environment cannot).
    pub(super) ca_file: Option<PathBuf>,
    pub(super) client_cert_file: Option<PathBuf>,
    pub(super) client_key_file: Option<PathBuf>,
    pub(super) insecure: Option<bool>,
    pub(super) temporality: Option<TemporalityPreference>,
    pub(super) histogram: Option<HistogramPreference>,
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` (not `OTEL_` variables; no table row).
    pub(super) proxies: EnvProxies,
    /// `OTLPMETRIC_SPOOL_*` (the library's own variables; no table row).
    pub(super) spool_dir: Option<PathBuf>,
    pub(super) spool_max_bytes: Option<u64>,
    pub(super) spool_durability: Option<Durability>,
    pub(super) warnings: Vec<String>,
}

/// One variable found set (not empty).
struct Found {
    name: String,
    value: String,
    /// Whether it is the generic `OTEL_EXPORTER_OTLP_*` one rather than the metrics one.
    generic: bool,
}

/// Which names a row's suffix takes.
#[derive(Clone, Copy)]
enum Names {
    /// `OTEL_EXPORTER_OTLP_METRICS_<suffix>`, else `OTEL_EXPORTER_OTLP_<suffix>`.
    MetricsThenGeneric,
    /// `OTEL_EXPORTER_OTLP_METRICS_<suffix>` only: the spec defines no generic form.
    MetricsOnly,
}

/// One row of the table: a variable and the parser that stores its value.
struct Variable {
    suffix: &'static str,
    names: Names,
    parse: fn(&mut EnvSettings, &Found),
}

const VARIABLES: &[Variable] = &[
    Variable {
        suffix: "ENDPOINT",
        names: Names::MetricsThenGeneric,
        parse: |env, found| match Target::parse(found.value.trim()) {
            Ok(target) => env.endpoint = Some((target, found.generic)),
            Err(e) => env.warn(found, e.message().to_string()),
        },
    },
    Variable {
        suffix: "PROTOCOL",
        names: Names::MetricsThenGeneric,
        parse: |env, found| match Protocol::parse(&found.value) {
            Some(p) => env.protocol = Some(p),
            None => env.warn(
                found,
                format!(
                    "unknown protocol {:?} (expected grpc, http/protobuf or http/json)",
                    found.value
                ),
            ),
        },
    },
    Variable {
        suffix: "HEADERS",
        names: Names::MetricsThenGeneric,
        parse: parse_headers,
    },
    Variable {
        suffix: "TIMEOUT",
        names: Names::MetricsThenGeneric,
        parse: |env, found| match found.value.trim().parse::<u64>() {
            Ok(ms) => env.timeout = Some(Duration::from_millis(ms)),
            Err(_) => env.warn(
                found,
                format!("{:?} is not a whole number of milliseconds", found.value),
            ),
        },
    },
    Variable {
        suffix: "COMPRESSION",
        names: Names::MetricsThenGeneric,
        parse: |env, found| match Compression::parse(&found.value) {
            Some(c) => env.compression = Some(c),
            None => env.warn(
                found,
                format!(
                    "unknown compression {:?} (expected gzip, zstd or none)",
                    found.value
                ),
            ),
        },
    },
    Variable {
        suffix: "INSECURE",
        names: Names::MetricsThenGeneric,
        parse: |env, found| match found.value.trim().to_ascii_lowercase().as_str() {
            "true" => env.insecure = Some(true),
            "false" => env.insecure = Some(false),
            _ => env.warn(found, format!("{:?} is not true or false", found.value)),
        },
    },
    Variable {
        suffix: "CERTIFICATE",
        names: Names::MetricsThenGeneric,
        parse: |env, found| env.ca_file = Some(PathBuf::from(&found.value)),
    },
    Variable {
        suffix: "CLIENT_CERTIFICATE",
        names: Names::MetricsThenGeneric,
        parse: |env, found| env.client_cert_file = Some(PathBuf::from(&found.value)),
    },
    Variable {
        suffix: "CLIENT_KEY",
        names: Names::MetricsThenGeneric,
        parse: |env, found| env.client_key_file = Some(PathBuf::from(&found.value)),
    },
    Variable {
        suffix: "TEMPORALITY_PREFERENCE",
        names: Names::MetricsOnly,
        parse: |env, found| match TemporalityPreference::parse(&found.value) {
            Some(p) => env.temporality = Some(p),
            None => env.warn(
                found,
                format!(
                    "unknown preference {:?} (expected cumulative, delta or lowmemory)",
                    found.value
                ),
            ),
        },
    },
    Variable {
        suffix: "DEFAULT_HISTOGRAM_AGGREGATION",
        names: Names::MetricsOnly,
        parse: |env, found| match HistogramPreference::parse(&found.value) {
            Some(h) => env.histogram = Some(h),
            None => env.warn(
                found,
                format!(
                    "unknown histogram aggregation {:?} (expected explicit_bucket_histogram \
                     or base2_exponential_bucket_histogram)",
                    found.value
                ),
            ),
        },
    },
];

/// `key=value,key2=value2`: good entries are kept, each bad one is a warning.
fn parse_headers(env: &mut EnvSettings, found: &Found) {
    let mut headers = Vec::new();
    for (i, entry) in found.value.split(',').enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        match parse_header_entry(entry) {
            Ok(h) => headers.push(h),
            Err(why) => env.warn(
                found,
                format!("entry {} is not a valid header: {why}", i + 1),
            ),
        }
    }
    env.headers = Some(headers);
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

impl EnvSettings {
    /// Reads every variable of the table through `lookup`.
    pub(super) fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut env = EnvSettings::default();
        for variable in VARIABLES {
            if let Some(found) = variable.find(lookup) {
                (variable.parse)(&mut env, &found);
            }
        }
        env.proxies = EnvProxies::read(lookup, &mut env.warnings);
        env.read_spool(lookup);
        env
    }

    /// `OTLPMETRIC_SPOOL_DIR`, `OTLPMETRIC_SPOOL_MAX_BYTES`, `OTLPMETRIC_SPOOL_DURABILITY`.
    fn read_spool(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        let get = |name: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(|value| Found {
                    name: name.to_string(),
                    value,
                    generic: false,
                })
        };
        if let Some(found) = get("OTLPMETRIC_SPOOL_DIR") {
            self.spool_dir = Some(PathBuf::from(found.value));
        }
        if let Some(found) = get("OTLPMETRIC_SPOOL_MAX_BYTES") {
            match found.value.trim().parse::<u64>() {
                Ok(n) if n >= MIN_MAX_BYTES => self.spool_max_bytes = Some(n),
                _ => self.warn(
                    &found,
                    format!(
                        "{:?} is not a whole number of bytes of at least {MIN_MAX_BYTES}",
                        found.value
                    ),
                ),
            }
        }
        if let Some(found) = get("OTLPMETRIC_SPOOL_DURABILITY") {
            match found.value.trim().to_ascii_lowercase().as_str() {
                "record" => self.spool_durability = Some(Durability::EveryRecord),
                "interval" => self.spool_durability = Some(Durability::default()),
                "never" => self.spool_durability = Some(Durability::Never),
                _ => self.warn(
                    &found,
                    format!(
                        "unknown durability {:?} (expected record, interval or never)",
                        found.value
                    ),
                ),
            }
        }
    }

    /// Notes that (part of) `found`'s value was ignored, and `why`.
    fn warn(&mut self, found: &Found, why: String) {
        self.warnings.push(format!(
            "environment variable {} ignored: {why}",
            found.name
        ));
    }
}

impl Variable {
    /// The first of the variable's names that is set; an empty value means unset.
    fn find(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<Found> {
        let metrics = (format!("OTEL_EXPORTER_OTLP_METRICS_{}", self.suffix), false);
        let generic = match self.names {
            Names::MetricsThenGeneric => {
                Some((format!("OTEL_EXPORTER_OTLP_{}", self.suffix), true))
            }
            Names::MetricsOnly => None,
        };
        std::iter::once(metrics)
            .chain(generic)
            .find_map(|(name, generic)| {
                let value = lookup(&name).filter(|v| !v.trim().is_empty())?;
                Some(Found {
                    name,
                    value,
                    generic,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, DEFAULT_TIMEOUT};
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_vars(vars)
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
    fn compression_names_gzip_zstd_and_none() {
        for (value, expected) in [
            ("gzip", Compression::Gzip),
            ("zstd", Compression::Zstd),
            (" zstd ", Compression::Zstd),
            ("none", Compression::None),
        ] {
            let s = config(&[("OTEL_EXPORTER_OTLP_COMPRESSION", value)])
                .resolve()
                .unwrap();
            assert_eq!(s.compression, expected, "{value:?}");
            assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        }
        let s = config(&[("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "brotli")])
            .resolve()
            .unwrap();
        assert_eq!(s.compression, Compression::None);
        assert!(s.warnings[0].contains("zstd"), "{:?}", s.warnings);
    }

    #[test]
    fn an_endpoint_port_outside_1_to_65535_is_a_warning_naming_the_variable() {
        let s = config(&[(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://collector:99999/v1/metrics",
        )])
        .resolve()
        .unwrap();
        assert_eq!(s.endpoint, "http://localhost:4318/v1/metrics");
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        let warning = &s.warnings[0];
        assert!(
            warning.contains("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
                && warning.contains("outside 1-65535"),
            "{warning}"
        );
    }
}
