//! otlpmetric-bench: client CPU and throughput of otlpmetric's uploads, side by side with
//! the ceiling (a raw tonic client sending the same pre-serialized bytes) and with
//! opentelemetry-rust's OTLP metrics exporter, against each receiver in turn (the real
//! Collector, ours decoding every request, ours dropping it undecoded), each a separate
//! process (so this process's CPU time is the client's alone).
//!
//!   cargo run --release --manifest-path bench/Cargo.toml -- [--quick]
//!   cargo run --release --manifest-path bench/Cargo.toml -- --spool [--quick]
//!
//! `--spool` measures `enqueue` to a disk spool per durability choice instead (`spool.rs`).
//! `--pipeline` measures recording into and collecting from the metrics pipeline beside
//! opentelemetry-rust's SDK instead (`pipeline.rs`).
//!
//! Every row is measured in several rounds, interleaved with the other rows of the same
//! payload in a new order each round (so that a burst of noise from elsewhere on the
//! machine hits one round of each row rather than all of one row, and no row always
//! follows the same one); CPU/export and exports/s are the medians of the rounds.
//!
//! `--serve [--decode]` runs our receiver (the benchmark starts itself with it).
//! `--receiver ID`, `--only ID,...`, `--payload small|large` and `--seconds S` narrow a
//! run, e.g. to profile one client:
//!   perf record -g -- bench/target/release/otlpmetric-bench --only otlp-grpc --payload large --seconds 10

mod alloc_count;
mod payload;
mod pipeline;
mod receiver;
mod spool;

#[global_allocator]
static ALLOCATOR: alloc_count::Counting = alloc_count::Counting;

use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use http::uri::PathAndQuery;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::reader::MetricReader;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

use payload::Payload;
use receiver::{Kind, Receiver};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

type ExportFn<'a> = dyn Fn() -> Result<(), String> + Sync + 'a;

const USAGE: &str =
    "usage: otlpmetric-bench [--quick] [--receiver ID] [--only ID,...] [--payload small|large] [--seconds S]
       otlpmetric-bench --spool [--quick]
       otlpmetric-bench --pipeline [--quick]
  --spool         enqueue latency and throughput to a disk spool for each durability
                  choice, beside the in-memory queue (instead of the export table)
  --pipeline      recording (ns and allocations per call), bytes per series and
                  collect + encode of the metrics pipeline beside opentelemetry-rust's SDK
  --quick         ~0.5 s per row (2 rounds of 0.25 s) instead of ~2.5 s (10 rounds of 0.25 s)
  --receiver ID   only this receiver: collector, decoding or discarding (default: each in turn)
  --only ID,...   only these clients: ceiling, ceiling-http, otlp-grpc, otlp-http, otlp-grpc-encode,
                  otel-grpc, otel-http, otel-grpc-collect, otlp-grpc-collect, ceiling-http-direct
  --payload P     only the small or the large payload
  --seconds S     measure each row for S seconds (one round), e.g. under perf
  --inflight N    only the rows with N (1 or 4) uploads in flight";

struct Options {
    quick: bool,
    receiver: Option<Kind>,
    spool: bool,
    pipeline: bool,
    only: Option<Vec<String>>,
    payload: Option<String>,
    seconds: Option<f64>,
    inflight: Option<usize>,
}

