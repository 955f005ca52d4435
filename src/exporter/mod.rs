//! The exporter: OpenTelemetry-Go's `otlpmetric.Client` (UploadMetrics, ForceFlush,
//! Shutdown, Temporality, Aggregation) with deadlines instead of contexts, plus a
//! bounded asynchronous queue.
//!
//! Calls block the calling thread on the exporter's own tokio runtime, so uploads from
//! many threads run concurrently and no global lock is held around the network.
//!
//! Fork safety: the runtime, connections and locks live in an [`Engine`] tagged with the
//! process id. A forked child finds the id changed and starts a fresh engine; the parent's
//! (whose threads do not exist in the child, and whose locks may have been held at the
//! fork) is left untouched.

mod delivery;
mod in_flight;
mod queue;

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::{Handle, Runtime};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Settings, DEFAULT_TIMEOUT};
use crate::error::{Error, ErrorKind, Result};
use crate::selectors::{Aggregation, InstrumentKind, Temporality};
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::Transport;
use crate::proto::{json, split, validate};
use delivery::Delivery;
use in_flight::InFlight;
use queue::{Queue, Queued};

/// An OTLP metrics exporter. Every method is safe to call from any number of threads.
pub struct Exporter {
    shared: Arc<Shared>,
    /// The engine of this process; replaced (never freed) in a forked child.
    engine: AtomicPtr<Engine>,
    shut_down: AtomicBool,
}

/// What survives a fork unchanged: immutable settings and atomic counters.
struct Shared {
    settings: Settings,
    stats: Stats,
}

/// The moving parts of one process: runtime, connections, in-flight tracking, queue.
struct Engine {
    pid: u32,
    runtime: Mutex<Option<Runtime>>,
    delivery: Arc<Delivery>,
    in_flight: Arc<InFlight>,
    queue: Arc<Queue>,
    /// Cancelled by shutdown: uploads still running then stop at once.
    cancel: CancellationToken,
}

impl Engine {
    fn start(shared: &Arc<Shared>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // One worker: it only drives connections, uploads' network parts and the
            // background queue; an upload's CPU work (validation, JSON, compression) runs
            // on the caller's thread first. One thread costs less per export than two
            // (fewer cross-thread wake-ups; measured with bench/) and keeps the footprint
            // small.
            .worker_threads(1)
            .thread_name("otlpmetric")
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("cannot start the exporter's runtime: {e}"),
                )
            })?;
        let transport = {
            let _context = runtime.enter();
            Transport::new(&shared.settings)?
        };
        let delivery = Arc::new(Delivery {
            shared: shared.clone(),
            transport,
        });
        let queue = Arc::new(Queue::default());
        let cancel = CancellationToken::new();
        runtime.spawn(queue::run(delivery.clone(), queue.clone(), cancel.clone()));
        Ok(Engine {
            pid: std::process::id(),
            runtime: Mutex::new(Some(runtime)),
            delivery,
            in_flight: Arc::new(InFlight::default()),
            queue,
            cancel,
        })
    }

    fn handle(&self) -> Result<Handle> {
        lock(&self.runtime)
            .as_ref()
            .map(|runtime| runtime.handle().clone())
            .ok_or_else(Error::shutdown)
    }
}

impl Exporter {
    /// Creates an exporter from `config`: resolves it, consults the selectors once per
    /// instrument kind, reports environment problems through the log callback, and starts
    /// the exporter's runtime. Connections are made on the first upload.
    pub fn new(config: &Config) -> Result<Self> {
        let settings = config.resolve()?;
        for warning in &settings.warnings {
            settings.logger.warn(warning);
        }
        let shared = Arc::new(Shared {
            settings,
            stats: Stats::default(),
        });
        let engine = Box::new(Engine::start(&shared)?);
        Ok(Exporter {
            shared,
            engine: AtomicPtr::new(Box::into_raw(engine)),
            shut_down: AtomicBool::new(false),
        })
    }

