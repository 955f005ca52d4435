//! OTLP/JSON, the encoding OTLP/HTTP and the OTLP file exporter use (lowerCamelCase keys,
//! enums as integers, 64-bit integers as strings, hex trace and span ids), transcoded
//! to and from protobuf with the schema in [`crate::proto::schema`]:
//! - [`to_protobuf`] reads it (also the protobuf JSON mapping's variants: `.proto` field
//!   names, enum names, 64-bit integers as numbers, `"NaN"`/`"Infinity"`), rejects what
//!   does not fit the schema with the JSON path of the fault, and writes the protobuf
//!   encoding prost would write for the same message;
//! - [`from_protobuf`] writes the OTLP/JSON of a serialized request, leaving out default
//!   values as proto3 JSON does.

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::encoding::{decode_varint, encode_varint};
use prost::Message;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::proto::schema::wire::{END_GROUP, FIXED32, FIXED64, LEN, START_GROUP, VARINT};
use crate::proto::schema::{Card, Field, Kind, Msg};
use crate::proto::validate;

/// The serialized `ExportMetricsServiceRequest` of an OTLP/JSON one; an error says where
/// the fault is (line and column for syntax, the JSON path for content).
pub fn to_protobuf(json: &[u8]) -> Result<Vec<u8>> {
    check_nesting(json)?;
    let mut reader = serde_json::Deserializer::from_slice(json);
    reader.disable_recursion_limit();
    let value = serde::Deserialize::deserialize(&mut reader)
        .and_then(|value: Value| reader.end().map(|()| value))
        .map_err(|e| {
            Error::decode(format!(
                "invalid OTLP/JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ))
        })?;
    let mut out = Vec::with_capacity(json.len() / 2);
    let mut path = Vec::new();
    Encoder { path: &mut path }
        .message(&value, Msg::ExportRequest, &mut out)
        .map_err(|what| {
            Error::decode(format!(
                "invalid OTLP/JSON ExportMetricsServiceRequest at {}: {what}",
                format_path(&path)
            ))
        })?;
    // The result must pass what every upload passes (e.g. prost's nesting limit).
    validate::export_request(&out)?;
    Ok(out)
}

/// The deepest JSON a valid request can be: each of prost's (at most 100, below the
/// request) nested messages is an object, inside an array when the field is repeated.
/// serde_json's own limit (128) is lower, so it is off and this bound, checked before
/// parsing, keeps the parser's recursion (and stack) bounded instead.
const MAX_JSON_DEPTH: usize = 2 * (validate::RECURSION_LIMIT as usize + 1);

/// Refuses JSON nested deeper than [`MAX_JSON_DEPTH`] (no valid request is), with the
/// byte offset, before serde_json recurses into it.
fn check_nesting(json: &[u8]) -> Result<()> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (offset, &byte) in json.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(Error::decode(format!(
                        "invalid OTLP/JSON: nested deeper than {MAX_JSON_DEPTH} levels at byte {offset} \
                         (more than protobuf's limit of {} nested messages)",
                        validate::RECURSION_LIMIT
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses an OTLP/JSON `ExportMetricsServiceRequest` into the prost message.
pub fn parse_request(json: &[u8]) -> Result<ExportMetricsServiceRequest> {
    let bytes = to_protobuf(json)?;
    ExportMetricsServiceRequest::decode(bytes.as_slice())
        .map_err(|e| Error::decode(format!("invalid ExportMetricsServiceRequest: {e}")))
}

/// The OTLP/JSON encoding of a serialized (and valid) `ExportMetricsServiceRequest`.
pub fn from_protobuf(request: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(request.len() * 2);
    write_message(request, Msg::ExportRequest, &mut out)
        .map_err(|what| Error::decode(format!("cannot write OTLP/JSON: {what}")))?;
    Ok(out)
}

#[derive(Clone, Copy)]
enum Segment {
    Key(&'static str),
    Index(usize),
}

fn format_path(path: &[Segment]) -> String {
    let mut text = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Segment::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    if text.is_empty() {
        text.push_str("the top level");
    }
    text
}

type Fault = String;

fn key(number: u32, wire_type: u8, out: &mut Vec<u8>) {
    encode_varint(u64::from(number << 3 | u32::from(wire_type)), out);
}

/// One scalar value, ready to be written.
enum Scalar {
    Varint(u64),
    Fixed(u64),
}

struct Encoder<'p> {
    path: &'p mut Vec<Segment>,
}

impl Encoder<'_> {
    fn message(&mut self, value: &Value, msg: Msg, out: &mut Vec<u8>) -> Result<(), Fault> {
        let object = match value {
            Value::Object(object) => object,
            Value::Null => return Ok(()),
            other => {
                return Err(format!(
                    "expected an object for {}, found {}",
                    msg.name(),
                    describe(other)
                ))
            }
        };
        let present = |field: &Field| {
            object
                .get(field.json)
                .or_else(|| object.get(field.proto))
                .filter(|value| !value.is_null())
        };
        // The oneof's member (at most one) is written where its lowest-numbered member
        // stands, as prost orders fields.
        let mut members = msg
            .fields()
            .iter()
            .filter(|f| f.card == Card::OneOf)
            .filter_map(|f| present(f).map(|value| (f, value)));
        let member = members.next();
        if let (Some((first, _)), Some((second, _))) = (member, members.next()) {
            return Err(format!(
                "{:?} and {:?} are members of one oneof: set only one",
                first.json, second.json
            ));
        }
        let mut oneof_done = false;
        for field in msg.fields() {
            let (field, value) = if field.card == Card::OneOf {
                match (oneof_done, member) {
                    (false, Some(member)) => {
                        oneof_done = true;
                        member
                    }
                    _ => continue,
                }
            } else {
                match present(field) {
                    Some(value) => (field, value),
                    None => continue,
                }
            };
            self.path.push(Segment::Key(field.json));
            self.field(field, value, out)?;
            self.path.pop();
        }
        Ok(())
    }

    fn field(&mut self, field: &Field, value: &Value, out: &mut Vec<u8>) -> Result<(), Fault> {
        if field.card != Card::Repeated {
            return self.single(field, value, field.card == Card::Single, out);
        }
        let Value::Array(items) = value else {
            return Err(format!("expected an array, found {}", describe(value)));
        };
        if field.kind.packable() {
            let mut packed = Vec::new();
            for (i, item) in items.iter().enumerate() {
                self.path.push(Segment::Index(i));
                match scalar(item, field.kind)? {
                    Scalar::Varint(v) => encode_varint(v, &mut packed),
                    Scalar::Fixed(v) => packed.extend_from_slice(&v.to_le_bytes()),
                }
                self.path.pop();
            }
            if !packed.is_empty() {
                key(field.number, LEN, out);
                encode_varint(packed.len() as u64, out);
                out.extend_from_slice(&packed);
            }
            return Ok(());
        }
        for (i, item) in items.iter().enumerate() {
            self.path.push(Segment::Index(i));
            if item.is_null() {
                return Err("null is not allowed in an array".into());
            }
            self.single(field, item, false, out)?;
            self.path.pop();
        }
        Ok(())
    }

    /// One value of `field`; with `skip_default`, a default value is not written (proto3
    /// implicit presence, as prost does).
    fn single(
        &mut self,
        field: &Field,
        value: &Value,
        skip_default: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), Fault> {
        let delimited = |bytes: &[u8], out: &mut Vec<u8>| {
            if !(skip_default && bytes.is_empty()) {
                key(field.number, LEN, out);
                encode_varint(bytes.len() as u64, out);
                out.extend_from_slice(bytes);
            }
        };
        match field.kind {
            Kind::Message(sub) => {
                let mut inner = Vec::new();
                self.message(value, sub, &mut inner)?;
                key(field.number, LEN, out);
                encode_varint(inner.len() as u64, out);
                out.extend_from_slice(&inner);
            }
            Kind::String => {
                let text = value
                    .as_str()
                    .ok_or_else(|| format!("expected a string, found {}", describe(value)))?;
                delimited(text.as_bytes(), out);
            }
            Kind::Bytes => {
                let text = value.as_str().ok_or_else(|| {
                    format!("expected a base64 string, found {}", describe(value))
                })?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                    .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
                    .map_err(|_| format!("{text:?} is not base64"))?;
                delimited(&bytes, out);
            }
            Kind::HexBytes => {
                let text = value
                    .as_str()
                    .ok_or_else(|| format!("expected a hex string, found {}", describe(value)))?;
                let bytes = const_hex::decode(text).map_err(|_| format!("{text:?} is not hex"))?;
                delimited(&bytes, out);
            }
            kind => {
                let scalar = scalar(value, kind)?;
                let (wire_type, raw) = match scalar {
                    Scalar::Varint(v) => (VARINT, v),
                    Scalar::Fixed(v) => (FIXED64, v),
                };
                // -0.0 is a default too (prost compares with ==).
                let is_default = raw == 0 || (kind == Kind::Double && f64::from_bits(raw) == 0.0);
                if !(skip_default && is_default) {
                    key(field.number, wire_type, out);
                    if wire_type == VARINT {
                        encode_varint(raw, out);
                    } else {
                        out.extend_from_slice(&raw.to_le_bytes());
                    }
                }
            }
        }
        Ok(())
    }
}

fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// A JSON integer: a number without fraction, or a string holding one.
fn integer(value: &Value) -> Result<i128, Fault> {
    let bad = || format!("expected an integer, found {}", describe(value));
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Ok(i128::from(u))
            } else {
                let f = n.as_f64().ok_or_else(bad)?;
                if f.fract() == 0.0 && f.abs() < 1.9e19 {
                    Ok(f as i128)
                } else {
                    Err(bad())
                }
            }
        }
        Value::String(s) => s.trim().parse::<i128>().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

fn in_range(value: i128, low: i128, high: i128) -> Result<i128, Fault> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is out of range ({low} to {high})"))
    }
}

fn scalar(value: &Value, kind: Kind) -> Result<Scalar, Fault> {
    const I32: (i128, i128) = (i32::MIN as i128, i32::MAX as i128);
    const I64: (i128, i128) = (i64::MIN as i128, i64::MAX as i128);
    Ok(match kind {
        Kind::Bool => {
            Scalar::Varint(u64::from(value.as_bool().ok_or_else(|| {
                format!("expected true or false, found {}", describe(value))
            })?))
        }
        Kind::Int32 => Scalar::Varint(in_range(integer(value)?, I32.0, I32.1)? as i64 as u64),
        Kind::Int64 => Scalar::Varint(in_range(integer(value)?, I64.0, I64.1)? as i64 as u64),
        Kind::UInt32 => Scalar::Varint(in_range(integer(value)?, 0, u32::MAX.into())? as u64),
        Kind::UInt64 => Scalar::Varint(in_range(integer(value)?, 0, u64::MAX.into())? as u64),
        Kind::SInt32 => {
            let n = in_range(integer(value)?, I32.0, I32.1)? as i32;
            Scalar::Varint(u64::from(((n << 1) ^ (n >> 31)) as u32))
        }
        Kind::Enum(names) => {
            let number = match value {
                Value::String(name) if name.parse::<i64>().is_err() => names
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| i128::from(*v))
                    .ok_or_else(|| format!("unknown enum value {name:?}"))?,
                _ => in_range(integer(value)?, I32.0, I32.1)?,
            };
            Scalar::Varint(number as i64 as u64)
        }
        Kind::Fixed64 => Scalar::Fixed(in_range(integer(value)?, 0, u64::MAX.into())? as u64),
        Kind::SFixed64 => Scalar::Fixed(in_range(integer(value)?, I64.0, I64.1)? as i64 as u64),
        Kind::Double => {
            let f = match value {
                Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a double"))?,
                Value::String(s) => match s.as_str() {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    other => other
                        .trim()
                        .parse()
                        .map_err(|_| format!("expected a number, found {s:?}"))?,
                },
                other => return Err(format!("expected a number, found {}", describe(other))),
            };
            Scalar::Fixed(f.to_bits())
        }
        Kind::Message(_) | Kind::String | Kind::Bytes | Kind::HexBytes => {
            unreachable!("not a scalar")
        }
    })
}

