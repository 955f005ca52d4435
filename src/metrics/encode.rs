//! Collected points straight into the protobuf bytes of one
//! `opentelemetry.proto.metrics.v1.ResourceMetrics`, with prost's encoding helpers and no
//! message structs in between. Every nested message is preceded by its length, so each
//! one's length is computed (arithmetic over the points) before it is written.
//!
//! The bytes are the canonical encoding, the one prost gives for the same message (fields
//! in field-number order, proto3 defaults left out), so they compare equal to a
//! re-encoding in tests and nothing downstream sees an unusual shape.

use prost::encoding::{
    double, encode_key, encode_varint, encoded_len_varint, fixed64, key_len, sfixed64, sint32,
    uint64, WireType,
};

use crate::metrics::aggregate::{
    Aggregator, ExponentialBuckets, ExponentialState, HistogramState, Number, Plan,
};
use crate::metrics::attributes::{AttributeSet, KeyValue, Value};
use crate::metrics::instrument::{Instrument, Point};
use crate::selectors::Temporality;

/// One instrument's points in a collection.
pub(crate) struct MetricData<'a> {
    pub instrument: &'a Instrument,
    pub start_time: u64,
    pub points: Vec<Point>,
}

/// One meter's metrics in a collection.
pub(crate) struct ScopeData<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub metrics: Vec<MetricData<'a>>,
}

/// Which message a collection is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Envelope {
    /// A `ResourceMetrics`.
    ResourceMetrics,
    /// An `ExportMetricsServiceRequest` whose one `resource_metrics` entry it is: what an
    /// exporter sends, written in place so that it needs no wrapping (and copy) later.
    ExportRequest,
}

