//! OTLP/HTTP's connections: kept and reused between uploads, replaced at once (without a
//! retry's wait) when the receiver closed them while idle or just as a request went out.
//! The receiver here is a scripted HTTP/1.1 server on a real socket, so that it can close
//! connections exactly when a test needs it.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use otlpmetric::{Config, Exporter, Protocol, RetryPolicy};
use prost::Message;
use support::sample_resource_metrics;

/// What the server does with a connection after answering its first request.
#[derive(Clone, Copy)]
enum AfterFirst {
    /// Answers every request.
    KeepAnswering,
    /// Closes the connection (while the client holds it idle).
    Close,
    /// Reads the next request, then closes without answering it.
    DropNextRequest,
}

struct Server {
    port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start(after_first: AfterFirst) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (c, r) = (connections.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                c.fetch_add(1, Ordering::SeqCst);
                let r = r.clone();
                std::thread::spawn(move || serve(stream, after_first, &r));
            }
        });
        Server {
            port,
            connections,
            requests,
        }
    }

    fn config(&self) -> Config {
        let mut config = Config::from_lookup(&|_| None);
        config
            .set_endpoint(&format!("http://127.0.0.1:{}/v1/metrics", self.port))
            .unwrap();
        config.set_protocol(Protocol::HttpProtobuf);
        // A retry would wait seconds: replacing a closed connection must not.
        config
            .set_retry(RetryPolicy {
                enabled: true,
                initial_interval: Duration::from_secs(3),
                max_interval: Duration::from_secs(3),
                max_elapsed: Duration::from_secs(20),
            })
            .unwrap();
        config
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request (head and Content-Length body); false at the end of the stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> bool {
    let mut content_length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return false;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).is_ok()
}

fn serve(stream: TcpStream, after_first: AfterFirst, requests: &AtomicUsize) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut answered = 0;
    while read_request(&mut reader) {
        requests.fetch_add(1, Ordering::SeqCst);
        if answered == 1 && matches!(after_first, AfterFirst::DropNextRequest) {
            break;
        }
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
        answered += 1;
        if matches!(after_first, AfterFirst::Close) {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

#[test]
fn uploads_reuse_their_connections() {
    let server = Server::start(AfterFirst::KeepAnswering);
    let exporter = Exporter::new(&server.config()).unwrap();
    let rm = sample_resource_metrics(3).encode_to_vec();
    for _ in 0..5 {
        exporter.upload(&rm, None).unwrap();
    }
    assert_eq!(server.connections(), 1, "one after another: one connection");
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..5 {
                    exporter.upload(&rm, None).unwrap();
                }
            });
        }
    });
    assert_eq!(server.requests(), 25);
    assert!(
        server.connections() <= 4,
        "4 threads at once need at most 4 connections, got {}",
        server.connections()
    );
    assert_eq!(exporter.stats().retries, 0);
}

/// Two uploads through a new exporter, `pause` between them; the second must take less
/// than a retry's wait, and count no retry.
fn two_uploads(server: &Server, pause: Duration) -> Exporter {
    let exporter = Exporter::new(&server.config()).unwrap();
    let rm = sample_resource_metrics(3).encode_to_vec();
    exporter.upload(&rm, None).unwrap();
    std::thread::sleep(pause);
    let started = Instant::now();
    exporter.upload(&rm, None).unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the second upload took {took:?}"
    );
    assert_eq!(exporter.stats().retries, 0);
    exporter
}

#[test]
fn a_connection_closed_while_idle_is_replaced_without_a_retry() {
    let server = Server::start(AfterFirst::Close);
    // Time for the server to close the connection the exporter keeps.
    two_uploads(&server, Duration::from_millis(100));
    assert_eq!((server.connections(), server.requests()), (2, 2));
}

#[test]
fn a_request_a_reused_connection_lost_is_sent_again_at_once() {
    let server = Server::start(AfterFirst::DropNextRequest);
    let exporter = two_uploads(&server, Duration::ZERO);
    // The second request went out twice: on the old connection (read, never answered)
    // and on a new one.
    assert_eq!((server.connections(), server.requests()), (2, 3));
    assert_eq!(exporter.stats().requests_sent, 2);
}

#[test]
fn a_new_connection_that_loses_the_request_is_retried_by_the_policy() {
    // Every connection's second request is dropped; a fresh connection's first answered.
    // A request lost on a fresh connection is a failure like any other: the retry policy
    // decides, with its wait.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            // The first connection drops its first request unanswered; later ones answer.
            let n = counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                if n == 0 {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    read_request(&mut reader);
                    let _ = stream.shutdown(Shutdown::Both);
                } else {
                    serve(stream, AfterFirst::KeepAnswering, &AtomicUsize::new(0));
                }
            });
        }
    });
    let mut config = Config::from_lookup(&|_| None);
    config
        .set_endpoint(&format!("http://127.0.0.1:{port}/v1/metrics"))
        .unwrap();
    config.set_protocol(Protocol::HttpProtobuf);
    config
        .set_retry(RetryPolicy {
            enabled: true,
            initial_interval: Duration::from_millis(200),
            max_interval: Duration::from_millis(200),
            max_elapsed: Duration::from_secs(5),
        })
        .unwrap();
    let exporter = Exporter::new(&config).unwrap();
    let rm = sample_resource_metrics(3).encode_to_vec();
    exporter.upload(&rm, None).unwrap();
    assert_eq!(exporter.stats().retries, 1);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}
