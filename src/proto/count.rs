//! Counts the data points of a serialized `ExportMetricsServiceRequest` by walking its
//! wire format, without decoding it into messages.

use prost::encoding::decode_varint;

/// `ExportMetricsServiceRequest.resource_metrics`, `ResourceMetrics.scope_metrics`,
/// `ScopeMetrics.metrics`, and every data message's `data_points`.
const RESOURCE_METRICS: u32 = 1;
const SCOPE_METRICS: u32 = 2;
const METRICS: u32 = 2;
const DATA_POINTS: u32 = 1;

/// `Metric`'s data fields: gauge, sum, histogram, exponential histogram, summary.
fn is_data(field: u32) -> bool {
    matches!(field, 5 | 7 | 9 | 10 | 11)
}

/// The data points of a serialized `ExportMetricsServiceRequest`. Counts what it can
/// read of bytes that are not a valid request.
pub fn data_points(request: &[u8]) -> u64 {
    let mut count = 0u64;
    each_field(request, &|f| f == RESOURCE_METRICS, &mut |resource| {
        each_field(resource, &|f| f == SCOPE_METRICS, &mut |scope| {
            each_field(scope, &|f| f == METRICS, &mut |metric| {
                each_field(metric, &is_data, &mut |data| {
                    each_field(data, &|f| f == DATA_POINTS, &mut |_| count += 1);
                });
            });
        });
    });
    count
}

/// Calls `each` with the body of every length-delimited field of `message` whose number
/// `wanted` accepts; stops at the first byte that does not parse.
fn each_field<'a>(
    mut message: &'a [u8],
    wanted: &dyn Fn(u32) -> bool,
    each: &mut dyn FnMut(&'a [u8]),
) {
    while !message.is_empty() {
        let Ok(key) = decode_varint(&mut message) else {
            return;
        };
        let skip = match key & 7 {
            0 => match decode_varint(&mut message) {
                Ok(_) => 0,
                Err(_) => return,
            },
            1 => 8,
            5 => 4,
            2 => {
                let Some(len) = decode_varint(&mut message)
                    .ok()
                    .and_then(|len| usize::try_from(len).ok())
                    .filter(|len| *len <= message.len())
                else {
                    return;
                };
                if wanted((key >> 3) as u32) {
                    each(&message[..len]);
                }
                len
            }
            _ => return,
        };
        let Some(rest) = message.get(skip..) else {
            return;
        };
        message = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{
        metric::Data, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
        ResourceMetrics, ScopeMetrics, Sum,
    };
    use prost::Message;

    fn metric(data: Data) -> Metric {
        Metric {
            name: "m".into(),
            data: Some(data),
            ..Metric::default()
        }
    }

    #[test]
    fn counts_every_kind_of_point_in_every_scope_and_resource() {
        let numbers = |n| vec![NumberDataPoint::default(); n];
        let scope = ScopeMetrics {
            metrics: vec![
                metric(Data::Sum(Sum {
                    data_points: numbers(3),
                    ..Sum::default()
                })),
                metric(Data::Gauge(Gauge {
                    data_points: numbers(2),
                })),
                metric(Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint::default(); 4],
                    aggregation_temporality: 2,
                })),
                // No data: no point.
                Metric::default(),
            ],
            ..ScopeMetrics::default()
        };
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![
                ResourceMetrics {
                    scope_metrics: vec![scope.clone(), scope.clone()],
                    ..ResourceMetrics::default()
                },
                ResourceMetrics {
                    scope_metrics: vec![scope],
                    ..ResourceMetrics::default()
                },
            ],
        };
        let bytes = request.encode_to_vec();
        assert_eq!(data_points(&bytes), 27);
        assert_eq!(data_points(&[]), 0);
        // Cut anywhere: no panic, never more than the whole.
        for end in 0..bytes.len() {
            assert!(data_points(&bytes[..end]) <= 27);
        }
    }
}
