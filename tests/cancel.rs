//! Cancellation: a triggered signal ends uploads and flushes promptly with
//! `ErrorKind::Cancelled`, whatever they are waiting for.

mod support;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use otlpmetric::{Cancel, Config, ErrorKind, Exporter, Result, RetryPolicy};
use prost::Message;
use support::{sample_resource_metrics, Receiver, Reply};

/// How soon after the trigger a cancelled call must have returned: it returns within a
/// few milliseconds, the rest is room for a loaded test machine.
const PROMPTLY: Duration = Duration::from_millis(250);

fn config_for(receiver: &Receiver, retry: RetryPolicy) -> Config {
    let mut config = receiver.config();
    config.set_retry(retry).unwrap();
    config
}

fn slow_retry() -> RetryPolicy {
    RetryPolicy {
        enabled: true,
        initial_interval: Duration::from_secs(20),
        max_interval: Duration::from_secs(20),
        max_elapsed: Duration::from_secs(60),
    }
}

fn both() -> [Receiver; 2] {
    [Receiver::grpc(), Receiver::http()]
}

/// Runs `call` on its own thread; returns what it returned and when.
fn spawn_call(
    call: impl FnOnce() -> Result<()> + Send + 'static,
) -> JoinHandle<(Result<()>, Instant)> {
    std::thread::spawn(move || {
        let result = call();
        (result, Instant::now())
    })
}

/// Triggers `cancel` once `call` is surely waiting, and checks that it returned
/// `Cancelled` promptly after the trigger.
fn trigger_and_expect_prompt_cancel(
    cancel: &Cancel,
    call: JoinHandle<(Result<()>, Instant)>,
    what: &str,
) {
    std::thread::sleep(Duration::from_millis(300));
    assert!(!call.is_finished(), "{what}: returned before the trigger");
    let triggered_at = Instant::now();
    cancel.trigger();
    let (result, returned_at) = call.join().unwrap();
    let took = returned_at.duration_since(triggered_at);
    println!("{what}: returned {took:?} after the trigger");
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled, "{what}");
    assert!(took < PROMPTLY, "{what}: took {took:?}");
}

#[test]
fn an_upload_to_a_receiver_that_never_answers_returns_cancelled_promptly() {
    for receiver in both() {
        receiver.set_default_reply(Reply::Hang);
        let exporter = Arc::new(Exporter::new(&config_for(&receiver, slow_retry())).unwrap());
        let cancel = Arc::new(Cancel::new().unwrap());
        let call = {
            let (exporter, cancel) = (exporter.clone(), cancel.clone());
            spawn_call(move || {
                let rm = sample_resource_metrics(3).encode_to_vec();
                exporter.upload_cancellable(&rm, Some(Duration::from_secs(30)), Some(&cancel))
            })
        };
        trigger_and_expect_prompt_cancel(&cancel, call, &format!("{:?}", receiver.protocol()));
        assert_eq!(receiver.request_count(), 1);
        assert_eq!(exporter.stats().requests_failed, 1);
    }
}

#[test]
fn an_upload_waiting_to_retry_returns_cancelled_promptly() {
    for receiver in both() {
        receiver.set_default_reply(match receiver.protocol() {
            support::Protocol::Grpc => Reply::grpc_status(support::grpc_code::UNAVAILABLE, "busy"),
            support::Protocol::Http => Reply::http_status(503),
        });
        let exporter = Arc::new(Exporter::new(&config_for(&receiver, slow_retry())).unwrap());
        let cancel = Arc::new(Cancel::new().unwrap());
        let call = {
            let (exporter, cancel) = (exporter.clone(), cancel.clone());
            spawn_call(move || {
                let rm = sample_resource_metrics(3).encode_to_vec();
                exporter.upload_cancellable(&rm, Some(Duration::from_secs(30)), Some(&cancel))
            })
        };
        trigger_and_expect_prompt_cancel(
            &cancel,
            call,
            &format!("{:?} retry wait", receiver.protocol()),
        );
        assert_eq!(exporter.stats().retries, 1);
    }
}

#[test]
fn a_signal_triggered_before_the_call_returns_at_once_and_sends_nothing() {
    let receiver = Receiver::http();
    let exporter = Exporter::new(&config_for(&receiver, slow_retry())).unwrap();
    let cancel = Cancel::new().unwrap();
    cancel.trigger();
    let rm = sample_resource_metrics(3).encode_to_vec();
    let started = Instant::now();
    let err = exporter
        .upload_cancellable(&rm, None, Some(&cancel))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    let err = exporter
        .force_flush_cancellable(None, Some(&cancel))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(started.elapsed() < PROMPTLY);
    assert_eq!(receiver.request_count(), 0);
    // The same exporter without a signal still works.
    exporter.upload_cancellable(&rm, None, None).unwrap();
    assert_eq!(receiver.request_count(), 1);
}

#[test]
fn a_flush_waiting_for_a_hung_upload_returns_cancelled_promptly_and_the_upload_goes_on() {
    let receiver = Receiver::http();
    receiver.set_default_reply(Reply::Hang);
    let exporter = Arc::new(Exporter::new(&config_for(&receiver, slow_retry())).unwrap());
    let upload = {
        let exporter = exporter.clone();
        spawn_call(move || {
            let rm = sample_resource_metrics(3).encode_to_vec();
            exporter.upload(&rm, Some(Duration::from_secs(2)))
        })
    };
    receiver.wait_for_requests(1, Duration::from_secs(5));
    let cancel = Arc::new(Cancel::new().unwrap());
    let flush = {
        let (exporter, cancel) = (exporter.clone(), cancel.clone());
        spawn_call(move || {
            exporter.force_flush_cancellable(Some(Duration::from_secs(30)), Some(&cancel))
        })
    };
    trigger_and_expect_prompt_cancel(&cancel, flush, "force_flush");
    assert!(
        !upload.is_finished(),
        "the upload is not cancelled by the flush's signal"
    );
    let (result, _) = upload.join().unwrap();
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Timeout);
}

#[test]
fn a_cancellable_flush_waits_for_earlier_uploads_like_a_plain_one() {
    let receiver = Receiver::http();
    receiver.set_default_reply(Reply::delayed(Duration::from_millis(300), Reply::Ok));
    let exporter = Arc::new(Exporter::new(&config_for(&receiver, slow_retry())).unwrap());
    let upload = {
        let exporter = exporter.clone();
        spawn_call(move || {
            let rm = sample_resource_metrics(3).encode_to_vec();
            exporter.upload(&rm, None)
        })
    };
    receiver.wait_for_requests(1, Duration::from_secs(5));
    let cancel = Cancel::new().unwrap();
    let started = Instant::now();
    exporter
        .force_flush_cancellable(Some(Duration::from_secs(5)), Some(&cancel))
        .unwrap();
    // The receiver answers 300 ms after the request arrived, and the flush began after.
    assert!(
        started.elapsed() > Duration::from_millis(200),
        "the flush returned before the upload it waited for"
    );
    upload.join().unwrap().0.unwrap();
    // A deadline still ends it with Timeout.
    receiver.set_default_reply(Reply::Hang);
    let hung = {
        let exporter = exporter.clone();
        spawn_call(move || {
            let rm = sample_resource_metrics(3).encode_to_vec();
            exporter.upload(&rm, Some(Duration::from_secs(1)))
        })
    };
    receiver.wait_for_requests(2, Duration::from_secs(5));
    let err = exporter
        .force_flush_cancellable(Some(Duration::from_millis(100)), Some(&cancel))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let _ = hung.join();
}
