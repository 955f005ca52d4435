//! Request splitting (`otlpmetric::internals::split::split_request`): every piece is a valid request
//! within the limit, nothing is invented, and every data point of the input is either in
//! exactly one piece or reported in `oversized`.
//!
//! Input: first byte even: bytes 1..3 are the limit (u16 LE, taken modulo the request's
//! length + 2) and the rest is a serialized ExportMetricsServiceRequest (skipped when the
//! validator refuses it); odd: a request built from the bytes (`arbitrary`), then the limit.
#![no_main]

use arbitrary::{Result, Unstructured};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use otlpmetric::internals::{split, validate};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (request, max) = if mode & 1 == 0 {
        if rest.len() < 2 {
            return;
        }
        let limit = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let bytes = &rest[2..];
        if validate::export_request(bytes).is_err() {
            return;
        }
        (Bytes::copy_from_slice(bytes), limit % (bytes.len() + 2))
    } else {
        let mut u = Unstructured::new(rest);
        let Ok(request) = gen_request(&mut u) else {
            return;
        };
        let bytes = request.encode_to_vec();
        let max = u
            .int_in_range(0..=bytes.len() + 1)
            .unwrap_or(bytes.len() / 2);
        (Bytes::from(bytes), max)
    };
    check(request, max);
});

fn check(request: Bytes, max: usize) {
    let input = ExportMetricsServiceRequest::decode(request.as_ref()).expect("validated input");
    let out = split::split_request(request.clone(), max);

    if request.len() <= max {
        assert_eq!(
            out.requests,
            vec![request],
            "a request within the limit passes as is"
        );
        assert!(out.oversized.is_empty());
        return;
    }
    let mut pieces = Vec::new();
    for (i, piece) in out.requests.iter().enumerate() {
        assert!(
            piece.len() <= max,
            "piece {i} has {} bytes, over the limit {max}",
            piece.len()
        );
        if let Err(e) = validate::export_request(piece) {
            panic!("piece {i} is not a valid request: {e}");
        }
        pieces.push(ExportMetricsServiceRequest::decode(piece.as_ref()).unwrap());
    }

    // Data points: kept ones, plus those reported one by one, are the input's. A report
    // of a whole resource or scope (its attributes alone over the limit) stands for all
    // the points under it, so then only "at most" can be checked.
    let points_in = flatten(std::slice::from_ref(&input), false);
    let points_out = flatten(&pieces, false);
    let one_point = out
        .oversized
        .iter()
        .filter(|s| s.starts_with("a data point"))
        .count();
    let no_points = out
        .oversized
        .iter()
        .filter(|s| s.starts_with("metric ") && s.ends_with("(it has no data points to split at)"))
        .count();
    let coarse = out.oversized.len() - one_point - no_points;
    if coarse == 0 {
        assert_eq!(
            points_out.len() + one_point,
            points_in.len(),
            "data points: {} in the pieces + {one_point} reported != {} in the input \
             (max {max}, oversized {:?})",
            points_out.len(),
            points_in.len(),
            out.oversized
        );
    } else {
        assert!(
            points_out.len() + one_point <= points_in.len(),
            "more data points out than in (max {max}, oversized {:?})",
            out.oversized
        );
    }
    // Nothing invented, nothing duplicated: each kept point, with the resource, scope and
    // metric fields around it, is one of the input's.
    let mut remaining = points_in;
    for p in &points_out {
        let Ok(at) = remaining.binary_search(p) else {
            panic!("a piece holds a data point (in context) that the input does not (max {max})");
        };
        remaining.remove(at);
    }
    if out.oversized.is_empty() {
        assert!(remaining.is_empty());
    }

    // A metric whose data has no points is kept or reported too (also one over the limit
    // on its own, a long name say).
    if out.oversized.is_empty() {
        assert_eq!(
            flatten(&pieces, true),
            flatten(std::slice::from_ref(&input), true),
            "a metric is missing from the pieces and not reported (max {max})"
        );
    }
}

