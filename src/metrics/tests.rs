//! The pipeline end to end: recording, collection, and the bytes decoded by prost (and
//! accepted by the crate's validator).

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics,
};
use prost::Message;

use crate::error::ErrorKind;
use crate::log::{LogLevel, Logger};
use crate::metrics::attributes::{AttributeSet, KeyValue};
use crate::metrics::instrument::{Instrument, NumberType};
use crate::metrics::pipeline::{Meter, Pipeline};
use crate::selectors::{
    Aggregation, AggregationSelector, HistogramPreference, InstrumentKind, Selections, Temporality,
    TemporalityPreference, TemporalitySelector,
};

use InstrumentKind::*;

type Logs = Arc<Mutex<Vec<String>>>;

struct Fixture {
    pipeline: Pipeline,
    meter: Arc<Meter>,
    logs: Logs,
}

fn selections(
    temporality: Temporality,
    aggregation: Option<(InstrumentKind, Aggregation)>,
) -> Selections {
    let t: TemporalitySelector = Arc::new(move |_| Ok(temporality));
    let a: AggregationSelector = Arc::new(move |kind, default| {
        Ok(match &aggregation {
            Some((k, chosen)) if *k == kind => chosen.clone(),
            _ => default.clone(),
        })
    });
    Selections::resolve(
        TemporalityPreference::Cumulative,
        HistogramPreference::ExplicitBucket,
        Some(&t),
        Some(&a),
    )
    .unwrap()
}

fn fixture_with(selections: Selections, limit: usize) -> Fixture {
    let logs: Logs = Arc::default();
    let sink = logs.clone();
    let logger = Logger::new(Some(Arc::new(move |level, message: &str| {
        assert_eq!(level, LogLevel::Warn);
        sink.lock().unwrap().push(message.to_string())
    })));
    let resource = AttributeSet::new(&[KeyValue::str("service.name", "test")]).unwrap();
    let pipeline = Pipeline::new(&resource, selections, limit, logger);
    let meter = pipeline.meter("scope", Some("1.2.3")).unwrap();
    Fixture {
        pipeline,
        meter,
        logs,
    }
}

fn fixture(temporality: Temporality) -> Fixture {
    fixture_with(selections(temporality, None), 2000)
}

impl Fixture {
    fn sync(&self, kind: InstrumentKind, number: NumberType, name: &str) -> Arc<Instrument> {
        self.meter
            .instrument(kind, number, name, "ms", "about it")
            .unwrap()
    }

    fn collect(&self) -> ResourceMetrics {
        let bytes = self.pipeline.collect();
        crate::proto::validate::resource_metrics(&bytes).unwrap();
        let decoded = ResourceMetrics::decode(bytes.as_slice()).unwrap();
        // Canonical: prost writes the same message to the same bytes.
        assert_eq!(decoded.encode_to_vec(), bytes, "{decoded:?}");
        decoded
    }

    fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

fn metrics(rm: &ResourceMetrics) -> Vec<&Metric> {
    rm.scope_metrics.iter().flat_map(|s| &s.metrics).collect()
}

fn metric<'a>(rm: &'a ResourceMetrics, name: &str) -> Option<&'a Metric> {
    metrics(rm).into_iter().find(|m| m.name == name)
}

fn attrs(kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = kvs
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Any::StringValue(s)) => s.clone(),
                Some(Any::BoolValue(b)) => b.to_string(),
                Some(Any::IntValue(i)) => i.to_string(),
                Some(Any::DoubleValue(d)) => format!("{d:?}"),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect();
    out.sort();
    out
}

fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        Some(number_data_point::Value::AsDouble(d)) => d,
        None => panic!("no value"),
    }
}

