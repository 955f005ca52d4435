//! Realistic, deterministic OTLP metrics data for tests.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// `start_time_unix_nano` of every sample point (2023-11-14T22:13:20Z).
pub const SAMPLE_START_UNIX_NANO: u64 = 1_700_000_000_000_000_000;
/// `time_unix_nano` of every sample point (60 s after the start).
pub const SAMPLE_TIME_UNIX_NANO: u64 = SAMPLE_START_UNIX_NANO + 60_000_000_000;
/// `service.name` of the sample resource.
pub const SAMPLE_SERVICE_NAME: &str = "otlpmetric-test";
/// Name of the sample cumulative monotonic int Sum.
pub const SAMPLE_SUM_NAME: &str = "http.server.request.count";
/// Name of the sample double Gauge.
pub const SAMPLE_GAUGE_NAME: &str = "system.cpu.temperature";
/// Name of the sample explicit-bucket Histogram.
pub const SAMPLE_HISTOGRAM_NAME: &str = "http.server.request.duration";
/// Bucket boundaries of the sample histogram.
pub const SAMPLE_HISTOGRAM_BOUNDS: [f64; 10] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 1000.0,
];

/// A string attribute.
pub fn kv_str(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// An int attribute.
pub fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// Attributes of the `j`-th point of one metric: distinct for every `j`.
fn point_attributes(j: usize) -> Vec<KeyValue> {
    vec![
        kv_str("http.route", &format!("/api/v1/items/{j}")),
        kv_int("http.response.status_code", 200 + (j % 5) as i64),
        kv_str("host.name", &format!("host-{}", j % 4)),
    ]
}

/// A ResourceMetrics with `points` data points spread round-robin over a
/// cumulative monotonic int Sum (point 0, 3, 6, ...), a double Gauge (1, 4, ...)
/// and a cumulative explicit-bucket Histogram (2, 5, ...). Metrics that would get
/// no point are left out (so `points == 0` gives a scope with no metrics).
/// Deterministic: the same `points` always gives the same message.
pub fn sample_resource_metrics(points: usize) -> ResourceMetrics {
    let mut sum_points = Vec::new();
    let mut gauge_points = Vec::new();
    let mut histogram_points = Vec::new();
    for i in 0..points {
        let j = i / 3;
        match i % 3 {
            0 => sum_points.push(NumberDataPoint {
                attributes: point_attributes(j),
                start_time_unix_nano: SAMPLE_START_UNIX_NANO,
                time_unix_nano: SAMPLE_TIME_UNIX_NANO,
                value: Some(number_data_point::Value::AsInt(1000 + 17 * j as i64)),
                ..Default::default()
            }),
            1 => gauge_points.push(NumberDataPoint {
                attributes: point_attributes(j),
                start_time_unix_nano: 0,
                time_unix_nano: SAMPLE_TIME_UNIX_NANO,
                value: Some(number_data_point::Value::AsDouble(20.5 + 0.25 * j as f64)),
                ..Default::default()
            }),
            _ => histogram_points.push(histogram_point(j)),
        }
    }

    let mut metrics = Vec::new();
    if !sum_points.is_empty() {
        metrics.push(Metric {
            name: SAMPLE_SUM_NAME.to_string(),
            description: "Number of HTTP requests served.".to_string(),
            unit: "{request}".to_string(),
            data: Some(metric::Data::Sum(Sum {
                data_points: sum_points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        });
    }
    if !gauge_points.is_empty() {
        metrics.push(Metric {
            name: SAMPLE_GAUGE_NAME.to_string(),
            description: "CPU temperature.".to_string(),
            unit: "Cel".to_string(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: gauge_points,
            })),
            ..Default::default()
        });
    }
    if !histogram_points.is_empty() {
        metrics.push(Metric {
            name: SAMPLE_HISTOGRAM_NAME.to_string(),
            description: "Duration of HTTP requests.".to_string(),
            unit: "ms".to_string(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: histogram_points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        });
    }

    ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![
                kv_str("service.name", SAMPLE_SERVICE_NAME),
                kv_str("service.version", "1.2.3"),
                kv_str("service.instance.id", "instance-0001"),
                kv_str("telemetry.sdk.language", "rust"),
            ],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "otlpmetric.tests".to_string(),
                version: "0.1.0".to_string(),
                attributes: vec![kv_str("scope.kind", "test")],
                ..Default::default()
            }),
            metrics,
            schema_url: "https://opentelemetry.io/schemas/1.26.0".to_string(),
        }],
        schema_url: "https://opentelemetry.io/schemas/1.26.0".to_string(),
    }
}

/// A histogram point with consistent count, sum, min and max.
fn histogram_point(j: usize) -> HistogramDataPoint {
    let bounds = SAMPLE_HISTOGRAM_BOUNDS;
    // One representative value per bucket: (-inf, 0], (0, 5], ..., (1000, +inf).
    let representative = |k: usize| -> f64 {
        if k == 0 {
            0.0
        } else if k == bounds.len() {
            1500.0
        } else {
            (bounds[k - 1] + bounds[k]) / 2.0
        }
    };
    let bucket_counts: Vec<u64> = (0..=bounds.len())
        .map(|k| 1 + ((j + k) % 3) as u64)
        .collect();
    let count = bucket_counts.iter().sum();
    let sum = bucket_counts
        .iter()
        .enumerate()
        .map(|(k, c)| *c as f64 * representative(k))
        .sum();
    HistogramDataPoint {
        attributes: point_attributes(j),
        start_time_unix_nano: SAMPLE_START_UNIX_NANO,
        time_unix_nano: SAMPLE_TIME_UNIX_NANO,
        count,
        sum: Some(sum),
        bucket_counts,
        explicit_bounds: bounds.to_vec(),
        min: Some(representative(0)),
        max: Some(representative(bounds.len())),
        ..Default::default()
    }
}

/// An ExportMetricsServiceRequest holding `sample_resource_metrics(points)`.
pub fn sample_request(points: usize) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![sample_resource_metrics(points)],
    }
}

/// The number of data points of every kind in a request.
pub fn data_point_count(request: &ExportMetricsServiceRequest) -> usize {
    request
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| match &m.data {
            Some(metric::Data::Sum(s)) => s.data_points.len(),
            Some(metric::Data::Gauge(g)) => g.data_points.len(),
            Some(metric::Data::Histogram(h)) => h.data_points.len(),
            Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(metric::Data::Summary(s)) => s.data_points.len(),
            None => 0,
        })
        .sum()
}
