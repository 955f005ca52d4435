//! OTLP metrics receivers for integration tests, written directly on hyper 1 so
//! that every byte on the wire is under the test's control.
//!
//! Each [`Receiver`] owns a background thread with its own single-threaded tokio
//! runtime, listens on `127.0.0.1:<random port>` and records every request it
//! gets. Replies are scripted with [`Receiver::push_reply`] (consumed one per
//! request, in order) and fall back to [`Receiver::set_default_reply`] (initially
//! [`Reply::Ok`]) when the script is empty.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::pin::Pin;
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use percent_encoding::{AsciiSet, CONTROLS};
use prost::Message;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

/// The gRPC method path of the OTLP metrics service.
pub const GRPC_EXPORT_PATH: &str =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
/// The default OTLP/HTTP metrics path.
pub const HTTP_METRICS_PATH: &str = "/v1/metrics";

/// gRPC status codes used by the receiver itself.
pub mod grpc_code {
    pub const OK: i32 = 0;
    pub const CANCELLED: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const ABORTED: i32 = 10;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const DATA_LOSS: i32 = 15;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// What the receiver answers to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Success: an empty `ExportMetricsServiceResponse` (gRPC status 0, or HTTP 200
    /// with a protobuf body or `{}` for JSON requests).
    Ok,
    /// Success carrying `partial_success { rejected_data_points, error_message }`.
    PartialSuccess { rejected: i64, message: String },
    /// gRPC receiver: a trailers-only error response (HTTP 200, `content-type:
    /// application/grpc`, `grpc-status`, percent-encoded `grpc-message`, and with
    /// `retry_delay` a `grpc-status-details-bin` holding a `google.rpc.Status` whose
    /// details carry a `google.rpc.RetryInfo`).
    ///
    /// HTTP receiver: mapped to the HTTP status a gateway would use (8 -> 429,
    /// 14 -> 503, 3 -> 400, 16 -> 401, 7 -> 403, 5 -> 404, 12 -> 501, 4 -> 504, else
    /// 500), with a `google.rpc.Status` body (protobuf, or JSON `{"code","message"}`
    /// for JSON requests) and `Retry-After: <ceil(retry_delay) seconds>`.
    GrpcStatus {
        code: i32,
        message: String,
        retry_delay: Option<Duration>,
    },
    /// HTTP receiver: this status, optional `Retry-After` value (verbatim), body.
    /// `content-type` is `application/json` for JSON requests, otherwise
    /// `application/x-protobuf` (only set when the body is not empty).
    ///
    /// gRPC receiver: a plain HTTP response with this status and no gRPC trailers
    /// (what a proxy in front of a collector sends), `content-type: text/plain`.
    HttpStatus {
        status: u16,
        retry_after: Option<String>,
        body: Vec<u8>,
    },
    /// Wait this long (after reading the whole request), then reply.
    Delay(Duration, Box<Reply>),
    /// Read the request and never answer, until the receiver is dropped.
    Hang,
    /// Drop the connection (the whole TCP connection, also for HTTP/2) without answering.
    CloseConnection,
    /// A successful reply whose message is this many bytes, streamed in chunks and
    /// never allocated whole. gRPC: one frame declaring this length, then status 0.
    /// HTTP: 200 with `content-length` this many bytes. The bytes form a valid
    /// (empty) `ExportMetricsServiceResponse` made of unknown fields (protobuf), or
    /// `{` + spaces + `}` (JSON requests); a size of 1 cannot be valid.
    HugeBody(usize),
    /// gRPC receiver only: HTTP 200 with `content-type: application/grpc` and these
    /// headers, this body verbatim and these trailers (none: the body ends the stream).
    /// For receivers that lie: bad framing, statuses and details.
    RawGrpc {
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        trailers: Option<Vec<(&'static str, String)>>,
    },
}

impl Reply {
    /// `Reply::Delay(delay, Box::new(reply))`.
    pub fn delayed(delay: Duration, reply: Reply) -> Reply {
        Reply::Delay(delay, Box::new(reply))
    }