    /// Uploads one serialized `ResourceMetrics`; blocks until the receiver accepted it,
    /// refused it for good, or `timeout` (`None`: the configured export timeout) ran out.
    pub fn upload(&self, resource_metrics: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.check_running()?;
        let request = validate::checked_resource_metrics_request(resource_metrics)?;
        self.export(request, timeout)
    }

    /// Uploads one serialized `ExportMetricsServiceRequest`, as [`Exporter::upload`].
    pub fn upload_request(&self, request: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.check_running()?;
        let request = validate::checked_export_request(request)?;
        self.export(request, timeout)
    }

    /// Uploads an `ExportMetricsServiceRequest` in the OTLP/JSON encoding.
    pub fn upload_json(&self, json: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.check_running()?;
        self.export(Bytes::from(json::to_protobuf(json)?), timeout)
    }

    /// Checks and copies one serialized `ResourceMetrics` into the bounded queue and
    /// returns at once; background work delivers it. [`ErrorKind::QueueFull`] when it
    /// would pass the queue's byte bound.
    pub fn enqueue(&self, resource_metrics: &[u8]) -> Result<()> {
        self.check_running()?;
        let request = validate::checked_resource_metrics_request(resource_metrics)?;
        let engine = self.engine()?;
        let item = Queued {
            request,
            _ticket: engine.in_flight.begin(),
        };
        engine.queue.push(
            &self.shared.stats,
            self.shared.settings.queue_max_bytes,
            item,
        )
    }

    /// Returns once every upload accepted (or enqueued) before this call has finished.
    pub fn force_flush(&self, timeout: Option<Duration>) -> Result<()> {
        self.check_running()?;
        let deadline = self.deadline(timeout);
        if self.engine()?.in_flight.wait_for_earlier(deadline) {
            Ok(())
        } else {
            Err(Error::timeout(
                "force_flush: the deadline passed before earlier uploads finished",
            ))
        }
    }