/// A `ResourceMetrics` of `resource` (the bytes of a `Resource`) and `scopes`, points
/// stamped `time` (ns since the epoch), in `envelope`.
pub(crate) fn resource_metrics(
    resource: &[u8],
    scopes: &[ScopeData<'_>],
    time: u64,
    envelope: Envelope,
) -> Vec<u8> {
    let lengths = Lengths::of(scopes);
    let len = delimited_len(1, resource.len())
        + lengths
            .scopes
            .iter()
            .map(|&len| delimited_len(2, len))
            .sum::<usize>();
    let total = match envelope {
        Envelope::ResourceMetrics => len,
        Envelope::ExportRequest => delimited_len(1, len),
    };
    let mut buf = Vec::with_capacity(total);
    if envelope == Envelope::ExportRequest {
        header(1, len, &mut buf);
    }
    header(1, resource.len(), &mut buf);
    buf.extend_from_slice(resource);
    let mut metric_lengths = lengths.metrics.iter();
    let mut point_lengths = lengths.points.iter();
    for (scope, &scope_len) in scopes.iter().zip(&lengths.scopes) {
        header(2, scope_len, &mut buf);
        header(1, scope_len_of(scope), &mut buf);
        write_string(1, scope.name, &mut buf);
        write_string(2, scope.version, &mut buf);
        for metric in &scope.metrics {
            let (metric_len, data_len) = metric_lengths.next().copied().unwrap_or_default();
            header(2, metric_len, &mut buf);
            write_metric(metric, data_len, &mut point_lengths, time, &mut buf);
        }
    }
    debug_assert_eq!(buf.len(), total);
    buf
}

/// Every nested message's length, measured once, in the order the messages are written:
/// each length is needed before its message, and the encoding of a point's attributes
/// is the costly part to measure.
struct Lengths {
    /// Each `ScopeMetrics`.
    scopes: Vec<usize>,
    /// Each `Metric`, and its data member (`Sum`, `Gauge`...).
    metrics: Vec<(usize, usize)>,
    /// Each data point.
    points: Vec<usize>,
}

impl Lengths {
    fn of(scopes: &[ScopeData<'_>]) -> Lengths {
        let metric_count = scopes.iter().map(|s| s.metrics.len()).sum();
        let point_count = scopes
            .iter()
            .flat_map(|s| &s.metrics)
            .map(|m| m.points.len())
            .sum();
        let mut lengths = Lengths {
            scopes: Vec::with_capacity(scopes.len()),
            metrics: Vec::with_capacity(metric_count),
            points: Vec::with_capacity(point_count),
        };
        for scope in scopes {
            let mut scope_metrics_len = delimited_len(1, scope_len_of(scope));
            for metric in &scope.metrics {
                let shape = Shape::of(metric.instrument.plan());
                let mut data_len = shape.fields_len();
                for point in &metric.points {
                    let point_len = point_len(metric, point);
                    lengths.points.push(point_len);
                    data_len += delimited_len(1, point_len);
                }
                let descriptor = metric.instrument.descriptor();
                let metric_len = string_len(1, &descriptor.name)
                    + string_len(2, &descriptor.description)
                    + string_len(3, &descriptor.unit)
                    + delimited_len(shape.tag(), data_len);
                lengths.metrics.push((metric_len, data_len));
                scope_metrics_len += delimited_len(2, metric_len);
            }
            lengths.scopes.push(scope_metrics_len);
        }
        lengths
    }
}

/// The bytes of an `opentelemetry.proto.resource.v1.Resource` with `attributes`.
pub(crate) fn resource(attributes: &AttributeSet) -> Vec<u8> {
    let mut buf = Vec::with_capacity(attributes_len(1, attributes));
    write_attributes(1, attributes, &mut buf);
    buf
}

// ---- framing

fn delimited_len(tag: u32, body: usize) -> usize {
    key_len(tag) + encoded_len_varint(body as u64) + body
}

fn header(tag: u32, body: usize, buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(body as u64, buf);
}

fn string_len(tag: u32, text: &str) -> usize {
    if text.is_empty() {
        0
    } else {
        delimited_len(tag, text.len())
    }
}

/// Writes a string field, omitted when empty as proto3 does.
fn write_string(tag: u32, text: &str, buf: &mut Vec<u8>) {
    if !text.is_empty() {
        header(tag, text.len(), buf);
        buf.extend_from_slice(text.as_bytes());
    }
}

// ---- attributes

fn any_value_len(value: Value<'_>) -> usize {
    // A oneof member is written even when it holds its type's default.
    match value {
        Value::Str(s) => delimited_len(1, s.len()),
        Value::Bool(_) => key_len(2) + 1,
        Value::I64(i) => key_len(3) + encoded_len_varint(i as u64),
        Value::F64(_) => key_len(4) + 8,
    }
}

fn write_any_value(value: Value<'_>, buf: &mut Vec<u8>) {
    match value {
        Value::Str(s) => {
            header(1, s.len(), buf);
            buf.extend_from_slice(s.as_bytes());
        }
        Value::Bool(b) => {
            encode_key(2, WireType::Varint, buf);
            encode_varint(b as u64, buf);
        }
        Value::I64(i) => {
            encode_key(3, WireType::Varint, buf);
            encode_varint(i as u64, buf);
        }
        Value::F64(f) => {
            encode_key(4, WireType::SixtyFourBit, buf);
            buf.extend_from_slice(&f.to_le_bytes());
        }
    }
}

fn key_value_len(kv: &KeyValue<'_>) -> usize {
    string_len(1, kv.key) + delimited_len(2, any_value_len(kv.value))
}

fn attributes_len(tag: u32, set: &AttributeSet) -> usize {
    set.iter()
        .map(|kv| delimited_len(tag, key_value_len(&kv)))
        .sum()
}

fn write_attributes(tag: u32, set: &AttributeSet, buf: &mut Vec<u8>) {
    for kv in set.iter() {
        header(tag, key_value_len(&kv), buf);
        write_string(1, kv.key, buf);
        header(2, any_value_len(kv.value), buf);
        write_any_value(kv.value, buf);
    }
}

// ---- scope and metric

fn scope_len_of(scope: &ScopeData<'_>) -> usize {
    string_len(1, scope.name) + string_len(2, scope.version)
}

/// Which `Metric.data` member an instrument's points go in, and its field number.
enum Shape {
    Gauge,
    Sum { monotonic: bool },
    Histogram,
    Exponential,
}

impl Shape {
    fn of(plan: &Plan) -> Shape {
        match plan {
            Plan::Sum { monotonic } => Shape::Sum {
                monotonic: *monotonic,
            },
            Plan::Histogram { .. } => Shape::Histogram,
            Plan::Exponential { .. } => Shape::Exponential,
            Plan::LastValue | Plan::Drop => Shape::Gauge,
        }
    }

    fn tag(&self) -> u32 {
        match self {
            Shape::Gauge => 5,
            Shape::Sum { .. } => 7,
            Shape::Histogram => 9,
            Shape::Exponential => 10,
        }
    }

    /// The data member's fields besides its points: temporality, monotonic.
    fn fields_len(&self) -> usize {
        let temporality = key_len(2) + 1;
        match self {
            Shape::Gauge => 0,
            Shape::Sum { monotonic: true } => temporality + key_len(3) + 1,
            Shape::Sum { monotonic: false } | Shape::Histogram | Shape::Exponential => temporality,
        }
    }
}

fn write_metric<'l>(
    metric: &MetricData<'_>,
    data_len: usize,
    point_lengths: &mut impl Iterator<Item = &'l usize>,
    time: u64,
    buf: &mut Vec<u8>,
) {
    let descriptor = metric.instrument.descriptor();
    let shape = Shape::of(metric.instrument.plan());
    write_string(1, &descriptor.name, buf);
    write_string(2, &descriptor.description, buf);
    write_string(3, &descriptor.unit, buf);
    header(shape.tag(), data_len, buf);
    for point in &metric.points {
        header(1, point_lengths.next().copied().unwrap_or_default(), buf);
        write_point(metric, point, time, buf);
    }
    let temporality = match metric.instrument.temporality() {
        Temporality::Delta => 1u64,
        Temporality::Cumulative => 2,
    };
    if !matches!(shape, Shape::Gauge) {
        encode_key(2, WireType::Varint, buf);
        encode_varint(temporality, buf);
    }
    if let Shape::Sum { monotonic: true } = shape {
        encode_key(3, WireType::Varint, buf);
        encode_varint(1, buf);
    }
}

// ---- data points

/// Start and time: two fixed64 fields, 2 and 3 in every data point message.
const TIMES_LEN: usize = 2 * (1 + 8);

fn point_len(metric: &MetricData<'_>, point: &Point) -> usize {
    let plan = metric.instrument.plan();
    let attributes = point.attributes.set();
    match &point.data {
        Aggregator::Sum(n) | Aggregator::LastValue(n) => {
            attributes_len(7, attributes) + TIMES_LEN + number_len(*n)
        }
        Aggregator::Histogram(h) => attributes_len(9, attributes) + histogram_len(plan, h),
        Aggregator::Exponential(e) => attributes_len(1, attributes) + exponential_len(plan, e),
    }
}

fn write_point(metric: &MetricData<'_>, point: &Point, time: u64, buf: &mut Vec<u8>) {
    let plan = metric.instrument.plan();
    let attributes = point.attributes.set();
    match &point.data {
        Aggregator::Sum(n) | Aggregator::LastValue(n) => {
            write_times(metric.start_time, time, buf);
            match n {
                Number::F64(f) => double::encode(4, f, buf),
                Number::I64(i) => sfixed64::encode(6, i, buf),
            }
            write_attributes(7, attributes, buf);
        }
        Aggregator::Histogram(h) => {
            write_times(metric.start_time, time, buf);
            write_histogram(plan, h, attributes, buf);
        }
        Aggregator::Exponential(e) => {
            write_attributes(1, attributes, buf);
            write_times(metric.start_time, time, buf);
            write_exponential(plan, e, buf);
        }
    }
}

fn write_times(start: u64, time: u64, buf: &mut Vec<u8>) {
    // Written even when zero, so the length is fixed.
    encode_key(2, WireType::SixtyFourBit, buf);
    buf.extend_from_slice(&start.to_le_bytes());
    encode_key(3, WireType::SixtyFourBit, buf);
    buf.extend_from_slice(&time.to_le_bytes());
}

fn number_len(_n: Number) -> usize {
    // as_double (4, double) or as_int (6, sfixed64): a key byte and 8 bytes either way.
    1 + 8
}

/// (record_min_max, record_sum) of a histogram plan.
fn histogram_options(plan: &Plan) -> (bool, bool) {
    match plan {
        Plan::Histogram {
            record_min_max,
            record_sum,
            ..
        }
        | Plan::Exponential {
            record_min_max,
            record_sum,
            ..
        } => (*record_min_max, *record_sum),
        _ => (false, false),
    }
}

fn boundaries(plan: &Plan) -> &[f64] {
    match plan {
        Plan::Histogram { boundaries, .. } => boundaries,
        _ => &[],
    }
}

/// count + optional sum, min and max: fixed64 and doubles, a key byte and 8 bytes each.
fn summary_len(plan: &Plan, count: u64) -> usize {
    let (min_max, sum) = histogram_options(plan);
    let mut len = 9;
    if sum {
        len += 9;
    }
    if min_max && count > 0 {
        len += 18;
    }
    len
}

fn histogram_len(plan: &Plan, h: &HistogramState) -> usize {
    TIMES_LEN
        + summary_len(plan, h.count)
        + fixed64::encoded_len_packed(6, &h.counts)
        + double::encoded_len_packed(7, boundaries(plan))
}

fn write_histogram(plan: &Plan, h: &HistogramState, attributes: &AttributeSet, buf: &mut Vec<u8>) {
    let (min_max, sum) = histogram_options(plan);
    fixed64::encode(4, &h.count, buf);
    if sum {
        double::encode(5, &h.sum, buf);
    }
    fixed64::encode_packed(6, &h.counts, buf);
    double::encode_packed(7, boundaries(plan), buf);
    write_attributes(9, attributes, buf);
    if min_max && h.count > 0 {
        double::encode(11, &h.min, buf);
        double::encode(12, &h.max, buf);
    }
}

fn buckets_len(b: &ExponentialBuckets) -> usize {
    let offset = if b.offset == 0 {
        0
    } else {
        sint32::encoded_len(1, &b.offset)
    };
    offset + uint64::encoded_len_packed(2, &b.counts)
}

fn write_buckets(tag: u32, b: &ExponentialBuckets, buf: &mut Vec<u8>) {
    header(tag, buckets_len(b), buf);
    if b.offset != 0 {
        sint32::encode(1, &b.offset, buf);
    }
    uint64::encode_packed(2, &b.counts, buf);
}

fn exponential_len(plan: &Plan, e: &ExponentialState) -> usize {
    TIMES_LEN
        + summary_len(plan, e.count)
        + if e.scale == 0 {
            0
        } else {
            sint32::encoded_len(6, &e.scale)
        }
        + if e.zero_count == 0 { 0 } else { 9 }
        + delimited_len(8, buckets_len(&e.positive))
        + delimited_len(9, buckets_len(&e.negative))
}

fn write_exponential(plan: &Plan, e: &ExponentialState, buf: &mut Vec<u8>) {
    let (min_max, sum) = histogram_options(plan);
    fixed64::encode(4, &e.count, buf);
    if sum {
        double::encode(5, &e.sum, buf);
    }
    if e.scale != 0 {
        sint32::encode(6, &e.scale, buf);
    }
    if e.zero_count != 0 {
        fixed64::encode(7, &e.zero_count, buf);
    }
    write_buckets(8, &e.positive, buf);
    write_buckets(9, &e.negative, buf);
    if min_max && e.count > 0 {
        double::encode(12, &e.min, buf);
        double::encode(13, &e.max, buf);
    }
}
