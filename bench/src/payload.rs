//! The data exported: one resource, one scope, a mix of sums, gauges and histograms whose
//! data points carry realistic (semantic-convention) attributes. The same description is
//! turned into OTLP protobuf (for otlpmetric and the ceiling, serialized once up front) and
//! recorded into an opentelemetry-rust MeterProvider (for opentelemetry-otlp).

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// u64 counter: monotonic cumulative sum.
    Counter,
    /// i64 up-down counter: non-monotonic cumulative sum.
    UpDownCounter,
    /// f64 gauge.
    Gauge,
    /// f64 explicit-bucket histogram.
    Histogram,
}

pub struct MetricSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub unit: &'static str,
    pub kind: Kind,
    pub points: usize,
}

const fn spec(
    name: &'static str,
    description: &'static str,
    unit: &'static str,
    kind: Kind,
    points: usize,
) -> MetricSpec {
    MetricSpec {
        name,
        description,
        unit,
        kind,
        points,
    }
}

/// 2000 data points in 8 metrics: 2 monotonic sums, 2 non-monotonic sums, 2 gauges and
/// 2 histograms (300 histogram points), about 420 KB.
pub fn large() -> Vec<MetricSpec> {
    vec![
        spec("http.server.request.count", "Number of HTTP server requests.", "{request}", Kind::Counter, 250),
        spec("http.server.request.duration", "Duration of HTTP server requests.", "s", Kind::Histogram, 200),
        spec("http.server.active_requests", "Number of active HTTP server requests.", "{request}", Kind::UpDownCounter, 200),
        spec("http.client.request.duration", "Duration of HTTP client requests.", "s", Kind::Histogram, 100),
        spec("process.cpu.utilization", "Difference in process.cpu.time since the last measurement, divided by the elapsed time and number of CPUs.", "1", Kind::Gauge, 400),
        spec("system.memory.utilization", "Fraction of memory in use.", "1", Kind::Gauge, 400),
        spec("messaging.client.sent.messages", "Number of messages producer attempted to send to the broker.", "{message}", Kind::Counter, 250),
        spec("db.client.connection.count", "The number of connections that are currently in state described by the state attribute.", "{connection}", Kind::UpDownCounter, 200),
    ]
}

/// 10 data points in 4 metrics.
pub fn small() -> Vec<MetricSpec> {
    vec![
        spec("http.server.request.count", "Number of HTTP server requests.", "{request}", Kind::Counter, 3),
        spec("http.server.request.duration", "Duration of HTTP server requests.", "s", Kind::Histogram, 2),
        spec("process.cpu.utilization", "Difference in process.cpu.time since the last measurement, divided by the elapsed time and number of CPUs.", "1", Kind::Gauge, 3),
        spec("db.client.connection.count", "The number of connections that are currently in state described by the state attribute.", "{connection}", Kind::UpDownCounter, 2),
    ]
}

pub fn total_points(specs: &[MetricSpec]) -> usize {
    specs.iter().map(|s| s.points).sum()
}

/// The semantic conventions' default HTTP duration buckets.
pub const BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[derive(Clone, Debug)]
pub enum Val {
    Str(String),
    Int(i64),
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];
const STATUS: [i64; 6] = [200, 201, 204, 400, 404, 500];
const ROUTES: [&str; 10] = [
    "/api/v1/orders/{order_id}",
    "/api/v1/orders",
    "/api/v1/customers/{customer_id}/addresses",
    "/api/v1/cart/{cart_id}/items/{item_id}",
    "/api/v1/catalog/products/{sku}",
    "/api/v1/payments/{payment_id}/capture",
    "/api/v1/shipping/quotes",
    "/healthz",
    "/api/v2/search",
    "/api/v1/inventory/{warehouse_id}/levels",
];

