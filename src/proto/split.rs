//! Keeps requests within the receiver's limit: a request whose protobuf encoding is over
//! the maximum is split at ResourceMetrics / ScopeMetrics / Metric / data-point boundaries
//! into valid requests whose union is the input. A piece that cannot be split further and
//! still does not fit (one huge data point, a huge resource) is left out and reported.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint,
};
use prost::encoding::encoded_len_varint;
use prost::Message;

/// The requests to send, and what could not be sent.
#[derive(Debug, Default)]
pub struct Split {
    /// Serialized requests, each within the limit.
    pub requests: Vec<Bytes>,
    /// What was too large to send on its own (e.g. "a data point of metric \"x\"").
    pub oversized: Vec<String>,
}

/// Splits a serialized (and already validated) `ExportMetricsServiceRequest` into
/// requests of at most `max` bytes each. A request within the limit is returned as is.
pub fn split_request(request: Bytes, max: usize) -> Split {
    if request.len() <= max {
        return Split {
            requests: vec![request],
            oversized: Vec::new(),
        };
    }
    let Ok(decoded) = ExportMetricsServiceRequest::decode(request.as_ref()) else {
        // Validated bytes always decode; never drop data if they somehow do not.
        return Split {
            requests: vec![request],
            oversized: Vec::new(),
        };
    };
    let mut oversized = Vec::new();
    let fits = |used: usize| used <= max;
    let pieces = split_children(
        decoded.resource_metrics,
        &fits,
        max,
        &mut oversized,
        split_resource,
    );
    let requests = pack(pieces, &fits)
        .into_iter()
        .map(|resource_metrics| {
            Bytes::from(ExportMetricsServiceRequest { resource_metrics }.encode_to_vec())
        })
        .collect();
    Split {
        requests,
        oversized,
    }
}

/// The length of a message as a length-delimited field with a one-byte tag (every field
/// split here has a number below 16).
fn field_len(message_len: usize) -> usize {
    1 + encoded_len_varint(message_len as u64) + message_len
}

