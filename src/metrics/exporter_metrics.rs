//! The exporter's own metrics, as the semantic conventions for SDK metrics name them:
//! `otel.sdk.exporter.metric_data_point.exported`, `…metric_data_point.inflight` and
//! `otel.sdk.exporter.operation.duration`, recorded into the provider's own pipeline from
//! the exporter's delivery reports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::config::{Protocol, Settings};
use crate::error::{ErrorKind, Result};
use crate::exporter::{DeliveryObserver, DeliveryReport, ResponseStatus};
use crate::metrics::attributes::KeyValue;
use crate::metrics::instrument::{Descriptor, Instrument, NumberType};
use crate::metrics::pipeline::Pipeline;
use crate::selectors::InstrumentKind;

/// The instrumentation scope of these metrics.
pub(crate) const SCOPE: &str = "otlpmetric";

/// The bucket boundaries the semantic conventions advise for durations in seconds.
const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// `error.type` of data points the receiver accepted the request of but rejected.
const REJECTED: &str = "rejected";

/// The gRPC status code names, by number.
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Exporters made so far in this process, per protocol: the instance counter of
/// `otel.component.name`.
static EXPORTERS_MADE: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// The three instruments and the attributes that name this exporter.
pub(crate) struct ExporterMetrics {
    exported: Arc<Instrument>,
    inflight: Arc<Instrument>,
    duration: Arc<Instrument>,
    component_type: &'static str,
    component_name: String,
    server_address: String,
    /// `None` for a Unix domain socket.
    server_port: Option<i64>,
}

impl ExporterMetrics {
    /// Registers the instruments in `pipeline`, for an exporter with `settings`.
    pub(crate) fn new(pipeline: &Pipeline, settings: &Settings) -> Result<Self> {
        let meter = pipeline.meter(SCOPE, Some(env!("CARGO_PKG_VERSION")))?;
        let (component_type, made) = match settings.protocol {
            Protocol::Grpc => ("otlp_grpc_metric_exporter", &EXPORTERS_MADE[0]),
            Protocol::HttpProtobuf => ("otlp_http_metric_exporter", &EXPORTERS_MADE[1]),
            Protocol::HttpJson => ("otlp_http_json_metric_exporter", &EXPORTERS_MADE[2]),
        };
        let instance = made.fetch_add(1, Ordering::Relaxed);
        let (server_address, server_port) = match &settings.unix_socket {
            Some(path) => (path.display().to_string(), None),
            None => {
                let endpoint = &settings.endpoint;
                let host = endpoint.host().unwrap_or_default();
                let port = endpoint.port_u16().unwrap_or(match endpoint.scheme_str() {
                    Some("https") => 443,
                    _ => 80,
                });
                (
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string(),
                    Some(i64::from(port)),
                )
            }
        };
        Ok(ExporterMetrics {
            exported: meter.instrument(
                InstrumentKind::Counter,
                NumberType::I64,
                "otel.sdk.exporter.metric_data_point.exported",
                "{data_point}",
                "The number of metric data points for which the export has finished, either successful or failed.",
            )?,
            inflight: meter.instrument(
                InstrumentKind::UpDownCounter,
                NumberType::I64,
                "otel.sdk.exporter.metric_data_point.inflight",
                "{data_point}",
                "The number of metric data points which were passed to the exporter, but that have not been exported yet (neither successful, nor failed).",
            )?,
            duration: meter.instrument_of(
                Descriptor::new(
                    InstrumentKind::Histogram,
                    NumberType::F64,
                    "otel.sdk.exporter.operation.duration",
                    "s",
                    "The duration of exporting a batch of telemetry records.",
                )?
                .with_boundaries_advice(&DURATION_BOUNDARIES),
            )?,
            component_type,
            component_name: format!("{component_type}/{instance}"),
            server_address,
            server_port,
        })
    }