    /// `Reply::GrpcStatus` without RetryInfo.
    pub fn grpc_status(code: i32, message: impl Into<String>) -> Reply {
        Reply::GrpcStatus {
            code,
            message: message.into(),
            retry_delay: None,
        }
    }

    /// `Reply::HttpStatus` without `Retry-After` and with an empty body.
    pub fn http_status(status: u16) -> Reply {
        Reply::HttpStatus {
            status,
            retry_after: None,
            body: Vec::new(),
        }
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The request path (without query), e.g. `/v1/metrics`.
    pub path: String,
    /// The request method.
    pub method: Method,
    /// The request headers, as received (HTTP/2 pseudo-headers are not included).
    pub headers: HeaderMap,
    /// The payload after gRPC unframing and gzip or zstd decoding: the serialized
    /// `ExportMetricsServiceRequest` (or the JSON text). When `rejected` is set
    /// and decoding failed, whatever could be extracted (possibly still compressed).
    pub body: Vec<u8>,
    /// The HTTP body length on the wire (gRPC: including the 5-byte frame prefix),
    /// before any decompression.
    pub raw_body_len: usize,
    /// gRPC: the frame's compressed flag. HTTP: `Content-Encoding: gzip` or `zstd`.
    pub compressed: bool,
    /// When the request headers were handled (before the body was read).
    pub received_at: Instant,
    /// Why the receiver refused the request by itself (bad framing, bad gzip,
    /// unknown encoding, wrong path or method) instead of using the scripted reply;
    /// `None` when the script (or the default reply) answered it.
    pub rejected: Option<String>,
}

impl Recorded {
    /// The decoded request: prost-decoded, or serde-decoded for a JSON content type.
    /// Panics when the body does not decode.
    pub fn request(&self) -> ExportMetricsServiceRequest {
        if self.is_json() {
            serde_json::from_slice(&self.body).unwrap_or_else(|e| {
                panic!(
                    "recorded JSON body is not an ExportMetricsServiceRequest: {e}; body: {}",
                    String::from_utf8_lossy(&self.body)
                )
            })
        } else {
            ExportMetricsServiceRequest::decode(self.body.as_slice()).unwrap_or_else(|e| {
                panic!(
                    "recorded body ({} bytes) is not an ExportMetricsServiceRequest: {e}",
                    self.body.len()
                )
            })
        }
    }

    /// The body parsed as generic JSON. Panics when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "recorded body is not JSON: {e}; body: {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Whether the request's content type is `application/json`.
    pub fn is_json(&self) -> bool {
        is_json_content_type(&self.headers)
    }

    /// A header value as a string (lossy), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
}

/// Which protocol a receiver speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC over HTTP/2 cleartext (prior knowledge).
    Grpc,
    /// OTLP/HTTP over HTTP/1.1 (HTTP/2 prior knowledge is accepted too).
    Http,
}

struct State {
    script: VecDeque<Reply>,
    default_reply: Reply,
    requests: Vec<Recorded>,
    /// Requests whose payload is over this many bytes get this reply, script untouched.
    size_limit: Option<(usize, Reply)>,
}

struct Shared {
    state: Mutex<State>,
    arrived: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the request; when `scripted`, takes the next reply.
    fn record(&self, recorded: Recorded, scripted: bool) -> Option<Reply> {
        let mut st = self.lock();
        st.requests.push(recorded);
        let reply = if scripted {
            Some(
                st.script
                    .pop_front()
                    .unwrap_or_else(|| st.default_reply.clone()),
            )
        } else {
            None
        };
        drop(st);
        self.arrived.notify_all();
        reply
    }
}

/// A test receiver: see the module documentation.
pub struct Receiver {
    protocol: Protocol,
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<watch::Sender<bool>>,
    done: Option<mpsc::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// A gRPC receiver (h2c). Returns once it is listening.
    pub fn grpc() -> Receiver {
        Receiver::start(Protocol::Grpc)
    }

