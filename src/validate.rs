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

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// Checks that `bytes` is a serialized `opentelemetry.proto.metrics.v1.ResourceMetrics`.
pub fn resource_metrics(bytes: &[u8]) -> Result<()> {
    check(bytes, Msg::ResourceMetrics)
}

/// Checks that `bytes` is a serialized `ExportMetricsServiceRequest`.
pub fn export_request(bytes: &[u8]) -> Result<()> {
    check(bytes, Msg::ExportRequest)
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

fn check(bytes: &[u8], msg: Msg) -> Result<()> {
    Walker { bytes }
        .message(msg, 0, bytes.len(), RECURSION_LIMIT)
        .map_err(|fault| {
            Error::decode(format!(
                "the bytes are not a valid {}: {} at byte {}{}",
                msg.name(),
                fault.what,
                fault.offset,
                fault
                    .field
                    .map(|(m, n)| format!(" (in {}, field {n})", m.name()))
                    .unwrap_or_default()
            ))
        })
}

/// prost's limit on nested messages (and groups in unknown fields).
const RECURSION_LIMIT: u32 = 100;

/// The messages of the OTLP metrics schema (opentelemetry-proto, as compiled by prost).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    ExportRequest,
    ResourceMetrics,
    Resource,
    EntityRef,
    ScopeMetrics,
    Scope,
    Metric,
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint,
    Buckets,
    SummaryDataPoint,
    ValueAtQuantile,
    Exemplar,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

/// How a known field is encoded.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Message(Msg),
    /// UTF-8 text (also each element of a repeated string).
    String,
    Bytes,
    /// int32, uint32, int64, sint32, bool, enum.
    Varint,
    /// fixed64, sfixed64, double.
    Fixed64,
    /// repeated fixed64 / double: packed or one value per field.
    RepeatedFixed64,
    /// repeated uint64: packed or one value per field.
    RepeatedVarint,
}

