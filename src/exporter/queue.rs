//! Asynchronous export: a byte-bounded in-memory queue drained by one background task
//! that delivers with the same retry rules as synchronous uploads.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::delivery::Delivery;
use super::in_flight::Ticket;
use super::lock;
use crate::error::{Error, ErrorKind, Result};
use crate::log::LogLevel;
use crate::proto::split;
use crate::stats::Stats;

/// One enqueued upload; its ticket keeps flush waiting until it is delivered or dropped.
pub(super) struct Queued {
    pub(super) request: Bytes,
    pub(super) _ticket: Ticket,
}

#[derive(Default)]
pub(super) struct Queue {
    items: Mutex<VecDeque<Queued>>,
    ready: Notify,
}

impl Queue {
    /// Reserves room for `request` within `max_bytes` (counted in `stats.queue_bytes`)
    /// and queues it, or refuses it as full.
    pub(super) fn push(&self, stats: &Stats, max_bytes: usize, item: Queued) -> Result<()> {
        let size = item.request.len() as u64;
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
        lock(&self.items).push_back(item);
        self.ready.notify_one();
        Ok(())
    }

    fn pop(&self) -> Option<Queued> {
        lock(&self.items).pop_front()
    }

    /// Drops everything still queued (at shutdown); returns how many uploads that was.
    pub(super) fn drop_all(&self, stats: &Stats) -> u64 {
        let dropped: Vec<Queued> = lock(&self.items).drain(..).collect();
        for item in &dropped {
            stats
                .queue_bytes
                .fetch_sub(item.request.len() as u64, Relaxed);
        }
        Stats::add(&stats.queue_dropped, dropped.len() as u64);
        dropped.len() as u64
    }
}

/// The background task: delivers queued uploads one after another until cancelled.
pub(super) async fn run(delivery: Arc<Delivery>, queue: Arc<Queue>, cancel: CancellationToken) {
    let shared = delivery.shared.clone();
    let settings = &shared.settings;
    loop {
        let item = match queue.pop() {
            Some(item) => item,
            None => {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = queue.ready.notified() => continue,
                }
            }
        };
        let deadline = settings.timeout.map(|t| Instant::now() + t);
        let pieces = split::split_request(item.request.clone(), settings.max_request_bytes);
        let prepared = delivery.prepare(&pieces.requests);
        let result = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                Stats::add(&shared.stats.queue_dropped, 1);
                Stats::add(&shared.stats.requests_failed, 1);
                shared.stats.queue_bytes.fetch_sub(item.request.len() as u64, Relaxed);
                return;
            }
            result = delivery.deliver_all(&prepared, deadline) => result,
        };
        shared
            .stats
            .queue_bytes
            .fetch_sub(item.request.len() as u64, Relaxed);
        if let Err(error) = result {
            settings.logger.log(
                LogLevel::Error,
                &format!("background export failed: {error}"),
            );
        }
        if !pieces.oversized.is_empty() {
            Stats::add(&shared.stats.requests_failed, 1);
            settings.logger.log(
                LogLevel::Error,
                &format!(
                    "background export: {} piece(s) over max_request_bytes could not be sent",
                    pieces.oversized.len()
                ),
            );
        }
    }
}
