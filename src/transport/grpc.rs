//! OTLP/gRPC: a unary `MetricsService/Export` call made directly on hyper's HTTP/2 client.
//!
//! The request is already a serialized `ExportMetricsServiceRequest`, so the body is the
//! 5-byte gRPC message prefix chained to those bytes: nothing is re-encoded or copied on
//! the way to the socket (a codec-based client such as tonic's copies the message into
//! its encode buffer). The response side follows the gRPC HTTP/2 protocol: trailers-only
//! or headers + one length-prefixed message + trailers, `grpc-status`, `grpc-message`
//! (percent-encoded) and `grpc-status-details-bin` (a `google.rpc.Status`, where a
//! `RetryInfo` says how long to wait). Whatever a receiver sends is bounded and checked;
//! nothing it sends can panic.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use bytes::{Buf, Bytes};
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, TE};
use http::uri::{PathAndQuery, Scheme};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
use rustls::ClientConfig;
use tonic::Code;

use super::{
    compress, connect, error_chain, excerpt, Accepted, AttemptError, ResponseStatus, USER_AGENT,
};
use crate::config::{AttemptHeaders, Compression, Settings};
use crate::error::{Error, Result};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
const GRPC_STATUS: &str = "grpc-status";
const GRPC_MESSAGE: &str = "grpc-message";
const GRPC_STATUS_DETAILS: &str = "grpc-status-details-bin";
const GRPC_ENCODING: &str = "grpc-encoding";
const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The request body: the gRPC message prefix, then the serialized request.
type GrpcBody = Full<bytes::buf::Chain<Bytes, Bytes>>;

/// Hyper's HTTP/2 client, sharing one connection per endpoint among concurrent calls.
type HyperClient = Client<connect::Connector, GrpcBody>;

pub(crate) struct GrpcClient {
    client: HyperClient,
    uri: Uri,
    headers: HeaderMap,
    compression: Compression,
    max_response_bytes: usize,
}

impl GrpcClient {
    pub(crate) fn new(settings: &Settings, tls: Option<Arc<ClientConfig>>) -> Result<Self> {
        let mut endpoint = settings.endpoint.clone();
        if settings.insecure && endpoint.scheme() == Some(&Scheme::HTTPS) {
            endpoint = with_scheme(endpoint, Scheme::HTTP)?;
        }
        let uri = export_uri(endpoint)?;
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .http2_adaptive_window(true)
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(super::POOL_IDLE_TIMEOUT)
            .build(connect::connector(settings, tls, true));
        let mut headers = settings.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        // A User-Agent the user configured wins over ours.
        headers
            .entry(http::header::USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT));
        headers.insert(
            HeaderName::from_static("grpc-accept-encoding"),
            HeaderValue::from_static("gzip,zstd"),
        );
        if let Some(encoding) = settings.compression.encoding() {
            headers.insert(
                HeaderName::from_static(GRPC_ENCODING),
                HeaderValue::from_static(encoding),
            );
        }
        Ok(GrpcClient {
            client,
            uri,
            headers,
            compression: settings.compression,
            max_response_bytes: settings.max_response_bytes,
        })
    }

    /// The gRPC message for `request`: the request, compressed as configured.
    pub(crate) fn wire_body(&self, request: &Bytes) -> Bytes {
        compress(self.compression, request.clone())
    }

    /// Sends a [message](Self::wire_body); `timeout` becomes its `grpc-timeout`.
    ///
    /// Calls share one HTTP/2 connection whose state hyper keeps behind a lock that the
    /// connection's task also takes, so the call's network part runs as a task of its
    /// own on the runtime's worker, next to that one, rather than on the thread waiting
    /// for it. Dropping the returned future aborts that task.
    pub(crate) async fn send(
        &self,
        message: &Bytes,
        timeout: Option<Duration>,
        extra_headers: Option<&AttemptHeaders>,
    ) -> Result<Accepted, AttemptError> {
        let message = message.clone();
        let body = Full::new(
            message_prefix(self.compression != Compression::None, message.len())?.chain(message),
        );
        let mut call = Request::new(body);
        *call.method_mut() = Method::POST;
        *call.uri_mut() = self.uri.clone();
        *call.headers_mut() = self.headers.clone();
        if let Some(extra) = extra_headers {
            extra.apply_to(call.headers_mut());
        }
        if let Some(timeout) = timeout {
            call.headers_mut()
                .insert("grpc-timeout", grpc_timeout(timeout));
        }
        let task = tokio::spawn(exchange(self.client.clone(), call, self.max_response_bytes));
        let _abort = AbortOnDrop(task.abort_handle());
        task.await.unwrap_or_else(|error| {
            Err(AttemptError::permanent(if error.is_panic() {
                "internal error: the gRPC call's task panicked"
            } else {
                "the gRPC call's task was stopped with the exporter's runtime"
            }))
        })
    }
}

