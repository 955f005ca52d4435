//! Temporality and aggregation per instrument kind, as in OpenTelemetry-Go's
//! `otlpmetric.Client` and the OTLP metrics exporter specification.

use std::sync::Arc;

use crate::error::{Error, Result};

/// The instrument kinds of the OpenTelemetry metrics API; numbers as in the C contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InstrumentKind {
    /// Synchronous monotonic counter.
    Counter = 1,
    /// Synchronous up-down counter.
    UpDownCounter = 2,
    /// Synchronous histogram.
    Histogram = 3,
    /// Synchronous gauge.
    Gauge = 4,
    /// Asynchronous monotonic counter.
    ObservableCounter = 5,
    /// Asynchronous up-down counter.
    ObservableUpDownCounter = 6,
    /// Asynchronous gauge.
    ObservableGauge = 7,
}

impl InstrumentKind {
    /// Every kind, in numeric order.
    pub const ALL: [InstrumentKind; 7] = [
        InstrumentKind::Counter,
        InstrumentKind::UpDownCounter,
        InstrumentKind::Histogram,
        InstrumentKind::Gauge,
        InstrumentKind::ObservableCounter,
        InstrumentKind::ObservableUpDownCounter,
        InstrumentKind::ObservableGauge,
    ];

    /// The kind with number `value`, if there is one.
    pub fn from_i32(value: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| *kind as i32 == value)
    }

    /// The kind's name as the C header spells it (without prefix).
    pub fn name(self) -> &'static str {
        match self {
            InstrumentKind::Counter => "COUNTER",
            InstrumentKind::UpDownCounter => "UP_DOWN_COUNTER",
            InstrumentKind::Histogram => "HISTOGRAM",
            InstrumentKind::Gauge => "GAUGE",
            InstrumentKind::ObservableCounter => "OBSERVABLE_COUNTER",
            InstrumentKind::ObservableUpDownCounter => "OBSERVABLE_UP_DOWN_COUNTER",
            InstrumentKind::ObservableGauge => "OBSERVABLE_GAUGE",
        }
    }

    fn index(self) -> usize {
        self as usize - 1
    }
}

/// Aggregation temporality; the same numbers as OTLP's `AggregationTemporality`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Temporality {
    /// Each point covers the time since the previous export.
    Delta = 1,
    /// Each point covers the time since the start.
    Cumulative = 2,
}

impl Temporality {
    /// The temporality with number `value`, if there is one.
    pub fn from_i32(value: i32) -> Option<Self> {
        match value {
            1 => Some(Temporality::Delta),
            2 => Some(Temporality::Cumulative),
            _ => None,
        }
    }
}

/// The spec's `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TemporalityPreference {
    /// Cumulative for every kind.
    #[default]
    Cumulative,
    /// Delta for counters and histograms, cumulative for up-down counters.
    Delta,
    /// Delta for synchronous counters and histograms only.
    LowMemory,
}

impl TemporalityPreference {
    /// Parses the environment value (case-insensitive).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "cumulative" => Some(Self::Cumulative),
            "delta" => Some(Self::Delta),
            "lowmemory" => Some(Self::LowMemory),
            _ => None,
        }
    }

    /// The temporality this preset gives `kind`.
    pub fn temporality(self, kind: InstrumentKind) -> Temporality {
        use InstrumentKind::*;
        match (self, kind) {
            (Self::Cumulative, _) => Temporality::Cumulative,
            (Self::Delta, Counter | ObservableCounter | Histogram) => Temporality::Delta,
            (Self::LowMemory, Counter | Histogram) => Temporality::Delta,
            _ => Temporality::Cumulative,
        }
    }
}

/// The default bucket boundaries of the OpenTelemetry metrics SDK.
pub const DEFAULT_BOUNDARIES: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// The default `max_size` of a base-2 exponential histogram.
pub const DEFAULT_EXPONENTIAL_MAX_SIZE: i32 = 160;
/// The default `max_scale` of a base-2 exponential histogram.
pub const DEFAULT_EXPONENTIAL_MAX_SCALE: i32 = 20;

