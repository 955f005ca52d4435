//! `otlpmetric_config_set_spool*` and `otlpmetric_exporter_spool_stats`: the disk spool
//! that keeps enqueued data across outages and restarts.

use std::ffi::c_char;
use std::time::Duration;

use super::boundary::{arg_mut, arg_ref, arg_str, boundary};
use super::config::{otlpmetric_config, with_config};
use super::exporter::otlpmetric_exporter;
use super::types::otlpmetric_status;
use crate::error::{Error, Result};
use crate::spool::{Durability, FullPolicy, SpoolStats, DEFAULT_SYNC_INTERVAL};

/// When spooled records are forced to the disk with `fsync`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum otlpmetric_spool_durability {
    /// At most `interval_ms` after the write (the default, every 1000 ms). A killed
    /// process loses nothing (the data is in the kernel's cache); a power cut or kernel
    /// crash can lose the records of the last interval.
    OTLPMETRIC_SPOOL_SYNC_INTERVAL = 0,
    /// Before `otlpmetric_exporter_enqueue` returns `OTLPMETRIC_OK`: nothing enqueued is
    /// lost even by a power cut; each enqueue waits for the disk (a few milliseconds on
    /// a disk without a write cache).
    OTLPMETRIC_SPOOL_SYNC_EVERY_RECORD = 1,
    /// When the kernel writes its cache back: a killed process loses nothing; a power cut
    /// can lose whatever was not written back yet (up to ~30 s on Linux defaults).
    OTLPMETRIC_SPOOL_SYNC_NEVER = 2,
}

/// What a record that would pass the spool's `max_bytes` does.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub enum otlpmetric_spool_full_policy {
    /// Delete the oldest records (whole segment files) to make room (the default). They are
    /// counted in `otlpmetric_stats.queue_dropped` and `records_dropped`, and logged.
    OTLPMETRIC_SPOOL_FULL_DROP_OLDEST = 0,
    /// Refuse the new record: `otlpmetric_exporter_enqueue` returns
    /// `OTLPMETRIC_ERR_QUEUE_FULL`; counted as above.
    OTLPMETRIC_SPOOL_FULL_REFUSE_NEW = 1,
}

/// An `otlpmetric_spool_durability` as C passes it: any integer.
pub type SpoolDurabilityValue = i32;
/// An `otlpmetric_spool_full_policy` as C passes it: any integer.
pub type SpoolFullPolicyValue = i32;

/// The spool's counters, from `otlpmetric_exporter_spool_stats`. All but the two byte
/// counts only grow. They count records (one `enqueue` is one record) of this exporter;
/// records an earlier process left are counted when this exporter delivers, skips or
/// drops them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct otlpmetric_spool_stats {
    /// Records written to the spool by `enqueue`.
    pub records_spooled: u64,
    /// Records the receiver accepted (then removed from the spool).
    pub records_delivered: u64,
    /// Damaged records (a write torn by a crash, corruption) skipped when read back.
    pub records_skipped: u64,
    /// Records deleted or refused because the spool was full (see
    /// `otlpmetric_spool_full_policy`).
    pub records_dropped: u64,
    /// Records the receiver refused for good (a non-retryable answer, such as HTTP 400 or
    /// gRPC INVALID_ARGUMENT): they would never be accepted, so they are dropped.
    pub records_rejected: u64,
    /// Bytes of records not yet delivered, framing included (also in
    /// `otlpmetric_stats.queue_bytes`).
    pub bytes_waiting: u64,
    /// Bytes of the spool's segment files.
    pub bytes_on_disk: u64,
}

impl From<SpoolStats> for otlpmetric_spool_stats {
    fn from(s: SpoolStats) -> Self {
        otlpmetric_spool_stats {
            records_spooled: s.spooled,
            records_delivered: s.delivered,
            records_skipped: s.skipped,
            records_dropped: s.dropped,
            records_rejected: s.rejected,
            bytes_waiting: s.pending_bytes,
            bytes_on_disk: s.disk_bytes,
        }
    }
}