fn parse_args() -> Options {
    let mut o = Options {
        quick: false,
        receiver: None,
        spool: false,
        pipeline: false,
        only: None,
        payload: None,
        seconds: None,
        inflight: None,
    };
    let mut args = std::env::args().skip(1);
    let bad = |msg: String| -> ! {
        eprintln!("otlpmetric-bench: {msg}\n{USAGE}");
        std::process::exit(2)
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--spool" => o.spool = true,
            "--pipeline" => o.pipeline = true,
            "--breakdown" => {}
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            "--only" | "--payload" | "--seconds" | "--receiver" | "--inflight" => {
                let v = args
                    .next()
                    .unwrap_or_else(|| bad(format!("{a} needs a value")));
                match a.as_str() {
                    "--only" => {
                        let ids: Vec<String> = v.split(',').map(str::to_string).collect();
                        for id in &ids {
                            if !Client::ALL.iter().any(|c| c.id() == id) {
                                bad(format!("unknown client {id:?}"));
                            }
                        }
                        o.only = Some(ids);
                    }
                    "--payload" if v == "small" || v == "large" => o.payload = Some(v),
                    "--inflight" if v == "1" || v == "4" => o.inflight = v.parse().ok(),
                    "--receiver" => {
                        o.receiver = Some(
                            Kind::ALL
                                .into_iter()
                                .find(|k| k.id() == v)
                                .unwrap_or_else(|| bad(format!("unknown receiver {v:?}"))),
                        )
                    }
                    "--seconds" => {
                        o.seconds = Some(
                            v.parse()
                                .ok()
                                .filter(|s: &f64| *s > 0.0)
                                .unwrap_or_else(|| bad(format!("bad --seconds {v:?}"))),
                        )
                    }
                    _ => bad(format!("bad {a} {v:?}")),
                }
            }
            _ => bad(format!("unknown argument {a:?}")),
        }
    }
    o
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        receiver::serve();
    }
    let options = parse_args();
    if options.spool {
        spool::run(options.quick);
        return;
    }
    if options.pipeline {
        pipeline::run(options.quick);
        return;
    }
    let timing = match options.seconds {
        Some(s) => Timing {
            warmup: Duration::from_millis(300),
            rounds: 1,
            round: Duration::from_secs_f64(s),
            pairs: 0,
        },
        None if options.quick => Timing {
            warmup: Duration::from_millis(100),
            rounds: 2,
            round: Duration::from_millis(250),
            pairs: 4,
        },
        None => Timing {
            warmup: Duration::from_millis(300),
            rounds: 10,
            round: Duration::from_millis(250),
            pairs: 20,
        },
    };

    if std::env::args().any(|a| a == "--breakdown") {
        // Only where one export's CPU goes (no receiver, no table): for tuning.
        print_breakdown(
            &payload::payload("large", &payload::large()),
            &payload::large(),
            &timing,
        );
        return;
    }
    print_header(options.quick, &timing);
    let payloads = [
        (
            payload::payload("small", &payload::small()),
            payload::small(),
        ),
        (
            payload::payload("large", &payload::large()),
            payload::large(),
        ),
    ];
    for (p, _) in &payloads {
        println!(
            "payload {:<5}: {:>4} data points, ResourceMetrics {} bytes, ExportMetricsServiceRequest {} bytes",
            p.name,
            p.points,
            p.resource_metrics.len(),
            p.request.len()
        );
    }

    let kinds: Vec<Kind> = match options.receiver {
        Some(kind) => vec![kind],
        None => Kind::ALL.to_vec(),
    };
    for kind in kinds {
        let receiver = Receiver::spawn(kind);
        println!();
        println!(
            "=== receiver {}: {} (pid {}), gRPC :{}, HTTP :{}",
            receiver.kind.id(),
            receiver.kind.describe(),
            receiver.pid(),
            receiver.grpc_port,
            receiver.http_port
        );
        let mut rows: Vec<Row> = Vec::new();
        let mut paired: Vec<Paired> = Vec::new();
        for (p, specs) in &payloads {
            if options
                .payload
                .as_deref()
                .is_some_and(|only| only != p.name)
            {
                continue;
            }
            bench_payload(
                p,
                specs,
                &receiver,
                &timing,
                &options,
                &mut rows,
                &mut paired,
            );
        }
        println!();
        print_table(&rows, &timing);
        print_otel_ratio(&rows);
        print_targets(&rows, &paired);
    }
    if options.only.is_none() {
        for (p, specs) in &payloads {
            println!();
            print_breakdown(p, specs, &timing);
        }
    }
    println!();
    println!(
        "load average at the end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}

struct Timing {
    /// Untimed exports before a row's first round.
    warmup: Duration,
    rounds: usize,
    /// Length of one timed round.
    round: Duration,
    /// Pairs of rounds in the paired comparison with the ceiling.
    pairs: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Client {
    Ceiling,
    CeilingHttp,
    OtlpGrpc,
    OtlpHttp,
    OtlpGrpcEncode,
    OtelGrpc,
    OtelHttp,
    OtelGrpcCollect,
    OtlpGrpcCollect,
    CeilingHttpDirect,
}

impl Client {
    const ALL: [Client; 10] = [
        Client::Ceiling,
        Client::CeilingHttp,
        Client::OtlpGrpc,
        Client::OtlpHttp,
        Client::OtlpGrpcEncode,
        Client::OtelGrpc,
        Client::OtelHttp,
        Client::OtelGrpcCollect,
        Client::OtlpGrpcCollect,
        Client::CeilingHttpDirect,
    ];

    fn id(self) -> &'static str {
        match self {
            Client::Ceiling => "ceiling",
            Client::CeilingHttp => "ceiling-http",
            Client::OtlpGrpc => "otlp-grpc",
            Client::OtlpHttp => "otlp-http",
            Client::OtlpGrpcEncode => "otlp-grpc-encode",
            Client::OtelGrpc => "otel-grpc",
            Client::OtelHttp => "otel-http",
            Client::OtelGrpcCollect => "otel-grpc-collect",
            Client::OtlpGrpcCollect => "otlp-grpc-collect",
            Client::CeilingHttpDirect => "ceiling-http-direct",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Client::Ceiling => "ceiling: raw tonic, pass-through codec",
            Client::CeilingHttp => "ceiling-http: raw hyper POST",
            Client::OtlpGrpc => "otlpmetric gRPC upload",
            Client::OtlpHttp => "otlpmetric HTTP/protobuf upload",
            Client::OtlpGrpcEncode => "otlpmetric gRPC prost-encode+upload *",
            Client::OtelGrpc => "opentelemetry-otlp gRPC export",
            Client::OtelHttp => "opentelemetry-otlp HTTP/proto export",
            Client::OtelGrpcCollect => "opentelemetry-otlp gRPC collect+export *",
            Client::OtlpGrpcCollect => "otlpmetric gRPC MeterProvider flush *",
            Client::CeilingHttpDirect => "ceiling-http-direct: hyper conn, caller",
        }
    }

    /// The ceiling a row is compared with: the raw client of its protocol.
    fn ceiling(self) -> Client {
        match self {
            Client::CeilingHttp
            | Client::OtlpHttp
            | Client::OtelHttp
            | Client::CeilingHttpDirect => Client::CeilingHttp,
            _ => Client::Ceiling,
        }
    }
}

struct Row {
    payload: &'static str,
    client: Client,
    inflight: usize,
    m: Measured,
}

#[derive(Default)]
struct Measured {
    exports: u64,
    errors: u64,
    first_error: Option<String>,
    /// Per round: (CPU seconds per export, exports per second).
    rounds: Vec<(f64, f64)>,
    receiver_cpu: Duration,
    latencies: Vec<Duration>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl Measured {
    /// Median over the rounds of CPU seconds per export.
    fn cpu_per_export(&self) -> f64 {
        median(self.rounds.iter().map(|r| r.0).collect())
    }
    /// Median over the rounds of exports per second (wall).
    fn rate(&self) -> f64 {
        median(self.rounds.iter().map(|r| r.1).collect())
    }
    /// (max - min) / median of the rounds' CPU per export.
    fn cpu_spread(&self) -> f64 {
        let v: Vec<f64> = self.rounds.iter().map(|r| r.0).collect();
        let (min, max) = range(&v);
        (max - min) / self.cpu_per_export()
    }
    fn percentile(&self, q: f64) -> Duration {
        let i = ((self.latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
        self.latencies.get(i).copied().unwrap_or_default()
    }
}

struct Case<'a> {
    client: Client,
    inflight: usize,
    export: Box<ExportFn<'a>>,
    m: Measured,
}

fn bench_payload(
    p: &Payload,
    specs: &[payload::MetricSpec],
    receiver: &Receiver,
    timing: &Timing,
    options: &Options,
    rows: &mut Vec<Row>,
    paired: &mut Vec<Paired>,
) {
    let grpc_url = format!("http://127.0.0.1:{}", receiver.grpc_port);
    let http_url = format!("http://127.0.0.1:{}/v1/metrics", receiver.http_port);
    let wanted = |c: Client| {
        options
            .only
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|id| id == c.id()))
    };

    // The ceiling: tonic's own client, the same channel type and settings as otlpmetric's
    // (HTTP/2, TCP_NODELAY, adaptive window), a 1-worker runtime like otlpmetric's, driven
    // the same way (caller threads blocking on the runtime), the request bytes passed as
    // they are and the response not decoded.
    let ceiling_rt = runtime();
    let channel = {
        let _guard = ceiling_rt.enter();
        tonic::transport::Endpoint::from_shared(grpc_url.clone())
            .unwrap()
            .tcp_nodelay(true)
            .http2_adaptive_window(true)
            .connect_lazy()
    };
    let grpc = tonic::client::Grpc::new(channel).max_encoding_message_size(usize::MAX);
    let ceiling_handle = ceiling_rt.handle().clone();
    let ceiling = || -> Result<(), String> {
        let mut grpc = grpc.clone();
        let body = p.request.clone();
        ceiling_handle.block_on(async move {
            grpc.ready().await.map_err(|e| e.to_string())?;
            grpc.unary(
                tonic::Request::new(body),
                PathAndQuery::from_static(EXPORT_PATH),
                RawCodec,
            )
            .await
            .map(drop)
            .map_err(|s| s.to_string())
        })
    };

    // The HTTP ceiling: hyper's client as otlpmetric's HTTP transport builds it (HTTP/1.1
    // pool, TCP_NODELAY, a 1-worker runtime, caller threads blocking on it), the request
    // bytes POSTed as they are and the response read but not decoded.
    let ceiling_http_rt = runtime();
    let http_client = {
        let _guard = ceiling_http_rt.enter();
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build::<_, http_body_util::Full<Bytes>>(connector)
    };
    let http_uri: http::Uri = http_url.parse().expect("HTTP URL");
    let ceiling_http_handle = ceiling_http_rt.handle().clone();
    let ceiling_http = || -> Result<(), String> {
        let request = http::Request::post(http_uri.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(http_body_util::Full::new(p.request.clone()))
            .map_err(|e| e.to_string())?;
        ceiling_http_handle.block_on(async {
            let response = http_client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            read_response(response).await
        })
    };

    // The HTTP ceiling with otlpmetric's connection model: hyper's HTTP/1.1 connection
    // polled by the calling thread itself while its request runs (no hand-off to the
    // worker), idle connections in a pool; the same bytes, the response read undecoded.
    type DirectConn = (
        hyper::client::conn::http1::SendRequest<http_body_util::Full<Bytes>>,
        hyper::client::conn::http1::Connection<
            hyper_util::rt::TokioIo<tokio::net::TcpStream>,
            http_body_util::Full<Bytes>,
        >,
    );
    let direct_pool: std::sync::Mutex<Vec<DirectConn>> = std::sync::Mutex::new(Vec::new());
    let http_addr: std::net::SocketAddr = http_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .expect("HTTP address");
    let http_host = http::HeaderValue::from_str(&http_addr.to_string()).expect("Host value");
    let ceiling_http_direct = || -> Result<(), String> {
        let request = http::Request::post(http_uri.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .header(http::header::HOST, http_host.clone())
            .body(http_body_util::Full::new(p.request.clone()))
            .map_err(|e| e.to_string())?;
        let pooled = direct_pool.lock().unwrap().pop();
        ceiling_http_handle.block_on(async {
            let (mut sender, mut conn) = match pooled {
                Some(c) => c,
                None => {
                    let tcp = tokio::net::TcpStream::connect(http_addr)
                        .await
                        .map_err(|e| e.to_string())?;
                    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                        .await
                        .map_err(|e| e.to_string())?
                }
            };
            let exchange = async {
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| e.to_string())?;
                read_response(response).await
            };
            let outcome = tokio::select! {
                biased;
                outcome = exchange => outcome,
                r = &mut conn => return Err(format!("connection ended: {r:?}")),
            };
            direct_pool.lock().unwrap().push((sender, conn));
            outcome
        })
    };

    // otlpmetric: `upload` of the serialized ResourceMetrics (validated by a walk over the
    // wire format, then wrapped into a request without re-encoding).
    let otlp_grpc = otlpmetric_exporter(&grpc_url, otlpmetric::Protocol::Grpc);
    let otlp_http = otlpmetric_exporter(&http_url, otlpmetric::Protocol::HttpProtobuf);
    let otlp_provider = otlpmetric_provider(&grpc_url, specs);

    // opentelemetry-rust: the SDK's data collected once from a MeterProvider (ManualReader)
    // that recorded the same data points; each export is opentelemetry-otlp's
    // MetricExporter::export(&ResourceMetrics): SDK data -> proto structs -> prost -> wire.
    let (provider, reader) = payload::sdk_provider(specs);
    let mut rm = opentelemetry_sdk::metrics::data::ResourceMetrics::default();
    reader.collect(&mut rm).expect("collect");
    let sdk_points: usize = rm
        .scope_metrics()
        .flat_map(|s| s.metrics())
        .map(|m| count_points(m.data()))
        .sum();
    let sdk_bytes =
        opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest::from(&rm)
            .encoded_len();
    println!(
        "payload {:<5}: opentelemetry-rust's equivalent: {sdk_points} data points, ExportMetricsServiceRequest {sdk_bytes} bytes",
        p.name
    );
    let otel_rt = runtime();
    let (otel_grpc, otel_http) = {
        let _guard = otel_rt.enter();
        (
            opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(&grpc_url)
                .build()
                .expect("opentelemetry-otlp gRPC exporter"),
            opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(&http_url)
                .build()
                .expect("opentelemetry-otlp HTTP exporter"),
        )
    };
    let otel_handle = otel_rt.handle().clone();

    let mut all: Vec<(Client, usize, Box<ExportFn<'_>>)> = Vec::new();
    let mut add = |client, inflight, export| all.push((client, inflight, export));
    for n in [1, 4] {
        add(Client::Ceiling, n, Box::new(ceiling));
        add(Client::CeilingHttp, n, Box::new(ceiling_http));
        add(Client::CeilingHttpDirect, n, Box::new(ceiling_http_direct));
        add(
            Client::OtlpGrpc,
            n,
            Box::new(|| {
                otlp_grpc
                    .upload(&p.resource_metrics, None)
                    .map_err(|e| e.to_string())
            }),
        );
        add(
            Client::OtlpHttp,
            n,
            Box::new(|| {
                otlp_http
                    .upload(&p.resource_metrics, None)
                    .map_err(|e| e.to_string())
            }),
        );
        add(
            Client::OtelGrpc,
            n,
            Box::new(|| {
                otel_handle
                    .block_on(otel_grpc.export(&rm))
                    .map_err(|e| e.to_string())
            }),
        );
        add(
            Client::OtelHttp,
            n,
            Box::new(|| {
                otel_handle
                    .block_on(otel_http.export(&rm))
                    .map_err(|e| e.to_string())
            }),
        );
    }
    // What a Rust caller holding opentelemetry-proto structs pays: encode + upload.
    add(
        Client::OtlpGrpcEncode,
        1,
        Box::new(|| {
            otlp_grpc
                .upload(&p.proto.encode_to_vec(), None)
                .map_err(|e| e.to_string())
        }),
    );
    // What opentelemetry-rust pays per export cycle: collect from the SDK + export.
    add(
        Client::OtelGrpcCollect,
        1,
        Box::new(|| {
            let mut rm = opentelemetry_sdk::metrics::data::ResourceMetrics::default();
            reader.collect(&mut rm).map_err(|e| e.to_string())?;
            otel_handle
                .block_on(otel_grpc.export(&rm))
                .map_err(|e| e.to_string())
        }),
    );
    // The same per cycle with otlpmetric's own pipeline: collect, encode, export.
    add(
        Client::OtlpGrpcCollect,
        1,
        Box::new(|| otlp_provider.force_flush(None).map_err(|e| e.to_string())),
    );

    let mut cases: Vec<Case<'_>> = all
        .into_iter()
        .filter(|(client, inflight, _)| {
            wanted(*client) && options.inflight.is_none_or(|n| n == *inflight)
        })
        .map(|(client, inflight, export)| Case {
            client,
            inflight,
            export,
            m: Measured::default(),
        })
        .collect();

    // Warm-up: connections, buffers, allocator; proves every client works.
    for case in &mut cases {
        if let Err(e) = (case.export)() {
            eprintln!("{} {}: {e}", p.name, case.client.label());
        }
        let _ = phase(case.inflight, timing.warmup, &*case.export);
    }
    for round in 0..timing.rounds {
        // A new order each round, so that no row always follows the same one (whatever
        // ran before, on the receiver and in the caches, stays out of the medians).
        for k in round_order(cases.len(), round) {
            let case = &mut cases[k];
            let _ = phase(case.inflight, SETTLE, &*case.export);
            measure_round(case, timing.round, receiver.pid());
        }
        eprint!(".");
    }
    eprintln!();
    if p.name == "large" {
        for n in [1, 4] {
            let row = |client| cases.iter().find(|c| c.client == client && c.inflight == n);
            if let (Some(ceiling), Some(otlp)) = (row(Client::Ceiling), row(Client::OtlpGrpc)) {
                paired.push(measure_pairs(&*ceiling.export, &*otlp.export, n, timing));
            }
        }
    }
    for case in cases {
        let mut m = case.m;
        m.latencies.sort_unstable();
        if m.errors > 0 {
            eprintln!(
                "{} {} N={}: {} errors, first: {}",
                p.name,
                case.client.label(),
                case.inflight,
                m.errors,
                m.first_error.as_deref().unwrap_or("")
            );
        }
        rows.push(Row {
            payload: p.name,
            client: case.client,
            inflight: case.inflight,
            m,
        });
    }
    rows.sort_by_key(|r| {
        (
            r.payload != "small",
            Client::ALL.iter().position(|c| *c == r.client),
            r.inflight,
        )
    });

    let _ = otlp_grpc.shutdown(Some(Duration::from_secs(5)));
    let _ = otlp_http.shutdown(Some(Duration::from_secs(5)));
    let _ = otel_grpc.shutdown();
    let _ = otel_http.shutdown();
    drop(provider);
}

/// The order of `len` rows in round `round`: a shuffle (Fisher-Yates, xorshift64 seeded
/// with the round), the same in every run.
fn round_order(len: usize, round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut state =
        0x9e37_79b9_7f4a_7c15u64 ^ (round as u64 + 1).wrapping_mul(0xff51_afd7_ed55_8ccd);
    for i in (1..len).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

fn count_points(data: &opentelemetry_sdk::metrics::data::AggregatedMetrics) -> usize {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics as A, MetricData as D};
    fn n<T>(d: &D<T>) -> usize {
        match d {
            D::Gauge(g) => g.data_points().count(),
            D::Sum(s) => s.data_points().count(),
            D::Histogram(h) => h.data_points().count(),
            D::ExponentialHistogram(h) => h.data_points().count(),
        }
    }
    match data {
        A::F64(d) => n(d),
        A::U64(d) => n(d),
        A::I64(d) => n(d),
    }
}

/// The runtime of the ceiling and of opentelemetry-otlp: one worker, as otlpmetric's own,
/// so that every client is driven the same way (caller threads in `block_on`).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn otlpmetric_exporter(url: &str, protocol: otlpmetric::Protocol) -> otlpmetric::Exporter {
    let mut config = otlpmetric::Config::from_lookup(&|_| None);
    config.set_endpoint(url).expect("endpoint");
    config.set_protocol(protocol);
    otlpmetric::Exporter::new(&config).expect("otlpmetric exporter")
}

/// Reads an HTTP response's body (undecoded); an error unless the status is a success.
async fn read_response(response: http::Response<hyper::body::Incoming>) -> Result<(), String> {
    use http_body_util::BodyExt;
    let status = response.status();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

/// An otlpmetric MeterProvider exporting over gRPC to `url` (no periodic export), whose
/// instruments recorded the same data points as `payload::sdk_provider(specs)`.
fn otlpmetric_provider(
    url: &str,
    specs: &[payload::MetricSpec],
) -> otlpmetric::internals::metrics::MeterProvider {
    let mut config = otlpmetric::Config::from_lookup(&|_| None);
    config.set_endpoint(url).expect("endpoint");
    config.set_protocol(otlpmetric::Protocol::Grpc);
    let mut settings = otlpmetric::internals::metrics::MetricsSettings::from_lookup(&|_| None);
    settings.set_export_interval(None);
    payload::record_into_provider(specs, config, settings)
}

/// One timed round of `case`: this process's CPU and the wall time over back-to-back
/// exports from `case.inflight` threads.
fn measure_round(case: &mut Case<'_>, duration: Duration, receiver_pid: u32) {
    let receiver0 = process_cpu(receiver_pid);
    let (sample, (latencies, errors, first_error)) =
        timed_phase(case.inflight, duration, &*case.export);
    if let (Some(a), Some(b)) = (receiver0, process_cpu(receiver_pid)) {
        case.m.receiver_cpu += b.saturating_sub(a);
    }
    let m = &mut case.m;
    m.exports += latencies.len() as u64;
    m.errors += errors;
    if m.first_error.is_none() {
        m.first_error = first_error;
    }
    m.rounds.push(sample);
    m.latencies.extend(latencies);
}

/// A [`phase`] with its (CPU seconds per export, exports per second).
fn timed_phase(
    inflight: usize,
    duration: Duration,
    export: &ExportFn<'_>,
) -> ((f64, f64), PhaseOutcome) {
    let cpu0 = self_cpu();
    let start = Instant::now();
    let outcome = phase(inflight, duration, export);
    let wall = start.elapsed();
    let cpu = self_cpu().saturating_sub(cpu0);
    let n = outcome.0.len();
    (
        (
            cpu.as_secs_f64() / n.max(1) as f64,
            n as f64 / wall.as_secs_f64(),
        ),
        outcome,
    )
}

/// The large payload's otlpmetric gRPC rows against the ceiling, measured in pairs of
/// back-to-back rounds (the order alternating): each pair's ratios, so that the
/// machine's speed drifting between rows (other tenants, frequency) cancels out.
struct Paired {
    inflight: usize,
    /// Per pair: otlpmetric's CPU per export / the ceiling's.
    cpu: Vec<f64>,
    /// Per pair: otlpmetric's exports/s / the ceiling's.
    rate: Vec<f64>,
}

fn measure_pairs(
    ceiling: &ExportFn<'_>,
    otlp: &ExportFn<'_>,
    inflight: usize,
    timing: &Timing,
) -> Paired {
    let mut paired = Paired {
        inflight,
        cpu: Vec::new(),
        rate: Vec::new(),
    };
    for pair in 0..timing.pairs {
        let sample = |export: &ExportFn<'_>| {
            let _ = phase(inflight, SETTLE, export);
            timed_phase(inflight, timing.round, export).0
        };
        let (c, o) = if pair % 2 == 0 {
            let c = sample(ceiling);
            (c, sample(otlp))
        } else {
            let o = sample(otlp);
            (sample(ceiling), o)
        };
        paired.cpu.push(o.0 / c.0);
        paired.rate.push(o.1 / c.1);
        eprint!(".");
    }
    eprintln!();
    paired
}

/// Untimed exports right before each timed round, so that it starts from a busy client
/// rather than from the previous row's idle one.
const SETTLE: Duration = Duration::from_millis(30);

/// What a [`phase`] saw: every export's latency, the errors and the first error.
type PhaseOutcome = (Vec<Duration>, u64, Option<String>);

fn phase(inflight: usize, duration: Duration, export: &ExportFn<'_>) -> PhaseOutcome {
    let deadline = Instant::now() + duration;
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..inflight)
            .map(|_| {
                s.spawn(move || {
                    let mut latencies = Vec::with_capacity(1 << 14);
                    let mut errors = 0;
                    let mut first_error = None;
                    loop {
                        let t = Instant::now();
                        if let Err(e) = export() {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                        let now = Instant::now();
                        latencies.push(now - t);
                        if now >= deadline {
                            break;
                        }
                    }
                    (latencies, errors, first_error)
                })
            })
            .collect();
        let mut all = Vec::new();
        let (mut errors, mut first_error) = (0, None);
        for t in threads {
            let (l, e, f) = t.join().expect("bench thread");
            all.extend(l);
            errors += e;
            first_error = first_error.or(f);
        }
        (all, errors, first_error)
    })
}

