//! `--pipeline`: the cost of recording into otlpmetric's metrics pipeline and of collecting
//! it, side by side with opentelemetry-rust's SDK on the same measurements, with the
//! targets of the issue beside the figures (information only: nothing here fails).
//!
//! - ns per call (wall clock, median of rounds) of counter add with 0, 3 and 16 string
//!   attributes, bound add, histogram record with 3 attributes; 1 and 2 threads; all
//!   threads on the same series, or each on its own; and the floor of a bound add (a bare
//!   atomic add);
//! - heap allocations per call on a seen attribute set (the counting allocator of main.rs);
//! - heap bytes kept per new sum series, less the attribute text;
//! - collect + encode of 200 metrics × 10 attribute sets (sums, gauges, histograms) vs the
//!   SDK's collect + transform to opentelemetry-proto + prost encode.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use otlpmetric::internals::metrics::{
    AttributeSet, HistogramPreference, Instrument, KeyValue, NumberType, Pipeline, Selections,
    TemporalityPreference,
};
use otlpmetric::{InstrumentKind, Logger};
use prost::Message;

use crate::alloc_count;
use crate::payload::SharedReader;

struct Timing {
    rounds: usize,
    round: Duration,
}

/// The attributes of one measurement, as both libraries take them.
struct Attrs {
    pairs: Vec<(String, String)>,
}

impl Attrs {
    /// `n` string attributes; `series` makes the values (so the set) differ.
    fn strings(n: usize, series: usize) -> Attrs {
        Attrs {
            pairs: (0..n)
                .map(|i| {
                    (
                        format!("attribute.key.{i:02}"),
                        format!("value-{series}-{i:02}"),
                    )
                })
                .collect(),
        }
    }
    fn ours(&self) -> Vec<KeyValue<'_>> {
        self.pairs
            .iter()
            .map(|(k, v)| KeyValue::str(k, v))
            .collect()
    }
    fn otel(&self) -> Vec<opentelemetry::KeyValue> {
        self.pairs
            .iter()
            .map(|(k, v)| opentelemetry::KeyValue::new(k.clone(), v.clone()))
            .collect()
    }
}

fn ours_kv(a: &[Attrs; 2]) -> [Vec<KeyValue<'_>>; 2] {
    [a[0].ours(), a[1].ours()]
}

fn otel_kv(a: &[Attrs; 2]) -> [Vec<opentelemetry::KeyValue>; 2] {
    [a[0].otel(), a[1].otel()]
}

fn pipeline(cardinality_limit: usize) -> Pipeline {
    let selections = Selections::resolve(
        TemporalityPreference::Cumulative,
        HistogramPreference::ExplicitBucket,
        None,
        None,
    )
    .expect("default selections");
    let resource =
        AttributeSet::new(&[KeyValue::str("service.name", "otlpmetric-bench")]).expect("resource");
    Pipeline::new(&resource, selections, cardinality_limit, Logger::new(None))
}

fn sdk(cardinality_limit: usize) -> (SdkMeterProvider, Arc<ManualReader>) {
    let reader = Arc::new(ManualReader::builder().build());
    let provider = SdkMeterProvider::builder()
        .with_resource(
            opentelemetry_sdk::Resource::builder_empty()
                .with_attributes([opentelemetry::KeyValue::new(
                    "service.name",
                    "otlpmetric-bench",
                )])
                .build(),
        )
        .with_reader(SharedReader(reader.clone()))
        .with_view(move |_: &opentelemetry_sdk::metrics::Instrument| {
            opentelemetry_sdk::metrics::Stream::builder()
                .with_cardinality_limit(cardinality_limit)
                .build()
                .ok()
        })
        .build();
    (provider, reader)
}

