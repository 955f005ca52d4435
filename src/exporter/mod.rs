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
//!
//! With a spool, the exporter holds the spool directory's lock from `new` until shutdown
//! (or drop). A forked child inherits the lock's file descriptor; on its first call the
//! child closes its copy unused (the parent keeps the lock) and has no spool: its
//! `enqueue` fails with [`ErrorKind::InvalidArgument`], its uploads work.

mod delivery;
mod in_flight;
mod observe;
mod queue;

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::runtime::{Handle, Runtime};
use tokio_util::sync::CancellationToken;

use crate::cancel::Cancel;
use crate::config::{Config, Settings, DEFAULT_TIMEOUT};
use crate::error::{Error, ErrorKind, Result};
use crate::proto::{json, validate};
use crate::selectors::{Aggregation, InstrumentKind, Temporality};
use crate::spool::{Durability, Spool, SpoolCounters};
use crate::stats::{Stats, StatsSnapshot};
use crate::sync::lock;
use crate::transport::Transport;
use delivery::Delivery;
use in_flight::InFlight;
pub(crate) use observe::{DeliveryObserver, DeliveryReport, ResponseStatus};
use queue::{Queue, SpoolFeed};

/// How long shutdown lets cancelled uploads take to return before it stops the runtime:
/// they return at once, but a caller blocked on one must be woken and return before the
/// runtime's drivers stop under it.
const CANCELLED_UPLOADS_GRACE: Duration = Duration::from_millis(100);

/// The least time shutdown waits for the runtime's threads to stop, even past the
/// deadline: without any wait it would return while the worker still holds connections.
const MIN_RUNTIME_SHUTDOWN: Duration = Duration::from_millis(10);

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
    /// The spool's counters (atomics, which a forked child may read).
    spool_counters: Option<Arc<SpoolCounters>>,
    /// Told of every delivery, once set.
    observer: OnceLock<Arc<dyn DeliveryObserver>>,
}

/// The moving parts of one process: runtime, connections, in-flight tracking, queue.
struct Engine {
    pid: u32,
    runtime: Mutex<Option<Runtime>>,
    delivery: Arc<Delivery>,
    in_flight: Arc<InFlight>,
    queue: Arc<Queue>,
    /// The spool that replaces `queue`, until shutdown releases it.
    spool: Mutex<Option<Arc<SpoolFeed>>>,
    /// The spool's lock descriptor, which a forked child closes unused.
    spool_lock_fd: Option<i32>,
    /// Cancelled by shutdown: uploads still running then stop at once.
    cancel: CancellationToken,
}