/// (attributes, value) of a sum or gauge, sorted.
fn values(m: &Metric) -> Vec<(Vec<(String, String)>, f64)> {
    let points = match m.data.as_ref().unwrap() {
        Data::Sum(s) => &s.data_points,
        Data::Gauge(g) => &g.data_points,
        other => panic!("not a number metric: {other:?}"),
    };
    let mut out: Vec<_> = points
        .iter()
        .map(|p| (attrs(&p.attributes), number(p)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn number_points(m: &Metric) -> &[NumberDataPoint] {
    match m.data.as_ref().unwrap() {
        Data::Sum(s) => &s.data_points,
        Data::Gauge(g) => &g.data_points,
        other => panic!("not a number metric: {other:?}"),
    }
}

fn histogram_point(m: &Metric) -> &HistogramDataPoint {
    match m.data.as_ref().unwrap() {
        Data::Histogram(h) => {
            assert_eq!(h.data_points.len(), 1);
            &h.data_points[0]
        }
        other => panic!("not a histogram: {other:?}"),
    }
}

fn exponential_point(m: &Metric) -> &ExponentialHistogramDataPoint {
    match m.data.as_ref().unwrap() {
        Data::ExponentialHistogram(h) => {
            assert_eq!(h.data_points.len(), 1);
            &h.data_points[0]
        }
        other => panic!("not an exponential histogram: {other:?}"),
    }
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn cumulative_counter_with_resource_scope_and_descriptor() {
    let f = fixture(Temporality::Cumulative);
    let c = f.sync(Counter, NumberType::I64, "requests");
    c.add_i64(
        5,
        &[KeyValue::str("route", "/a"), KeyValue::i64("code", 200)],
    )
    .unwrap();
    c.add_i64(
        7,
        &[KeyValue::i64("code", 200), KeyValue::str("route", "/a")],
    )
    .unwrap();
    c.add_i64(1, &[]).unwrap();
    let rm = f.collect();
    assert_eq!(
        attrs(&rm.resource.as_ref().unwrap().attributes),
        kv(&[("service.name", "test")])
    );
    assert_eq!(rm.scope_metrics.len(), 1);
    let scope = rm.scope_metrics[0].scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("scope", "1.2.3")
    );
    let m = metric(&rm, "requests").unwrap();
    assert_eq!(
        (m.unit.as_str(), m.description.as_str()),
        ("ms", "about it")
    );
    let Some(Data::Sum(sum)) = &m.data else {
        panic!()
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, 2);
    assert_eq!(
        values(m),
        vec![
            (vec![], 1.0),
            (kv(&[("code", "200"), ("route", "/a")]), 12.0)
        ]
    );
    for p in &sum.data_points {
        assert_eq!(p.start_time_unix_nano, f.pipeline.start_time());
        assert!(p.time_unix_nano >= p.start_time_unix_nano);
        assert!(matches!(p.value, Some(number_data_point::Value::AsInt(_))));
    }
    let first_time = sum.data_points[0].time_unix_nano;
    // Cumulative: the next collection reports the same totals, from the same start.
    c.add_i64(1, &[]).unwrap();
    let rm = f.collect();
    let m = metric(&rm, "requests").unwrap();
    assert_eq!(values(m)[0], (vec![], 2.0));
    assert_eq!(values(m)[1].1, 12.0);
    for p in number_points(m) {
        assert_eq!(p.start_time_unix_nano, f.pipeline.start_time());
        assert!(p.time_unix_nano >= first_time);
    }
}

#[test]
fn delta_counter_reports_increments_and_forgets_idle_series() {
    let f = fixture(Temporality::Delta);
    let c = f.sync(Counter, NumberType::F64, "bytes");
    c.add_f64(1.5, &[KeyValue::str("k", "a")]).unwrap();
    c.add_f64(2.0, &[KeyValue::str("k", "b")]).unwrap();
    let rm = f.collect();
    let m = metric(&rm, "bytes").unwrap();
    let Some(Data::Sum(sum)) = &m.data else {
        panic!()
    };
    assert_eq!(sum.aggregation_temporality, 1);
    assert_eq!(
        values(m),
        vec![(kv(&[("k", "a")]), 1.5), (kv(&[("k", "b")]), 2.0)]
    );
    let first_end = sum.data_points[0].time_unix_nano;
    assert_eq!(
        sum.data_points[0].start_time_unix_nano,
        f.pipeline.start_time()
    );
    // Nothing recorded: nothing exported, and both series are forgotten.
    let rm = f.collect();
    assert!(metric(&rm, "bytes").is_none(), "{rm:?}");
    let second_end = {
        // The empty collection still moved the start of the next delta points.
        c.add_f64(4.0, &[KeyValue::str("k", "a")]).unwrap();
        let rm = f.collect();
        let m = metric(&rm, "bytes").unwrap();
        assert_eq!(values(m), vec![(kv(&[("k", "a")]), 4.0)]);
        let p = &number_points(m)[0];
        assert!(p.start_time_unix_nano > first_end);
        p.time_unix_nano
    };
    c.add_f64(1.0, &[KeyValue::str("k", "a")]).unwrap();
    let rm = f.collect();
    let p = &number_points(metric(&rm, "bytes").unwrap())[0];
    assert_eq!(p.start_time_unix_nano, second_end);
    assert_eq!(number(p), 1.0);
}

#[test]
fn the_empty_set_series_takes_no_lock_and_counts_like_any_other() {
    for temporality in [Temporality::Delta, Temporality::Cumulative] {
        let f = fixture(temporality);
        let c = f.sync(Counter, NumberType::I64, "plain");
        c.add_i64(1, &[]).unwrap();
        c.add_i64(2, &[]).unwrap();
        // A negative add on a counter is not recorded, on this path either.
        c.add_i64(-5, &[]).unwrap();
        c.add_i64(4, &[KeyValue::str("k", "a")]).unwrap();
        let rm = f.collect();
        assert_eq!(
            values(metric(&rm, "plain").unwrap()),
            vec![(vec![], 3.0), (kv(&[("k", "a")]), 4.0)]
        );
        // Idle: delta exports nothing (and the held empty-set series is not forgotten).
        let rm = f.collect();
        match temporality {
            Temporality::Delta => assert!(metric(&rm, "plain").is_none(), "{rm:?}"),
            Temporality::Cumulative => assert_eq!(
                values(metric(&rm, "plain").unwrap()),
                vec![(vec![], 3.0), (kv(&[("k", "a")]), 4.0)]
            ),
        }
        c.add_i64(10, &[]).unwrap();
        let rm = f.collect();
        let expected = match temporality {
            Temporality::Delta => vec![(vec![], 10.0)],
            Temporality::Cumulative => vec![(vec![], 13.0), (kv(&[("k", "a")]), 4.0)],
        };
        assert_eq!(values(metric(&rm, "plain").unwrap()), expected);
    }
}

#[test]
fn delta_up_down_counter_and_cumulative_one() {
    for (temporality, expected) in [
        (Temporality::Delta, [3.0, -5.0]),
        (Temporality::Cumulative, [3.0, -2.0]),
    ] {
        let f = fixture(temporality);
        let u = f.sync(UpDownCounter, NumberType::I64, "queue");
        u.add_i64(5, &[]).unwrap();
        u.add_i64(-2, &[]).unwrap();
        let rm = f.collect();
        let m = metric(&rm, "queue").unwrap();
        let Some(Data::Sum(sum)) = &m.data else {
            panic!()
        };
        assert!(!sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, temporality as i32);
        assert_eq!(values(m), vec![(vec![], expected[0])]);
        u.add_i64(-5, &[]).unwrap();
        let rm = f.collect();
        assert_eq!(
            values(metric(&rm, "queue").unwrap()),
            vec![(vec![], expected[1])]
        );
    }
}

#[test]
fn gauge_keeps_the_last_value_and_has_no_temporality() {
    let f = fixture(Temporality::Cumulative);
    let g = f.sync(Gauge, NumberType::F64, "temperature");
    g.record_f64(20.5, &[]).unwrap();
    g.record_f64(-3.25, &[]).unwrap();
    let rm = f.collect();
    let m = metric(&rm, "temperature").unwrap();
    assert!(matches!(m.data, Some(Data::Gauge(_))));
    assert_eq!(values(m), vec![(vec![], -3.25)]);
    let rm = f.collect();
    assert_eq!(
        values(metric(&rm, "temperature").unwrap()),
        vec![(vec![], -3.25)]
    );
}

#[test]
fn explicit_histogram_counts_sum_min_max() {
    let f = fixture_with(
        selections(
            Temporality::Cumulative,
            Some((
                Histogram,
                Aggregation::ExplicitBucketHistogram {
                    boundaries: vec![0.0, 10.0, 100.0],
                    record_min_max: true,
                },
            )),
        ),
        2000,
    );
    let h = f.sync(Histogram, NumberType::I64, "latency");
    // The OpenTelemetry Python SDK 1.45 reports the same point for these records.
    for v in [0, 5, 10, 11, 150, 1000] {
        h.record_i64(v, &[]).unwrap();
    }
    let rm = f.collect();
    let m = metric(&rm, "latency").unwrap();
    let Some(Data::Histogram(hist)) = &m.data else {
        panic!()
    };
    assert_eq!(hist.aggregation_temporality, 2);
    let p = histogram_point(m);
    assert_eq!(p.count, 6);
    assert_eq!(p.sum, Some(1176.0));
    assert_eq!(p.explicit_bounds, vec![0.0, 10.0, 100.0]);
    assert_eq!(p.bucket_counts, vec![1, 2, 1, 2]);
    assert_eq!((p.min, p.max), (Some(0.0), Some(1000.0)));
    assert_eq!(p.start_time_unix_nano, f.pipeline.start_time());
}

#[test]
fn histogram_without_min_max_and_without_sum_where_values_can_be_negative() {
    let aggregation = Aggregation::ExplicitBucketHistogram {
        boundaries: vec![1.0],
        record_min_max: false,
    };
    let f = fixture_with(
        selections(Temporality::Delta, Some((UpDownCounter, aggregation))),
        2000,
    );
    let u = f.sync(UpDownCounter, NumberType::F64, "level");
    u.add_f64(0.5, &[]).unwrap();
    u.add_f64(-4.0, &[]).unwrap();
    u.add_f64(3.0, &[]).unwrap();
    let rm = f.collect();
    let p = histogram_point(metric(&rm, "level").unwrap());
    assert_eq!(p.count, 3);
    assert_eq!(p.sum, None);
    assert_eq!((p.min, p.max), (None, None));
    assert_eq!(p.bucket_counts, vec![2, 1]);
    // Delta: the next collection has nothing for it.
    assert!(metric(&f.collect(), "level").is_none());
}

#[test]
fn exponential_histogram_scale_offsets_and_zero_count() {
    let f = fixture_with(
        selections(
            Temporality::Delta,
            Some((
                Histogram,
                Aggregation::Base2ExponentialHistogram {
                    max_size: 4,
                    max_scale: 20,
                    record_min_max: true,
                },
            )),
        ),
        2000,
    );
    let h = f.sync(Histogram, NumberType::F64, "sizes");
    for v in [1.0, 2.0, 4.0, 0.0, -8.0, 0.0] {
        h.record_f64(v, &[]).unwrap();
    }
    let rm = f.collect();
    let p = exponential_point(metric(&rm, "sizes").unwrap());
    assert_eq!(p.count, 6);
    assert_eq!(p.zero_count, 2);
    assert_eq!(p.sum, Some(-1.0));
    assert_eq!((p.min, p.max), (Some(-8.0), Some(4.0)));
    // 1, 2, 4 and 8 are buckets -1, 0, 1, 2 at scale 0: four fit in four.
    assert_eq!(p.scale, 0);
    let positive = p.positive.as_ref().unwrap();
    assert_eq!(
        (positive.offset, positive.bucket_counts.clone()),
        (-1, vec![1, 1, 1])
    );
    let negative = p.negative.as_ref().unwrap();
    assert_eq!(
        (negative.offset, negative.bucket_counts.clone()),
        (2, vec![1])
    );
    // Delta: the next interval starts at max_scale again.
    h.record_f64(1.5, &[]).unwrap();
    let rm = f.collect();
    let p = exponential_point(metric(&rm, "sizes").unwrap());
    assert_eq!(p.scale, 20);
    assert_eq!(p.count, 1);
    assert_eq!(p.zero_count, 0);
    assert_eq!(p.positive.as_ref().unwrap().bucket_counts, vec![1]);
    assert!(p.negative.as_ref().unwrap().bucket_counts.is_empty());
}

#[test]
fn drop_exports_nothing() {
    let f = fixture_with(
        selections(Temporality::Cumulative, Some((Counter, Aggregation::Drop))),
        2000,
    );
    let c = f.sync(Counter, NumberType::I64, "dropped");
    c.add_i64(1, &[KeyValue::str("a", "b")]).unwrap();
    let bound = c.bind(&[]).unwrap();
    bound.add_i64(1).unwrap();
    // Bad attributes are still refused.
    assert!(c.add_i64(1, &[KeyValue::str("", "b")]).is_err());
    let rm = f.collect();
    assert!(metrics(&rm).is_empty(), "{rm:?}");
}

#[test]
fn observable_counter_cumulative_and_delta() {
    for temporality in [Temporality::Cumulative, Temporality::Delta] {
        let f = fixture(temporality);
        let total = Arc::new(Mutex::new(10i64));
        let source = total.clone();
        f.meter
            .observable(
                ObservableCounter,
                NumberType::I64,
                "cpu.time",
                "s",
                "",
                Box::new(move |observer| {
                    let value = *source.lock().unwrap();
                    observer
                        .observe_i64(value, &[KeyValue::str("cpu", "0")])
                        .unwrap();
                    observer
                        .observe_i64(1, &[KeyValue::str("cpu", "1")])
                        .unwrap();
                    // Observations of one set in one collection add up (as the Python
                    // SDK does).
                    observer
                        .observe_i64(value * 2, &[KeyValue::str("cpu", "1")])
                        .unwrap();
                }),
            )
            .unwrap();
        let rm = f.collect();
        let m = metric(&rm, "cpu.time").unwrap();
        let Some(Data::Sum(sum)) = &m.data else {
            panic!()
        };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, temporality as i32);
        assert_eq!(
            values(m),
            vec![(kv(&[("cpu", "0")]), 10.0), (kv(&[("cpu", "1")]), 21.0)]
        );
        *total.lock().unwrap() = 25;
        let rm = f.collect();
        let expected = match temporality {
            Temporality::Cumulative => [25.0, 51.0],
            Temporality::Delta => [15.0, 30.0],
        };
        assert_eq!(
            values(metric(&rm, "cpu.time").unwrap()),
            vec![
                (kv(&[("cpu", "0")]), expected[0]),
                (kv(&[("cpu", "1")]), expected[1])
            ]
        );
    }
}

#[test]
fn a_delta_observed_series_that_skips_a_collection_reports_the_change_since_its_last_observation() {
    let f = fixture(Temporality::Delta);
    let total = Arc::new(Mutex::new(Some(3i64)));
    let source = total.clone();
    f.meter
        .observable(
            ObservableCounter,
            NumberType::I64,
            "bytes.read",
            "By",
            "",
            Box::new(move |observer| {
                if let Some(value) = *source.lock().unwrap() {
                    observer.observe_i64(value, &[]).unwrap();
                }
            }),
        )
        .unwrap();
    assert_eq!(
        values(metric(&f.collect(), "bytes.read").unwrap()),
        vec![(kv(&[]), 3.0)]
    );
    *total.lock().unwrap() = None;
    assert!(metric(&f.collect(), "bytes.read").is_none());
    *total.lock().unwrap() = Some(10);
    assert_eq!(
        values(metric(&f.collect(), "bytes.read").unwrap()),
        vec![(kv(&[]), 7.0)]
    );
}

#[test]
fn observable_gauge_reports_only_what_was_observed_this_time() {
    let f = fixture(Temporality::Cumulative);
    let round = Arc::new(Mutex::new(0));
    let r = round.clone();
    f.meter
        .observable(
            ObservableGauge,
            NumberType::F64,
            "memory",
            "By",
            "",
            Box::new(move |observer| {
                let mut round = r.lock().unwrap();
                *round += 1;
                let attrs = [KeyValue::i64("round", *round)];
                observer.observe_f64(1.5 * *round as f64, &attrs).unwrap();
                // Wrong number type, bad attributes: refused, the rest goes on.
                assert_eq!(
                    observer.observe_i64(1, &attrs).unwrap_err().kind(),
                    ErrorKind::InvalidArgument
                );
                assert!(observer.observe_f64(1.0, &[KeyValue::i64("", 1)]).is_err());
            }),
        )
        .unwrap();
    let m1 = f.collect();
    assert_eq!(
        values(metric(&m1, "memory").unwrap()),
        vec![(kv(&[("round", "1")]), 1.5)]
    );
    let m2 = f.collect();
    assert_eq!(
        values(metric(&m2, "memory").unwrap()),
        vec![(kv(&[("round", "2")]), 3.0)]
    );
}

#[test]
fn callbacks_run_with_no_recording_lock_held() {
    let f = fixture(Temporality::Cumulative);
    let counter = f.sync(Counter, NumberType::I64, "inside");
    let c = counter.clone();
    f.meter
        .observable(
            ObservableUpDownCounter,
            NumberType::I64,
            "outside",
            "",
            "",
            Box::new(move |observer| {
                // Another thread records (a new set, and a known one) while the callback
                // runs; it would wait forever if collection held a lock recording takes.
                let c = c.clone();
                let (done, finished) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    c.add_i64(1, &[KeyValue::str("new", "set")]).unwrap();
                    c.add_i64(0, &[]).unwrap();
                    let _ = done.send(());
                });
                finished
                    .recv_timeout(std::time::Duration::from_secs(10))
                    .expect("recording waited for the collection");
                observer.observe_i64(-4, &[]).unwrap();
            }),
        )
        .unwrap();
    counter.add_i64(1, &[]).unwrap();
    let rm = f.collect();
    assert_eq!(
        values(metric(&rm, "outside").unwrap()),
        vec![(vec![], -4.0)]
    );
    // "inside" is collected before the callback of the later "outside" runs, so each
    // collection sees the adds of the callbacks before it.
    let rm = f.collect();
    assert_eq!(
        values(metric(&rm, "inside").unwrap()),
        vec![(vec![], 1.0), (kv(&[("new", "set")]), 1.0)]
    );
    let rm = f.collect();
    assert_eq!(
        values(metric(&rm, "inside").unwrap()),
        vec![(vec![], 1.0), (kv(&[("new", "set")]), 2.0)]
    );
}

