//! The exporter against real receivers on 127.0.0.1: round trips, retry rules, deadlines,
//! partial success, lifecycle and concurrency.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use otlpmetric::RetryPolicy;
use otlpmetric::{Config, ErrorKind, Exporter, InstrumentKind, LogLevel, Protocol, Temporality};
use prost::Message;
use support::{grpc_code, sample_resource_metrics, Receiver, Reply};

type Logs = Arc<Mutex<Vec<(LogLevel, String)>>>;

/// A config isolated from the process environment, pointed at `receiver`.
fn config_for(receiver: &Receiver) -> Config {
    let mut config = Config::from_lookup(&|_| None);
    config.set_endpoint(&receiver.endpoint()).unwrap();
    config.set_protocol(match receiver.protocol() {
        support::Protocol::Grpc => Protocol::Grpc,
        support::Protocol::Http => Protocol::HttpProtobuf,
    });
    config
        .set_retry(fast_retry(Duration::from_secs(5)))
        .unwrap();
    config
}

fn fast_retry(max_elapsed: Duration) -> RetryPolicy {
    RetryPolicy {
        enabled: true,
        initial_interval: Duration::from_millis(20),
        max_interval: Duration::from_millis(100),
        max_elapsed,
    }
}

fn capture_logs(config: &mut Config) -> Logs {
    let logs: Logs = Arc::default();
    let sink = logs.clone();
    config.set_log_callback(Some(Arc::new(move |level, message: &str| {
        sink.lock().unwrap().push((level, message.to_string()))
    })));
    logs
}

fn both() -> [Receiver; 2] {
    [Receiver::grpc(), Receiver::http()]
}

#[test]
fn upload_arrives_byte_for_byte_over_both_transports() {
    for receiver in both() {
        let exporter = Exporter::new(&config_for(&receiver)).unwrap();
        let rm = sample_resource_metrics(30).encode_to_vec();
        exporter.upload(&rm, None).unwrap();
        let got = receiver.wait_for_requests(1, Duration::from_secs(5));
        let expected = ExportMetricsServiceRequest {
            resource_metrics: vec![prost::Message::decode(&rm[..]).unwrap()],
        }
        .encode_to_vec();
        assert_eq!(got[0].body, expected, "{:?}", receiver.protocol());
        let ua = got[0].header("user-agent").unwrap();
        assert!(ua.contains("otlpmetric/"), "{ua}");
        let stats = exporter.stats();
        assert_eq!(stats.requests_sent, 1);
        assert_eq!(stats.bytes_sent, expected.len() as u64);
    }
}

#[test]
fn upload_request_forwards_the_callers_bytes_unknown_fields_included() {
    for receiver in both() {
        let exporter = Exporter::new(&config_for(&receiver)).unwrap();
        let mut bytes = support::sample_request(5).encode_to_vec();
        bytes.extend_from_slice(&[0x78, 0x2a]); // field 15, varint 42: unknown to OTLP
        exporter.upload_request(&bytes, None).unwrap();
        let got = receiver.wait_for_requests(1, Duration::from_secs(5));
        assert_eq!(got[0].body, bytes);
    }
}

#[test]
fn json_input_is_sent_as_protobuf() {
    let json = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"c","sum":{
        "aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asInt":"5","timeUnixNano":"9"}]}}]}]}]}"#;
    for receiver in both() {
        let exporter = Exporter::new(&config_for(&receiver)).unwrap();
        exporter.upload_json(json.as_bytes(), None).unwrap();
        let got = receiver.wait_for_requests(1, Duration::from_secs(5));
        assert_eq!(
            got[0].request(),
            otlpmetric::internals::json::parse_request(json.as_bytes()).unwrap()
        );
        let err = exporter
            .upload_json(b"{\"resourceMetrics\": [}", None)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(err.message().contains("column"), "{err}");
    }
}

