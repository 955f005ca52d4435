//! The aggregations of the metrics SDK specification, as plain state with no locking: the
//! series that owns one decides how it is shared.

use std::sync::Arc;

use crate::selectors::{Aggregation, InstrumentKind};

/// A measurement's value, in the instrument's number type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// From an int64 instrument.
    I64(i64),
    /// From a double instrument.
    F64(f64),
}

impl Number {
    /// The value as a double (histograms keep doubles).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::I64(i) => i as f64,
            Number::F64(f) => f,
        }
    }

    /// Whether it can be recorded at all: NaN and infinities cannot.
    pub fn is_finite(self) -> bool {
        match self {
            Number::I64(_) => true,
            Number::F64(f) => f.is_finite(),
        }
    }

    /// `self - other`, wrapping for integers (a cumulative counter that wrapped still
    /// yields its true increase).
    pub fn minus(self, other: Number) -> Number {
        match (self, other) {
            (Number::I64(a), Number::I64(b)) => Number::I64(a.wrapping_sub(b)),
            (a, b) => Number::F64(a.as_f64() - b.as_f64()),
        }
    }

    /// `self + other`, wrapping for integers.
    pub fn plus(self, other: Number) -> Number {
        match (self, other) {
            (Number::I64(a), Number::I64(b)) => Number::I64(a.wrapping_add(b)),
            (a, b) => Number::F64(a.as_f64() + b.as_f64()),
        }
    }
}

/// How an instrument aggregates, resolved once from its kind and the selected aggregation.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Nothing is kept or exported.
    Drop,
    /// An arithmetic sum.
    Sum {
        /// Counters (and histograms, whose values the API defines as non-negative).
        monotonic: bool,
    },
    /// The last value.
    LastValue,
    /// Explicit buckets.
    Histogram {
        /// Strictly increasing upper bounds (inclusive); one more bucket than bounds.
        boundaries: Arc<[f64]>,
        /// Whether min and max are kept.
        record_min_max: bool,
        /// Whether the sum is exported (only where values cannot be negative).
        record_sum: bool,
    },
    /// Base-2 exponential buckets.
    Exponential {
        /// Most buckets per range (positive or negative), at least 2.
        max_size: u32,
        /// Scale a new histogram starts at, -10 to 20.
        max_scale: i32,
        /// Whether min and max are kept.
        record_min_max: bool,
        /// Whether the sum is exported (only where values cannot be negative).
        record_sum: bool,
    },
}

impl Plan {
    /// The plan for `kind` with the selected `aggregation` (already checked to fit it).
    pub fn new(kind: InstrumentKind, aggregation: &Aggregation) -> Plan {
        use InstrumentKind::*;
        // The specification: the sum of a histogram is not collected for instruments that
        // can record negative values; counters and histograms cannot.
        let record_sum = matches!(kind, Counter | Histogram);
        match aggregation {
            Aggregation::Drop => Plan::Drop,
            Aggregation::Sum => Plan::Sum {
                monotonic: matches!(kind, Counter | ObservableCounter | Histogram),
            },
            Aggregation::LastValue => Plan::LastValue,
            Aggregation::ExplicitBucketHistogram {
                boundaries,
                record_min_max,
            } => Plan::Histogram {
                boundaries: boundaries.as_slice().into(),
                record_min_max: *record_min_max,
                record_sum,
            },
            Aggregation::Base2ExponentialHistogram {
                max_size,
                max_scale,
                record_min_max,
            } => Plan::Exponential {
                max_size: (*max_size).max(2) as u32,
                max_scale: (*max_scale).clamp(MIN_SCALE, MAX_SCALE),
                record_min_max: *record_min_max,
                record_sum,
            },
        }
    }

    /// A new, empty aggregator of this plan; `None` for [`Plan::Drop`].
    pub fn aggregator(&self, zero: Number) -> Option<Aggregator> {
        Some(match self {
            Plan::Drop => return None,
            Plan::Sum { .. } => Aggregator::Sum(zero),
            Plan::LastValue => Aggregator::LastValue(zero),
            Plan::Histogram { boundaries, .. } => {
                Aggregator::Histogram(Box::new(HistogramState::new(boundaries.len() + 1)))
            }
            Plan::Exponential { max_scale, .. } => {
                Aggregator::Exponential(Box::new(ExponentialState::new(*max_scale)))
            }
        })
    }
}