    /// An OTLP/HTTP receiver (HTTP/1.1, and h2c prior knowledge). Returns once it is listening.
    pub fn http() -> Receiver {
        Receiver::start(Protocol::Http)
    }

    /// A receiver of the given protocol.
    pub fn start(protocol: Protocol) -> Receiver {
        Receiver::start_on(protocol, 0)
    }

    /// A receiver on a given loopback port (0: any free one), e.g. to come back on the
    /// port of one that was dropped.
    pub fn start_on(protocol: Protocol, port: u16) -> Receiver {
        let listener = StdTcpListener::bind(("127.0.0.1", port)).expect("receiver: bind 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("receiver: set_nonblocking");
        let addr = listener.local_addr().expect("receiver: local_addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                script: VecDeque::new(),
                default_reply: Reply::Ok,
                requests: Vec::new(),
                size_limit: None,
            }),
            arrived: Condvar::new(),
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("test-{protocol:?}-receiver-{}", addr.port()).to_lowercase())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("receiver: tokio runtime");
                rt.block_on(async move {
                    let listener =
                        TcpListener::from_std(listener).expect("receiver: tokio listener");
                    let _ = ready_tx.send(());
                    accept_loop(listener, protocol, thread_shared, shutdown_rx).await;
                });
                // Drops every connection task still alive (hanging requests included).
                rt.shutdown_timeout(Duration::from_millis(100));
                let _ = done_tx.send(());
            })
            .expect("receiver: spawn thread");
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("receiver: background thread did not start");
        Receiver {
            protocol,
            addr,
            shared,
            shutdown: Some(shutdown_tx),
            done: Some(done_rx),
            thread: Some(thread),
        }
    }

    /// The protocol this receiver speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// A config (nothing from the environment) that sends to this receiver in its
    /// protocol (OTLP/HTTP: protobuf).
    pub fn config(&self) -> otlpmetric::Config {
        let mut config = otlpmetric::Config::from_lookup(&|_| None);
        config.set_endpoint(&self.endpoint()).unwrap();
        config.set_protocol(match self.protocol {
            Protocol::Grpc => otlpmetric::Protocol::Grpc,
            Protocol::Http => otlpmetric::Protocol::HttpProtobuf,
        });
        config
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The endpoint to give an exporter: `http://127.0.0.1:PORT` (gRPC) or
    /// `http://127.0.0.1:PORT/v1/metrics` (HTTP).
    pub fn endpoint(&self) -> String {
        match self.protocol {
            Protocol::Grpc => self.base_url(),
            Protocol::Http => format!("{}{}", self.base_url(), HTTP_METRICS_PATH),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Appends a reply to the script (consumed one per request, in order).
    pub fn push_reply(&self, reply: Reply) {
        self.shared.lock().script.push_back(reply);
    }

    /// Appends several replies to the script.
    pub fn push_replies(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().script.extend(replies);
    }

    /// The reply used when the script is empty (initially `Reply::Ok`).
    pub fn set_default_reply(&self, reply: Reply) {
        self.shared.lock().default_reply = reply;
    }

    /// Answers `reply` to every request whose payload (the serialized request, after
    /// unframing and decompression) is over `bytes`, without taking a scripted reply;
    /// such requests are recorded with `rejected` set.
    pub fn refuse_requests_over(&self, bytes: usize, reply: Reply) {
        self.shared.lock().size_limit = Some((bytes, reply));
    }

    /// How many scripted replies are still unused.
    pub fn pending_replies(&self) -> usize {
        self.shared.lock().script.len()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<Recorded> {
        self.shared.lock().requests.last().cloned()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Waits until at least `n` requests were received or `timeout` passed, then
    /// returns all requests received so far (possibly fewer than `n`).
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        while st.requests.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .shared
                .arrived
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        st.requests.clone()
    }

    /// How many requests were received so far.
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(done) = self.done.take() {
            if done.recv_timeout(Duration::from_secs(1)).is_ok() {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
            // Otherwise the thread is left detached; it ends on its own.
        }
    }
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("protocol", &self.protocol)
            .field("addr", &self.addr)
            .finish()
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    StdTcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// `http://127.0.0.1:PORT` where nothing listens (connections are refused).
pub fn dead_endpoint() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

// ---------------------------------------------------------------------------
// Wire helpers, public so tests can build or check payloads by hand.

/// gzip-compresses `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip write");
    enc.finish().expect("gzip finish")
}

/// gunzips `data`.
pub fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

/// Decodes `data` of content-coding `encoding`: `gzip` or `zstd`.
pub fn decompress(encoding: &str, data: &[u8]) -> std::io::Result<Vec<u8>> {
    match encoding {
        "gzip" => gunzip(data),
        "zstd" => zstd::stream::decode_all(data),
        other => Err(std::io::Error::other(format!("unknown encoding {other:?}"))),
    }
}

/// A gRPC length-prefixed message: flag byte, 4-byte big-endian length, payload.
pub fn grpc_frame(payload: &[u8], compressed: bool) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("grpc message over 4 GiB");
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(u8::from(compressed));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A serialized `google.rpc.Status`, with a `google.rpc.RetryInfo` detail when
/// `retry_delay` is set (for `Reply::HttpStatus` bodies or checks).
pub fn rpc_status_bytes(code: i32, message: &str, retry_delay: Option<Duration>) -> Vec<u8> {
    let details = retry_delay
        .map(|d| {
            let info = tonic_types::pb::RetryInfo {
                retry_delay: Some(prost_types::Duration {
                    seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                    nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
                }),
            };
            vec![prost_types::Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".to_string(),
                value: info.encode_to_vec(),
            }]
        })
        .unwrap_or_default();
    tonic_types::pb::Status {
        code,
        message: message.to_string(),
        details,
    }
    .encode_to_vec()
}

/// Decodes a serialized `google.rpc.Status` and returns its code, message and
/// the delay of its first `RetryInfo` detail, if any.
pub fn decode_rpc_status(bytes: &[u8]) -> (i32, String, Option<Duration>) {
    let status = tonic_types::pb::Status::decode(bytes).expect("not a google.rpc.Status");
    let delay = status
        .details
        .iter()
        .filter(|any| any.type_url.ends_with("/google.rpc.RetryInfo"))
        .find_map(|any| tonic_types::pb::RetryInfo::decode(any.value.as_slice()).ok())
        .and_then(|info| info.retry_delay)
        .map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32));
    (status.code, status.message, delay)
}

