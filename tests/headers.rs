//! The header callback: headers computed before each attempt (a token that changes
//! while the exporter lives), and an attempt the callback fails is retried.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use otlpmetric::{Config, ErrorKind, Exporter, HeaderCallback, LogLevel, RetryPolicy};
use prost::Message;
use support::{grpc_code, sample_resource_metrics, Receiver, Reply};

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

fn unavailable(receiver: &Receiver) -> Reply {
    match receiver.protocol() {
        support::Protocol::Grpc => Reply::grpc_status(grpc_code::UNAVAILABLE, "busy"),
        support::Protocol::Http => Reply::http_status(503),
    }
}

type Logs = Arc<Mutex<Vec<String>>>;

fn capture_logs(config: &mut Config) -> Logs {
    let logs: Logs = Arc::default();
    let sink = logs.clone();
    config.set_log_callback(Some(Arc::new(move |_level: LogLevel, message: &str| {
        sink.lock().unwrap().push(message.to_string())
    })));
    logs
}

#[test]
fn each_attempt_carries_the_token_of_its_time_and_no_value_is_logged() {
    for receiver in [Receiver::grpc(), Receiver::http()] {
        receiver.push_replies([unavailable(&receiver), unavailable(&receiver)]);
        let mut config = config_for(&receiver);
        config
            .add_header("authorization", "configured-secret")
            .unwrap();
        config.add_header("x-static", "kept").unwrap();
        let logs = capture_logs(&mut config);
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        config.set_header_callback(Some(HeaderCallback::new(move |headers| {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            headers
                .add("Authorization", &format!("Bearer token-secret-{n}"))
                .map_err(|e| e.to_string())
        })));
        let exporter = Exporter::new(&config).unwrap();
        exporter
            .upload(&sample_resource_metrics(2).encode_to_vec(), None)
            .unwrap();
        let seen: Vec<_> = receiver
            .requests()
            .iter()
            .map(|r| {
                (
                    r.header("authorization").unwrap(),
                    r.header("x-static").unwrap(),
                )
            })
            .collect();
        let want: Vec<_> = (1..=3)
            .map(|n| (format!("Bearer token-secret-{n}"), "kept".to_string()))
            .collect();
        assert_eq!(seen, want, "{:?}", receiver.protocol());
        assert_eq!(exporter.stats().retries, 2);
        let logs = logs.lock().unwrap();
        assert!(!logs.is_empty());
        assert!(logs.iter().all(|m| !m.contains("secret")), "{logs:?}");
    }
}

#[test]
fn a_failing_callback_fails_that_attempt_retryably() {
    for receiver in [Receiver::grpc(), Receiver::http()] {
        let mut config = config_for(&receiver);
        let logs = capture_logs(&mut config);
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        config.set_header_callback(Some(HeaderCallback::new(move |headers| {
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err("token not ready".into());
            }
            headers.add("x-token", "fresh").map_err(|e| e.to_string())
        })));
        let exporter = Exporter::new(&config).unwrap();
        exporter
            .upload(&sample_resource_metrics(2).encode_to_vec(), None)
            .unwrap();
        let requests = receiver.requests();
        assert_eq!(requests.len(), 1, "failed attempts send nothing");
        assert_eq!(requests[0].header("x-token").as_deref(), Some("fresh"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(exporter.stats().retries, 2);
        assert!(logs
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains("header callback failed the attempt: token not ready")));
    }
}

#[test]
fn a_callback_that_always_fails_ends_in_an_export_error_naming_it() {
    let receiver = Receiver::http();
    let mut config = config_for(&receiver);
    config.set_header_callback(Some(HeaderCallback::new(|_| Err("no credentials".into()))));
    let exporter = Exporter::new(&config).unwrap();
    let err = exporter
        .upload(&sample_resource_metrics(2).encode_to_vec(), None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Export);
    assert!(
        err.message()
            .contains("header callback failed the attempt: no credentials"),
        "{err}"
    );
    assert_eq!(receiver.request_count(), 0);
    assert_eq!(exporter.stats().requests_failed, 1);
}

#[test]
fn the_callback_runs_on_the_callers_thread_for_uploads_and_the_workers_for_the_queue() {
    let receiver = Receiver::http();
    let mut config = config_for(&receiver);
    let threads = Arc::new(Mutex::new(Vec::new()));
    let sink = threads.clone();
    config.set_header_callback(Some(HeaderCallback::new(move |_| {
        let current = std::thread::current();
        sink.lock()
            .unwrap()
            .push((current.id(), current.name().map(str::to_string)));
        Ok(())
    })));
    let exporter = Exporter::new(&config).unwrap();
    let rm = sample_resource_metrics(2).encode_to_vec();
    exporter.upload(&rm, None).unwrap();
    exporter.enqueue(&rm).unwrap();
    exporter.force_flush(None).unwrap();
    let threads = threads.lock().unwrap();
    assert_eq!(threads.len(), 2);
    assert_eq!(threads[0].0, std::thread::current().id());
    assert_ne!(threads[1].0, std::thread::current().id());
    assert_eq!(threads[1].1.as_deref(), Some("otlpmetric"));
}
