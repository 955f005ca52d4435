//! A bounded disk spool: enqueued requests written to append-only segment files before
//! `enqueue` returns, read back one record at a time, and removed once acknowledged.
//!
//! Layout of the directory:
//! - `lock`: held with `flock` by the one live spool on the directory; the kernel releases
//!   it when the holder's process dies.
//! - `00000000000000000001.seg`, …: segment files, named by an increasing number, each a
//!   sequence of records ([`record`]); a segment is only appended to by the process that
//!   created it, and deleted once every record in it was acknowledged or dropped.
//! - `ack`: the position of the first record not yet acknowledged, replaced atomically
//!   (written to `ack.tmp`, then renamed).
//!
//! A reopened spool never appends to an old segment (its tail may be torn): it writes to a
//! new one. The module knows nothing of C, transports or the exporter.

mod lock;
mod record;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub(crate) use record::HEADER_LEN;
use record::{find_next_record, read_record, Read};

/// When written records are forced to the disk with `fsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Before `enqueue` returns: nothing acknowledged is lost, even by a power cut.
    EveryRecord,
    /// At most this long after the write: a power cut can lose that much; a killed
    /// process loses nothing (the data is in the kernel's cache).
    Interval(Duration),
    /// When the kernel decides: a killed process loses nothing, a power cut can lose
    /// whatever had not been written back.
    Never,
}

impl Default for Durability {
    fn default() -> Self {
        Durability::Interval(DEFAULT_SYNC_INTERVAL)
    }
}

/// The default interval of [`Durability::Interval`].
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// What a record that would pass `max_bytes` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FullPolicy {
    /// Delete the oldest segments (their records are counted as dropped).
    #[default]
    DropOldest,
    /// Refuse the new record (counted as dropped).
    RefuseNew,
}

/// Where and how to spool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolOptions {
    /// The directory (created if missing).
    pub directory: PathBuf,
    /// The most bytes the segment files may hold together.
    pub max_bytes: u64,
    /// When records are forced to disk.
    pub durability: Durability,
    /// What happens when `max_bytes` would be passed.
    pub full_policy: FullPolicy,
}

/// The smallest `max_bytes`: a few records and their framing.
pub const MIN_MAX_BYTES: u64 = 4096;
/// The largest segment file; a larger record gets a segment of its own.
const MAX_SEGMENT_BYTES: u64 = 16 << 20;
const ACK_FILE: &str = "ack";
const ACK_TMP: &str = "ack.tmp";
const SEGMENT_SUFFIX: &str = ".seg";

/// Where a record starts: segment number and byte offset. Ordered as records are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    segment: u64,
    offset: u64,
}

/// A record read back: its payload and where it is.
#[derive(Debug)]
pub struct Record {
    /// Where the record starts.
    pub position: Position,
    end: u64,
    /// What was appended.
    pub payload: Vec<u8>,
}

/// The spool's counters; all but the byte counts only grow.
#[derive(Debug, Default)]
pub struct SpoolCounters {
    /// Records written.
    pub spooled: AtomicU64,
    /// Records acknowledged as delivered.
    pub delivered: AtomicU64,
    /// Damaged records (torn writes, corruption) skipped when read.
    pub skipped: AtomicU64,
    /// Records deleted or refused because of `max_bytes`.
    pub dropped: AtomicU64,
    /// Records discarded because the receiver refused them for good.
    pub rejected: AtomicU64,
    /// Bytes of records not yet acknowledged (framing included).
    pub pending_bytes: AtomicU64,
    /// Bytes of all segment files.
    pub disk_bytes: AtomicU64,
}

/// A copy of [`SpoolCounters`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Records written.
    pub spooled: u64,
    /// Records delivered (acknowledged by the receiver).
    pub delivered: u64,
    /// Damaged records skipped.
    pub skipped: u64,
    /// Records deleted or refused because of `max_bytes`.
    pub dropped: u64,
    /// Records the receiver refused for good.
    pub rejected: u64,
    /// Bytes of records not yet delivered.
    pub pending_bytes: u64,
    /// Bytes of all segment files.
    pub disk_bytes: u64,
}

impl SpoolCounters {
    /// Reads every counter.
    pub fn snapshot(&self) -> SpoolStats {
        SpoolStats {
            spooled: self.spooled.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            pending_bytes: self.pending_bytes.load(Relaxed),
            disk_bytes: self.disk_bytes.load(Relaxed),
        }
    }
}