#[test]
fn a_panicking_callback_is_contained() {
    let f = fixture(Temporality::Cumulative);
    f.meter
        .observable(
            ObservableGauge,
            NumberType::I64,
            "flaky",
            "",
            "",
            Box::new(|observer| {
                observer.observe_i64(3, &[]).unwrap();
                panic!("callback failure");
            }),
        )
        .unwrap();
    let rm = f.collect();
    assert_eq!(values(metric(&rm, "flaky").unwrap()), vec![(vec![], 3.0)]);
    assert!(
        f.logs().iter().any(|l| l.contains("panicked")),
        "{:?}",
        f.logs()
    );
}

#[test]
fn cardinality_limit_sends_further_sets_to_the_overflow_series() {
    for temporality in [Temporality::Cumulative, Temporality::Delta] {
        let f = fixture_with(selections(temporality, None), 3);
        let c = f.sync(Counter, NumberType::I64, "limited");
        for (i, v) in ["a", "b", "c", "d", "a"].iter().enumerate() {
            c.add_i64(i as i64 + 1, &[KeyValue::str("k", v)]).unwrap();
        }
        // As the specification guarantees: no overflow while there are at most `limit`
        // distinct sets; the overflow series comes on top of them.
        let rm = f.collect();
        assert_eq!(
            values(metric(&rm, "limited").unwrap()),
            vec![
                (kv(&[("k", "a")]), 6.0),
                (kv(&[("k", "b")]), 2.0),
                (kv(&[("k", "c")]), 3.0),
                (kv(&[("otel.metric.overflow", "true")]), 4.0),
            ],
            "{temporality:?}"
        );
    }
    // Delta: once idle series are forgotten, new sets get their own series again.
    let f = fixture_with(selections(Temporality::Delta, None), 2);
    let c = f.sync(Counter, NumberType::I64, "limited");
    for v in ["a", "b", "c"] {
        c.add_i64(1, &[KeyValue::str("k", v)]).unwrap();
    }
    f.collect();
    f.collect();
    c.add_i64(1, &[KeyValue::str("k", "c")]).unwrap();
    let rm = f.collect();
    assert_eq!(
        values(metric(&rm, "limited").unwrap()),
        vec![(kv(&[("k", "c")]), 1.0)]
    );
    // Observations obey the same limit.
    let f = fixture_with(selections(Temporality::Cumulative, None), 1);
    f.meter
        .observable(
            ObservableCounter,
            NumberType::I64,
            "observed",
            "",
            "",
            Box::new(|observer| {
                for i in 0..4 {
                    observer.observe_i64(10, &[KeyValue::i64("i", i)]).unwrap();
                }
            }),
        )
        .unwrap();
    let rm = f.collect();
    assert_eq!(
        values(metric(&rm, "observed").unwrap()),
        vec![
            (kv(&[("i", "0")]), 10.0),
            (kv(&[("otel.metric.overflow", "true")]), 30.0)
        ]
    );
}

