//! Instruments: their identity and rules, recording (synchronous, bound and observed) and
//! taking their points out at collection.
//!
//! Each synchronous instrument keeps its series in a map (by attribute-set hash) behind a
//! read-write lock. A series' sum or last value is one atomic word (recording on it is one
//! atomic operation: no lock, and what a bound counter costs); a histogram's state, whose
//! fields change together, is behind a mutex of its own. Recording takes the map's lock
//! for reading (shared by every recording thread) and holds it while it updates the
//! series, so collection can tell, under the write lock, that no recording is half done
//! when it forgets a stale delta series. Collection holds the read lock while it visits
//! the series, taking each one's state (and, for delta, resetting it) atomically or under
//! its mutex: a recording thread waits at most for one histogram's copy, or, when a thread
//! adds a series at that moment (the write lock waits for the visit, and new readers wait
//! for the writer), for the visit of that one instrument; never for callbacks, encoding
//! or the network. The write lock is taken only to add a series (a set never seen, which
//! allocates anyway) or to forget stale delta series.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use crate::error::{Error, ErrorKind, Result};
use crate::log::Logger;
use crate::metrics::aggregate::{Aggregator, Number, Plan};
use crate::metrics::attributes::{AttributeSet, KeyValue, Lookup};
use crate::metrics::lock;
use crate::selectors::{Aggregation, InstrumentKind, Selections, Temporality, DEFAULT_BOUNDARIES};

/// The number type an instrument records; numbers as in the C contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumberType {
    /// Signed 64-bit integers.
    I64 = 1,
    /// Doubles.
    F64 = 2,
}

impl NumberType {
    fn name(self) -> &'static str {
        match self {
            NumberType::I64 => "int64",
            NumberType::F64 => "double",
        }
    }

    fn zero(self) -> Number {
        match self {
            NumberType::I64 => Number::I64(0),
            NumberType::F64 => Number::F64(0.0),
        }
    }
}

/// What recording, registration and export get once the provider is shut down.
pub(crate) fn shut_down_error() -> Error {
    Error::new(
        ErrorKind::Shutdown,
        "the meter provider was already shut down",
    )
}

/// The default cardinality limit of the metrics SDK specification.
pub(crate) const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// What every instrument of a pipeline shares.
pub(crate) struct Shared {
    pub logger: Logger,
    pub selections: Selections,
    /// Most distinct attribute sets per instrument; further sets share one overflow
    /// series.
    pub cardinality_limit: usize,
    pub shut_down: AtomicBool,
}

impl Shared {
    pub fn new(logger: Logger, selections: Selections, cardinality_limit: usize) -> Self {
        Shared {
            logger,
            selections,
            cardinality_limit: cardinality_limit.max(1),
            shut_down: AtomicBool::new(false),
        }
    }
}

/// What makes an instrument itself: equal descriptors (name compared case-insensitively)
/// in one meter are one instrument.
#[derive(Clone, Debug)]
pub struct Descriptor {
    /// As first registered.
    pub name: Box<str>,
    /// Instrument kind.
    pub kind: InstrumentKind,
    /// Number type.
    pub number: NumberType,
    /// Unit (at most 63 ASCII characters).
    pub unit: Box<str>,
    /// Description.
    pub description: Box<str>,
    /// Bucket boundaries to use instead of the default ones when the selected aggregation
    /// is the default explicit-bucket histogram (the API's advisory parameter); not part
    /// of the identity.
    boundaries_advice: Option<Arc<[f64]>>,
}

impl Descriptor {
    /// A checked descriptor: the name must match `[A-Za-z][A-Za-z0-9_.\-/]{0,254}`, the unit
    /// be at most 63 ASCII characters.
    pub fn new(
        kind: InstrumentKind,
        number: NumberType,
        name: &str,
        unit: &str,
        description: &str,
    ) -> Result<Self> {
        check_name(name)?;
        check_unit(unit)?;
        Ok(Descriptor {
            name: name.into(),
            kind,
            number,
            unit: unit.into(),
            description: description.into(),
            boundaries_advice: None,
        })
    }

    /// The same descriptor advising these histogram bucket boundaries (strictly
    /// increasing and finite, as the caller guarantees).
    pub(crate) fn with_boundaries_advice(self, boundaries: &[f64]) -> Self {
        Descriptor {
            boundaries_advice: Some(boundaries.into()),
            ..self
        }
    }