#[test]
fn invalid_bytes_are_refused_before_anything_is_sent() {
    let receiver = Receiver::http();
    let exporter = Exporter::new(&config_for(&receiver)).unwrap();
    let not_utf8 = [0x0a, 0x04, 0x0a, 0x02, 0xc3, 0x28]; // resource { attributes... } broken
    for bad in [&b"\xff\xff\xff"[..], b"\x0a\x05ab", &not_utf8] {
        assert_eq!(
            exporter.upload(bad, None).unwrap_err().kind(),
            ErrorKind::Decode
        );
        assert_eq!(
            exporter.upload_request(bad, None).unwrap_err().kind(),
            ErrorKind::Decode
        );
    }
    // An empty ResourceMetrics is valid.
    exporter.upload(&[], None).unwrap();
    let got = receiver.wait_for_requests(1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(receiver.request_count(), 1);
    assert_eq!(got[0].body, vec![0x0a, 0x00]);
}

#[test]
fn retryable_failures_are_retried_until_accepted() {
    let grpc = Receiver::grpc();
    grpc.push_replies([
        Reply::grpc_status(grpc_code::UNAVAILABLE, "warming up"),
        Reply::grpc_status(grpc_code::DATA_LOSS, "oops"),
    ]);
    let http = Receiver::http();
    http.push_replies([
        Reply::http_status(503),
        Reply::http_status(429),
        Reply::http_status(502),
    ]);
    for (receiver, attempts) in [(grpc, 3), (http, 4)] {
        let exporter = Exporter::new(&config_for(&receiver)).unwrap();
        exporter
            .upload(&sample_resource_metrics(3).encode_to_vec(), None)
            .unwrap();
        assert_eq!(receiver.request_count(), attempts);
        assert_eq!(exporter.stats().retries, attempts as u64 - 1);
        assert_eq!(exporter.stats().requests_sent, 1);
    }
}

#[test]
fn permanent_failures_fail_at_once_naming_code_and_message() {
    let grpc = Receiver::grpc();
    grpc.push_reply(Reply::grpc_status(
        grpc_code::INVALID_ARGUMENT,
        "bad metric name",
    ));
    let http = Receiver::http();
    http.push_reply(Reply::HttpStatus {
        status: 400,
        retry_after: None,
        body: support::rpc_status_bytes(3, "bad metric name", None),
    });
    for (receiver, code) in [(grpc, "InvalidArgument (3)"), (http, "HTTP status 400")] {
        let exporter = Exporter::new(&config_for(&receiver)).unwrap();
        let err = exporter
            .upload(&sample_resource_metrics(3).encode_to_vec(), None)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Export);
        assert!(err.message().contains(code), "{err}");
        assert!(err.message().contains("bad metric name"), "{err}");
        assert_eq!(receiver.request_count(), 1);
        assert_eq!(exporter.stats().requests_failed, 1);
    }
}

#[test]
fn resource_exhausted_is_retried_only_with_retry_info_and_the_wait_is_honoured() {
    let receiver = Receiver::grpc();
    receiver.push_reply(Reply::grpc_status(grpc_code::RESOURCE_EXHAUSTED, "quota"));
    let exporter = Exporter::new(&config_for(&receiver)).unwrap();
    let rm = sample_resource_metrics(3).encode_to_vec();
    assert_eq!(
        exporter.upload(&rm, None).unwrap_err().kind(),
        ErrorKind::Export
    );
    assert_eq!(receiver.request_count(), 1);

    receiver.clear_requests();
    receiver.push_reply(Reply::GrpcStatus {
        code: grpc_code::RESOURCE_EXHAUSTED,
        message: "slow down".into(),
        retry_delay: Some(Duration::from_millis(600)),
    });
    exporter.upload(&rm, None).unwrap();
    let got = receiver.requests();
    assert_eq!(got.len(), 2);
    let waited = got[1].received_at - got[0].received_at;
    assert!(
        waited >= Duration::from_millis(590),
        "waited only {waited:?}"
    );
}

