//! Writes the seed corpus under fuzz/corpus/<target>/ (deterministic; re-run after a
//! schema change and commit the result):
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus
//!
//! Small valid encodings of every message kind, hand-made wire-format edge cases
//! (unpacked repeated fields, unknown fields and groups, nesting at prost's limit) and
//! OTLP/JSON samples (plus the protobuf JSON mapping's variants).

use std::fs;
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;

fn value(v: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value(v),
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

/// One attribute of every AnyValue kind.
fn all_kinds() -> Vec<KeyValue> {
    use any_value::Value::*;
    vec![
        s("service.name", "fuzz"),
        kv("b", BoolValue(true)),
        kv("i", IntValue(-42)),
        kv("d", DoubleValue(0.5)),
        kv("bytes", BytesValue(vec![0, 1, 0xfe, 0xff])),
        kv(
            "arr",
            ArrayValue(self::ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(IntValue(1)),
                    },
                    AnyValue { value: None },
                ],
            }),
        ),
        kv(
            "kvl",
            KvlistValue(KeyValueList {
                values: vec![s("k", "v"), KeyValue::default()],
            }),
        ),
        KeyValue {
            key: "empty".into(),
            value: None,
            ..Default::default()
        },
    ]
}

fn exemplar_of(i: i64) -> Exemplar {
    Exemplar {
        filtered_attributes: vec![s("user", "u1")],
        time_unix_nano: 2000,
        span_id: vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74],
        trace_id: vec![
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c,
        ],
        value: Some(if i % 2 == 0 {
            exemplar::Value::AsInt(i)
        } else {
            exemplar::Value::AsDouble(i as f64 / 2.0)
        }),
    }
}

fn number(i: i64, double: bool) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![s("route", &format!("/r/{i}"))],
        start_time_unix_nano: 1000,
        time_unix_nano: 2000 + i as u64,
        exemplars: if i == 0 { vec![exemplar_of(3)] } else { vec![] },
        flags: (i % 2) as u32,
        value: Some(if double {
            number_data_point::Value::AsDouble(i as f64 + 0.25)
        } else {
            number_data_point::Value::AsInt(i)
        }),
    }
}

fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name} description"),
        unit: "1".into(),
        metadata: vec![],
        data: Some(data),
    }
}

fn basic_metrics(points: i64) -> Vec<Metric> {
    vec![
        metric(
            "requests",
            Data::Sum(Sum {
                data_points: (0..points).map(|i| number(i, false)).collect(),
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
        ),
        metric(
            "temperature",
            Data::Gauge(Gauge {
                data_points: (0..points).map(|i| number(i, true)).collect(),
            }),
        ),
        metric(
            "latency",
            Data::Histogram(Histogram {
                data_points: (0..points)
                    .map(|i| HistogramDataPoint {
                        attributes: vec![s("route", &format!("/r/{i}"))],
                        start_time_unix_nano: 1000,
                        time_unix_nano: 2000,
                        count: 6,
                        sum: Some(6.5),
                        bucket_counts: vec![1, 2, 3],
                        explicit_bounds: vec![1.0, 5.0],
                        exemplars: vec![exemplar_of(i)],
                        flags: 0,
                        min: Some(0.5),
                        max: Some(9.0),
                    })
                    .collect(),
                aggregation_temporality: 1,
            }),
        ),
    ]
}

fn rare_metrics() -> Vec<Metric> {
    vec![
        metric(
            "sizes",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes: vec![s("k", "v")],
                    start_time_unix_nano: 1000,
                    time_unix_nano: 2000,
                    count: 7,
                    sum: Some(70.0),
                    scale: -3,
                    zero_count: 1,
                    positive: Some(Buckets {
                        offset: -2,
                        bucket_counts: vec![1, 0, 4],
                    }),
                    negative: Some(Buckets {
                        offset: 1,
                        bucket_counts: vec![1],
                    }),
                    flags: 1,
                    exemplars: vec![exemplar_of(2)],
                    min: Some(-1.0),
                    max: Some(40.0),
                    zero_threshold: 1e-9,
                }],
                aggregation_temporality: 1,
            }),
        ),
        metric(
            "rpc.duration",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: vec![],
                    start_time_unix_nano: 1000,
                    time_unix_nano: 2000,
                    count: 4,
                    sum: 10.0,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: 2.0,
                        },
                        ValueAtQuantile {
                            quantile: 1.0,
                            value: 4.0,
                        },
                    ],
                    flags: 0,
                }],
            }),
        ),
        Metric {
            name: "no.data".into(),
            metadata: vec![s("meta", "x")],
            ..Default::default()
        },
    ]
}

