//! Recording into the metrics pipeline (`otlpmetric::internals::metrics`): random
//! instruments (kinds, number types, valid and invalid names), random attribute sets
//! (duplicate and empty keys, every value type, long strings), random values (NaN,
//! infinities, negatives), bound handles, and collections in between, under a random
//! temporality preference and a small cardinality limit.
//!
//! Properties: nothing panics; every collection's bytes pass the crate's validator and
//! decode with prost; no metric has more points than the cardinality limit + 1 (the
//! overflow series); for every counter whose name no other instrument shares, the
//! exported values (the last collection's for cumulative, all collections' for delta) add
//! up to the values its calls accepted (exactly for int64, within rounding for doubles).
//!
//! Input: byte 0 chooses the temporality and histogram preferences, byte 1 the cardinality
//! limit (1..=8); the rest is a sequence of operations read with `arbitrary`.
#![no_main]

use std::sync::Arc;

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, ResourceMetrics,
};
use otlpmetric::internals::metrics::{
    AttributeSet, BoundInstrument, HistogramPreference, Instrument, KeyValue, NumberType, Pipeline,
    Selections, TemporalityPreference,
};
use otlpmetric::internals::validate;
use otlpmetric::{InstrumentKind, Logger, Temporality};
use prost::Message;

/// What a counter's accepted calls add up to.
#[derive(Default)]
struct Expected {
    int: i64,
    float: f64,
    /// Whether a double sum overflowed to infinity (then it is not compared).
    overflowed: bool,
}

/// The running total of a counter's exported values, as the collections say.
#[derive(Default)]
struct Exported {
    int: i64,
    float: f64,
}

struct Registered {
    instrument: Arc<Instrument>,
    name: String,
    expected: Expected,
    exported: Exported,
}

enum Val {
    Str(String),
    Bool(bool),
    I64(i64),
    F64(f64),
}

fuzz_target!(|data: &[u8]| {
    let Some((&prefs, rest)) = data.split_first() else {
        return;
    };
    let Some((&limit, rest)) = rest.split_first() else {
        return;
    };
    let temporality = match prefs % 3 {
        0 => TemporalityPreference::Cumulative,
        1 => TemporalityPreference::Delta,
        _ => TemporalityPreference::LowMemory,
    };
    let histogram = if prefs & 0x10 == 0 {
        HistogramPreference::ExplicitBucket
    } else {
        HistogramPreference::Base2Exponential
    };
    let limit = 1 + (limit % 8) as usize;
    let selections = Selections::resolve(temporality, histogram, None, None).unwrap();
    let resource = AttributeSet::new(&[KeyValue::str("service.name", "fuzz")]).unwrap();
    let pipeline = Pipeline::new(
        &resource,
        selections,
        limit,
        Logger::new(Some(Arc::new(|_, _: &str| {}))),
    );
    let meter = pipeline.meter("fuzz", Some("1")).unwrap();
    let mut registered: Vec<Registered> = Vec::new();
    let mut bound: Vec<(usize, BoundInstrument)> = Vec::new();
    let mut u = Unstructured::new(rest);
    while !u.is_empty() {
        if step(
            &mut u,
            &pipeline,
            &meter,
            &mut registered,
            &mut bound,
            limit,
        )
        .is_err()
        {
            break;
        }
    }
    drop(bound);
    collect_and_check(&pipeline, &mut registered, limit);
    check_totals(&registered);
});