#[test]
fn same_identity_is_the_same_instrument_and_a_conflict_warns_once() {
    let f = fixture(Temporality::Cumulative);
    let a = f
        .meter
        .instrument(Counter, NumberType::I64, "Requests", "1", "d")
        .unwrap();
    let b = f
        .meter
        .instrument(Counter, NumberType::I64, "requests", "1", "d")
        .unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert!(f.logs().is_empty());
    let c = f
        .meter
        .instrument(Counter, NumberType::I64, "REQUESTS", "ms", "d")
        .unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
    let logs = f.logs();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].contains("\"Requests\"") && logs[0].contains("\"REQUESTS\""),
        "{}",
        logs[0]
    );
    assert!(
        logs[0].contains("\"ms\"") && logs[0].contains("\"1\""),
        "{}",
        logs[0]
    );
    // Asking again for the second one finds it, with no new warning.
    let d = f
        .meter
        .instrument(Counter, NumberType::I64, "REQUESTS", "ms", "d")
        .unwrap();
    assert!(Arc::ptr_eq(&c, &d));
    assert_eq!(f.logs().len(), 1);
    // Other number type, kind or description: other instruments.
    for (kind, number, desc) in [
        (Counter, NumberType::F64, "d"),
        (UpDownCounter, NumberType::I64, "d"),
        (Counter, NumberType::I64, "other"),
    ] {
        let e = f
            .meter
            .instrument(kind, number, "requests", "1", desc)
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &e));
    }
    assert_eq!(f.logs().len(), 4);
    // Another meter is another scope: no conflict.
    let other = f.pipeline.meter("scope", None).unwrap();
    assert!(!Arc::ptr_eq(&other, &f.meter));
    assert!(Arc::ptr_eq(
        &f.pipeline.meter("scope", Some("1.2.3")).unwrap(),
        &f.meter
    ));
    other
        .instrument(Histogram, NumberType::F64, "requests", "", "")
        .unwrap();
    assert_eq!(f.logs().len(), 4);
    // Both of a conflict are exported.
    a.add_i64(1, &[]).unwrap();
    c.add_i64(2, &[]).unwrap();
    let rm = f.collect();
    let same_name: Vec<_> = metrics(&rm)
        .into_iter()
        .filter(|m| m.name.eq_ignore_ascii_case("requests"))
        .collect();
    assert_eq!(same_name.len(), 2);
}