/// The state of one series. The histograms are boxed: most series are sums, and every
/// series would otherwise be as large as the largest state.
#[derive(Clone, Debug, PartialEq)]
pub enum Aggregator {
    /// The sum so far.
    Sum(Number),
    /// The last value recorded.
    LastValue(Number),
    /// Explicit-bucket histogram.
    Histogram(Box<HistogramState>),
    /// Base-2 exponential histogram.
    Exponential(Box<ExponentialState>),
}

impl Aggregator {
    /// Adds one measurement (finite, already checked by the instrument).
    pub fn update(&mut self, plan: &Plan, value: Number) {
        match (self, plan) {
            (Aggregator::Sum(sum), _) => *sum = sum.plus(value),
            (Aggregator::LastValue(last), _) => *last = value,
            (Aggregator::Histogram(state), Plan::Histogram { boundaries, .. }) => {
                state.record(boundaries, value.as_f64())
            }
            (Aggregator::Exponential(state), Plan::Exponential { max_size, .. }) => {
                state.record(*max_size, value.as_f64())
            }
            // An aggregator is only ever made from its instrument's plan.
            _ => {}
        }
    }

    /// Back to empty, keeping the buffers, so that delta series that keep recording do not
    /// allocate again after each collection.
    pub fn reset(&mut self, plan: &Plan) {
        match self {
            Aggregator::Sum(sum) | Aggregator::LastValue(sum) => {
                *sum = match sum {
                    Number::I64(_) => Number::I64(0),
                    Number::F64(_) => Number::F64(0.0),
                }
            }
            Aggregator::Histogram(state) => state.reset(),
            Aggregator::Exponential(state) => {
                let max_scale = match plan {
                    Plan::Exponential { max_scale, .. } => *max_scale,
                    _ => MAX_SCALE,
                };
                state.reset(max_scale)
            }
        }
    }
}

/// An explicit-bucket histogram.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramState {
    /// Count per bucket; bucket `i` holds `boundaries[i-1] < v <= boundaries[i]`.
    pub counts: Box<[u64]>,
    /// Number of measurements.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Smallest (meaningless when `count` is 0).
    pub min: f64,
    /// Largest (meaningless when `count` is 0).
    pub max: f64,
}

impl HistogramState {
    fn new(buckets: usize) -> Self {
        HistogramState {
            counts: vec![0; buckets].into_boxed_slice(),
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    fn record(&mut self, boundaries: &[f64], value: f64) {
        let bucket = boundaries.partition_point(|&bound| bound < value);
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
        }
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    fn reset(&mut self) {
        self.counts.fill(0);
        self.count = 0;
        self.sum = 0.0;
        self.min = f64::INFINITY;
        self.max = f64::NEG_INFINITY;
    }
}

/// The lowest scale of the specification's base-2 exponential histogram.
pub(crate) const MIN_SCALE: i32 = -10;
/// The highest scale.
pub(crate) const MAX_SCALE: i32 = 20;

/// One range (positive or negative) of an exponential histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExponentialBuckets {
    /// Index of the first bucket in `counts`.
    pub offset: i32,
    /// Consecutive bucket counts from `offset`.
    pub counts: Vec<u64>,
}

impl ExponentialBuckets {
    /// The index range these buckets would span with `index` included, as (low, high).
    fn span_with(&self, index: i32) -> (i64, i64) {
        let start = self.offset as i64;
        let end = start + self.counts.len() as i64 - 1;
        (start.min(index as i64), end.max(index as i64))
    }

    fn increment(&mut self, index: i32) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(1);
            return;
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let position = (index - self.offset) as usize;
        if position >= self.counts.len() {
            self.counts.resize(position + 1, 0);
        }
        self.counts[position] += 1;
    }

    /// Merges each run of `2^by` buckets into one, as the scale drops by `by`.
    fn downscale(&mut self, by: u32) {
        if by == 0 || self.counts.is_empty() {
            return;
        }
        let new_offset = self.offset >> by;
        // A bucket's new position is never after its old one, and positions only grow with
        // the old index, so one forward pass merges in place.
        for i in 0..self.counts.len() {
            let target = (((self.offset as i64 + i as i64) >> by) - new_offset as i64) as usize;
            if target != i {
                let count = std::mem::take(&mut self.counts[i]);
                self.counts[target] += count;
            }
        }
        let last = (((self.offset as i64 + self.counts.len() as i64 - 1) >> by) - new_offset as i64)
            as usize;
        self.counts.truncate(last + 1);
        self.offset = new_offset;
    }
}