/// This process's CPU time (user + system, all threads).
fn self_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Another process's CPU time (utime + stime from /proc/PID/stat; clock-tick resolution).
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

fn nproc() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Today's date (UTC), as YYYY-MM-DD.
fn today() -> String {
    let days = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn print_header(quick: bool, timing: &Timing) {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // Every client uses the system's sockets as they are: the congestion control shapes
    // the figures.
    let congestion =
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control").unwrap_or_default();
    println!(
        "otlpmetric-bench {}{}",
        today(),
        if quick { " (--quick)" } else { "" }
    );
    println!(
        "machine: {} CPUs (nproc), {}, Linux {}, TCP congestion control {}",
        nproc(),
        cpu_model(),
        kernel.trim(),
        congestion.trim()
    );
    println!(
        "receivers: each a separate process on 127.0.0.1, in turn: {}",
        Kind::ALL
            .iter()
            .map(|k| format!("{} ({})", k.id(), k.describe()))
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!(
        "each row: {} ms warm-up, then {} timed round(s) of {} ms of back-to-back exports from N threads (N = in flight),",
        timing.warmup.as_millis(),
        timing.rounds,
        timing.round.as_millis()
    );
    println!("  rounds interleaved with the other rows of the same payload, shuffled each round; CPU/export and exports/s: median of the rounds");
    if timing.pairs > 0 {
        println!(
            "targets: also {} pairs of back-to-back rounds, the large payload's otlpmetric gRPC rows against the ceiling (order alternating)",
            timing.pairs
        );
    }
    println!(
        "CPU/export = this process's getrusage(RUSAGE_SELF) user+sys over a round / its exports (the receiver's is not in it)"
    );
    println!(
        "load average at the start: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!();
}

fn fmt_time(seconds: f64) -> String {
    if seconds >= 0.1 {
        format!("{:.2} s", seconds)
    } else if seconds >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{:.1} µs", seconds * 1e6)
    }
}

fn find<'a>(rows: &'a [Row], payload: &str, client: Client, inflight: usize) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.payload == payload && r.client == client && r.inflight == inflight)
}