#[test]
fn names_and_units_are_checked() {
    let f = fixture(Temporality::Cumulative);
    let long = "a".repeat(255);
    for good in ["a", "A1_.-/", long.as_str(), "http.server.duration"] {
        f.meter
            .instrument(Counter, NumberType::I64, good, "", "")
            .unwrap();
    }
    let too_long = "a".repeat(256);
    for bad in ["", "1abc", "_a", "a b", "a+b", "é", too_long.as_str()] {
        let err = f
            .meter
            .instrument(Counter, NumberType::I64, bad, "", "")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        assert!(err.message().contains("instrument name"), "{err}");
    }
    let unit63 = "u".repeat(63);
    f.meter
        .instrument(Counter, NumberType::I64, "u1", &unit63, "")
        .unwrap();
    for bad in ["u".repeat(64), "°C".to_string()] {
        let err = f
            .meter
            .instrument(Counter, NumberType::I64, "u2", &bad, "")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.message().contains("unit"), "{err}");
    }
    // A huge bad argument makes a short message.
    let huge = "n".repeat(100_000);
    let err = f
        .meter
        .instrument(Counter, NumberType::I64, &huge, "", "")
        .unwrap_err();
    assert!(err.message().len() < 200, "{}", err.message().len());
    assert!(err.message().contains("100000 bytes"), "{err}");
    let err = f
        .meter
        .instrument(Counter, NumberType::I64, "ok", &huge, "")
        .unwrap_err();
    assert!(err.message().len() < 200, "{}", err.message().len());
    // Kinds must match the way they are registered.
    assert!(f
        .meter
        .instrument(ObservableGauge, NumberType::I64, "g", "", "")
        .is_err());
    assert!(f
        .meter
        .observable(Counter, NumberType::I64, "g", "", "", Box::new(|_| {}))
        .is_err());
}