/// Aborts a task when dropped (a call given up on must not go on in the background).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One unary call on the wire: the request, then the response and its status.
async fn exchange(
    client: HyperClient,
    call: Request<GrpcBody>,
    max_response_bytes: usize,
) -> Result<Accepted, AttemptError> {
    let uri = call.uri().clone();
    let response = client.request(call).await.map_err(|e| {
        AttemptError::retryable(
            format!("gRPC connection to {uri} failed: {}", error_chain(&e)),
            None,
        )
    })?;
    let (parts, body) = response.into_parts();
    if let Some(status) = GrpcStatus::from_headers(&parts.headers) {
        // Trailers-only: the call ended before any message.
        return status.into_result(None, max_response_bytes);
    }
    if parts.status != http::StatusCode::OK {
        return Err(http_status_error(parts.status));
    }
    let collected = Limited::new(body, max_response_bytes)
        .collect()
        .await
        .map_err(|e| body_error(&*e, max_response_bytes))?;
    let status = collected
        .trailers()
        .and_then(GrpcStatus::from_headers)
        .ok_or_else(|| {
            AttemptError::permanent("the receiver's gRPC response has no grpc-status")
        })?;
    // gRPC servers answer in the request's encoding whatever grpc-accept-encoding says.
    let encoding = parts
        .headers
        .get(GRPC_ENCODING)
        .and_then(|v| v.to_str().ok())
        .and_then(Compression::parse);
    status.into_result(Some((collected.to_bytes(), encoding)), max_response_bytes)
}

fn with_scheme(uri: Uri, scheme: Scheme) -> Result<Uri> {
    let mut parts = uri.into_parts();
    parts.scheme = Some(scheme);
    Uri::from_parts(parts).map_err(|e| Error::invalid(format!("endpoint: {e}")))
}

/// The endpoint with the Export method's path (any path of the endpoint is replaced, as
/// gRPC clients take only the authority of a target).
fn export_uri(endpoint: Uri) -> Result<Uri> {
    let mut parts = endpoint.into_parts();
    parts.path_and_query = Some(PathAndQuery::from_static(EXPORT_PATH));
    Uri::from_parts(parts).map_err(|e| Error::invalid(format!("endpoint: {e}")))
}

/// The gRPC length-prefixed-message header: compressed flag, then the length (big-endian).
fn message_prefix(compressed: bool, len: usize) -> Result<Bytes, AttemptError> {
    let len = u32::try_from(len).map_err(|_| {
        AttemptError::permanent(format!(
            "the request ({len} bytes) is over gRPC's 4 GiB message limit"
        ))
    })?;
    let mut prefix = [0u8; 5];
    prefix[0] = u8::from(compressed);
    prefix[1..].copy_from_slice(&len.to_be_bytes());
    Ok(Bytes::copy_from_slice(&prefix))
}

/// `grpc-timeout`: at most 8 digits and a unit, in the finest unit that fits.
fn grpc_timeout(timeout: Duration) -> HeaderValue {
    const MAX: u128 = 99_999_999;
    let micros = timeout.as_micros().max(1);
    let value = [
        (1, "u"),
        (1_000, "m"),
        (1_000_000, "S"),
        (3_600_000_000, "H"),
    ]
    .into_iter()
    .map(|(per_unit, unit)| (micros.div_ceil(per_unit), unit))
    .find(|(n, _)| *n <= MAX)
    .map_or_else(|| format!("{MAX}H"), |(n, unit)| format!("{n}{unit}"));
    HeaderValue::try_from(value).expect("digits and a letter are a valid header value")
}

