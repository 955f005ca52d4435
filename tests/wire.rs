//! Wire options against our receivers: request splitting, gzip, OTLP/HTTP JSON, secrets.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use otlpmetric::RetryPolicy;
use otlpmetric::{Compression, Config, ErrorKind, Exporter, Protocol};
use prost::Message;
use support::{sample_resource_metrics, Receiver, Reply};

fn config_for(receiver: &Receiver, protocol: Protocol) -> Config {
    let mut config = receiver.config();
    config.set_protocol(protocol);
    config
        .set_retry(RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_millis(10),
            max_interval: Duration::from_millis(50),
            max_elapsed: Duration::from_millis(500),
        })
        .unwrap();
    config
}

fn receivers() -> Vec<(Receiver, Protocol)> {
    vec![
        (Receiver::grpc(), Protocol::Grpc),
        (Receiver::http(), Protocol::HttpProtobuf),
        (Receiver::http(), Protocol::HttpJson),
    ]
}

/// Every data point, encoded together with its resource, scope and metric shell.
fn points(requests: &[ExportMetricsServiceRequest]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for req in requests {
        for rm in &req.resource_metrics {
            let mut r = rm.clone();
            r.scope_metrics.clear();
            for sm in &rm.scope_metrics {
                let mut s = sm.clone();
                s.metrics.clear();
                for m in &sm.metrics {
                    let mut shell = m.clone();
                    let each: Vec<Vec<u8>> = match shell.data.as_mut().unwrap() {
                        Data::Sum(d) => {
                            d.data_points.drain(..).map(|p| p.encode_to_vec()).collect()
                        }
                        Data::Gauge(d) => {
                            d.data_points.drain(..).map(|p| p.encode_to_vec()).collect()
                        }
                        Data::Histogram(d) => {
                            d.data_points.drain(..).map(|p| p.encode_to_vec()).collect()
                        }
                        other => panic!("unexpected data {other:?}"),
                    };
                    for p in each {
                        out.push(
                            [
                                r.encode_to_vec(),
                                s.encode_to_vec(),
                                shell.encode_to_vec(),
                                p,
                            ]
                            .concat(),
                        );
                    }
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn large_uploads_are_split_into_valid_requests_within_the_limit() {
    for (receiver, protocol) in [
        (Receiver::grpc(), Protocol::Grpc),
        (Receiver::http(), Protocol::HttpProtobuf),
    ] {
        let mut config = config_for(&receiver, protocol);
        config.set_max_request_bytes(4096).unwrap();
        let exporter = Exporter::new(&config).unwrap();
        let rm = sample_resource_metrics(600);
        let input = ExportMetricsServiceRequest {
            resource_metrics: vec![rm.clone()],
        };
        exporter.upload(&rm.encode_to_vec(), None).unwrap();
        let got = receiver.requests();
        assert!(got.len() > 5, "{} requests", got.len());
        for r in &got {
            assert!(r.body.len() <= 4096, "a request of {} bytes", r.body.len());
        }
        let received: Vec<_> = got.iter().map(|r| r.request()).collect();
        assert_eq!(points(&received), points(&[input]));
        assert_eq!(exporter.stats().requests_sent, got.len() as u64);
    }
}

#[test]
fn a_data_point_over_the_limit_is_refused_and_the_rest_is_sent() {
    let receiver = Receiver::http();
    let mut config = config_for(&receiver, Protocol::HttpProtobuf);
    config.set_max_request_bytes(2048).unwrap();
    let exporter = Exporter::new(&config).unwrap();
    let mut rm = sample_resource_metrics(30);
    let metric = &mut rm.scope_metrics[0].metrics[0];
    let name = metric.name.clone();
    let Some(Data::Sum(sum)) = metric.data.as_mut() else {
        panic!("sample starts with a sum")
    };
    sum.data_points[0]
        .attributes
        .push(support::kv_str("blob", &"z".repeat(5000)));
    let err = exporter.upload(&rm.encode_to_vec(), None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Export);
    assert!(err.message().contains(&name), "{err}");
    let received: Vec<_> = receiver.requests().iter().map(|r| r.request()).collect();
    assert_eq!(
        received
            .iter()
            .map(support::data_point_count)
            .sum::<usize>(),
        29
    );
    assert_eq!(exporter.stats().requests_failed, 1);
}

#[test]
fn gzip_and_zstd_are_sent_as_receivers_expect() {
    for (compression, name) in [(Compression::Gzip, "gzip"), (Compression::Zstd, "zstd")] {
        for (receiver, protocol) in receivers() {
            let mut config = config_for(&receiver, protocol);
            config.set_compression(compression);
            let exporter = Exporter::new(&config).unwrap();
            let rm = sample_resource_metrics(200);
            exporter.upload(&rm.encode_to_vec(), None).unwrap();
            let got = receiver.wait_for_requests(1, Duration::from_secs(5));
            assert_eq!(got[0].rejected, None, "{name} {protocol:?}");
            assert!(got[0].compressed, "{name} {protocol:?}");
            assert!(
                got[0].raw_body_len < got[0].body.len(),
                "{name} {protocol:?} not smaller"
            );
            assert_eq!(
                got[0].request().resource_metrics,
                vec![rm],
                "{name} {protocol:?}"
            );
            let encoding = if protocol == Protocol::Grpc {
                "grpc-encoding"
            } else {
                "content-encoding"
            };
            assert_eq!(got[0].header(encoding).as_deref(), Some(name));
        }
    }
}

#[test]
fn http_json_sends_otlp_json_and_reads_json_responses() {
    let receiver = Receiver::http();
    receiver.push_reply(Reply::PartialSuccess {
        rejected: 2,
        message: "stale".into(),
    });
    let mut config = config_for(&receiver, Protocol::HttpJson);
    let logs = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = logs.clone();
    config.set_log_callback(Some(Arc::new(move |_, m: &str| {
        sink.lock().unwrap().push(m.into())
    })));
    let exporter = Exporter::new(&config).unwrap();
    let rm = sample_resource_metrics(12);
    exporter.upload(&rm.encode_to_vec(), None).unwrap();
    let got = receiver.wait_for_requests(1, Duration::from_secs(5));
    assert_eq!(
        got[0].header("content-type").as_deref(),
        Some("application/json")
    );
    let json = got[0].json();
    // The OTLP/JSON encoding: lowerCamelCase keys, 64-bit integers as strings.
    let first = &json["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0];
    assert!(
        first["sum"]["dataPoints"][0]["timeUnixNano"].is_string(),
        "{first}"
    );
    assert_eq!(got[0].request().resource_metrics, vec![rm]);
    assert_eq!(exporter.stats().data_points_rejected, 2);
    assert!(logs.lock().unwrap()[0].contains("stale (2 metric data points rejected)"));
}

#[test]
fn no_secret_header_value_appears_in_any_message() {
    const SECRET: &str = "Bearer sk-live-0123456789abcdef";
    let check = |text: &str| assert!(!text.contains("sk-live"), "secret leaked: {text}");
    let logs = Arc::new(Mutex::new(Vec::<String>::new()));
    let configure = |endpoint: &str, protocol| {
        let mut config = Config::from_lookup(&|name| {
            (name == "OTEL_EXPORTER_OTLP_HEADERS")
                .then(|| format!("authorization={SECRET},bad entry {SECRET}"))
        });
        config.set_endpoint(endpoint).unwrap();
        config.set_protocol(protocol);
        config.add_header("x-api-key", SECRET).unwrap();
        config
            .set_retry(RetryPolicy {
                enabled: true,
                initial_interval: Duration::from_millis(10),
                max_interval: Duration::from_millis(20),
                max_elapsed: Duration::from_millis(100),
            })
            .unwrap();
        let sink = logs.clone();
        config.set_log_callback(Some(Arc::new(move |_, m: &str| {
            sink.lock().unwrap().push(m.into())
        })));
        config
    };
    let mut messages = Vec::new();
    // Setters that refuse a value.
    let mut config = Config::from_lookup(&|_| None);
    messages.push(
        config
            .add_header("bad key", SECRET)
            .unwrap_err()
            .to_string(),
    );
    messages.push(
        config
            .add_header("k", &format!("{SECRET}\n"))
            .unwrap_err()
            .to_string(),
    );
    // Refused connection, permanent and retryable statuses, hang, huge body, bad bytes.
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf, Protocol::HttpJson] {
        let dead = format!("{}/v1/metrics", support::dead_endpoint());
        let exporter = Exporter::new(&configure(&dead, protocol)).unwrap();
        messages.push(exporter.upload(&[], None).unwrap_err().to_string());
        let receiver = if protocol == Protocol::Grpc {
            Receiver::grpc()
        } else {
            Receiver::http()
        };
        receiver.push_replies([
            Reply::grpc_status(support::grpc_code::UNAUTHENTICATED, "who are you"),
            Reply::http_status(401),
            Reply::http_status(503),
            Reply::Hang,
        ]);
        let exporter = Exporter::new(&configure(&receiver.endpoint(), protocol)).unwrap();
        for _ in 0..3 {
            if let Err(e) = exporter.upload(&[], Some(Duration::from_millis(300))) {
                messages.push(e.to_string());
            }
        }
        messages.push(exporter.upload(b"\xff\xff", None).unwrap_err().to_string());
        messages.push(
            exporter
                .upload_json(SECRET.as_bytes(), None)
                .unwrap_err()
                .to_string(),
        );
        let got = receiver.requests();
        assert!(got
            .iter()
            .any(|r| r.header("x-api-key").as_deref() == Some(SECRET)));
    }
    assert!(messages.len() >= 12);
    for m in messages.iter().chain(logs.lock().unwrap().iter()) {
        check(m);
    }
    assert!(
        !logs.lock().unwrap().is_empty(),
        "the bad env entry was not reported"
    );
}

#[test]
fn a_configured_user_agent_is_sent_and_ours_only_without_one() {
    let ours = concat!("OTel-OTLP-Exporter-otlpmetric/", env!("CARGO_PKG_VERSION"));
    for (receiver, protocol) in receivers() {
        let exporter = Exporter::new(&config_for(&receiver, protocol)).unwrap();
        exporter.upload(&[], None).unwrap();
        let mut config = config_for(&receiver, protocol);
        config.add_header("User-Agent", "my-service/2.1").unwrap();
        let exporter = Exporter::new(&config).unwrap();
        exporter.upload(&[], None).unwrap();
        let got = receiver.wait_for_requests(2, Duration::from_secs(5));
        let agents: Vec<_> = got.iter().map(|r| r.header("user-agent")).collect();
        assert_eq!(
            agents,
            [Some(ours.to_string()), Some("my-service/2.1".to_string())],
            "{protocol:?}"
        );
    }
}

#[test]
fn insecure_sends_grpc_in_plaintext_even_to_an_https_endpoint() {
    let receiver = Receiver::grpc();
    let https = receiver.endpoint().replace("http://", "https://");
    let mut config = Config::from_lookup(&|_| None);
    config.set_endpoint(&https).unwrap();
    config.set_protocol(Protocol::Grpc);
    config.set_insecure(true);
    let exporter = Exporter::new(&config).unwrap();
    exporter.upload(&[], None).unwrap();
    assert_eq!(receiver.request_count(), 1);
    // Without it, the client speaks TLS to a plaintext server and fails.
    config.set_insecure(false);
    config
        .set_retry(RetryPolicy {
            enabled: false,
            ..RetryPolicy::default()
        })
        .unwrap();
    let exporter = Exporter::new(&config).unwrap();
    assert!(exporter.upload(&[], Some(Duration::from_secs(2))).is_err());
}

#[test]
fn a_100_mib_response_keeps_memory_flat() {
    let rss = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    };
    for (receiver, protocol) in [
        (Receiver::http(), Protocol::HttpProtobuf),
        (Receiver::grpc(), Protocol::Grpc),
    ] {
        receiver.set_default_reply(Reply::HugeBody(100 << 20));
        let exporter = Exporter::new(&config_for(&receiver, protocol)).unwrap();
        let before = rss();
        let err = exporter.upload(&[], None).unwrap_err();
        let grown = rss().saturating_sub(before);
        println!("{protocol:?}: 100 MiB response refused ({err}); RSS grew {grown} KiB");
        assert_eq!(err.kind(), ErrorKind::Export);
        assert!(grown < 16 * 1024, "RSS grew {grown} KiB");
    }
}