#[test]
fn nan_infinities_and_negative_counter_adds_are_dropped_with_one_warning() {
    let f = fixture(Temporality::Cumulative);
    let c = f.sync(Counter, NumberType::F64, "c");
    let h = f.sync(Histogram, NumberType::F64, "h");
    let u = f.sync(UpDownCounter, NumberType::I64, "u");
    c.add_f64(1.0, &[]).unwrap();
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
        c.add_f64(v, &[]).unwrap();
        c.bind(&[]).unwrap().add_f64(v).unwrap();
    }
    h.record_f64(f64::NAN, &[]).unwrap();
    h.record_f64(-2.0, &[]).unwrap();
    u.add_i64(-3, &[]).unwrap();
    let logs = f.logs();
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs[0].contains("\"c\""));
    assert!(logs[1].contains("\"h\""));
    let rm = f.collect();
    assert_eq!(values(metric(&rm, "c").unwrap()), vec![(vec![], 1.0)]);
    let p = histogram_point(metric(&rm, "h").unwrap());
    assert_eq!((p.count, p.sum), (1, Some(-2.0)));
    assert_eq!(values(metric(&rm, "u").unwrap()), vec![(vec![], -3.0)]);
}

#[test]
fn wrong_operation_number_type_or_attributes_record_nothing() {
    let f = fixture(Temporality::Cumulative);
    let c = f.sync(Counter, NumberType::I64, "c");
    let g = f.sync(Gauge, NumberType::F64, "g");
    let invalid =
        |r: crate::error::Result<()>| assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidArgument);
    invalid(c.record_i64(1, &[]));
    invalid(c.add_f64(1.0, &[]));
    invalid(g.add_f64(1.0, &[]));
    invalid(g.record_i64(1, &[]));
    invalid(c.add_i64(1, &[KeyValue::str("ok", "x"), KeyValue::str("", "x")]));
    invalid(c.bind(&[KeyValue::i64("", 1)]).map(|_| ()));
    let bound = c.bind(&[]).unwrap();
    invalid(bound.add_f64(1.0));
    invalid(bound.record_i64(1));
    let observable = f
        .meter
        .observable(
            ObservableCounter,
            NumberType::I64,
            "o",
            "",
            "",
            Box::new(|_| {}),
        )
        .unwrap();
    invalid(observable.add_i64(1, &[]));
    invalid(observable.bind(&[]).map(|_| ()));
    let err = c.add_f64(1.0, &[]).unwrap_err();
    assert!(
        err.message().contains("\"c\"") && err.message().contains("int64"),
        "{err}"
    );
    let rm = f.collect();
    assert!(metrics(&rm).is_empty(), "{rm:?}");
}

