//! OTLP/JSON input: the encoding OTLP/HTTP and the OTLP file exporter use (lowerCamelCase
//! keys, enums as integers, 64-bit integers as strings or numbers, hex trace and span ids),
//! read with the serde mapping of the `opentelemetry-proto` crate.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use crate::error::{Error, Result};

/// Parses an OTLP/JSON `ExportMetricsServiceRequest`; an error says where the fault is.
pub fn parse_request(json: &[u8]) -> Result<ExportMetricsServiceRequest> {
    serde_json::from_slice(json).map_err(|e| {
        Error::decode(format!(
            "invalid OTLP/JSON ExportMetricsServiceRequest at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};

    const SAMPLE: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"demo"}},
        {"key":"pid","value":{"intValue":"42"}}]},
      "scopeMetrics":[{"scope":{"name":"s","version":"1"},"metrics":[
        {"name":"requests","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,
          "dataPoints":[{"startTimeUnixNano":"1000","timeUnixNano":2000,"asInt":"7",
            "attributes":[{"key":"k","value":{"boolValue":true}}]}]}},
        {"name":"temp","gauge":{"dataPoints":[{"timeUnixNano":"2000","asDouble":21.5}]}},
        {"name":"lat","histogram":{"aggregationTemporality":1,"dataPoints":[{"timeUnixNano":"2000",
          "count":"3","sum":6.5,"bucketCounts":["1","2"],"explicitBounds":[5.0],"min":1,"max":4,
          "exemplars":[{"timeUnixNano":"2000","asDouble":1.0,"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}}]}]}]}"#;

    #[test]
    fn reads_the_otlp_json_encoding() {
        let req = parse_request(SAMPLE.as_bytes()).unwrap();
        let rm = &req.resource_metrics[0];
        let attrs = &rm.resource.as_ref().unwrap().attributes;
        assert_eq!(
            attrs[1].value.as_ref().unwrap().value,
            Some(Value::IntValue(42))
        );
        let metrics = &rm.scope_metrics[0].metrics;
        let Some(Data::Sum(sum)) = &metrics[0].data else {
            panic!()
        };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, 2);
        assert_eq!(sum.data_points[0].time_unix_nano, 2000);
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(7))
        );
        let Some(Data::Histogram(h)) = &metrics[2].data else {
            panic!()
        };
        assert_eq!(h.data_points[0].bucket_counts, vec![1, 2]);
        assert_eq!(h.data_points[0].exemplars[0].span_id.len(), 8);
    }

    #[test]
    fn sixty_four_bit_integers_may_be_numbers() {
        let json = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
            {"name":"c","sum":{"dataPoints":[{"asInt":-5,"timeUnixNano":7,"startTimeUnixNano":"6"}]}},
            {"name":"h","histogram":{"dataPoints":[{"count":3,"bucketCounts":[1,"2"],"flags":1}]}}]}]}]}"#;
        let req = parse_request(json.as_bytes()).unwrap();
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let Some(Data::Sum(sum)) = &metrics[0].data else {
            panic!()
        };
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(-5))
        );
        assert_eq!(sum.data_points[0].time_unix_nano, 7);
        let Some(Data::Histogram(h)) = &metrics[1].data else {
            panic!()
        };
        assert_eq!(h.data_points[0].count, 3);
        assert_eq!(h.data_points[0].bucket_counts, vec![1, 2]);
        assert_eq!(h.data_points[0].flags, 1);
    }

    #[test]
    fn malformed_json_names_the_position() {
        let e = parse_request(b"{\"resourceMetrics\": [\n  {\"resource\": 5}]}").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Decode);
        assert!(e.message().contains("line 2"), "{e}");
        let e = parse_request(b"{\"resourceMetrics\": [").unwrap_err();
        assert!(e.message().contains("column"), "{e}");
    }
}