/// The HTTP status a gateway uses for a gRPC code (as `Reply::GrpcStatus` on the
/// HTTP receiver does).
pub fn grpc_code_to_http(code: i32) -> u16 {
    match code {
        grpc_code::OK => 200,
        grpc_code::INVALID_ARGUMENT | grpc_code::OUT_OF_RANGE => 400,
        grpc_code::UNAUTHENTICATED => 401,
        grpc_code::PERMISSION_DENIED => 403,
        grpc_code::NOT_FOUND => 404,
        grpc_code::RESOURCE_EXHAUSTED => 429,
        grpc_code::UNIMPLEMENTED => 501,
        grpc_code::UNAVAILABLE => 503,
        grpc_code::DEADLINE_EXCEEDED => 504,
        _ => 500,
    }
}

/// Bytes outside 0x20..=0x7E and `%` are percent-encoded in `grpc-message`.
const GRPC_MESSAGE_SET: &AsciiSet = &CONTROLS.add(b'%');

fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// Response body: data segments (some generated on the fly), then optional trailers.

enum Segment {
    Data(Bytes),
    /// `unit` repeated `count` times, produced in chunks.
    Repeat {
        unit: &'static [u8],
        count: usize,
    },
}

impl Segment {
    fn len(&self) -> usize {
        match self {
            Segment::Data(b) => b.len(),
            Segment::Repeat { unit, count } => unit.len() * count,
        }
    }
}

