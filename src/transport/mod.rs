//! The wire: one private type over the OTLP/gRPC and OTLP/HTTP clients, so that the
//! exporter does not care which it has.

mod connect;
mod grpc;
mod http;
mod http1_pool;
mod tls;

use std::time::Duration;

use bytes::Bytes;

use crate::config::{AttemptHeaders, Compression, Protocol, Settings};
use crate::error::Result;

/// How long an idle pooled connection is kept: longer than the usual export interval
/// (60 s), so periodic exports reuse their connection, and short enough that a receiver
/// which went away is not held on to for long.
pub(crate) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The User-Agent requests carry when the configured headers have none, as the OTLP
/// exporter specification suggests.
pub(crate) const USER_AGENT: &str =
    concat!("OTel-OTLP-Exporter-otlpmetric/", env!("CARGO_PKG_VERSION"));

/// The status a receiver answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResponseStatus {
    /// A gRPC status code (0 is OK).
    Grpc(i32),
    /// An HTTP status code.
    Http(u16),
}

/// A receiver's answer to an accepted request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// Data points the receiver rejected (partial success).
    pub rejected_data_points: i64,
    /// The receiver's partial-success message, if any.
    pub message: String,
    /// The status of the answer.
    pub status: Option<ResponseStatus>,
}

/// Why one attempt failed.
#[derive(Debug)]
pub(crate) struct AttemptError {
    /// Whether the specification allows a retry.
    pub retryable: bool,
    /// The wait the receiver asked for (gRPC RetryInfo, HTTP Retry-After).
    pub throttle: Option<Duration>,
    /// What happened: the code or status and the receiver's message.
    pub message: String,
    /// The receiver refused the request for its size (HTTP 413, gRPC RESOURCE_EXHAUSTED
    /// saying so): smaller requests may pass.
    pub too_large: bool,
    /// The receiver's status, when it answered.
    pub status: Option<ResponseStatus>,
}

impl AttemptError {
    pub(crate) fn permanent(message: impl Into<String>) -> Self {
        AttemptError {
            retryable: false,
            throttle: None,
            message: message.into(),
            too_large: false,
            status: None,
        }
    }

    pub(crate) fn retryable(message: impl Into<String>, throttle: Option<Duration>) -> Self {
        AttemptError {
            retryable: true,
            throttle,
            message: message.into(),
            too_large: false,
            status: None,
        }
    }

    /// A refusal of the request for its size.
    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        AttemptError {
            too_large: true,
            ..AttemptError::permanent(message)
        }
    }

    /// The same failure, answered with `status`.
    pub(crate) fn with_status(self, status: ResponseStatus) -> Self {
        AttemptError {
            status: Some(status),
            ..self
        }
    }
}

/// An OTLP client for one endpoint.
pub(crate) enum Transport {
    Grpc(Box<grpc::GrpcClient>),
    Http(Box<http::HttpClient>),
}

impl Transport {
    /// Builds the client; must run inside the exporter's tokio runtime. Connections are
    /// made lazily, on the first export.
    pub(crate) fn new(settings: &Settings) -> Result<Self> {
        let tls = tls::client_config(settings)?;
        Ok(match settings.protocol {
            Protocol::Grpc => Transport::Grpc(Box::new(grpc::GrpcClient::new(settings, tls)?)),
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                Transport::Http(Box::new(http::HttpClient::new(settings, tls)?))
            }
        })
    }

    /// What goes on the wire for one serialized `ExportMetricsServiceRequest`: re-encoded
    /// as OTLP/JSON and compressed as configured. CPU work, made once before the first
    /// attempt (on the caller's thread for an upload).
    pub(crate) fn wire_body(&self, request: &Bytes) -> Result<Bytes> {
        match self {
            Transport::Grpc(client) => Ok(client.wire_body(request)),
            Transport::Http(client) => client.wire_body(request),
        }
    }

    /// Sends one request's [wire body](Self::wire_body) with the configured headers and
    /// `extra_headers`. `timeout` is the time left, which a gRPC call tells the receiver
    /// (`grpc-timeout`); the caller enforces it. Each client
    /// decides where its network part runs; dropping the future stops it.
    pub(crate) async fn send(
        &self,
        body: &Bytes,
        timeout: Option<Duration>,
        extra_headers: Option<&AttemptHeaders>,
    ) -> Result<Accepted, AttemptError> {
        match self {
            Transport::Grpc(client) => client.send(body, timeout, extra_headers).await,
            Transport::Http(client) => client.send(body, extra_headers).await,
        }
    }
}

/// A short, printable excerpt of a receiver's message (bounded, control characters removed).
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 512;
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// A request body (gRPC message or HTTP body) compressed as configured; `body` itself
/// when there is no compression.
pub(crate) fn compress(compression: Compression, body: Bytes) -> Bytes {
    use std::io::Write;
    match compression {
        Compression::None => body,
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4 + 64),
                flate2::Compression::fast(),
            );
            encoder
                .write_all(&body)
                .expect("writing to a Vec cannot fail");
            Bytes::from(encoder.finish().expect("writing to a Vec cannot fail"))
        }
        // Level 1 for the same reason gzip uses its fast level: the work runs on the
        // caller's thread before every upload.
        Compression::Zstd => Bytes::from(
            zstd::bulk::compress(&body, 1).expect("zstd compresses any input into a Vec"),
        ),
    }
}

/// An error and its causes on one line (hyper's top-level message alone says little).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