fn print_table(rows: &[Row], timing: &Timing) {
    println!(
        "{:<6}{:<42}{:>3}{:>12}{:>7}{:>11}{:>10}{:>10}{:>9}{:>9}{:>11}",
        "data",
        "client",
        "N",
        "CPU/export",
        "spread",
        "exports/s",
        "p50",
        "p99",
        "CPU×ceil",
        "thr×ceil",
        "rcv CPU/ex"
    );
    let mut last = "";
    for r in rows {
        if r.payload != last && !last.is_empty() {
            println!();
        }
        last = r.payload;
        let ceiling = find(rows, r.payload, r.client.ceiling(), r.inflight);
        let (cpu_ratio, thr_ratio) = match ceiling {
            Some(c) => (
                format!("{:.2}", r.m.cpu_per_export() / c.m.cpu_per_export()),
                format!("{:.2}", r.m.rate() / c.m.rate()),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<6}{:<42}{:>3}{:>12}{:>7}{:>11.0}{:>10}{:>10}{:>9}{:>9}{:>11}{}",
            r.payload,
            r.client.label(),
            r.inflight,
            fmt_time(r.m.cpu_per_export()),
            if timing.rounds > 1 {
                format!("{:.0}%", r.m.cpu_spread() * 100.0)
            } else {
                "-".into()
            },
            r.m.rate(),
            fmt_time(r.m.percentile(0.50).as_secs_f64()),
            fmt_time(r.m.percentile(0.99).as_secs_f64()),
            cpu_ratio,
            thr_ratio,
            fmt_time(r.m.receiver_cpu.as_secs_f64() / r.m.exports.max(1) as f64),
            if r.m.errors > 0 {
                format!("  ({} errors)", r.m.errors)
            } else {
                String::new()
            }
        );
    }
    println!();
    println!("N: uploads in flight (threads calling export concurrently on one exporter/client).");
    println!("spread: (max - min) / median of the rounds' CPU/export: how noisy the row was.");
    println!("p50, p99: latency of one export call, over all rounds.");
    println!("×ceil: ratio to the ceiling row of the same protocol with the same data and N.");
    println!(
        "rcv CPU/ex: the receiver process's CPU per export (/proc, 10 ms ticks), for information."
    );
    println!("ceiling: tonic::client::Grpc on a tonic Channel (HTTP/2, nodelay, adaptive window, 1-worker runtime),");
    println!(
        "  the pre-serialized ExportMetricsServiceRequest sent as it is, the response not decoded."
    );
    println!("ceiling-http: hyper_util's legacy Client (HTTP/1.1 pool, nodelay, 1-worker runtime), the same bytes");
    println!("  POSTed to /v1/metrics as they are, the response body read but not decoded.");
    println!("ceiling-http-direct: the same with hyper's HTTP/1.1 connection driven by the calling thread (otlpmetric's");
    println!("  model: no hand-off to the runtime's worker and back), idle connections pooled.");
    println!("otlpmetric upload: Exporter::upload(serialized ResourceMetrics): validated (wire-format walk), wrapped, sent.");
    println!("sockets: every client uses the system's sockets as they are (Nagle off), congestion control included.");
    println!("opentelemetry-otlp export: MetricExporter::export(&ResourceMetrics) (0.33) of SDK data collected once from");
    println!("  a MeterProvider (ManualReader) whose instruments recorded the same points: SDK data -> proto -> prost -> wire.");
    println!("* prost-encode+upload: encode the opentelemetry-proto ResourceMetrics struct, then upload (a Rust caller's cost);");
    println!("  collect+export: ManualReader::collect (cumulative) + export, each time (opentelemetry-rust's full cycle);");
    println!("  MeterProvider flush: otlpmetric's pipeline holding the same points, force_flush (collect, encode, export).");
    println!();
}

