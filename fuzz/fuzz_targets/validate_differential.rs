//! The wire-format validator (`otlpmetric::validate`) must accept exactly what prost
//! accepts, for both message types the C ABI takes: any disagreement is a crash.
//!
//! With `OTLPMETRIC_FUZZ_STRICT=1`, also: what `upload`/`enqueue` send for an accepted
//! ResourceMetrics (`wrap_resource_metrics`) is a request that both accept. Not yet: a
//! ResourceMetrics nested exactly to prost's limit is accepted, and the request it is
//! wrapped in (one level deeper) is not (corpus file rm_nested_at_limit.pb).
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use otlpmetric::validate;
use otlpmetric_fuzz::strict;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let ours = validate::resource_metrics(data);
    let prost = ResourceMetrics::decode(data);
    assert_eq!(
        ours.is_ok(),
        prost.is_ok(),
        "ResourceMetrics verdicts differ: validate {:?}, prost {:?}",
        ours.as_ref().err().map(|e| e.to_string()),
        prost.as_ref().err().map(|e| e.to_string()),
    );

    if ours.is_ok() && strict() {
        let wrapped = validate::wrap_resource_metrics(data);
        let ours = validate::export_request(&wrapped);
        let prost = ExportMetricsServiceRequest::decode(wrapped.as_ref());
        assert!(
            ours.is_ok() && prost.is_ok(),
            "an accepted ResourceMetrics, wrapped, is refused: validate {:?}, prost {:?}",
            ours.as_ref().err().map(|e| e.to_string()),
            prost.as_ref().err().map(|e| e.to_string()),
        );
    }

    let ours = validate::export_request(data);
    let prost = ExportMetricsServiceRequest::decode(data);
    assert_eq!(
        ours.is_ok(),
        prost.is_ok(),
        "ExportMetricsServiceRequest verdicts differ: validate {:?}, prost {:?}",
        ours.as_ref().err().map(|e| e.to_string()),
        prost.as_ref().err().map(|e| e.to_string()),
    );
});
