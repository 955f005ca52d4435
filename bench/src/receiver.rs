//! The receivers the export benchmark runs against, each a separate process:
//!
//! - ours (`otlpmetric-bench --serve [--decode]`): an OTLP/gRPC MetricsService (tonic) and
//!   an OTLP/HTTP endpoint (hyper, POST /v1/metrics) that accept everything and answer an
//!   empty `ExportMetricsServiceResponse`. Without `--decode` request bodies are read in
//!   full and dropped undecoded, so that the receiver costs as little as it can (it shares
//!   the machine's cores with the client under test); with it, every request is decoded
//!   with prost, as a real receiver must;
//! - the real OpenTelemetry Collector the tests use (`tools/otelcol`), with a pipeline that
//!   decodes every request and logs one line per batch (`bench/otelcol-bench.yaml`).

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, BoxFuture, Context, Poll, Service, StdError};
use tonic::{Request, Response, Status};

const SERVICE: &str = "opentelemetry.proto.collector.metrics.v1.MetricsService";

/// Set by `--serve --decode`: every request is decoded with prost.
static DECODE: AtomicBool = AtomicBool::new(false);

/// Decodes a request as a real receiver does (and drops it), when `--decode` said so.
fn consume(mut body: impl Buf) {
    if DECODE.load(Ordering::Relaxed) {
        let request = ExportMetricsServiceRequest::decode(&mut body);
        std::hint::black_box(request.is_ok());
    } else {
        let n = body.remaining();
        body.advance(n);
    }
}

/// Runs our receiver until standard input closes (the parent exited or dropped it).
pub fn serve() -> ! {
    DECODE.store(std::env::args().any(|a| a == "--decode"), Ordering::Relaxed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("receiver")
        .build()
        .expect("receiver runtime");
    runtime.block_on(async {
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gRPC");
        let http = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind HTTP");
        let (grpc_port, http_port) = (
            grpc.local_addr().unwrap().port(),
            http.local_addr().unwrap().port(),
        );
        tokio::spawn(async move {
            let incoming =
                tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true));
            tonic::transport::Server::builder()
                .http2_adaptive_window(Some(true))
                .add_service(DiscardMetricsService)
                .serve_with_incoming(incoming)
                .await
                .expect("gRPC server");
        });
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = http.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service_fn(http_export))
                        .await;
                });
            }
        });
        println!("receiver grpc={grpc_port} http={http_port}");
        std::io::stdout().flush().unwrap();
        // Exit when the parent goes away.
        tokio::task::spawn_blocking(|| {
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        })
        .await
        .ok();
    });
    std::process::exit(0)
}

async fn http_export(
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let ok = request.method() == http::Method::POST && request.uri().path() == "/v1/metrics";
    // Read the whole body (so the client's send completes), then decode or drop it.
    if let Ok(body) = request.into_body().collect().await {
        consume(body.aggregate());
    }
    let response = http::Response::builder()
        .status(if ok { 200 } else { 404 })
        .header(http::header::CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(Bytes::from(
            ExportMetricsServiceResponse::default().encode_to_vec(),
        )))
        .unwrap();
    Ok(response)
}

/// A MetricsService that reads each request's bytes and drops them undecoded.
#[derive(Clone, Copy)]
struct DiscardMetricsService;

impl tonic::server::NamedService for DiscardMetricsService {
    const NAME: &'static str = SERVICE;
}

impl<B> Service<http::Request<B>> for DiscardMetricsService
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(async move {
            let mut grpc =
                tonic::server::Grpc::new(DiscardCodec).max_decoding_message_size(usize::MAX);
            Ok(grpc.unary(ExportUnary, request).await)
        })
    }
}

struct ExportUnary;

impl tonic::server::UnaryService<()> for ExportUnary {
    type Response = ExportMetricsServiceResponse;
    type Future = std::future::Ready<Result<Response<Self::Response>, Status>>;

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        std::future::ready(Ok(Response::new(ExportMetricsServiceResponse::default())))
    }
}

/// Decodes a request into nothing (skips its bytes) and encodes the response with prost.
#[derive(Clone, Copy, Default)]
struct DiscardCodec;

impl Codec for DiscardCodec {
    type Encode = ExportMetricsServiceResponse;
    type Decode = ();
    type Encoder = DiscardCodec;
    type Decoder = DiscardCodec;
    fn encoder(&mut self) -> Self::Encoder {
        DiscardCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        DiscardCodec
    }
}

