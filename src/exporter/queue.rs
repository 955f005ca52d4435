//! Asynchronous export: a byte-bounded in-memory queue, or a disk spool, drained by one
//! background task that delivers through the same pipeline as synchronous uploads.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::delivery::Delivery;
use super::in_flight::Ticket;
use super::{lock, Shared};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};
use crate::spool::{AppendError, Position, Spool};
use crate::stats::Stats;

/// One enqueued upload, from its push until it is delivered, fails or is dropped.
struct Queued {
    request: Bytes,
    // Fields drop in order: the bytes are released before the ticket lets flush return,
    // so that a flushed queue reads `queue_bytes` 0.
    _reservation: Reservation,
    _ticket: Ticket,
}

/// Room held in the queue's byte bound (`queue_bytes`) for one upload, released when
/// dropped: whichever way the upload ends, its bytes are released exactly once.
struct Reservation {
    shared: Arc<Shared>,
    size: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.shared.stats.queue_bytes.fetch_sub(self.size, Relaxed);
    }
}

#[derive(Default)]
pub(super) struct Queue {
    items: Mutex<VecDeque<Queued>>,
    ready: Notify,
}

impl Queue {
    /// Reserves room for `request` within the queue's byte bound (counted in
    /// `queue_bytes`) and queues it, or refuses it as full. `ticket` keeps flush waiting
    /// until the upload has ended.
    pub(super) fn push(&self, shared: &Arc<Shared>, request: Bytes, ticket: Ticket) -> Result<()> {
        let stats = &shared.stats;
        let max_bytes = shared.settings.queue_max_bytes;
        let size = request.len() as u64;
        let reserved = stats.queue_bytes.fetch_update(Relaxed, Relaxed, |held| {
            held.checked_add(size)
                .filter(|total| *total <= max_bytes as u64)
        });
        if let Err(held) = reserved {
            Stats::add(&stats.queue_dropped, 1);
            return Err(Error::new(
                ErrorKind::QueueFull,
                format!("the queue holds {held} of its {max_bytes} bytes; {size} more do not fit"),
            ));
        }
        let item = Queued {
            request,
            _reservation: Reservation {
                shared: shared.clone(),
                size,
            },
            _ticket: ticket,
        };
        lock(&self.items).push_back(item);
        self.ready.notify_one();
        Ok(())
    }

    fn pop(&self) -> Option<Queued> {
        lock(&self.items).pop_front()
    }

    /// Drops everything still queued (at shutdown); returns how many uploads that was.
    pub(super) fn drop_all(&self, stats: &Stats) -> u64 {
        let dropped = lock(&self.items).drain(..).count() as u64;
        Stats::add(&stats.queue_dropped, dropped);
        dropped
    }
}

/// The background task: delivers queued uploads one after another until cancelled.
pub(super) async fn run(delivery: Arc<Delivery>, queue: Arc<Queue>, cancel: CancellationToken) {
    let shared = delivery.shared.clone();
    loop {
        let Some(item) = queue.pop() else {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = queue.ready.notified() => continue,
            }
        };
        let deadline = shared.settings.timeout.map(|t| Instant::now() + t);
        match delivery.deliver(item.request.clone(), deadline, None).await {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::Shutdown => {
                // Cancelled by shutdown: the upload is dropped with the rest of the queue.
                Stats::add(&shared.stats.queue_dropped, 1);
                return;
            }
            Err(error) => shared.settings.logger.log(
                LogLevel::Error,
                &format!("background export failed: {error}"),
            ),
        }
    }
}

/// The disk spool as the exporter's queue: `enqueue` appends to it, the background task
/// reads it in order and removes a record only once the receiver accepted it.
pub(super) struct SpoolFeed {
    pub(super) spool: Arc<Spool>,
    /// Flush tickets of records this process enqueued, released once the spool has read
    /// past them (delivered, refused for good, skipped or dropped).
    tickets: Mutex<Vec<(Position, Ticket)>>,
    ready: Notify,
}

impl SpoolFeed {
    pub(super) fn new(spool: Arc<Spool>) -> SpoolFeed {
        SpoolFeed {
            spool,
            tickets: Mutex::new(Vec::new()),
            ready: Notify::new(),
        }
    }

    /// Writes `request` to the spool (by its durability, to disk) before returning;
    /// [`ErrorKind::QueueFull`] when the spool is full and refuses new data, or the disk
    /// refuses the write.
    pub(super) fn push(&self, shared: &Shared, request: &[u8], ticket: Ticket) -> Result<()> {
        let counters = self.spool.counters();
        let dropped_before = counters.dropped.load(Relaxed);
        let directory = self.spool.options().directory.display();
        let position = self.spool.append(request).map_err(|error| match error {
            AppendError::Full(why) => {
                Error::new(ErrorKind::QueueFull, format!("spool {directory}: {why}"))
            }
            AppendError::Io(e) => Error::new(
                ErrorKind::QueueFull,
                format!("spool {directory}: the record could not be written: {e}"),
            ),
        })?;
        let dropped = counters.dropped.load(Relaxed) - dropped_before;
        if dropped > 0 {
            shared.settings.logger.warn(&format!(
                "spool {directory} is full: dropped its {dropped} oldest record(s) to make room"
            ));
        }
        lock(&self.tickets).push((position, ticket));
        self.release_delivered();
        self.ready.notify_one();
        Ok(())
    }

