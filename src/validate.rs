//! Checks that uploaded bytes are a valid message of the expected type before anything
//! is sent, without building message objects: a walk over the protobuf wire format (tags,
//! wire types, lengths, nesting, UTF-8 of string fields) with the OTLP metrics schema.
//! It accepts exactly what prost accepts for these messages (same wire-type rules, packed
//! and unpacked repeated scalars, unknown fields and groups skipped, the same recursion
//! limit), which a differential test and the fuzz target check; unlike prost, its errors
//! name the byte offset and the field.
//!
//! [`wrap_resource_metrics`] then turns a `ResourceMetrics` into an
//! `ExportMetricsServiceRequest` with one copy and no re-encoding.

use std::cell::Cell;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::schema::wire::{END_GROUP, FIXED32, FIXED64, LEN, START_GROUP, VARINT};
use crate::schema::{Msg, Op, OPS};

/// Checks that `bytes` is a serialized `opentelemetry.proto.metrics.v1.ResourceMetrics`
/// that can be sent: one that prost also accepts once [wrapped](wrap_resource_metrics) in
/// an `ExportMetricsServiceRequest`, which puts it one level deeper (so it has one level
/// less of prost's recursion budget than a `ResourceMetrics` decoded alone).
pub fn resource_metrics(bytes: &[u8]) -> Result<()> {
    check(bytes, Msg::ResourceMetrics, RECURSION_LIMIT - 1)
}

/// Checks that `bytes` is a serialized `ExportMetricsServiceRequest`.
pub fn export_request(bytes: &[u8]) -> Result<()> {
    check(bytes, Msg::ExportRequest, RECURSION_LIMIT)
}

/// The `ExportMetricsServiceRequest` whose only `resource_metrics` entry (field 1) is the
/// already-serialized `resource_metrics`: one copy, no re-encoding.
pub fn wrap_resource_metrics(resource_metrics: &[u8]) -> Bytes {
    let len = resource_metrics.len() as u64;
    let mut out = BytesMut::with_capacity(
        1 + prost::encoding::encoded_len_varint(len) + resource_metrics.len(),
    );
    out.put_u8(0x0a); // field 1, wire type 2 (length-delimited)
    prost::encoding::encode_varint(len, &mut out);
    out.put_slice(resource_metrics);
    out.freeze()
}

/// Checks `bytes` as a `msg` with `depth` levels of prost's recursion budget left.
fn check(bytes: &[u8], msg: Msg, depth: u32) -> Result<()> {
    let walker = Walker {
        bytes,
        fault: Cell::new(None),
    };
    if walker.message(msg, 0, bytes.len(), depth).is_ok() {
        return Ok(());
    }
    let fault = walker.fault.get().unwrap_or(Fault {
        what: "invalid message",
        offset: 0,
        field: None,
    });
    Err(Error::decode(format!(
        "the bytes are not a valid {}: {} at byte {}{}",
        msg.name(),
        fault.what,
        fault.offset,
        fault
            .field
            .map(|(m, n)| format!(" (in {}, field {n})", m.name()))
            .unwrap_or_default()
    )))
}

/// prost's limit on nested messages (and groups in unknown fields).
const RECURSION_LIMIT: u32 = 100;

/// Where and why the bytes are invalid.
#[derive(Clone, Copy, Debug)]
struct Fault {
    what: &'static str,
    offset: usize,
    field: Option<(Msg, u32)>,
}

/// The walk's result: the error carries nothing (it stays small on the hot path); the
/// walker keeps the details of the first fault.
type Walk<T> = std::result::Result<T, ()>;

struct Walker<'a> {
    bytes: &'a [u8],
    fault: Cell<Option<Fault>>,
}

