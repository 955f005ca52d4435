//! Meters and the pipeline that owns them: registration, and collection into the bytes of
//! one `ResourceMetrics`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::log::Logger;
use crate::metrics::attributes::AttributeSet;
use crate::metrics::encode::{self, Envelope, MetricData, ScopeData};
use crate::metrics::instrument::{
    shut_down_error, Callback, Descriptor, Instrument, NumberType, Shared,
};
use crate::metrics::lock;
use crate::selectors::{InstrumentKind, Selections, Temporality};

/// Nanoseconds since the Unix epoch.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
        .unwrap_or(0)
}

/// One instrumentation scope; its instruments live as long as the pipeline.
pub struct Meter {
    name: Box<str>,
    version: Box<str>,
    shared: Arc<Shared>,
    instruments: Mutex<Vec<Arc<Instrument>>>,
}

impl Meter {
    /// Scope name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Scope version ("" when none was given).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The synchronous instrument (counter, up-down counter, histogram, gauge) with this
    /// identity: the one registered before, or a new one.
    pub fn instrument(
        &self,
        kind: InstrumentKind,
        number: NumberType,
        name: &str,
        unit: &str,
        description: &str,
    ) -> Result<Arc<Instrument>> {
        self.instrument_of(Descriptor::new(kind, number, name, unit, description)?)
    }

    /// As [`instrument`](Self::instrument), from a descriptor (which may carry advice).
    pub(crate) fn instrument_of(&self, descriptor: Descriptor) -> Result<Arc<Instrument>> {
        if descriptor.kind as i32 > InstrumentKind::Gauge as i32 {
            return Err(Error::invalid(format!(
                "instrument kind {} is observable: it needs a callback",
                descriptor.kind.name()
            )));
        }
        self.register(descriptor, None)
    }

    /// The observable instrument with this identity, `callback` added to its callbacks.
    pub fn observable(
        &self,
        kind: InstrumentKind,
        number: NumberType,
        name: &str,
        unit: &str,
        description: &str,
        callback: Callback,
    ) -> Result<Arc<Instrument>> {
        if (kind as i32) < InstrumentKind::ObservableCounter as i32 {
            return Err(Error::invalid(format!(
                "instrument kind {} is synchronous: it takes no callback",
                kind.name()
            )));
        }
        self.register(
            Descriptor::new(kind, number, name, unit, description)?,
            Some(callback),
        )
    }

    fn register(
        &self,
        descriptor: Descriptor,
        callback: Option<Callback>,
    ) -> Result<Arc<Instrument>> {
        if self.shared.shut_down.load(Ordering::Relaxed) {
            return Err(shut_down_error());
        }
        let mut instruments = lock(&self.instruments);
        if let Some(same) = instruments.iter().find(|i| i.same_instrument(&descriptor)) {
            if let Some(callback) = callback {
                same.add_callback(callback);
            }
            return Ok(same.clone());
        }
        if let Some(other) = instruments.iter().find(|i| i.same_name(&descriptor)) {
            self.shared.logger.warn(&format!(
                "duplicate instrument registration in scope {:?}: {} has the name of {}, \
                 registered before; both are exported, under the same name",
                self.name,
                descriptor,
                other.descriptor()
            ));
        }
        let instrument = Arc::new(Instrument::new(descriptor, self.shared.clone(), callback));
        instruments.push(instrument.clone());
        Ok(instrument)
    }
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
}

/// Meters, instruments and collection, without export: what the meter provider (and the
/// manual `collect` of the C API) stand on.
pub struct Pipeline {
    shared: Arc<Shared>,
    /// The bytes of the `Resource`, encoded once.
    resource: Vec<u8>,
    start_time: u64,
    meters: Mutex<Vec<Arc<Meter>>>,
    /// The time of the previous collection (the start of delta points); held during a
    /// collection, so collections (and their callbacks) run one at a time.
    previous_collection: Mutex<u64>,
}