fn print_otel_ratio(rows: &[Row]) {
    println!("opentelemetry-rust CPU / otlpmetric CPU, per export (higher = otlpmetric cheaper):");
    for payload in ["small", "large"] {
        for n in [1, 4] {
            let (Some(otlp), Some(otel), Some(otlp_http), Some(otel_http)) = (
                find(rows, payload, Client::OtlpGrpc, n),
                find(rows, payload, Client::OtelGrpc, n),
                find(rows, payload, Client::OtlpHttp, n),
                find(rows, payload, Client::OtelHttp, n),
            ) else {
                continue;
            };
            println!(
                "  {payload:<5} N={n}: gRPC {:>5.1}×   HTTP/protobuf {:>5.1}×",
                otel.m.cpu_per_export() / otlp.m.cpu_per_export(),
                otel_http.m.cpu_per_export() / otlp_http.m.cpu_per_export()
            );
        }
    }
    println!();
}

fn print_targets(rows: &[Row], paired: &[Paired]) {
    println!("Targets (issue 6), large payload, otlpmetric gRPC validated upload — information only, never a failure:");
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(" from the table (each row's median over its rounds):");
    for n in [1, 4] {
        let (Some(otlp), Some(ceil)) = (
            find(rows, "large", Client::OtlpGrpc, n),
            find(rows, "large", Client::Ceiling, n),
        ) else {
            continue;
        };
        let r = otlp.m.cpu_per_export() / ceil.m.cpu_per_export();
        println!(
            "  client CPU <= 1.5x the ceiling's, N={n}:        {r:.2}x  {}",
            verdict(r <= 1.5)
        );
    }
    if let (Some(otlp), Some(ceil)) = (
        find(rows, "large", Client::OtlpGrpc, 4),
        find(rows, "large", Client::Ceiling, 4),
    ) {
        let r = otlp.m.rate() / ceil.m.rate();
        println!(
            "  throughput >= 90% of the ceiling's, N=4:      {:.0}%  {}",
            r * 100.0,
            verdict(r >= 0.9)
        );
    }
    for n in [1, 4] {
        let (Some(otlp), Some(otel)) = (
            find(rows, "large", Client::OtlpGrpc, n),
            find(rows, "large", Client::OtelGrpc, n),
        ) else {
            continue;
        };
        let r = otel.m.cpu_per_export() / otlp.m.cpu_per_export();
        println!(
            "  >= 5x less CPU than opentelemetry-rust, N={n}: {r:.1}x  {}",
            verdict(r >= 5.0)
        );
    }
    let Some(pairs) = paired.first().map(|p| p.rate.len()) else {
        return;
    };
    println!(
        " paired with the ceiling ({pairs} pairs of back-to-back rounds; median of the pairs' ratios, and their range):"
    );
    for p in paired {
        let (cpu, (low, high)) = (median(p.cpu.clone()), range(&p.cpu));
        println!(
            "  client CPU <= 1.5x the ceiling's, N={}:        {cpu:.2}x  ({low:.2}-{high:.2})  {}",
            p.inflight,
            verdict(cpu <= 1.5)
        );
    }
    if let Some(p) = paired.iter().find(|p| p.inflight == 4) {
        let (rate, (low, high)) = (median(p.rate.clone()), range(&p.rate));
        let at_least = p.rate.iter().filter(|r| **r >= 0.9).count();
        println!(
            "  throughput >= 90% of the ceiling's, N=4:      {:.0}%  ({:.0}-{:.0}%; >= 90% in {at_least} of {})  {}",
            rate * 100.0,
            low * 100.0,
            high * 100.0,
            p.rate.len(),
            verdict(rate >= 0.9)
        );
    }
}