/// Reads one field key at `*pos`.
fn read_key(bytes: &[u8], pos: &mut usize) -> Result<(u32, u8), Fault> {
    let mut rest = &bytes[*pos..];
    let before = rest.len();
    let key = decode_varint(&mut rest).map_err(|e| e.to_string())?;
    *pos += before - rest.len();
    Ok(((key >> 3) as u32, (key & 7) as u8))
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, Fault> {
    let mut rest = &bytes[*pos..];
    let before = rest.len();
    let value = decode_varint(&mut rest).map_err(|e| e.to_string())?;
    *pos += before - rest.len();
    Ok(value)
}

/// The value of one field occurrence.
enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Delimited(&'a [u8]),
}

fn read_value<'a>(bytes: &'a [u8], pos: &mut usize, wire_type: u8) -> Result<Raw<'a>, Fault> {
    Ok(match wire_type {
        VARINT => Raw::Varint(read_varint(bytes, pos)?),
        FIXED64 => {
            let chunk = bytes.get(*pos..*pos + 8).ok_or("truncated fixed64")?;
            *pos += 8;
            Raw::Fixed64(u64::from_le_bytes(chunk.try_into().expect("8 bytes")))
        }
        LEN => {
            let len = read_varint(bytes, pos)? as usize;
            let chunk = bytes.get(*pos..*pos + len).ok_or("truncated field")?;
            *pos += len;
            Raw::Delimited(chunk)
        }
        FIXED32 => {
            bytes.get(*pos..*pos + 4).ok_or("truncated fixed32")?;
            *pos += 4;
            Raw::Varint(0)
        }
        other => return Err(format!("unsupported wire type {other}")),
    })
}