#[test]
fn retry_after_in_seconds_and_as_a_date_is_honoured() {
    let receiver = Receiver::http();
    let in_four_seconds =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(4));
    receiver.push_replies([
        Reply::HttpStatus {
            status: 429,
            retry_after: Some("1".into()),
            body: vec![],
        },
        Reply::HttpStatus {
            status: 503,
            retry_after: Some(in_four_seconds),
            body: vec![],
        },
    ]);
    let exporter = Exporter::new(&config_for(&receiver)).unwrap();
    exporter
        .upload(&sample_resource_metrics(3).encode_to_vec(), None)
        .unwrap();
    let got = receiver.requests();
    assert_eq!(got.len(), 3);
    assert!(got[1].received_at - got[0].received_at >= Duration::from_millis(990));
    // The date, one second resolution, is at least 3 s after the first request.
    assert!(got[2].received_at - got[0].received_at >= Duration::from_millis(2900));
}

#[test]
fn a_requested_wait_past_the_budget_fails_at_once_and_past_the_deadline_times_out() {
    let receiver = Receiver::grpc();
    let throttle = |secs| Reply::GrpcStatus {
        code: grpc_code::UNAVAILABLE,
        message: "busy".into(),
        retry_delay: Some(Duration::from_secs(secs)),
    };
    receiver.push_reply(throttle(30));
    let mut config = config_for(&receiver);
    config
        .set_retry(fast_retry(Duration::from_secs(2)))
        .unwrap();
    let exporter = Exporter::new(&config).unwrap();
    let rm = sample_resource_metrics(3).encode_to_vec();
    let started = Instant::now();
    let err = exporter
        .upload(&rm, Some(Duration::from_secs(60)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Export, "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));

    receiver.push_reply(throttle(1));
    let started = Instant::now();
    let err = exporter
        .upload(&rm, Some(Duration::from_millis(500)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[test]
fn a_receiver_that_never_answers_meets_the_deadline() {
    for receiver in both() {
        receiver.set_default_reply(Reply::Hang);
        let exporter = Exporter::new(&config_for(&receiver)).unwrap();
        let started = Instant::now();
        let err = exporter
            .upload(
                &sample_resource_metrics(3).encode_to_vec(),
                Some(Duration::from_millis(300)),
            )
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_millis(1000),
            "{took:?}"
        );
    }
}

#[test]
fn refused_connections_are_retried_then_reported() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let mut config = Config::from_lookup(&|_| None);
        let mut endpoint = support::dead_endpoint();
        if protocol == Protocol::HttpProtobuf {
            endpoint.push_str("/v1/metrics");
        }
        config.set_endpoint(&endpoint).unwrap();
        config.set_protocol(protocol);
        config
            .set_retry(fast_retry(Duration::from_millis(300)))
            .unwrap();
        let exporter = Exporter::new(&config).unwrap();
        let started = Instant::now();
        let err = exporter
            .upload(&sample_resource_metrics(1).encode_to_vec(), None)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Export, "{err}");
        assert!(err.message().contains("max retry time"), "{err}");
        assert!(exporter.stats().retries >= 2);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn dropped_connections_are_retried() {
    for receiver in both() {
        receiver.push_reply(Reply::CloseConnection);
        let exporter = Exporter::new(&config_for(&receiver)).unwrap();
        exporter
            .upload(&sample_resource_metrics(2).encode_to_vec(), None)
            .unwrap();
        assert_eq!(receiver.request_count(), 2, "{:?}", receiver.protocol());
    }
}

#[test]
fn partial_success_is_ok_with_one_warning() {
    for receiver in both() {
        receiver.push_replies([
            Reply::PartialSuccess {
                rejected: 3,
                message: "too old".into(),
            },
            Reply::PartialSuccess {
                rejected: 0,
                message: String::new(),
            },
            Reply::PartialSuccess {
                rejected: 0,
                message: "deprecated field".into(),
            },
        ]);
        let mut config = config_for(&receiver);
        let logs = capture_logs(&mut config);
        let exporter = Exporter::new(&config).unwrap();
        let rm = sample_resource_metrics(3).encode_to_vec();
        for _ in 0..3 {
            exporter.upload(&rm, None).unwrap();
        }
        let logs = logs.lock().unwrap().clone();
        assert_eq!(logs.len(), 2, "{logs:?}");
        assert_eq!(logs[0].0, LogLevel::Warn);
        assert!(
            logs[0]
                .1
                .contains("too old (3 metric data points rejected)"),
            "{logs:?}"
        );
        assert!(logs[1]
            .1
            .contains("deprecated field (0 metric data points rejected)"));
        assert_eq!(exporter.stats().data_points_rejected, 3);
    }
}

#[test]
fn a_response_body_over_4_mib_is_not_read_and_fails() {
    for receiver in both() {
        receiver.push_reply(Reply::HugeBody(100 << 20));
        let exporter = Exporter::new(&config_for(&receiver)).unwrap();
        let err = exporter
            .upload(&sample_resource_metrics(2).encode_to_vec(), None)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Export, "{err}");
        assert_eq!(receiver.request_count(), 1);
    }
}

#[test]
fn headers_are_sent_on_both_transports() {
    for receiver in both() {
        let mut config = config_for(&receiver);
        config.add_header("x-api-key", "s3cr3t").unwrap();
        let exporter = Exporter::new(&config).unwrap();
        exporter.upload(&[], None).unwrap();
        let got = receiver.wait_for_requests(1, Duration::from_secs(5));
        assert_eq!(got[0].header("x-api-key").as_deref(), Some("s3cr3t"));
    }
}

#[test]
fn shutdown_acts_once_and_selectors_keep_answering() {
    let receiver = Receiver::http();
    let mut config = config_for(&receiver);
    config.set_temporality_selector(Some(Arc::new(|kind| {
        Ok(if kind == InstrumentKind::Counter {
            Temporality::Delta
        } else {
            Temporality::Cumulative
        })
    })));
    let exporter = Exporter::new(&config).unwrap();
    exporter.upload(&[], None).unwrap();
    exporter.force_flush(None).unwrap();
    exporter.shutdown(None).unwrap();
    assert_eq!(
        exporter.shutdown(None).unwrap_err().kind(),
        ErrorKind::Shutdown
    );
    assert_eq!(
        exporter.upload(&[], None).unwrap_err().kind(),
        ErrorKind::Shutdown
    );
    assert_eq!(
        exporter.force_flush(None).unwrap_err().kind(),
        ErrorKind::Shutdown
    );
    assert_eq!(
        exporter.temporality(InstrumentKind::Counter),
        Temporality::Delta
    );
    assert_eq!(
        exporter.temporality(InstrumentKind::Gauge),
        Temporality::Cumulative
    );
}

#[test]
fn shutdown_while_an_upload_hangs_times_out_and_stops_it() {
    // A gRPC call's network part runs on the exporter's worker, an HTTP one on the calling
    // thread: both stop.
    for receiver in [Receiver::grpc(), Receiver::http()] {
        receiver.set_default_reply(Reply::Hang);
        let exporter = Arc::new(Exporter::new(&config_for(&receiver)).unwrap());
        let uploader = {
            let exporter = exporter.clone();
            std::thread::spawn(move || {
                exporter.upload(
                    &sample_resource_metrics(1).encode_to_vec(),
                    Some(Duration::from_secs(30)),
                )
            })
        };
        receiver.wait_for_requests(1, Duration::from_secs(5));
        let started = Instant::now();
        let err = exporter
            .shutdown(Some(Duration::from_millis(300)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        let upload = uploader.join().unwrap().unwrap_err();
        assert_eq!(upload.kind(), ErrorKind::Shutdown, "{upload}");
        assert!(exporter.is_shut_down());
    }
}

#[test]
fn queue_bytes_return_to_zero_whether_queued_uploads_are_delivered_fail_or_are_dropped() {
    let grpc = Receiver::grpc();
    grpc.set_default_reply(Reply::grpc_status(grpc_code::INVALID_ARGUMENT, "no"));
    let http = Receiver::http();
    http.set_default_reply(Reply::http_status(400));
    for receiver in [grpc, http] {
        let exporter = Exporter::new(&config_for(&receiver)).unwrap();
        let rm = sample_resource_metrics(3);
        let upload = rm.encode_to_vec();
        // The queue holds each upload as an ExportMetricsServiceRequest.
        let queued_len = ExportMetricsServiceRequest {
            resource_metrics: vec![rm],
        }
        .encoded_len() as u64;

        // Failed for good.
        for _ in 0..2 {
            exporter.enqueue(&upload).unwrap();
        }
        exporter.force_flush(None).unwrap();
        let stats = exporter.stats();
        assert_eq!((stats.requests_failed, stats.queue_bytes), (2, 0));

        // Delivered.
        receiver.set_default_reply(Reply::Ok);
        for _ in 0..3 {
            exporter.enqueue(&upload).unwrap();
        }
        exporter.force_flush(None).unwrap();
        let stats = exporter.stats();
        assert_eq!((stats.requests_sent, stats.queue_bytes), (3, 0));

        // Dropped at shutdown: one in progress (cancelled), two still queued.
        receiver.set_default_reply(Reply::Hang);
        for _ in 0..3 {
            exporter.enqueue(&upload).unwrap();
        }
        receiver.wait_for_requests(6, Duration::from_secs(5));
        assert_eq!(exporter.stats().queue_bytes, 3 * queued_len);
        let err = exporter
            .shutdown(Some(Duration::from_millis(200)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        let stats = exporter.stats();
        assert_eq!((stats.queue_dropped, stats.queue_bytes), (3, 0));
    }
}

#[test]
fn force_flush_waits_for_earlier_uploads_and_honours_its_deadline() {
    let receiver = Receiver::http();
    receiver.set_default_reply(Reply::delayed(Duration::from_millis(600), Reply::Ok));
    let exporter = Arc::new(Exporter::new(&config_for(&receiver)).unwrap());
    let uploader = {
        let exporter = exporter.clone();
        std::thread::spawn(move || exporter.upload(&[], None))
    };
    let arrived = receiver.wait_for_requests(1, Duration::from_secs(5))[0].received_at;
    let err = exporter
        .force_flush(Some(Duration::from_millis(100)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    exporter.force_flush(Some(Duration::from_secs(5))).unwrap();
    // The receiver answers 600 ms after the request arrived; flush waited for that.
    assert!(
        arrived.elapsed() >= Duration::from_millis(590),
        "flush returned after {:?}",
        arrived.elapsed()
    );
    uploader.join().unwrap().unwrap();
}

#[test]
fn uploads_from_many_threads_run_concurrently() {
    let receiver = Receiver::grpc();
    receiver.set_default_reply(Reply::delayed(Duration::from_millis(400), Reply::Ok));
    let exporter = Arc::new(Exporter::new(&config_for(&receiver)).unwrap());
    let rm = sample_resource_metrics(10).encode_to_vec();
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (exporter, rm) = (exporter.clone(), rm.clone());
            std::thread::spawn(move || exporter.upload(&rm, None))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    // Serialised, eight uploads would take 3.2 s.
    assert!(
        started.elapsed() < Duration::from_millis(1600),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(receiver.request_count(), 8);
}

#[test]
fn environment_problems_are_reported_when_the_exporter_is_created() {
    let mut config = Config::from_lookup(&|name| {
        (name == "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL").then(|| "smoke-signals".to_string())
    });
    let logs = capture_logs(&mut config);
    let _exporter = Exporter::new(&config).unwrap();
    let logs = logs.lock().unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].0, LogLevel::Warn);
    assert!(logs[0].1.contains("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"));
}

#[test]
fn retry_disabled_fails_on_the_first_retryable_error() {
    let receiver = Receiver::http();
    receiver.push_reply(Reply::http_status(503));
    let mut config = config_for(&receiver);
    config
        .set_retry(RetryPolicy {
            enabled: false,
            ..RetryPolicy::default()
        })
        .unwrap();
    let exporter = Exporter::new(&config).unwrap();
    let err = exporter.upload(&[], None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Export);
    assert!(err.message().contains("503"), "{err}");
    assert_eq!(receiver.request_count(), 1);
}

#[test]
fn a_grpc_receiver_that_lies_gets_a_clear_error_and_no_crash() {
    use base64::Engine as _;
    use opentelemetry_proto::tonic::collector::metrics::v1::{
        ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
    };
    let status = |code: &str| Some(vec![("grpc-status", code.to_string())]);
    let ok_message = ExportMetricsServiceResponse::default().encode_to_vec();
    let partial = ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 4,
            error_message: "stale".into(),
        }),
    }
    .encode_to_vec();
    let gzipped = {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&partial).unwrap();
        gz.finish().unwrap()
    };
    let zstd_compressed = zstd::bulk::compress(&partial, 3).unwrap();
    let raw = |headers: Vec<(&'static str, String)>, body: Vec<u8>, trailers| Reply::RawGrpc {
        headers,
        body,
        trailers,
    };
    let cases: Vec<(&str, Reply, Result<i64, &str>)> = vec![
        (
            "details that are not base64",
            raw(
                vec![
                    ("grpc-status", "8".into()),
                    ("grpc-status-details-bin", "!!! not base64 !!!".into()),
                ],
                vec![],
                None,
            ),
            Err("ResourceExhausted (8)"),
        ),
        (
            "details that are base64 of garbage",
            raw(
                vec![
                    ("grpc-status", "8".into()),
                    (
                        "grpc-status-details-bin",
                        base64::engine::general_purpose::STANDARD.encode(b"\xff\xff\xff\xff"),
                    ),
                ],
                vec![],
                None,
            ),
            Err("ResourceExhausted (8)"),
        ),
        (
            "a status that is not a number",
            raw(
                vec![],
                support::grpc_frame(&ok_message, false),
                status("banana"),
            ),
            Err("Unknown (2)"),
        ),
        (
            "no grpc-status at all",
            raw(vec![], support::grpc_frame(&ok_message, false), None),
            Err("no grpc-status"),
        ),
        (
            "a frame longer than the body",
            raw(vec![], vec![0, 0, 0, 1, 0, 1, 2], status("0")),
            Err("not a valid ExportMetricsServiceResponse"),
        ),
        (
            "a message that is not protobuf",
            raw(vec![], support::grpc_frame(b"\xff\xff", false), status("0")),
            Err("not a valid ExportMetricsServiceResponse"),
        ),
        (
            "a compressed message without grpc-encoding",
            raw(vec![], support::grpc_frame(&gzipped, true), status("0")),
            Err("without grpc-encoding"),
        ),
        (
            "a gzip-compressed partial success",
            raw(
                vec![("grpc-encoding", "gzip".into())],
                support::grpc_frame(&gzipped, true),
                status("0"),
            ),
            Ok(4),
        ),
        (
            "a zstd-compressed partial success",
            raw(
                vec![("grpc-encoding", "zstd".into())],
                support::grpc_frame(&zstd_compressed, true),
                status("0"),
            ),
            Ok(4),
        ),
        (
            "status 0 and no message",
            raw(vec![], vec![], status("0")),
            Ok(0),
        ),
    ];
    for (what, reply, expected) in cases {
        let receiver = Receiver::grpc();
        receiver.push_reply(reply);
        let exporter = Exporter::new(&config_for(&receiver)).unwrap();
        let result = exporter.upload(&sample_resource_metrics(2).encode_to_vec(), None);
        match expected {
            Ok(rejected) => {
                assert!(result.is_ok(), "{what}: {result:?}");
                assert_eq!(
                    exporter.stats().data_points_rejected,
                    rejected as u64,
                    "{what}"
                );
            }
            Err(needle) => {
                let err = result.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Export, "{what}: {err}");
                assert!(err.message().contains(needle), "{what}: {err}");
            }
        }
        assert_eq!(receiver.request_count(), 1, "{what}: not retried");
    }
}