/// The smallest and the largest value.
fn range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)))
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Thread CPU time of one call of `f`, averaged over calls for about `budget`.
fn cpu_per_call(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let start = thread_cpu();
    let mut calls = 0u64;
    while thread_cpu() - start < budget {
        for _ in 0..10 {
            f();
        }
        calls += 10;
    }
    (thread_cpu() - start).as_secs_f64() / calls as f64
}

/// As [`cpu_per_call`], with this core's caches filled with other data (`evictor`,
/// larger than the L2 cache) before each call; the eviction is not counted.
fn cpu_per_call_cold(budget: Duration, evictor: &mut [u8], mut f: impl FnMut()) -> f64 {
    let mut evict = |round: u8| {
        for line in evictor.chunks_mut(64) {
            line[0] = round;
        }
        std::hint::black_box(&evictor);
    };
    let (mut spent, mut calls, mut round) = (Duration::ZERO, 0u64, 0u8);
    while spent < budget {
        round = round.wrapping_add(1);
        evict(round);
        let start = thread_cpu();
        f();
        spent += thread_cpu() - start;
        calls += 1;
    }
    spent.as_secs_f64() / calls as f64
}

/// The pieces of an export's CPU, timed in this thread alone, for the large payload.
fn print_breakdown(p: &Payload, specs: &[payload::MetricSpec], timing: &Timing) {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
    let budget = if timing.rounds > 2 {
        Duration::from_millis(400)
    } else {
        Duration::from_millis(100)
    };
    let mb = p.resource_metrics.len() as f64 / 1e6;
    let line = |what: &str, secs: f64| {
        println!(
            "  {what:<70}{:>10}  ({:.0} MB/s)",
            fmt_time(secs),
            mb / secs
        )
    };
    println!(
        "Where an export's CPU goes, {} payload ({} bytes), one thread, CLOCK_THREAD_CPUTIME_ID:",
        p.name,
        p.resource_metrics.len()
    );
    line(
        "otlpmetric::internals::validate::resource_metrics (wire-format walk)",
        cpu_per_call(budget, || {
            otlpmetric::internals::validate::resource_metrics(std::hint::black_box(
                &p.resource_metrics,
            ))
            .unwrap()
        }),
    );
    line(
        "otlpmetric::internals::validate::wrap_resource_metrics (one copy)",
        cpu_per_call(budget, || {
            drop(std::hint::black_box(
                otlpmetric::internals::validate::wrap_resource_metrics(&p.resource_metrics),
            ))
        }),
    );
    // As an upload meets them: the caller's bytes out of this core's caches (a receiver
    // decoding on the same machine, or the caller's own work, has pushed them out).
    let mut evictor = vec![0u8; 8 << 20];
    line(
        "  ... both, upload's order (copy, walk the copy), caches evicted first",
        cpu_per_call_cold(budget, &mut evictor, || {
            drop(std::hint::black_box(
                otlpmetric::internals::validate::checked_resource_metrics_request(
                    &p.resource_metrics,
                )
                .unwrap(),
            ))
        }),
    );
    line(
        "  ... both, the other order (walk the caller's bytes, copy), caches evicted first",
        cpu_per_call_cold(budget, &mut evictor, || {
            otlpmetric::internals::validate::resource_metrics(&p.resource_metrics).unwrap();
            drop(std::hint::black_box(
                otlpmetric::internals::validate::wrap_resource_metrics(&p.resource_metrics),
            ))
        }),
    );
    line(
        "memcpy of the request into a fresh Vec (tonic's encode buffer)",
        cpu_per_call(budget, || drop(std::hint::black_box(p.request.to_vec()))),
    );
    line(
        "prost decode of ResourceMetrics (for comparison)",
        cpu_per_call(budget, || {
            drop(std::hint::black_box(
                ResourceMetrics::decode(&p.resource_metrics[..]).unwrap(),
            ))
        }),
    );
    line(
        "prost encode of the opentelemetry-proto ResourceMetrics",
        cpu_per_call(budget, || {
            drop(std::hint::black_box(p.proto.encode_to_vec()))
        }),
    );
    let (provider, reader) = payload::sdk_provider(specs);
    let mut rm = opentelemetry_sdk::metrics::data::ResourceMetrics::default();
    reader.collect(&mut rm).expect("collect");
    line(
        "opentelemetry-proto From<&SDK ResourceMetrics> (otel-otlp transform)",
        cpu_per_call(budget, || {
            drop(std::hint::black_box(ExportMetricsServiceRequest::from(&rm)))
        }),
    );
    line(
        "  ... + prost encode (otel-otlp's work before the wire)",
        cpu_per_call(budget, || {
            drop(std::hint::black_box(
                ExportMetricsServiceRequest::from(&rm).encode_to_vec(),
            ))
        }),
    );
    line(
        "SDK ManualReader::collect (2000 cumulative points)",
        cpu_per_call(budget, || {
            let mut rm = opentelemetry_sdk::metrics::data::ResourceMetrics::default();
            reader.collect(&mut rm).unwrap();
            drop(std::hint::black_box(rm))
        }),
    );
    drop(provider);
}

/// Sends the bytes as they are; does not decode the response (the ceiling).
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ();
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        let n = src.remaining();
        src.advance(n);
        Ok(Some(()))
    }
}