fn write_message(bytes: &[u8], msg: Msg, out: &mut Vec<u8>) -> Result<(), Fault> {
    // Every occurrence of a known field, in order; unknown fields are skipped.
    let mut occurrences: Vec<(u32, Raw)> = Vec::new();
    // Of a oneof set more than once, the last member set wins (as in protobuf).
    let mut oneof_winner = None;
    let mut pos = 0;
    while pos < bytes.len() {
        let (number, wire_type) = read_key(bytes, &mut pos)?;
        if wire_type == START_GROUP {
            skip_group(bytes, &mut pos, number)?;
            continue;
        }
        let raw = read_value(bytes, &mut pos, wire_type)?;
        if let Some(field) = msg.field(number) {
            if field.card == Card::OneOf {
                oneof_winner = Some(number);
            }
            occurrences.push((number, raw));
        }
    }
    out.push(b'{');
    let mut first = true;
    for field in msg.fields() {
        if field.card == Card::OneOf && oneof_winner != Some(field.number) {
            continue;
        }
        let values: Vec<&Raw> = occurrences
            .iter()
            .filter(|(n, _)| *n == field.number)
            .map(|(_, r)| r)
            .collect();
        if values.is_empty() {
            continue;
        }
        let mut rendered = Vec::new();
        if field.card == Card::Repeated {
            rendered.push(b'[');
            let mut first_item = true;
            for raw in &values {
                for item in expand(raw, field.kind)? {
                    if !first_item {
                        rendered.push(b',');
                    }
                    first_item = false;
                    write_value(&item, field.kind, &mut rendered)?;
                }
            }
            rendered.push(b']');
        } else if let Kind::Message(sub) = field.kind {
            // Several occurrences of one message field merge: their bytes concatenate.
            let merged: Vec<u8> = values
                .iter()
                .flat_map(|raw| match raw {
                    Raw::Delimited(b) => b.to_vec(),
                    _ => Vec::new(),
                })
                .collect();
            write_message(&merged, sub, &mut rendered)?;
        } else {
            let last = values.last().expect("not empty");
            if field.card == Card::Single && is_default(last, field.kind) {
                continue;
            }
            write_value(last, field.kind, &mut rendered)?;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(field.json.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(&rendered);
    }
    out.push(b'}');
    Ok(())
}

/// Skips the rest of the (unknown) group `number` that starts at `*pos`.
fn skip_group(bytes: &[u8], pos: &mut usize, number: u32) -> Result<(), Fault> {
    loop {
        if *pos >= bytes.len() {
            return Err("unterminated group".into());
        }
        let (inner, wire_type) = read_key(bytes, pos)?;
        match wire_type {
            END_GROUP if inner == number => return Ok(()),
            END_GROUP => return Err("mismatched end of group".into()),
            START_GROUP => skip_group(bytes, pos, inner)?,
            _ => {
                read_value(bytes, pos, wire_type)?;
            }
        }
    }
}

/// Whether a singular field's value is its type's default, which proto3 JSON leaves out.
/// -0.0 is a default double too (prost compares with ==), but the same bits in a fixed64
/// are 2^63 and in an sfixed64 i64::MIN.
fn is_default(raw: &Raw, kind: Kind) -> bool {
    match raw {
        Raw::Varint(v) => *v == 0,
        Raw::Fixed64(v) => *v == 0 || (kind == Kind::Double && f64::from_bits(*v) == 0.0),
        Raw::Delimited(b) => b.is_empty(),
    }
}

/// The values of one occurrence of a repeated field (several when packed).
fn expand<'a>(raw: &Raw<'a>, kind: Kind) -> Result<Vec<Raw<'a>>, Fault> {
    match raw {
        Raw::Delimited(bytes) if kind.packable() => {
            let mut items = Vec::new();
            let mut pos = 0;
            while pos < bytes.len() {
                items.push(read_value(bytes, &mut pos, kind.wire_type())?);
            }
            Ok(items)
        }
        Raw::Varint(v) => Ok(vec![Raw::Varint(*v)]),
        Raw::Fixed64(v) => Ok(vec![Raw::Fixed64(*v)]),
        Raw::Delimited(b) => Ok(vec![Raw::Delimited(b)]),
    }
}

