//! Network reach against real components: the OpenTelemetry Collector through a real HTTP
//! proxy (tinyproxy) for gRPC, HTTP/protobuf and HTTPS, `NO_PROXY`, proxy credentials, and
//! refusing proxies; the Collector listening on Unix domain sockets, and a missing socket.

mod support;

use std::path::Path;
use std::time::Duration;

use otlpmetric::{Config, ErrorKind, Exporter, Protocol, RetryPolicy};
use prost::Message;
use support::{marked, Collector, Listeners, TinyProxy};

/// A configuration whose environment is exactly `vars`.
fn config(vars: &[(&str, &str)], endpoint: &str, protocol: Protocol) -> Config {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut config = Config::from_lookup(&move |name| {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    });
    config.set_endpoint(endpoint).unwrap();
    config.set_protocol(protocol);
    config.set_timeout(Duration::from_secs(5));
    config
}

/// Retries that give up within a second, so that a test sees a retryable error retried.
fn quick_retries(config: &mut Config) {
    config
        .set_retry(RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_millis(20),
            max_interval: Duration::from_millis(50),
            max_elapsed: Duration::from_millis(300),
        })
        .unwrap();
}

/// Uploads data marked `marker` and checks that the Collector wrote exactly it.
fn upload_arrives(collector: &Collector, config: &Config, marker: &str) {
    let exporter = Exporter::new(config).unwrap();
    let rm = marked(marker);
    exporter
        .upload(&rm.encode_to_vec(), None)
        .unwrap_or_else(|e| panic!("{marker}: {e}"));
    assert_eq!(
        collector.received(marker).resource_metrics,
        vec![rm],
        "{marker}"
    );
}

fn port_of(endpoint: &str) -> &str {
    endpoint.rsplit(':').next().unwrap()
}

#[test]
fn grpc_and_http_reach_the_collector_through_the_environments_proxy() {
    let collector = Collector::start(false, &[]);
    let proxy = TinyProxy::start("");
    let env = [("HTTPS_PROXY", proxy.url()), ("http_proxy", proxy.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf, Protocol::HttpJson] {
        let config = config(&env, &collector.endpoint(protocol), protocol);
        upload_arrives(&collector, &config, &format!("proxied-{protocol:?}"));
    }
    let requests = proxy.requests();
    for endpoint in ["OTELCOL_GRPC_ENDPOINT", "OTELCOL_HTTP_ENDPOINT"] {
        let tunnel = format!("CONNECT 127.0.0.1:{} ", port_of(collector.var(endpoint)));
        assert!(
            requests.iter().any(|r| r.starts_with(&tunnel)),
            "no {tunnel:?} in {requests:?}"
        );
    }
}

#[test]
fn https_and_grpc_with_tls_tunnel_through_set_proxy_and_verify_the_configured_ca() {
    let collector = Collector::start(true, &[]);
    let proxy = TinyProxy::start("");
    let ca = collector.var("OTELCOL_TLS_CA").to_string();
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        // The environment names another proxy, which nothing answers: set_proxy wins.
        let mut config = config(
            &[("HTTPS_PROXY", "http://127.0.0.1:1")],
            &collector.endpoint(protocol),
            protocol,
        );
        config.set_proxy(Some(&proxy.url())).unwrap();
        config.set_tls(Some(Path::new(&ca)), None, None).unwrap();
        upload_arrives(&collector, &config, &format!("tls-proxied-{protocol:?}"));
    }
    let requests = proxy.requests();
    for endpoint in ["OTELCOL_GRPC_ENDPOINT", "OTELCOL_HTTP_ENDPOINT"] {
        let tunnel = format!("CONNECT 127.0.0.1:{} ", port_of(collector.var(endpoint)));
        assert!(
            requests.iter().any(|r| r.starts_with(&tunnel)),
            "no {tunnel:?} in {requests:?}"
        );
    }
}

#[test]
fn no_proxy_and_an_empty_set_proxy_bypass_the_proxy() {
    let collector = Collector::start(false, &[]);
    let proxy = TinyProxy::start("");
    let url = proxy.url();
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let env = [
            ("HTTPS_PROXY", url.as_str()),
            ("HTTP_PROXY", url.as_str()),
            ("NO_PROXY", "localhost,127.0.0.1"),
        ];
        let bypassing = config(&env, &collector.endpoint(protocol), protocol);
        upload_arrives(&collector, &bypassing, &format!("no-proxy-{protocol:?}"));

        let env = [("HTTPS_PROXY", url.as_str()), ("HTTP_PROXY", url.as_str())];
        let mut off = config(&env, &collector.endpoint(protocol), protocol);
        off.set_proxy(Some("")).unwrap();
        upload_arrives(&collector, &off, &format!("proxy-off-{protocol:?}"));
    }
    assert_eq!(proxy.requests(), Vec::<String>::new());
}