    /// The attributes every point carries.
    fn common(&self) -> Vec<KeyValue<'_>> {
        let mut attrs = vec![
            KeyValue::str("otel.component.type", self.component_type),
            KeyValue::str("otel.component.name", &self.component_name),
            KeyValue::str("server.address", &self.server_address),
        ];
        if let Some(port) = self.server_port {
            attrs.push(KeyValue::i64("server.port", port));
        }
        attrs
    }
}

impl DeliveryObserver for ExporterMetrics {
    // Recording fails only once the provider is shut down, when nothing more is exported.
    fn started(&self, data_points: u64) {
        let _ = self.inflight.add_i64(count(data_points), &self.common());
    }

    fn finished(&self, report: &DeliveryReport<'_>) {
        let common = self.common();
        let _ = self.inflight.add_i64(-count(report.data_points), &common);

        let accepted = report.delivered_data_points - report.rejected_data_points;
        let failed = report.data_points - report.delivered_data_points;
        let error_type = report
            .error
            .map(|error| error_type(error.kind(), report.status));
        fn with_error<'a>(common: &[KeyValue<'a>], error_type: &'a str) -> Vec<KeyValue<'a>> {
            let mut attrs = common.to_vec();
            attrs.push(KeyValue::str("error.type", error_type));
            attrs
        }
        if accepted > 0 || (failed == 0 && report.rejected_data_points == 0) {
            let _ = self.exported.add_i64(count(accepted), &common);
        }
        if report.rejected_data_points > 0 {
            let _ = self.exported.add_i64(
                count(report.rejected_data_points),
                &with_error(&common, REJECTED),
            );
        }
        if failed > 0 {
            let error_type = error_type.as_deref().unwrap_or("_OTHER");
            let _ = self
                .exported
                .add_i64(count(failed), &with_error(&common, error_type));
        }

        let mut attrs = match &error_type {
            Some(error_type) => with_error(&common, error_type),
            None => common.clone(),
        };
        match report.status {
            Some(ResponseStatus::Grpc(code)) => {
                attrs.push(KeyValue::i64("rpc.grpc.status_code", i64::from(code)))
            }
            Some(ResponseStatus::Http(status)) => attrs.push(KeyValue::i64(
                "http.response.status_code",
                i64::from(status),
            )),
            None => {}
        }
        let _ = self
            .duration
            .record_f64(report.duration.as_secs_f64(), &attrs);
    }
}

fn count(points: u64) -> i64 {
    i64::try_from(points).unwrap_or(i64::MAX)
}

/// A failure's `error.type`: the receiver's status when it answered (the gRPC code's
/// name, the HTTP status number), else what kind of failure it was.
fn error_type(kind: ErrorKind, status: Option<ResponseStatus>) -> String {
    match status {
        Some(ResponseStatus::Grpc(code)) if code != 0 => usize::try_from(code)
            .ok()
            .and_then(|c| GRPC_CODES.get(c))
            .map_or_else(|| code.to_string(), |name| name.to_string()),
        Some(ResponseStatus::Http(status)) if !(200..300).contains(&status) => status.to_string(),
        _ => match kind {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Decode => "decode",
            ErrorKind::Shutdown => "shutdown",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Export => "export",
            ErrorKind::QueueFull => "queue_full",
            ErrorKind::Internal => "internal",
            ErrorKind::Cancelled => "cancelled",
        }
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_name_the_status_or_else_the_kind() {
        let grpc = |code| error_type(ErrorKind::Export, Some(ResponseStatus::Grpc(code)));
        assert_eq!(grpc(14), "UNAVAILABLE");
        assert_eq!(grpc(16), "UNAUTHENTICATED");
        assert_eq!(grpc(99), "99");
        assert_eq!(
            error_type(ErrorKind::Export, Some(ResponseStatus::Http(503))),
            "503"
        );
        // A success status (a response that did not decode) says nothing: the kind does.
        assert_eq!(
            error_type(ErrorKind::Export, Some(ResponseStatus::Http(200))),
            "export"
        );
        assert_eq!(error_type(ErrorKind::Timeout, None), "timeout");
        assert_eq!(
            error_type(ErrorKind::Export, Some(ResponseStatus::Grpc(0))),
            "export"
        );
    }
}
