//! The meter provider: a [`Pipeline`] that exports through its own [`Exporter`], on
//! demand (`force_flush`, `shutdown`) and from a periodic thread; through the exporter's
//! queue (or spool) when the config chose one, so that a slow receiver never holds up
//! the next collection.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::Config;
use crate::error::Result;
use crate::exporter::Exporter;
use crate::log::Logger;
use crate::metrics::exporter_metrics::ExporterMetrics;
use crate::metrics::instrument::shut_down_error;
use crate::metrics::lock;
use crate::metrics::pipeline::{Meter, Pipeline};
use crate::metrics::settings::MetricsSettings;

/// A flag with a condition variable: set once, waited for with a deadline.
#[derive(Default)]
struct Signal {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Signal {
    fn raise(&self) {
        *lock(&self.set) = true;
        self.changed.notify_all();
    }

    /// Waits until raised or `deadline` (`None`: no limit); whether it was raised.
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let mut set = lock(&self.set);
        while !*set {
            match deadline {
                None => {
                    set = self
                        .changed
                        .wait(set)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                }
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    set = self
                        .changed
                        .wait_timeout(set, left)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0;
                }
            }
        }
        true
    }
}

struct Core {
    pipeline: Pipeline,
    exporter: Exporter,
    /// Exports go into the exporter's queue (or spool) rather than being uploaded.
    enqueue: bool,
    export_timeout: Option<Duration>,
    logger: Logger,
    stop: Signal,
}

impl Core {
    /// Collects and uploads by `deadline`, or enqueues (nothing when there is nothing to
    /// export).
    fn export(&self, deadline: Option<Instant>) -> Result<()> {
        let Some(request) = self.pipeline.collect_request_if_any() else {
            return Ok(());
        };
        let request = Bytes::from(request);
        if self.enqueue {
            self.exporter.enqueue_encoded(request)
        } else {
            self.exporter.upload_encoded(request, remaining(deadline))
        }
    }

    /// `None`: no limit, also for a timeout too long to be a point in time.
    fn deadline(&self, timeout: Option<Duration>) -> Option<Instant> {
        Instant::now().checked_add(timeout.or(self.export_timeout)?)
    }
}

/// What is left until `deadline`, never zero (a zero timeout would not even try); `None`
/// leaves the exporter's own timeout in charge.
fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    })
}

struct Worker {
    handle: JoinHandle<()>,
    done: Arc<Signal>,
}

/// Meters whose measurements are aggregated in process and exported through the
/// provider's exporter: every `export_interval` from a thread of its own, and on demand.
pub struct MeterProvider {
    core: Arc<Core>,
    worker: Mutex<Option<Worker>>,
}

impl MeterProvider {
    /// A provider with an exporter made from `config` and the pipeline `settings`
    /// (warnings about them go to the config's log callback).
    pub fn new(config: &Config, settings: &MetricsSettings) -> Result<Self> {
        Self::with_exporter(Exporter::new(config)?, settings)
    }

    /// A provider that exports through `exporter`, aggregating as its selectors say; it
    /// records the exporter's own metrics when `settings` say so.
    pub fn with_exporter(exporter: Exporter, settings: &MetricsSettings) -> Result<Self> {
        let logger = exporter.settings().logger.clone();
        for warning in &settings.warnings {
            logger.warn(warning);
        }
        let pipeline = Pipeline::new(
            &settings.resource(),
            exporter.settings().selections.clone(),
            settings.cardinality_limit,
            logger.clone(),
        );
        if settings.exporter_metrics {
            exporter.observe(Arc::new(ExporterMetrics::new(
                &pipeline,
                exporter.settings(),
            )?));
        }
        let core = Arc::new(Core {
            enqueue: exporter.settings().queue_chosen,
            pipeline,
            exporter,
            export_timeout: settings.export_timeout,
            logger,
            stop: Signal::default(),
        });
        let worker = match settings.export_interval {
            None => None,
            Some(interval) => Some(start_worker(core.clone(), interval)?),
        };
        Ok(MeterProvider {
            core,
            worker: Mutex::new(worker),
        })
    }

    /// The meter of this scope.
    pub fn meter(&self, name: &str, version: Option<&str>) -> Result<Arc<Meter>> {
        self.core.pipeline.meter(name, version)
    }

    /// What an export would send now, as the bytes of one `ResourceMetrics`; counts as an
    /// export for delta temporality.
    pub fn collect(&self) -> Result<Vec<u8>> {
        if self.core.pipeline.is_shut_down() {
            return Err(shut_down_error());
        }
        Ok(self.core.pipeline.collect())
    }

    /// Collects and exports now, and waits for every export begun before it, all within
    /// `timeout` (`None`: the export timeout).
    pub fn force_flush(&self, timeout: Option<Duration>) -> Result<()> {
        if self.core.pipeline.is_shut_down() {
            return Err(shut_down_error());
        }
        let deadline = self.core.deadline(timeout);
        let exported = self.core.export(deadline);
        let flushed = self.core.exporter.force_flush(remaining(deadline));
        exported.and(flushed)
    }

    /// Stops the periodic thread, refuses recording from now on, collects and exports one
    /// last time, then shuts the exporter down, all within `timeout` (`None`: the export
    /// timeout). Acts once; later calls get [`ErrorKind::Shutdown`](crate::error::ErrorKind::Shutdown).
    pub fn shutdown(&self, timeout: Option<Duration>) -> Result<()> {
        if !self.core.pipeline.shut_down() {
            return Err(shut_down_error());
        }
        let deadline = self.core.deadline(timeout);
        self.core.stop.raise();
        if let Some(worker) = lock(&self.worker).take() {
            if worker.done.wait_until(deadline) {
                let _ = worker.handle.join();
            }
            // Otherwise it is left to finish its export, which the exporter's shutdown
            // below cancels; it exits without touching anything else.
        }
        let exported = self.core.export(deadline);
        let shut = self.core.exporter.shutdown(remaining(deadline));
        exported.and(shut)
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.core.pipeline.is_shut_down()
    }

    /// The exporter (its statistics, its settings).
    pub fn exporter(&self) -> &Exporter {
        &self.core.exporter
    }
}

impl Drop for MeterProvider {
    fn drop(&mut self) {
        if !self.is_shut_down() {
            if let Err(err) = self.shutdown(None) {
                self.core
                    .logger
                    .warn(&format!("meter provider shutdown while freed: {err}"));
            }
        }
    }
}

impl std::fmt::Debug for MeterProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeterProvider")
            .field("pipeline", &self.core.pipeline)
            .finish()
    }
}

fn start_worker(core: Arc<Core>, interval: Duration) -> Result<Worker> {
    let done = Arc::new(Signal::default());
    let finished = done.clone();
    let handle = std::thread::Builder::new()
        .name("otlpmetric-metrics".into())
        .spawn(move || {
            // An interval too long to be a point in time is waited out by shutdown alone.
            let mut next = Instant::now().checked_add(interval);
            // Woken at once by shutdown, not at the end of an interval.
            while !core.stop.wait_until(next) {
                next = next.and_then(|n| n.checked_add(interval));
                if let Err(err) = core.export(core.deadline(None)) {
                    core.logger
                        .warn(&format!("periodic metrics export failed: {err}"));
                }
                // An export longer than the interval: the next starts now, not in a burst.
                next = next.map(|n| n.max(Instant::now()));
            }
            finished.raise();
        })
        .map_err(|err| {
            crate::error::Error::new(
                crate::error::ErrorKind::Internal,
                format!("cannot start the metrics export thread: {err}"),
            )
        })?;
    Ok(Worker { handle, done })
}