/// The body type of every reply.
pub struct ReplyBody {
    segments: VecDeque<Segment>,
    trailers: Option<HeaderMap>,
}

const CHUNK_BYTES: usize = 64 * 1024;

impl ReplyBody {
    fn empty() -> ReplyBody {
        ReplyBody {
            segments: VecDeque::new(),
            trailers: None,
        }
    }

    fn full(data: impl Into<Bytes>) -> ReplyBody {
        let mut body = ReplyBody::empty();
        body.segments.push_back(Segment::Data(data.into()));
        body
    }

    fn with_trailers(mut self, trailers: HeaderMap) -> ReplyBody {
        self.trailers = Some(trailers);
        self
    }

    /// `n` bytes forming a valid empty message: protobuf unknown fields or JSON whitespace.
    fn huge(n: usize, json: bool) -> ReplyBody {
        let mut body = ReplyBody::empty();
        if json {
            if n >= 2 {
                body.segments
                    .push_back(Segment::Data(Bytes::from_static(b"{")));
                body.segments.push_back(Segment::Repeat {
                    unit: b" ",
                    count: n - 2,
                });
                body.segments
                    .push_back(Segment::Data(Bytes::from_static(b"}")));
            } else {
                body.segments.push_back(Segment::Repeat {
                    unit: b" ",
                    count: n,
                });
            }
        } else if n == 1 {
            body.segments
                .push_back(Segment::Data(Bytes::from_static(&[0])));
        } else {
            // Field 15, wire type varint (tag byte 0x78): unknown to the response
            // message, so decoders skip it. Odd sizes start with a 3-byte varint 128.
            let mut rest = n;
            if n % 2 == 1 {
                body.segments
                    .push_back(Segment::Data(Bytes::from_static(&[0x78, 0x80, 0x01])));
                rest -= 3;
            }
            body.segments.push_back(Segment::Repeat {
                unit: &[0x78, 0x00],
                count: rest / 2,
            });
        }
        body
    }

    fn data_len(&self) -> u64 {
        self.segments.iter().map(|s| s.len() as u64).sum()
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        while let Some(segment) = this.segments.pop_front() {
            match segment {
                Segment::Data(bytes) => {
                    if !bytes.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                }
                Segment::Repeat { unit, count } => {
                    if count == 0 || unit.is_empty() {
                        continue;
                    }
                    let per_chunk = (CHUNK_BYTES / unit.len()).max(1);
                    let now = count.min(per_chunk);
                    if count > now {
                        this.segments.push_front(Segment::Repeat {
                            unit,
                            count: count - now,
                        });
                    }
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(unit.repeat(now))))));
                }
            }
        }
        match this.trailers.take() {
            Some(trailers) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.trailers.is_none() && self.segments.iter().all(|s| s.len() == 0)
    }

    fn size_hint(&self) -> SizeHint {
        if self.trailers.is_some() {
            // gRPC: keep the length unannounced, as real servers do.
            let mut hint = SizeHint::new();
            hint.set_lower(self.data_len());
            hint
        } else {
            SizeHint::with_exact(self.data_len())
        }
    }
}

// ---------------------------------------------------------------------------
// Server.