/// A response that is not HTTP 200 and carries no gRPC status: the gRPC specification's
/// mapping of HTTP statuses to codes decides whether to retry.
fn http_status_error(status: http::StatusCode) -> AttemptError {
    let code = match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    };
    let message = format!("HTTP status {} without a gRPC status", status.as_u16());
    if status == http::StatusCode::PAYLOAD_TOO_LARGE {
        // A proxy in front of the receiver refusing the request for its size.
        return AttemptError::too_large(format!("gRPC status Unknown (2): {message}"))
            .with_status(ResponseStatus::Grpc(Code::Unknown as i32));
    }
    classify(code, &message, None)
}

/// Reading the response body failed: over our size limit, or the stream broke.
fn body_error(
    error: &(dyn std::error::Error + 'static),
    max_response_bytes: usize,
) -> AttemptError {
    if error.is::<http_body_util::LengthLimitError>() {
        return AttemptError::permanent(format!(
            "the receiver's gRPC response is over {max_response_bytes} bytes (max_response_bytes)"
        ));
    }
    AttemptError::retryable(
        format!("gRPC response broken off: {}", error_chain(error)),
        None,
    )
}

/// The status a receiver ended a call with.
struct GrpcStatus {
    code: Code,
    message: String,
    details: Option<Vec<u8>>,
}

impl GrpcStatus {
    /// From response headers or trailers, if they have `grpc-status`.
    fn from_headers(headers: &HeaderMap) -> Option<GrpcStatus> {
        let code = headers.get(GRPC_STATUS)?;
        let code = std::str::from_utf8(code.as_bytes())
            .ok()
            .and_then(|c| c.parse::<i32>().ok())
            .map_or(Code::Unknown, Code::from_i32);
        let message = headers
            .get(GRPC_MESSAGE)
            .map(|m| {
                percent_encoding::percent_decode(m.as_bytes())
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        // -bin values are base64, padded or not; undecodable details are ignored.
        const BASE64: GeneralPurpose = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let details = headers
            .get(GRPC_STATUS_DETAILS)
            .and_then(|d| BASE64.decode(d.as_bytes()).ok());
        Some(GrpcStatus {
            code,
            message,
            details,
        })
    }

    /// OK with the response body (if the call had one), or the failure.
    fn into_result(
        self,
        body: Option<(Bytes, Option<Compression>)>,
        max_response_bytes: usize,
    ) -> Result<Accepted, AttemptError> {
        if self.code != Code::Ok {
            let throttle = self.details.as_deref().and_then(retry_delay);
            return Err(classify(self.code, &self.message, throttle));
        }
        let Some((body, encoding)) = body else {
            return Ok(Accepted {
                status: Some(ResponseStatus::Grpc(0)),
                ..Accepted::default()
            });
        };
        let response = response_message(body, encoding, max_response_bytes).map_err(|why| {
            AttemptError::permanent(format!(
                "the receiver's gRPC response is not a valid ExportMetricsServiceResponse: {why}"
            ))
            .with_status(ResponseStatus::Grpc(0))
        })?;
        let partial = response.partial_success.unwrap_or_default();
        Ok(Accepted {
            rejected_data_points: partial.rejected_data_points,
            message: partial.error_message,
            status: Some(ResponseStatus::Grpc(0)),
        })
    }
}

/// The one length-prefixed message of a unary response (none is taken as an empty one).
fn response_message(
    mut body: Bytes,
    encoding: Option<Compression>,
    max_response_bytes: usize,
) -> std::result::Result<ExportMetricsServiceResponse, String> {
    if body.is_empty() {
        return Ok(ExportMetricsServiceResponse::default());
    }
    if body.len() < 5 {
        return Err("truncated message prefix".into());
    }
    let compressed = body.get_u8();
    let len = body.get_u32() as usize;
    if len != body.len() {
        return Err(format!(
            "the message prefix says {len} bytes, {} follow",
            body.len()
        ));
    }
    let message = match compressed {
        0 => body,
        1 => match encoding {
            Some(encoding @ (Compression::Gzip | Compression::Zstd)) => {
                decompress(encoding, &body, max_response_bytes)?
            }
            Some(Compression::None) | None => {
                return Err("a compressed message without grpc-encoding: gzip or zstd".into())
            }
        },
        flag => return Err(format!("invalid compressed flag {flag}")),
    };
    ExportMetricsServiceResponse::decode(message).map_err(|e| e.to_string())
}

/// Decompresses within our response size limit.
fn decompress(
    encoding: Compression,
    compressed: &[u8],
    max_response_bytes: usize,
) -> std::result::Result<Bytes, String> {
    let name = encoding.encoding().unwrap_or("identity");
    let decoder: Box<dyn Read + '_> = match encoding {
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(compressed)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(compressed).map_err(|e| format!("{name}: {e}"))?,
        ),
        Compression::None => Box::new(compressed),
    };
    let mut out = Vec::new();
    decoder
        .take(max_response_bytes as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("{name}: {e}"))?;
    if out.len() > max_response_bytes {
        return Err(format!(
            "over {max_response_bytes} bytes once decompressed (max_response_bytes)"
        ));
    }
    Ok(Bytes::from(out))
}

/// The wait a `google.rpc.Status` asks for in its `RetryInfo` detail.
fn retry_delay(details: &[u8]) -> Option<Duration> {
    let status = tonic_types::Status::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|any| any.type_url == RETRY_INFO_TYPE)?;
    let delay = tonic_types::pb::RetryInfo::decode(info.value.as_slice())
        .ok()?
        .retry_delay?;
    let seconds = u64::try_from(delay.seconds).ok()?;
    let nanos = u32::try_from(delay.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)?;
    Some(Duration::new(seconds, nanos))
}

