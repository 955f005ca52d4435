//! OTLP/JSON output (`otlpmetric::json::from_protobuf`, what OTLP/HTTP JSON sends for a
//! validated protobuf upload): for every request the validator accepts it never panics,
//! and for prost's own (canonical) encoding of it, it writes JSON that `to_protobuf`
//! reads back to the same message.
//!
//! Known fault, allowed here unless strict: `to_protobuf` reads some doubles a few ULPs
//! off (serde_json without its `float_roundtrip` feature), e.g. "2.0933733501190683e-231"
//! becomes 0x1.a000000000001p-767 instead of 0x1.a000000000000p-767, and
//! "1.1641532182693481e-10" (2^-33) becomes 0x1.ffffffffffffep-34.
//!
//! Requests nested to prost's limit are covered too: `to_protobuf` reads JSON as deep as
//! any valid request can be (serde_json's own limit of 128 levels is off).
//!
//! With `OTLPMETRIC_FUZZ_STRICT=1` the ULP fault is not allowed, and the round trip is also required
//! of the bytes as given (any encoding the validator accepts: fields out of order, a oneof
//! set twice, unknown groups), which holds since json.rs keeps the last oneof member and
//! skips unknown groups.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use otlpmetric::{json, validate};
use otlpmetric_fuzz::{same_but_for_float_ulps, strict};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if validate::export_request(data).is_err() {
        return;
    }
    let canonical = ExportMetricsServiceRequest::decode(data)
        .expect("validated bytes decode")
        .encode_to_vec();
    let as_given = json::from_protobuf(data);
    round_trip(&canonical, &canonical, "canonical");
    if strict() {
        if let Err(e) = as_given {
            panic!("from_protobuf refuses a request the validator accepts: {e}");
        }
        round_trip(data, &canonical, "as given");
    }
});

/// from_protobuf(bytes) then to_protobuf gives a message whose encoding is `expected`.
fn round_trip(bytes: &[u8], expected: &[u8], what: &str) {
    let text = match json::from_protobuf(bytes) {
        Ok(text) => text,
        Err(e) => panic!("from_protobuf ({what}) refuses a valid request: {e}"),
    };
    let again = match json::to_protobuf(&text) {
        Ok(again) => again,
        Err(e) => panic!(
            "to_protobuf refuses what from_protobuf ({what}) wrote: {e}; JSON: {}",
            String::from_utf8_lossy(&text)
        ),
    };
    let again = ExportMetricsServiceRequest::decode(again.as_slice())
        .expect("to_protobuf's output decodes")
        .encode_to_vec();
    if again != expected && !strict() && same_but_for_float_ulps(&again, expected) {
        return;
    }
    assert!(
        again == expected,
        "protobuf -> JSON -> protobuf ({what}) changed the message\n  in:  {bytes:02x?}\n  \
         out: {again:02x?}\n  JSON: {}",
        String::from_utf8_lossy(&text)
    );
}