/// The aggregations of the OpenTelemetry metrics SDK.
#[derive(Clone, Debug, PartialEq)]
pub enum Aggregation {
    /// Measurements are dropped.
    Drop,
    /// Arithmetic sum.
    Sum,
    /// The last measurement.
    LastValue,
    /// A histogram with explicit bucket boundaries.
    ExplicitBucketHistogram {
        /// Strictly increasing, finite; empty means one bucket.
        boundaries: Vec<f64>,
        /// Whether min and max are recorded.
        record_min_max: bool,
    },
    /// A base-2 exponential histogram.
    Base2ExponentialHistogram {
        /// Maximum number of buckets, at least 2.
        max_size: i32,
        /// Maximum scale, -10 to 20.
        max_scale: i32,
        /// Whether min and max are recorded.
        record_min_max: bool,
    },
}

/// The numbers of the aggregation kinds in the C contract.
impl Aggregation {
    /// `OTLPMETRIC_AGGREGATION_*` number of this aggregation.
    pub fn kind_number(&self) -> i32 {
        match self {
            Aggregation::Drop => 1,
            Aggregation::Sum => 2,
            Aggregation::LastValue => 3,
            Aggregation::ExplicitBucketHistogram { .. } => 4,
            Aggregation::Base2ExponentialHistogram { .. } => 5,
        }
    }

    /// The SDK's default explicit bucket histogram.
    pub fn default_histogram() -> Self {
        Aggregation::ExplicitBucketHistogram {
            boundaries: DEFAULT_BOUNDARIES.to_vec(),
            record_min_max: true,
        }
    }

    /// The default base-2 exponential histogram.
    pub fn default_exponential_histogram() -> Self {
        Aggregation::Base2ExponentialHistogram {
            max_size: DEFAULT_EXPONENTIAL_MAX_SIZE,
            max_scale: DEFAULT_EXPONENTIAL_MAX_SCALE,
            record_min_max: true,
        }
    }