fn step(
    u: &mut Unstructured<'_>,
    pipeline: &Pipeline,
    meter: &otlpmetric::internals::metrics::Meter,
    registered: &mut Vec<Registered>,
    bound: &mut Vec<(usize, BoundInstrument)>,
    limit: usize,
) -> Result<()> {
    match u.int_in_range(0u8..=9)? {
        0 | 1 => {
            let kind = match u.int_in_range(0u8..=4)? {
                0 => InstrumentKind::Counter,
                1 => InstrumentKind::UpDownCounter,
                2 => InstrumentKind::Histogram,
                3 => InstrumentKind::Gauge,
                _ => InstrumentKind::ObservableCounter,
            };
            let number = if u.arbitrary()? {
                NumberType::I64
            } else {
                NumberType::F64
            };
            let name = pick_str(
                u,
                &[
                    "requests",
                    "Requests",
                    "a.b_c-d/e",
                    "bytes",
                    "",
                    "1bad",
                    "bad name",
                ],
            )?;
            let unit = pick_str(u, &["", "s", "{request}", "By"])?;
            let description: String = u.arbitrary()?;
            if let Ok(instrument) = meter.instrument(kind, number, &name, &unit, &description) {
                // The same identity gives the same instrument: one entry for it.
                if !registered
                    .iter()
                    .any(|r| Arc::ptr_eq(&r.instrument, &instrument))
                {
                    registered.push(Registered {
                        instrument,
                        name,
                        expected: Expected::default(),
                        exported: Exported::default(),
                    });
                }
            }
        }
        2..=4 => {
            if registered.is_empty() {
                return Ok(());
            }
            let i = u.choose_index(registered.len())?;
            let attrs = attributes(u)?;
            let kvs = key_values(&attrs);
            let (add, int, float, int_value) = value(u)?;
            let r = &mut registered[i];
            let result = match (add, int) {
                (true, true) => r.instrument.add_i64(int_value, &kvs),
                (true, false) => r.instrument.add_f64(float, &kvs),
                (false, true) => r.instrument.record_i64(int_value, &kvs),
                (false, false) => r.instrument.record_f64(float, &kvs),
            };
            if result.is_ok() {
                account(r, int, int_value, float);
            }
        }
        5 => {
            if registered.is_empty() {
                return Ok(());
            }
            let i = u.choose_index(registered.len())?;
            let attrs = attributes(u)?;
            if let Ok(b) = registered[i].instrument.bind(&key_values(&attrs)) {
                bound.push((i, b));
            }
        }
        6 | 7 => {
            if bound.is_empty() {
                return Ok(());
            }
            let j = u.choose_index(bound.len())?;
            let (add, int, float, int_value) = value(u)?;
            let (i, b) = &bound[j];
            let result = match (add, int) {
                (true, true) => b.add_i64(int_value),
                (true, false) => b.add_f64(float),
                (false, true) => b.record_i64(int_value),
                (false, false) => b.record_f64(float),
            };
            if result.is_ok() {
                account(&mut registered[*i], int, int_value, float);
            }
        }
        8 => {
            if !bound.is_empty() {
                let j = u.choose_index(bound.len())?;
                bound.swap_remove(j);
            }
        }
        _ => collect_and_check(pipeline, registered, limit),
    }
    Ok(())
}

/// Adds an accepted call's value to its counter's expected total: counters record finite,
/// non-negative values only (the others are dropped with a warning, the call succeeds).
fn account(r: &mut Registered, int: bool, int_value: i64, float: f64) {
    if r.instrument.descriptor().kind != InstrumentKind::Counter {
        return;
    }
    if int {
        if int_value >= 0 {
            r.expected.int = r.expected.int.wrapping_add(int_value);
        }
    } else if float.is_finite() && float >= 0.0 {
        r.expected.float += float;
        r.expected.overflowed |= !r.expected.float.is_finite();
    }
}

fn pick_str(u: &mut Unstructured<'_>, pool: &[&str]) -> Result<String> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => u.arbitrary()?,
        _ => pool[u.choose_index(pool.len())?].to_string(),
    })
}

fn attributes(u: &mut Unstructured<'_>) -> Result<Vec<(String, Val)>> {
    let n = u.int_in_range(0usize..=6)?;
    let mut attrs = Vec::with_capacity(n);
    for _ in 0..n {
        let key = match u.int_in_range(0u8..=5)? {
            0 => String::new(),
            1 => "x".repeat(u.int_in_range(1usize..=300)?),
            2 => u.arbitrary()?,
            _ => ["k", "K", "a.b", "method", "status"][u.choose_index(5)?].to_string(),
        };
        let value = match u.int_in_range(0u8..=4)? {
            0 => Val::Bool(u.arbitrary()?),
            1 => Val::I64(u.arbitrary()?),
            2 => Val::F64(special_f64(u)?),
            3 => Val::Str("v".repeat(u.int_in_range(0usize..=5000)?)),
            _ => Val::Str(pick_str(u, &["GET", "POST", "", "200"])?),
        };
        attrs.push((key, value));
    }
    Ok(attrs)
}