#[test]
fn bound_instruments_record_and_keep_their_delta_series() {
    let f = fixture(Temporality::Delta);
    let c = f.sync(Counter, NumberType::I64, "bound");
    let attrs = [KeyValue::str("b", "1"), KeyValue::str("a", "2")];
    let bound = c.bind(&attrs).unwrap();
    bound.add_i64(3).unwrap();
    c.add_i64(4, &[attrs[1], attrs[0]]).unwrap();
    let rm = f.collect();
    assert_eq!(
        values(metric(&rm, "bound").unwrap()),
        vec![(kv(&[("a", "2"), ("b", "1")]), 7.0)]
    );
    // Idle through a collection, but bound: still the same series afterwards.
    assert!(metric(&f.collect(), "bound").is_none());
    bound.add_i64(1).unwrap();
    let rm = f.collect();
    assert_eq!(
        values(metric(&rm, "bound").unwrap()),
        vec![(kv(&[("a", "2"), ("b", "1")]), 1.0)]
    );
    drop(bound);
    let gauge = f.sync(Gauge, NumberType::I64, "bound.gauge");
    let g = gauge.bind(&[KeyValue::bool("x", false)]).unwrap();
    g.record_i64(-9).unwrap();
    let rm = f.collect();
    assert_eq!(
        values(metric(&rm, "bound.gauge").unwrap()),
        vec![(kv(&[("x", "false")]), -9.0)]
    );
}

#[test]
fn duplicate_keys_in_a_call_resolve_to_the_later_value() {
    let f = fixture(Temporality::Cumulative);
    let c = f.sync(Counter, NumberType::I64, "dups");
    c.add_i64(1, &[KeyValue::str("k", "old"), KeyValue::str("k", "new")])
        .unwrap();
    c.add_i64(2, &[KeyValue::str("k", "new")]).unwrap();
    c.bind(&[KeyValue::str("k", "x"), KeyValue::str("k", "new")])
        .unwrap()
        .add_i64(4)
        .unwrap();
    let rm = f.collect();
    assert_eq!(
        values(metric(&rm, "dups").unwrap()),
        vec![(kv(&[("k", "new")]), 7.0)]
    );
}

#[test]
fn recording_after_shutdown_is_refused() {
    let f = fixture(Temporality::Cumulative);
    let c = f.sync(Counter, NumberType::I64, "c");
    let bound = c.bind(&[]).unwrap();
    assert!(f.pipeline.shut_down());
    assert!(!f.pipeline.shut_down());
    assert_eq!(c.add_i64(1, &[]).unwrap_err().kind(), ErrorKind::Shutdown);
    assert_eq!(bound.add_i64(1).unwrap_err().kind(), ErrorKind::Shutdown);
    assert_eq!(
        f.meter
            .instrument(Counter, NumberType::I64, "d", "", "")
            .unwrap_err()
            .kind(),
        ErrorKind::Shutdown
    );
    assert_eq!(
        f.pipeline.meter("m", None).unwrap_err().kind(),
        ErrorKind::Shutdown
    );
}

