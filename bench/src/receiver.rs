//! The receiver: a separate process (`otlpmetric-bench --serve`) with an OTLP/gRPC
//! MetricsService (tonic) and an OTLP/HTTP endpoint (hyper, POST /v1/metrics). Both accept
//! everything and answer an empty `ExportMetricsServiceResponse`. Request bodies are read
//! in full and dropped without being decoded, so that the receiver costs as little as it
//! can (it shares the machine's cores with the client under test).

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, BoxFuture, Context, Poll, Service, StdError};
use tonic::{Request, Response, Status};

const SERVICE: &str = "opentelemetry.proto.collector.metrics.v1.MetricsService";

/// Runs the receiver until standard input closes (the parent exited or dropped it).
pub fn serve() -> ! {
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
    // Read the whole body (so the client's send completes), then drop it.
    let _ = request.into_body().collect().await;
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
        let n = src.remaining();
        src.advance(n);
        Ok(Some(()))
    }
}

/// The receiver process, started from this executable; killed when dropped.
pub struct Receiver {
    child: Child,
    _stdin: ChildStdin,
    pub grpc_port: u16,
    pub http_port: u16,
}

impl Receiver {
    pub fn spawn() -> Receiver {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .arg("--serve")
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
            grpc_port: port("grpc="),
            http_port: port("http="),
            child,
            _stdin: stdin,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