    /// Flushes, then stops the exporter's connections and threads. Acts once; later calls
    /// (and every other call) get [`ErrorKind::Shutdown`]. The exporter is shut down even
    /// when the deadline passes first, in which case uploads still running are cancelled,
    /// what is still queued is dropped (and counted), and the result is
    /// [`ErrorKind::Timeout`].
    pub fn shutdown(&self, timeout: Option<Duration>) -> Result<()> {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Err(Error::shutdown());
        }
        let engine = self.engine()?;
        let deadline = self.deadline(timeout);
        let flushed = engine.in_flight.wait_for_earlier(deadline);
        engine.cancel.cancel();
        let dropped = engine.queue.drop_all(&self.shared.stats);
        // Cancelled uploads return at once; let them leave the runtime before it stops.
        engine
            .in_flight
            .wait_for_earlier(Some(Instant::now() + Duration::from_millis(100)));
        if let Some(runtime) = lock(&engine.runtime).take() {
            let left = deadline
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or(DEFAULT_TIMEOUT);
            runtime.shutdown_timeout(left.max(Duration::from_millis(10)));
        }
        if flushed {
            Ok(())
        } else {
            Err(Error::timeout(format!(
                "shutdown: the deadline passed before uploads in progress finished; they were cancelled and {dropped} queued upload(s) dropped"
            )))
        }
    }

    /// Whether [`Exporter::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::SeqCst)
    }

    /// The temporality chosen for `kind`; keeps answering after shutdown.
    pub fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.shared.settings.selections.temporality(kind)
    }

    /// The aggregation chosen for `kind`; keeps answering after shutdown.
    pub fn aggregation(&self, kind: InstrumentKind) -> &Aggregation {
        self.shared.settings.selections.aggregation(kind)
    }

    /// The statistics now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The resolved settings (for tests and diagnostics).
    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    fn check_running(&self) -> Result<()> {
        if self.is_shut_down() {
            Err(Error::shutdown())
        } else {
            Ok(())
        }
    }

    /// The engine of this process, started anew in a forked child.
    fn engine(&self) -> Result<&Engine> {
        let current = self.engine.load(Ordering::Acquire);
        // SAFETY: engines are freed only by Drop, which has `&mut self`.
        let engine = unsafe { &*current };
        if engine.pid == std::process::id() {
            return Ok(engine);
        }
        // A forked child: the parent's engine has no threads here and may hold locks
        // taken at the fork, so it is never touched (nor freed) again in this process.
        let fresh = Box::into_raw(Box::new(Engine::start(&self.shared)?));
        match self
            .engine
            .compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                self.shared.stats.queue_bytes.store(0, Ordering::Relaxed);
                // SAFETY: just stored; lives until Drop.
                Ok(unsafe { &*fresh })
            }
            Err(winner) => {
                // SAFETY: `fresh` was never shared.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: as above.
                Ok(unsafe { &*winner })
            }
        }
    }

    /// The instant a call with `timeout` must end by; `None` means no limit.
    fn deadline(&self, timeout: Option<Duration>) -> Option<Instant> {
        timeout
            .or(self.shared.settings.timeout)
            .map(|t| Instant::now() + t)
    }

    fn export(&self, request: Bytes, timeout: Option<Duration>) -> Result<()> {
        let deadline = self.deadline(timeout);
        let engine = self.engine()?;
        let _ticket = engine.in_flight.begin();
        let handle = engine.handle()?;
        let split = split::split_request(request, self.shared.settings.max_request_bytes);
        // The CPU work (JSON, gzip) here, on the caller's thread.
        let prepared = engine.delivery.prepare(&split.requests);
        let (delivery, cancel, shared) = (
            engine.delivery.clone(),
            engine.cancel.clone(),
            self.shared.clone(),
        );
        let delivering = async move {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    Stats::add(&shared.stats.requests_failed, 1);
                    Err(upload_cancelled())
                }
                result = delivery.deliver_all(&prepared, deadline) => result,
            }
        };
        // gRPC uploads share one HTTP/2 connection whose state hyper keeps behind a lock
        // that its connection task also takes: driven from the worker, next to that task,
        // an upload costs up to 13% less client CPU than from this thread. An HTTP/1.1
        // request has a connection to itself, and costs 5-10% less driven from here
        // (bench/, 2 cores, both ways measured).
        if engine.delivery.transport.is_multiplexed() {
            handle
                .block_on(handle.spawn(delivering))
                .unwrap_or_else(|e| {
                    Err(if e.is_cancelled() {
                        upload_cancelled()
                    } else {
                        Error::new(ErrorKind::Internal, "the upload's task panicked")
                    })
                })?;
        } else {
            handle.block_on(delivering)?;
        }
        if split.oversized.is_empty() {
            return Ok(());
        }
        Stats::add(&self.shared.stats.requests_failed, 1);
        Err(Error::export(format!(
            "{} over max_request_bytes ({}) could not be sent; the rest was: {}",
            if split.oversized.len() == 1 {
                "one piece"
            } else {
                "some pieces"
            },
            self.shared.settings.max_request_bytes,
            summarize(&split.oversized)
        )))
    }
}

fn upload_cancelled() -> Error {
    Error::new(
        ErrorKind::Shutdown,
        "the exporter was shut down while the upload was in progress",
    )
}

impl Drop for Exporter {
    /// Shuts down first if needed, within the configured export timeout (10 s when the
    /// configuration has no limit), so that dropping never blocks forever.
    fn drop(&mut self) {
        if !self.is_shut_down() {
            let bound = self.shared.settings.timeout.unwrap_or(DEFAULT_TIMEOUT);
            let _ = self.shutdown(Some(bound));
        }
        // SAFETY: we own the pointer and no call is in progress (`&mut self`).
        let engine = unsafe { Box::from_raw(*self.engine.get_mut()) };
        if engine.pid != std::process::id() {
            // A parent's engine in a forked child: dropping it would wait for threads
            // that do not exist here.
            std::mem::forget(engine);
        }
    }
}

/// A bounded list of what was left out.
fn summarize(items: &[String]) -> String {
    let mut text = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 3 {
        text.push_str(&format!(" and {} more", items.len() - 3));
    }
    text
}

/// Locks a mutex; a panic elsewhere never makes the exporter unusable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
