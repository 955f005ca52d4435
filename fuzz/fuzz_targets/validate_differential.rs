//! The wire-format validator (`otlpmetric::internals::validate`) must accept exactly what prost
//! accepts, for both message types the C ABI takes: any disagreement is a crash.
//!
//! A ResourceMetrics is what `upload`/`enqueue` take and send wrapped in a request
//! (`wrap_resource_metrics`), one level deeper: `validate::resource_metrics` must accept
//! exactly the ResourceMetrics whose wrapped request prost accepts (a ResourceMetrics
//! nested exactly to prost's limit decodes alone but not once wrapped: corpus file
//! rm_nested_at_limit.pb).
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use otlpmetric::internals::validate;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let ours = validate::resource_metrics(data);
    let wrapped = validate::wrap_resource_metrics(data);
    let prost = ExportMetricsServiceRequest::decode(wrapped.as_ref());
    assert_eq!(
        ours.is_ok(),
        prost.is_ok(),
        "ResourceMetrics verdicts differ: validate {:?}, prost (wrapped in a request) {:?}",
        ours.as_ref().err().map(|e| e.to_string()),
        prost.as_ref().err().map(|e| e.to_string()),
    );
    // What is sent for an accepted ResourceMetrics passes the request check too.
    assert_eq!(
        validate::export_request(&wrapped).is_ok(),
        ours.is_ok(),
        "the wrapped request's verdict differs from the ResourceMetrics'"
    );

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