impl Walker<'_> {
    #[cold]
    fn fail<T>(&self, what: &'static str, offset: usize) -> Walk<T> {
        self.fault.set(Some(Fault {
            what,
            offset,
            field: None,
        }));
        Err(())
    }

    /// A varint at `*pos` (before `end`), as prost reads it: at most 10 bytes, the tenth
    /// at most 1. One-byte varints (most tags and lengths) take the short path.
    #[inline(always)]
    fn varint(&self, pos: &mut usize, end: usize) -> Walk<u64> {
        if let Some(&byte) = self.bytes[..end].get(*pos) {
            if byte < 0x80 {
                *pos += 1;
                return Ok(u64::from(byte));
            }
        }
        self.long_varint(pos, end)
    }

    fn long_varint(&self, pos: &mut usize, end: usize) -> Walk<u64> {
        let start = *pos;
        let mut value = 0u64;
        for i in 0..10 {
            if *pos >= end {
                return self.fail("truncated varint", start);
            }
            let byte = self.bytes[*pos];
            *pos += 1;
            if i == 9 && byte >= 2 {
                return self.fail("invalid varint (over 64 bits)", start);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        self.fail("invalid varint (over 10 bytes)", start)
    }

    /// A field key: `(field number, wire type)`.
    fn key(&self, pos: &mut usize, end: usize) -> Walk<(u32, u8)> {
        let start = *pos;
        let key = self.varint(pos, end)?;
        if key > u64::from(u32::MAX) {
            return self.fail("invalid field key", start);
        }
        let wire_type = (key & 7) as u8;
        if wire_type > FIXED32 {
            return self.fail("invalid wire type", start);
        }
        let number = (key as u32) >> 3;
        if number == 0 {
            return self.fail("invalid field number 0", start);
        }
        Ok((number, wire_type))
    }

    /// The payload of a length-delimited field: `(start, end)`.
    fn delimited(&self, pos: &mut usize, end: usize) -> Walk<(usize, usize)> {
        let start = *pos;
        let len = self.varint(pos, end)?;
        if len > (end - *pos) as u64 {
            return self.fail("length past the end of the enclosing message", start);
        }
        let payload = (*pos, *pos + len as usize);
        *pos = payload.1;
        Ok(payload)
    }

    fn skip(&self, pos: &mut usize, end: usize, width: usize) -> Walk<()> {
        if end - *pos < width {
            return self.fail("truncated fixed-width value", *pos);
        }
        *pos += width;
        Ok(())
    }

    /// Checks the message `msg` in `bytes[start..end]`; `depth` is prost's recursion
    /// budget left.
    fn message(&self, msg: Msg, start: usize, end: usize, depth: u32) -> Walk<()> {
        let ops = &OPS[msg as usize];
        let mut pos = start;
        while pos < end {
            let field_start = pos;
            let (number, wire_type) = self.key(&mut pos, end)?;
            let op = ops.get(number as usize).copied().unwrap_or(Op::Unknown);
            let result = self.field(op, number, wire_type, &mut pos, end, depth);
            if result.is_err() {
                self.note_field(msg, number, field_start);
                return result;
            }
        }
        Ok(())
    }

    /// Adds the innermost field to the recorded fault.
    #[cold]
    fn note_field(&self, msg: Msg, number: u32, field_start: usize) {
        if let Some(mut fault) = self.fault.get() {
            if fault.field.is_none() {
                fault.field = Some((msg, number));
                fault.offset = fault.offset.max(field_start);
                self.fault.set(Some(fault));
            }
        }
    }

    #[inline(always)]
    fn field(
        &self,
        op: Op,
        number: u32,
        wire_type: u8,
        pos: &mut usize,
        end: usize,
        depth: u32,
    ) -> Walk<()> {
        match (op, wire_type) {
            (Op::Varint | Op::RepeatedVarint, VARINT) => self.varint(pos, end).map(drop),
            (Op::Fixed64 | Op::RepeatedFixed64, FIXED64) => self.skip(pos, end, 8),
            (Op::Bytes, LEN) => self.delimited(pos, end).map(drop),
            (Op::Utf8, LEN) => {
                let (start, stop) = self.delimited(pos, end)?;
                let text = &self.bytes[start..stop];
                if text.is_ascii() {
                    return Ok(());
                }
                match std::str::from_utf8(text) {
                    Ok(_) => Ok(()),
                    Err(e) => self.fail("string field is not valid UTF-8", start + e.valid_up_to()),
                }
            }
            (Op::Message(sub), LEN) => {
                if depth == 0 {
                    return self.fail("messages nested too deeply", *pos);
                }
                let (start, stop) = self.delimited(pos, end)?;
                self.message(sub, start, stop, depth - 1)
            }
            (Op::RepeatedFixed64, LEN) => {
                let (start, stop) = self.delimited(pos, end)?;
                if (stop - start) % 8 != 0 {
                    return self.fail("packed fixed64 values are not a multiple of 8 bytes", start);
                }
                Ok(())
            }
            (Op::RepeatedVarint, LEN) => {
                let (mut at, stop) = self.delimited(pos, end)?;
                while at < stop {
                    self.varint(&mut at, stop)?;
                }
                Ok(())
            }
            (Op::Unknown, _) => self.unknown(number, wire_type, pos, end, depth),
            _ => self.fail("wrong wire type for the field", *pos),
        }
    }

    /// Skips an unknown field as prost does (groups included, within the recursion budget).
    fn unknown(
        &self,
        number: u32,
        wire_type: u8,
        pos: &mut usize,
        end: usize,
        depth: u32,
    ) -> Walk<()> {
        if depth == 0 {
            return self.fail("unknown fields nested too deeply", *pos);
        }
        match wire_type {
            VARINT => self.varint(pos, end).map(drop),
            FIXED64 => self.skip(pos, end, 8),
            FIXED32 => self.skip(pos, end, 4),
            LEN => self.delimited(pos, end).map(drop),
            START_GROUP => loop {
                let (inner, inner_wire_type) = self.key(pos, end)?;
                if inner_wire_type == END_GROUP {
                    if inner != number {
                        return self.fail("end of a group that was not started", *pos);
                    }
                    return Ok(());
                }
                self.unknown(inner, inner_wire_type, pos, end, depth - 1)?;
            },
            _ => self.fail("end of a group that was not started", *pos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use prost::Message;

    #[test]
    fn wrapping_equals_encoding_the_request() {
        let rm = ResourceMetrics {
            resource: Some(Resource::default()),
            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
            ..Default::default()
        };
        let bytes = rm.encode_to_vec();
        let wrapped = wrap_resource_metrics(&bytes);
        let expected = ExportMetricsServiceRequest {
            resource_metrics: vec![rm],
        }
        .encode_to_vec();
        assert_eq!(&wrapped[..], &expected[..]);
        // An empty ResourceMetrics still becomes one (empty) entry.
        assert_eq!(&wrap_resource_metrics(&[])[..], &[0x0a, 0x00]);
    }

    #[test]
    fn garbage_is_a_decode_error_naming_the_offset() {
        for bad in [&b"\xff\xff\xff"[..], b"\x0a\x05ab", b"\x1a\x02\xc3\x28"] {
            let e = resource_metrics(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Decode, "{bad:?}");
            assert!(e.message().contains("at byte"), "{e}");
        }
        let e = resource_metrics(b"\x1a\x02\xc3\x28").unwrap_err();
        assert!(e.message().contains("UTF-8 at byte 2"), "{e}");
        assert!(e.message().contains("field 3"), "{e}");
        assert!(resource_metrics(&[]).is_ok());
        assert!(export_request(&[]).is_ok());
    }
}