/// A base-2 exponential histogram, as the metrics SDK specification describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialState {
    /// Number of measurements.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Smallest (meaningless when `count` is 0).
    pub min: f64,
    /// Largest (meaningless when `count` is 0).
    pub max: f64,
    /// Measurements equal to zero.
    pub zero_count: u64,
    /// Current scale: bucket `i` holds `base^i < |v| <= base^(i+1)`, `base = 2^(2^-scale)`.
    pub scale: i32,
    /// Buckets of positive measurements.
    pub positive: ExponentialBuckets,
    /// Buckets of negative measurements (by absolute value).
    pub negative: ExponentialBuckets,
}

impl ExponentialState {
    fn new(max_scale: i32) -> Self {
        ExponentialState {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            zero_count: 0,
            scale: max_scale,
            positive: ExponentialBuckets::default(),
            negative: ExponentialBuckets::default(),
        }
    }

    fn reset(&mut self, max_scale: i32) {
        self.count = 0;
        self.sum = 0.0;
        self.min = f64::INFINITY;
        self.max = f64::NEG_INFINITY;
        self.zero_count = 0;
        self.scale = max_scale;
        self.positive.counts.clear();
        self.positive.offset = 0;
        self.negative.counts.clear();
        self.negative.offset = 0;
    }

    fn record(&mut self, max_size: u32, value: f64) {
        let magnitude = value.abs();
        if magnitude != 0.0 {
            let mut index = bucket_index(magnitude, self.scale);
            let buckets = if value > 0.0 {
                &self.positive
            } else {
                &self.negative
            };
            let reduce = scale_reduction(buckets, index, max_size);
            if reduce > 0 {
                if self.scale - reduce < MIN_SCALE {
                    // Only with max_size 2 and values at both ends of the double range
                    // (three buckets apart even at the lowest scale): the measurement is
                    // dropped whole rather than put in a wrong bucket.
                    return;
                }
                self.scale -= reduce;
                self.positive.downscale(reduce as u32);
                self.negative.downscale(reduce as u32);
                index = bucket_index(magnitude, self.scale);
            }
            if value > 0.0 {
                self.positive.increment(index)
            } else {
                self.negative.increment(index)
            }
        } else {
            self.zero_count += 1;
        }
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }
}

/// How much the scale must drop for `buckets` to hold `index` within `max_size` buckets.
fn scale_reduction(buckets: &ExponentialBuckets, index: i32, max_size: u32) -> i32 {
    if buckets.counts.is_empty() {
        return 0;
    }
    let (mut low, mut high) = buckets.span_with(index);
    let mut reduce = 0;
    while high - low >= max_size as i64 {
        low >>= 1;
        high >>= 1;
        reduce += 1;
    }
    reduce
}

/// `(fraction, exponent)` with `value = fraction * 2^exponent` and `fraction` in [0.5, 1),
/// for a positive finite `value` (C's `frexp`).
fn frexp(value: f64) -> (f64, i32) {
    const EXPONENT_MASK: u64 = 0x7ff << 52;
    let bits = value.to_bits();
    let biased = ((bits & EXPONENT_MASK) >> 52) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        let (fraction, exponent) = frexp(value * f64::from_bits((1023 + 64) << 52));
        return (fraction, exponent - 64);
    }
    let fraction = f64::from_bits((bits & !EXPONENT_MASK) | (1022 << 52));
    (fraction, biased - 1022)
}