fn key_values(attrs: &[(String, Val)]) -> Vec<KeyValue<'_>> {
    attrs
        .iter()
        .map(|(k, v)| match v {
            Val::Str(s) => KeyValue::str(k, s),
            Val::Bool(b) => KeyValue::bool(k, *b),
            Val::I64(i) => KeyValue::i64(k, *i),
            Val::F64(f) => KeyValue::f64(k, *f),
        })
        .collect()
}

fn special_f64(u: &mut Unstructured<'_>) -> Result<f64> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => -0.0,
        4 => -(u.int_in_range(1u32..=1000)? as f64),
        5 => f64::from_bits(u.arbitrary()?),
        _ => u.int_in_range(0u32..=1_000_000)? as f64 / 8.0,
    })
}

/// (add rather than record, int64 rather than double, the double, the int64)
fn value(u: &mut Unstructured<'_>) -> Result<(bool, bool, f64, i64)> {
    let add = u.arbitrary()?;
    let int = u.arbitrary()?;
    let float = special_f64(u)?;
    let int_value = match u.int_in_range(0u8..=3)? {
        0 => u.arbitrary()?,
        1 => -(u.int_in_range(1i64..=1000)?),
        _ => u.int_in_range(0i64..=1_000_000)?,
    };
    Ok((add, int, float, int_value))
}

fn collect_and_check(pipeline: &Pipeline, registered: &mut [Registered], limit: usize) {
    let bytes = pipeline.collect();
    if let Err(e) = validate::resource_metrics(&bytes) {
        panic!("the validator refuses a collection: {e}");
    }
    let rm = ResourceMetrics::decode(&bytes[..]).expect("prost decodes a collection");
    let metrics: Vec<_> = rm
        .scope_metrics
        .iter()
        .flat_map(|s| s.metrics.iter())
        .collect();
    for m in &metrics {
        let points = match &m.data {
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        };
        assert!(
            points <= limit + 1,
            "{}: {points} points, cardinality limit {limit}",
            m.name
        );
    }
    for i in 0..registered.len() {
        if !checked(registered, i) {
            continue;
        }
        let r = &mut registered[i];
        let delta = r.instrument.temporality() == Temporality::Delta;
        let want = if delta {
            AggregationTemporality::Delta
        } else {
            AggregationTemporality::Cumulative
        } as i32;
        let mut int = 0i64;
        let mut float = 0.0f64;
        for m in metrics
            .iter()
            .filter(|m| m.name.eq_ignore_ascii_case(&r.name))
        {
            let Some(Data::Sum(sum)) = &m.data else {
                panic!("counter {:?} exported as {:?}", r.name, m.data);
            };
            assert!(sum.is_monotonic, "counter {:?} not monotonic", r.name);
            assert_eq!(sum.aggregation_temporality, want, "counter {:?}", r.name);
            for p in &sum.data_points {
                match p.value {
                    Some(number_data_point::Value::AsInt(v)) => int = int.wrapping_add(v),
                    Some(number_data_point::Value::AsDouble(v)) => float += v,
                    None => panic!("counter {:?}: a point without a value", r.name),
                }
            }
        }
        if delta {
            r.exported.int = r.exported.int.wrapping_add(int);
            r.exported.float += float;
        } else {
            r.exported = Exported { int, float };
        }
    }
}

/// Whether counter `i`'s points can be told apart in the output: no other instrument has
/// its name (which compares case-insensitively).
fn checked(registered: &[Registered], i: usize) -> bool {
    registered[i].instrument.descriptor().kind == InstrumentKind::Counter
        && registered
            .iter()
            .filter(|r| r.name.eq_ignore_ascii_case(&registered[i].name))
            .count()
            == 1
}

fn check_totals(registered: &[Registered]) {
    for (i, r) in registered.iter().enumerate() {
        if !checked(registered, i) {
            continue;
        }
        match r.instrument.descriptor().number {
            NumberType::I64 => assert_eq!(
                r.exported.int, r.expected.int,
                "counter {:?}: exported total vs accepted adds",
                r.name
            ),
            NumberType::F64 if !r.expected.overflowed => {
                let (got, want) = (r.exported.float, r.expected.float);
                assert!(
                    (got - want).abs() <= want.abs() * 1e-9 + 1e-300,
                    "counter {:?}: exported total {got} vs accepted adds {want}",
                    r.name
                );
            }
            NumberType::F64 => {}
        }
    }
}