impl Encoder for DiscardCodec {
    type Item = ExportMetricsServiceResponse;
    type Error = Status;
    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl Decoder for DiscardCodec {
    type Item = ();
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        consume(src);
        Ok(Some(()))
    }
}

/// Which receiver the exports go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Ours, dropping each request undecoded (the cheapest receiver there can be).
    Discarding,
    /// Ours, decoding each request with prost.
    Decoding,
    /// The real OpenTelemetry Collector.
    Collector,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Collector, Kind::Decoding, Kind::Discarding];

    pub fn id(self) -> &'static str {
        match self {
            Kind::Discarding => "discarding",
            Kind::Decoding => "decoding",
            Kind::Collector => "collector",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::Discarding => "our receiver (tonic gRPC, hyper HTTP), reading each request body and dropping it undecoded",
            Kind::Decoding => "our receiver (tonic gRPC, hyper HTTP), decoding each request with prost",
            Kind::Collector => "the OpenTelemetry Collector of tools/otelcol (otlp receiver -> batch -> debug exporter, basic verbosity)",
        }
    }
}

/// A receiver process; stopped when dropped.
pub struct Receiver {
    pub kind: Kind,
    process: Process,
    pub grpc_port: u16,
    pub http_port: u16,
}

enum Process {
    /// Ours, started from this executable; it exits when its standard input closes.
    Ours { child: Child, _stdin: ChildStdin },
    /// The Collector, started by tools/otelcol/run.sh, stopped with it.
    Collector {
        pid: u32,
        pidfile: String,
        run_dir: PathBuf,
    },
}

impl Receiver {
    pub fn spawn(kind: Kind) -> Receiver {
        if kind == Kind::Collector {
            return Self::collector();
        }
        let exe = std::env::current_exe().expect("current_exe");
        let mut command = Command::new(exe);
        command.arg("--serve");
        if kind == Kind::Decoding {
            command.arg("--decode");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the receiver process");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("receiver ports");
        let port = |key: &str| -> u16 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("receiver said {line:?}"))
        };
        Receiver {
            kind,
            grpc_port: port("grpc="),
            http_port: port("http="),
            process: Process::Ours {
                child,
                _stdin: stdin,
            },
        }
    }

    /// The Collector the tests use (scripts/otelcol.sh builds and caches it).
    fn collector() -> Receiver {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let binary = Command::new(repo.join("scripts/otelcol.sh"))
            .arg("path")
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/otelcol.sh path");
        assert!(binary.status.success(), "scripts/otelcol.sh path failed");
        let run_dir =
            std::env::temp_dir().join(format!("otlpmetric-bench-otelcol-{}", std::process::id()));
        let output = Command::new(repo.join("tools/otelcol/run.sh"))
            .env(
                "OTELCOL_BIN",
                String::from_utf8_lossy(&binary.stdout).trim(),
            )
            .env("OTELCOL_CONFIG", repo.join("bench/otelcol-bench.yaml"))
            .env("OTELCOL_GRPC_PORT", "auto")
            .env("OTELCOL_HTTP_PORT", "auto")
            .env("OTELCOL_RUN_DIR", &run_dir)
            .stderr(Stdio::inherit())
            .output()
            .expect("tools/otelcol/run.sh");
        assert!(output.status.success(), "tools/otelcol/run.sh failed");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let value = |key: &str| -> String {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{key}=")))
                .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_string())
                .unwrap_or_else(|| panic!("run.sh said no {key}: {text}"))
        };
        Receiver {
            kind: Kind::Collector,
            grpc_port: value("OTELCOL_GRPC_PORT").parse().expect("gRPC port"),
            http_port: value("OTELCOL_HTTP_PORT").parse().expect("HTTP port"),
            process: Process::Collector {
                pid: value("OTELCOL_PID").parse().expect("pid"),
                pidfile: value("OTELCOL_PIDFILE"),
                run_dir,
            },
        }
    }

    pub fn pid(&self) -> u32 {
        match &self.process {
            Process::Ours { child, .. } => child.id(),
            Process::Collector { pid, .. } => *pid,
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        match &mut self.process {
            Process::Ours { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Process::Collector {
                pidfile, run_dir, ..
            } => {
                let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
                let _ = Command::new(repo.join("tools/otelcol/run.sh"))
                    .args(["stop", pidfile.as_str()])
                    .status();
                let _ = std::fs::remove_dir_all(run_dir);
            }
        }
    }
}
