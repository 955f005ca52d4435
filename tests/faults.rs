//! Never the cause of an outage: the exporter under receiver outages, hangs, throttling,
//! heavy concurrency and shutdown under load. Each test prints the figures that matter
//! (points lost, duplicates, memory, time).

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otlpmetric::RetryPolicy;
use otlpmetric::{Config, ErrorKind, Exporter, Protocol};
use prost::Message;
use support::{grpc_code, Receiver, Reply};

fn config(endpoint: &str, protocol: Protocol) -> Config {
    let mut config = Config::from_lookup(&|_| None);
    config.set_endpoint(endpoint).unwrap();
    config.set_protocol(protocol);
    config
        .set_retry(RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_millis(50),
            max_interval: Duration::from_millis(400),
            max_elapsed: Duration::from_secs(20),
        })
        .unwrap();
    config.set_timeout(Duration::from_secs(20));
    config
}

/// A small upload that says who sent it, in its schema URL.
fn marked(marker: &str) -> Vec<u8> {
    let mut rm = support::sample_resource_metrics(3);
    rm.schema_url = marker.to_string();
    rm.encode_to_vec()
}

/// How often each marker arrived.
fn arrivals(receiver: &Receiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in receiver.requests() {
        if r.rejected.is_some() {
            continue;
        }
        for rm in r.request().resource_metrics {
            *seen.entry(rm.schema_url).or_insert(0) += 1;
        }
    }
    seen
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn queued_uploads_survive_a_receiver_outage_and_arrive_exactly_once() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let port = support::free_port();
        let endpoint = match protocol {
            Protocol::Grpc => format!("http://127.0.0.1:{port}"),
            _ => format!("http://127.0.0.1:{port}/v1/metrics"),
        };
        let exporter = Exporter::new(&config(&endpoint, protocol)).unwrap();
        let count = 200;
        for i in 0..count {
            exporter.enqueue(&marked(&format!("outage-{i}"))).unwrap();
        }
        // Nothing listens for 2.5 s: connections are refused, the queue keeps its data.
        std::thread::sleep(Duration::from_millis(2500));
        let receiver = Receiver::start_on(
            match protocol {
                Protocol::Grpc => support::Protocol::Grpc,
                _ => support::Protocol::Http,
            },
            port,
        );
        let started = Instant::now();
        exporter.force_flush(Some(Duration::from_secs(30))).unwrap();
        let seen = arrivals(&receiver);
        let lost = (0..count)
            .filter(|i| !seen.contains_key(&format!("outage-{i}")))
            .count();
        let duplicated = seen.values().filter(|&&n| n > 1).count();
        let stats = exporter.stats();
        println!(
            "{protocol:?}: outage 2.5 s, {count} enqueued, {} delivered, {lost} lost, {duplicated} duplicated, {} retries, drained {:?} after the receiver came back",
            seen.len(),
            stats.retries,
            started.elapsed()
        );
        assert_eq!((lost, duplicated, seen.len()), (0, 0, count));
        assert!(stats.retries > 0);
        assert_eq!(stats.queue_bytes, 0);
    }
}