async fn accept_loop(
    listener: TcpListener,
    protocol: Protocol,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(
                        stream,
                        protocol,
                        shared.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

#[derive(Clone)]
struct ConnCtx {
    protocol: Protocol,
    shared: Arc<Shared>,
    /// Notified by `Reply::CloseConnection`: the connection task drops the socket.
    kill: Arc<Notify>,
}

async fn serve_connection(
    stream: TcpStream,
    protocol: Protocol,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let kill = Arc::new(Notify::new());
    let ctx = ConnCtx {
        protocol,
        shared,
        kill: kill.clone(),
    };
    let service = service_fn(move |req: Request<Incoming>| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(ctx, req).await) }
    });
    let io = TokioIo::new(stream);
    match protocol {
        Protocol::Grpc => {
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(io, service);
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        Protocol::Http => {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(io, service);
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// The decoded request payload, or why the receiver refuses it.
struct Decoded {
    body: Vec<u8>,
    compressed: bool,
    rejection: Option<(Reply, String)>,
}

async fn handle(ctx: ConnCtx, req: Request<Incoming>) -> Response<ReplyBody> {
    let received_at = Instant::now();
    let (parts, body) = req.into_parts();
    let raw = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        // The client went away mid-body: nothing to record, nobody to answer.
        Err(_) => return plain_response(StatusCode::BAD_REQUEST, None, Vec::new(), None),
    };
    let json = is_json_content_type(&parts.headers);
    let decoded = match ctx.protocol {
        Protocol::Grpc => decode_grpc(&parts.method, parts.uri.path(), &parts.headers, &raw),
        Protocol::Http => decode_http(&parts.method, &parts.headers, &raw),
    };
    let size_limit = ctx.shared.lock().size_limit.clone();
    let (fixed_reply, rejected) = match (decoded.rejection, size_limit) {
        (Some((reply, why)), _) => (Some(reply), Some(why)),
        (None, Some((limit, reply))) if decoded.body.len() > limit => (
            Some(reply),
            Some(format!(
                "{} bytes, over the size limit of {limit}",
                decoded.body.len()
            )),
        ),
        (None, _) => (None, None),
    };
    let recorded = Recorded {
        path: parts.uri.path().to_string(),
        method: parts.method.clone(),
        headers: parts.headers.clone(),
        body: decoded.body,
        raw_body_len: raw.len(),
        compressed: decoded.compressed,
        received_at,
        rejected,
    };
    let scripted = ctx.shared.record(recorded, fixed_reply.is_none());
    let mut reply = fixed_reply.or(scripted).unwrap_or(Reply::Ok);
    loop {
        match reply {
            Reply::Delay(delay, inner) => {
                tokio::time::sleep(delay).await;
                reply = *inner;
            }
            Reply::Hang => std::future::pending::<()>().await,
            Reply::CloseConnection => {
                ctx.kill.notify_one();
                std::future::pending::<()>().await
            }
            other => {
                return match ctx.protocol {
                    Protocol::Grpc => grpc_response(other),
                    Protocol::Http => http_response(other, json),
                }
            }
        }
    }
}

fn decode_grpc(method: &Method, path: &str, headers: &HeaderMap, raw: &[u8]) -> Decoded {
    let reject = |body: Vec<u8>, compressed: bool, code: i32, why: String| Decoded {
        body,
        compressed,
        rejection: Some((Reply::grpc_status(code, why.clone()), why)),
    };
    if method != Method::POST || path != GRPC_EXPORT_PATH {
        return reject(
            raw.get(5..).unwrap_or_default().to_vec(),
            raw.first() == Some(&1),
            grpc_code::UNIMPLEMENTED,
            format!("unknown method {method} {path}"),
        );
    }
    if raw.len() < 5 {
        return reject(
            raw.to_vec(),
            false,
            grpc_code::INTERNAL,
            format!(
                "grpc body has {} bytes, less than a frame header",
                raw.len()
            ),
        );
    }
    let flag = raw[0];
    let declared = u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]) as usize;
    let payload = &raw[5..];
    let compressed = flag == 1;
    if payload.len() != declared {
        return reject(
            payload.to_vec(),
            compressed,
            grpc_code::INTERNAL,
            format!(
                "grpc frame declares {declared} bytes but the body holds {} after the prefix",
                payload.len()
            ),
        );
    }
    match flag {
        0 => Decoded {
            body: payload.to_vec(),
            compressed: false,
            rejection: None,
        },
        1 => {
            let encoding = headers
                .get("grpc-encoding")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            match encoding.as_deref() {
                Some(encoding @ ("gzip" | "zstd")) => match decompress(encoding, payload) {
                    Ok(body) => Decoded {
                        body,
                        compressed: true,
                        rejection: None,
                    },
                    Err(e) => reject(
                        payload.to_vec(),
                        true,
                        grpc_code::INTERNAL,
                        format!("{encoding} decoding failed: {e}"),
                    ),
                },
                None | Some("identity") => reject(
                    payload.to_vec(),
                    true,
                    grpc_code::INTERNAL,
                    "compressed flag set without grpc-encoding".to_string(),
                ),
                Some(other) => reject(
                    payload.to_vec(),
                    true,
                    grpc_code::UNIMPLEMENTED,
                    format!("unsupported grpc-encoding {other:?}"),
                ),
            }
        }
        other => reject(
            payload.to_vec(),
            false,
            grpc_code::INTERNAL,
            format!("invalid compressed flag {other}"),
        ),
    }
}

