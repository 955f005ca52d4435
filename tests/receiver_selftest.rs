//! Proves the test receivers in tests/support speak the real protocols: a tonic
//! 0.14 client against the gRPC receiver, hyper clients against both.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;
use support::*;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt;

const WAIT: Duration = Duration::from_secs(5);

async fn tonic_client(endpoint: &str) -> MetricsServiceClient<Channel> {
    MetricsServiceClient::connect(endpoint.to_string())
        .await
        .expect("tonic connect")
}

/// A raw HTTP POST with a hyper client; `h2` selects HTTP/2 prior knowledge.
async fn http_post(
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    h2: bool,
) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    let client = Client::builder(TokioExecutor::new())
        .http2_only(h2)
        .build_http::<Full<Bytes>>();
    let mut builder = Request::post(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(Bytes::from(body))).unwrap();
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| format!("{e:?}"))?
        .to_bytes();
    Ok((parts.status, parts.headers, bytes))
}

// ---------------------------------------------------------------------------
// gRPC receiver with a tonic client.

#[tokio::test]
async fn grpc_ok_records_request() {
    let rx = Receiver::grpc();
    assert!(rx.endpoint().starts_with("http://127.0.0.1:"));
    assert_eq!(rx.endpoint(), rx.base_url());
    let request = sample_request(9);
    let mut client = tonic_client(&rx.endpoint()).await;
    let response = client.export(request.clone()).await.expect("export");
    assert_eq!(
        response.into_inner(),
        ExportMetricsServiceResponse::default()
    );

    let recorded = rx.wait_for_requests(1, WAIT);
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(r.path, GRPC_EXPORT_PATH);
    assert_eq!(r.method, http::Method::POST);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/grpc")
    );
    assert_eq!(r.header("te").as_deref(), Some("trailers"));
    assert!(!r.compressed);
    assert!(r.rejected.is_none());
    assert_eq!(r.body, request.encode_to_vec());
    assert_eq!(r.raw_body_len, r.body.len() + 5);
    assert_eq!(r.request(), request);
    assert_eq!(data_point_count(&r.request()), 9);
    assert_eq!(rx.request_count(), 1);
}

#[tokio::test]
async fn grpc_partial_success() {
    let rx = Receiver::grpc();
    rx.push_reply(Reply::PartialSuccess {
        rejected: 3,
        message: "three points were bad".into(),
    });
    let mut client = tonic_client(&rx.endpoint()).await;
    let response = client.export(sample_request(3)).await.unwrap().into_inner();
    let partial = response.partial_success.expect("partial_success");
    assert_eq!(partial.rejected_data_points, 3);
    assert_eq!(partial.error_message, "three points were bad");
}

