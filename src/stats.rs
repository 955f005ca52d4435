//! Export statistics: lock-free counters read at any time from any thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The live counters of one exporter.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) requests_sent: AtomicU64,
    pub(crate) requests_failed: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) data_points_rejected: AtomicU64,
    pub(crate) queue_dropped: AtomicU64,
    pub(crate) queue_bytes: AtomicU64,
}

/// A copy of the counters at one moment; field meanings as in the C contract.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Export requests the receiver accepted (after any split).
    pub requests_sent: u64,
    /// Export requests that failed for good.
    pub requests_failed: u64,
    /// Retry attempts.
    pub retries: u64,
    /// Protobuf bytes of accepted requests, before compression.
    pub bytes_sent: u64,
    /// Data points the receiver rejected in partial successes.
    pub data_points_rejected: u64,
    /// Enqueued uploads refused as full or dropped at shutdown.
    pub queue_dropped: u64,
    /// Bytes waiting in the queue now.
    pub queue_bytes: u64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests_sent: self.requests_sent.load(Relaxed),
            requests_failed: self.requests_failed.load(Relaxed),
            retries: self.retries.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            data_points_rejected: self.data_points_rejected.load(Relaxed),
            queue_dropped: self.queue_dropped.load(Relaxed),
            queue_bytes: self.queue_bytes.load(Relaxed),
        }
    }
}