impl Msg {
    fn name(self) -> &'static str {
        match self {
            Msg::ExportRequest => "ExportMetricsServiceRequest",
            Msg::ResourceMetrics => "ResourceMetrics",
            Msg::Resource => "Resource",
            Msg::EntityRef => "EntityRef",
            Msg::ScopeMetrics => "ScopeMetrics",
            Msg::Scope => "InstrumentationScope",
            Msg::Metric => "Metric",
            Msg::Gauge => "Gauge",
            Msg::Sum => "Sum",
            Msg::Histogram => "Histogram",
            Msg::ExponentialHistogram => "ExponentialHistogram",
            Msg::Summary => "Summary",
            Msg::NumberDataPoint => "NumberDataPoint",
            Msg::HistogramDataPoint => "HistogramDataPoint",
            Msg::ExponentialHistogramDataPoint => "ExponentialHistogramDataPoint",
            Msg::Buckets => "ExponentialHistogramDataPoint.Buckets",
            Msg::SummaryDataPoint => "SummaryDataPoint",
            Msg::ValueAtQuantile => "SummaryDataPoint.ValueAtQuantile",
            Msg::Exemplar => "Exemplar",
            Msg::KeyValue => "KeyValue",
            Msg::AnyValue => "AnyValue",
            Msg::ArrayValue => "ArrayValue",
            Msg::KeyValueList => "KeyValueList",
        }
    }

    /// The field numbered `number`, as the `.proto` files declare it.
    fn field(self, number: u32) -> Option<Kind> {
        use Kind::*;
        use Msg as M;
        Some(match (self, number) {
            (M::ExportRequest, 1) => Message(M::ResourceMetrics),

            (M::ResourceMetrics, 1) => Message(M::Resource),
            (M::ResourceMetrics, 2) => Message(M::ScopeMetrics),
            (M::ResourceMetrics, 3) => String,

            (M::Resource, 1) => Message(M::KeyValue),
            (M::Resource, 2) => Varint,
            (M::Resource, 3) => Message(M::EntityRef),
            (M::EntityRef, 1..=4) => String,

            (M::ScopeMetrics, 1) => Message(M::Scope),
            (M::ScopeMetrics, 2) => Message(M::Metric),
            (M::ScopeMetrics, 3) => String,
            (M::Scope, 1 | 2) => String,
            (M::Scope, 3) => Message(M::KeyValue),
            (M::Scope, 4) => Varint,

            (M::Metric, 1..=3) => String,
            (M::Metric, 5) => Message(M::Gauge),
            (M::Metric, 7) => Message(M::Sum),
            (M::Metric, 9) => Message(M::Histogram),
            (M::Metric, 10) => Message(M::ExponentialHistogram),
            (M::Metric, 11) => Message(M::Summary),
            (M::Metric, 12) => Message(M::KeyValue),

            (M::Gauge, 1) => Message(M::NumberDataPoint),
            (M::Sum, 1) => Message(M::NumberDataPoint),
            (M::Sum, 2 | 3) => Varint,
            (M::Histogram, 1) => Message(M::HistogramDataPoint),
            (M::Histogram, 2) => Varint,
            (M::ExponentialHistogram, 1) => Message(M::ExponentialHistogramDataPoint),
            (M::ExponentialHistogram, 2) => Varint,
            (M::Summary, 1) => Message(M::SummaryDataPoint),

            (M::NumberDataPoint, 7) => Message(M::KeyValue),
            (M::NumberDataPoint, 2..=4 | 6) => Fixed64,
            (M::NumberDataPoint, 5) => Message(M::Exemplar),
            (M::NumberDataPoint, 8) => Varint,

            (M::HistogramDataPoint, 9) => Message(M::KeyValue),
            (M::HistogramDataPoint, 2..=5 | 11 | 12) => Fixed64,
            (M::HistogramDataPoint, 6 | 7) => RepeatedFixed64,
            (M::HistogramDataPoint, 8) => Message(M::Exemplar),
            (M::HistogramDataPoint, 10) => Varint,

            (M::ExponentialHistogramDataPoint, 1) => Message(M::KeyValue),
            (M::ExponentialHistogramDataPoint, 2..=5 | 7 | 12..=14) => Fixed64,
            (M::ExponentialHistogramDataPoint, 6 | 10) => Varint,
            (M::ExponentialHistogramDataPoint, 8 | 9) => Message(M::Buckets),
            (M::ExponentialHistogramDataPoint, 11) => Message(M::Exemplar),
            (M::Buckets, 1) => Varint,
            (M::Buckets, 2) => RepeatedVarint,

            (M::SummaryDataPoint, 7) => Message(M::KeyValue),
            (M::SummaryDataPoint, 2..=5) => Fixed64,
            (M::SummaryDataPoint, 6) => Message(M::ValueAtQuantile),
            (M::SummaryDataPoint, 8) => Varint,
            (M::ValueAtQuantile, 1 | 2) => Fixed64,

            (M::Exemplar, 7) => Message(M::KeyValue),
            (M::Exemplar, 2 | 3 | 6) => Fixed64,
            (M::Exemplar, 4 | 5) => Bytes,

            (M::KeyValue, 1) => String,
            (M::KeyValue, 2) => Message(M::AnyValue),
            (M::KeyValue, 3) => Varint,
            (M::AnyValue, 1) => String,
            (M::AnyValue, 2 | 3 | 8) => Varint,
            (M::AnyValue, 4) => Fixed64,
            (M::AnyValue, 5) => Message(M::ArrayValue),
            (M::AnyValue, 6) => Message(M::KeyValueList),
            (M::AnyValue, 7) => Bytes,
            (M::ArrayValue, 1) => Message(M::AnyValue),
            (M::KeyValueList, 1) => Message(M::KeyValue),
            _ => return None,
        })
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// Where and why the bytes are invalid.
#[derive(Debug)]
struct Fault {
    what: &'static str,
    offset: usize,
    field: Option<(Msg, u32)>,
}

type Walk<T> = std::result::Result<T, Fault>;

fn fault<T>(what: &'static str, offset: usize) -> Walk<T> {
    Err(Fault {
        what,
        offset,
        field: None,
    })
}

struct Walker<'a> {
    bytes: &'a [u8],
}