/// The attributes of data point `i` of metric `spec`: distinct for every `i`.
pub fn attributes(spec: &MetricSpec, i: usize) -> Vec<(&'static str, Val)> {
    let s = |v: &str| Val::Str(v.to_string());
    match spec.name {
        n if n.starts_with("http.server") || n.starts_with("http.client") => {
            let mut a = vec![
                ("http.request.method", s(METHODS[i % METHODS.len()])),
                ("http.route", s(ROUTES[(i / METHODS.len()) % ROUTES.len()])),
                (
                    "server.address",
                    Val::Str(format!("api-{}.checkout.prod.internal", i / 50)),
                ),
            ];
            if spec.kind != Kind::UpDownCounter {
                a.push((
                    "http.response.status_code",
                    Val::Int(STATUS[i % STATUS.len()]),
                ));
            }
            a
        }
        "process.cpu.utilization" => vec![
            ("cpu.mode", s(["user", "system", "wait"][i % 3])),
            ("process.pid", Val::Int(10_000 + (i / 3) as i64)),
            (
                "process.executable.name",
                Val::Str(format!("checkout-worker-{}", i / 3 % 16)),
            ),
            (
                "host.name",
                Val::Str(format!("ip-10-0-{}-{}.ec2.internal", i / 40, i % 40)),
            ),
        ],
        "system.memory.utilization" => vec![
            (
                "system.memory.state",
                s(["used", "free", "cached", "buffered", "slab_reclaimable"][i % 5]),
            ),
            (
                "host.name",
                Val::Str(format!("ip-10-1-{}-{}.ec2.internal", i / 40, i % 40)),
            ),
            ("os.type", s("linux")),
        ],
        "messaging.client.sent.messages" => vec![
            ("messaging.system", s("kafka")),
            ("messaging.operation.name", s("send")),
            (
                "messaging.destination.name",
                Val::Str(format!("orders.events.v1.partition-{}", i % 64)),
            ),
            (
                "server.address",
                Val::Str(format!("kafka-{}.broker.prod.internal", i / 64)),
            ),
        ],
        _ => vec![
            ("db.system.name", s("postgresql")),
            (
                "db.client.connection.pool.name",
                Val::Str(format!("orders-db-pool-{}", i / 2)),
            ),
            (
                "db.client.connection.state",
                s(if i.is_multiple_of(2) { "idle" } else { "used" }),
            ),
            (
                "server.address",
                Val::Str(format!("orders-db-{}.cluster-ro.prod.internal", i / 20)),
            ),
        ],
    }
}

pub fn resource_attributes() -> Vec<(&'static str, Val)> {
    let s = |v: &str| Val::Str(v.to_string());
    vec![
        ("service.name", s("checkout")),
        ("service.namespace", s("shop")),
        ("service.version", s("1.42.0")),
        (
            "service.instance.id",
            s("627cc493-f310-47de-96bd-71410b7dec09"),
        ),
        ("deployment.environment.name", s("production")),
        ("host.name", s("ip-10-0-12-34.ec2.internal")),
        ("host.arch", s("amd64")),
        ("os.type", s("linux")),
        ("cloud.provider", s("aws")),
        ("cloud.region", s("eu-west-1")),
        ("telemetry.sdk.name", s("opentelemetry")),
        ("telemetry.sdk.language", s("rust")),
        ("telemetry.sdk.version", s("0.33.1")),
    ]
}

pub const SCOPE_NAME: &str = "otlpmetric-bench";
pub const SCOPE_VERSION: &str = "0.1.0";

/// The measurements of histogram point `i`: a few values spread over the buckets.
pub fn histogram_values(i: usize) -> Vec<f64> {
    let n = 3 + i % 7;
    (0..n)
        .map(|k| {
            let x = ((i * 7919 + k * 104_729) % 10_000) as f64 / 10_000.0;
            0.001 + x * x * 12.0
        })
        .collect()
}

pub fn counter_value(i: usize) -> u64 {
    1 + (i as u64 * 2_654_435_761) % 100_000
}

pub fn updown_value(i: usize) -> i64 {
    (i as i64 * 37) % 200 - 20
}

pub fn gauge_value(i: usize) -> f64 {
    ((i * 48_271) % 10_000) as f64 / 10_000.0
}

fn kv(key: &str, value: &Val) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(match value {
                Val::Str(s) => any_value::Value::StringValue(s.clone()),
                Val::Int(i) => any_value::Value::IntValue(*i),
            }),
        }),
        ..Default::default()
    }
}