    fn same_name(&self, other: &Descriptor) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
    }

    pub(crate) fn same_instrument(&self, other: &Descriptor) -> bool {
        self.same_name(other)
            && self.kind == other.kind
            && self.number == other.number
            && self.unit == other.unit
            && self.description == other.description
    }
}

impl fmt::Display for Descriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} (kind {}, {}, unit {:?}, description {:?})",
            self.name,
            self.kind.name(),
            self.number.name(),
            self.unit,
            self.description
        )
    }
}

fn check_name(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let fault = match bytes.first() {
        None => Some("is empty".to_string()),
        Some(b) if !b.is_ascii_alphabetic() => Some("must start with a letter".to_string()),
        _ if bytes.len() > 255 => Some(format!("is {} bytes long, over 255", bytes.len())),
        _ => bytes
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/')))
            .map(|i| {
                format!("has a character not allowed at byte {i} (allowed: A-Z a-z 0-9 _ . - /)")
            }),
    };
    match fault {
        Some(fault) => Err(Error::invalid(format!(
            "instrument name {} {fault}",
            shown(name)
        ))),
        None => Ok(()),
    }
}

/// `text` quoted for a message: whole when short, else its first 64 characters and "…",
/// so that a huge bad argument does not make a huge message.
fn shown(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{:?}…", &text[..end]),
        None => format!("{text:?}"),
    }
}

fn check_unit(unit: &str) -> Result<()> {
    if !unit.is_ascii() {
        return Err(Error::invalid(format!(
            "instrument unit {} is not ASCII",
            shown(unit)
        )));
    }
    if unit.len() > 63 {
        return Err(Error::invalid(format!(
            "instrument unit {} has {} characters, over 63",
            shown(unit),
            unit.len()
        )));
    }
    Ok(())
}