/// The specification's retry rules for gRPC status codes.
fn classify(code: Code, message: &str, throttle: Option<Duration>) -> AttemptError {
    let retryable = match code {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => throttle.is_some(),
        _ => false,
    };
    AttemptError {
        retryable,
        throttle,
        message: format!(
            "gRPC status {code:?} ({}): {}",
            code as i32,
            excerpt(message)
        ),
        too_large: code == Code::ResourceExhausted && throttle.is_none() && says_too_large(message),
        status: Some(ResponseStatus::Grpc(code as i32)),
    }
}

/// Whether a RESOURCE_EXHAUSTED message is about the request's size, as grpc-go, grpc-java
/// and the Collector word it ("received message larger than max", "message too large").
fn says_too_large(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("larger than max") || message.contains("too large")
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
            assert!(classify(code, "x", None).retryable, "{code:?}");
        }
        for code in [
            Code::InvalidArgument,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::Internal,
            Code::Unimplemented,
            Code::ResourceExhausted,
            Code::Unknown,
        ] {
            assert!(!classify(code, "x", None).retryable, "{code:?}");
        }
        let e = classify(
            Code::ResourceExhausted,
            "slow down",
            Some(Duration::from_millis(1500)),
        );
        assert!(e.retryable);
        assert_eq!(e.throttle, Some(Duration::from_millis(1500)));
        assert!(
            e.message.contains("ResourceExhausted (8): slow down"),
            "{}",
            e.message
        );
        assert!(!e.too_large);
    }

    #[test]
    fn resource_exhausted_about_size_without_retry_info_is_too_large() {
        for message in [
            "grpc: received message larger than max (5000000 vs. 4194304)",
            "Message Too Large",
            "request too large",
        ] {
            let e = classify(Code::ResourceExhausted, message, None);
            assert!(e.too_large && !e.retryable, "{message}");
        }
        assert!(!classify(Code::ResourceExhausted, "quota exceeded", None).too_large);
        let throttled = classify(
            Code::ResourceExhausted,
            "message too large",
            Some(Duration::from_secs(1)),
        );
        assert!(!throttled.too_large && throttled.retryable);
        assert!(!classify(Code::InvalidArgument, "message too large", None).too_large);
        let proxy = http_status_error(http::StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            proxy.too_large && proxy.message.contains("HTTP status 413"),
            "{}",
            proxy.message
        );
        assert!(!http_status_error(http::StatusCode::BAD_REQUEST).too_large);
    }

    #[test]
    fn status_details_give_the_retry_delay_and_garbage_gives_none() {
        let details = tonic_types::Status {
            code: 8,
            message: "slow down".into(),
            details: vec![prost_types_any(
                RETRY_INFO_TYPE,
                tonic_types::pb::RetryInfo {
                    retry_delay: Some(prost_types::Duration {
                        seconds: 1,
                        nanos: 500_000_000,
                    }),
                }
                .encode_to_vec(),
            )],
        }
        .encode_to_vec();
        assert_eq!(retry_delay(&details), Some(Duration::from_millis(1500)));
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_STATUS, HeaderValue::from_static("8"));
        headers.insert(GRPC_MESSAGE, HeaderValue::from_static("50%25 %C3%BC"));
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&details);
        headers.insert(GRPC_STATUS_DETAILS, unpadded.try_into().unwrap());
        let status = GrpcStatus::from_headers(&headers).unwrap();
        assert_eq!(status.code, Code::ResourceExhausted);
        assert_eq!(status.message, "50% ü");
        let e = status.into_result(None, 1 << 20).unwrap_err();
        assert_eq!(e.throttle, Some(Duration::from_millis(1500)));

        headers.insert(GRPC_STATUS, HeaderValue::from_static("banana"));
        headers.insert(
            GRPC_STATUS_DETAILS,
            HeaderValue::from_static("!!not base64"),
        );
        let status = GrpcStatus::from_headers(&headers).unwrap();
        assert_eq!(status.code, Code::Unknown);
        assert!(status.details.is_none());
        assert_eq!(retry_delay(b"\xff\xff garbage"), None);
    }

    fn prost_types_any(type_url: &str, value: Vec<u8>) -> prost_types::Any {
        prost_types::Any {
            type_url: type_url.into(),
            value,
        }
    }

    #[test]
    fn response_framing_is_checked() {
        let response = ExportMetricsServiceResponse::default().encode_to_vec();
        let mut framed = vec![0, 0, 0, 0, response.len() as u8];
        framed.extend_from_slice(&response);
        assert!(response_message(Bytes::from(framed.clone()), None, 1 << 20).is_ok());
        assert!(response_message(Bytes::new(), None, 1 << 20).is_ok());
        framed[4] += 1;
        assert!(response_message(Bytes::from(framed), None, 1 << 20).is_err());
        assert!(response_message(Bytes::from_static(&[0, 0]), None, 1 << 20).is_err());
        assert!(response_message(Bytes::from_static(&[1, 0, 0, 0, 0]), None, 1 << 20).is_err());
        assert!(response_message(Bytes::from_static(&[7, 0, 0, 0, 0]), None, 1 << 20).is_err());
    }

    /// Sends on `done` when dropped.
    struct SignalOnDrop(Option<tokio::sync::oneshot::Sender<()>>);

    impl Drop for SignalOnDrop {
        fn drop(&mut self) {
            if let Some(done) = self.0.take() {
                let _ = done.send(());
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_call_given_up_on_is_reset_and_not_left_running() {
        // A receiver that never answers; hyper drops its handler when the client resets
        // the stream.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (handler_dropped, reset) = tokio::sync::oneshot::channel();
        let handler_dropped = std::sync::Mutex::new(Some(handler_dropped));
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(move |_: Request<hyper::body::Incoming>| {
                let signal = SignalOnDrop(handler_dropped.lock().unwrap().take());
                async move {
                    let _signal = signal;
                    std::future::pending::<Result<http::Response<Full<Bytes>>, hyper::Error>>()
                        .await
                }
            });
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .await;
        });
        let mut config = crate::config::Config::from_lookup(&|_| None);
        config.set_endpoint(&format!("http://{address}")).unwrap();
        config.set_protocol(crate::config::Protocol::Grpc);
        let client = GrpcClient::new(&config.resolve().unwrap(), None).unwrap();

        let message = Bytes::new();
        let call = client.send(&message, None, None);
        assert!(tokio::time::timeout(Duration::from_millis(300), call)
            .await
            .is_err());
        tokio::time::timeout(Duration::from_secs(5), reset)
            .await
            .expect("the abandoned call's stream was not reset")
            .unwrap();
    }

    #[test]
    fn timeouts_use_at_most_eight_digits() {
        let header = |d| grpc_timeout(d).to_str().unwrap().to_string();
        assert_eq!(header(Duration::from_millis(1500)), "1500000u");
        assert_eq!(header(Duration::from_secs(1000)), "1000000m");
        assert_eq!(header(Duration::from_secs(10_000_000)), "10000000S");
        assert_eq!(header(Duration::ZERO), "1u");
        assert_eq!(header(Duration::MAX), "99999999H");
    }
}