/// Every data point, prefixed with the encodings of its resource, scope and metric shells;
/// sorted. With `empty`, a metric with a data message but no points counts as one.
fn flatten(requests: &[ExportMetricsServiceRequest], empty: bool) -> Vec<Vec<u8>> {
    fn each<P: Message>(points: &[P], prefix: &[u8], empty: bool, out: &mut Vec<Vec<u8>>) {
        if empty && points.is_empty() {
            out.push(prefix.to_vec());
        }
        for p in points {
            let mut v = prefix.to_vec();
            p.encode_length_delimited(&mut v).unwrap();
            out.push(v);
        }
    }
    let mut out = Vec::new();
    for req in requests {
        for rm in &req.resource_metrics {
            let r = ResourceMetrics {
                scope_metrics: vec![],
                ..rm.clone()
            }
            .encode_length_delimited_to_vec();
            for sm in &rm.scope_metrics {
                let s = ScopeMetrics {
                    metrics: vec![],
                    ..sm.clone()
                }
                .encode_length_delimited_to_vec();
                for m in &sm.metrics {
                    let mut shell = m.clone();
                    let mut prefix = r.clone();
                    prefix.extend_from_slice(&s);
                    match shell.data.take() {
                        None => {}
                        Some(Data::Gauge(mut d)) => {
                            let p = std::mem::take(&mut d.data_points);
                            shell.data = Some(Data::Gauge(d));
                            prefix.extend(shell.encode_length_delimited_to_vec());
                            each(&p, &prefix, empty, &mut out);
                        }
                        Some(Data::Sum(mut d)) => {
                            let p = std::mem::take(&mut d.data_points);
                            shell.data = Some(Data::Sum(d));
                            prefix.extend(shell.encode_length_delimited_to_vec());
                            each(&p, &prefix, empty, &mut out);
                        }
                        Some(Data::Histogram(mut d)) => {
                            let p = std::mem::take(&mut d.data_points);
                            shell.data = Some(Data::Histogram(d));
                            prefix.extend(shell.encode_length_delimited_to_vec());
                            each(&p, &prefix, empty, &mut out);
                        }
                        Some(Data::ExponentialHistogram(mut d)) => {
                            let p = std::mem::take(&mut d.data_points);
                            shell.data = Some(Data::ExponentialHistogram(d));
                            prefix.extend(shell.encode_length_delimited_to_vec());
                            each(&p, &prefix, empty, &mut out);
                        }
                        Some(Data::Summary(mut d)) => {
                            let p = std::mem::take(&mut d.data_points);
                            shell.data = Some(Data::Summary(d));
                            prefix.extend(shell.encode_length_delimited_to_vec());
                            each(&p, &prefix, empty, &mut out);
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out
}

// ---- a request built from fuzzer bytes -------------------------------------------------

fn text(u: &mut Unstructured) -> Result<String> {
    // Mostly short names, sometimes long ones (to be over small limits on their own).
    let len = match u.int_in_range(0u8..=9)? {
        0..=6 => u.int_in_range(0..=12)?,
        7 | 8 => u.int_in_range(13..=300)?,
        _ => u.int_in_range(301..=3000)?,
    };
    let c = u.int_in_range(b'a'..=b'z')? as char;
    let mut s: String = u.arbitrary::<&str>()?.chars().take(len).collect();
    while s.len() < len {
        s.push(c);
    }
    Ok(s)
}

fn any_value(u: &mut Unstructured, depth: u32) -> Result<AnyValue> {
    let top = if depth == 0 { 4 } else { 6 };
    let value = match u.int_in_range(0..=top)? {
        0 => None,
        1 => Some(any_value::Value::StringValue(text(u)?)),
        2 => Some(any_value::Value::IntValue(u.arbitrary()?)),
        3 => Some(any_value::Value::DoubleValue(u.arbitrary()?)),
        4 => Some(any_value::Value::BoolValue(u.arbitrary()?)),
        5 => Some(any_value::Value::ArrayValue(ArrayValue {
            values: (0..u.int_in_range(0..=3)?)
                .map(|_| any_value(u, depth - 1))
                .collect::<Result<_>>()?,
        })),
        _ => Some(any_value::Value::KvlistValue(KeyValueList {
            values: attributes(u, depth - 1)?,
        })),
    };
    Ok(AnyValue { value })
}

fn attributes(u: &mut Unstructured, depth: u32) -> Result<Vec<KeyValue>> {
    (0..u.int_in_range(0..=3)?)
        .map(|_| {
            Ok(KeyValue {
                key: text(u)?,
                value: if u.ratio(1, 8)? {
                    None
                } else {
                    Some(any_value(u, depth)?)
                },
                ..Default::default()
            })
        })
        .collect()
}

fn exemplars(u: &mut Unstructured) -> Result<Vec<Exemplar>> {
    (0..u.int_in_range(0..=2)?)
        .map(|_| {
            Ok(Exemplar {
                filtered_attributes: attributes(u, 0)?,
                time_unix_nano: u.arbitrary()?,
                span_id: u.bytes(8)?.to_vec(),
                trace_id: u.bytes(16)?.to_vec(),
                value: Some(if u.arbitrary()? {
                    exemplar::Value::AsInt(u.arbitrary()?)
                } else {
                    exemplar::Value::AsDouble(u.arbitrary()?)
                }),
            })
        })
        .collect()
}

fn points<T>(u: &mut Unstructured, f: impl Fn(&mut Unstructured) -> Result<T>) -> Result<Vec<T>> {
    (0..u.int_in_range(0..=6)?).map(|_| f(u)).collect()
}

fn number_point(u: &mut Unstructured) -> Result<NumberDataPoint> {
    Ok(NumberDataPoint {
        attributes: attributes(u, 2)?,
        start_time_unix_nano: u.arbitrary()?,
        time_unix_nano: u.arbitrary()?,
        exemplars: exemplars(u)?,
        flags: u.int_in_range(0..=1)?,
        value: match u.int_in_range(0..=2)? {
            0 => None,
            1 => Some(number_data_point::Value::AsInt(u.arbitrary()?)),
            _ => Some(number_data_point::Value::AsDouble(u.arbitrary()?)),
        },
    })
}

fn counts(u: &mut Unstructured) -> Result<Vec<u64>> {
    (0..u.int_in_range(0..=20)?)
        .map(|_| u.arbitrary())
        .collect()
}

fn histogram_point(u: &mut Unstructured) -> Result<HistogramDataPoint> {
    let bucket_counts = counts(u)?;
    Ok(HistogramDataPoint {
        attributes: attributes(u, 1)?,
        start_time_unix_nano: u.arbitrary()?,
        time_unix_nano: u.arbitrary()?,
        count: u.arbitrary()?,
        sum: u.arbitrary()?,
        explicit_bounds: (1..bucket_counts.len())
            .map(|_| u.arbitrary())
            .collect::<Result<_>>()?,
        bucket_counts,
        exemplars: exemplars(u)?,
        flags: u.int_in_range(0..=1)?,
        min: u.arbitrary()?,
        max: u.arbitrary()?,
    })
}

fn buckets(u: &mut Unstructured) -> Result<Option<Buckets>> {
    Ok(if u.arbitrary()? {
        Some(Buckets {
            offset: u.arbitrary()?,
            bucket_counts: counts(u)?,
        })
    } else {
        None
    })
}

fn exponential_point(u: &mut Unstructured) -> Result<ExponentialHistogramDataPoint> {
    Ok(ExponentialHistogramDataPoint {
        attributes: attributes(u, 1)?,
        start_time_unix_nano: u.arbitrary()?,
        time_unix_nano: u.arbitrary()?,
        count: u.arbitrary()?,
        sum: u.arbitrary()?,
        scale: u.int_in_range(-10..=20)?,
        zero_count: u.arbitrary()?,
        positive: buckets(u)?,
        negative: buckets(u)?,
        flags: u.int_in_range(0..=1)?,
        exemplars: exemplars(u)?,
        min: u.arbitrary()?,
        max: u.arbitrary()?,
        zero_threshold: u.arbitrary()?,
    })
}

fn summary_point(u: &mut Unstructured) -> Result<SummaryDataPoint> {
    Ok(SummaryDataPoint {
        attributes: attributes(u, 1)?,
        start_time_unix_nano: u.arbitrary()?,
        time_unix_nano: u.arbitrary()?,
        count: u.arbitrary()?,
        sum: u.arbitrary()?,
        quantile_values: (0..u.int_in_range(0..=4)?)
            .map(|_| {
                Ok(ValueAtQuantile {
                    quantile: u.arbitrary()?,
                    value: u.arbitrary()?,
                })
            })
            .collect::<Result<_>>()?,
        flags: u.int_in_range(0..=1)?,
    })
}

fn metric(u: &mut Unstructured) -> Result<Metric> {
    let temporality = u.int_in_range(0..=2)?;
    let data = match u.int_in_range(0..=5)? {
        0 => None,
        1 => Some(Data::Gauge(Gauge {
            data_points: points(u, number_point)?,
        })),
        2 => Some(Data::Sum(Sum {
            data_points: points(u, number_point)?,
            aggregation_temporality: temporality,
            is_monotonic: u.arbitrary()?,
        })),
        3 => Some(Data::Histogram(Histogram {
            data_points: points(u, histogram_point)?,
            aggregation_temporality: temporality,
        })),
        4 => Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: points(u, exponential_point)?,
            aggregation_temporality: temporality,
        })),
        _ => Some(Data::Summary(Summary {
            data_points: points(u, summary_point)?,
        })),
    };
    Ok(Metric {
        name: text(u)?,
        description: text(u)?,
        unit: text(u)?,
        metadata: attributes(u, 0)?,
        data,
    })
}

fn gen_request(u: &mut Unstructured) -> Result<ExportMetricsServiceRequest> {
    let resource_metrics = (0..u.int_in_range(0..=3)?)
        .map(|_| {
            Ok(ResourceMetrics {
                resource: if u.ratio(1, 5)? {
                    None
                } else {
                    Some(Resource {
                        attributes: attributes(u, 1)?,
                        dropped_attributes_count: u.int_in_range(0..=3)?,
                        ..Default::default()
                    })
                },
                scope_metrics: (0..u.int_in_range(0..=3)?)
                    .map(|_| {
                        Ok(ScopeMetrics {
                            scope: if u.ratio(1, 5)? {
                                None
                            } else {
                                Some(InstrumentationScope {
                                    name: text(u)?,
                                    version: text(u)?,
                                    attributes: attributes(u, 1)?,
                                    dropped_attributes_count: 0,
                                })
                            },
                            metrics: (0..u.int_in_range(0..=4)?)
                                .map(|_| metric(u))
                                .collect::<Result<_>>()?,
                            schema_url: text(u)?,
                        })
                    })
                    .collect::<Result<_>>()?,
                schema_url: text(u)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(ExportMetricsServiceRequest { resource_metrics })
}
