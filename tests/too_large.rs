//! "Too large" is not the end: a request the receiver refuses for its size (HTTP 413,
//! gRPC RESOURCE_EXHAUSTED saying so) is split in two and sent again, down to one data
//! point; and the response size limit is a setting.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use otlpmetric::{Config, ErrorKind, Exporter, LogLevel, RetryPolicy};
use prost::Message;
use support::{data_point_count, grpc_code, sample_resource_metrics, Receiver, Reply};

fn config_for(receiver: &Receiver) -> Config {
    let mut config = receiver.config();
    config
        .set_retry(RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_millis(10),
            max_interval: Duration::from_millis(20),
            max_elapsed: Duration::from_secs(2),
        })
        .unwrap();
    config
}

/// What the receiver answers to a request over its size limit.
fn too_large(protocol: support::Protocol, grpc_message: &str) -> Reply {
    match protocol {
        support::Protocol::Grpc => Reply::grpc_status(grpc_code::RESOURCE_EXHAUSTED, grpc_message),
        support::Protocol::Http => Reply::http_status(413),
    }
}

type Logs = Arc<Mutex<Vec<(LogLevel, String)>>>;

fn capture_logs(config: &mut Config) -> Logs {
    let logs: Logs = Arc::default();
    let sink = logs.clone();
    config.set_log_callback(Some(Arc::new(move |level, message: &str| {
        sink.lock().unwrap().push((level, message.to_string()))
    })));
    logs
}

#[test]
fn a_request_refused_as_too_large_is_halved_until_every_piece_passes() {
    let (grpc, http) = (support::Protocol::Grpc, support::Protocol::Http);
    let answers = [
        too_large(
            grpc,
            "grpc: received message larger than max (9000 vs. 3000)",
        ),
        too_large(grpc, "Message Too Large"),
        // A proxy in front of a gRPC receiver: HTTP 413 and no gRPC status.
        Reply::http_status(413),
        too_large(http, ""),
    ];
    for (receiver, answer) in [
        Receiver::grpc(),
        Receiver::grpc(),
        Receiver::grpc(),
        Receiver::http(),
    ]
    .into_iter()
    .zip(answers)
    {
        let rm = sample_resource_metrics(90).encode_to_vec();
        let limit = rm.len() / 5;
        receiver.refuse_requests_over(limit, answer.clone());
        let mut config = config_for(&receiver);
        let logs = capture_logs(&mut config);
        let exporter = Exporter::new(&config).unwrap();
        exporter.upload(&rm, None).unwrap();

        let requests = receiver.requests();
        let accepted: Vec<_> = requests.iter().filter(|r| r.rejected.is_none()).collect();
        let refused = requests.len() - accepted.len();
        assert!(
            refused >= 1 && accepted.len() >= 5,
            "{refused} refused, {} accepted",
            accepted.len()
        );
        assert!(accepted.iter().all(|r| r.body.len() <= limit));
        let points: usize = accepted
            .iter()
            .map(|r| data_point_count(&r.request()))
            .sum();
        assert_eq!(
            points,
            90,
            "every data point arrived once ({:?})",
            receiver.protocol()
        );
        let stats = exporter.stats();
        assert_eq!(stats.requests_sent, accepted.len() as u64);
        assert_eq!(
            stats.retries, refused as u64,
            "each split counts as a retry"
        );
        assert_eq!(stats.requests_failed, 0);
        let logs = logs.lock().unwrap();
        assert!(
            logs.iter()
                .any(|(level, m)| *level == LogLevel::Warn && m.contains("as too large")),
            "{logs:?}"
        );
    }
}

#[test]
fn one_data_point_too_large_fails_naming_its_metric_and_the_rest_arrives() {
    for receiver in [Receiver::grpc(), Receiver::http()] {
        let rm = sample_resource_metrics(9).encode_to_vec();
        // Room for a request of one number data point (under 500 bytes), not for one
        // of a histogram point (over 650).
        receiver.refuse_requests_over(600, too_large(receiver.protocol(), "message too large"));
        let exporter = Exporter::new(&config_for(&receiver)).unwrap();
        let err = exporter.upload(&rm, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Export);
        assert!(err.message().contains("too large"), "{err}");
        assert!(err.message().contains("cannot be split further"), "{err}");
        assert!(err.message().contains("a data point of metric"), "{err}");
        let accepted: usize = receiver
            .requests()
            .iter()
            .filter(|r| r.rejected.is_none())
            .map(|r| data_point_count(&r.request()))
            .sum();
        assert_eq!(
            accepted, 6,
            "the number points arrive, the 3 histogram points cannot"
        );
        assert_eq!(exporter.stats().requests_failed, 3);
    }
}

#[test]
fn resource_exhausted_for_another_reason_is_not_a_size_problem() {
    let receiver = Receiver::grpc();
    receiver.set_default_reply(Reply::grpc_status(
        grpc_code::RESOURCE_EXHAUSTED,
        "quota exceeded",
    ));
    let exporter = Exporter::new(&config_for(&receiver)).unwrap();
    let err = exporter
        .upload(&sample_resource_metrics(30).encode_to_vec(), None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Export);
    assert!(err.message().contains("quota exceeded"), "{err}");
    assert_eq!(receiver.request_count(), 1, "neither split nor retried");
    assert_eq!(exporter.stats().retries, 0);
}

#[test]
fn the_response_size_limit_is_a_setting() {
    let mut config = Config::from_lookup(&|_| None);
    assert_eq!(config.resolve().unwrap().max_response_bytes, 4 << 20);
    assert_eq!(
        config.set_max_response_bytes(0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    for receiver in [Receiver::grpc(), Receiver::http()] {
        let mut config = config_for(&receiver);
        config.set_max_response_bytes(1000).unwrap();
        let exporter = Exporter::new(&config).unwrap();
        let rm = sample_resource_metrics(3).encode_to_vec();
        receiver.push_replies([Reply::HugeBody(900), Reply::HugeBody(1100)]);
        exporter.upload(&rm, None).unwrap();
        let err = exporter.upload(&rm, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Export);
        assert!(err.message().contains("1000 bytes"), "{err}");
        assert!(err.message().contains("max_response_bytes"), "{err}");
    }
}
