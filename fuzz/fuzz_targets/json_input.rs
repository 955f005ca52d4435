//! OTLP/JSON input (`otlpmetric::internals::json`, behind `otlpmetric_exporter_upload_json`) never
//! panics, and whatever it accepts encodes to protobuf that the library's own validator
//! (and prost) accept, as a receiver would. Also: `to_protobuf` agrees with
//! `parse_request`, and `from_protobuf` output reads back to the same message.
//!
//! `to_protobuf` writes byte for byte what prost writes for the parsed message (as json.rs
//! says), and doubles survive the JSON round trip exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use otlpmetric::internals::{json, validate};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let parsed = json::parse_request(data);
    let transcoded = json::to_protobuf(data);
    assert_eq!(
        parsed.is_ok(),
        transcoded.is_ok(),
        "parse_request {:?} but to_protobuf {:?}",
        parsed.as_ref().err().map(|e| e.to_string()),
        transcoded.as_ref().err().map(|e| e.to_string()),
    );
    let (Ok(request), Ok(bytes)) = (parsed, transcoded) else {
        return;
    };
    let encoded = request.encode_to_vec();
    if let Err(e) = validate::export_request(&encoded) {
        panic!("parsed OTLP/JSON encodes to {encoded:02x?}, which the validator refuses: {e}");
    }
    // prost reads it back to the same message (compared by encoding: NaN != NaN).
    let decoded = ExportMetricsServiceRequest::decode(encoded.as_slice())
        .expect("the encoding of a parsed request decodes");
    assert_eq!(decoded.encode_to_vec(), encoded, "encode/decode round trip");
    let decoded = ExportMetricsServiceRequest::decode(bytes.as_slice())
        .expect("to_protobuf's output decodes")
        .encode_to_vec();
    assert_eq!(decoded, encoded, "to_protobuf and parse_request disagree");
    assert_eq!(bytes, encoded, "to_protobuf differs from prost's encoding");

    // OTLP/JSON written by the library reads back to the same message.
    let text = json::from_protobuf(&bytes).expect("from_protobuf of a valid request");
    match json::to_protobuf(&text) {
        Ok(again) => {
            let again = ExportMetricsServiceRequest::decode(again.as_slice())
                .expect("to_protobuf's output decodes")
                .encode_to_vec();
            assert!(
                again == encoded,
                "from_protobuf -> to_protobuf changed the message; JSON: {}",
                String::from_utf8_lossy(&text)
            );
        }
        Err(e) => panic!(
            "from_protobuf wrote OTLP/JSON that to_protobuf refuses: {e}; JSON: {}",
            String::from_utf8_lossy(&text)
        ),
    }
});