    /// Checks that this aggregation is well formed and fits `kind` (as OpenTelemetry-Go
    /// decides); the message names the kind and the fault.
    pub fn validate_for(&self, kind: InstrumentKind) -> Result<()> {
        use InstrumentKind::*;
        let fits = match self {
            Aggregation::Drop => true,
            Aggregation::Sum => matches!(
                kind,
                Counter | UpDownCounter | ObservableCounter | ObservableUpDownCounter | Histogram
            ),
            Aggregation::LastValue => matches!(kind, Gauge | ObservableGauge),
            Aggregation::ExplicitBucketHistogram { .. }
            | Aggregation::Base2ExponentialHistogram { .. } => {
                matches!(kind, Counter | UpDownCounter | Histogram | Gauge)
            }
        };
        let fault = |what: String| {
            Error::invalid(format!(
                "aggregation selector: invalid aggregation for instrument kind {}: {what}",
                kind.name()
            ))
        };
        if !fits {
            return Err(fault(format!(
                "aggregation kind {} does not fit this instrument kind",
                self.kind_number()
            )));
        }
        match self {
            Aggregation::ExplicitBucketHistogram { boundaries, .. } => {
                if let Some(i) = boundaries.iter().position(|b| !b.is_finite()) {
                    return Err(fault(format!("boundary {i} is not finite")));
                }
                if let Some(i) = boundaries.windows(2).position(|w| w[0] >= w[1]) {
                    return Err(fault(format!(
                        "boundaries are not strictly increasing at index {}",
                        i + 1
                    )));
                }
            }
            Aggregation::Base2ExponentialHistogram {
                max_size,
                max_scale,
                ..
            } => {
                if *max_size < 2 {
                    return Err(fault(format!("max_size {max_size} is below 2")));
                }
                if !(-10..=20).contains(max_scale) {
                    return Err(fault(format!("max_scale {max_scale} is outside -10..20")));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The spec's `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HistogramPreference {
    /// `explicit_bucket_histogram`
    #[default]
    ExplicitBucket,
    /// `base2_exponential_bucket_histogram`
    Base2Exponential,
}

impl HistogramPreference {
    /// Parses the environment value (case-insensitive).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "explicit_bucket_histogram" => Some(Self::ExplicitBucket),
            "base2_exponential_bucket_histogram" => Some(Self::Base2Exponential),
            _ => None,
        }
    }
}

/// The default aggregation of `kind`, with the histogram preference applied.
pub fn default_aggregation(kind: InstrumentKind, histogram: HistogramPreference) -> Aggregation {
    use InstrumentKind::*;
    match kind {
        Counter | UpDownCounter | ObservableCounter | ObservableUpDownCounter => Aggregation::Sum,
        Gauge | ObservableGauge => Aggregation::LastValue,
        Histogram => match histogram {
            HistogramPreference::ExplicitBucket => Aggregation::default_histogram(),
            HistogramPreference::Base2Exponential => Aggregation::default_exponential_histogram(),
        },
    }
}

/// A temporality selector: a pure function of the kind. An `Err` is an invalid answer.
pub type TemporalitySelector = Arc<dyn Fn(InstrumentKind) -> Result<Temporality> + Send + Sync>;

/// An aggregation selector: given the kind and its default, the aggregation wanted.
pub type AggregationSelector =
    Arc<dyn Fn(InstrumentKind, &Aggregation) -> Result<Aggregation> + Send + Sync>;

/// The answers of both selectors for every kind, fixed for an exporter's life.
#[derive(Clone, Debug, PartialEq)]
pub struct Selections {
    temporality: [Temporality; 7],
    aggregation: [Aggregation; 7],
}

impl Selections {
    /// Consults each selector once per kind (or the defaults) and checks the answers.
    pub fn resolve(
        preference: TemporalityPreference,
        histogram: HistogramPreference,
        temporality_selector: Option<&TemporalitySelector>,
        aggregation_selector: Option<&AggregationSelector>,
    ) -> Result<Self> {
        let mut temporality = [Temporality::Cumulative; 7];
        let mut aggregation: [Aggregation; 7] = std::array::from_fn(|_| Aggregation::Drop);
        for kind in InstrumentKind::ALL {
            temporality[kind.index()] = match temporality_selector {
                Some(select) => select(kind).map_err(|e| {
                    Error::invalid(format!(
                        "temporality selector: invalid answer for instrument kind {}: {}",
                        kind.name(),
                        e.message()
                    ))
                })?,
                None => preference.temporality(kind),
            };
            let default = default_aggregation(kind, histogram);
            let chosen = match aggregation_selector {
                Some(select) => select(kind, &default).map_err(|e| {
                    Error::invalid(format!(
                        "aggregation selector: invalid answer for instrument kind {}: {}",
                        kind.name(),
                        e.message()
                    ))
                })?,
                None => default,
            };
            chosen.validate_for(kind)?;
            aggregation[kind.index()] = chosen;
        }
        Ok(Selections {
            temporality,
            aggregation,
        })
    }

    /// The temporality chosen for `kind`.
    pub fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.temporality[kind.index()]
    }

    /// The aggregation chosen for `kind`.
    pub fn aggregation(&self, kind: InstrumentKind) -> &Aggregation {
        &self.aggregation[kind.index()]
    }
}

impl Default for Selections {
    fn default() -> Self {
        Self::resolve(
            TemporalityPreference::default(),
            HistogramPreference::default(),
            None,
            None,
        )
        .expect("the defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstrumentKind::*;

    #[test]
    fn defaults_follow_the_sdk() {
        let s = Selections::default();
        for kind in InstrumentKind::ALL {
            assert_eq!(s.temporality(kind), Temporality::Cumulative);
        }
        assert_eq!(s.aggregation(Counter), &Aggregation::Sum);
        assert_eq!(s.aggregation(ObservableUpDownCounter), &Aggregation::Sum);
        assert_eq!(s.aggregation(Gauge), &Aggregation::LastValue);
        assert_eq!(s.aggregation(ObservableGauge), &Aggregation::LastValue);
        assert_eq!(s.aggregation(Histogram), &Aggregation::default_histogram());
    }

    #[test]
    fn presets_map_as_the_spec_says() {
        let d = TemporalityPreference::parse("DELTA").unwrap();
        assert_eq!(d.temporality(Counter), Temporality::Delta);
        assert_eq!(d.temporality(ObservableCounter), Temporality::Delta);
        assert_eq!(d.temporality(Histogram), Temporality::Delta);
        assert_eq!(d.temporality(UpDownCounter), Temporality::Cumulative);
        assert_eq!(
            d.temporality(ObservableUpDownCounter),
            Temporality::Cumulative
        );
        let l = TemporalityPreference::parse("LowMemory").unwrap();
        assert_eq!(l.temporality(Counter), Temporality::Delta);
        assert_eq!(l.temporality(Histogram), Temporality::Delta);
        assert_eq!(l.temporality(ObservableCounter), Temporality::Cumulative);
        assert_eq!(l.temporality(UpDownCounter), Temporality::Cumulative);
        assert_eq!(TemporalityPreference::parse("weekly"), None);
    }

    #[test]
    fn exponential_preference_changes_only_histograms() {
        let s = Selections::resolve(
            TemporalityPreference::Cumulative,
            HistogramPreference::parse("base2_exponential_bucket_histogram").unwrap(),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            s.aggregation(Histogram),
            &Aggregation::default_exponential_histogram()
        );
        assert_eq!(s.aggregation(Counter), &Aggregation::Sum);
    }

    #[test]
    fn fit_rules_match_go() {
        assert!(Aggregation::Drop.validate_for(ObservableGauge).is_ok());
        assert!(Aggregation::Sum.validate_for(Histogram).is_ok());
        assert!(Aggregation::Sum.validate_for(Gauge).is_err());
        assert!(Aggregation::LastValue.validate_for(Counter).is_err());
        assert!(Aggregation::default_histogram().validate_for(Gauge).is_ok());
        assert!(Aggregation::default_histogram()
            .validate_for(ObservableCounter)
            .is_err());
        let err = Aggregation::LastValue.validate_for(Counter).unwrap_err();
        assert!(err.message().contains("COUNTER"), "{err}");
    }

    #[test]
    fn boundaries_and_exponential_limits_are_checked() {
        let h = |b: Vec<f64>| Aggregation::ExplicitBucketHistogram {
            boundaries: b,
            record_min_max: false,
        };
        assert!(h(vec![]).validate_for(Histogram).is_ok());
        assert!(h(vec![1.0, 1.0]).validate_for(Histogram).is_err());
        assert!(h(vec![2.0, 1.0]).validate_for(Histogram).is_err());
        assert!(h(vec![f64::NAN]).validate_for(Histogram).is_err());
        assert!(h(vec![1.0, f64::INFINITY]).validate_for(Histogram).is_err());
        let e = |size, scale| Aggregation::Base2ExponentialHistogram {
            max_size: size,
            max_scale: scale,
            record_min_max: true,
        };
        assert!(e(2, -10).validate_for(Histogram).is_ok());
        assert!(e(1, 0).validate_for(Histogram).is_err());
        assert!(e(160, 21).validate_for(Histogram).is_err());
        assert!(e(160, -11).validate_for(Histogram).is_err());
    }

    #[test]
    fn selector_errors_name_the_kind() {
        let bad: TemporalitySelector = Arc::new(|kind| {
            if kind == Gauge {
                Err(Error::invalid("temporality 7 is unknown"))
            } else {
                Ok(Temporality::Delta)
            }
        });
        let err = Selections::resolve(
            TemporalityPreference::Cumulative,
            HistogramPreference::ExplicitBucket,
            Some(&bad),
            None,
        )
        .unwrap_err();
        assert!(err.message().contains("GAUGE"));
        assert!(err.message().contains("temporality 7"));
    }
}