fn decode_http(method: &Method, headers: &HeaderMap, raw: &[u8]) -> Decoded {
    let reject = |body: Vec<u8>, compressed: bool, status: u16, why: String| Decoded {
        body,
        compressed,
        rejection: Some((
            Reply::HttpStatus {
                status,
                retry_after: None,
                body: why.clone().into_bytes(),
            },
            why,
        )),
    };
    if method != Method::POST {
        return reject(
            raw.to_vec(),
            false,
            405,
            format!("method {method} not allowed"),
        );
    }
    let encoding = headers.get(CONTENT_ENCODING).map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .trim()
            .to_ascii_lowercase()
    });
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Decoded {
            body: raw.to_vec(),
            compressed: false,
            rejection: None,
        },
        Some(encoding @ ("gzip" | "zstd")) => match decompress(encoding, raw) {
            Ok(body) => Decoded {
                body,
                compressed: true,
                rejection: None,
            },
            Err(e) => reject(
                raw.to_vec(),
                true,
                400,
                format!("{encoding} decoding failed: {e}"),
            ),
        },
        Some(other) => reject(
            raw.to_vec(),
            true,
            415,
            format!("unsupported content-encoding {other:?}"),
        ),
    }
}

fn grpc_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers
}

fn grpc_status_headers(code: i32, message: &str, retry_delay: Option<Duration>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("grpc-status"),
        HeaderValue::from(code),
    );
    if !message.is_empty() {
        let encoded = percent_encoding::utf8_percent_encode(message, GRPC_MESSAGE_SET).to_string();
        headers.insert(
            HeaderName::from_static("grpc-message"),
            HeaderValue::from_str(&encoded).expect("percent-encoded header value"),
        );
    }
    if retry_delay.is_some() {
        let details = rpc_status_bytes(code, message, retry_delay);
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(details);
        headers.insert(
            HeaderName::from_static("grpc-status-details-bin"),
            HeaderValue::from_str(&b64).expect("base64 header value"),
        );
    }
    headers
}

fn with_headers(mut response: Response<ReplyBody>, headers: HeaderMap) -> Response<ReplyBody> {
    response.headers_mut().extend(headers);
    response
}

fn grpc_ok(message: Vec<u8>) -> Response<ReplyBody> {
    let body = ReplyBody::full(grpc_frame(&message, false)).with_trailers(grpc_status_headers(
        grpc_code::OK,
        "",
        None,
    ));
    with_headers(Response::new(body), grpc_headers())
}