/// Nanoseconds per call of `f` on each of `threads` threads at once (`f` gets the thread's
/// index), the median of the rounds of the mean over the threads.
fn ns_per_call<F: Fn(usize) + Sync>(timing: &Timing, threads: usize, f: F) -> f64 {
    let mut rounds = Vec::with_capacity(timing.rounds);
    for _ in 0..timing.rounds {
        let barrier = Barrier::new(threads);
        let per_thread: Vec<f64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (f, barrier) = (&f, &barrier);
                    s.spawn(move || {
                        for _ in 0..1000 {
                            f(t);
                        }
                        barrier.wait();
                        let start = Instant::now();
                        let mut calls = 0u64;
                        while start.elapsed() < timing.round {
                            for _ in 0..1024 {
                                f(t);
                            }
                            calls += 1024;
                        }
                        start.elapsed().as_nanos() as f64 / calls as f64
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        rounds.push(per_thread.iter().sum::<f64>() / threads as f64);
    }
    crate::median(rounds)
}

/// Heap allocations per call of `f`, after a warm-up (so on a seen attribute set).
fn allocs_per_call(f: impl Fn()) -> f64 {
    for _ in 0..100 {
        f();
    }
    const CALLS: u64 = 10_000;
    let before = alloc_count::thread_allocations();
    for _ in 0..CALLS {
        f();
    }
    (alloc_count::thread_allocations() - before) as f64 / CALLS as f64
}

struct Row {
    what: &'static str,
    threads: usize,
    same_series: bool,
    ours: f64,
    otel: Option<f64>,
    target: Option<f64>,
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

pub fn run(quick: bool) {
    let timing = if quick {
        Timing {
            rounds: 3,
            round: Duration::from_millis(100),
        }
    } else {
        Timing {
            rounds: 9,
            round: Duration::from_millis(300),
        }
    };
    println!(
        "otlpmetric pipeline vs opentelemetry-rust SDK 0.33 (cumulative, ManualReader), {} CPUs{}",
        crate::nproc(),
        if quick { ", --quick" } else { "" }
    );
    println!(
        "ns per call: wall clock, median of {} rounds of {} ms, mean over the threads\n",
        timing.rounds,
        timing.round.as_millis()
    );

    let ours = pipeline(100_000);
    let meter = ours.meter("otlpmetric-bench", None).unwrap();
    let (provider, reader) = sdk(100_000);
    let otel_meter = provider.meter("otlpmetric-bench");

    let counter = |name: &str| -> Arc<Instrument> {
        meter
            .instrument(InstrumentKind::Counter, NumberType::I64, name, "", "")
            .unwrap()
    };
    let histogram = meter
        .instrument(InstrumentKind::Histogram, NumberType::F64, "h3", "s", "")
        .unwrap();
    let otel_histogram = otel_meter.f64_histogram("h3").with_unit("s").build();

    // Two attribute sets per size: thread t of a "different series" run uses set t.
    let sets = |n: usize| [Attrs::strings(n, 0), Attrs::strings(n, 1)];
    let (a0, a3, a16) = (sets(0), sets(3), sets(16));

    let mut rows = Vec::new();
    let mut allocs: Vec<(&str, f64, f64)> = Vec::new();
    for (what, name, attrs, target) in [
        ("counter add, 0 attributes", "counter.attrs0", &a0, 25.0),
        (
            "counter add, 3 string attributes",
            "counter.attrs3",
            &a3,
            80.0,
        ),
        (
            "counter add, 16 string attributes",
            "counter.attrs16",
            &a16,
            300.0,
        ),
    ] {
        let c = counter(name);
        let oc = otel_meter.u64_counter(name).build();
        // With no attributes, different series are different instruments.
        let c2 = counter(&format!("{name}.other"));
        let oc2 = otel_meter.u64_counter(format!("{name}.other")).build();
        let (kv, okv) = (ours_kv(attrs), otel_kv(attrs));
        for threads in [1, 2] {
            for same in [true, false] {
                if threads == 1 && !same {
                    continue;
                }
                let pick = |t: usize| if same { 0 } else { t };
                let zero = attrs[0].pairs.is_empty();
                let ours = ns_per_call(&timing, threads, |t| {
                    let c = if zero && pick(t) == 1 { &c2 } else { &c };
                    let _ = black_box(c.add_i64(1, black_box(&kv[pick(t)])));
                });
                let otel = ns_per_call(&timing, threads, |t| {
                    let oc = if zero && pick(t) == 1 { &oc2 } else { &oc };
                    oc.add(1, black_box(&okv[pick(t)]));
                });
                rows.push(Row {
                    what,
                    threads,
                    same_series: same,
                    ours,
                    otel: Some(otel),
                    target: (threads == 1).then_some(target),
                });
            }
        }
        allocs.push((
            what,
            allocs_per_call(|| {
                let _ = black_box(c.add_i64(1, &kv[0]));
            }),
            allocs_per_call(|| oc.add(1, &okv[0])),
        ));
    }

    let bound_counter = counter("bound");
    let bound = bound_counter.bind(&a3[0].ours()).unwrap();
    let bound2 = bound_counter.bind(&a3[1].ours()).unwrap();
    let otel_bound_counter = otel_meter.u64_counter("bound").build();
    let otel_bound = otel_bound_counter.bind(&a3[0].otel());
    let otel_bound2 = otel_bound_counter.bind(&a3[1].otel());
    for threads in [1, 2] {
        for same in [true, false] {
            if threads == 1 && !same {
                continue;
            }
            let ours = ns_per_call(&timing, threads, |t| {
                let b = if !same && t == 1 { &bound2 } else { &bound };
                let _ = black_box(b.add_i64(black_box(1)));
            });
            let otel = ns_per_call(&timing, threads, |t| {
                let b = if !same && t == 1 {
                    &otel_bound2
                } else {
                    &otel_bound
                };
                b.add(black_box(1));
            });
            rows.push(Row {
                what: "bound counter add (3 attributes)",
                threads,
                same_series: same,
                ours,
                otel: Some(otel),
                target: (threads == 1).then_some(5.0),
            });
        }
    }
    // The floor of a bound add: one uncontended atomic add, which both libraries' bound
    // counters make; no library code around it.
    let word = std::sync::atomic::AtomicU64::new(0);
    rows.push(Row {
        what: "floor: a bare AtomicU64::fetch_add",
        threads: 1,
        same_series: true,
        ours: ns_per_call(&timing, 1, |_| {
            black_box(&word).fetch_add(black_box(1), std::sync::atomic::Ordering::Relaxed);
        }),
        otel: None,
        target: None,
    });
    allocs.push((
        "bound counter add (3 attributes)",
        allocs_per_call(|| {
            let _ = black_box(bound.add_i64(1));
        }),
        allocs_per_call(|| otel_bound.add(1)),
    ));

    let (kv, okv) = (ours_kv(&a3), otel_kv(&a3));
    for threads in [1, 2] {
        for same in [true, false] {
            if threads == 1 && !same {
                continue;
            }
            let pick = |t: usize| if same { 0 } else { t };
            let ours = ns_per_call(&timing, threads, |t| {
                let _ = black_box(histogram.record_f64(black_box(0.3), &kv[pick(t)]));
            });
            let otel = ns_per_call(&timing, threads, |t| {
                otel_histogram.record(black_box(0.3), &okv[pick(t)]);
            });
            rows.push(Row {
                what: "histogram record, 3 string attributes",
                threads,
                same_series: same,
                ours,
                otel: Some(otel),
                target: (threads == 1).then_some(100.0),
            });
        }
    }
    allocs.push((
        "histogram record, 3 string attributes",
        allocs_per_call(|| {
            let _ = black_box(histogram.record_f64(0.3, &kv[0]));
        }),
        allocs_per_call(|| otel_histogram.record(0.3, &okv[0])),
    ));

    println!(
        "{:<40}{:>8}  {:<10}{:>12}{:>12}{:>10}  target (1 thread, seen set)",
        "ns per call", "threads", "series", "otlpmetric", "otel-rust", "otel/ours"
    );
    for r in &rows {
        let target = match r.target {
            Some(t) => format!("<= {t:.0} ns: {}", met(r.ours <= t)),
            None => "-".into(),
        };
        let otel = r.otel.map_or("n/a".into(), |o| format!("{o:.1}"));
        let ratio = r.otel.map_or("".into(), |o| format!("{:.2}x", o / r.ours));
        println!(
            "{:<40}{:>8}  {:<10}{:>12.1}{:>12}{:>10}  {target}",
            r.what,
            r.threads,
            if r.same_series { "same" } else { "different" },
            r.ours,
            otel,
            ratio
        );
    }

    println!(
        "\n{:<40}{:>22}{:>12}  target",
        "heap allocations per call (seen set)", "otlpmetric", "otel-rust"
    );
    for (what, ours, otel) in &allocs {
        println!(
            "{what:<40}{ours:>22.2}{otel:>12.2}  0: {}",
            met(*ours == 0.0)
        );
    }

    let (ours_bytes, otel_bytes) = bytes_per_series();
    println!(
        "\n{:<40}{:>22}{:>12}  target",
        "heap bytes per new sum series", "otlpmetric", "otel-rust"
    );
    println!(
        "{:<40}{ours_bytes:>22.0}{otel_bytes:>12.0}  <= 256: {}",
        "  (less the attribute text)",
        met(ours_bytes <= 256.0)
    );

    drop(provider);
    drop(reader);
    collect_encode(quick);
}

/// Heap bytes kept per new series of a counter with one string attribute, less the
/// attribute's key and value bytes: the growth over `N` new series, divided by `N`.
fn bytes_per_series() -> (f64, f64) {
    const N: usize = 20_000;
    let values: Vec<String> = (0..N).map(|i| format!("series-{i:08}")).collect();
    let text = ("series.id".len() + values[0].len()) as f64;

    let ours = pipeline(N + 10);
    let c = ours
        .meter("otlpmetric-bench", None)
        .unwrap()
        .instrument(InstrumentKind::Counter, NumberType::I64, "series", "", "")
        .unwrap();
    c.add_i64(1, &[KeyValue::str("series.id", "warm-up")])
        .unwrap();
    let before = alloc_count::thread_live_bytes();
    for v in &values {
        c.add_i64(1, &[KeyValue::str("series.id", v)]).unwrap();
    }
    let ours_bytes = (alloc_count::thread_live_bytes() - before) as f64 / N as f64 - text;

    let (provider, _reader) = sdk(N + 10);
    let oc = provider
        .meter("otlpmetric-bench")
        .u64_counter("series")
        .build();
    oc.add(1, &[opentelemetry::KeyValue::new("series.id", "warm-up")]);
    let before = alloc_count::thread_live_bytes();
    for v in &values {
        oc.add(1, &[opentelemetry::KeyValue::new("series.id", v.clone())]);
    }
    // The SDK keeps the String it is given (the attribute text) and the key, a &'static
    // str, costs it no heap.
    let otel_bytes =
        (alloc_count::thread_live_bytes() - before) as f64 / N as f64 - values[0].len() as f64;
    (ours_bytes, otel_bytes)
}

const METRICS: usize = 200;
const SETS: usize = 10;

/// The 3 attributes of attribute set `s`.
fn workload_attrs(s: usize) -> [(&'static str, String); 3] {
    [
        ("http.request.method", ["GET", "POST"][s % 2].to_string()),
        ("http.route", format!("/api/v1/items/{s}")),
        ("server.address", "api.example.com".to_string()),
    ]
}

/// 200 metrics × 10 attribute sets: a quarter each counters, up-down counters, gauges and
/// histograms, recorded the same way into both libraries.
fn collect_encode(quick: bool) {
    let ours = pipeline(2000);
    let meter = ours.meter("otlpmetric-bench", None).unwrap();
    let (provider, reader) = sdk(2000);
    let om = provider.meter("otlpmetric-bench");
    let attrs: Vec<_> = (0..SETS).map(workload_attrs).collect();
    for m in 0..METRICS {
        let name = format!("workload.metric.{m:03}");
        for (s, a) in attrs.iter().enumerate() {
            let kv: Vec<KeyValue<'_>> = a.iter().map(|(k, v)| KeyValue::str(k, v)).collect();
            let okv: Vec<opentelemetry::KeyValue> = a
                .iter()
                .map(|(k, v)| opentelemetry::KeyValue::new(*k, v.clone()))
                .collect();
            let x = (m * SETS + s) as f64;
            match m % 4 {
                0 => {
                    let c = meter
                        .instrument(InstrumentKind::Counter, NumberType::I64, &name, "1", "")
                        .unwrap();
                    c.add_i64(m as i64 + 1, &kv).unwrap();
                    om.u64_counter(name.clone())
                        .with_unit("1")
                        .build()
                        .add(m as u64 + 1, &okv);
                }
                1 => {
                    let c = meter
                        .instrument(
                            InstrumentKind::UpDownCounter,
                            NumberType::I64,
                            &name,
                            "1",
                            "",
                        )
                        .unwrap();
                    c.add_i64(s as i64 - 5, &kv).unwrap();
                    om.i64_up_down_counter(name.clone())
                        .with_unit("1")
                        .build()
                        .add(s as i64 - 5, &okv);
                }
                2 => {
                    let g = meter
                        .instrument(InstrumentKind::Gauge, NumberType::F64, &name, "1", "")
                        .unwrap();
                    g.record_f64(x / 7.0, &kv).unwrap();
                    om.f64_gauge(name.clone())
                        .with_unit("1")
                        .build()
                        .record(x / 7.0, &okv);
                }
                _ => {
                    let h = meter
                        .instrument(InstrumentKind::Histogram, NumberType::F64, &name, "s", "")
                        .unwrap();
                    let oh = om.f64_histogram(name.clone()).with_unit("s").build();
                    for i in 0..5 {
                        let v = (x + i as f64) / 100.0;
                        h.record_f64(v, &kv).unwrap();
                        oh.record(v, &okv);
                    }
                }
            }
        }
    }
    let budget = if quick {
        Duration::from_millis(300)
    } else {
        Duration::from_millis(1500)
    };
    let ours_bytes = ours.collect().len();
    let ours_secs = crate::cpu_per_call(budget, || drop(black_box(ours.collect())));
    let mut rm = opentelemetry_sdk::metrics::data::ResourceMetrics::default();
    reader.collect(&mut rm).expect("collect");
    let otel_bytes = ExportMetricsServiceRequest::from(&rm).encode_to_vec().len();
    let otel_secs = crate::cpu_per_call(budget, || {
        let mut rm = opentelemetry_sdk::metrics::data::ResourceMetrics::default();
        reader.collect(&mut rm).unwrap();
        drop(black_box(
            ExportMetricsServiceRequest::from(&rm).encode_to_vec(),
        ));
    });
    println!(
        "\ncollect + encode, {METRICS} metrics x {SETS} attribute sets = {} series (thread CPU per collection)",
        METRICS * SETS
    );
    println!(
        "  otlpmetric Pipeline::collect                                 {:>10}  ({ours_bytes} bytes)",
        crate::fmt_time(ours_secs)
    );
    println!(
        "  otel-rust ManualReader::collect + From<&ResourceMetrics> + prost encode {:>10}  ({otel_bytes} bytes)",
        crate::fmt_time(otel_secs)
    );
    println!(
        "  ratio otlpmetric / otel-rust {:.2}  target <= 0.33: {}",
        ours_secs / otel_secs,
        met(ours_secs / otel_secs <= 1.0 / 3.0)
    );
    drop(provider);
}
