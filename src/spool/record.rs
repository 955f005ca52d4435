//! Record framing: `magic (4) | payload length (u32 LE) | CRC-32 of length and payload
//! (u32 LE) | payload`. The magic lets a reader find the next record after a damaged one;
//! the checksum tells a whole record from a torn or corrupted one.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

const MAGIC: [u8; 4] = *b"OMR1";
/// The bytes before a record's payload.
pub(crate) const HEADER_LEN: usize = 12;
/// How much a search for the next record reads at a time.
const SCAN_CHUNK: usize = 64 * 1024;
const ACK_MAGIC: [u8; 4] = *b"OMA1";

/// What was found at an offset.
pub(super) enum Read {
    /// A whole record with a matching checksum.
    Record(Vec<u8>),
    /// Anything else: a torn tail, a wrong magic, a length past the segment, a checksum
    /// mismatch.
    Damaged,
}

/// The framed bytes of one record, written with a single `write`.
pub(super) fn frame(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len);
    out.extend_from_slice(&checksum(&len, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn checksum(len: &[u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len);
    hasher.update(payload);
    hasher.finalize()
}

/// Reads the record at `offset` of a segment whose records end at `limit`; never reads
/// past `limit`, so at most one segment's worth of memory.
pub(super) fn read_record(file: &File, offset: u64, limit: u64) -> io::Result<Read> {
    let Some(header) = read_header(file, offset, limit)? else {
        return Ok(Read::Damaged);
    };
    let (len, crc) = header;
    let start = offset + HEADER_LEN as u64;
    if start + len as u64 > limit {
        return Ok(Read::Damaged);
    }
    let mut payload = vec![0; len as usize];
    if !read_fully(file, &mut payload, start)? {
        return Ok(Read::Damaged);
    }
    if checksum(&len.to_le_bytes(), &payload) != crc {
        return Ok(Read::Damaged);
    }
    Ok(Read::Record(payload))
}

/// The length and checksum at `offset`, or `None` when no header with the magic fits.
fn read_header(file: &File, offset: u64, limit: u64) -> io::Result<Option<(u32, u32)>> {
    if offset + HEADER_LEN as u64 > limit {
        return Ok(None);
    }
    let mut header = [0u8; HEADER_LEN];
    if !read_fully(file, &mut header, offset)? || header[..4] != MAGIC {
        return Ok(None);
    }
    let len = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    Ok(Some((len, crc)))
}

/// Fills `buf` from `offset`; `false` if the file ends first.
fn read_fully(file: &File, buf: &mut [u8], offset: u64) -> io::Result<bool> {
    match file.read_exact_at(buf, offset) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// The offset of the first whole record at or after `from`, or `limit` if there is none:
/// where reading resumes after damage. Reads the segment a chunk at a time.
pub(super) fn find_next_record(file: &File, from: u64, limit: u64) -> io::Result<u64> {
    let mut chunk = vec![0u8; SCAN_CHUNK];
    let mut at = from;
    while at + HEADER_LEN as u64 <= limit {
        let want = ((limit - at) as usize).min(SCAN_CHUNK);
        let got = file.read_at(&mut chunk[..want], at)?;
        if got < MAGIC.len() {
            break;
        }
        let window = &chunk[..got];
        let mut i = 0;
        while i + MAGIC.len() <= window.len() {
            if window[i..i + 4] == MAGIC {
                if let Read::Record(_) = read_record(file, at + i as u64, limit)? {
                    return Ok(at + i as u64);
                }
            }
            i += 1;
        }
        // The last three bytes may start a magic that continues in the next chunk.
        at += (got - (MAGIC.len() - 1)) as u64;
    }
    Ok(limit)
}

/// How many records start at or after `from` (headers only; damaged stretches count as
/// one), without reading payloads into memory.
pub(super) fn count_records(file: &File, from: u64, limit: u64) -> io::Result<u64> {
    let mut count = 0;
    let mut at = from;
    while at < limit {
        count += 1;
        match read_header(file, at, limit)? {
            Some((len, _)) if at + HEADER_LEN as u64 + len as u64 <= limit => {
                at += HEADER_LEN as u64 + len as u64;
            }
            _ => at = find_next_record(file, at + 1, limit)?,
        }
    }
    Ok(count)
}

/// The acknowledgement file's bytes: magic, segment, offset, CRC-32 of the rest.
pub(super) fn encode_ack(segment: u64, offset: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    out.extend_from_slice(&ACK_MAGIC);
    out.extend_from_slice(&segment.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads [`encode_ack`]'s bytes back; `None` if they are damaged.
pub(super) fn decode_ack(bytes: &[u8]) -> Option<(u64, u64)> {
    if bytes.len() != 24 || bytes[..4] != ACK_MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(bytes[20..24].try_into().ok()?);
    if crc32fast::hash(&bytes[..20]) != crc {
        return None;
    }
    let segment = u64::from_le_bytes(bytes[4..12].try_into().ok()?);
    let offset = u64::from_le_bytes(bytes[12..20].try_into().ok()?);
    Some((segment, offset))
}
