//! Asynchronous export: a byte-bounded in-memory queue drained by one background task
//! that delivers through the same pipeline as synchronous uploads.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::delivery::Delivery;
use super::in_flight::Ticket;
use super::{lock, Shared};
use crate::error::{Error, ErrorKind, Result};
use crate::log::LogLevel;
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