/// The largest message length `l` for which `fits(field_len(l))`, if any.
fn largest_child(fits: &dyn Fn(usize) -> bool, upper: usize) -> Option<usize> {
    if !fits(field_len(0)) {
        return None;
    }
    let (mut low, mut high) = (0, upper);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if fits(field_len(mid)) {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    Some(low)
}

/// Children that fit alone are kept; the others are split with `split` into pieces that
/// each fit alone (given `fits` for the parent's child fields).
fn split_children<T: Message>(
    children: Vec<T>,
    fits: &dyn Fn(usize) -> bool,
    upper: usize,
    oversized: &mut Vec<String>,
    split: fn(T, usize, &mut Vec<String>) -> Vec<T>,
) -> Vec<T> {
    let budget = largest_child(fits, upper);
    let mut out = Vec::with_capacity(children.len());
    for child in children {
        match budget {
            Some(budget) if child.encoded_len() <= budget => out.push(child),
            Some(budget) => out.extend(split(child, budget, oversized)),
            None => oversized.push("data (the enclosing message alone is over the limit)".into()),
        }
    }
    out
}

/// Groups `items` greedily so that every group's child fields fit.
fn pack<T: Message>(items: Vec<T>, fits: &dyn Fn(usize) -> bool) -> Vec<Vec<T>> {
    let mut groups = Vec::new();
    let mut current = Vec::new();
    let mut used = 0;
    for item in items {
        let len = field_len(item.encoded_len());
        if !current.is_empty() && !fits(used + len) {
            groups.push(std::mem::take(&mut current));
            used = 0;
        }
        used += len;
        current.push(item);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// Splits a ResourceMetrics into pieces of at most `budget` bytes, each with the same
/// resource and schema URL.
fn split_resource(
    rm: ResourceMetrics,
    budget: usize,
    oversized: &mut Vec<String>,
) -> Vec<ResourceMetrics> {
    let mut shell = rm;
    let children = std::mem::take(&mut shell.scope_metrics);
    let shell_len = shell.encoded_len();
    let fits = |used: usize| shell_len + used <= budget;
    if !fits(0) {
        oversized.push("a resource whose attributes alone are over the limit".into());
        return Vec::new();
    }
    let pieces = split_children(children, &fits, budget, oversized, split_scope);
    pack(pieces, &fits)
        .into_iter()
        .map(|scope_metrics| ResourceMetrics {
            scope_metrics,
            ..shell.clone()
        })
        .collect()
}

fn split_scope(sm: ScopeMetrics, budget: usize, oversized: &mut Vec<String>) -> Vec<ScopeMetrics> {
    let mut shell = sm;
    let children = std::mem::take(&mut shell.metrics);
    let shell_len = shell.encoded_len();
    let fits = |used: usize| shell_len + used <= budget;
    if !fits(0) {
        oversized.push("an instrumentation scope whose attributes alone are over the limit".into());
        return Vec::new();
    }
    let pieces = split_children(children, &fits, budget, oversized, split_metric);
    pack(pieces, &fits)
        .into_iter()
        .map(|metrics| ScopeMetrics {
            metrics,
            ..shell.clone()
        })
        .collect()
}

/// Splits one metric at data-point boundaries; each piece repeats the metric's name,
/// description, unit, metadata and aggregation fields.
fn split_metric(metric: Metric, budget: usize, oversized: &mut Vec<String>) -> Vec<Metric> {
    let mut shell = metric;
    match shell.data.take() {
        Some(Data::Gauge(d)) => split_points(shell, d, budget, oversized),
        Some(Data::Sum(d)) => split_points(shell, d, budget, oversized),
        Some(Data::Histogram(d)) => split_points(shell, d, budget, oversized),
        Some(Data::ExponentialHistogram(d)) => split_points(shell, d, budget, oversized),
        Some(Data::Summary(d)) => split_points(shell, d, budget, oversized),
        None => {
            oversized.push(format!(
                "metric {:?} (it has no data points to split at)",
                shell.name
            ));
            Vec::new()
        }
    }
}

/// The data messages of a metric: a list of points plus aggregation fields.
trait PointData: Message + Clone {
    type Point: Message;
    fn points(&mut self) -> &mut Vec<Self::Point>;
    fn into_data(self) -> Data;
}

macro_rules! point_data {
    ($($data:ident => $point:ident),*) => {$(
        impl PointData for $data {
            type Point = $point;
            fn points(&mut self) -> &mut Vec<$point> {
                &mut self.data_points
            }
            fn into_data(self) -> Data {
                Data::$data(self)
            }
        }
    )*};
}

point_data!(
    Gauge => NumberDataPoint,
    Sum => NumberDataPoint,
    Histogram => HistogramDataPoint,
    ExponentialHistogram => ExponentialHistogramDataPoint,
    Summary => SummaryDataPoint
);

fn split_points<D: PointData>(
    shell: Metric,
    mut data: D,
    budget: usize,
    oversized: &mut Vec<String>,
) -> Vec<Metric> {
    let points = std::mem::take(data.points());
    if points.is_empty() {
        // Too large alone and nothing to split at: reported, never dropped silently.
        oversized.push(format!(
            "metric {:?} (it has no data points to split at)",
            shell.name
        ));
        return Vec::new();
    }
    let shell_len = shell.encoded_len();
    let data_len = data.encoded_len();
    // The data message is field 5..11 of Metric: a one-byte tag too.
    let fits = |used: usize| shell_len + field_len(data_len + used) <= budget;
    let point_budget = largest_child(&fits, budget);
    let mut kept = Vec::with_capacity(points.len());
    for point in points {
        match point_budget {
            Some(b) if point.encoded_len() <= b => kept.push(point),
            _ => oversized.push(format!("a data point of metric {:?}", shell.name)),
        }
    }
    pack(kept, &fits)
        .into_iter()
        .map(|group| {
            let mut piece = data.clone();
            *piece.points() = group;
            Metric {
                data: Some(piece.into_data()),
                ..shell.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{
        any_value, AnyValue, InstrumentationScope, KeyValue,
    };
    use opentelemetry_proto::tonic::metrics::v1::number_data_point;
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn number(i: usize, pad: usize) -> NumberDataPoint {
        NumberDataPoint {
            attributes: vec![kv("i", &format!("{i}{}", "x".repeat(pad)))],
            time_unix_nano: i as u64,
            value: Some(number_data_point::Value::AsInt(i as i64)),
            ..Default::default()
        }
    }

    fn request(
        resources: usize,
        scopes: usize,
        metrics: usize,
        points: usize,
    ) -> ExportMetricsServiceRequest {
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        ExportMetricsServiceRequest {
            resource_metrics: (0..resources)
                .map(|r| ResourceMetrics {
                    resource: Some(Resource {
                        attributes: vec![kv("service.name", &format!("svc{r}"))],
                        ..Default::default()
                    }),
                    scope_metrics: (0..scopes)
                        .map(|s| ScopeMetrics {
                            scope: Some(InstrumentationScope {
                                name: format!("scope{s}"),
                                ..Default::default()
                            }),
                            metrics: (0..metrics)
                                .map(|m| Metric {
                                    name: format!("m{m}"),
                                    unit: "1".into(),
                                    data: Some(match m % 3 {
                                        0 => Data::Sum(Sum {
                                            data_points: (0..points)
                                                .map(|_| number(next(), m * 7))
                                                .collect(),
                                            aggregation_temporality: 2,
                                            is_monotonic: true,
                                        }),
                                        1 => Data::Gauge(Gauge {
                                            data_points: (0..points)
                                                .map(|_| number(next(), 3))
                                                .collect(),
                                        }),
                                        _ => Data::Histogram(Histogram {
                                            data_points: (0..points)
                                                .map(|_| HistogramDataPoint {
                                                    count: next() as u64,
                                                    bucket_counts: vec![1, 2, 3],
                                                    explicit_bounds: vec![1.0, 2.0],
                                                    ..Default::default()
                                                })
                                                .collect(),
                                            aggregation_temporality: 1,
                                        }),
                                    }),
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    /// Every data point with the resource, scope and metric fields it sits in.
    fn flatten(requests: &[ExportMetricsServiceRequest]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for req in requests {
            for rm in &req.resource_metrics {
                let r = ResourceMetrics {
                    scope_metrics: vec![],
                    ..rm.clone()
                }
                .encode_to_vec();
                for sm in &rm.scope_metrics {
                    let s = ScopeMetrics {
                        metrics: vec![],
                        ..sm.clone()
                    }
                    .encode_to_vec();
                    for m in &sm.metrics {
                        let mut shell = m.clone();
                        let points: Vec<Vec<u8>> = match shell.data.as_mut().unwrap() {
                            Data::Sum(d) => std::mem::take(&mut d.data_points)
                                .iter()
                                .map(|p| p.encode_to_vec())
                                .collect(),
                            Data::Gauge(d) => std::mem::take(&mut d.data_points)
                                .iter()
                                .map(|p| p.encode_to_vec())
                                .collect(),
                            Data::Histogram(d) => std::mem::take(&mut d.data_points)
                                .iter()
                                .map(|p| p.encode_to_vec())
                                .collect(),
                            _ => unreachable!(),
                        };
                        for p in points {
                            out.push([r.clone(), s.clone(), shell.encode_to_vec(), p].concat());
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }

    fn decode_all(split: &Split) -> Vec<ExportMetricsServiceRequest> {
        split
            .requests
            .iter()
            .map(|b| ExportMetricsServiceRequest::decode(b.as_ref()).unwrap())
            .collect()
    }

    #[test]
    fn small_requests_pass_through_untouched() {
        let bytes = Bytes::from(request(1, 1, 3, 2).encode_to_vec());
        let split = split_request(bytes.clone(), 1 << 20);
        assert_eq!(split.requests, vec![bytes]);
    }

    #[test]
    fn the_union_of_the_pieces_is_the_input_and_each_fits() {
        let input = request(3, 2, 5, 40);
        let bytes = Bytes::from(input.encode_to_vec());
        for max in [300, 1000, 4096, bytes.len() / 2, bytes.len() - 1] {
            let split = split_request(bytes.clone(), max);
            assert!(
                split.oversized.is_empty(),
                "max {max}: {:?}",
                split.oversized
            );
            assert!(split.requests.len() > 1);
            for piece in &split.requests {
                assert!(piece.len() <= max, "piece of {} over {max}", piece.len());
            }
            assert_eq!(
                flatten(&decode_all(&split)),
                flatten(std::slice::from_ref(&input)),
                "max {max}"
            );
        }
    }

    #[test]
    fn a_metric_too_large_with_no_points_is_reported() {
        let mut input = request(1, 1, 2, 1);
        let metric = &mut input.resource_metrics[0].scope_metrics[0].metrics[0];
        metric.description = "x".repeat(300);
        let Some(Data::Sum(sum)) = metric.data.as_mut() else {
            panic!()
        };
        sum.data_points.clear();
        let split = split_request(Bytes::from(input.encode_to_vec()), 200);
        assert_eq!(split.oversized.len(), 1, "{:?}", split.oversized);
        assert!(split.oversized[0].contains("m0"));
    }

    #[test]
    fn a_data_point_too_large_alone_is_reported_and_the_rest_is_kept() {
        let mut input = request(1, 1, 1, 10);
        let Some(Data::Sum(sum)) = input.resource_metrics[0].scope_metrics[0].metrics[0]
            .data
            .as_mut()
        else {
            panic!()
        };
        sum.data_points[4] = number(999, 5000);
        let split = split_request(Bytes::from(input.encode_to_vec()), 1024);
        assert_eq!(
            split.oversized,
            vec!["a data point of metric \"m0\"".to_string()]
        );
        let got = decode_all(&split);
        let points: usize = flatten(&got).len();
        assert_eq!(points, 9);
        for piece in &split.requests {
            assert!(piece.len() <= 1024);
        }
    }
}