impl Pipeline {
    /// A pipeline aggregating as `selections` say, with `resource`, at most
    /// `cardinality_limit` distinct attribute sets per instrument (further ones share an
    /// overflow series); warnings go to `logger`.
    pub fn new(
        resource: &AttributeSet,
        selections: Selections,
        cardinality_limit: usize,
        logger: Logger,
    ) -> Self {
        let start_time = now_ns();
        Pipeline {
            shared: Arc::new(Shared::new(logger, selections, cardinality_limit)),
            resource: encode::resource(resource),
            start_time,
            meters: Mutex::default(),
            previous_collection: Mutex::new(start_time),
        }
    }

    /// When the pipeline started (ns since the epoch): the start of cumulative points.
    pub fn start_time(&self) -> u64 {
        self.start_time
    }

    /// The meter of this scope: the one made before, or a new one.
    pub fn meter(&self, name: &str, version: Option<&str>) -> Result<Arc<Meter>> {
        if self.is_shut_down() {
            return Err(shut_down_error());
        }
        let version = version.unwrap_or("");
        let mut meters = lock(&self.meters);
        if let Some(meter) = meters
            .iter()
            .find(|m| &*m.name == name && &*m.version == version)
        {
            return Ok(meter.clone());
        }
        let meter = Arc::new(Meter {
            name: name.into(),
            version: version.into(),
            shared: self.shared.clone(),
            instruments: Mutex::default(),
        });
        meters.push(meter.clone());
        Ok(meter)
    }

    /// Collects every instrument now: the bytes of one `ResourceMetrics`. For delta
    /// temporality this is a collection like any other (what it returns is not returned
    /// again).
    pub fn collect(&self) -> Vec<u8> {
        self.collect_points(Envelope::ResourceMetrics).0
    }

    /// As [`collect`](Self::collect), written as the `ExportMetricsServiceRequest` that
    /// carries it; `None` when there is no point to export.
    pub fn collect_request_if_any(&self) -> Option<Vec<u8>> {
        let (bytes, any) = self.collect_points(Envelope::ExportRequest);
        any.then_some(bytes)
    }

    fn collect_points(&self, envelope: Envelope) -> (Vec<u8>, bool) {
        let mut previous = lock(&self.previous_collection);
        // The lists are copied so that no registration waits for the callbacks.
        let meters: Vec<Arc<Meter>> = lock(&self.meters).clone();
        let instruments: Vec<Vec<Arc<Instrument>>> = meters
            .iter()
            .map(|m| lock(&m.instruments).clone())
            .collect();
        let delta_start = *previous;
        let mut scopes = Vec::new();
        for (meter, instruments) in meters.iter().zip(&instruments) {
            let metrics: Vec<MetricData<'_>> = instruments
                .iter()
                .filter_map(|instrument| {
                    let points = instrument.collect();
                    if points.is_empty() {
                        return None;
                    }
                    let start_time = match instrument.temporality() {
                        Temporality::Cumulative => self.start_time,
                        Temporality::Delta => delta_start,
                    };
                    Some(MetricData {
                        instrument,
                        start_time,
                        points,
                    })
                })
                .collect();
            if !metrics.is_empty() {
                scopes.push(ScopeData {
                    name: &meter.name,
                    version: &meter.version,
                    metrics,
                });
            }
        }
        let now = now_ns().max(delta_start);
        *previous = now;
        (
            encode::resource_metrics(&self.resource, &scopes, now, envelope),
            !scopes.is_empty(),
        )
    }

    /// From now on, recording and registration fail with [`ErrorKind::Shutdown`](crate::error::ErrorKind::Shutdown).
    /// Returns whether this call was the one that shut it down.
    pub fn shut_down(&self) -> bool {
        !self.shared.shut_down.swap(true, Ordering::AcqRel)
    }

    /// Whether [`shut_down`](Self::shut_down) was called.
    pub fn is_shut_down(&self) -> bool {
        self.shared.shut_down.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("start_time", &self.start_time)
            .finish()
    }
}