    /// Lets flush return for the records the spool has read past.
    fn release_delivered(&self) {
        let read = self.spool.read_position();
        lock(&self.tickets).retain(|(position, _)| *position >= read);
    }

    /// Stops flush waiting for anything (at shutdown): the records stay on disk for the
    /// next exporter on the directory. Returns how many records that was.
    pub(super) fn release_all(&self) -> u64 {
        lock(&self.tickets).drain(..).count() as u64
    }
}

/// Whether the receiver (or the request itself) rules out ever delivering `error`'s data:
/// keeping it would block the spool forever.
fn refused_for_good(error: &Error) -> bool {
    error.is_refused() || matches!(error.kind(), ErrorKind::Decode | ErrorKind::InvalidArgument)
}

/// The background task with a spool: delivers its records in order. A record whose
/// delivery failed after the retry policy (the receiver away longer than the retry budget,
/// the deadline) stays first in line and is tried again after a backoff that grows from
/// the retry policy's initial interval to its maximum; one the receiver refused for good
/// is logged, counted and dropped.
pub(super) async fn run_spool(
    delivery: Arc<Delivery>,
    feed: Arc<SpoolFeed>,
    cancel: CancellationToken,
) {
    let shared = delivery.shared.clone();
    let logger = &shared.settings.logger;
    let counters = feed.spool.counters();
    let directory = feed.spool.options().directory.display().to_string();
    let policy = shared.settings.retry;
    let first_wait = policy.initial_interval.max(MIN_SPOOL_RETRY);
    let mut wait = first_wait;
    loop {
        let skipped_before = counters.skipped.load(Relaxed);
        let spool = feed.spool.clone();
        let next = off_the_runtime(move || spool.next()).await;
        let skipped = counters.skipped.load(Relaxed) - skipped_before;
        if skipped > 0 {
            logger.warn(&format!(
                "spool {directory}: skipped {skipped} damaged record(s) (torn write or corruption)"
            ));
        }
        feed.release_delivered();
        let mut record = match next {
            Ok(Some(record)) => record,
            Ok(None) => {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = feed.ready.notified() => continue,
                }
            }
            Err(e) => {
                logger.log(
                    LogLevel::Error,
                    &format!("spool {directory}: cannot read: {e}; trying again in {wait:?}"),
                );
                if sleep_or_cancel(wait, &cancel).await {
                    return;
                }
                wait = grow(wait, policy.max_interval);
                continue;
            }
        };
        let payload = Bytes::from(std::mem::take(&mut record.payload));
        let deadline = shared.settings.timeout.map(|t| Instant::now() + t);
        let spool = feed.spool.clone();
        let consumed = match delivery.deliver(payload, deadline, None).await {
            Ok(()) => {
                wait = first_wait;
                off_the_runtime(move || spool.acknowledge(&record)).await
            }
            // Shutdown: the record stays in the spool for the next exporter.
            Err(error) if error.kind() == ErrorKind::Shutdown => return,
            Err(error) if refused_for_good(&error) => {
                logger.log(
                    LogLevel::Error,
                    &format!(
                        "spool {directory}: a record was refused for good and dropped: {error}"
                    ),
                );
                off_the_runtime(move || spool.reject(&record)).await
            }
            Err(error) => {
                logger.warn(&format!(
                    "spool {directory}: export failed; the record stays in the spool and is tried again in {wait:?}: {error}"
                ));
                if sleep_or_cancel(wait, &cancel).await {
                    return;
                }
                wait = grow(wait, policy.max_interval);
                continue;
            }
        };
        if let Err(e) = consumed {
            logger.log(
                LogLevel::Error,
                &format!("spool {directory}: cannot record a delivery (the record may be sent again): {e}"),
            );
        }
        feed.release_delivered();
    }
}

/// Forces the spool's new records to disk every `interval` ([`crate::spool::Durability::Interval`]).
pub(super) async fn sync_spool(
    feed: Arc<SpoolFeed>,
    interval: Duration,
    cancel: CancellationToken,
    logger: Logger,
) {
    loop {
        if sleep_or_cancel(interval, &cancel).await {
            return;
        }
        let spool = feed.spool.clone();
        if let Err(e) = off_the_runtime(move || spool.sync()).await {
            logger.log(
                LogLevel::Error,
                &format!(
                    "spool {}: fsync failed: {e}",
                    feed.spool.options().directory.display()
                ),
            );
        }
    }
}

/// Runs the spool's disk work (reads, renames, `fsync`) on the blocking pool, so that the
/// runtime's one worker keeps driving connections meanwhile.
async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// The least wait before a spooled record is tried again, whatever the retry policy says.
const MIN_SPOOL_RETRY: Duration = Duration::from_millis(100);

fn grow(wait: Duration, max: Duration) -> Duration {
    (wait * 2).min(max.max(wait))
}

/// Sleeps for `wait`; true when cancelled first.
async fn sleep_or_cancel(wait: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}
