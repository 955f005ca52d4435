//! OTLP/HTTP with hyper: `POST` of protobuf (or OTLP/JSON) bodies, on HTTP/1.1
//! connections the sending task drives itself ([`Pool`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, HOST, RETRY_AFTER};
use http::uri::PathAndQuery;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::Full;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
use rustls::ClientConfig;

use super::http1_pool::{Failure, Pool};
use super::{
    compress, connect, error_chain, excerpt, Accepted, AttemptError, ResponseStatus, USER_AGENT,
};
use crate::config::{AttemptHeaders, Compression, Protocol, Settings};
use crate::error::{Error, Result};

pub(crate) struct HttpClient {
    connections: Pool,
    /// The endpoint, for messages.
    uri: Uri,
    /// The request target: the endpoint's path and query (origin form).
    target: Uri,
    headers: HeaderMap,
    json: bool,
    compression: Compression,
    max_response_bytes: usize,
}

impl HttpClient {
    pub(crate) fn new(settings: &Settings, tls: Option<Arc<ClientConfig>>) -> Result<Self> {
        let uri = settings.endpoint.clone();
        let connections = Pool::new(
            connect::connector(settings, tls, false),
            uri.clone(),
            super::POOL_IDLE_TIMEOUT,
        );
        let target = Uri::from(
            uri.path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
        let json = settings.protocol == Protocol::HttpJson;
        let mut headers = settings.headers.clone();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(if json {
                "application/json"
            } else {
                "application/x-protobuf"
            }),
        );
        // A User-Agent the user configured wins over ours.
        headers
            .entry(http::header::USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT));
        if let Some(encoding) = settings.compression.encoding() {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        // HTTP/1.1 requires Host; a configured one wins.
        if let Some(authority) = uri.authority() {
            let host = HeaderValue::from_str(authority.as_str())
                .map_err(|e| Error::invalid(format!("endpoint: {e}")))?;
            headers.entry(HOST).or_insert(host);
        }
        Ok(HttpClient {
            connections,
            uri,
            target,
            headers,
            json,
            compression: settings.compression,
            max_response_bytes: settings.max_response_bytes,
        })
    }

    /// The request body for `request`: OTLP/JSON or protobuf, compressed as configured.
    pub(crate) fn wire_body(&self, request: &Bytes) -> Result<Bytes> {
        let body = if self.json {
            Bytes::from(crate::proto::json::from_protobuf(request)?)
        } else {
            request.clone()
        };
        Ok(compress(self.compression, body))
    }

    /// Sends a [request body](Self::wire_body).
    pub(crate) async fn send(
        &self,
        body: &Bytes,
        extra_headers: Option<&AttemptHeaders>,
    ) -> Result<Accepted, AttemptError> {
        let build = || {
            let mut call = Request::new(Full::new(body.clone()));
            *call.method_mut() = Method::POST;
            *call.uri_mut() = self.target.clone();
            *call.headers_mut() = self.headers.clone();
            if let Some(extra) = extra_headers {
                extra.apply_to(call.headers_mut());
            }
            call
        };
        let (response, body) = self
            .connections
            .send(build, self.max_response_bytes)
            .await
            .map_err(|failure| {
                let why = match &failure {
                    Failure::Connect(e) => error_chain(&**e),
                    Failure::Exchange(e) => error_chain(e),
                };
                AttemptError::retryable(
                    format!("HTTP connection to {} failed: {why}", self.uri),
                    None,
                )
            })?;
        let status = response.status;
        let throttle = response
            .headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);

        if status.is_success() {
            let body = body.map_err(|e| {
                AttemptError::permanent(format!(
                    "HTTP {status}: the response body could not be read (over {} bytes, max_response_bytes, or broken): {e}",
                    self.max_response_bytes
                ))
                .with_status(ResponseStatus::Http(status.as_u16()))
            })?;
            return self.decode_response(status, &body);
        }
        let detail = body
            .map(|b| self.describe_error_body(&b))
            .unwrap_or_default();
        let message = format!("HTTP status {}{detail}", status.as_u16());
        let error = if matches!(status.as_u16(), 429 | 502 | 503 | 504) {
            AttemptError::retryable(message, throttle)
        } else if status == StatusCode::PAYLOAD_TOO_LARGE {
            AttemptError::too_large(message)
        } else {
            AttemptError::permanent(message)
        };
        Err(error.with_status(ResponseStatus::Http(status.as_u16())))
    }

    fn decode_response(&self, status: StatusCode, body: &[u8]) -> Result<Accepted, AttemptError> {
        let answered = ResponseStatus::Http(status.as_u16());
        if body.is_empty() {
            return Ok(Accepted {
                status: Some(answered),
                ..Accepted::default()
            });
        }
        let decoded = if self.json {
            partial_success_from_json(body)
        } else {
            ExportMetricsServiceResponse::decode(body)
                .map(|r| {
                    let partial = r.partial_success.unwrap_or_default();
                    Accepted {
                        rejected_data_points: partial.rejected_data_points,
                        message: partial.error_message,
                        status: None,
                    }
                })
                .map_err(|e| e.to_string())
        };
        decoded
            .map(|accepted| Accepted {
                status: Some(answered),
                ..accepted
            })
            .map_err(|e| {
                AttemptError::permanent(format!(
                    "HTTP {status}: the response is not a valid ExportMetricsServiceResponse: {e}"
                ))
                .with_status(answered)
            })
    }

    /// The receiver's explanation: a `google.rpc.Status` message when it is one, else text.
    fn describe_error_body(&self, body: &[u8]) -> String {
        if body.is_empty() {
            return String::new();
        }
        if !self.json {
            if let Ok(status) = tonic_types::Status::decode(body) {
                if !status.message.is_empty() {
                    return format!(": {}", excerpt(&status.message));
                }
            }
        } else if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
            if let Some(message) = value.get("message").and_then(|m| m.as_str()) {
                return format!(": {}", excerpt(message));
            }
        }
        format!(": {}", excerpt(&String::from_utf8_lossy(body)))
    }
}

/// Reads an OTLP/JSON `ExportMetricsServiceResponse`, whose int64 `rejectedDataPoints`
/// may be a string (the protobuf JSON mapping) or a number.
fn partial_success_from_json(body: &[u8]) -> std::result::Result<Accepted, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let Some(partial) = value.get("partialSuccess").filter(|p| !p.is_null()) else {
        return Ok(Accepted::default());
    };
    let rejected = match partial.get("rejectedDataPoints") {
        None | Some(serde_json::Value::Null) => 0,
        Some(serde_json::Value::String(s)) => s
            .parse()
            .map_err(|_| format!("rejectedDataPoints {s:?} is not an integer"))?,
        Some(n) => n
            .as_i64()
            .ok_or_else(|| format!("rejectedDataPoints {n} is not an integer"))?,
    };
    let message = partial
        .get("errorMessage")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_string();
    Ok(Accepted {
        rejected_data_points: rejected,
        message,
        status: None,
    })
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        let in_a_minute = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
        let d = parse_retry_after(&in_a_minute).unwrap();
        assert!(
            d > Duration::from_secs(55) && d <= Duration::from_secs(60),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