fn kvs(attrs: &[(&'static str, Val)]) -> Vec<KeyValue> {
    attrs.iter().map(|(k, v)| kv(k, v)).collect()
}

/// The OTLP protobuf `ResourceMetrics` of `specs`.
pub fn resource_metrics(specs: &[MetricSpec]) -> ResourceMetrics {
    const START: u64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z
    const NOW: u64 = START + 3_600_000_000_000;
    let metrics = specs
        .iter()
        .map(|spec| {
            let data = match spec.kind {
                Kind::Counter | Kind::UpDownCounter => metric::Data::Sum(Sum {
                    data_points: (0..spec.points)
                        .map(|i| NumberDataPoint {
                            attributes: kvs(&attributes(spec, i)),
                            start_time_unix_nano: START,
                            time_unix_nano: NOW,
                            value: Some(if spec.kind == Kind::Counter {
                                number_data_point::Value::AsInt(counter_value(i) as i64)
                            } else {
                                number_data_point::Value::AsInt(updown_value(i))
                            }),
                            ..Default::default()
                        })
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: spec.kind == Kind::Counter,
                }),
                Kind::Gauge => metric::Data::Gauge(Gauge {
                    data_points: (0..spec.points)
                        .map(|i| NumberDataPoint {
                            attributes: kvs(&attributes(spec, i)),
                            start_time_unix_nano: START,
                            time_unix_nano: NOW,
                            value: Some(number_data_point::Value::AsDouble(gauge_value(i))),
                            ..Default::default()
                        })
                        .collect(),
                }),
                Kind::Histogram => metric::Data::Histogram(Histogram {
                    data_points: (0..spec.points)
                        .map(|i| {
                            let values = histogram_values(i);
                            let mut counts = vec![0u64; BOUNDS.len() + 1];
                            for v in &values {
                                counts[BOUNDS.iter().take_while(|b| v > b).count()] += 1;
                            }
                            HistogramDataPoint {
                                attributes: kvs(&attributes(spec, i)),
                                start_time_unix_nano: START,
                                time_unix_nano: NOW,
                                count: values.len() as u64,
                                sum: Some(values.iter().sum()),
                                bucket_counts: counts,
                                explicit_bounds: BOUNDS.to_vec(),
                                min: values.iter().cloned().reduce(f64::min),
                                max: values.iter().cloned().reduce(f64::max),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            };
            Metric {
                name: spec.name.into(),
                description: spec.description.into(),
                unit: spec.unit.into(),
                data: Some(data),
                ..Default::default()
            }
        })
        .collect();
    ResourceMetrics {
        resource: Some(Resource {
            attributes: kvs(&resource_attributes()),
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: SCOPE_NAME.into(),
                version: SCOPE_VERSION.into(),
                ..Default::default()
            }),
            metrics,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// The payload, serialized once: `resource_metrics` (what `upload` takes) and the
/// `ExportMetricsServiceRequest` holding it (what goes on the wire).
pub struct Payload {
    pub name: &'static str,
    pub points: usize,
    pub proto: ResourceMetrics,
    pub resource_metrics: Vec<u8>,
    pub request: bytes::Bytes,
}

pub fn payload(name: &'static str, specs: &[MetricSpec]) -> Payload {
    let proto = resource_metrics(specs);
    let resource_metrics = proto.encode_to_vec();
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![proto.clone()],
    }
    .encode_to_vec()
    .into();
    Payload {
        name,
        points: total_points(specs),
        proto,
        resource_metrics,
        request,
    }
}

fn otel_kvs(attrs: &[(&'static str, Val)]) -> Vec<opentelemetry::KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| match v {
            Val::Str(s) => opentelemetry::KeyValue::new(*k, s.clone()),
            Val::Int(i) => opentelemetry::KeyValue::new(*k, *i),
        })
        .collect()
}

/// An opentelemetry-rust MeterProvider whose instruments recorded the same data points as
/// `resource_metrics(specs)` (same resource, scope, metric names, attributes, kinds,
/// bucket boundaries), and the reader to collect them with.
pub fn sdk_provider(
    specs: &[MetricSpec],
) -> (
    opentelemetry_sdk::metrics::SdkMeterProvider,
    std::sync::Arc<opentelemetry_sdk::metrics::ManualReader>,
) {
    use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
    let reader = std::sync::Arc::new(ManualReader::builder().build());
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_attributes(otel_kvs(&resource_attributes()))
        .build();
    let provider = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(SharedReader(reader.clone()))
        .build();
    let meter = provider.meter_with_scope(
        opentelemetry::InstrumentationScope::builder(SCOPE_NAME)
            .with_version(SCOPE_VERSION)
            .build(),
    );
    for spec in specs {
        match spec.kind {
            Kind::Counter => {
                let c = meter
                    .u64_counter(spec.name)
                    .with_description(spec.description)
                    .with_unit(spec.unit)
                    .build();
                for i in 0..spec.points {
                    c.add(counter_value(i), &otel_kvs(&attributes(spec, i)));
                }
            }
            Kind::UpDownCounter => {
                let c = meter
                    .i64_up_down_counter(spec.name)
                    .with_description(spec.description)
                    .with_unit(spec.unit)
                    .build();
                for i in 0..spec.points {
                    c.add(updown_value(i), &otel_kvs(&attributes(spec, i)));
                }
            }
            Kind::Gauge => {
                let g = meter
                    .f64_gauge(spec.name)
                    .with_description(spec.description)
                    .with_unit(spec.unit)
                    .build();
                for i in 0..spec.points {
                    g.record(gauge_value(i), &otel_kvs(&attributes(spec, i)));
                }
            }
            Kind::Histogram => {
                let h = meter
                    .f64_histogram(spec.name)
                    .with_description(spec.description)
                    .with_unit(spec.unit)
                    .with_boundaries(BOUNDS.to_vec())
                    .build();
                for i in 0..spec.points {
                    let attrs = otel_kvs(&attributes(spec, i));
                    for v in histogram_values(i) {
                        h.record(v, &attrs);
                    }
                }
            }
        }
    }
    (provider, reader)
}

/// Lets the benchmark keep a handle on the ManualReader the provider owns.
#[derive(Debug)]
pub struct SharedReader(pub std::sync::Arc<opentelemetry_sdk::metrics::ManualReader>);

impl opentelemetry_sdk::metrics::reader::MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: std::sync::Weak<opentelemetry_sdk::metrics::Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(
        &self,
        rm: &mut opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(
        &self,
        kind: opentelemetry_sdk::metrics::InstrumentKind,
    ) -> opentelemetry_sdk::metrics::Temporality {
        self.0.temporality(kind)
    }
}

/// An otlpmetric MeterProvider (exporting as `config` says) whose instruments recorded the
/// same data points as [`sdk_provider`] (same resource, scope, names, attributes, kinds,
/// bucket boundaries).
pub fn record_into_provider(
    specs: &[MetricSpec],
    mut config: otlpmetric::Config,
    mut settings: otlpmetric::internals::metrics::MetricsSettings,
) -> otlpmetric::internals::metrics::MeterProvider {
    use otlpmetric::internals::metrics::{KeyValue, MeterProvider, NumberType};
    use otlpmetric::{Aggregation, InstrumentKind};
    fn ours<'a>(attrs: &'a [(&'static str, Val)]) -> Vec<KeyValue<'a>> {
        attrs
            .iter()
            .map(|(k, v)| match v {
                Val::Str(s) => KeyValue::str(k, s),
                Val::Int(i) => KeyValue::i64(k, *i),
            })
            .collect()
    }
    config.set_aggregation_selector(Some(std::sync::Arc::new(|kind, default: &Aggregation| {
        Ok(match kind {
            InstrumentKind::Histogram => Aggregation::ExplicitBucketHistogram {
                boundaries: BOUNDS.to_vec(),
                record_min_max: true,
            },
            _ => default.clone(),
        })
    })));
    settings
        .set_resource(&ours(&resource_attributes()))
        .expect("resource");
    let provider = MeterProvider::new(&config, &settings).expect("otlpmetric MeterProvider");
    let meter = provider
        .meter(SCOPE_NAME, Some(SCOPE_VERSION))
        .expect("meter");
    for spec in specs {
        let (kind, number) = match spec.kind {
            Kind::Counter => (InstrumentKind::Counter, NumberType::I64),
            Kind::UpDownCounter => (InstrumentKind::UpDownCounter, NumberType::I64),
            Kind::Gauge => (InstrumentKind::Gauge, NumberType::F64),
            Kind::Histogram => (InstrumentKind::Histogram, NumberType::F64),
        };
        let instrument = meter
            .instrument(kind, number, spec.name, spec.unit, spec.description)
            .expect("instrument");
        for i in 0..spec.points {
            let owned = attributes(spec, i);
            let attrs = ours(&owned);
            match spec.kind {
                Kind::Counter => instrument.add_i64(counter_value(i) as i64, &attrs),
                Kind::UpDownCounter => instrument.add_i64(updown_value(i), &attrs),
                Kind::Gauge => instrument.record_f64(gauge_value(i), &attrs),
                Kind::Histogram => histogram_values(i)
                    .into_iter()
                    .try_for_each(|v| instrument.record_f64(v, &attrs)),
            }
            .expect("record");
        }
    }
    provider
}
