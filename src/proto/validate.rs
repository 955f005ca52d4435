//! Checks that uploaded bytes are a valid message of the expected type before anything
//! is sent, without building message objects: a walk over the protobuf wire format (tags,
//! wire types, lengths, nesting, UTF-8 of string fields) with the OTLP metrics schema.
//! It accepts exactly what prost accepts for these messages (same wire-type rules, packed
//! and unpacked repeated scalars, unknown fields and groups skipped, the same recursion
//! limit), which a differential test and the fuzz target check; unlike prost, its errors
//! name the byte offset and the field.
//!
//! This runs on every upload, so the walk is built for speed:
//! - Every field number of the schema is below 16, so the key of every known field is a
//!   single byte when written canonically (as every encoder does). [`KEY_ACTIONS`] maps
//!   each message's 256 possible first key bytes straight to what to do with the field
//!   (skip a varint, skip 8 bytes, check a string, enter a sub-message, reject the wire
//!   type...) as one flat byte ([`action`]; a sub-message's index is in the byte), so the
//!   common case costs one byte load and one jump through a dense table, with no key
//!   decode and no match on (field, wire type). Whatever the table cannot settle from one
//!   byte (multi-byte keys, field number 0, invalid wire types, unknown fields, groups)
//!   goes to [`Walker::slow_field`], which decodes the key as prost does.
//! - The walk passes a cursor over slices (the unread bytes of the current message, in
//!   and out of each function, so it stays in registers): each message's bytes are a
//!   slice of their own, so lengths are checked once, when the slice is cut, and reads
//!   need no further bounds checks. Byte offsets for errors are recomputed from the
//!   slices' addresses, on the error path only.
//! - A repeated message field's entries are written together: after one, the same key
//!   byte continues the loop in place instead of going back through the dispatch.
//! - Attributes (`KeyValue`, mostly `key` + `AnyValue.string_value` or `int_value`) are
//!   most of a payload's fields: their usual shapes are checked inline
//!   ([`Walker::key_value`]), their short strings with an inline ASCII check
//!   ([`is_ascii`]), their integers by the varint's bytes alone (one of at most 9 bytes is
//!   always valid). A string attribute's framing bytes (keys and one-byte lengths) are
//!   all below 0x80, so one ASCII check over its whole body covers its key, its value and
//!   its lengths ([`is_ascii_string_attribute`]). Any other shape goes to the general
//!   walk, which decides and reports faults.
//! - Data points (the bulk of a payload's messages) are first tried inline
//!   ([`is_flat_message`]: fixed64 scalars, one-byte varints, packed fixed64 values and
//!   attributes of the usual shapes), without a call and a dispatch per field; any other
//!   field sends the point to the general walk. What remains is hopping from field to
//!   field, each hop waiting for the length before it: the floor of any serial walk.
//! - Errors carry nothing on the hot path (`Err(())`): the first fault's details are
//!   recorded by cold functions in a `Cell` on the side.
//!
//! [`checked_resource_metrics_request`] turns a `ResourceMetrics` into an
//! `ExportMetricsServiceRequest` with one copy and no re-encoding, and checks the copy.

use std::cell::Cell;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::proto::schema::wire::{END_GROUP, FIXED32, FIXED64, LEN, START_GROUP, VARINT};
use crate::proto::schema::{Card, Kind, Msg, MAX_FIELD};

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

/// The request to send for `resource_metrics`, once they are checked ([`resource_metrics`]):
/// [wrapped](wrap_resource_metrics), one copy. The check walks the copy, not the caller's
/// bytes: copying (a streaming read) has just brought them into the cache, where the walk
/// (one dependent load after another) runs faster than over bytes that may have left it.
pub fn checked_resource_metrics_request(resource_metrics: &[u8]) -> Result<Bytes> {
    let request = wrap_resource_metrics(resource_metrics);
    self::resource_metrics(&request[request.len() - resource_metrics.len()..])?;
    Ok(request)
}

