//! Checks that uploaded bytes are a valid message of the expected type before anything
//! is sent, and wraps a `ResourceMetrics` into an `ExportMetricsServiceRequest` without
//! re-encoding it.

use bytes::{BufMut, Bytes, BytesMut};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use prost::Message;

use crate::error::{Error, Result};

/// Checks that `bytes` is a serialized `opentelemetry.proto.metrics.v1.ResourceMetrics`.
pub fn resource_metrics(bytes: &[u8]) -> Result<()> {
    ResourceMetrics::decode(bytes)
        .map(drop)
        .map_err(|e| Error::decode(format!("the bytes are not a valid ResourceMetrics: {e}")))
}

/// Checks that `bytes` is a serialized `ExportMetricsServiceRequest`.
pub fn export_request(bytes: &[u8]) -> Result<()> {
    ExportMetricsServiceRequest::decode(bytes)
        .map(drop)
        .map_err(|e| {
            Error::decode(format!(
                "the bytes are not a valid ExportMetricsServiceRequest: {e}"
            ))
        })
}

/// The `ExportMetricsServiceRequest` whose only `resource_metrics` entry (field 1) is the
/// already-serialized `resource_metrics`: one copy, no re-encoding.
pub fn wrap_resource_metrics(resource_metrics: &[u8]) -> Bytes {
    let len = resource_metrics.len() as u64;
    let mut out = BytesMut::with_capacity(
        1 + prost::encoding::encoded_len_varint(len) + resource_metrics.len(),
    );
    out.put_u8(0x0a); // field 1, wire type 2 (length-delimited)
    prost::encoding::encode_varint(len, &mut out);
    out.put_slice(resource_metrics);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::resource::v1::Resource;

    #[test]
    fn wrapping_equals_encoding_the_request() {
        let rm = ResourceMetrics {
            resource: Some(Resource::default()),
            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
            ..Default::default()
        };
        let bytes = rm.encode_to_vec();
        let wrapped = wrap_resource_metrics(&bytes);
        let expected = ExportMetricsServiceRequest {
            resource_metrics: vec![rm],
        }
        .encode_to_vec();
        assert_eq!(&wrapped[..], &expected[..]);
        // An empty ResourceMetrics still becomes one (empty) entry.
        assert_eq!(&wrap_resource_metrics(&[])[..], &[0x0a, 0x00]);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        for bad in [&b"\xff\xff\xff"[..], b"\x0a\x05ab", b"\x1a\x02\xc3\x28"] {
            let e = resource_metrics(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Decode, "{bad:?}");
        }
        assert!(resource_metrics(&[]).is_ok());
        assert!(export_request(&[]).is_ok());
    }
}