#[test]
fn concurrent_recording_and_collection_lose_nothing() {
    let cases = [
        (Temporality::Delta, NumberType::I64),
        (Temporality::Cumulative, NumberType::I64),
        (Temporality::Delta, NumberType::F64),
        (Temporality::Cumulative, NumberType::F64),
    ];
    for (temporality, number) in cases {
        let f = Arc::new(fixture(temporality));
        let c = f.sync(Counter, number, "hits");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let bound = c.bind(&[KeyValue::i64("bound", t)]).unwrap();
                    for i in 0..5000i64 {
                        let attrs = [KeyValue::i64("set", i % 7)];
                        match number {
                            NumberType::I64 => {
                                c.add_i64(1, &attrs).unwrap();
                                bound.add_i64(1).unwrap();
                            }
                            NumberType::F64 => {
                                c.add_f64(1.0, &attrs).unwrap();
                                bound.add_f64(1.0).unwrap();
                            }
                        }
                    }
                })
            })
            .collect();
        let mut total = 0.0;
        let mut last = 0.0;
        let mut read = |rm: ResourceMetrics| {
            if let Some(m) = metric(&rm, "hits") {
                let sum: f64 = values(m).iter().map(|(_, v)| v).sum();
                match temporality {
                    Temporality::Delta => total += sum,
                    Temporality::Cumulative => {
                        assert!(sum >= last);
                        last = sum;
                        total = sum;
                    }
                }
            }
        };
        while !threads.iter().all(|t| t.is_finished()) {
            read(f.collect());
        }
        for t in threads {
            t.join().unwrap();
        }
        read(f.collect());
        assert_eq!(total, 40_000.0, "{temporality:?} {number:?}");
    }
}

#[test]
fn random_attribute_orders_and_duplicates_match_a_plain_model() {
    use std::collections::BTreeMap;
    let keys = ["a", "b", "c", "route", "x.y"];
    let words = ["", "v", "w", "/api"];
    for temporality in [Temporality::Cumulative, Temporality::Delta] {
        let mut rng = fastrand::Rng::with_seed(13);
        let f = fixture(temporality);
        let c = f.sync(UpDownCounter, NumberType::I64, "model");
        let mut model: BTreeMap<Vec<(String, String)>, i64> = BTreeMap::new();
        for round in 0..6 {
            if temporality == Temporality::Delta {
                model.clear();
            }
            for _ in 0..400 {
                let n = rng.usize(0..6);
                let attrs: Vec<KeyValue<'_>> = (0..n)
                    .map(|_| {
                        let key = keys[rng.usize(..keys.len())];
                        match rng.u8(0..4) {
                            0 => KeyValue::str(key, words[rng.usize(..words.len())]),
                            1 => KeyValue::bool(key, rng.bool()),
                            2 => KeyValue::i64(key, rng.i64(-2..2)),
                            _ => KeyValue::f64(key, rng.i64(-2..2) as f64 / 2.0),
                        }
                    })
                    .collect();
                let value = rng.i64(-5..10);
                // The model: a map where a later duplicate key wins, rendered as the
                // decoded attributes are.
                let mut set = BTreeMap::new();
                for kv in &attrs {
                    let text = match kv.value {
                        crate::metrics::attributes::Value::Str(s) => s.to_string(),
                        crate::metrics::attributes::Value::Bool(b) => b.to_string(),
                        crate::metrics::attributes::Value::I64(i) => i.to_string(),
                        crate::metrics::attributes::Value::F64(d) => format!("{d:?}"),
                    };
                    set.insert(kv.key.to_string(), text);
                }
                *model.entry(set.into_iter().collect()).or_default() += value;
                if rng.u8(0..8) == 0 {
                    c.bind(&attrs).unwrap().add_i64(value).unwrap();
                } else {
                    c.add_i64(value, &attrs).unwrap();
                }
            }
            let rm = f.collect();
            let got: BTreeMap<Vec<(String, String)>, i64> = values(metric(&rm, "model").unwrap())
                .into_iter()
                .map(|(attrs, v)| (attrs, v as i64))
                .collect();
            assert_eq!(got, model, "{temporality:?}, round {round}");
        }
    }
}

#[test]
fn handles_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<crate::metrics::provider::MeterProvider>();
    shareable::<Pipeline>();
    shareable::<Meter>();
    shareable::<Instrument>();
    shareable::<crate::metrics::instrument::BoundInstrument>();
}

#[test]
fn a_collection_written_as_a_request_carries_the_same_resource_metrics() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    let f = fixture(Temporality::Cumulative);
    let c = f.sync(Counter, NumberType::I64, "requests");
    let h = f.sync(Histogram, NumberType::F64, "latency");
    c.add_i64(5, &[KeyValue::str("route", "/a")]).unwrap();
    h.record_f64(2.5, &[]).unwrap();
    let bytes = f.pipeline.collect_request_if_any().unwrap();
    crate::proto::validate::export_request(&bytes).unwrap();
    let request = ExportMetricsServiceRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(request.encode_to_vec(), bytes, "canonical");
    let [mut from_request] = <[ResourceMetrics; 1]>::try_from(request.resource_metrics).unwrap();
    let mut alone = f.collect();
    // The two collections differ only in their time stamps.
    for rm in [&mut from_request, &mut alone] {
        for m in rm.scope_metrics.iter_mut().flat_map(|s| &mut s.metrics) {
            match &mut m.data {
                Some(Data::Sum(sum)) => sum
                    .data_points
                    .iter_mut()
                    .for_each(|p| p.time_unix_nano = 0),
                Some(Data::Histogram(hist)) => hist
                    .data_points
                    .iter_mut()
                    .for_each(|p| p.time_unix_nano = 0),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(from_request, alone);
    // Nothing to export: no request.
    let empty = fixture(Temporality::Delta);
    assert!(empty.pipeline.collect_request_if_any().is_none());
}
