//! Helpers shared by the fuzz targets in fuzz_targets/.

use std::sync::OnceLock;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;

/// The two encodings decode to messages that differ only in doubles, by a few ULPs at
/// most (a relative error under 1e-15).
pub fn same_but_for_float_ulps(a: &[u8], b: &[u8]) -> bool {
    let a = format!("{:#?}", ExportMetricsServiceRequest::decode(a).unwrap());
    let b = format!("{:#?}", ExportMetricsServiceRequest::decode(b).unwrap());
    // A line of `{:#?}` is `field: value,` or `value,` (in a list).
    fn split(line: &str) -> (&str, Option<f64>) {
        let line = line.trim().trim_end_matches(',');
        let (field, value) = line.rsplit_once(": ").unwrap_or(("", line));
        // Debug writes every f64 with a '.' or an exponent (or inf, NaN); integers never.
        let float = value.contains(['.', 'e', 'i', 'N']);
        (field, float.then(|| value.parse().ok()).flatten())
    }
    a.lines().count() == b.lines().count()
        && a.lines().zip(b.lines()).all(|(x, y)| {
            x == y
                || match (split(x), split(y)) {
                    ((f, Some(x)), (g, Some(y))) => {
                        f == g && (x - y).abs() <= 1e-15 * x.abs().max(y.abs())
                    }
                    _ => false,
                }
        })
}

/// `OTLPMETRIC_FUZZ_STRICT=1`: also check the properties known not to hold yet.
pub fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("OTLPMETRIC_FUZZ_STRICT").is_some_and(|v| v == "1"))
}