fn resource_metrics(attrs: Vec<KeyValue>, metrics: Vec<Metric>) -> ResourceMetrics {
    ResourceMetrics {
        resource: Some(Resource {
            attributes: attrs,
            dropped_attributes_count: 1,
            entity_refs: vec![EntityRef {
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                r#type: "service".into(),
                id_keys: vec!["service.name".into()],
                description_keys: vec!["service.version".into()],
            }],
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "fuzz.scope".into(),
                version: "1.0".into(),
                attributes: vec![s("scope.kind", "seed")],
                dropped_attributes_count: 0,
            }),
            metrics,
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        }],
        schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
    }
}

fn request(rms: Vec<ResourceMetrics>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: rms,
    }
}

/// An AnyValue nested `depth` array levels deep (each level is two messages).
fn nested(depth: usize) -> AnyValue {
    let mut v = AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    };
    for _ in 0..depth {
        v = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![v] })),
        };
    }
    v
}

fn len_field(tag: u32, body: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// A ResourceMetrics whose histogram point has unpacked repeated fields, plus unknown
/// fields of every wire type (a group among them) at several levels.
fn wire_edge_cases() -> Vec<u8> {
    let mut point = Vec::new();
    for c in [1u64, 2, 3] {
        encode_key(6, WireType::SixtyFourBit, &mut point); // bucket_counts (fixed64), unpacked
        point.extend_from_slice(&c.to_le_bytes());
    }
    for b in [1.0f64, 5.0] {
        encode_key(7, WireType::SixtyFourBit, &mut point); // explicit_bounds, unpacked
        point.extend_from_slice(&b.to_le_bytes());
    }
    encode_key(4, WireType::SixtyFourBit, &mut point); // count (fixed64)
    point.extend_from_slice(&6u64.to_le_bytes());
    encode_key(99, WireType::ThirtyTwoBit, &mut point); // unknown fixed32
    point.extend_from_slice(&[1, 2, 3, 4]);
    encode_key(98, WireType::StartGroup, &mut point); // unknown group with a nested field
    encode_key(1, WireType::Varint, &mut point);
    encode_varint(300, &mut point);
    encode_key(98, WireType::EndGroup, &mut point);

    let mut histogram = Vec::new();
    len_field(1, &point, &mut histogram);
    encode_key(2, WireType::Varint, &mut histogram);
    encode_varint(2, &mut histogram);

    let mut metric = Vec::new();
    len_field(1, b"edge", &mut metric);
    len_field(9, &histogram, &mut metric);
    len_field(1000, b"unknown bytes", &mut metric);

    let mut scope = Vec::new();
    len_field(2, &metric, &mut scope);
    encode_key(77, WireType::Varint, &mut scope);
    encode_varint(u64::MAX, &mut scope);

    let mut rm = Vec::new();
    len_field(2, &scope, &mut rm);
    len_field(3, b"https://example.com/schema", &mut rm);
    rm
}

struct Out {
    root: PathBuf,
    files: usize,
    bytes: usize,
}

impl Out {
    fn write(&mut self, target: &str, name: &str, data: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).unwrap();
        assert!(!dir.join(name).exists(), "{target}/{name} written twice");
        fs::write(dir.join(name), data).unwrap();
        self.files += 1;
        self.bytes += data.len();
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for t in [
        "validate_differential",
        "json_input",
        "json_output",
        "split",
    ] {
        let _ = fs::remove_dir_all(root.join(t));
    }
    let mut out = Out {
        root,
        files: 0,
        bytes: 0,
    };

    // ---- protobuf ------------------------------------------------------------------
    let basic = resource_metrics(all_kinds(), basic_metrics(2));
    let rare = resource_metrics(vec![s("service.name", "rare")], rare_metrics());
    let mut deep_ok = resource_metrics(vec![], vec![]);
    // ResourceMetrics > Resource > KeyValue > AnyValue: 3 levels, then 2 per array level.
    deep_ok.resource.as_mut().unwrap().attributes = vec![KeyValue {
        key: "deep".into(),
        value: Some(nested(48)),
        ..Default::default()
    }];
    let mut deep_over = deep_ok.clone();
    deep_over.resource.as_mut().unwrap().attributes[0].value = Some(nested(52));
    // Exactly at the limit: valid alone, one level too deep once wrapped in a request
    // (so `validate::resource_metrics`, which checks what `upload` sends, refuses it).
    let mut at_limit = deep_ok.clone();
    at_limit.resource.as_mut().unwrap().attributes[0].value = Some({
        let mut v = AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![s("k", "v")],
            })),
        };
        for _ in 0..47 {
            v = AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![v] })),
            };
        }
        v
    });
    assert!(ResourceMetrics::decode(at_limit.encode_to_vec().as_slice()).is_ok());
    let wrapped_at_limit = request(vec![at_limit.clone()]).encode_to_vec();
    assert!(ExportMetricsServiceRequest::decode(wrapped_at_limit.as_slice()).is_err());
    let edge = wire_edge_cases();
    // The two sides of prost's recursion limit, and the edge cases must be valid.
    assert!(ResourceMetrics::decode(deep_ok.encode_to_vec().as_slice()).is_ok());
    assert!(ResourceMetrics::decode(deep_over.encode_to_vec().as_slice()).is_err());
    assert!(ResourceMetrics::decode(edge.as_slice()).is_ok());

    let mut protobufs: Vec<(&str, Vec<u8>)> = vec![
        ("rm_basic.pb", basic.encode_to_vec()),
        ("rm_exphist_summary_nodata.pb", rare.encode_to_vec()),
        ("rm_wire_edge_cases.pb", edge.clone()),
        ("rm_nested_48.pb", deep_ok.encode_to_vec()),
        ("rm_nested_52.pb", deep_over.encode_to_vec()),
        ("rm_nested_at_limit.pb", at_limit.encode_to_vec()),
        (
            "req_two_resources.pb",
            request(vec![basic.clone(), rare.clone()]).encode_to_vec(),
        ),
        (
            "req_empty_resource.pb",
            request(vec![ResourceMetrics::default()]).encode_to_vec(),
        ),
        ("empty.pb", vec![]),
    ];
    let mut wrapped = Vec::new();
    len_field(1, &edge, &mut wrapped);
    protobufs.push(("req_wire_edge_cases.pb", wrapped));
    // Invalid on purpose: truncated, and a string field holding bad UTF-8.
    let full = basic.encode_to_vec();
    protobufs.push(("bad_truncated.pb", full[..full.len() / 2].to_vec()));
    let mut bad_utf8 = Vec::new();
    len_field(3, &[0x66, 0xff, 0x66], &mut bad_utf8);
    protobufs.push(("bad_utf8_schema_url.pb", bad_utf8));
    for (name, data) in &protobufs {
        out.write("validate_differential", name, data);
    }

    // ---- json_output: requests (ResourceMetrics seeds wrapped), canonical or not ------
    for (name, data) in &protobufs {
        if name.starts_with("bad_") || name.starts_with("empty") {
            continue;
        }
        if name.starts_with("req_wire") {
            continue; // the same as rm_wire_edge_cases.pb wrapped
        }
        if let Some(rm) = name.strip_prefix("rm_") {
            let mut req = Vec::new();
            len_field(1, data, &mut req);
            out.write("json_output", &format!("req_{rm}"), &req);
        } else {
            out.write("json_output", name, data);
        }
    }
    // Not as prost writes it: Metric fields in reverse order and its name twice, two
    // oneof members (gauge after sum: the gauge wins), a Resource in two pieces (merged).
    let mut m = Vec::new();
    let sum = Sum {
        data_points: vec![number(1, false)],
        aggregation_temporality: 1,
        is_monotonic: false,
    };
    let gauge = Gauge {
        data_points: vec![number(2, true)],
    };
    len_field(7, &sum.encode_to_vec(), &mut m);
    len_field(5, &gauge.encode_to_vec(), &mut m);
    len_field(1, b"first", &mut m);
    len_field(1, b"second", &mut m);
    let mut sm = Vec::new();
    len_field(2, &m, &mut sm);
    let mut rm = Vec::new();
    len_field(2, &sm, &mut rm);
    len_field(
        1,
        &Resource {
            attributes: vec![s("a", "1")],
            ..Default::default()
        }
        .encode_to_vec(),
        &mut rm,
    );
    len_field(
        1,
        &Resource {
            attributes: vec![s("b", "2")],
            ..Default::default()
        }
        .encode_to_vec(),
        &mut rm,
    );
    let mut req = Vec::new();
    len_field(1, &rm, &mut req);
    assert!(ExportMetricsServiceRequest::decode(req.as_slice()).is_ok());
    out.write("json_output", "req_not_canonical.pb", &req);

    // ---- split: [even mode byte][limit u16 LE][request] and [odd][arbitrary bytes] ---
    let big = request(vec![
        resource_metrics(all_kinds(), basic_metrics(6)),
        rare.clone(),
        resource_metrics(vec![s("service.name", "other")], basic_metrics(3)),
    ])
    .encode_to_vec();
    for (name, req, limit) in [
        ("raw_big_300.bin", &big, 300u16),
        ("raw_big_1000.bin", &big, 1000),
        ("raw_big_64.bin", &big, 64),
        (
            "raw_basic_passthrough.bin",
            &request(vec![basic.clone()]).encode_to_vec(),
            60000,
        ),
    ] {
        let mut v = vec![0u8];
        v.extend_from_slice(&limit.to_le_bytes());
        v.extend_from_slice(req);
        out.write("split", name, &v);
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for n in 0..4 {
        let mut v = vec![1u8];
        for _ in 0..(64 << n) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as u8);
        }
        out.write("split", &format!("structured_{n}.bin"), &v);
    }

    // ---- OTLP/JSON -----------------------------------------------------------------
    let json_samples: &[(&str, &str)] = &[
        (
            "otlp_sample.json",
            r#"{"resourceMetrics":[{"resource":{"attributes":[
  {"key":"service.name","value":{"stringValue":"demo"}},
  {"key":"pid","value":{"intValue":"42"}}]},
 "scopeMetrics":[{"scope":{"name":"s","version":"1"},"metrics":[
  {"name":"requests","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,
    "dataPoints":[{"startTimeUnixNano":"1000","timeUnixNano":2000,"asInt":"7",
      "attributes":[{"key":"k","value":{"boolValue":true}}]}]}},
  {"name":"temp","gauge":{"dataPoints":[{"timeUnixNano":"2000","asDouble":21.5}]}},
  {"name":"lat","histogram":{"aggregationTemporality":1,"dataPoints":[{"timeUnixNano":"2000",
    "count":"3","sum":6.5,"bucketCounts":["1","2"],"explicitBounds":[5.0],"min":1,"max":4,
    "exemplars":[{"timeUnixNano":"2000","asDouble":1.0,"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}}]}]}]}
"#,
        ),
        (
            "numbers_as_numbers.json",
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
  {"name":"c","sum":{"dataPoints":[{"asInt":-5,"timeUnixNano":7,"startTimeUnixNano":"6"}]}},
  {"name":"h","histogram":{"dataPoints":[{"count":3,"bucketCounts":[1,"2"],"flags":1}]}}]}]}]}
"#,
        ),
        (
            "exphist_summary.json",
            r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"a","value":{"arrayValue":{"values":[{"intValue":"1"},{"doubleValue":2.5},{"bytesValue":"AAH+/w=="}]}}},{"key":"m","value":{"kvlistValue":{"values":[{"key":"x","value":{"stringValue":"y"}}]}}}],"droppedAttributesCount":1},"scopeMetrics":[{"scope":{"name":"s"},"metrics":[
  {"name":"e","exponentialHistogram":{"aggregationTemporality":1,"dataPoints":[{"count":"7","sum":70,"scale":-3,"zeroCount":"1","positive":{"offset":-2,"bucketCounts":["1","0","4"]},"negative":{"offset":1,"bucketCounts":["1"]},"zeroThreshold":1e-9,"min":-1,"max":40}]}},
  {"name":"q","summary":{"dataPoints":[{"count":"4","sum":10,"quantileValues":[{"quantile":0.5,"value":2},{"quantile":1,"value":4}]}]}},
  {"name":"nodata","metadata":[{"key":"meta","value":{"stringValue":"x"}}]}]}],"schemaUrl":"https://opentelemetry.io/schemas/1.26.0"}]}