#[test]
fn proxy_credentials_from_the_url_are_sent_and_never_shown() {
    let collector = Collector::start(false, &[]);
    let proxy = TinyProxy::start("BasicAuth otel pr0xy-s3cret");
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let endpoint = collector.endpoint(protocol);
        let mut config = config(&[], &endpoint, protocol);
        let good = format!("http://otel:pr0xy-s3cret@127.0.0.1:{}", proxy.port);
        config.set_proxy(Some(&good)).unwrap();
        upload_arrives(&collector, &config, &format!("auth-{protocol:?}"));

        for (wrong, hint) in [
            (
                format!("http://otel:wr0ng-s3cret@127.0.0.1:{}", proxy.port),
                "refused",
            ),
            (proxy.url(), "give them in the proxy URL"),
        ] {
            let mut config = self::config(&[], &endpoint, protocol);
            config.set_proxy(Some(&wrong)).unwrap();
            quick_retries(&mut config);
            let exporter = Exporter::new(&config).unwrap();
            let err = exporter
                .upload(&marked("auth-refused").encode_to_vec(), None)
                .unwrap_err();
            let text = err.message();
            assert!(
                text.contains(&format!("proxy 127.0.0.1:{}", proxy.port))
                    && text.contains("wants credentials")
                    && text.contains(hint),
                "{protocol:?}: {text}"
            );
            assert!(!text.contains("s3cret"), "{text}");
            assert!(exporter.stats().retries >= 1, "{protocol:?}: not retried");
        }
    }
}

#[test]
fn a_refusing_or_absent_proxy_is_a_retryable_error_naming_it_without_credentials() {
    let collector = Collector::start(false, &[]);
    // Tunnels only to port 443: the Collector's ports are refused (403).
    let ports_443_only = TinyProxy::start("ConnectPort 443");
    // Clients from 127.0.0.2 only: this one is turned away.
    let not_allowed = TinyProxy::start("Allow 127.0.0.2");
    let closed_port = support::free_port();
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        for (port, what) in [
            (ports_443_only.port, "refused the CONNECT tunnel"),
            (not_allowed.port, "refused the CONNECT tunnel"),
            (closed_port, "cannot connect to proxy"),
        ] {
            let mut config = config(&[], &collector.endpoint(protocol), protocol);
            config
                .set_proxy(Some(&format!("http://user:hunter2@127.0.0.1:{port}")))
                .unwrap();
            quick_retries(&mut config);
            let exporter = Exporter::new(&config).unwrap();
            let err = exporter
                .upload(&marked("refused").encode_to_vec(), None)
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Export, "{err}");
            let text = err.message();
            assert!(
                text.contains(&format!("proxy 127.0.0.1:{port}")) && text.contains(what),
                "{protocol:?} {what}: {text}"
            );
            assert!(!text.contains("hunter2"), "{text}");
            assert!(
                exporter.stats().retries >= 1,
                "{protocol:?} {what}: not retried"
            );
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(collector.lines().iter().all(|l| !l.contains("refused")));
}

#[test]
fn the_collector_on_unix_sockets_receives_grpc_and_http() {
    let collector = Collector::start_with(Listeners::Unix, &[]);
    let grpc_socket = collector.var("OTELCOL_GRPC_SOCKET").to_string();
    let http_socket = collector.var("OTELCOL_HTTP_SOCKET").to_string();
    // A proxy in the environment has no part in reaching a socket file.
    let env = [
        ("HTTPS_PROXY", "http://127.0.0.1:1"),
        ("HTTP_PROXY", "http://127.0.0.1:1"),
    ];

    // gRPC's own spelling, in code and in the environment.
    let unix_endpoint = config(&env, &format!("unix://{grpc_socket}"), Protocol::Grpc);
    upload_arrives(&collector, &unix_endpoint, "unix-endpoint-grpc");
    let mut from_env = Config::from_lookup(&|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(format!("unix:{grpc_socket}")),
        "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".into()),
        _ => None,
    });
    from_env.set_timeout(Duration::from_secs(5));
    upload_arrives(&collector, &from_env, "unix-env-grpc");

    // curl's --unix-socket: the URL still gives scheme, Host and path.
    for (protocol, socket, endpoint) in [
        (Protocol::Grpc, &grpc_socket, "http://localhost:4317"),
        (
            Protocol::HttpProtobuf,
            &http_socket,
            "http://localhost/v1/metrics",
        ),
        (
            Protocol::HttpJson,
            &http_socket,
            "http://localhost:4318/v1/metrics",
        ),
    ] {
        let mut config = config(&env, endpoint, protocol);
        config.set_unix_socket(Some(socket)).unwrap();
        upload_arrives(&collector, &config, &format!("unix-socket-{protocol:?}"));
    }
}

#[test]
fn a_missing_socket_file_is_a_retryable_error_naming_the_path() {
    let path = std::env::temp_dir().join(format!("otlpmetric-missing-{}.sock", std::process::id()));
    let path = path.to_str().unwrap();
    for (protocol, endpoint) in [
        (Protocol::Grpc, format!("unix://{path}")),
        (Protocol::Grpc, "http://localhost:4317".to_string()),
        (
            Protocol::HttpProtobuf,
            "http://localhost:4318/v1/metrics".to_string(),
        ),
    ] {
        let mut config = config(&[], &endpoint, protocol);
        if !endpoint.starts_with("unix:") {
            config.set_unix_socket(Some(path)).unwrap();
        }
        quick_retries(&mut config);
        let exporter = Exporter::new(&config).unwrap();
        let err = exporter
            .upload(&marked("missing-socket").encode_to_vec(), None)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Export, "{err}");
        assert!(
            err.message()
                .contains(&format!("cannot connect to Unix socket {path}")),
            "{protocol:?} {endpoint}: {err}"
        );
        assert!(exporter.stats().retries >= 1, "{endpoint}: not retried");
    }
}

#[test]
fn a_unix_endpoint_is_refused_for_otlp_http_saying_what_to_use() {
    let mut config = config(&[], "unix:///run/otel.sock", Protocol::HttpProtobuf);
    config.set_protocol(Protocol::HttpProtobuf);
    let err = Exporter::new(&config).err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("set_unix_socket"), "{err}");
}
