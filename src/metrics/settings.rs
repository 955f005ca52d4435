//! The pipeline's own settings, beside the exporter's: resource, export interval and
//! timeout, cardinality limit, the exporter's own metrics. Resolved from a lookup function (the environment, or a map
//! in tests) and then from code, as the exporter's `Config` is.

use std::time::Duration;

use percent_encoding::percent_decode_str;

use crate::error::{Error, Result};
use crate::metrics::attributes::{AttributeSet, KeyValue, OwnedValue, Value};
use crate::metrics::instrument::DEFAULT_CARDINALITY_LIMIT;

/// `OTEL_METRIC_EXPORT_INTERVAL`'s default.
pub(crate) const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_millis(60_000);
/// `OTEL_METRIC_EXPORT_TIMEOUT`'s default.
pub(crate) const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_millis(30_000);

/// Turns the exporter's own metrics on (`true`) or off (`false`, the default).
pub(crate) const EXPORTER_METRICS_VARIABLE: &str = "OTLPMETRIC_EXPORTER_METRICS";

/// Settings of the metrics pipeline.
#[derive(Clone, Debug)]
pub struct MetricsSettings {
    /// From `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME`.
    env_resource: Vec<(String, OwnedValue)>,
    /// Set in code; wins over the environment.
    code_resource: Vec<(String, OwnedValue)>,
    /// Between the starts of two periodic exports; `None`: no periodic export.
    pub export_interval: Option<Duration>,
    /// Bound on one collect-and-export; `None`: no limit.
    pub export_timeout: Option<Duration>,
    /// Most distinct attribute sets per instrument; further sets share one overflow
    /// series.
    pub cardinality_limit: usize,
    /// Whether the provider records its exporter's own metrics (`otel.sdk.exporter.*`).
    pub exporter_metrics: bool,
    /// What was wrong in the environment (each names its variable), for the log.
    pub warnings: Vec<String>,
}

impl Default for MetricsSettings {
    /// The settings of an empty environment.
    fn default() -> Self {
        Self::from_lookup(&|_| None)
    }
}

impl MetricsSettings {
    /// The settings the process environment gives.
    pub fn from_env() -> Self {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// The settings the variables `lookup` returns give; empty values count as unset.
    /// `OTEL_METRIC_EXPORT_INTERVAL=0` means no periodic export and
    /// `OTEL_METRIC_EXPORT_TIMEOUT=0` no limit, as 0 means for the C setters and for the
    /// exporter's timeout; a value that is not a whole number is reported and ignored.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut warnings = Vec::new();
        let mut env_resource = Vec::new();
        if let Some(value) = get("OTEL_RESOURCE_ATTRIBUTES") {
            match parse_resource_attributes(&value) {
                Ok(pairs) => env_resource.extend(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k, OwnedValue::Str(v.into()))),
                ),
                Err(fault) => {
                    warnings.push(format!("OTEL_RESOURCE_ATTRIBUTES is ignored: {fault}"))
                }
            }
        }
        if let Some(name) = get("OTEL_SERVICE_NAME") {
            env_resource.push(("service.name".into(), OwnedValue::Str(name.into())));
        }
        let mut milliseconds = |name: &str, default: Duration| match get(name) {
            None => Some(default),
            Some(value) => match value.trim().parse::<u64>() {
                Ok(0) => None,
                Ok(ms) => Some(Duration::from_millis(ms)),
                Err(_) => {
                    warnings.push(format!(
                        "{name} is ignored: {value:?} is not a whole number of milliseconds"
                    ));
                    Some(default)
                }
            },
        };
        let export_interval = milliseconds("OTEL_METRIC_EXPORT_INTERVAL", DEFAULT_EXPORT_INTERVAL);
        let export_timeout = milliseconds("OTEL_METRIC_EXPORT_TIMEOUT", DEFAULT_EXPORT_TIMEOUT);
        let exporter_metrics = match get(EXPORTER_METRICS_VARIABLE) {
            None => false,
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    warnings.push(format!(
                        "{EXPORTER_METRICS_VARIABLE} is ignored: {value:?} is not true or false"
                    ));
                    false
                }
            },
        };
        MetricsSettings {
            env_resource,
            code_resource: Vec::new(),
            export_interval,
            export_timeout,
            cardinality_limit: DEFAULT_CARDINALITY_LIMIT,
            exporter_metrics,
            warnings,
        }
    }

    /// Resource attributes set in code (replacing those set in code before); they win
    /// over the environment's.
    pub fn set_resource(&mut self, attrs: &[KeyValue<'_>]) -> Result<()> {
        // Checks the keys.
        AttributeSet::new(attrs)?;
        self.code_resource = attrs
            .iter()
            .map(|kv| (kv.key.to_string(), to_owned(kv.value)))
            .collect();
        Ok(())
    }

    /// Sets the export interval; `None`: no periodic export.
    pub fn set_export_interval(&mut self, interval: Option<Duration>) {
        self.export_interval = interval;
    }

    /// Records the exporter's own metrics, or not (wins over the environment).
    pub fn set_exporter_metrics(&mut self, enabled: bool) {
        self.exporter_metrics = enabled;
    }

    /// Sets the most distinct attribute sets per instrument (at least 1).
    pub fn set_cardinality_limit(&mut self, limit: usize) -> Result<()> {
        if limit == 0 {
            return Err(Error::invalid(
                "cardinality limit 0: an instrument needs at least one series",
            ));
        }
        self.cardinality_limit = limit;
        Ok(())
    }

    /// The resource: `telemetry.sdk.*`, then the environment's attributes, then those set
    /// in code (a later one wins); `service.name` and `service.instance.id` are made up
    /// when none of these gives them.
    pub fn resource(&self) -> AttributeSet {
        let mut attrs: Vec<KeyValue<'_>> = vec![
            KeyValue::str("telemetry.sdk.name", "otlpmetric"),
            // The semantic conventions name the SDK's language, and this SDK (the code
            // that aggregates and encodes) is Rust, whatever language records into it.
            KeyValue::str("telemetry.sdk.language", "rust"),
            KeyValue::str("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
        ];
        let given = self.env_resource.iter().chain(&self.code_resource);
        attrs.extend(given.clone().map(|(k, v)| KeyValue {
            key: k,
            value: v.as_value(),
        }));
        let has = |key: &str| given.clone().any(|(k, _)| k == key);
        let service_name;
        if !has("service.name") {
            service_name = default_service_name();
            attrs.push(KeyValue::str("service.name", &service_name));
        }
        let instance_id;
        if !has("service.instance.id") {
            instance_id = uuid_v4();
            attrs.push(KeyValue::str("service.instance.id", &instance_id));
        }
        AttributeSet::from_checked(&attrs)
    }
}