fn write_value(raw: &Raw, kind: Kind, out: &mut Vec<u8>) -> Result<(), Fault> {
    let string = |text: &str, out: &mut Vec<u8>| {
        serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail")
    };
    match (kind, raw) {
        (Kind::Message(sub), Raw::Delimited(b)) => write_message(b, sub, out)?,
        (Kind::String, Raw::Delimited(b)) => {
            string(std::str::from_utf8(b).map_err(|e| e.to_string())?, out)
        }
        (Kind::Bytes, Raw::Delimited(b)) => {
            string(&base64::engine::general_purpose::STANDARD.encode(b), out)
        }
        (Kind::HexBytes, Raw::Delimited(b)) => string(&const_hex::encode(b), out),
        (Kind::Bool, Raw::Varint(v)) => {
            out.extend_from_slice(if *v != 0 { b"true" } else { b"false" })
        }
        (Kind::Int32 | Kind::Enum(_), Raw::Varint(v)) => {
            out.extend_from_slice((*v as i32).to_string().as_bytes())
        }
        (Kind::UInt32, Raw::Varint(v)) => out.extend_from_slice((*v as u32).to_string().as_bytes()),
        (Kind::SInt32, Raw::Varint(v)) => {
            let n = *v as u32;
            let decoded = ((n >> 1) as i32) ^ -((n & 1) as i32);
            out.extend_from_slice(decoded.to_string().as_bytes());
        }
        (Kind::Int64, Raw::Varint(v)) => string(&(*v as i64).to_string(), out),
        (Kind::UInt64, Raw::Varint(v)) => string(&v.to_string(), out),
        (Kind::Fixed64, Raw::Fixed64(v)) => string(&v.to_string(), out),
        (Kind::SFixed64, Raw::Fixed64(v)) => string(&(*v as i64).to_string(), out),
        (Kind::Double, Raw::Fixed64(v)) => {
            let f = f64::from_bits(*v);
            if f.is_nan() {
                string("NaN", out)
            } else if f.is_infinite() {
                string(if f > 0.0 { "Infinity" } else { "-Infinity" }, out)
            } else {
                serde_json::to_writer(&mut *out, &f).expect("writing to a Vec cannot fail")
            }
        }
        _ => return Err(format!("a value of the wrong wire type for {kind:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
    use opentelemetry_proto::tonic::metrics::v1::{
        metric::Data, number_data_point, Histogram, HistogramDataPoint, Metric, ResourceMetrics,
        ScopeMetrics,
    };

    const SAMPLE: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"demo"}},
        {"key":"pid","value":{"intValue":"42"}}]},
      "scopeMetrics":[{"scope":{"name":"s","version":"1"},"metrics":[
        {"name":"requests","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,
          "dataPoints":[{"startTimeUnixNano":"1000","timeUnixNano":2000,"asInt":"7",
            "attributes":[{"key":"k","value":{"boolValue":true}}]}]}},
        {"name":"temp","gauge":{"dataPoints":[{"timeUnixNano":"2000","asDouble":21.5}]}},
        {"name":"lat","histogram":{"aggregationTemporality":1,"dataPoints":[{"timeUnixNano":"2000",
          "count":"3","sum":6.5,"bucketCounts":["1","2"],"explicitBounds":[5.0],"min":1,"max":4,
          "exemplars":[{"timeUnixNano":"2000","asDouble":1.0,"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}}]}]}]}"#;

    #[test]
    fn reads_the_otlp_json_encoding() {
        let req = parse_request(SAMPLE.as_bytes()).unwrap();
        let rm = &req.resource_metrics[0];
        let attrs = &rm.resource.as_ref().unwrap().attributes;
        assert_eq!(
            attrs[1].value.as_ref().unwrap().value,
            Some(AnyValue::IntValue(42))
        );
        let metrics = &rm.scope_metrics[0].metrics;
        let Some(Data::Sum(sum)) = &metrics[0].data else {
            panic!()
        };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, 2);
        assert_eq!(sum.data_points[0].time_unix_nano, 2000);
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(7))
        );
        let Some(Data::Histogram(h)) = &metrics[2].data else {
            panic!()
        };
        assert_eq!(h.data_points[0].bucket_counts, vec![1, 2]);
        assert_eq!(h.data_points[0].min, Some(1.0));
        assert_eq!(h.data_points[0].exemplars[0].span_id.len(), 8);
    }

    #[test]
    fn writes_what_prost_writes() {
        let req = parse_request(SAMPLE.as_bytes()).unwrap();
        assert_eq!(to_protobuf(SAMPLE.as_bytes()).unwrap(), req.encode_to_vec());
        // prost writes a oneof where its lowest-numbered member stands: asInt (6) before
        // exemplars (5), both in a data point and in an exemplar.
        let json = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[
            {"timeUnixNano":"2","asInt":"7","exemplars":[{"asInt":"1","spanId":"eee19b7ec3c1b174","timeUnixNano":"3"}]}]}}]}]}]}"#;
        let req = parse_request(json.as_bytes()).unwrap();
        assert_eq!(to_protobuf(json.as_bytes()).unwrap(), req.encode_to_vec());
    }

    #[test]
    fn round_trips_through_json() {
        let bytes = to_protobuf(SAMPLE.as_bytes()).unwrap();
        let json = from_protobuf(&bytes).unwrap();
        assert_eq!(to_protobuf(&json).unwrap(), bytes);
        let text = String::from_utf8(json).unwrap();
        assert!(text.contains(r#""timeUnixNano":"2000""#), "{text}");
        assert!(
            text.contains(r#""traceId":"5b8efff798038103d269b633813fc60c""#),
            "{text}"
        );
        assert!(
            !text.contains("droppedAttributesCount"),
            "defaults are left out: {text}"
        );
    }

    #[test]
    fn integers_with_the_bits_of_negative_zero_are_not_left_out() {
        // HistogramDataPoint { start_time (fixed64) = 2^63, count (fixed64) = 2^63,
        // sum (optional double) = -0.0 }: the integers are not defaults; -0.0 is written
        // because the optional sum is present. A singular -0.0 double is a default.
        let negative_zero = (-0.0f64).to_bits().to_le_bytes();
        let mut point = vec![0x11];
        point.extend_from_slice(&negative_zero);
        point.push(0x21);
        point.extend_from_slice(&negative_zero);
        point.push(0x29);
        point.extend_from_slice(&negative_zero);
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "h".into(),
                        data: Some(Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint::decode(&point[..]).unwrap()],
                            aggregation_temporality: 1,
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let bytes = request.encode_to_vec();
        let json = String::from_utf8(from_protobuf(&bytes).unwrap()).unwrap();
        assert!(
            json.contains(r#""startTimeUnixNano":"9223372036854775808","count":"9223372036854775808","sum":-0.0"#),
            "{json}"
        );
        assert_eq!(to_protobuf(json.as_bytes()).unwrap(), bytes);
    }

    #[test]
    fn a_oneof_set_twice_in_protobuf_is_written_once_and_unknown_groups_are_skipped() {
        // NumberDataPoint { as_double (4) = 1.5, as_int (6) = 7, unknown group 15 { 1: 1 } }
        let mut point = vec![0x21];
        point.extend_from_slice(&1.5f64.to_le_bytes());
        point.push(0x31);
        point.extend_from_slice(&7i64.to_le_bytes());
        point.extend_from_slice(&[0x7b, 0x08, 0x01, 0x7c]);
        let nest = |number: u8, body: &[u8]| {
            let mut out = vec![number << 3 | 2, body.len() as u8];
            out.extend_from_slice(body);
            out
        };
        let request = nest(1, &nest(2, &nest(2, &nest(5, &nest(1, &point)))));
        validate::export_request(&request).unwrap();
        let json = String::from_utf8(from_protobuf(&request).unwrap()).unwrap();
        assert!(
            json.contains(r#""asInt":"7""#) && !json.contains("asDouble"),
            "{json}"
        );
        let decoded = ExportMetricsServiceRequest::decode(request.as_slice()).unwrap();
        assert_eq!(parse_request(json.as_bytes()).unwrap(), decoded);
    }

    #[test]
    fn protobuf_json_variants_are_accepted() {
        let json = r#"{"resource_metrics":[{"scopeMetrics":[{"metrics":[
            {"name":"c","sum":{"aggregation_temporality":"AGGREGATION_TEMPORALITY_CUMULATIVE",
              "dataPoints":[{"asInt":-5,"timeUnixNano":7,"startTimeUnixNano":"6"}]}},
            {"name":"g","gauge":{"dataPoints":[{"asDouble":"NaN"},{"asDouble":"-Infinity"}]}},
            {"name":"h","histogram":{"dataPoints":[{"count":3,"bucketCounts":[1,"2"],"flags":1}]}}]}]}]}"#;
        let req = parse_request(json.as_bytes()).unwrap();
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let Some(Data::Sum(sum)) = &metrics[0].data else {
            panic!()
        };
        assert_eq!(sum.aggregation_temporality, 2);
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(-5))
        );
        let Some(Data::Gauge(g)) = &metrics[1].data else {
            panic!()
        };
        assert!(
            matches!(g.data_points[0].value, Some(number_data_point::Value::AsDouble(f)) if f.is_nan())
        );
        let Some(Data::Histogram(h)) = &metrics[2].data else {
            panic!()
        };
        assert_eq!((h.data_points[0].count, h.data_points[0].flags), (3, 1));
        assert_eq!(h.data_points[0].bucket_counts, vec![1, 2]);
    }

    #[test]
    fn content_that_does_not_fit_is_refused_with_its_path() {
        for (json, path) in [
            (
                r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"dataPoints":[{"asInt":"abc"}]}}]}]}]}"#,
                "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0].asInt",
            ),
            (
                r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"aggregationTemporality":"WEEKLY"}}]}]}]}"#,
                "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.aggregationTemporality",
            ),
            (r#"{"resourceMetrics":{"x":1}}"#, "resourceMetrics"),
            (
                r#"{"resourceMetrics":[{"resource":{"droppedAttributesCount":-1}}]}"#,
                "resourceMetrics[0].resource.droppedAttributesCount",
            ),
            (r#"[1]"#, "the top level"),
            (
                r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"asInt":"1","asDouble":2}]}}]}]}]}"#,
                "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]",
            ),
        ] {
            let err = to_protobuf(json.as_bytes()).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Decode);
            assert!(err.message().contains(path), "{err}");
        }
    }

    #[test]
    fn malformed_json_names_the_position() {
        let e = parse_request(b"{\"resourceMetrics\": [\n  {\"resource\": }]}").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Decode);
        assert!(e.message().contains("line 2"), "{e}");
        let e = parse_request(b"{\"resourceMetrics\": [").unwrap_err();
        assert!(e.message().contains("column"), "{e}");
    }
}