#[tokio::test]
async fn grpc_status_with_retry_info() {
    let rx = Receiver::grpc();
    let message = "slow down: 100% busy, ünïcödé\nsecond line";
    rx.push_reply(Reply::GrpcStatus {
        code: grpc_code::RESOURCE_EXHAUSTED,
        message: message.into(),
        retry_delay: Some(Duration::from_millis(1500)),
    });
    rx.push_reply(Reply::grpc_status(grpc_code::UNAVAILABLE, "down"));
    let mut client = tonic_client(&rx.endpoint()).await;

    let status = client.export(sample_request(1)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(status.message(), message);
    let retry = status.get_details_retry_info().expect("RetryInfo detail");
    assert_eq!(retry.retry_delay, Some(Duration::from_millis(1500)));
    let (code, msg, delay) = decode_rpc_status(status.details());
    assert_eq!(code, grpc_code::RESOURCE_EXHAUSTED);
    assert_eq!(msg, message);
    assert_eq!(delay, Some(Duration::from_millis(1500)));

    let status = client.export(sample_request(1)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(status.message(), "down");
    assert!(status.details().is_empty());
    assert!(status.get_details_retry_info().is_none());

    // Script exhausted: back to OK. Errors were recorded too.
    client
        .export(sample_request(1))
        .await
        .expect("ok after script");
    assert_eq!(rx.request_count(), 3);
}

#[tokio::test]
async fn grpc_gzip_request() {
    let rx = Receiver::grpc();
    let request = sample_request(60);
    let mut client = tonic_client(&rx.endpoint())
        .await
        .send_compressed(CompressionEncoding::Gzip);
    client.export(request.clone()).await.expect("export");
    let r = rx.last_request().expect("recorded");
    assert!(r.compressed);
    assert_eq!(r.header("grpc-encoding").as_deref(), Some("gzip"));
    assert_eq!(r.request(), request);
    assert!(
        r.raw_body_len < r.body.len(),
        "raw {} vs decoded {}",
        r.raw_body_len,
        r.body.len()
    );
}

#[tokio::test]
async fn grpc_hang_times_out_client() {
    let rx = Receiver::grpc();
    rx.push_reply(Reply::Hang);
    let channel = Endpoint::from_shared(rx.endpoint())
        .unwrap()
        .timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let mut client = MetricsServiceClient::new(channel);
    let started = Instant::now();
    let status = client.export(sample_request(1)).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(290), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(
        matches!(
            status.code(),
            tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
        ),
        "{status:?}"
    );
    assert_eq!(rx.request_count(), 1, "a hanging request is still recorded");
    // The connection stays usable for other requests.
    client
        .export(sample_request(1))
        .await
        .expect("next request");

    // Dropping a receiver with a hanging request does not block.
    let started = Instant::now();
    drop(rx);
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn grpc_delay() {
    let rx = Receiver::grpc();
    rx.push_reply(Reply::delayed(Duration::from_millis(300), Reply::Ok));
    let mut client = tonic_client(&rx.endpoint()).await;
    let started = Instant::now();
    client.export(sample_request(1)).await.expect("export");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn grpc_close_connection() {
    let rx = Receiver::grpc();
    rx.push_reply(Reply::CloseConnection);
    let mut client = tonic_client(&rx.endpoint()).await;
    let status = client.export(sample_request(1)).await.unwrap_err();
    assert!(
        matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal
        ),
        "{status:?}"
    );
    // tonic's channel reconnects; the script is now empty, so OK.
    client
        .export(sample_request(1))
        .await
        .expect("after reconnect");
    assert_eq!(rx.request_count(), 2);
}

#[tokio::test]
async fn grpc_huge_body() {
    let rx = Receiver::grpc();
    let size = 5 * 1024 * 1024 + 1; // odd on purpose
    rx.push_reply(Reply::HugeBody(size));
    rx.push_reply(Reply::HugeBody(size));
    let mut client = tonic_client(&rx.endpoint()).await;
    // tonic's default limit is 4 MiB.
    let status = client.export(sample_request(1)).await.unwrap_err();
    assert!(
        status.message().contains("too large"),
        "unexpected status {status:?}"
    );
    let mut client = tonic_client(&rx.endpoint())
        .await
        .max_decoding_message_size(16 * 1024 * 1024);
    let response = client
        .export(sample_request(1))
        .await
        .expect("huge but valid");
    assert_eq!(
        response.into_inner(),
        ExportMetricsServiceResponse::default()
    );
}

#[tokio::test]
async fn grpc_http_status_from_proxy() {
    let rx = Receiver::grpc();
    rx.push_reply(Reply::HttpStatus {
        status: 503,
        retry_after: Some("2".into()),
        body: b"upstream unavailable".to_vec(),
    });
    rx.push_reply(Reply::HttpStatus {
        status: 503,
        retry_after: None,
        body: Vec::new(),
    });
    let mut client = tonic_client(&rx.endpoint()).await;
    // With a body, tonic 0.14 tries to read it as gRPC frames ("invalid
    // compression flag") before looking at the HTTP status.
    let status = client.export(sample_request(1)).await.unwrap_err();
    assert_ne!(status.code(), tonic::Code::Ok, "{status:?}");
    assert_eq!(
        status
            .metadata()
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap(),
        "2"
    );
    // Without a body the HTTP status maps to a gRPC code.
    let status = client.export(sample_request(1)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn grpc_default_reply_and_script_order() {
    let rx = Receiver::grpc();
    rx.set_default_reply(Reply::grpc_status(grpc_code::UNAVAILABLE, "default"));
    rx.push_replies([Reply::Ok, Reply::grpc_status(grpc_code::INTERNAL, "second")]);
    assert_eq!(rx.pending_replies(), 2);
    let mut client = tonic_client(&rx.endpoint()).await;
    client.export(sample_request(1)).await.expect("first is Ok");
    let s = client.export(sample_request(1)).await.unwrap_err();
    assert_eq!((s.code(), s.message()), (tonic::Code::Internal, "second"));
    let s = client.export(sample_request(1)).await.unwrap_err();
    assert_eq!(
        (s.code(), s.message()),
        (tonic::Code::Unavailable, "default")
    );
    assert_eq!(rx.pending_replies(), 0);
    let requests = rx.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests
        .windows(2)
        .all(|w| w[0].received_at <= w[1].received_at));
    rx.clear_requests();
    assert_eq!(rx.request_count(), 0);
}

/// Checks the exact wire format with a raw hyper HTTP/2 client.
#[tokio::test]
async fn grpc_raw_wire_format() {
    let rx = Receiver::grpc();
    let stream = tokio::net::TcpStream::connect(rx.addr()).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);

    let post = |path: &str, body: Vec<u8>, gzip_encoding: bool| {
        let mut b = Request::post(format!("{}{}", rx.base_url(), path))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if gzip_encoding {
            b = b.header("grpc-encoding", "gzip");
        }
        b.body(Full::new(Bytes::from(body))).unwrap()
    };

    // OK: frame in the body, status in the trailers.
    let payload = sample_request(4).encode_to_vec();
    let response = sender
        .send_request(post(GRPC_EXPORT_PATH, grpc_frame(&payload, false), false))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/grpc");
    assert!(response.headers().get("grpc-status").is_none());
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    let body = collected.to_bytes();
    assert_eq!(body[0], 0);
    assert_eq!(
        u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize,
        body.len() - 5
    );
    ExportMetricsServiceResponse::decode(&body[5..]).unwrap();

    // Error: trailers-only, percent-encoded message, unpadded base64 details.
    rx.push_reply(Reply::GrpcStatus {
        code: 14,
        message: "50% ü".into(),
        retry_delay: Some(Duration::from_secs(2)),
    });
    let response = sender
        .send_request(post(GRPC_EXPORT_PATH, grpc_frame(&payload, false), false))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["grpc-status"], "14");
    assert_eq!(headers["grpc-message"], "50%25 %C3%BC");
    let details = headers["grpc-status-details-bin"].to_str().unwrap();
    assert!(!details.ends_with('='));
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(details)
        .unwrap();
    assert_eq!(
        decode_rpc_status(&raw),
        (14, "50% ü".to_string(), Some(Duration::from_secs(2)))
    );
    assert!(response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .is_empty());

    // Gzip-compressed frame.
    let response = sender
        .send_request(post(
            GRPC_EXPORT_PATH,
            grpc_frame(&gzip(&payload), true),
            true,
        ))
        .await
        .unwrap();
    let trailers = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .trailers()
        .cloned();
    assert_eq!(trailers.unwrap()["grpc-status"], "0");
    let r = rx.last_request().unwrap();
    assert!(r.compressed);
    assert_eq!(r.body, payload);

    // Receiver-side rejections: wrong path, bad framing, compressed without encoding.
    for (path, body, enc, want) in [
        (
            "/wrong.Service/Export",
            grpc_frame(&payload, false),
            false,
            "12",
        ),
        (GRPC_EXPORT_PATH, vec![0, 0, 0, 9, 1], false, "13"),
        (
            GRPC_EXPORT_PATH,
            grpc_frame(&gzip(&payload), true),
            false,
            "13",
        ),
    ] {
        let response = sender.send_request(post(path, body, enc)).await.unwrap();
        assert_eq!(response.headers()["grpc-status"], want, "{path}");
        let r = rx.last_request().unwrap();
        assert_eq!(r.path, path);
        assert!(r.rejected.is_some());
    }
    assert_eq!(rx.request_count(), 6);
}

// ---------------------------------------------------------------------------
// HTTP receiver with a hyper client.

#[tokio::test]
async fn http_protobuf_ok() {
    let rx = Receiver::http();
    assert_eq!(rx.endpoint(), format!("{}/v1/metrics", rx.base_url()));
    let request = sample_request(7);
    let (status, headers, body) = http_post(
        &rx.endpoint(),
        &[("content-type", "application/x-protobuf")],
        request.encode_to_vec(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(
        ExportMetricsServiceResponse::decode(body).unwrap(),
        ExportMetricsServiceResponse::default()
    );
    let r = rx.wait_for_requests(1, WAIT).remove(0);
    assert_eq!(r.path, HTTP_METRICS_PATH);
    assert!(!r.compressed);
    assert_eq!(r.raw_body_len, r.body.len());
    assert_eq!(r.request(), request);
}

#[tokio::test]
async fn http_any_path_and_h2() {
    let rx = Receiver::http();
    let url = format!("{}/custom/otlp/path", rx.base_url());
    let (status, _, _) = http_post(
        &url,
        &[("content-type", "application/x-protobuf")],
        sample_request(1).encode_to_vec(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    let r = rx.last_request().unwrap();
    assert_eq!(r.path, "/custom/otlp/path");
    assert_eq!(r.request(), sample_request(1));
}

#[tokio::test]
async fn http_partial_success_protobuf_and_json() {
    let rx = Receiver::http();
    rx.push_reply(Reply::PartialSuccess {
        rejected: 3,
        message: "bad \"points\"".into(),
    });
    rx.push_reply(Reply::PartialSuccess {
        rejected: 3,
        message: "bad \"points\"".into(),
    });
    let request = sample_request(5);

    let (status, _, body) = http_post(
        &rx.endpoint(),
        &[("content-type", "application/x-protobuf")],
        request.encode_to_vec(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    let partial = ExportMetricsServiceResponse::decode(body)
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_data_points, 3);
    assert_eq!(partial.error_message, "bad \"points\"");

    let json = serde_json::to_vec(&request).unwrap();
    let (status, headers, body) = http_post(
        &rx.endpoint(),
        &[("content-type", "application/json")],
        json.clone(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"partialSuccess": {"rejectedDataPoints": "3", "errorMessage": "bad \"points\""}})
    );
    let r = rx.last_request().unwrap();
    assert!(r.is_json());
    assert_eq!(r.body, json);
    assert_eq!(r.request(), request);
    assert!(r.json()["resourceMetrics"].is_array());

    // Script empty: plain OK, `{}` for JSON.
    let (status, _, body) = http_post(
        &rx.endpoint(),
        &[("content-type", "application/json")],
        json,
        false,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"{}");
}

#[tokio::test]
async fn http_gzip_request() {
    let rx = Receiver::http();
    let payload = sample_request(60).encode_to_vec();
    let compressed = gzip(&payload);
    let (status, _, _) = http_post(
        &rx.endpoint(),
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        compressed.clone(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    let r = rx.last_request().unwrap();
    assert!(r.compressed);
    assert_eq!(r.raw_body_len, compressed.len());
    assert!(r.raw_body_len < r.body.len());
    assert_eq!(r.body, payload);

    // Not actually gzip: 400, recorded as rejected.
    let (status, _, _) = http_post(
        &rx.endpoint(),
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        payload,
        false,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(rx.last_request().unwrap().rejected.is_some());
}

#[tokio::test]
async fn http_error_status_retry_after_and_body() {
    let rx = Receiver::http();
    let status_body = rpc_status_bytes(8, "quota", Some(Duration::from_secs(7)));
    rx.push_reply(Reply::HttpStatus {
        status: 429,
        retry_after: Some("7".into()),
        body: status_body.clone(),
    });
    rx.push_reply(Reply::HttpStatus {
        status: 503,
        retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        body: Vec::new(),
    });
    rx.push_reply(Reply::GrpcStatus {
        code: 14,
        message: "unavailable".into(),
        retry_delay: Some(Duration::from_millis(1200)),
    });
    let endpoint = rx.endpoint();
    let send = || {
        http_post(
            &endpoint,
            &[("content-type", "application/x-protobuf")],
            sample_request(1).encode_to_vec(),
            false,
        )
    };

    let (status, headers, body) = send().await.unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(&body[..], &status_body[..]);
    assert_eq!(
        decode_rpc_status(&body),
        (8, "quota".to_string(), Some(Duration::from_secs(7)))
    );

    let (status, headers, body) = send().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "Wed, 21 Oct 2015 07:28:00 GMT");
    assert!(body.is_empty());

    let (status, headers, body) = send().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(
        decode_rpc_status(&body),
        (
            14,
            "unavailable".to_string(),
            Some(Duration::from_millis(1200))
        )
    );
    assert_eq!(rx.request_count(), 3);
}

#[tokio::test]
async fn http_hang_times_out_client() {
    let rx = Receiver::http();
    rx.push_reply(Reply::Hang);
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_millis(300),
        http_post(
            &rx.endpoint(),
            &[("content-type", "application/x-protobuf")],
            sample_request(1).encode_to_vec(),
            false,
        ),
    )
    .await;
    assert!(result.is_err(), "client should time out");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(rx.wait_for_requests(1, WAIT).len(), 1);
    let started = Instant::now();
    drop(rx);
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn http_close_connection_then_ok() {
    let rx = Receiver::http();
    rx.push_reply(Reply::CloseConnection);
    let body = sample_request(1).encode_to_vec();
    let err = http_post(
        &rx.endpoint(),
        &[("content-type", "application/x-protobuf")],
        body.clone(),
        false,
    )
    .await
    .unwrap_err();
    assert!(!err.is_empty());
    let (status, _, _) = http_post(
        &rx.endpoint(),
        &[("content-type", "application/x-protobuf")],
        body,
        false,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rx.request_count(), 2);
}

#[tokio::test]
async fn http_huge_body() {
    let rx = Receiver::http();
    let size = 5 * 1024 * 1024 + 3;
    rx.push_reply(Reply::HugeBody(size));
    rx.push_reply(Reply::HugeBody(size));
    let (status, headers, body) = http_post(
        &rx.endpoint(),
        &[("content-type", "application/x-protobuf")],
        sample_request(1).encode_to_vec(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-length"], size.to_string().as_str());
    assert_eq!(body.len(), size);
    assert_eq!(
        ExportMetricsServiceResponse::decode(body).unwrap(),
        ExportMetricsServiceResponse::default()
    );

    let (status, _, body) = http_post(
        &rx.endpoint(),
        &[("content-type", "application/json")],
        serde_json::to_vec(&sample_request(1)).unwrap(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), size);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({})
    );
}

#[tokio::test]
async fn http_delay_and_method_check() {
    let rx = Receiver::http();
    rx.push_reply(Reply::delayed(
        Duration::from_millis(250),
        Reply::http_status(500),
    ));
    let started = Instant::now();
    let (status, _, _) = http_post(&rx.endpoint(), &[], Vec::new(), false)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(started.elapsed() >= Duration::from_millis(250));

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client
        .request(
            Request::get(rx.endpoint())
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = rx.last_request().unwrap();
    assert_eq!(r.method, http::Method::GET);
    assert!(r.rejected.is_some());
}

// ---------------------------------------------------------------------------
// Helpers.

#[tokio::test]
async fn dead_endpoint_refuses() {
    let err = http_post(
        &format!("{}/v1/metrics", dead_endpoint()),
        &[],
        Vec::new(),
        false,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_lowercase().contains("refused") || err.contains("Connect"),
        "{err}"
    );
    assert_ne!(free_port(), 0);
}

#[test]
fn receivers_start_and_stop_quickly_without_a_runtime() {
    let started = Instant::now();
    for _ in 0..5 {
        let grpc = Receiver::grpc();
        let http = Receiver::http();
        assert_ne!(grpc.port(), http.port());
        assert!(grpc
            .wait_for_requests(1, Duration::from_millis(20))
            .is_empty());
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn sample_data_is_realistic() {
    assert_eq!(data_point_count(&sample_request(0)), 0);
    for points in [1, 2, 3, 10, 100] {
        let request = sample_request(points);
        assert_eq!(data_point_count(&request), points);
        assert_eq!(request, sample_request(points), "deterministic");
        let rm = &request.resource_metrics[0];
        let resource = rm.resource.as_ref().unwrap();
        assert!(resource
            .attributes
            .iter()
            .any(|kv| kv.key == "service.name"));
        let scope = rm.scope_metrics[0].scope.as_ref().unwrap();
        assert!(!scope.name.is_empty() && !scope.version.is_empty());
        let bytes = request.encode_to_vec();
        assert_eq!(
            ExportMetricsServiceRequest::decode(bytes.as_slice()).unwrap(),
            request
        );
    }
    let request = sample_request(3);
    let names: Vec<_> = request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        names,
        [SAMPLE_SUM_NAME, SAMPLE_GAUGE_NAME, SAMPLE_HISTOGRAM_NAME]
    );
}
