//! Interop with the real OpenTelemetry Collector (otelcol-mini, built from the official
//! modules by tools/otelcol; `scripts/otelcol.sh` builds and caches it): what the Collector
//! wrote out equals what was uploaded, over gRPC, HTTP/protobuf and HTTP/JSON, with and
//! without gzip or zstd, plain, TLS and mutual TLS.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use otlpmetric::{Compression, Config, ErrorKind, Exporter, Protocol};
use prost::Message;
use support::{marked, root, Collector};

fn config(endpoint: &str, protocol: Protocol) -> Config {
    let mut config = Config::from_lookup(&|_| None);
    config.set_endpoint(endpoint).unwrap();
    config.set_protocol(protocol);
    config.set_timeout(Duration::from_secs(5));
    config
}

const PROTOCOLS: [Protocol; 3] = [Protocol::Grpc, Protocol::HttpProtobuf, Protocol::HttpJson];

#[test]
fn every_protocol_with_and_without_compression_arrives_intact() {
    let collector = Collector::start(false, &[]);
    for protocol in PROTOCOLS {
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let marker = format!("plain-{protocol:?}-{compression:?}");
            let mut config = config(&collector.endpoint(protocol), protocol);
            config.set_compression(compression);
            let exporter = Exporter::new(&config).unwrap();
            let rm = marked(&marker);
            exporter.upload(&rm.encode_to_vec(), None).unwrap();
            assert_eq!(
                collector.received(&marker).resource_metrics,
                vec![rm],
                "{marker}"
            );
        }
    }
}

#[test]
fn json_input_and_request_input_arrive_intact() {
    let collector = Collector::start(false, &[]);
    let exporter =
        Exporter::new(&config(&collector.endpoint(Protocol::Grpc), Protocol::Grpc)).unwrap();
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![marked("request-input")],
    };
    exporter
        .upload_request(&request.encode_to_vec(), None)
        .unwrap();
    assert_eq!(collector.received("request-input"), request);
    // The Collector's own OTLP/JSON output, uploaded as JSON, arrives as the same data.
    let line = collector
        .lines()
        .into_iter()
        .find(|l| l.contains("request-input"))
        .unwrap();
    let json = line.replace("request-input", "json-input");
    exporter.upload_json(json.as_bytes(), None).unwrap();
    let mut expected = request.clone();
    expected.resource_metrics[0] = marked("json-input");
    assert_eq!(collector.received("json-input"), expected);
}

#[test]
fn tls_verifies_the_collector_with_the_configured_ca() {
    let collector = Collector::start(true, &[]);
    let ca = collector.var("OTELCOL_TLS_CA").to_string();
    for protocol in PROTOCOLS {
        let marker = format!("tls-{protocol:?}");
        let mut config = config(&collector.endpoint(protocol), protocol);
        config.set_tls(Some(Path::new(&ca)), None, None).unwrap();
        config.set_compression(Compression::Gzip);
        let exporter = Exporter::new(&config).unwrap();
        let rm = marked(&marker);
        exporter.upload(&rm.encode_to_vec(), None).unwrap();
        assert_eq!(collector.received(&marker).resource_metrics, vec![rm]);
    }
}

#[test]
fn a_wrong_ca_is_a_tls_error_and_nothing_is_sent() {
    let collector = Collector::start(true, &[]);
    // A second, unrelated CA.
    let other = tempdir("wrong-ca");
    let out = Command::new(root().join("tools/otelcol/gen-certs.sh"))
        .arg(&other)
        .output()
        .unwrap();
    assert!(out.status.success());
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let mut config = config(&collector.endpoint(protocol), protocol);
        config
            .set_tls(Some(&other.join("ca.crt")), None, None)
            .unwrap();
        config
            .set_retry(otlpmetric::RetryPolicy {
                enabled: false,
                ..Default::default()
            })
            .unwrap();
        let exporter = Exporter::new(&config).unwrap();
        let err = exporter
            .upload(&marked("wrong-ca").encode_to_vec(), None)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Export, "{err}");
        let text = err.message().to_lowercase();
        assert!(
            text.contains("certificate") || text.contains("tls"),
            "{err}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(collector.lines().iter().all(|l| !l.contains("wrong-ca")));
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let dir = tempdir("mtls");
    let out = Command::new(root().join("tools/otelcol/gen-certs.sh"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let file = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let collector = Collector::start(
        true,
        &[
            ("OTELCOL_TLS_CERT", &file("server.crt")),
            ("OTELCOL_TLS_KEY", &file("server.key")),
            ("OTELCOL_TLS_CLIENT_CA", &file("ca.crt")),
        ],
    );
    for protocol in PROTOCOLS {
        let marker = format!("mtls-{protocol:?}");
        let mut config = config(&collector.endpoint(protocol), protocol);
        config
            .set_tls(
                Some(&dir.join("ca.crt")),
                Some(&dir.join("client.crt")),
                Some(&dir.join("client.key")),
            )
            .unwrap();
        let exporter = Exporter::new(&config).unwrap();
        let rm = marked(&marker);
        exporter.upload(&rm.encode_to_vec(), None).unwrap();
        assert_eq!(collector.received(&marker).resource_metrics, vec![rm]);

        let mut without = self::config(&collector.endpoint(protocol), protocol);
        without
            .set_tls(Some(&dir.join("ca.crt")), None, None)
            .unwrap();
        without
            .set_retry(otlpmetric::RetryPolicy {
                enabled: false,
                ..Default::default()
            })
            .unwrap();
        let exporter = Exporter::new(&without).unwrap();
        let err = exporter
            .upload(&marked("no-client-cert").encode_to_vec(), None)
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Export | ErrorKind::Timeout),
            "{err}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(collector
        .lines()
        .iter()
        .all(|l| !l.contains("no-client-cert")));
}

#[test]
fn a_client_key_file_that_is_not_a_key_is_an_error_naming_the_file_not_its_content() {
    let dir = tempdir("badkey");
    let out = Command::new(root().join("tools/otelcol/gen-certs.sh"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut config = config("https://127.0.0.1:1", Protocol::Grpc);
    // The CA certificate where the key should be: refused when set.
    let err = config
        .set_tls(
            Some(&dir.join("ca.crt")),
            Some(&dir.join("client.crt")),
            Some(&dir.join("ca.crt")),
        )
        .expect_err("a certificate is no key");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("ca.crt"), "{err}");
    assert!(!err.message().contains("BEGIN"), "{err}");
}

fn tempdir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("otlpmetric-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