#[cfg(test)]
mod nesting_tests {
    use super::*;

    /// A request whose one resource attribute holds `depth` nested ArrayValues.
    fn nested_arrays_json(depth: usize) -> String {
        let open = r#"{"arrayValue":{"values":["#.repeat(depth);
        let close = "]}}".repeat(depth);
        format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"k","value":{open}{{"boolValue":true}}{close}}}]}}}}]}}"#
        )
    }

    #[test]
    fn json_as_deep_as_protobuf_allows_is_read() {
        // 48 ArrayValue levels is the deepest prost decodes here (100 nested messages);
        // as JSON that is 151 levels, over serde_json's default limit of 128.
        let deepest = nested_arrays_json(48);
        let bytes = to_protobuf(deepest.as_bytes()).unwrap();
        let decoded = ExportMetricsServiceRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.encode_to_vec(), bytes);
        // What from_protobuf writes for it is read back.
        let again = to_protobuf(&from_protobuf(&bytes).unwrap()).unwrap();
        assert_eq!(again, bytes);
        // One level more is refused as prost refuses it.
        let e = to_protobuf(nested_arrays_json(49).as_bytes()).unwrap_err();
        assert!(e.message().contains("nested too deeply"), "{e}");
    }

    #[test]
    fn json_deeper_than_any_valid_request_is_refused_before_parsing() {
        for text in [
            "[".repeat(1_000_000),
            format!("{}{}", r#"{"a":"#.repeat(MAX_JSON_DEPTH + 1), "1"),
            nested_arrays_json(100),
        ] {
            let e = to_protobuf(text.as_bytes()).unwrap_err();
            assert!(e.message().contains("nested deeper than"), "{e}");
        }
        // Brackets inside strings (escaped quotes included) do not count.
        let strings = format!(
            r#"{{"resourceMetrics":[],"x":"{}\"{}"}}"#,
            "[".repeat(500),
            "{".repeat(500)
        );
        assert!(to_protobuf(strings.as_bytes()).is_ok());
    }

    #[test]
    fn the_deepest_json_parses_on_a_small_stack() {
        // A C caller's thread may have a small stack: JSON as deep as the bound allows
        // (far past prost's limit, so refused after parsing) must fit in 128 KiB in a
        // release build; debug builds need several times that.
        let depth = (MAX_JSON_DEPTH - 7) / 3;
        let text = nested_arrays_json(depth);
        let stack = if cfg!(debug_assertions) {
            1 << 20
        } else {
            128 << 10
        };
        let result = std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || to_protobuf(text.as_bytes()).map(drop))
            .unwrap()
            .join()
            .unwrap();
        let e = result.unwrap_err();
        assert!(e.message().contains("nested too deeply"), "{e}");
    }
}