/// A copy of `request` once it is checked ([`export_request`]); the copy is walked, as
/// in [`checked_resource_metrics_request`].
pub fn checked_export_request(request: &[u8]) -> Result<Bytes> {
    let copy = Bytes::copy_from_slice(request);
    export_request(&copy)?;
    Ok(copy)
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
    if walker.message(msg, bytes, depth).is_ok() {
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
pub(crate) const RECURSION_LIMIT: u32 = 100;

/// What to do with a field, from the first byte of its key: one byte per key in
/// [`KEY_ACTIONS`], so the dispatch is one byte load and one dense jump.
mod action {
    /// Anything but the one-byte key of a known field: decode the key as prost does
    /// ([`Walker::slow_field`](super::Walker::slow_field)).
    pub(super) const SLOW: u8 = 0;
    /// A varint scalar (or one value of an unpacked repeated one).
    pub(super) const VARINT: u8 = 1;
    /// A fixed64/double scalar (or one value of an unpacked repeated one).
    pub(super) const FIXED64: u8 = 2;
    /// Length-delimited bytes, any content.
    pub(super) const BYTES: u8 = 3;
    /// Length-delimited UTF-8.
    pub(super) const UTF8: u8 = 4;
    /// A `KeyValue` (an attribute): a message, checked by
    /// [`Walker::key_value`](super::Walker::key_value).
    pub(super) const KEY_VALUE: u8 = 5;
    /// Packed repeated fixed64/double: a multiple of 8 bytes.
    pub(super) const PACKED_FIXED64: u8 = 6;
    /// Packed repeated varints.
    pub(super) const PACKED_VARINT: u8 = 7;
    /// A known field sent with a wire type its type does not allow (prost refuses it).
    pub(super) const WRONG_WIRE_TYPE: u8 = 8;
    /// A length-delimited sub-message: `MESSAGE | msg as u8` (`MESSAGE..=LAST_MESSAGE`).
    pub(super) const MESSAGE: u8 = 0x20;
    /// The sub-message's index in a `MESSAGE` action.
    pub(super) const MSG_MASK: u8 = 0x1f;
    /// The last `MESSAGE` action.
    pub(super) const LAST_MESSAGE: u8 = MESSAGE | MSG_MASK;
}

/// [`KEY_ACTIONS`] has one row per value of [`action::MSG_MASK`], so that indexing it
/// with a masked message index needs no bounds check (the rows past the last message
/// are unused).
const ACTION_ROWS: usize = action::MSG_MASK as usize + 1;
const _: () = assert!(Msg::ALL.len() <= ACTION_ROWS);

/// For each message and each possible first byte of a key, what to do ([`action`]):
/// derived from [`Msg::fields`], the schema's single source of truth.
static KEY_ACTIONS: [[u8; 256]; ACTION_ROWS] = {
    let mut table = [[action::SLOW; 256]; ACTION_ROWS];
    let mut m = 0;
    while m < Msg::ALL.len() {
        let fields = Msg::ALL[m].fields();
        let mut i = 0;
        while i < fields.len() {
            let f = &fields[i];
            assert!(
                (f.number as usize) < MAX_FIELD,
                "a known key of more than one byte"
            );
            let repeated = matches!(f.card, Card::Repeated);
            // The wire types 0..=5 (6 and 7 are invalid, left to the slow path).
            let mut wire_type = 0;
            while wire_type <= FIXED32 {
                let code = match (f.kind, wire_type) {
                    (Kind::Message(Msg::KeyValue), LEN) => action::KEY_VALUE,
                    (Kind::Message(sub), LEN) => action::MESSAGE | sub as u8,
                    (Kind::String, LEN) => action::UTF8,
                    (Kind::Bytes | Kind::HexBytes, LEN) => action::BYTES,
                    (Kind::Message(_) | Kind::String | Kind::Bytes | Kind::HexBytes, _) => {
                        action::WRONG_WIRE_TYPE
                    }
                    (Kind::Fixed64 | Kind::SFixed64 | Kind::Double, FIXED64) => action::FIXED64,
                    (Kind::Fixed64 | Kind::SFixed64 | Kind::Double, LEN) if repeated => {
                        action::PACKED_FIXED64
                    }
                    (Kind::Fixed64 | Kind::SFixed64 | Kind::Double, _) => action::WRONG_WIRE_TYPE,
                    // The varint types: bool, (s|u)int32/64, enums.
                    (_, VARINT) => action::VARINT,
                    (_, LEN) if repeated => action::PACKED_VARINT,
                    _ => action::WRONG_WIRE_TYPE,
                };
                table[m][(f.number as usize) << 3 | wire_type as usize] = code;
                wire_type += 1;
            }
            i += 1;
        }
        m += 1;
    }
    table
};

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

/// The walk over `bytes`. Its functions take `rest`, the unread bytes of the message being
/// walked (never past its end), and return what they read with the bytes after it: the
/// cursor stays in registers instead of behind a `&mut` that would pin it to memory.
struct Walker<'a> {
    bytes: &'a [u8],
    fault: Cell<Option<Fault>>,
}

impl<'a> Walker<'a> {
    /// The offset in the whole input of `at`, a subslice of it.
    fn offset(&self, at: &[u8]) -> usize {
        at.as_ptr() as usize - self.bytes.as_ptr() as usize
    }

    /// Records the fault at the start of `at` and fails.
    #[cold]
    #[inline(never)]
    fn fail<T>(&self, what: &'static str, at: &[u8]) -> Walk<T> {
        self.fault.set(Some(Fault {
            what,
            offset: self.offset(at),
            field: None,
        }));
        Err(())
    }

    /// A varint, as prost reads it: at most 10 bytes, the tenth at most 1. One-byte
    /// varints (most keys, lengths and small values) take the short path.
    #[inline(always)]
    fn varint(&self, rest: &'a [u8]) -> Walk<(u64, &'a [u8])> {
        match rest {
            [byte, after @ ..] if *byte < 0x80 => Ok((u64::from(*byte), after)),
            _ => self.long_varint(rest),
        }
    }

    #[inline(never)]
    fn long_varint(&self, mut rest: &'a [u8]) -> Walk<(u64, &'a [u8])> {
        let start = rest;
        let mut value = 0u64;
        for i in 0..10 {
            let Some((&byte, after)) = rest.split_first() else {
                return self.fail("truncated varint", start);
            };
            rest = after;
            if i == 9 && byte >= 2 {
                return self.fail("invalid varint (over 64 bits)", start);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok((value, rest));
            }
        }
        self.fail("invalid varint (over 10 bytes)", start)
    }

    /// Skips a varint value (see [`Self::varint`]).
    #[inline(always)]
    fn skip_varint(&self, rest: &'a [u8]) -> Walk<&'a [u8]> {
        self.varint(rest).map(|(_, after)| after)
    }

    /// A field key: `(field number, wire type)`.
    fn key(&self, rest: &'a [u8]) -> Walk<((u32, u8), &'a [u8])> {
        let (key, after) = self.varint(rest)?;
        if key > u64::from(u32::MAX) {
            return self.fail("invalid field key", rest);
        }
        let wire_type = (key & 7) as u8;
        if wire_type > FIXED32 {
            return self.fail("invalid wire type", rest);
        }
        let number = (key as u32) >> 3;
        if number == 0 {
            return self.fail("invalid field number 0", rest);
        }
        Ok(((number, wire_type), after))
    }

    /// The payload of a length-delimited field and the bytes after it. Lengths of one or
    /// two bytes (under 16 KiB: nearly all of them) are read inline.
    #[inline(always)]
    fn delimited(&self, rest: &'a [u8]) -> Walk<(&'a [u8], &'a [u8])> {
        let (len, after) = match rest {
            [b0, after @ ..] if *b0 < 0x80 => (usize::from(*b0), after),
            [b0, b1, after @ ..] if *b1 < 0x80 => {
                (usize::from(b0 & 0x7f) | usize::from(*b1) << 7, after)
            }
            _ => {
                let (len, after) = self.long_varint(rest)?;
                (usize::try_from(len).unwrap_or(usize::MAX), after)
            }
        };
        if len > after.len() {
            return self.fail("length past the end of the enclosing message", rest);
        }
        Ok(after.split_at(len))
    }

    /// Skips `width` bytes.
    #[inline(always)]
    fn skip(&self, rest: &'a [u8], width: usize) -> Walk<&'a [u8]> {
        match rest.get(width..) {
            Some(after) => Ok(after),
            None => self.fail("truncated fixed-width value", rest),
        }
    }

    /// Checks a string field's UTF-8, as prost does: ASCII (nearly all of them) inline,
    /// anything else by `std::str::from_utf8`.
    #[inline(always)]
    fn utf8(&self, text: &[u8]) -> Walk<()> {
        if is_ascii(text) {
            return Ok(());
        }
        self.non_ascii_utf8(text)
    }

    #[inline(never)]
    fn non_ascii_utf8(&self, text: &[u8]) -> Walk<()> {
        match std::str::from_utf8(text) {
            Ok(_) => Ok(()),
            Err(e) => self.fail("string field is not valid UTF-8", &text[e.valid_up_to()..]),
        }
    }

    /// Checks that `body` is a `msg`; `depth` is prost's recursion budget left.
    #[inline(always)]
    fn message(&self, msg: Msg, body: &'a [u8], depth: u32) -> Walk<()> {
        self.message_at(msg as usize, body, depth)
    }

    /// [`Self::message`] for the message of index `m` in [`Msg::ALL`] (as a sub-message
    /// action carries it).
    fn message_at(&self, m: usize, body: &'a [u8], depth: u32) -> Walk<()> {
        let actions = &KEY_ACTIONS[m & usize::from(action::MSG_MASK)];
        let mut rest = body;
        while let [key, after_key @ ..] = rest {
            let code = actions[usize::from(*key)];
            rest = if code == action::SLOW {
                self.slow_field(m, rest, depth)?
            } else {
                match self.field(code, Some(*key), after_key, depth) {
                    Ok(after) => after,
                    Err(()) => {
                        self.note_field(Msg::ALL[m], u32::from(key >> 3), rest);
                        return Err(());
                    }
                }
            };
        }
        Ok(())
    }

    /// A field whose key is not one byte of a known field: decoded as prost does, then
    /// skipped as an unknown field or handled as the known field it is.
    #[inline(never)]
    fn slow_field(&self, m: usize, rest: &'a [u8], depth: u32) -> Walk<&'a [u8]> {
        let ((number, wire_type), after_key) = self.key(rest)?;
        let code = match usize::try_from(number) {
            Ok(n) if n < MAX_FIELD => {
                KEY_ACTIONS[m & usize::from(action::MSG_MASK)][n << 3 | usize::from(wire_type)]
            }
            _ => action::SLOW,
        };
        let outcome = if code == action::SLOW {
            self.unknown(number, wire_type, after_key, depth)
        } else {
            self.field(code, None, after_key, depth)
        };
        if outcome.is_err() {
            self.note_field(Msg::ALL[m], number, rest);
        }
        outcome
    }

    /// Adds the innermost field to the recorded fault.
    #[cold]
    #[inline(never)]
    fn note_field(&self, msg: Msg, number: u32, field_start: &[u8]) {
        if let Some(mut fault) = self.fault.get() {
            if fault.field.is_none() {
                fault.field = Some((msg, number));
                fault.offset = fault.offset.max(self.offset(field_start));
                self.fault.set(Some(fault));
            }
        }
    }

    /// The value of a known field, after its key: returns the bytes after it. `key` is
    /// the field's key when it is one byte: the entries of a repeated message field
    /// (attributes, data points, metrics) are written together, so a run of that key is
    /// walked here without going back to the dispatch for each entry. A fault is then
    /// noted at the run's first key, which changes nothing: the fault's offset is always
    /// past its own field's key.
    #[inline(always)]
    fn field(&self, code: u8, key: Option<u8>, rest: &'a [u8], depth: u32) -> Walk<&'a [u8]> {
        match code {
            action::VARINT => self.skip_varint(rest),
            action::FIXED64 => self.skip(rest, 8),
            action::BYTES => self.delimited(rest).map(|(_, after)| after),
            action::UTF8 => {
                let (text, after) = self.delimited(rest)?;
                self.utf8(text)?;
                Ok(after)
            }
            action::KEY_VALUE => {
                if depth == 0 {
                    return self.fail("messages nested too deeply", rest);
                }
                let mut rest = rest;
                loop {
                    let (body, after) = self.delimited(rest)?;
                    self.key_value(body, depth - 1)?;
                    match after {
                        [next, more @ ..] if Some(*next) == key => rest = more,
                        _ => return Ok(after),
                    }
                }
            }
            action::PACKED_FIXED64 => {
                let (values, after) = self.delimited(rest)?;
                if values.len() % 8 != 0 {
                    return self.fail(
                        "packed fixed64 values are not a multiple of 8 bytes",
                        values,
                    );
                }
                Ok(after)
            }
            action::PACKED_VARINT => {
                let (mut values, after) = self.delimited(rest)?;
                while !values.is_empty() {
                    values = self.skip_varint(values)?;
                }
                Ok(after)
            }
            action::MESSAGE..=action::LAST_MESSAGE => {
                if depth == 0 {
                    return self.fail("messages nested too deeply", rest);
                }
                let sub = usize::from(code & action::MSG_MASK);
                // A data point's budget must cover its attributes' KeyValue and AnyValue.
                let flat = FLAT[sub] && depth >= 3;
                let mut rest = rest;
                loop {
                    let (body, after) = self.delimited(rest)?;
                    if !(flat && is_flat_message(&KEY_ACTIONS[sub], body)) {
                        self.message_at(sub, body, depth - 1)?;
                    }
                    match after {
                        [next, more @ ..] if Some(*next) == key => rest = more,
                        _ => return Ok(after),
                    }
                }
            }
            // action::WRONG_WIRE_TYPE (action::SLOW never comes here).
            _ => self.fail("wrong wire type for the field", rest),
        }
    }

    /// Checks that `body` is a `KeyValue` (an attribute); `depth` is the budget left in
    /// it. Attributes are most of a payload's fields, nearly all in the shape prost writes
    /// for a string attribute, `0a len key 12 len (0a len string)` with one-byte lengths,
    /// or for an int attribute, `0a len key 12 len (18 varint)`.
    /// That shape is checked here without a call per message; anything else goes to the
    /// general walk, which also reports any fault.
    #[inline(always)]
    fn key_value(&self, body: &'a [u8], depth: u32) -> Walk<()> {
        if depth > 0 && is_ascii_string_attribute(body) {
            return Ok(());
        }
        let Some((value_field, value)) = usual_key_value(body).filter(|_| depth > 0) else {
            return self.message(Msg::KeyValue, body, depth);
        };
        if is_short_ascii_string_value(value) || is_int_value(value) {
            return Ok(());
        }
        if self.message(Msg::AnyValue, value, depth - 1).is_err() {
            self.note_field(Msg::KeyValue, 2, value_field);
            return Err(());
        }
        Ok(())
    }

    /// Skips an unknown field as prost does (groups included, within the recursion budget).
    fn unknown(&self, number: u32, wire_type: u8, rest: &'a [u8], depth: u32) -> Walk<&'a [u8]> {
        if depth == 0 {
            return self.fail("unknown fields nested too deeply", rest);
        }
        match wire_type {
            VARINT => self.skip_varint(rest),
            FIXED64 => self.skip(rest, 8),
            FIXED32 => self.skip(rest, 4),
            LEN => self.delimited(rest).map(|(_, after)| after),
            START_GROUP => {
                let mut rest = rest;
                loop {
                    let ((inner, inner_wire_type), after_key) = self.key(rest)?;
                    if inner_wire_type == END_GROUP {
                        if inner != number {
                            return self.fail("end of a group that was not started", after_key);
                        }
                        return Ok(after_key);
                    }
                    rest = self.unknown(inner, inner_wire_type, after_key, depth - 1)?;
                }
            }
            _ => self.fail("end of a group that was not started", rest),
        }
    }
}

/// The messages worth trying [`is_flat_message`] on first: data points, most of a
/// payload's messages.
static FLAT: [bool; ACTION_ROWS] = {
    let mut flat = [false; ACTION_ROWS];
    flat[Msg::NumberDataPoint as usize] = true;
    flat[Msg::HistogramDataPoint as usize] = true;
    flat
};

/// Whether `body`, a message whose fields' actions are `actions`, is valid and made only
/// of the fields a data point usually has: fixed64 scalars, one-byte varints, packed
/// fixed64 values and attributes of the usual string and int shapes. Walked inline,
/// without the call and the dispatch per field of [`Walker::message_at`]; `false` says
/// nothing (the general walk then decides, and reports any fault).
#[inline(always)]
fn is_flat_message(actions: &[u8; 256], body: &[u8]) -> bool {
    let mut rest = body;
    while let [key, after @ ..] = rest {
        rest = match actions[usize::from(*key)] {
            action::FIXED64 => match after.get(8..) {
                Some(after) => after,
                None => return false,
            },
            action::KEY_VALUE => match short_delimited(after) {
                Some((attribute, after))
                    if is_ascii_string_attribute(attribute) || is_int_attribute(attribute) =>
                {
                    after
                }
                _ => return false,
            },
            action::PACKED_FIXED64 => match short_delimited(after) {
                Some((values, after)) if values.len() % 8 == 0 => after,
                _ => return false,
            },
            action::VARINT => match after {
                [byte, after @ ..] if *byte < 0x80 => after,
                _ => return false,
            },
            _ => return false,
        };
    }
    true
}

/// A `KeyValue` of the usual int shape (see [`usual_key_value`] and [`is_int_value`]).
#[inline(always)]
fn is_int_attribute(body: &[u8]) -> bool {
    usual_key_value(body).is_some_and(|(_, value)| is_int_value(value))
}

/// `len payload...` with a one-byte length: `(payload, after)`.
#[inline(always)]
fn short_delimited(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let [len @ 0..=0x7f, rest @ ..] = rest else {
        return None;
    };
    rest.split_at_checked(usize::from(*len))
}

/// A `KeyValue` in the usual shape: `0a len key 12 len value`, one-byte lengths, an
/// ASCII key (so valid UTF-8), the value running to the end. Returns the value field
/// (from its key) and the value (the `AnyValue`'s bytes).
#[inline(always)]
fn usual_key_value(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let [0x0a, rest @ ..] = body else {
        return None;
    };
    let (key, value_field) = short_delimited(rest)?;
    let [0x12, rest @ ..] = value_field else {
        return None;
    };
    let (value, after) = short_delimited(rest)?;
    (after.is_empty() && is_ascii(key)).then_some((value_field, value))
}

/// A `KeyValue` of the usual string shape, `0a len key 12 len (0a len string)`, whose
/// bytes are all ASCII. Every byte of that shape's framing (the keys 0a, 12 and 0a, and
/// one-byte lengths) is below 0x80, as are its strings' bytes when they are ASCII, so one
/// ASCII check over the whole body covers the key, the string and the lengths at once.
#[inline(always)]
fn is_ascii_string_attribute(body: &[u8]) -> bool {
    let [0x0a, key_len, rest @ ..] = body else {
        return false;
    };
    let Some(([0x12, value_len, 0x0a, text_len], text)) = rest
        .get(usize::from(*key_len)..)
        .and_then(<[u8]>::split_first_chunk::<4>)
    else {
        return false;
    };
    usize::from(*value_len) == usize::from(*text_len) + 2
        && text.len() == usize::from(*text_len)
        && is_ascii(body)
}

/// An `AnyValue` that is only `string_value` (`0a len string`), one-byte length, ASCII.
#[inline(always)]
fn is_short_ascii_string_value(value: &[u8]) -> bool {
    match value {
        [0x0a, rest @ ..] => {
            matches!(short_delimited(rest), Some((text, after)) if after.is_empty() && is_ascii(text))
        }
        _ => false,
    }
}

/// An `AnyValue` that is only `int_value` (`18 varint`) with a varint of at most 9 bytes
/// (any such varint is valid; longer ones go to the general walk).
#[inline(always)]
fn is_int_value(value: &[u8]) -> bool {
    match value {
        [0x18, more @ .., last] => {
            *last < 0x80 && more.len() < 9 && more.iter().all(|byte| byte & 0x80 != 0)
        }
        _ => false,
    }
}

/// Whether `text` is ASCII (so valid UTF-8): inline and branch-light for the short
/// strings that dominate (attribute keys and values of a few to a few dozen bytes), where
/// `<[u8]>::is_ascii` calls out of line. Over 16 bytes, reads 8-byte words, four at a
/// time in its loop (a shorter tail as the last 16 bytes, overlapping); 8 to 16 bytes as
/// two overlapping words; under 8 bytes, two overlapping 4-byte reads, or the bytes
/// themselves.
#[inline(always)]
fn is_ascii(text: &[u8]) -> bool {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let word = |at: &[u8]| u64::from_le_bytes(at[..8].try_into().unwrap());
    let half = |at: &[u8]| u64::from(u32::from_le_bytes(at[..4].try_into().unwrap()));
    let len = text.len();
    let bits = if len > 16 {
        // The first 16 bytes, four words at a time while more than 32 bytes are left, two
        // more if more than 16 are left, then the last 16 bytes (overlapping when fewer
        // are left): no separate tail, and no loop step up to 48 bytes.
        let (mut bits, mut rest) = (word(text) | word(&text[8..]), &text[16..]);
        while rest.len() > 32 {
            let (chunk, after) = rest.split_at(32);
            bits |= word(chunk) | word(&chunk[8..]) | word(&chunk[16..]) | word(&chunk[24..]);
            rest = after;
        }
        if rest.len() > 16 {
            bits |= word(rest) | word(&rest[8..]);
        }
        bits | word(&text[len - 16..]) | word(&text[len - 8..])
    } else if len >= 8 {
        word(text) | word(&text[len - 8..])
    } else if len >= 4 {
        half(text) | half(&text[len - 4..])
    } else if len > 0 {
        u64::from(text[0] | text[len / 2] | text[len - 1])
    } else {
        0
    };
    bits & HIGH_BITS == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use prost::Message;

    #[test]
    fn a_fault_in_a_run_of_entries_names_its_own_offset_and_field() {
        // ResourceMetrics.resource: Resource { attributes: [a = "b", a key not UTF-8] }
        let rm = [
            0x0a, 0x10, 0x0a, 0x08, 0x0a, 0x01, b'a', 0x12, 0x03, 0x0a, 0x01, b'b', 0x0a, 0x04,
            0x0a, 0x02, 0xc3, 0x28,
        ];
        let e = resource_metrics(&rm).unwrap_err();
        assert!(
            e.message()
                .ends_with("not valid UTF-8 at byte 16 (in KeyValue, field 1)"),
            "{e}"
        );
        // A request of two ResourceMetrics, the second's schema_url not UTF-8.
        let request = [0x0a, 0x02, 0x1a, 0x00, 0x0a, 0x04, 0x1a, 0x02, 0xc3, 0x28];
        let e = export_request(&request).unwrap_err();
        assert!(
            e.message()
                .ends_with("not valid UTF-8 at byte 8 (in ResourceMetrics, field 3)"),
            "{e}"
        );
    }

    #[test]
    fn is_ascii_agrees_with_std() {
        let mut text = [b'a'; 100];
        for len in 0..text.len() {
            assert!(is_ascii(&text[..len]));
            for at in 0..len {
                text[at] = 0x80;
                assert!(!is_ascii(&text[..len]), "{len} {at}");
                text[at] = b'a';
            }
        }
    }

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
    fn the_checked_copies_are_the_requests_and_fail_as_the_checks_do() {
        let rm = ResourceMetrics {
            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(
            checked_resource_metrics_request(&rm).unwrap(),
            wrap_resource_metrics(&rm)
        );
        let request = wrap_resource_metrics(&rm);
        assert_eq!(checked_export_request(&request).unwrap(), request);
        // The offsets are the caller's, not the copy's.
        for bad in [&b"\x0a\x05ab"[..], b"\x1a\x02\xc3\x28"] {
            assert_eq!(
                checked_resource_metrics_request(bad).unwrap_err().message(),
                resource_metrics(bad).unwrap_err().message()
            );
        }
        for bad in [&b"\x0a\x05ab"[..], b"\x0a\x04\x1a\x02\xc3\x28"] {
            assert_eq!(
                checked_export_request(bad).unwrap_err().message(),
                export_request(bad).unwrap_err().message()
            );
        }
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
