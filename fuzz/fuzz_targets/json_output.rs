//! OTLP/JSON output (`otlpmetric::internals::json::from_protobuf`, what OTLP/HTTP JSON sends for a
//! validated protobuf upload): for every request the validator accepts it never panics,
//! and for prost's own (canonical) encoding of it, it writes JSON that `to_protobuf`
//! reads back to the same message.
//!
//! Also for the bytes as given (any encoding the validator accepts: fields out of order, a
//! oneof set twice, unknown groups): json.rs keeps the last oneof member and skips unknown
//! groups, as prost does. Requests nested to prost's limit are covered too: `to_protobuf`
//! reads JSON as deep as any valid request can be. Doubles survive exactly, except that a
//! NaN's sign and payload cannot: OTLP/JSON (the protobuf JSON mapping) writes every NaN
//! as "NaN", read back as the canonical NaN.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use otlpmetric::internals::{json, validate};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if validate::export_request(data).is_err() {
        return;
    }
    let canonical = ExportMetricsServiceRequest::decode(data)
        .expect("validated bytes decode")
        .encode_to_vec();
    round_trip(&canonical, &canonical, "canonical");
    round_trip(data, &canonical, "as given");
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
    assert!(
        again == expected || equal_but_for_nan_payloads(&again, expected),
        "protobuf -> JSON -> protobuf ({what}) changed the message\n  in:  {bytes:02x?}\n  \
         out: {again:02x?}\n  JSON: {}",
        String::from_utf8_lossy(&text)
    );
}

/// Both decode to the same message if NaNs are taken as equal (Debug writes every f64
/// exactly, and every NaN as `NaN`).
fn equal_but_for_nan_payloads(a: &[u8], b: &[u8]) -> bool {
    let debug = |bytes: &[u8]| format!("{:?}", ExportMetricsServiceRequest::decode(bytes).unwrap());
    debug(a) == debug(b)
}
