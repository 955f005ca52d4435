//! OTLP/gRPC with tonic. The request is already a serialized
//! `ExportMetricsServiceRequest`, so it is forwarded as bytes by a pass-through codec.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes};
use http::uri::{PathAndQuery, Scheme};
use http::Uri;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
use rustls::ClientConfig;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::{excerpt, tls, Accepted, AttemptError, USER_AGENT};
use crate::config::{Compression, Settings};
use crate::error::{Error, Result};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

pub(crate) struct GrpcClient {
    grpc: tonic::client::Grpc<Channel>,
    metadata: MetadataMap,
}

impl GrpcClient {
    pub(crate) fn new(settings: &Settings, tls: Option<Arc<ClientConfig>>) -> Result<Self> {
        let mut uri = settings.endpoint.clone();
        if settings.insecure && uri.scheme() == Some(&Scheme::HTTPS) {
            uri = with_scheme(uri, Scheme::HTTP)?;
        }
        let endpoint = Endpoint::from(uri)
            .user_agent(USER_AGENT)
            .map_err(|e| Error::invalid(format!("gRPC user agent: {e}")))?
            .tcp_nodelay(true)
            .http2_adaptive_window(true);
        let channel = endpoint.connect_with_connector_lazy(tls::connector(tls, true));
        let mut grpc = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(crate::MAX_RESPONSE_BYTES)
            .max_encoding_message_size(usize::MAX)
            .accept_compressed(CompressionEncoding::Gzip);
        if settings.compression == Compression::Gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        Ok(GrpcClient {
            grpc,
            metadata: MetadataMap::from_headers(settings.headers.clone()),
        })
    }

    pub(crate) async fn send(
        &self,
        request: &Bytes,
        timeout: Option<Duration>,
    ) -> Result<Accepted, AttemptError> {
        let mut grpc = self.grpc.clone();
        grpc.ready()
            .await
            .map_err(|e| AttemptError::retryable(format!("gRPC connection failed: {e}"), None))?;
        let mut call = tonic::Request::new(request.clone());
        *call.metadata_mut() = self.metadata.clone();
        if let Some(timeout) = timeout {
            call.set_timeout(timeout);
        }
        let path = PathAndQuery::from_static(EXPORT_PATH);
        match grpc.unary(call, path, PassThroughCodec).await {
            Ok(response) => {
                let partial = response.into_inner().partial_success.unwrap_or_default();
                Ok(Accepted {
                    rejected_data_points: partial.rejected_data_points,
                    message: partial.error_message,
                })
            }
            Err(status) => Err(classify(&status)),
        }
    }
}

fn with_scheme(uri: Uri, scheme: Scheme) -> Result<Uri> {
    let mut parts = uri.into_parts();
    parts.scheme = Some(scheme);
    Uri::from_parts(parts).map_err(|e| Error::invalid(format!("endpoint: {e}")))
}

/// The specification's retry rules for gRPC status codes.
fn classify(status: &Status) -> AttemptError {
    // Statuses tonic makes up on this side: the response was over our size limit, or the
    // connection failed or dropped (those carry the transport error as their source).
    if status.code() == Code::OutOfRange && status.message().contains("message length too large") {
        return AttemptError::permanent(format!(
            "the receiver's gRPC response is over {} bytes: {}",
            crate::MAX_RESPONSE_BYTES,
            excerpt(status.message())
        ));
    }
    if let Some(source) = std::error::Error::source(status) {
        return AttemptError::retryable(
            format!(
                "gRPC connection failed: {}: {source}",
                excerpt(status.message())
            ),
            None,
        );
    }
    let throttle = status.get_details_retry_info().and_then(|r| r.retry_delay);
    let retryable = match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => throttle.is_some(),
        _ => false,
    };
    let message = format!(
        "gRPC status {:?} ({}): {}",
        status.code(),
        status.code() as i32,
        excerpt(status.message())
    );
    AttemptError {
        retryable,
        throttle,
        message,
    }
}

/// Sends pre-serialized request bytes as they are and decodes the response with prost.
#[derive(Clone, Copy, Debug, Default)]
struct PassThroughCodec;

impl Codec for PassThroughCodec {
    type Encode = Bytes;
    type Decode = ExportMetricsServiceResponse;
    type Encoder = PassThroughCodec;
    type Decoder = PassThroughCodec;

    fn encoder(&mut self) -> Self::Encoder {
        PassThroughCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        PassThroughCodec
    }
}

impl Encoder for PassThroughCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PassThroughCodec {
    type Item = ExportMetricsServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        ExportMetricsServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| {
                Status::internal(format!(
                    "the receiver's response is not a valid ExportMetricsServiceResponse: {e}"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_codes_follow_the_spec() {
        for code in [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            assert!(classify(&Status::new(code, "x")).retryable, "{code:?}");
        }
        for code in [
            Code::InvalidArgument,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::Internal,
            Code::Unimplemented,
            Code::ResourceExhausted,
        ] {
            assert!(!classify(&Status::new(code, "x")).retryable, "{code:?}");
        }
        let throttled = tonic::Status::with_error_details(
            Code::ResourceExhausted,
            "slow down",
            tonic_types::ErrorDetails::with_retry_info(Some(Duration::from_millis(1500))),
        );
        let e = classify(&throttled);
        assert!(e.retryable);
        assert_eq!(e.throttle, Some(Duration::from_millis(1500)));
        assert!(
            e.message.contains("ResourceExhausted (8): slow down"),
            "{}",
            e.message
        );
    }
}