/// An observable instrument's callback: it observes through the [`Observer`] it is given.
pub type Callback = Box<dyn Fn(&mut Observer<'_>) + Send + Sync>;

/// One series: an attribute set and its aggregator. Aligned to a cache line, so that
/// threads recording on different series never contend for one line.
#[repr(align(64))]
pub(crate) struct Series {
    pub attributes: AttributeSet,
    cell: Cell,
    /// Something was recorded since the last delta collection (or ever, for cumulative).
    measured: AtomicBool,
    /// Bound handles on this series; a bound series is never forgotten.
    bound: AtomicUsize,
}

/// Where a series keeps its state. A sum or a last value is one word, updated with one
/// atomic operation and no lock (the common case, and all a bound counter does); a
/// histogram updates several fields together, behind a mutex.
enum Cell {
    Word {
        /// The value's bits: an `i64` as two's complement, an `f64` as IEEE 754.
        bits: AtomicU64,
        number: NumberType,
        last_value: bool,
    },
    /// Boxed: a sum's series stays within one cache line.
    Locked(Box<Mutex<Aggregator>>),
}

fn to_bits(value: Number) -> u64 {
    match value {
        Number::I64(i) => i as u64,
        Number::F64(f) => f.to_bits(),
    }
}

fn from_bits(bits: u64, number: NumberType) -> Number {
    match number {
        NumberType::I64 => Number::I64(bits as i64),
        NumberType::F64 => Number::F64(f64::from_bits(bits)),
    }
}

impl Series {
    fn new(attributes: AttributeSet, aggregator: Aggregator) -> Self {
        let word = |value: Number, last_value| Cell::Word {
            bits: AtomicU64::new(to_bits(value)),
            number: match value {
                Number::I64(_) => NumberType::I64,
                Number::F64(_) => NumberType::F64,
            },
            last_value,
        };
        let cell = match aggregator {
            Aggregator::Sum(zero) => word(zero, false),
            Aggregator::LastValue(zero) => word(zero, true),
            histogram => Cell::Locked(Box::new(Mutex::new(histogram))),
        };
        Series {
            attributes,
            cell,
            measured: AtomicBool::new(false),
            bound: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn update(&self, plan: &Plan, value: Number) {
        match &self.cell {
            Cell::Word {
                bits, last_value, ..
            } => {
                match value {
                    _ if *last_value => bits.store(to_bits(value), Ordering::Relaxed),
                    // Two's complement: adding the bits is the wrapping i64 sum.
                    Number::I64(i) => {
                        bits.fetch_add(i as u64, Ordering::Relaxed);
                    }
                    Number::F64(f) => {
                        let _ = bits.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                            Some((f64::from_bits(old) + f).to_bits())
                        });
                    }
                }
                // Release: a collection that sees the flag sees the value it flags.
                self.measured.store(true, Ordering::Release);
            }
            Cell::Locked(aggregator) => {
                let mut aggregator = lock(aggregator);
                aggregator.update(plan, value);
                self.measured.store(true, Ordering::Release);
            }
        }
    }

    fn is_measured(&self) -> bool {
        self.measured.load(Ordering::Acquire)
    }

    /// The state to export, if anything was recorded; for delta, the series starts over.
    ///
    /// A delta sum's flag is cleared before its value is taken: a measurement that lands
    /// between the two is exported now and flags the series again, so the next
    /// collection may export a zero, but nothing is lost or left unflagged.
    fn take(&self, plan: &Plan, delta: bool) -> Option<Aggregator> {
        match &self.cell {
            Cell::Word {
                bits,
                number,
                last_value,
            } => {
                let measured = if delta {
                    self.measured.swap(false, Ordering::AcqRel)
                } else {
                    self.is_measured()
                };
                if !measured {
                    return None;
                }
                let bits = if delta && !*last_value {
                    bits.swap(to_bits(number.zero()), Ordering::AcqRel)
                } else {
                    bits.load(Ordering::Acquire)
                };
                let value = from_bits(bits, *number);
                Some(if *last_value {
                    Aggregator::LastValue(value)
                } else {
                    Aggregator::Sum(value)
                })
            }
            Cell::Locked(aggregator) => {
                let mut aggregator = lock(aggregator);
                if !self.is_measured() {
                    return None;
                }
                let snapshot = aggregator.clone();
                if delta {
                    aggregator.reset(plan);
                    self.measured.store(false, Ordering::Release);
                }
                Some(snapshot)
            }
        }
    }
}

/// A map's keys are already well-mixed hashes: hashing them again is wasted work.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[derive(Default)]
struct SeriesMap {
    /// Series by attribute-set hash: one series per hash, which is all there is unless
    /// two sets share a 64-bit hash.
    by_hash: HashMap<u64, Arc<Series>, BuildHasherDefault<PassThrough>>,
    /// Series whose hash another series already had in `by_hash`.
    collided: Vec<Arc<Series>>,
    /// Where sets beyond the cardinality limit go.
    overflow: Option<Arc<Series>>,
}

impl SeriesMap {
    /// Series other than the overflow series.
    fn len(&self) -> usize {
        self.by_hash.len() + self.collided.len()
    }

    fn find(&self, lookup: &Lookup, attrs: &[KeyValue<'_>]) -> Option<&Arc<Series>> {
        let found = |series: &&Arc<Series>| series.attributes.matches(lookup, attrs);
        self.by_hash
            .get(&lookup.hash)
            .filter(found)
            .or_else(|| self.collided.iter().find(found))
    }

    fn find_set(&self, set: &AttributeSet) -> Option<&Arc<Series>> {
        let found = |series: &&Arc<Series>| series.attributes == *set;
        self.by_hash
            .get(&set.hash())
            .filter(found)
            .or_else(|| self.collided.iter().find(found))
    }

    fn series_for(
        &mut self,
        set: AttributeSet,
        limit: usize,
        new_aggregator: impl Fn() -> Aggregator,
    ) -> Arc<Series> {
        if let Some(series) = self.find_set(&set) {
            return series.clone();
        }
        // The specification's guarantee: no overflow while there are at most `limit`
        // distinct sets, so the overflow series comes on top of them.
        if self.len() >= limit {
            return self
                .overflow
                .get_or_insert_with(|| Arc::new(Series::new(overflow_set(), new_aggregator())))
                .clone();
        }
        let series = Arc::new(Series::new(set, new_aggregator()));
        match self.by_hash.entry(series.attributes.hash()) {
            Entry::Vacant(slot) => {
                slot.insert(series.clone());
            }
            Entry::Occupied(_) => self.collided.push(series.clone()),
        }
        series
    }

    fn all(&self) -> impl Iterator<Item = &Arc<Series>> {
        self.by_hash
            .values()
            .chain(&self.collided)
            .chain(self.overflow.iter())
    }

    /// Forgets the series of `stale` (series idle through a whole delta interval) that
    /// are still idle and that no handle binds.
    fn forget(&mut self, stale: &HashSet<*const Series>) {
        let forget = |series: &Arc<Series>| {
            stale.contains(&Arc::as_ptr(series))
                && series.bound.load(Ordering::Acquire) == 0
                && !series.is_measured()
        };
        self.by_hash.retain(|_, series| !forget(series));
        self.collided.retain(|series| !forget(series));
        if self.overflow.as_ref().is_some_and(forget) {
            self.overflow = None;
        }
    }
}

/// The attribute set of the series that takes what is beyond the cardinality limit.
pub(crate) fn overflow_set() -> AttributeSet {
    AttributeSet::from_checked(&[KeyValue::bool("otel.metric.overflow", true)])
}

enum Storage {
    Synchronous(RwLock<SeriesMap>),
    Observable {
        callbacks: Mutex<Vec<Arc<Callback>>>,
        /// The last observation of each set, for delta sums.
        previous: Mutex<HashMap<AttributeSet, Number>>,
    },
}

/// An instrument: thread-safe; recording never blocks on collection for long.
pub struct Instrument {
    descriptor: Descriptor,
    plan: Plan,
    temporality: Temporality,
    storage: Storage,
    shared: Arc<Shared>,
    /// The recording calls it takes: a bit per operation and number type
    /// ([`call_bit`]), so that the hot path checks a call with one test.
    calls: u8,
    /// A counter: negative values are not recorded.
    monotonic: bool,
    /// The series of the empty attribute set once recorded to, held as a bound handle
    /// holds its series (never forgotten): recording with no attributes takes no lock.
    empty_set: OnceLock<Arc<Series>>,
    /// Whether the one warning about values not recorded was sent.
    warned_value: AtomicBool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Operation {
    Add,
    Record,
}

/// The bit of `Instrument::calls` for `operation` with `value`'s number type.
fn call_bit(operation: Operation, value: Number) -> u8 {
    match (operation, value) {
        (Operation::Add, Number::I64(_)) => 1,
        (Operation::Add, Number::F64(_)) => 2,
        (Operation::Record, Number::I64(_)) => 4,
        (Operation::Record, Number::F64(_)) => 8,
    }
}

/// The calls an instrument of `kind` and `number` takes (see [`call_bit`]).
fn calls_of(kind: InstrumentKind, number: NumberType) -> u8 {
    use InstrumentKind::*;
    let operation = match kind {
        Counter | UpDownCounter => Operation::Add,
        Histogram | Gauge => Operation::Record,
        ObservableCounter | ObservableUpDownCounter | ObservableGauge => return 0,
    };
    call_bit(operation, number.zero())
}

impl Instrument {
    pub(crate) fn new(
        descriptor: Descriptor,
        shared: Arc<Shared>,
        callback: Option<Callback>,
    ) -> Self {
        let kind = descriptor.kind;
        let plan = match (
            shared.selections.aggregation(kind),
            &descriptor.boundaries_advice,
        ) {
            (
                Aggregation::ExplicitBucketHistogram {
                    boundaries,
                    record_min_max,
                },
                Some(advice),
            ) if boundaries[..] == DEFAULT_BOUNDARIES[..] => Plan::new(
                kind,
                &Aggregation::ExplicitBucketHistogram {
                    boundaries: advice.to_vec(),
                    record_min_max: *record_min_max,
                },
            ),
            (aggregation, _) => Plan::new(kind, aggregation),
        };
        let storage = match callback {
            None => Storage::Synchronous(RwLock::default()),
            Some(callback) => Storage::Observable {
                callbacks: Mutex::new(vec![Arc::new(callback)]),
                previous: Mutex::default(),
            },
        };
        Instrument {
            temporality: shared.selections.temporality(kind),
            calls: calls_of(kind, descriptor.number),
            monotonic: kind == InstrumentKind::Counter,
            empty_set: OnceLock::new(),
            descriptor,
            plan,
            storage,
            shared,
            warned_value: AtomicBool::new(false),
        }
    }

    /// Its identity.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// Its aggregation.
    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Its temporality (which gauges ignore on the wire).
    pub fn temporality(&self) -> Temporality {
        self.temporality
    }

    pub(crate) fn same_instrument(&self, descriptor: &Descriptor) -> bool {
        self.descriptor.same_instrument(descriptor)
    }

    pub(crate) fn same_name(&self, descriptor: &Descriptor) -> bool {
        self.descriptor.same_name(descriptor)
    }

    pub(crate) fn add_callback(&self, callback: Callback) {
        if let Storage::Observable { callbacks, .. } = &self.storage {
            lock(callbacks).push(Arc::new(callback));
        }
    }

    /// Adds `value` (counters and up-down counters of int64).
    pub fn add_i64(&self, value: i64, attrs: &[KeyValue<'_>]) -> Result<()> {
        self.measure(Operation::Add, Number::I64(value), attrs)
    }

    /// Adds `value` (counters and up-down counters of doubles).
    pub fn add_f64(&self, value: f64, attrs: &[KeyValue<'_>]) -> Result<()> {
        self.measure(Operation::Add, Number::F64(value), attrs)
    }

    /// Records `value` (histograms and gauges of int64).
    pub fn record_i64(&self, value: i64, attrs: &[KeyValue<'_>]) -> Result<()> {
        self.measure(Operation::Record, Number::I64(value), attrs)
    }

    /// Records `value` (histograms and gauges of doubles).
    pub fn record_f64(&self, value: f64, attrs: &[KeyValue<'_>]) -> Result<()> {
        self.measure(Operation::Record, Number::F64(value), attrs)
    }

    /// The series of the empty attribute set, made (and held) the first time; `None`
    /// when nothing is kept (Drop) or the instrument is observable.
    #[inline]
    fn empty_set_series(&self) -> Option<&Arc<Series>> {
        if let Some(series) = self.empty_set.get() {
            return Some(series);
        }
        let Storage::Synchronous(map) = &self.storage else {
            return None;
        };
        if matches!(self.plan, Plan::Drop) {
            return None;
        }
        let lookup = Lookup::new(&[]).ok()?;
        Some(
            self.empty_set
                .get_or_init(|| self.bound_series(map, &lookup, &[])),
        )
    }

    /// A handle on the series of `attrs`, whose recording needs no attribute work.
    pub fn bind(self: &Arc<Self>, attrs: &[KeyValue<'_>]) -> Result<BoundInstrument> {
        self.check_live()?;
        let Storage::Synchronous(map) = &self.storage else {
            return Err(Error::invalid(format!(
                "instrument {:?} is observable: it cannot be bound",
                self.descriptor.name
            )));
        };
        let lookup = Lookup::new(attrs)?;
        let series = match self.plan {
            Plan::Drop => None,
            _ => Some(self.bound_series(map, &lookup, attrs)),
        };
        Ok(BoundInstrument {
            instrument: self.clone(),
            series,
        })
    }

    /// The series of `attrs`, counted as bound.
    fn bound_series(
        &self,
        map: &RwLock<SeriesMap>,
        lookup: &Lookup,
        attrs: &[KeyValue<'_>],
    ) -> Arc<Series> {
        // Counted while the map's lock is held, so a collection that forgets idle series
        // sees it bound.
        if !lookup.has_duplicates {
            let map = read(map);
            if let Some(series) = map.find(lookup, attrs) {
                series.bound.fetch_add(1, Ordering::AcqRel);
                return series.clone();
            }
        }
        let mut map = write(map);
        let series = map.series_for(
            AttributeSet::from_checked(attrs),
            self.shared.cardinality_limit,
            || self.new_aggregator(),
        );
        series.bound.fetch_add(1, Ordering::AcqRel);
        series
    }

    fn new_aggregator(&self) -> Aggregator {
        // Only called when the plan is not Drop; Sum's zero stands in otherwise.
        self.plan
            .aggregator(self.descriptor.number.zero())
            .unwrap_or(Aggregator::Sum(self.descriptor.number.zero()))
    }

    fn check_live(&self) -> Result<()> {
        if self.shared.shut_down.load(Ordering::Relaxed) {
            return Err(shut_down_error());
        }
        Ok(())
    }

    /// The checks every recording makes before it touches attributes.
    #[inline]
    fn check_call(&self, operation: Operation, value: Number) -> Result<()> {
        if self.calls & call_bit(operation, value) != 0
            && !self.shared.shut_down.load(Ordering::Relaxed)
        {
            return Ok(());
        }
        self.refuse_call(operation, value)
    }

    /// Why the call is refused.
    #[cold]
    fn refuse_call(&self, operation: Operation, value: Number) -> Result<()> {
        self.check_live()?;
        use InstrumentKind::*;
        let allowed = match self.descriptor.kind {
            Counter | UpDownCounter => operation == Operation::Add,
            Histogram | Gauge => operation == Operation::Record,
            ObservableCounter | ObservableUpDownCounter | ObservableGauge => false,
        };
        if !allowed {
            let verb = match operation {
                Operation::Add => "add",
                Operation::Record => "record",
            };
            return Err(Error::invalid(format!(
                "instrument {:?} is a {}: {verb} does not apply to it",
                self.descriptor.name,
                self.descriptor.kind.name()
            )));
        }
        self.check_number(value)
    }

    fn check_number(&self, value: Number) -> Result<()> {
        let given = match value {
            Number::I64(_) => NumberType::I64,
            Number::F64(_) => NumberType::F64,
        };
        if given != self.descriptor.number {
            return Err(Error::invalid(format!(
                "instrument {:?} records {} values, not {}",
                self.descriptor.name,
                self.descriptor.number.name(),
                given.name()
            )));
        }
        Ok(())
    }

    /// Whether `value` may be recorded; if not, warns once per instrument.
    #[inline]
    fn accepts(&self, value: Number) -> bool {
        let recordable = match value {
            Number::I64(i) => !(self.monotonic && i < 0),
            Number::F64(f) => f.is_finite() && !(self.monotonic && f < 0.0),
        };
        recordable || self.refuse_value(value)
    }

    /// Warns (once) that `value` is not recorded; false.
    #[cold]
    fn refuse_value(&self, value: Number) -> bool {
        let fault = if !value.is_finite() {
            "NaN and infinite values are"
        } else {
            "negative values added to a counter are"
        };
        if !self.warned_value.swap(true, Ordering::Relaxed) {
            self.shared.logger.warn(&format!(
                "instrument {:?}: {fault} not recorded (further values not recorded are not reported)",
                self.descriptor.name
            ));
        }
        false
    }

    // Inlined into each public call, as BoundInstrument::measure is.
    #[inline(always)]
    fn measure(&self, operation: Operation, value: Number, attrs: &[KeyValue<'_>]) -> Result<()> {
        self.check_call(operation, value)?;
        if attrs.is_empty() {
            if self.accepts(value) {
                if let Some(series) = self.empty_set_series() {
                    series.update(&self.plan, value);
                }
            }
            return Ok(());
        }
        let lookup = Lookup::new(attrs)?;
        if !self.accepts(value) || matches!(self.plan, Plan::Drop) {
            return Ok(());
        }
        let Storage::Synchronous(map) = &self.storage else {
            return Ok(());
        };
        if !lookup.has_duplicates {
            let map = read(map);
            if let Some(series) = map.find(&lookup, attrs) {
                series.update(&self.plan, value);
                return Ok(());
            }
        }
        let set = AttributeSet::from_checked(attrs);
        let map_guard = &mut write(map);
        let series =
            map_guard.series_for(set, self.shared.cardinality_limit, || self.new_aggregator());
        series.update(&self.plan, value);
        Ok(())
    }

    /// Takes this instrument's points for one collection: runs the callbacks of an
    /// observable instrument (holding no lock that recording takes), copies the series of
    /// a synchronous one (and, for delta, resets them and forgets the stale ones).
    pub(crate) fn collect(&self) -> Vec<Point> {
        if matches!(self.plan, Plan::Drop) {
            return Vec::new();
        }
        match &self.storage {
            Storage::Synchronous(map) => self.collect_synchronous(map),
            Storage::Observable {
                callbacks,
                previous,
            } => self.collect_observable(callbacks, previous),
        }
    }

    fn collect_synchronous(&self, map: &RwLock<SeriesMap>) -> Vec<Point> {
        let delta = self.temporality == Temporality::Delta;
        let mut points = Vec::new();
        let mut stale = HashSet::new();
        {
            let map = read(map);
            for series in map.all() {
                match series.take(&self.plan, delta) {
                    Some(data) => points.push(Point {
                        attributes: PointAttributes::Series(series.clone()),
                        data,
                    }),
                    None if delta && series.bound.load(Ordering::Acquire) == 0 => {
                        stale.insert(Arc::as_ptr(series));
                    }
                    None => {}
                }
            }
        }
        if !stale.is_empty() {
            write(map).forget(&stale);
        }
        points
    }

    fn collect_observable(
        &self,
        callbacks: &Mutex<Vec<Arc<Callback>>>,
        previous: &Mutex<HashMap<AttributeSet, Number>>,
    ) -> Vec<Point> {
        let callbacks: Vec<Arc<Callback>> = lock(callbacks).clone();
        let mut observer = Observer {
            instrument: self,
            observations: HashMap::new(),
        };
        for callback in callbacks {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| callback(&mut observer)));
            if outcome.is_err() {
                self.shared.logger.warn(&format!(
                    "instrument {:?}: its callback panicked; its observations so far are kept",
                    self.descriptor.name
                ));
            }
        }
        let observations = observer.observations;
        let delta_sum =
            self.temporality == Temporality::Delta && matches!(self.plan, Plan::Sum { .. });
        let mut points = Vec::with_capacity(observations.len());
        if delta_sum {
            let mut previous = lock(previous);
            for (set, value) in &observations {
                let before = previous
                    .get(set)
                    .copied()
                    .unwrap_or(self.descriptor.number.zero());
                points.push(Point {
                    attributes: PointAttributes::Owned(set.clone()),
                    data: Aggregator::Sum(value.minus(before)),
                });
            }
            // A set not observed this time keeps its last observation, so that when it
            // comes back its point is the change since that observation. Within the
            // cardinality limit: past it, the sets not observed this time are forgotten.
            let observed = observations.len();
            for (set, value) in observations {
                previous.insert(set, value);
            }
            if previous.len() > self.shared.cardinality_limit.max(observed) {
                let current: std::collections::HashSet<&AttributeSet> =
                    points.iter().map(|p| p.attributes.set()).collect();
                previous.retain(|set, _| current.contains(set));
            }
        } else {
            for (set, value) in observations {
                let data = match self.plan {
                    Plan::LastValue => Aggregator::LastValue(value),
                    _ => Aggregator::Sum(value),
                };
                points.push(Point {
                    attributes: PointAttributes::Owned(set),
                    data,
                });
            }
        }
        points
    }
}

impl fmt::Debug for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrument")
            .field("descriptor", &self.descriptor)
            .field("plan", &self.plan)
            .field("temporality", &self.temporality)
            .finish()
    }
}

/// One point of a collection, before encoding.
pub(crate) struct Point {
    pub attributes: PointAttributes,
    pub data: Aggregator,
}

/// A point's attributes: those of a live series, or an observation's own.
pub(crate) enum PointAttributes {
    Series(Arc<Series>),
    Owned(AttributeSet),
}

impl PointAttributes {
    pub fn set(&self) -> &AttributeSet {
        match self {
            PointAttributes::Series(series) => &series.attributes,
            PointAttributes::Owned(set) => set,
        }
    }
}

/// What an observable instrument's callback observes through; valid only during the call.
pub struct Observer<'a> {
    instrument: &'a Instrument,
    /// One value per set: observations of a set add up for sums (as in the Python SDK),
    /// the last one counts for gauges; sets beyond the cardinality limit share the
    /// overflow set.
    observations: HashMap<AttributeSet, Number>,
}

impl Observer<'_> {
    /// Observes an int64 value for `attrs`.
    pub fn observe_i64(&mut self, value: i64, attrs: &[KeyValue<'_>]) -> Result<()> {
        self.observe(Number::I64(value), attrs)
    }

    /// Observes a double value for `attrs`.
    pub fn observe_f64(&mut self, value: f64, attrs: &[KeyValue<'_>]) -> Result<()> {
        self.observe(Number::F64(value), attrs)
    }

    fn observe(&mut self, value: Number, attrs: &[KeyValue<'_>]) -> Result<()> {
        self.instrument.check_number(value)?;
        let set = AttributeSet::new(attrs)?;
        if !self.instrument.accepts(value) {
            return Ok(());
        }
        // Until the overflow series exists, every entry is a distinct set.
        let fits = self.observations.contains_key(&set)
            || self.observations.len() < self.instrument.shared.cardinality_limit;
        let key = if fits { set } else { overflow_set() };
        let zero = self.instrument.descriptor.number.zero();
        let slot = self.observations.entry(key).or_insert(zero);
        *slot = match self.instrument.plan {
            Plan::LastValue => value,
            _ => slot.plus(value),
        };
        Ok(())
    }
}

/// An instrument bound to one attribute set: recording does no attribute work.
pub struct BoundInstrument {
    instrument: Arc<Instrument>,
    /// `None` when the instrument's aggregation is Drop.
    series: Option<Arc<Series>>,
}

impl BoundInstrument {
    /// Adds `value` (counters and up-down counters of int64).
    pub fn add_i64(&self, value: i64) -> Result<()> {
        self.measure(Operation::Add, Number::I64(value))
    }

    /// Adds `value` (counters and up-down counters of doubles).
    pub fn add_f64(&self, value: f64) -> Result<()> {
        self.measure(Operation::Add, Number::F64(value))
    }

    /// Records `value` (histograms and gauges of int64).
    pub fn record_i64(&self, value: i64) -> Result<()> {
        self.measure(Operation::Record, Number::I64(value))
    }

    /// Records `value` (histograms and gauges of doubles).
    pub fn record_f64(&self, value: f64) -> Result<()> {
        self.measure(Operation::Record, Number::F64(value))
    }

    // Inlined into each public call, where the number type is known: no enum goes
    // through memory, and the checks fold away.
    #[inline(always)]
    fn measure(&self, operation: Operation, value: Number) -> Result<()> {
        self.instrument.check_call(operation, value)?;
        if !self.instrument.accepts(value) {
            return Ok(());
        }
        if let Some(series) = &self.series {
            series.update(&self.instrument.plan, value);
        }
        Ok(())
    }
}

impl Drop for BoundInstrument {
    fn drop(&mut self) {
        if let Some(series) = &self.series {
            series.bound.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl fmt::Debug for BoundInstrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundInstrument")
            .field("instrument", &self.instrument.descriptor.name)
            .field("attributes", &self.series.as_ref().map(|s| &s.attributes))
            .finish()
    }
}

fn read(map: &RwLock<SeriesMap>) -> std::sync::RwLockReadGuard<'_, SeriesMap> {
    map.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write(map: &RwLock<SeriesMap>) -> std::sync::RwLockWriteGuard<'_, SeriesMap> {
    map.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_that_share_a_hash_are_kept_apart() {
        let a_attrs = [KeyValue::str("k", "a")];
        let b_attrs = [KeyValue::str("k", "b")];
        let a = AttributeSet::new(&a_attrs).unwrap().with_hash(7);
        let b = AttributeSet::new(&b_attrs).unwrap().with_hash(7);
        let new = || Aggregator::Sum(Number::I64(0));
        let mut map = SeriesMap::default();
        let series_a = map.series_for(a.clone(), 10, new);
        let series_b = map.series_for(b.clone(), 10, new);
        assert!(!Arc::ptr_eq(&series_a, &series_b));
        assert_eq!((map.len(), map.collided.len()), (2, 1));
        let lookup = Lookup {
            hash: 7,
            has_duplicates: false,
        };
        assert!(Arc::ptr_eq(map.find(&lookup, &a_attrs).unwrap(), &series_a));
        assert!(Arc::ptr_eq(map.find(&lookup, &b_attrs).unwrap(), &series_b));
        assert!(Arc::ptr_eq(&map.series_for(b, 10, new), &series_b));
        assert_eq!(map.len(), 2);
        // With the first forgotten, the second is still found.
        map.forget(&HashSet::from([Arc::as_ptr(&series_a)]));
        assert!(map.find(&lookup, &a_attrs).is_none());
        assert!(Arc::ptr_eq(map.find(&lookup, &b_attrs).unwrap(), &series_b));
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn forget_spares_bound_and_measured_series() {
        let mut map = SeriesMap::default();
        let new = || Aggregator::Sum(Number::I64(0));
        let plan = Plan::Sum { monotonic: true };
        let sets: Vec<AttributeSet> = (0..3)
            .map(|i| AttributeSet::new(&[KeyValue::i64("i", i)]).unwrap())
            .collect();
        let series: Vec<Arc<Series>> = sets
            .iter()
            .map(|set| map.series_for(set.clone(), 10, new))
            .collect();
        series[0].bound.fetch_add(1, Ordering::AcqRel);
        series[1].update(&plan, Number::I64(1));
        let all: HashSet<*const Series> = series.iter().map(Arc::as_ptr).collect();
        map.forget(&all);
        assert_eq!(map.len(), 2);
        assert!(map.find_set(&sets[0]).is_some());
        assert!(map.find_set(&sets[1]).is_some());
        assert!(map.find_set(&sets[2]).is_none());
    }
}

#[cfg(test)]
mod layout {
    #[test]
    fn a_series_fits_one_cache_line() {
        assert_eq!(std::mem::size_of::<super::Series>(), 64);
    }
}
