//! The exporter: OpenTelemetry-Go's `otlpmetric.Client` (UploadMetrics, ForceFlush,
//! Shutdown, Temporality, Aggregation) with deadlines instead of contexts.
//!
//! Calls block the calling thread on the exporter's own tokio runtime, so uploads from
//! many threads run concurrently and no global lock is held around the network.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Settings, DEFAULT_TIMEOUT};
use crate::error::{Error, ErrorKind, Result};
use crate::retry::{Backoff, NextStep};
use crate::selectors::{Aggregation, InstrumentKind, Temporality};
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::{Accepted, Transport};
use crate::{json, split, validate};

/// An OTLP metrics exporter. Every method is safe to call from any number of threads.
pub struct Exporter {
    shared: Arc<Shared>,
    runtime: Mutex<Option<Runtime>>,
    shut_down: AtomicBool,
    /// Cancelled by shutdown: uploads still running then stop at once.
    cancel: CancellationToken,
}

/// What the exporter's calls share.
struct Shared {
    settings: Settings,
    transport: Transport,
    stats: Stats,
    in_flight: Arc<InFlight>,
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads())
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
            Transport::new(&settings)?
        };
        Ok(Exporter {
            shared: Arc::new(Shared {
                settings,
                transport,
                stats: Stats::default(),
                in_flight: Arc::new(InFlight::default()),
            }),
            runtime: Mutex::new(Some(runtime)),
            shut_down: AtomicBool::new(false),
            cancel: CancellationToken::new(),
        })
    }

    /// Uploads one serialized `ResourceMetrics`; blocks until the receiver accepted it,
    /// refused it for good, or `timeout` (`None`: the configured export timeout) ran out.
    pub fn upload(&self, resource_metrics: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.check_running()?;
        validate::resource_metrics(resource_metrics)?;
        self.export(validate::wrap_resource_metrics(resource_metrics), timeout)
    }

    /// Uploads one serialized `ExportMetricsServiceRequest`, as [`Exporter::upload`].
    pub fn upload_request(&self, request: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.check_running()?;
        validate::export_request(request)?;
        self.export(Bytes::copy_from_slice(request), timeout)
    }

    /// Uploads an `ExportMetricsServiceRequest` in the OTLP/JSON encoding.
    pub fn upload_json(&self, json: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.check_running()?;
        let request = json::parse_request(json)?;
        self.export(Bytes::from(request.encode_to_vec()), timeout)
    }

    /// Returns once every upload accepted before this call has finished.
    pub fn force_flush(&self, timeout: Option<Duration>) -> Result<()> {
        self.check_running()?;
        let deadline = self.deadline(timeout);
        if self.shared.in_flight.wait_for_earlier(deadline) {
            Ok(())
        } else {
            Err(Error::timeout(
                "force_flush: the deadline passed before earlier uploads finished",
            ))
        }
    }

    /// Flushes, then stops the exporter's connections and threads. Acts once; later calls
    /// (and every other call) get [`ErrorKind::Shutdown`]. The exporter is shut down even
    /// when the deadline passes first, in which case uploads still running are cancelled
    /// and the result is [`ErrorKind::Timeout`].
    pub fn shutdown(&self, timeout: Option<Duration>) -> Result<()> {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Err(Error::shutdown());
        }
        let deadline = self.deadline(timeout);
        let flushed = self.shared.in_flight.wait_for_earlier(deadline);
        self.cancel.cancel();
        // Cancelled uploads return at once; let them leave the runtime before it stops.
        self.shared
            .in_flight
            .wait_for_earlier(Some(Instant::now() + Duration::from_millis(100)));
        if let Some(runtime) = lock(&self.runtime).take() {
            let left = deadline
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or(DEFAULT_TIMEOUT);
            runtime.shutdown_timeout(left.max(Duration::from_millis(10)));
        }
        if flushed {
            Ok(())
        } else {
            Err(Error::timeout(
                "shutdown: the deadline passed before uploads in progress finished; they were cancelled",
            ))
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

    /// The instant a call with `timeout` must end by; `None` means no limit.
    fn deadline(&self, timeout: Option<Duration>) -> Option<Instant> {
        timeout
            .or(self.shared.settings.timeout)
            .map(|t| Instant::now() + t)
    }

    fn export(&self, request: Bytes, timeout: Option<Duration>) -> Result<()> {
        let deadline = self.deadline(timeout);
        let _ticket = self.shared.in_flight.begin();
        let handle = match lock(&self.runtime).as_ref() {
            Some(runtime) => runtime.handle().clone(),
            None => return Err(Error::shutdown()),
        };
        let split = split::split_request(request, self.shared.settings.max_request_bytes);
        let shared = &self.shared;
        let cancel = &self.cancel;
        let sent = handle.block_on(async move {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    Stats::add(&shared.stats.requests_failed, 1);
                    Err(Error::new(ErrorKind::Shutdown, "the exporter was shut down while the upload was in progress"))
                }
                result = shared.deliver_all(&split.requests, deadline) => result,
            }
        });
        sent?;
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