fn grpc_response(reply: Reply) -> Response<ReplyBody> {
    match reply {
        Reply::Ok => grpc_ok(ExportMetricsServiceResponse::default().encode_to_vec()),
        Reply::PartialSuccess { rejected, message } => grpc_ok(partial_success(rejected, message)),
        Reply::GrpcStatus {
            code,
            message,
            retry_delay,
        } => {
            // Trailers-only response: status in the only HEADERS frame, END_STREAM.
            let mut headers = grpc_headers();
            headers.extend(grpc_status_headers(code, &message, retry_delay));
            with_headers(Response::new(ReplyBody::empty()), headers)
        }
        Reply::HttpStatus {
            status,
            retry_after,
            body,
        } => plain_response(
            StatusCode::from_u16(status).expect("valid HTTP status"),
            Some("text/plain; charset=utf-8"),
            body,
            retry_after,
        ),
        Reply::HugeBody(n) => {
            let len = u32::try_from(n).expect("HugeBody over 4 GiB for gRPC");
            let mut body = ReplyBody::huge(n, false);
            let mut prefix = vec![0u8];
            prefix.extend_from_slice(&len.to_be_bytes());
            body.segments.push_front(Segment::Data(Bytes::from(prefix)));
            let body = body.with_trailers(grpc_status_headers(grpc_code::OK, "", None));
            with_headers(Response::new(body), grpc_headers())
        }
        Reply::RawGrpc {
            headers,
            body,
            trailers,
        } => {
            let to_map = |pairs: Vec<(&'static str, String)>| -> HeaderMap {
                pairs
                    .into_iter()
                    .map(|(name, value)| {
                        (
                            HeaderName::from_static(name),
                            HeaderValue::from_str(&value).expect("valid header value"),
                        )
                    })
                    .collect()
            };
            let mut body = ReplyBody::full(body);
            if let Some(trailers) = trailers {
                body = body.with_trailers(to_map(trailers));
            }
            let mut all = grpc_headers();
            all.extend(to_map(headers));
            with_headers(Response::new(body), all)
        }
        Reply::Delay(..) | Reply::Hang | Reply::CloseConnection => {
            unreachable!("handled by the caller")
        }
    }
}

fn partial_success(rejected: i64, message: String) -> Vec<u8> {
    ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: rejected,
            error_message: message,
        }),
    }
    .encode_to_vec()
}

fn content_type(json: bool) -> &'static str {
    if json {
        "application/json"
    } else {
        "application/x-protobuf"
    }
}

fn plain_response(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    retry_after: Option<String>,
) -> Response<ReplyBody> {
    let has_body = !body.is_empty();
    let mut response = Response::new(ReplyBody::full(body));
    *response.status_mut() = status;
    if let (Some(ct), true) = (content_type, has_body) {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    if let Some(value) = retry_after {
        response.headers_mut().insert(
            RETRY_AFTER,
            HeaderValue::from_str(&value).expect("valid Retry-After value"),
        );
    }
    response
}

fn http_response(reply: Reply, json: bool) -> Response<ReplyBody> {
    let ok = |body: Vec<u8>| {
        let mut response = plain_response(StatusCode::OK, None, body, None);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type(json)));
        response
    };
    match reply {
        Reply::Ok => ok(if json {
            b"{}".to_vec()
        } else {
            ExportMetricsServiceResponse::default().encode_to_vec()
        }),
        Reply::PartialSuccess { rejected, message } => ok(if json {
            serde_json::to_vec(&serde_json::json!({
                "partialSuccess": {
                    "rejectedDataPoints": rejected.to_string(),
                    "errorMessage": message,
                }
            }))
            .expect("json")
        } else {
            partial_success(rejected, message)
        }),
        Reply::GrpcStatus {
            code,
            message,
            retry_delay,
        } => {
            let body = if json {
                serde_json::to_vec(&serde_json::json!({ "code": code, "message": message }))
                    .expect("json")
            } else {
                rpc_status_bytes(code, &message, retry_delay)
            };
            let retry_after = retry_delay.map(|d| {
                let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
                secs.to_string()
            });
            plain_response(
                StatusCode::from_u16(grpc_code_to_http(code)).expect("status"),
                Some(content_type(json)),
                body,
                retry_after,
            )
        }
        Reply::HttpStatus {
            status,
            retry_after,
            body,
        } => plain_response(
            StatusCode::from_u16(status).expect("valid HTTP status"),
            Some(content_type(json)),
            body,
            retry_after,
        ),
        Reply::HugeBody(n) => {
            let mut response = Response::new(ReplyBody::huge(n, json));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type(json)));
            response
        }
        Reply::RawGrpc { .. } => panic!("Reply::RawGrpc is for the gRPC receiver"),
        Reply::Delay(..) | Reply::Hang | Reply::CloseConnection => {
            unreachable!("handled by the caller")
        }
    }
}