/// Makes `otlpmetric_exporter_enqueue` write to a disk spool in `directory` (created if
/// missing) instead of the in-memory queue, holding at most `max_bytes` there (at least
/// 4096; `otlpmetric_config_set_queue` then does not apply). NULL `directory`: in memory
/// only, whatever `OTLPMETRIC_SPOOL_DIR` says (`max_bytes` is then ignored).
///
/// With a spool:
/// - `enqueue` returns `OTLPMETRIC_OK` only once the record is written to a segment file
///   (and forced to disk as `otlpmetric_config_set_spool_durability` says). A write the
///   disk refuses (full, read-only) is `OTLPMETRIC_ERR_QUEUE_FULL` with the reason.
/// - Records are delivered in order, with the retry policy; a record is removed only once
///   the receiver accepted it. One whose delivery failed after every retry (the receiver
///   away longer than the retry budget) stays first in line and is tried again after a
///   wait that grows from the retry policy's initial interval to its maximum interval. One
///   the receiver refused for good is logged, counted (`records_rejected`, and in
///   `queue_dropped`) and dropped.
/// - `force_flush` waits for the records this exporter enqueued; `shutdown` leaves what
///   is not delivered in the directory, not counted as dropped.
/// - A later exporter on the same directory (in this process or another, after a crash
///   or a kill) delivers what is left there first. Damaged records are skipped, counted
///   (`records_skipped`) and logged; the others are delivered.
/// - One live exporter per directory: `otlpmetric_exporter_new` refuses a directory in
///   use by another (in this process or another) with `OTLPMETRIC_ERR_INVALID_ARGUMENT`,
///   as it does a directory it cannot create or lock. The lock is released at shutdown,
///   by `otlpmetric_exporter_free`, or by the kernel when the process dies.
/// - After `fork()`, the child does not use the parent's spool: on its first call it
///   closes its inherited copy of the lock (the parent keeps the lock), its `enqueue`
///   fails with `OTLPMETRIC_ERR_INVALID_ARGUMENT`, its uploads work. A child should create
///   an exporter with a directory of its own.
///
/// Memory stays bounded whatever the spool holds: records are read back one at a time.
/// An empty `directory` or `max_bytes` below 4096 is `OTLPMETRIC_ERR_INVALID_ARGUMENT`
/// and changes nothing. The string is copied.
///
/// # Safety
/// `config` is NULL or valid; `directory` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_spool(
    config: *mut otlpmetric_config,
    directory: *const c_char,
    max_bytes: usize,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_spool", config, |c| {
            let directory = if directory.is_null() {
                None
            } else {
                Some(arg_str(directory, "directory")?)
            };
            c.set_spool(directory, max_bytes)
        })
    }
}

/// Sets when spooled records are forced to disk (see `otlpmetric_spool_durability`).
/// `interval_ms` is the interval of `OTLPMETRIC_SPOOL_SYNC_INTERVAL` (0: the default,
/// 1000 ms) and must be 0 with the other choices. An unknown value is
/// `OTLPMETRIC_ERR_INVALID_ARGUMENT` and changes nothing.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_spool_durability(
    config: *mut otlpmetric_config,
    durability: SpoolDurabilityValue,
    interval_ms: u32,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_spool_durability", config, |c| {
            c.set_spool_durability(durability_from_c(durability, interval_ms)?)
        })
    }
}

/// Sets what a full spool does (see `otlpmetric_spool_full_policy`; default: drop the
/// oldest). An unknown value is `OTLPMETRIC_ERR_INVALID_ARGUMENT` and changes nothing.
///
/// # Safety
/// `config` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_config_set_spool_full_policy(
    config: *mut otlpmetric_config,
    policy: SpoolFullPolicyValue,
) -> otlpmetric_status {
    unsafe {
        with_config("otlpmetric_config_set_spool_full_policy", config, |c| {
            c.set_spool_full_policy(match policy {
                0 => FullPolicy::DropOldest,
                1 => FullPolicy::RefuseNew,
                _ => {
                    return Err(Error::invalid(format!(
                        "spool full policy {policy} is unknown (expected DROP_OLDEST=0 or REFUSE_NEW=1)"
                    )))
                }
            });
            Ok(())
        })
    }
}

/// Writes the spool's counters to `*out`. Cheap and thread-safe; works after shutdown.
/// An exporter without a spool is `OTLPMETRIC_ERR_INVALID_ARGUMENT` (and `*out` is not
/// written).
///
/// # Safety
/// `exporter` is NULL or valid; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn otlpmetric_exporter_spool_stats(
    exporter: *const otlpmetric_exporter,
    out: *mut otlpmetric_spool_stats,
) -> otlpmetric_status {
    boundary("otlpmetric_exporter_spool_stats", || {
        let exporter = unsafe { arg_ref(exporter, "exporter") }?;
        let out = unsafe { arg_mut(out, "out") }?;
        let stats = exporter
            .inner
            .spool_stats()
            .ok_or_else(|| Error::invalid("this exporter has no spool"))?;
        *out = stats.into();
        Ok(())
    })
}

fn durability_from_c(value: SpoolDurabilityValue, interval_ms: u32) -> Result<Durability> {
    let durability = match value {
        0 if interval_ms == 0 => Durability::Interval(DEFAULT_SYNC_INTERVAL),
        0 => Durability::Interval(Duration::from_millis(interval_ms.into())),
        1 => Durability::EveryRecord,
        2 => Durability::Never,
        _ => {
            return Err(Error::invalid(format!(
            "spool durability {value} is unknown (expected INTERVAL=0, EVERY_RECORD=1 or NEVER=2)"
        )))
        }
    };
    if value != 0 && interval_ms != 0 {
        return Err(Error::invalid(
            "spool durability: interval_ms applies to OTLPMETRIC_SPOOL_SYNC_INTERVAL only; pass 0",
        ));
    }
    Ok(durability)
}