#[test]
fn a_receiver_that_never_answers_holds_deadlines_and_bounds_memory() {
    let receiver = Receiver::grpc();
    receiver.set_default_reply(Reply::Hang);
    let mut config = config(&receiver.endpoint(), Protocol::Grpc);
    config.set_queue(1 << 20).unwrap();
    let exporter = Exporter::new(&config).unwrap();
    let upload = support::sample_resource_metrics(40).encode_to_vec();
    let rss_before = rss_kib();

    let started = Instant::now();
    let err = exporter
        .upload(&upload, Some(Duration::from_millis(300)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(1));

    let (mut accepted, mut refused) = (0u64, 0u64);
    for _ in 0..20_000 {
        match exporter.enqueue(&upload) {
            Ok(()) => accepted += 1,
            Err(e) if e.kind() == ErrorKind::QueueFull => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    let stats = exporter.stats();
    let grown = rss_kib().saturating_sub(rss_before);
    println!(
        "hanging receiver: {accepted} uploads queued, {refused} refused as full, queue {} bytes (bound {}), RSS grew {grown} KiB",
        stats.queue_bytes,
        1 << 20
    );
    assert!(stats.queue_bytes <= 1 << 20);
    assert_eq!(stats.queue_dropped, refused);
    // 20 000 uploads of ~4 KB would be ~80 MB unbounded.
    assert!(grown < 32 * 1024, "RSS grew {grown} KiB");

    let started = Instant::now();
    let err = exporter
        .shutdown(Some(Duration::from_millis(500)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let took = started.elapsed();
    let stats = exporter.stats();
    println!(
        "shutdown with a hanging receiver took {took:?}; {} queued uploads dropped in all",
        stats.queue_dropped
    );
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(stats.queue_dropped, refused + accepted);
    assert_eq!(stats.queue_bytes, 0);
}

#[test]
fn throttling_is_honoured_without_a_retry_storm() {
    let receiver = Receiver::grpc();
    let throttle = Reply::GrpcStatus {
        code: grpc_code::RESOURCE_EXHAUSTED,
        message: "over quota".into(),
        retry_delay: Some(Duration::from_millis(400)),
    };
    receiver.push_replies(std::iter::repeat_n(throttle, 16));
    let exporter = Arc::new(Exporter::new(&config(&receiver.endpoint(), Protocol::Grpc)).unwrap());
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let exporter = exporter.clone();
            std::thread::spawn(move || exporter.upload(&marked(&format!("throttled-{i}")), None))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let requests = receiver.request_count();
    println!(
        "throttled: 8 uploads, {requests} requests in {:?} (16 throttled answers with RetryInfo 400 ms)",
        started.elapsed()
    );
    // Each upload waits the 400 ms it is told to: 8 uploads cannot make more than
    // 8 + 16 requests, and the time spent shows the waits happened.
    assert_eq!(requests, 24);
    assert!(started.elapsed() >= Duration::from_millis(780));
    let seen = arrivals(&receiver);
    assert!((0..8).all(|i| seen.contains_key(&format!("throttled-{i}"))));
}

#[test]
fn sixteen_threads_of_thousands_of_uploads_arrive_exactly_once() {
    for (receiver, protocol, per_thread) in [
        (Receiver::grpc(), Protocol::Grpc, 250),
        (Receiver::http(), Protocol::HttpProtobuf, 150),
    ] {
        let exporter = Arc::new(Exporter::new(&config(&receiver.endpoint(), protocol)).unwrap());
        let started = Instant::now();
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let exporter = exporter.clone();
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        let upload = marked(&format!("{t}-{i}"));
                        // Half the threads use the queue.
                        if t % 2 == 0 {
                            exporter.upload(&upload, None).unwrap();
                        } else {
                            while let Err(e) = exporter.enqueue(&upload) {
                                assert_eq!(e.kind(), ErrorKind::QueueFull);
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        exporter.force_flush(Some(Duration::from_secs(60))).unwrap();
        let elapsed = started.elapsed();
        let seen = arrivals(&receiver);
        let total = 16 * per_thread;
        let duplicated = seen.values().filter(|&&n| n > 1).count();
        println!(
            "{protocol:?}: 16 threads x {per_thread} uploads = {total}: {} distinct arrived, {duplicated} duplicated, {:.0} uploads/s",
            seen.len(),
            total as f64 / elapsed.as_secs_f64()
        );
        assert_eq!((seen.len(), duplicated), (total, 0));
        assert_eq!(exporter.stats().requests_sent, total as u64);
    }
}

#[test]
fn shutdown_during_load_returns_within_its_timeout() {
    let receiver = Receiver::http();
    receiver.set_default_reply(Reply::delayed(Duration::from_millis(150), Reply::Ok));
    let exporter =
        Arc::new(Exporter::new(&config(&receiver.endpoint(), Protocol::HttpProtobuf)).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let exporter = exporter.clone();
            std::thread::spawn(move || {
                let mut outcomes = HashMap::<String, usize>::new();
                for i in 0.. {
                    let result = if i % 3 == 0 {
                        exporter.enqueue(&marked(&format!("load-{t}-{i}")))
                    } else {
                        exporter.upload(&marked(&format!("load-{t}-{i}")), None)
                    };
                    let key = result.map_or_else(|e| format!("{:?}", e.kind()), |_| "Ok".into());
                    *outcomes.entry(key.clone()).or_default() += 1;
                    if key == "Shutdown" {
                        return outcomes;
                    }
                }
                unreachable!()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    let started = Instant::now();
    let result = exporter.shutdown(Some(Duration::from_millis(300)));
    let took = started.elapsed();
    let joined = Instant::now();
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    println!(
        "shutdown under load: {result:?} after {took:?}; threads stopped {:?} later; outcomes {outcomes:?}",
        joined.elapsed()
    );
    assert!(took < Duration::from_millis(1000), "{took:?}");
    assert!(joined.elapsed() < Duration::from_millis(500));
    assert!(exporter.is_shut_down());
}