/// The bucket of a positive finite `magnitude` at `scale` (upper bounds inclusive), as the
/// specification's exponent and logarithm mappings define it.
pub fn bucket_index(magnitude: f64, scale: i32) -> i32 {
    let (fraction, exponent) = frexp(magnitude);
    // An exact power of two, 2^(exponent-1), is the upper bound of the bucket below.
    let power_of_two = fraction == 0.5;
    if scale <= 0 {
        let correction = if power_of_two { 2 } else { 1 };
        return (exponent - correction) >> -scale;
    }
    if power_of_two {
        return ((exponent - 1) << scale) - 1;
    }
    let scale_factor = std::f64::consts::LOG2_E * f64::from(1u32 << scale);
    (exponent << scale) + (fraction.ln() * scale_factor) as i32 - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(boundaries: &[f64]) -> (Plan, Aggregator) {
        let plan = Plan::new(
            InstrumentKind::Histogram,
            &Aggregation::ExplicitBucketHistogram {
                boundaries: boundaries.to_vec(),
                record_min_max: true,
            },
        );
        let aggregator = plan.aggregator(Number::F64(0.0)).unwrap();
        (plan, aggregator)
    }

    fn exponential(max_size: i32, max_scale: i32) -> (Plan, Aggregator) {
        let plan = Plan::new(
            InstrumentKind::Histogram,
            &Aggregation::Base2ExponentialHistogram {
                max_size,
                max_scale,
                record_min_max: true,
            },
        );
        let aggregator = plan.aggregator(Number::F64(0.0)).unwrap();
        (plan, aggregator)
    }

    fn expo(aggregator: &Aggregator) -> &ExponentialState {
        match aggregator {
            Aggregator::Exponential(state) => state,
            other => panic!("not exponential: {other:?}"),
        }
    }

    #[test]
    fn sums_keep_their_number_type() {
        let plan = Plan::new(InstrumentKind::Counter, &Aggregation::Sum);
        assert_eq!(plan, Plan::Sum { monotonic: true });
        let mut a = plan.aggregator(Number::I64(0)).unwrap();
        a.update(&plan, Number::I64(5));
        a.update(&plan, Number::I64(7));
        assert_eq!(a, Aggregator::Sum(Number::I64(12)));
        let mut f = plan.aggregator(Number::F64(0.0)).unwrap();
        f.update(&plan, Number::F64(0.25));
        f.update(&plan, Number::F64(0.5));
        assert_eq!(f, Aggregator::Sum(Number::F64(0.75)));
        f.reset(&plan);
        assert_eq!(f, Aggregator::Sum(Number::F64(0.0)));
        assert_eq!(
            Plan::new(InstrumentKind::UpDownCounter, &Aggregation::Sum),
            Plan::Sum { monotonic: false }
        );
        assert_eq!(
            Plan::new(InstrumentKind::ObservableCounter, &Aggregation::Sum),
            Plan::Sum { monotonic: true }
        );
    }

    #[test]
    fn last_value_keeps_the_last() {
        let plan = Plan::new(InstrumentKind::Gauge, &Aggregation::LastValue);
        let mut a = plan.aggregator(Number::I64(0)).unwrap();
        a.update(&plan, Number::I64(5));
        a.update(&plan, Number::I64(-3));
        assert_eq!(a, Aggregator::LastValue(Number::I64(-3)));
    }

    #[test]
    fn explicit_buckets_have_inclusive_upper_bounds() {
        let (plan, mut a) = histogram(&[0.0, 5.0, 10.0]);
        for v in [-1.0, 0.0, 0.5, 5.0, 5.01, 10.0, 11.0, 1e9] {
            a.update(&plan, Number::F64(v));
        }
        let Aggregator::Histogram(state) = &a else {
            panic!()
        };
        assert_eq!(&*state.counts, &[2, 2, 2, 2]);
        assert_eq!(state.count, 8);
        assert_eq!(state.min, -1.0);
        assert_eq!(state.max, 1e9);
        assert_eq!(state.sum, -1.0 + 0.5 + 5.0 + 5.01 + 10.0 + 11.0 + 1e9);
        a.reset(&plan);
        let Aggregator::Histogram(state) = &a else {
            panic!()
        };
        assert_eq!(&*state.counts, &[0, 0, 0, 0]);
        assert_eq!(state.count, 0);
    }

    #[test]
    fn no_boundaries_is_one_bucket() {
        let (plan, mut a) = histogram(&[]);
        a.update(&plan, Number::I64(3));
        a.update(&plan, Number::I64(-3));
        let Aggregator::Histogram(state) = &a else {
            panic!()
        };
        assert_eq!(&*state.counts, &[2]);
    }

    #[test]
    fn sum_of_histograms_only_where_values_cannot_be_negative() {
        let h = Aggregation::default_histogram();
        let record_sum = |kind| match Plan::new(kind, &h) {
            Plan::Histogram { record_sum, .. } => record_sum,
            _ => unreachable!(),
        };
        assert!(record_sum(InstrumentKind::Histogram));
        assert!(record_sum(InstrumentKind::Counter));
        assert!(!record_sum(InstrumentKind::UpDownCounter));
        assert!(!record_sum(InstrumentKind::Gauge));
    }

    #[test]
    fn bucket_index_follows_the_specification() {
        // Scale 0: bucket i is (2^i, 2^(i+1)].
        assert_eq!(bucket_index(1.0, 0), -1);
        assert_eq!(bucket_index(1.5, 0), 0);
        assert_eq!(bucket_index(2.0, 0), 0);
        assert_eq!(bucket_index(2.1, 0), 1);
        assert_eq!(bucket_index(4.0, 0), 1);
        assert_eq!(bucket_index(0.5, 0), -2);
        // Negative scale: 4^i buckets at scale -1.
        assert_eq!(bucket_index(4.0, -1), 0);
        assert_eq!(bucket_index(5.0, -1), 1);
        assert_eq!(bucket_index(16.0, -1), 1);
        assert_eq!(bucket_index(17.0, -1), 2);
        // Positive scale: base sqrt(2) at scale 1.
        assert_eq!(bucket_index(2.0, 1), 1);
        assert_eq!(bucket_index(1.5, 1), 1); // (sqrt2, 2]
        assert_eq!(bucket_index(1.4, 1), 0); // (1, sqrt2]
        assert_eq!(bucket_index(1.0, 1), -1);
        assert_eq!(bucket_index(1024.0, 20), (10 << 20) - 1);
        // Extremes stay in range at every scale.
        for scale in MIN_SCALE..=MAX_SCALE {
            let top = bucket_index(f64::MAX, scale);
            let bottom = bucket_index(f64::from_bits(1), scale);
            assert!(bottom < top, "scale {scale}");
        }
        assert_eq!(bucket_index(f64::MAX, 0), 1023);
        assert_eq!(bucket_index(f64::from_bits(1), 0), -1075);
    }

    #[test]
    fn frexp_matches_c() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(3.0), (0.75, 2));
        assert_eq!(frexp(0.1).1, -3);
        assert_eq!(frexp(f64::from_bits(1)), (0.5, -1073));
        assert_eq!(frexp(f64::MAX).1, 1024);
    }

    #[test]
    fn exponential_records_positive_negative_and_zero() {
        let (plan, mut a) = exponential(160, 20);
        for v in [1.0, 2.0, 0.0, -1.0, -1.0, 0.0] {
            a.update(&plan, Number::F64(v));
        }
        let s = expo(&a);
        assert_eq!(s.count, 6);
        assert_eq!(s.zero_count, 2);
        assert_eq!(s.sum, 1.0);
        assert_eq!((s.min, s.max), (-1.0, 2.0));
        // 1 and 2 are 2^20 buckets apart at scale 20; at scale 7 they are 128 apart, the
        // first scale where they fit in 160 buckets.
        assert_eq!(s.scale, 7);
        assert_eq!(s.positive.offset, -1);
        assert_eq!(s.positive.counts.len(), 129);
        assert_eq!(s.positive.counts[0], 1);
        assert_eq!(s.positive.counts[128], 1);
        assert_eq!(s.negative.offset, -1);
        assert_eq!(s.negative.counts, vec![2]);
    }

    #[test]
    fn exponential_downscales_as_the_specification_example() {
        // 1, 2 and 4 at scale 0 are buckets -1, 0 and 1: three do not fit in two.
        let (plan, mut a) = exponential(2, 0);
        for v in [1.0, 2.0, 4.0] {
            a.update(&plan, Number::F64(v));
        }
        let s = expo(&a);
        // Scale -1: buckets of 4^i: 1 -> -1 (1/4, 1], 2 and 4 -> 0 (1, 4].
        assert_eq!(s.scale, -1);
        assert_eq!(s.positive.offset, -1);
        assert_eq!(s.positive.counts, vec![1, 2]);
    }

    #[test]
    fn exponential_downscale_merges_counts_and_keeps_totals() {
        let (plan, mut a) = exponential(4, 3);
        let values: Vec<f64> = (1..=40).map(|i| i as f64 * 0.37).collect();
        for &v in &values {
            a.update(&plan, Number::F64(v));
            a.update(&plan, Number::F64(-v * 3.0));
        }
        let s = expo(&a);
        assert!(s.positive.counts.len() <= 4 && s.negative.counts.len() <= 4);
        assert_eq!(s.positive.counts.iter().sum::<u64>(), 40);
        assert_eq!(s.negative.counts.iter().sum::<u64>(), 40);
        // Every value is in the bucket its index says at the final scale.
        let mut expected = vec![0u64; s.positive.counts.len()];
        for &v in &values {
            expected[(bucket_index(v, s.scale) - s.positive.offset) as usize] += 1;
        }
        assert_eq!(s.positive.counts, expected);
        let mut expected = vec![0u64; s.negative.counts.len()];
        for &v in &values {
            expected[(bucket_index(v * 3.0, s.scale) - s.negative.offset) as usize] += 1;
        }
        assert_eq!(s.negative.counts, expected);
    }

    /// (scale, zero count, positive offset, positive counts) after recording `values`.
    fn expo_after(max_size: i32, max_scale: i32, values: &[f64]) -> (i32, u64, i32, Vec<u64>) {
        let (plan, mut a) = exponential(max_size, max_scale);
        for &v in values {
            a.update(&plan, Number::F64(v));
        }
        let s = expo(&a);
        (
            s.scale,
            s.zero_count,
            s.positive.offset,
            s.positive.counts.clone(),
        )
    }

    #[test]
    fn exponential_agrees_with_the_python_sdk() {
        // Expected values as the OpenTelemetry Python SDK 1.45 (InMemoryMetricReader)
        // reports them for the same records, trailing zero buckets left out (it pads its
        // bucket arrays).
        let mut ones = vec![0; 129];
        ones[0] = 1;
        ones[128] = 1;
        assert_eq!(expo_after(160, 20, &[1.0, 2.0, 0.0, 0.0]), (7, 2, -1, ones));
        assert_eq!(expo_after(2, 0, &[1.0, 2.0, 4.0]), (-1, 0, -1, vec![1, 2]));
        assert_eq!(expo_after(4, 20, &[1.5]), (20, 0, 613377, vec![1]));
        assert_eq!(
            expo_after(4, 20, &[1.0, 2.0, 4.0, 0.0, 0.0, 1.5]),
            (0, 2, -1, vec![1, 2, 1])
        );
        let values: Vec<f64> = (1..=40).map(|i| i as f64 * 0.37).collect();
        assert_eq!(expo_after(4, 3, &values), (-1, 0, -1, vec![2, 8, 30]));
        assert_eq!(
            expo_after(10, 5, &[3.0, 5.0, 7.0, 100.0]),
            (0, 0, 1, vec![1, 2, 0, 0, 0, 1])
        );
        assert_eq!(
            expo_after(10, 5, &[3.0, 5.0, 7.0, 100.0, 1000.0, 0.001]),
            (-1, 0, -5, vec![1, 0, 0, 0, 0, 1, 2, 0, 1, 1])
        );
        assert_eq!(
            expo_after(10, 5, &[1000.0, 0.001]),
            (-1, 0, -5, vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        );
        let (scale, _, offset, counts) = expo_after(160, 20, &[0.1, 0.2, 1e-300, 1e300]);
        assert_eq!((scale, offset, counts.len()), (-4, -63, 126));
        assert_eq!((counts[0], counts[62], counts[125]), (1, 2, 1));
    }

    #[test]
    fn exponential_reset_returns_to_max_scale() {
        let (plan, mut a) = exponential(2, 5);
        a.update(&plan, Number::F64(1.0));
        a.update(&plan, Number::F64(1000.0));
        assert!(expo(&a).scale < 5);
        a.reset(&plan);
        let s = expo(&a);
        assert_eq!(s.scale, 5);
        assert_eq!(s.count, 0);
        assert!(s.positive.counts.is_empty());
    }

    #[test]
    fn downscale_of_negative_offsets() {
        // The Go SDK's example: offset -6, counts 3,1,2,...,10, by 2.
        let mut b = ExponentialBuckets {
            offset: -6,
            counts: vec![3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        };
        b.downscale(2);
        assert_eq!(b.offset, -2);
        assert_eq!(b.counts, vec![4, 14, 30, 10]);
    }

    #[test]
    fn extreme_values_in_two_buckets() {
        let (plan, mut a) = exponential(2, 20);
        for v in [f64::MAX, f64::from_bits(1), 1.0, f64::MIN_POSITIVE] {
            a.update(&plan, Number::F64(v));
        }
        let s = expo(&a);
        // The smallest subnormal and the largest double are three buckets apart even at
        // scale -10: it is dropped whole. 1.0 and MIN_POSITIVE share bucket -1 there.
        assert_eq!(s.scale, MIN_SCALE);
        assert_eq!(
            (s.positive.offset, s.positive.counts.clone()),
            (-1, vec![2, 1])
        );
        assert_eq!(s.count, 3);
        assert_eq!((s.min, s.max), (f64::MIN_POSITIVE, f64::MAX));
    }
}