"#,
        ),
        (
            "protobuf_json_variants.json",
            r#"{"resource_metrics":[{"scope_metrics":[{"metrics":[
  {"name":"s","sum":{"aggregation_temporality":"AGGREGATION_TEMPORALITY_DELTA","is_monotonic":false,
    "data_points":[{"as_double":"NaN","time_unix_nano":"1"},{"asDouble":"Infinity"},{"asDouble":"-Infinity"},{"asInt":"-9223372036854775808"}]}}]}]}]}
"#,
        ),
        (
            "nulls_and_empties.json",
            r#"{"resourceMetrics":[{"resource":null,"scopeMetrics":[]},{"scopeMetrics":[{"scope":{},"metrics":[{"name":"g","gauge":{"dataPoints":[{}]}}]}]}]}
"#,
        ),
        ("empty_object.json", "{}"),
        (
            "unknown_fields.json",
            r#"{"resourceMetrics":[{"unknownField":{"a":[1,2,{"b":null}]},"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"asInt":"1","extra":true}]}}]}]}],"extra":1}
"#,
        ),
        (
            "bad_trace_id.json",
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"asInt":"1","exemplars":[{"traceId":"zz","spanId":"eee19b7ec3c1b1"}]}]}}]}]}]}
"#,
        ),
        (
            "two_values_oneof.json",
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"asInt":"1","asDouble":2}]},"sum":{"dataPoints":[]}}]}]}]}
"#,
        ),
    ];
    for (name, text) in json_samples {
        out.write("json_input", name, text.as_bytes());
    }
    // OTLP/JSON written by opentelemetry-proto's serde mapping for the protobuf seeds.
    let as_json = |m: &ExportMetricsServiceRequest| serde_json::to_vec(m).unwrap();
    out.write(
        "json_input",
        "serde_basic.json",
        &as_json(&request(vec![basic.clone()])),
    );
    out.write(
        "json_input",
        "serde_rare.json",
        &as_json(&request(vec![rare.clone()])),
    );
    // Deep nesting near serde_json's limit of 128 and near prost's of 100.
    for depth in [30usize, 40] {
        let mut v = r#"{"intValue":"1"}"#.to_string();
        for _ in 0..depth {
            v = format!(r#"{{"arrayValue":{{"values":[{v}]}}}}"#);
        }
        let text = format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"deep","value":{v}}}]}}}}]}}"#
        );
        out.write(
            "json_input",
            &format!("nested_{depth}.json"),
            text.as_bytes(),
        );
    }

    println!(
        "wrote {} files, {} bytes, under {}",
        out.files,
        out.bytes,
        out.root.display()
    );
}