impl Engine {
    fn start(shared: &Arc<Shared>, spool: Option<Spool>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // One worker: it only drives connections, gRPC calls' network parts and the
            // background queue; an upload's CPU work (validation, JSON, compression) runs
            // on the caller's thread first. One thread keeps cross-thread wake-ups and
            // the footprint small.
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
        let cancel = CancellationToken::new();
        let delivery = Arc::new(Delivery::new(shared.clone(), transport, cancel.clone()));
        let queue = Arc::new(Queue::default());
        let spool_lock_fd = spool.as_ref().map(Spool::lock_fd);
        let spool = spool.map(|spool| Arc::new(SpoolFeed::new(Arc::new(spool))));
        match &spool {
            Some(feed) => {
                runtime.spawn(queue::run_spool(
                    delivery.clone(),
                    feed.clone(),
                    cancel.clone(),
                ));
                if let Durability::Interval(interval) = feed.spool.options().durability {
                    runtime.spawn(queue::sync_spool(
                        feed.clone(),
                        interval,
                        cancel.clone(),
                        shared.settings.logger.clone(),
                    ));
                }
            }
            None => {
                runtime.spawn(queue::run(delivery.clone(), queue.clone(), cancel.clone()));
            }
        }
        Ok(Engine {
            pid: std::process::id(),
            runtime: Mutex::new(Some(runtime)),
            delivery,
            in_flight: Arc::new(InFlight::default()),
            queue,
            spool: Mutex::new(spool),
            spool_lock_fd,
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
        let spool = match &settings.spool {
            Some(options) => Some(Spool::open(options.clone()).map_err(Error::invalid)?),
            None => None,
        };
        if let Some(spool) = &spool {
            let left = spool.counters().pending_bytes.load(Ordering::Relaxed);
            if left > 0 {
                settings.logger.log(
                    crate::log::LogLevel::Info,
                    &format!(
                        "spool {}: {left} bytes left by an earlier exporter; delivering them first",
                        spool.options().directory.display()
                    ),
                );
            }
        }
        let shared = Arc::new(Shared {
            spool_counters: spool.as_ref().map(|s| s.counters_handle()),
            settings,
            stats: Stats::default(),
            observer: OnceLock::new(),
        });
        let engine = Box::new(Engine::start(&shared, spool)?);
        Ok(Exporter {
            shared,
            engine: AtomicPtr::new(Box::into_raw(engine)),
            shut_down: AtomicBool::new(false),
        })
    }

    /// Uploads one serialized `ResourceMetrics`; blocks until the receiver accepted it,
    /// refused it for good, or `timeout` (`None`: the configured export timeout) ran out.
    pub fn upload(&self, resource_metrics: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.upload_cancellable(resource_metrics, timeout, None)
    }

    /// As [`Exporter::upload`]; when `cancel` is triggered (before or during the call)
    /// it returns [`ErrorKind::Cancelled`] at once (what was sent may still arrive).
    pub fn upload_cancellable(
        &self,
        resource_metrics: &[u8],
        timeout: Option<Duration>,
        cancel: Option<&Cancel>,
    ) -> Result<()> {
        self.check_running()?;
        cancel.map_or(Ok(()), Cancel::check)?;
        let request = validate::checked_resource_metrics_request(resource_metrics)?;
        self.export(request, timeout, cancel)
    }

    /// Uploads one serialized `ExportMetricsServiceRequest`, as [`Exporter::upload`].
    pub fn upload_request(&self, request: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.check_running()?;
        let request = validate::checked_export_request(request)?;
        self.export(request, timeout, None)
    }

    /// Uploads an `ExportMetricsServiceRequest` in the OTLP/JSON encoding.
    pub fn upload_json(&self, json: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.check_running()?;
        self.export(Bytes::from(json::to_protobuf(json)?), timeout, None)
    }

    /// Checks and copies one serialized `ResourceMetrics` into the bounded queue (or
    /// writes it to the spool) and returns; background work delivers it.
    /// [`ErrorKind::QueueFull`] when it would pass the queue's byte bound, or the spool
    /// cannot take it.
    pub fn enqueue(&self, resource_metrics: &[u8]) -> Result<()> {
        self.check_running()?;
        let request = validate::checked_resource_metrics_request(resource_metrics)?;
        self.enqueue_request(request)
    }

    /// Uploads a serialized `ExportMetricsServiceRequest` that this library encoded
    /// itself (the metrics pipeline's collections), as [`Exporter::upload`]: sent as it
    /// is, neither checked nor copied.
    pub(crate) fn upload_encoded(&self, request: Bytes, timeout: Option<Duration>) -> Result<()> {
        self.check_running()?;
        debug_assert_valid(&request);
        self.export(request, timeout, None)
    }

    /// Enqueues a request this library encoded itself, as [`Exporter::enqueue`], without
    /// checking or copying it.
    pub(crate) fn enqueue_encoded(&self, request: Bytes) -> Result<()> {
        self.check_running()?;
        debug_assert_valid(&request);
        self.enqueue_request(request)
    }

    fn enqueue_request(&self, request: Bytes) -> Result<()> {
        let engine = self.engine()?;
        let spool = lock(&engine.spool).clone();
        match (spool, &self.shared.settings.spool) {
            (Some(feed), _) => feed.push(&self.shared, &request, engine.in_flight.begin()),
            (None, Some(options)) => Err(Error::invalid(format!(
                "enqueue: this exporter's spool {} belongs to the process that created it \
                 (a forked child cannot write to it); create an exporter with a spool \
                 directory of its own in this process",
                options.directory.display()
            ))),
            (None, None) => engine
                .queue
                .push(&self.shared, request, engine.in_flight.begin()),
        }
    }

    /// Returns once every upload accepted (or enqueued) before this call has finished.
    pub fn force_flush(&self, timeout: Option<Duration>) -> Result<()> {
        self.force_flush_cancellable(timeout, None)
    }

    /// As [`Exporter::force_flush`]; when `cancel` is triggered (before or during the
    /// call) it returns [`ErrorKind::Cancelled`] at once.
    pub fn force_flush_cancellable(
        &self,
        timeout: Option<Duration>,
        cancel: Option<&Cancel>,
    ) -> Result<()> {
        self.check_running()?;
        let deadline = self.deadline(timeout);
        let engine = self.engine()?;
        let flushed = match cancel {
            None => engine.in_flight.wait_for_earlier(deadline),
            Some(cancel) => {
                cancel.check()?;
                engine.handle()?.block_on(
                    engine
                        .in_flight
                        .wait_for_earlier_cancellable(deadline, cancel),
                )?
            }
        };
        if flushed {
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
        let spool = lock(&engine.spool).take();
        if let Some(feed) = &spool {
            feed.release_all();
        }
        engine
            .in_flight
            .wait_for_earlier(Some(Instant::now() + CANCELLED_UPLOADS_GRACE));
        if let Some(runtime) = lock(&engine.runtime).take() {
            let left = deadline
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or(DEFAULT_TIMEOUT);
            runtime.shutdown_timeout(left.max(MIN_RUNTIME_SHUTDOWN));
        }
        if let Some(feed) = spool {
            self.release_spool(feed);
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

    /// The statistics now. With a spool, `queue_bytes` counts the bytes of records not
    /// yet delivered and `queue_dropped` also the records dropped because the spool was
    /// full or the receiver refused them for good.
    pub fn stats(&self) -> StatsSnapshot {
        let mut snapshot = self.shared.stats.snapshot();
        if let Some(spool) = &self.shared.spool_counters {
            snapshot.queue_bytes += spool.pending_bytes.load(Ordering::Relaxed);
            snapshot.queue_dropped +=
                spool.dropped.load(Ordering::Relaxed) + spool.rejected.load(Ordering::Relaxed);
        }
        snapshot
    }

    /// The spool's own counters, if the exporter has a spool.
    pub fn spool_stats(&self) -> Option<crate::spool::SpoolStats> {
        self.shared.spool_counters.as_ref().map(|c| c.snapshot())
    }

    /// Closes the spool (releasing its directory's lock) and says what it leaves behind.
    fn release_spool(&self, feed: Arc<SpoolFeed>) {
        let directory = feed.spool.options().directory.clone();
        let left = feed.spool.counters().pending_bytes.load(Ordering::Relaxed);
        drop(feed);
        if left > 0 {
            self.shared.settings.logger.log(
                crate::log::LogLevel::Info,
                &format!(
                    "spool {}: {left} bytes not yet delivered stay there for the next exporter on the directory",
                    directory.display()
                ),
            );
        }
    }

    /// Tells `observer` of every delivery from now on (the first observer set stays).
    pub(crate) fn observe(&self, observer: Arc<dyn DeliveryObserver>) {
        let _ = self.shared.observer.set(observer);
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
        let fresh = Box::into_raw(Box::new(Engine::start(&self.shared, None)?));
        match self
            .engine
            .compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                if let Some(fd) = engine.spool_lock_fd {
                    // Closing the inherited copy leaves the parent's lock in place (only
                    // an unlock would release it), and keeps this process from holding
                    // the lock after the parent is gone.
                    // SAFETY: the parent's engine is never used (nor dropped) here, so
                    // nothing else closes or uses this descriptor in this process.
                    unsafe { libc::close(fd) };
                }
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

    /// A synchronous upload: the delivery pipeline driven on the caller's thread, so
    /// that its CPU work (split, JSON, gzip) runs here.
    fn export(
        &self,
        request: Bytes,
        timeout: Option<Duration>,
        cancel: Option<&Cancel>,
    ) -> Result<()> {
        let deadline = self.deadline(timeout);
        let engine = self.engine()?;
        let _ticket = engine.in_flight.begin();
        let handle = engine.handle()?;
        handle.block_on(engine.delivery.deliver(request, deadline, cancel))
    }
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

/// In tests and debug builds, the encoder's output is checked as a caller's would be.
fn debug_assert_valid(request: &[u8]) {
    if cfg!(debug_assertions) {
        if let Err(error) = validate::export_request(request) {
            panic!("the library encoded an invalid request: {error}");
        }
    }
}