fn to_owned(value: Value<'_>) -> OwnedValue {
    match value {
        Value::Str(s) => OwnedValue::Str(s.into()),
        Value::Bool(b) => OwnedValue::Bool(b),
        Value::I64(i) => OwnedValue::I64(i),
        Value::F64(f) => OwnedValue::F64(f),
    }
}

/// `k=v,k2=v2`, keys and values percent-decoded and trimmed. Any bad entry discards the
/// whole value, as the resource SDK specification says.
fn parse_resource_attributes(value: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for (i, entry) in value.split(',').enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        let Some((key, val)) = entry.split_once('=') else {
            return Err(format!("entry {i} has no '='"));
        };
        let decode = |text: &str, what: &str| {
            percent_decode_str(text.trim())
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| format!("the {what} of entry {i} is not UTF-8 once percent-decoded"))
        };
        let key = decode(key, "key")?;
        if key.is_empty() {
            return Err(format!("entry {i} has an empty key"));
        }
        pairs.push((key, decode(val, "value")?));
    }
    Ok(pairs)
}

/// `unknown_service:<executable name>`, as the resource semantic conventions say.
fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map(|name| format!("unknown_service:{name}"))
        .unwrap_or_else(|| "unknown_service".to_string())
}

/// A random (version 4) UUID, lower-case hex.
pub(crate) fn uuid_v4() -> String {
    let mut bytes = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = const_hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> MetricsSettings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        MetricsSettings::from_lookup(&move |name| map.get(name).cloned())
    }

    fn text(set: &AttributeSet, key: &str) -> Option<String> {
        set.iter()
            .find(|kv| kv.key == key)
            .map(|kv| match kv.value {
                Value::Str(s) => s.to_string(),
                other => format!("{other:?}"),
            })
    }

    #[test]
    fn defaults() {
        let s = settings(&[]);
        assert_eq!(s.export_interval, Some(Duration::from_secs(60)));
        assert_eq!(s.export_timeout, Some(Duration::from_secs(30)));
        assert_eq!(s.cardinality_limit, 2000);
        assert!(s.warnings.is_empty());
        let r = s.resource();
        assert_eq!(text(&r, "telemetry.sdk.name").unwrap(), "otlpmetric");
        assert_eq!(text(&r, "telemetry.sdk.language").unwrap(), "rust");
        assert_eq!(
            text(&r, "telemetry.sdk.version").unwrap(),
            env!("CARGO_PKG_VERSION")
        );
        let exe = std::env::current_exe().unwrap();
        let exe = exe.file_name().unwrap().to_string_lossy();
        assert_eq!(
            text(&r, "service.name").unwrap(),
            format!("unknown_service:{exe}")
        );
        let id = text(&r, "service.instance.id").unwrap();
        assert_ne!(id, text(&s.resource(), "service.instance.id").unwrap());
        assert_eq!(r.len(), 5);
    }

    #[test]
    fn uuid_is_version_4() {
        for _ in 0..100 {
            let id = uuid_v4();
            assert_eq!(id.len(), 36);
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'));
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
            assert!(id
                .chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
    }

    #[test]
    fn environment_then_service_name_then_code() {
        let mut s = settings(&[
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                " service.name = from-attrs, deployment.environment=prod%2Ceu ,team=a%3Db,telemetry.sdk.name=x",
            ),
            ("OTEL_SERVICE_NAME", "from-service-name"),
        ]);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let r = s.resource();
        assert_eq!(text(&r, "service.name").unwrap(), "from-service-name");
        assert_eq!(text(&r, "deployment.environment").unwrap(), "prod,eu");
        assert_eq!(text(&r, "team").unwrap(), "a=b");
        // The environment may override even the SDK's own attributes.
        assert_eq!(text(&r, "telemetry.sdk.name").unwrap(), "x");
        s.set_resource(&[
            KeyValue::str("service.name", "from-code"),
            KeyValue::str("service.instance.id", "fixed"),
            KeyValue::i64("shard", 3),
        ])
        .unwrap();
        let r = s.resource();
        assert_eq!(text(&r, "service.name").unwrap(), "from-code");
        assert_eq!(text(&r, "service.instance.id").unwrap(), "fixed");
        assert_eq!(text(&r, "shard").unwrap(), "I64(3)");
        assert!(s.set_resource(&[KeyValue::str("", "x")]).is_err());
        // A refused call leaves what was set.
        assert_eq!(text(&s.resource(), "service.name").unwrap(), "from-code");
    }

    #[test]
    fn bad_resource_attributes_are_discarded_whole_with_a_warning() {
        for bad in ["a=1,b", "a=1,=2", "a=%FF"] {
            let s = settings(&[("OTEL_RESOURCE_ATTRIBUTES", bad)]);
            assert_eq!(s.warnings.len(), 1, "{bad}");
            assert!(s.warnings[0].contains("OTEL_RESOURCE_ATTRIBUTES"));
            assert_eq!(text(&s.resource(), "a"), None, "{bad}");
        }
    }

    #[test]
    fn export_interval_and_timeout() {
        let s = settings(&[
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "0"),
        ]);
        assert_eq!(s.export_interval, Some(Duration::from_millis(1500)));
        assert_eq!(s.export_timeout, None);
        let s = settings(&[
            ("OTEL_METRIC_EXPORT_INTERVAL", "soon"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "-5"),
        ]);
        assert_eq!(s.export_interval, Some(DEFAULT_EXPORT_INTERVAL));
        assert_eq!(s.export_timeout, Some(DEFAULT_EXPORT_TIMEOUT));
        assert_eq!(s.warnings.len(), 2);
        assert!(s.warnings[0].contains("OTEL_METRIC_EXPORT_INTERVAL"));
        assert!(s.warnings[1].contains("OTEL_METRIC_EXPORT_TIMEOUT"));
    }

    #[test]
    fn setters_win_over_the_environment() {
        let mut s = settings(&[
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            ("OTEL_SERVICE_NAME", "checkout"),
        ]);
        assert_eq!(s.export_interval, Some(Duration::from_millis(1500)));
        assert_eq!(text(&s.resource(), "service.name").unwrap(), "checkout");
        s.set_resource(&[KeyValue::str("service.name", "cart")])
            .unwrap();
        assert_eq!(text(&s.resource(), "service.name").unwrap(), "cart");
        s.set_export_interval(None);
        assert_eq!(s.export_interval, None);
    }

    #[test]
    fn cardinality_limit_must_be_positive() {
        let mut s = settings(&[]);
        assert!(s.set_cardinality_limit(0).is_err());
        s.set_cardinality_limit(10).unwrap();
        assert_eq!(s.cardinality_limit, 10);
    }
}