impl Walker<'_> {
    /// A varint at `*pos` (before `end`), as prost reads it: at most 10 bytes, the tenth
    /// at most 1.
    fn varint(&self, pos: &mut usize, end: usize) -> Walk<u64> {
        let start = *pos;
        let mut value = 0u64;
        for i in 0..10 {
            if *pos >= end {
                return fault("truncated varint", start);
            }
            let byte = self.bytes[*pos];
            *pos += 1;
            if i == 9 && byte >= 2 {
                return fault("invalid varint (over 64 bits)", start);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        fault("invalid varint (over 10 bytes)", start)
    }

    /// A field key: `(field number, wire type)`.
    fn key(&self, pos: &mut usize, end: usize) -> Walk<(u32, u8)> {
        let start = *pos;
        let key = self.varint(pos, end)?;
        if key > u64::from(u32::MAX) {
            return fault("invalid field key", start);
        }
        let wire_type = (key & 7) as u8;
        if wire_type > FIXED32 {
            return fault("invalid wire type", start);
        }
        let number = (key as u32) >> 3;
        if number == 0 {
            return fault("invalid field number 0", start);
        }
        Ok((number, wire_type))
    }

    /// The payload of a length-delimited field: `(start, end)`.
    fn delimited(&self, pos: &mut usize, end: usize) -> Walk<(usize, usize)> {
        let start = *pos;
        let len = self.varint(pos, end)?;
        if len > (end - *pos) as u64 {
            return fault("length past the end of the enclosing message", start);
        }
        let payload = (*pos, *pos + len as usize);
        *pos = payload.1;
        Ok(payload)
    }

    fn skip(&self, pos: &mut usize, end: usize, width: usize) -> Walk<()> {
        if end - *pos < width {
            return fault("truncated fixed-width value", *pos);
        }
        *pos += width;
        Ok(())
    }

    /// Checks the message `msg` in `bytes[start..end]`; `depth` is prost's recursion
    /// budget left.
    fn message(&self, msg: Msg, start: usize, end: usize, depth: u32) -> Walk<()> {
        let mut pos = start;
        while pos < end {
            let field_start = pos;
            let (number, wire_type) = self.key(&mut pos, end)?;
            let result = match msg.field(number) {
                Some(kind) => self.known(kind, wire_type, &mut pos, end, depth),
                None => self.unknown(number, wire_type, &mut pos, end, depth),
            };
            result.map_err(|mut f| {
                f.field.get_or_insert((msg, number));
                if f.offset < field_start {
                    f.offset = field_start;
                }
                f
            })?;
        }
        Ok(())
    }

    fn known(
        &self,
        kind: Kind,
        wire_type: u8,
        pos: &mut usize,
        end: usize,
        depth: u32,
    ) -> Walk<()> {
        let expect = |wanted: u8| {
            if wire_type == wanted {
                Ok(())
            } else {
                fault("wrong wire type for the field", *pos)
            }
        };
        match kind {
            Kind::Message(sub) => {
                expect(LEN)?;
                if depth == 0 {
                    return fault("messages nested too deeply", *pos);
                }
                let (start, stop) = self.delimited(pos, end)?;
                self.message(sub, start, stop, depth - 1)
            }
            Kind::String => {
                expect(LEN)?;
                let (start, stop) = self.delimited(pos, end)?;
                match std::str::from_utf8(&self.bytes[start..stop]) {
                    Ok(_) => Ok(()),
                    Err(e) => fault("string field is not valid UTF-8", start + e.valid_up_to()),
                }
            }
            Kind::Bytes => {
                expect(LEN)?;
                self.delimited(pos, end).map(drop)
            }
            Kind::Varint => {
                expect(VARINT)?;
                self.varint(pos, end).map(drop)
            }
            Kind::Fixed64 => {
                expect(FIXED64)?;
                self.skip(pos, end, 8)
            }
            Kind::RepeatedFixed64 if wire_type == LEN => {
                let (start, stop) = self.delimited(pos, end)?;
                if (stop - start) % 8 != 0 {
                    return fault("packed fixed64 values are not a multiple of 8 bytes", start);
                }
                Ok(())
            }
            Kind::RepeatedFixed64 => {
                expect(FIXED64)?;
                self.skip(pos, end, 8)
            }
            Kind::RepeatedVarint if wire_type == LEN => {
                let (mut at, stop) = self.delimited(pos, end)?;
                while at < stop {
                    self.varint(&mut at, stop)?;
                }
                Ok(())
            }
            Kind::RepeatedVarint => {
                expect(VARINT)?;
                self.varint(pos, end).map(drop)
            }
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
            return fault("unknown fields nested too deeply", *pos);
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
                        return fault("end of a group that was not started", *pos);
                    }
                    return Ok(());
                }
                self.unknown(inner, inner_wire_type, pos, end, depth - 1)?;
            },
            _ => fault("end of a group that was not started", *pos),
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