/// A bounded list of what was left out.
fn summarize(items: &[String]) -> String {
    let mut text = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 3 {
        text.push_str(&format!(" and {} more", items.len() - 3));
    }
    text
}

impl Drop for Exporter {
    /// Shuts down first if needed, within the configured export timeout (10 s when the
    /// configuration has no limit), so that dropping never blocks forever.
    fn drop(&mut self) {
        if !self.is_shut_down() {
            let bound = self.shared.settings.timeout.unwrap_or(DEFAULT_TIMEOUT);
            let _ = self.shutdown(Some(bound));
        }
    }
}

impl Shared {
    /// Sends the pieces of one upload in turn; the first failure is the result, and the
    /// other pieces are still tried.
    async fn deliver_all(&self, requests: &[Bytes], deadline: Option<Instant>) -> Result<()> {
        let mut first_error = None;
        for request in requests {
            if let Err(error) = self.deliver(request, deadline).await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Sends one request with the retry policy, within `deadline`.
    async fn deliver(&self, request: &Bytes, deadline: Option<Instant>) -> Result<()> {
        let result = self.send_with_retry(request, deadline).await;
        match &result {
            Ok(accepted) => {
                Stats::add(&self.stats.requests_sent, 1);
                Stats::add(&self.stats.bytes_sent, request.len() as u64);
                self.report_partial_success(accepted);
            }
            Err(_) => Stats::add(&self.stats.requests_failed, 1),
        }
        result.map(drop)
    }

    async fn send_with_retry(
        &self,
        request: &Bytes,
        deadline: Option<Instant>,
    ) -> Result<Accepted> {
        let mut backoff = Backoff::new(self.settings.retry);
        let deadline_passed = |last: &str| {
            Error::timeout(format!(
                "the deadline passed before the receiver accepted the data; last error: {last}"
            ))
        };
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining == Some(Duration::ZERO) {
                return Err(deadline_passed("none (no time left to try)"));
            }
            let attempt = self.transport.send(request, remaining);
            let outcome = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline.into(), attempt).await {
                    Ok(outcome) => outcome,
                    Err(_) => return Err(deadline_passed("the receiver did not answer in time")),
                },
                None => attempt.await,
            };
            let error = match outcome {
                Ok(accepted) => return Ok(accepted),
                Err(error) => error,
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(deadline_passed(&error.message));
            }
            if !error.retryable {
                return Err(Error::export(format!(
                    "the receiver refused the data: {}",
                    error.message
                )));
            }
            match backoff.next(error.throttle) {
                NextStep::GiveUp(why) => {
                    return Err(Error::export(format!(
                        "{why}; last error: {}",
                        error.message
                    )))
                }
                NextStep::Wait(wait) => {
                    if deadline.is_some_and(|d| Instant::now() + wait > d) {
                        return Err(Error::timeout(format!(
                            "the next retry (in {wait:?}) would come after the deadline; last error: {}",
                            error.message
                        )));
                    }
                    self.settings.logger.debug(|| {
                        format!("export failed, retrying in {wait:?}: {}", error.message)
                    });
                    Stats::add(&self.stats.retries, 1);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn report_partial_success(&self, accepted: &Accepted) {
        if accepted.rejected_data_points == 0 && accepted.message.is_empty() {
            return;
        }
        Stats::add(
            &self.stats.data_points_rejected,
            accepted.rejected_data_points.max(0) as u64,
        );
        self.settings.logger.warn(&format!(
            "partial success: {} ({} metric data points rejected)",
            crate::transport::excerpt(&accepted.message),
            accepted.rejected_data_points
        ));
    }
}

fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().min(2))
        .unwrap_or(1)
}

/// Locks a mutex; a panic elsewhere never makes the exporter unusable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The uploads in progress, so that flush can wait for those that started before it.
#[derive(Default)]
struct InFlight {
    state: Mutex<InFlightState>,
    finished: Condvar,
}

#[derive(Default)]
struct InFlightState {
    next_id: u64,
    active: BTreeSet<u64>,
}

/// One upload in progress; dropping it marks the upload finished.
struct Ticket {
    in_flight: Arc<InFlight>,
    id: u64,
}

impl InFlight {
    fn begin(self: &Arc<Self>) -> Ticket {
        let mut state = lock(&self.state);
        let id = state.next_id;
        state.next_id += 1;
        state.active.insert(id);
        Ticket {
            in_flight: Arc::clone(self),
            id,
        }
    }

    /// Waits until every upload that began before this call has finished; false when
    /// `deadline` passed first.
    fn wait_for_earlier(&self, deadline: Option<Instant>) -> bool {
        let mut state = lock(&self.state);
        let boundary = state.next_id;
        loop {
            match state.active.first() {
                Some(&oldest) if oldest < boundary => {}
                _ => return true,
            }
            state = match deadline {
                None => self.finished.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.finished
                        .wait_timeout(state, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.in_flight.state).active.remove(&self.id);
        self.in_flight.finished.notify_all();
    }
}