/// Why an append was refused.
#[derive(Debug)]
pub enum AppendError {
    /// `max_bytes` leaves no room (the full policy refuses new data, or the record alone is
    /// larger than `max_bytes`).
    Full(String),
    /// The disk refused the write (full, read-only, I/O error).
    Io(io::Error),
}

struct Segment {
    id: u64,
    /// The bytes of whole records in the file: the committed length of the segment being
    /// written, the file's length otherwise.
    bytes: u64,
}

struct Writer {
    segment: u64,
    file: File,
}

struct Inner {
    segments: VecDeque<Segment>,
    writer: Option<Writer>,
    next_id: u64,
    /// The first record not yet acknowledged.
    read: Position,
    /// An open handle on the segment being read.
    reader: Option<(u64, File)>,
    /// Whether the writer has data not yet forced to disk.
    dirty: bool,
}

/// An open, locked spool directory.
pub struct Spool {
    options: SpoolOptions,
    segment_bytes: u64,
    inner: Mutex<Inner>,
    counters: Arc<SpoolCounters>,
    /// Set with `Inner::dirty`; lets the interval's sync skip the lock when idle.
    dirty: AtomicBool,
    lock: lock::DirectoryLock,
}

impl Spool {
    /// Creates (if needed) and locks the directory, and finds what earlier spools left.
    /// A directory locked by another live spool, in this process or another, is refused.
    pub fn open(options: SpoolOptions) -> Result<Spool, String> {
        let dir = &options.directory;
        fs::create_dir_all(dir)
            .map_err(|e| format!("spool directory {} cannot be created: {e}", dir.display()))?;
        let lock = lock::DirectoryLock::acquire(dir)?;
        let mut ids = Vec::new();
        let entries = fs::read_dir(dir)
            .map_err(|e| format!("spool directory {} cannot be read: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            ids.push(id);
        }
        ids.sort_unstable();
        let acked = read_ack(dir);
        let first = ids.first().copied().unwrap_or(1);
        let mut read = match acked {
            Some(p) if p.segment >= first => p,
            _ => Position {
                segment: first,
                offset: 0,
            },
        };
        let mut segments = VecDeque::new();
        for id in ids {
            let path = segment_path(dir, id);
            if id < read.segment {
                // Acknowledged before the previous spool could delete it.
                let _ = fs::remove_file(&path);
                continue;
            }
            let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            segments.push_back(Segment { id, bytes });
        }
        if segments.front().is_some_and(|s| s.id != read.segment) {
            read = Position {
                segment: segments[0].id,
                offset: 0,
            };
        }
        let next_id = segments.back().map_or(read.segment.max(1), |s| s.id + 1);
        if segments.is_empty() {
            read = Position {
                segment: next_id,
                offset: 0,
            };
        }
        let segment_bytes = (options.max_bytes / 8).clamp(MIN_MAX_BYTES, MAX_SEGMENT_BYTES);
        let spool = Spool {
            segment_bytes,
            inner: Mutex::new(Inner {
                segments,
                writer: None,
                next_id,
                read,
                reader: None,
                dirty: false,
            }),
            counters: Arc::default(),
            dirty: AtomicBool::new(false),
            lock,
            options,
        };
        spool.update_bytes(&spool.lock_inner());
        Ok(spool)
    }

    /// The options it was opened with.
    pub fn options(&self) -> &SpoolOptions {
        &self.options
    }

    /// The counters.
    pub fn counters(&self) -> &SpoolCounters {
        &self.counters
    }

    /// The counters, shared with whoever reports them.
    pub fn counters_handle(&self) -> Arc<SpoolCounters> {
        self.counters.clone()
    }

    /// The lock file's descriptor (for a forked child, which must close it unused).
    pub fn lock_fd(&self) -> i32 {
        self.lock.fd()
    }

    /// Writes one record (and, with [`Durability::EveryRecord`], forces it to disk) and
    /// returns where it is. On [`FullPolicy::DropOldest`] it first deletes as many of the
    /// oldest segments as needed.
    pub fn append(&self, payload: &[u8]) -> Result<Position, AppendError> {
        let total = HEADER_LEN as u64 + payload.len() as u64;
        let max_bytes = self.options.max_bytes;
        if total > max_bytes || payload.len() > u32::MAX as usize {
            bump(&self.counters.dropped);
            return Err(AppendError::Full(format!(
                "a record of {total} bytes (with framing) is larger than the spool's max_bytes ({max_bytes})"
            )));
        }
        let mut inner = self.lock_inner();
        loop {
            let on_disk: u64 = inner.segments.iter().map(|s| s.bytes).sum();
            if on_disk + total <= max_bytes {
                break;
            }
            if self.options.full_policy == FullPolicy::RefuseNew || inner.segments.is_empty() {
                bump(&self.counters.dropped);
                return Err(AppendError::Full(format!(
                    "the spool holds {on_disk} of its {max_bytes} bytes; {total} more do not fit"
                )));
            }
            self.drop_oldest(&mut inner).map_err(AppendError::Io)?;
        }
        let needs_new = match (&inner.writer, inner.segments.back()) {
            (Some(w), Some(last)) if w.segment == last.id => {
                last.bytes > 0 && last.bytes + total > self.segment_bytes
            }
            _ => true,
        };
        if needs_new {
            self.start_segment(&mut inner).map_err(AppendError::Io)?;
        }
        let frame = record::frame(payload);
        let segment = inner
            .writer
            .as_ref()
            .expect("a segment was just started")
            .segment;
        let last = inner.segments.back().expect("the writer's segment").bytes;
        let written = inner
            .writer
            .as_mut()
            .expect("a segment was just started")
            .file
            .write_all(&frame);
        if let Err(e) = written {
            // Cut the torn tail off; if even that fails, write a new segment next time
            // (the reader stops at the committed length either way).
            let cut = inner
                .writer
                .as_ref()
                .map(|w| w.file.set_len(last))
                .transpose();
            if !matches!(cut, Ok(Some(()))) {
                inner.writer = None;
            }
            return Err(AppendError::Io(e));
        }
        inner
            .segments
            .back_mut()
            .expect("the writer's segment")
            .bytes += total;
        bump(&self.counters.spooled);
        self.update_bytes(&inner);
        match self.options.durability {
            Durability::EveryRecord => {
                let writer = inner.writer.as_ref().expect("the writer");
                writer.file.sync_data().map_err(AppendError::Io)?;
            }
            _ => {
                inner.dirty = true;
                self.dirty.store(true, Relaxed);
            }
        }
        Ok(Position {
            segment,
            offset: last,
        })
    }

    /// Forces written records to disk, if any were written since the last time (for
    /// [`Durability::Interval`]). The lock is not held during the `fsync`.
    pub fn sync(&self) -> io::Result<()> {
        if !self.dirty.swap(false, Relaxed) {
            return Ok(());
        }
        let file = {
            let mut inner = self.lock_inner();
            inner.dirty = false;
            match &inner.writer {
                Some(w) => w.file.try_clone()?,
                None => return Ok(()),
            }
        };
        file.sync_data()
    }

    /// The first record not yet acknowledged, skipping (and counting) damaged ones and
    /// deleting segments read to their end; `None` when every record was acknowledged.
    /// Reads one record into memory, never more.
    pub fn next(&self) -> io::Result<Option<Record>> {
        let mut inner = self.lock_inner();
        loop {
            let Some(head) = inner.segments.front() else {
                return Ok(None);
            };
            let (id, limit) = (head.id, head.bytes);
            let writing = inner.writer.as_ref().is_some_and(|w| w.segment == id);
            if inner.read.segment != id {
                inner.read = Position {
                    segment: id,
                    offset: 0,
                };
            }
            let offset = inner.read.offset;
            if offset >= limit {
                if writing {
                    return Ok(None);
                }
                self.finish_head(&mut inner)?;
                continue;
            }
            if inner.reader.as_ref().is_none_or(|(r, _)| *r != id) {
                let file = File::open(segment_path(&self.options.directory, id))?;
                inner.reader = Some((id, file));
            }
            let (_, file) = inner.reader.as_ref().expect("just opened");
            match read_record(file, offset, limit)? {
                Read::Record(payload) => {
                    return Ok(Some(Record {
                        position: inner.read,
                        end: offset + HEADER_LEN as u64 + payload.len() as u64,
                        payload,
                    }));
                }
                Read::Damaged => {
                    let resume = find_next_record(file, offset + 1, limit)?;
                    bump(&self.counters.skipped);
                    inner.read.offset = resume;
                    self.update_bytes(&inner);
                }
            }
        }
    }

    /// Marks `record` delivered: it will not be read again. Does nothing if the record
    /// was dropped meanwhile.
    pub fn acknowledge(&self, record: &Record) -> io::Result<()> {
        self.consume(record, &self.counters.delivered)
    }

    /// Marks `record` discarded because the receiver refused it for good.
    pub fn reject(&self, record: &Record) -> io::Result<()> {
        self.consume(record, &self.counters.rejected)
    }

    /// The first record not yet acknowledged or dropped: every record before it is gone.
    pub fn read_position(&self) -> Position {
        self.lock_inner().read
    }

    fn consume(&self, record: &Record, counter: &AtomicU64) -> io::Result<()> {
        let mut inner = self.lock_inner();
        if inner.read != record.position {
            return Ok(());
        }
        inner.read.offset = record.end;
        bump(counter);
        self.update_bytes(&inner);
        self.write_ack(inner.read)
    }

    fn lock_inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deletes the segment being read, which was read to its end.
    fn finish_head(&self, inner: &mut Inner) -> io::Result<()> {
        let head = inner.segments.pop_front().expect("a head segment");
        inner.read = Position {
            segment: inner.segments.front().map_or(inner.next_id, |s| s.id),
            offset: 0,
        };
        inner.reader = None;
        // The acknowledgement first: a crash between the two leaves a segment that the
        // next open sees is acknowledged.
        self.write_ack(inner.read)?;
        remove_segment(&self.options.directory, head.id)?;
        self.update_bytes(inner);
        Ok(())
    }

    /// Deletes the oldest segment to make room, counting its records not yet
    /// acknowledged as dropped.
    fn drop_oldest(&self, inner: &mut Inner) -> io::Result<()> {
        let head = inner.segments.front().expect("a segment to drop");
        let (id, limit) = (head.id, head.bytes);
        let from = if inner.read.segment == id {
            inner.read.offset
        } else {
            0
        };
        let path = segment_path(&self.options.directory, id);
        let lost = File::open(&path)
            .and_then(|f| record::count_records(&f, from, limit))
            .unwrap_or(0);
        self.counters.dropped.fetch_add(lost, Relaxed);
        if inner.writer.as_ref().is_some_and(|w| w.segment == id) {
            inner.writer = None;
        }
        self.finish_head(inner)
    }

    fn start_segment(&self, inner: &mut Inner) -> io::Result<()> {
        // The interval's fsync only reaches the segment being written: the one it leaves
        // is forced to disk now.
        if let Some(previous) = inner.writer.take() {
            if inner.dirty && matches!(self.options.durability, Durability::Interval(_)) {
                previous.file.sync_data()?;
            }
        }
        let id = inner.next_id;
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(segment_path(&self.options.directory, id))?;
        if self.options.durability == Durability::EveryRecord {
            sync_directory(&self.options.directory)?;
        }
        inner.next_id += 1;
        if inner.segments.is_empty() {
            inner.read = Position {
                segment: id,
                offset: 0,
            };
        }
        inner.segments.push_back(Segment { id, bytes: 0 });
        inner.writer = Some(Writer { segment: id, file });
        Ok(())
    }

    fn write_ack(&self, position: Position) -> io::Result<()> {
        let dir = &self.options.directory;
        let tmp = dir.join(ACK_TMP);
        let mut file = File::create(&tmp)?;
        file.write_all(&record::encode_ack(position.segment, position.offset))?;
        if self.options.durability == Durability::EveryRecord {
            file.sync_data()?;
        }
        fs::rename(&tmp, dir.join(ACK_FILE))
    }

    fn update_bytes(&self, inner: &Inner) {
        let on_disk: u64 = inner.segments.iter().map(|s| s.bytes).sum();
        let read = inner
            .segments
            .front()
            .filter(|s| s.id == inner.read.segment)
            .map_or(0, |_| inner.read.offset);
        self.counters.disk_bytes.store(on_disk, Relaxed);
        self.counters
            .pending_bytes
            .store(on_disk.saturating_sub(read), Relaxed);
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if self.options.durability != Durability::Never {
            let _ = self.sync();
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}{SEGMENT_SUFFIX}"))
}

fn remove_segment(dir: &Path, id: u64) -> io::Result<()> {
    match fs::remove_file(segment_path(dir, id)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The acknowledged position, or `None` when the file is missing or damaged (then
/// everything left is delivered again).
fn read_ack(dir: &Path) -> Option<Position> {
    let bytes = fs::read(dir.join(ACK_FILE)).ok()?;
    let (segment, offset) = record::decode_ack(&bytes)?;
    Some(Position { segment, offset })
}

fn sync_directory(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
