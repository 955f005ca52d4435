//! Attribute sets: what identifies a series within an instrument.
//!
//! A set is order-independent and has one value per key (a later duplicate key wins).
//! The owned form ([`AttributeSet`]) keeps its entries in the order it was first given
//! them and its hash computed once. Recording passes attributes borrowed for the call
//! ([`KeyValue`], as the C API will); [`Lookup`] hashes them with the same
//! order-independent hash and [`AttributeSet::matches`] compares them with a stored set,
//! so a set seen before is found without building an owned copy (no heap allocation).
//! Callers usually pass a set's attributes in the same order every time, so the
//! comparison goes position by position and searches only from the first difference on.

use std::fmt;

use crate::error::{Error, Result};

/// A borrowed attribute value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// UTF-8 text.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A double.
    F64(f64),
}

/// A borrowed attribute: a key and a value, valid for one call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeyValue<'a> {
    /// Not empty.
    pub key: &'a str,
    /// The value.
    pub value: Value<'a>,
}

impl<'a> KeyValue<'a> {
    /// A text attribute.
    pub fn str(key: &'a str, value: &'a str) -> Self {
        KeyValue {
            key,
            value: Value::Str(value),
        }
    }

    /// A boolean attribute.
    pub fn bool(key: &'a str, value: bool) -> Self {
        KeyValue {
            key,
            value: Value::Bool(value),
        }
    }

    /// An integer attribute.
    pub fn i64(key: &'a str, value: i64) -> Self {
        KeyValue {
            key,
            value: Value::I64(value),
        }
    }

    /// A double attribute.
    pub fn f64(key: &'a str, value: f64) -> Self {
        KeyValue {
            key,
            value: Value::F64(value),
        }
    }
}

/// An owned attribute value.
#[derive(Clone, Debug)]
pub enum OwnedValue {
    /// UTF-8 text.
    Str(Box<str>),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A double.
    F64(f64),
}

impl OwnedValue {
    fn from_borrowed(value: Value<'_>) -> Self {
        match value {
            Value::Str(s) => OwnedValue::Str(s.into()),
            Value::Bool(b) => OwnedValue::Bool(b),
            Value::I64(i) => OwnedValue::I64(i),
            Value::F64(f) => OwnedValue::F64(f),
        }
    }

    /// The borrowed view of this value.
    pub fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Str(s) => Value::Str(s),
            OwnedValue::Bool(b) => Value::Bool(*b),
            OwnedValue::I64(i) => Value::I64(*i),
            OwnedValue::F64(f) => Value::F64(*f),
        }
    }
}

/// Identity of values: doubles compare by their bits, so that a NaN attribute names one
/// series (and 0.0 and -0.0 two), as a hash-consistent identity must.
fn same_value(a: Value<'_>, b: Value<'_>) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => same_text(x, y),
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::I64(x), Value::I64(y)) => x == y,
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        _ => false,
    }
}

/// Text equality without a call to `memcmp` for the short texts attributes mostly are
/// (keys and values of a few to a few dozen bytes): compared as at most two words each.
fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => {
            read_u32(&a[..4]) == read_u32(&b[..4]) && read_u32(&a[n - 4..]) == read_u32(&b[n - 4..])
        }
        8..=16 => {
            read_u64(&a[..8]) == read_u64(&b[..8]) && read_u64(&a[n - 8..]) == read_u64(&b[n - 8..])
        }
        _ => a == b,
    }
}

/// An owned, deduplicated attribute set, hashed once; its entries keep the order they were
/// first given in (a winning later duplicate at its own place).
#[derive(Clone)]
pub struct AttributeSet {
    entries: Box<[(Box<str>, OwnedValue)]>,
    hash: u64,
}

impl AttributeSet {
    /// The empty set.
    pub fn empty() -> Self {
        AttributeSet {
            entries: Box::new([]),
            hash: finish_set_hash(0, 0),
        }
    }

    /// The set of `attrs` (a later duplicate key wins); an empty key is an error.
    pub fn new(attrs: &[KeyValue<'_>]) -> Result<Self> {
        check_keys(attrs)?;
        Ok(Self::from_checked(attrs))
    }

    /// The set of `attrs`, whose keys are known not to be empty.
    pub(crate) fn from_checked(attrs: &[KeyValue<'_>]) -> Self {
        // Stable sort keeps equal keys in their call order, so the last of each run is the
        // later duplicate, the one that wins; the winners then go back to call order.
        let mut order: Vec<usize> = (0..attrs.len()).collect();
        order.sort_by(|&a, &b| attrs[a].key.cmp(attrs[b].key));
        let mut winners: Vec<usize> = order
            .iter()
            .enumerate()
            .filter(|&(position, &i)| {
                order
                    .get(position + 1)
                    .is_none_or(|&next| attrs[next].key != attrs[i].key)
            })
            .map(|(_, &i)| i)
            .collect();
        winners.sort_unstable();
        let entries: Vec<(Box<str>, OwnedValue)> = winners
            .into_iter()
            .map(|i| {
                (
                    attrs[i].key.into(),
                    OwnedValue::from_borrowed(attrs[i].value),
                )
            })
            .collect();
        let sum = entries.iter().fold(0u64, |sum, (k, v)| {
            sum.wrapping_add(pair_hash(k, v.as_value()))
        });
        let hash = finish_set_hash(sum, entries.len());
        AttributeSet {
            entries: entries.into_boxed_slice(),
            hash,
        }
    }

    /// The same set under another hash, to test what happens when two sets share one.
    #[cfg(test)]
    pub(crate) fn with_hash(mut self, hash: u64) -> Self {
        self.hash = hash;
        self
    }

    /// The order-independent hash of the set.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The number of distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set has no attributes.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The attributes, in the order the set was first given them.
    pub fn iter(&self) -> impl Iterator<Item = KeyValue<'_>> {
        self.entries.iter().map(|(k, v)| KeyValue {
            key: k,
            value: v.as_value(),
        })
    }

    /// Whether borrowed attributes that [`Lookup`] found free of duplicate keys are this
    /// set, without allocating.
    pub fn matches(&self, lookup: &Lookup, attrs: &[KeyValue<'_>]) -> bool {
        debug_assert!(!lookup.has_duplicates);
        if lookup.hash != self.hash || attrs.len() != self.entries.len() {
            return false;
        }
        // Same length and no duplicate keys on either side: every borrowed attribute found
        // in the set means the two are equal.
        let same_order = attrs
            .iter()
            .zip(self.entries.iter())
            .take_while(|(attr, (key, _))| same_text(key, attr.key))
            .count();
        let (in_order, rest) = attrs.split_at(same_order);
        in_order
            .iter()
            .zip(self.entries.iter())
            .all(|(attr, (_, value))| same_value(value.as_value(), attr.value))
            // The keys of the first `same_order` entries are taken: search the others.
            && rest.iter().all(|attr| {
                self.entries[same_order..]
                    .iter()
                    .find(|(key, _)| same_text(key, attr.key))
                    .is_some_and(|(_, value)| same_value(value.as_value(), attr.value))
            })
    }
}

impl PartialEq for AttributeSet {
    /// The same attributes, in any order.
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.entries.len() == other.entries.len()
            && self.entries.iter().all(|(key, value)| {
                other
                    .entries
                    .iter()
                    .find(|(k, _)| k == key)
                    .is_some_and(|(_, v)| same_value(v.as_value(), value.as_value()))
            })
    }
}

impl Eq for AttributeSet {}

impl std::hash::Hash for AttributeSet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash)
    }
}

impl fmt::Debug for AttributeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// What recording computes from borrowed attributes before it looks for their series.
#[derive(Clone, Copy, Debug)]
pub struct Lookup {
    /// The set's hash (equal to [`AttributeSet::hash`] of the same set) when there are no
    /// duplicate keys; meaningless otherwise.
    pub hash: u64,
    /// Some key appears twice: the caller builds the owned set (which resolves them) and
    /// looks that up instead.
    pub has_duplicates: bool,
}

impl Lookup {
    /// Checks the keys and hashes `attrs`, order-independently, without allocating.
    pub fn new(attrs: &[KeyValue<'_>]) -> Result<Self> {
        // Up to this many attributes, duplicate keys are found by comparing key hashes
        // kept on the stack (the key text only when two hashes are equal); beyond it, by
        // comparing the keys themselves.
        const ON_STACK: usize = 32;
        let mut key_hashes = [0u64; ON_STACK];
        // One bit per key, chosen by its hash: a key whose bit is clear is not a duplicate,
        // so the earlier keys are searched only when the bit was already set.
        let mut seen = 0u128;
        let mut sum = 0u64;
        let mut has_duplicates = false;
        for (i, attr) in attrs.iter().enumerate() {
            if attr.key.is_empty() {
                return Err(empty_key(i));
            }
            if has_duplicates {
                // Only the remaining keys' check is still needed.
                continue;
            }
            let key_hash = hash_bytes(SEED, attr.key.as_bytes());
            let bit = 1u128 << (key_hash >> 57);
            has_duplicates = seen & bit != 0
                && if attrs.len() <= ON_STACK {
                    key_hashes[..i].iter().zip(attrs).any(|(&earlier, other)| {
                        earlier == key_hash && same_text(other.key, attr.key)
                    })
                } else {
                    attrs[..i]
                        .iter()
                        .any(|earlier| same_text(earlier.key, attr.key))
                };
            seen |= bit;
            if let Some(slot) = key_hashes.get_mut(i) {
                *slot = key_hash;
            }
            sum = sum.wrapping_add(pair_hash_of(key_hash, attr.value));
        }
        Ok(Lookup {
            hash: finish_set_hash(sum, attrs.len()),
            has_duplicates,
        })
    }
}

fn check_keys(attrs: &[KeyValue<'_>]) -> Result<()> {
    match attrs.iter().position(|a| a.key.is_empty()) {
        Some(i) => Err(empty_key(i)),
        None => Ok(()),
    }
}

fn empty_key(position: usize) -> Error {
    Error::invalid(format!("attribute {position} has an empty key"))
}

// The set hash is a wrapping sum of independent, well-mixed per-attribute hashes: addition
// commutes, so the order of the attributes does not matter and no sorting (or buffer) is
// needed to hash a borrowed slice.

const SEED: u64 = 0x243f_6a88_85a3_08d3;
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// MurmurHash3's finalizer: every input bit affects every output bit.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    // The length keeps "ab" + "" apart from "a" + "b", and makes the overlapping reads
    // below unambiguous.
    let mut state = seed ^ (bytes.len() as u64).wrapping_mul(MULTIPLIER);
    let mut rest = bytes;
    while rest.len() > 8 {
        let (word, tail) = rest.split_at(8);
        state = (state ^ read_u64(word))
            .wrapping_mul(MULTIPLIER)
            .rotate_left(29);
        rest = tail;
    }
    // The last 1 to 8 bytes: the text's final 8 when it has that many (overlapping what
    // came before), else every byte of it, with no copy through a buffer.
    let last = match bytes.len() {
        8.. => read_u64(&bytes[bytes.len() - 8..]),
        4..=7 => {
            let n = rest.len();
            u64::from(read_u32(&rest[..4])) | u64::from(read_u32(&rest[n - 4..])) << 32
        }
        1..=3 => {
            let n = rest.len();
            u64::from(rest[0]) | u64::from(rest[n / 2]) << 8 | u64::from(rest[n - 1]) << 16
        }
        0 => 0,
    };
    mix(state ^ last)
}

fn read_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))
}

fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().unwrap_or([0; 4]))
}

fn pair_hash(key: &str, value: Value<'_>) -> u64 {
    pair_hash_of(hash_bytes(SEED, key.as_bytes()), value)
}

/// The hash of one attribute, from its key's hash: each value type starts from the key's
/// hash with a tag of its own and ends in a full mix, so that sums of them stay spread.
fn pair_hash_of(key_hash: u64, value: Value<'_>) -> u64 {
    match value {
        Value::Str(s) => hash_bytes(key_hash ^ 1, s.as_bytes()),
        Value::Bool(b) => mix(key_hash ^ (2 | (b as u64) << 8)),
        Value::I64(i) => mix(key_hash ^ 3 ^ (i as u64).wrapping_mul(MULTIPLIER)),
        Value::F64(f) => mix(key_hash ^ 4 ^ f.to_bits().wrapping_mul(MULTIPLIER)),
    }
}

fn finish_set_hash(sum: u64, len: usize) -> u64 {
    mix(sum ^ (len as u64).wrapping_mul(MULTIPLIER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_matches(set: &AttributeSet, attrs: &[KeyValue<'_>]) -> bool {
        let lookup = Lookup::new(attrs).unwrap();
        assert!(!lookup.has_duplicates);
        set.matches(&lookup, attrs)
    }

    #[test]
    fn order_does_not_matter() {
        let a = [
            KeyValue::str("route", "/api"),
            KeyValue::i64("code", 200),
            KeyValue::bool("ok", true),
            KeyValue::f64("ratio", 0.5),
        ];
        let mut b = a;
        b.reverse();
        let sa = AttributeSet::new(&a).unwrap();
        let sb = AttributeSet::new(&b).unwrap();
        assert_eq!(sa, sb);
        assert_eq!(sa.hash(), sb.hash());
        assert_eq!(Lookup::new(&a).unwrap().hash, sa.hash());
        assert_eq!(Lookup::new(&b).unwrap().hash, sa.hash());
        assert!(lookup_matches(&sa, &b));
        // The first order given is kept; the other order still matches.
        let keys: Vec<&str> = sa.iter().map(|kv| kv.key).collect();
        assert_eq!(keys, ["route", "code", "ok", "ratio"]);
        assert!(lookup_matches(&sa, &a));
        // Partly the same order, then a difference.
        let c = [a[0], a[1], a[3], a[2]];
        assert!(lookup_matches(&sa, &c));
    }

    #[test]
    fn later_duplicate_wins() {
        let attrs = [
            KeyValue::str("a", "first"),
            KeyValue::i64("b", 1),
            KeyValue::str("a", "second"),
        ];
        let set = AttributeSet::new(&attrs).unwrap();
        assert_eq!(set.len(), 2);
        let kept: Vec<KeyValue<'_>> = set.iter().collect();
        assert_eq!(
            kept,
            [KeyValue::i64("b", 1), KeyValue::str("a", "second")],
            "{set:?}"
        );
        assert_eq!(
            set,
            AttributeSet::new(&[KeyValue::i64("b", 1), KeyValue::str("a", "second")]).unwrap()
        );
        assert!(Lookup::new(&attrs).unwrap().has_duplicates);
    }

    #[test]
    fn different_values_types_and_keys_are_different_sets() {
        let base = AttributeSet::new(&[KeyValue::i64("k", 1)]).unwrap();
        for other in [
            [KeyValue::i64("k", 2)],
            [KeyValue::f64("k", 1.0)],
            [KeyValue::str("k", "1")],
            [KeyValue::bool("k", true)],
            [KeyValue::i64("j", 1)],
        ] {
            let set = AttributeSet::new(&other).unwrap();
            assert_ne!(base, set, "{other:?}");
            assert_ne!(base.hash(), set.hash(), "{other:?}");
            assert!(!lookup_matches(&base, &other));
        }
        // Same text split differently between key and value.
        let x = AttributeSet::new(&[KeyValue::str("ab", "c")]).unwrap();
        let y = AttributeSet::new(&[KeyValue::str("a", "bc")]).unwrap();
        assert_ne!(x.hash(), y.hash());
        assert_ne!(x, y);
        // A subset is not the set.
        let two = [KeyValue::i64("k", 1), KeyValue::i64("m", 1)];
        assert!(!lookup_matches(&base, &two));
        assert!(!lookup_matches(
            &AttributeSet::new(&two).unwrap(),
            &[KeyValue::i64("k", 1)]
        ));
    }

    #[test]
    fn values_are_compared_in_and_out_of_order() {
        let set = AttributeSet::new(&[
            KeyValue::str("a", "1"),
            KeyValue::str("b", "2"),
            KeyValue::str("c", "3"),
        ])
        .unwrap();
        // A different value in the part that is in order, and in the part that is not.
        for attrs in [
            [
                KeyValue::str("a", "1"),
                KeyValue::str("b", "x"),
                KeyValue::str("c", "3"),
            ],
            [
                KeyValue::str("a", "1"),
                KeyValue::str("c", "3"),
                KeyValue::str("b", "x"),
            ],
            [
                KeyValue::str("c", "x"),
                KeyValue::str("a", "1"),
                KeyValue::str("b", "2"),
            ],
        ] {
            let lookup = Lookup {
                // As if the hashes collided: only the comparison can tell.
                hash: set.hash(),
                has_duplicates: false,
            };
            assert!(!set.matches(&lookup, &attrs), "{attrs:?}");
        }
    }

    #[test]
    fn many_attributes_duplicates_and_orders() {
        let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        let attrs: Vec<KeyValue<'_>> = keys.iter().map(|k| KeyValue::str(k, "v")).collect();
        let set = AttributeSet::new(&attrs).unwrap();
        let reversed: Vec<KeyValue<'_>> = attrs.iter().rev().copied().collect();
        assert!(lookup_matches(&set, &reversed));
        for len in [3, 33, 40] {
            let mut with_duplicate = attrs[..len].to_vec();
            with_duplicate.push(KeyValue::str(&keys[1], "later"));
            let lookup = Lookup::new(&with_duplicate).unwrap();
            assert!(lookup.has_duplicates, "{len}");
            assert_eq!(AttributeSet::new(&with_duplicate).unwrap().len(), len);
        }
        // The empty key after a duplicate is still found.
        let bad = [
            KeyValue::i64("a", 1),
            KeyValue::i64("a", 2),
            KeyValue::i64("", 3),
        ];
        assert!(Lookup::new(&bad).is_err());
    }

    #[test]
    fn empty_set_and_empty_slice_agree() {
        let empty = AttributeSet::empty();
        assert_eq!(empty, AttributeSet::new(&[]).unwrap());
        assert!(lookup_matches(&empty, &[]));
        assert!(empty.is_empty());
    }

    #[test]
    fn empty_key_is_an_error_naming_its_position() {
        let attrs = [KeyValue::str("a", "x"), KeyValue::str("", "secret")];
        let err = AttributeSet::new(&attrs).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::InvalidArgument);
        assert!(err.message().contains("attribute 1"), "{err}");
        assert!(!err.message().contains("secret"));
        assert!(Lookup::new(&attrs).is_err());
    }

    #[test]
    fn nan_values_name_one_series() {
        let a = AttributeSet::new(&[KeyValue::f64("x", f64::NAN)]).unwrap();
        let b = AttributeSet::new(&[KeyValue::f64("x", f64::NAN)]).unwrap();
        assert_eq!(a, b);
        assert!(lookup_matches(&a, &[KeyValue::f64("x", f64::NAN)]));
    }

    #[test]
    fn every_byte_and_the_length_count() {
        let mut seen = std::collections::HashSet::new();
        for len in 0..=20 {
            let base = vec![b'a'; len];
            assert!(seen.insert(hash_bytes(SEED, &base)), "length {len}");
            for position in 0..len {
                let mut changed = base.clone();
                changed[position] = b'b';
                assert!(
                    seen.insert(hash_bytes(SEED, &changed)),
                    "length {len}, byte {position}"
                );
            }
        }
    }

    #[test]
    fn text_equality_sees_every_byte() {
        for len in 0..=40 {
            let base: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            assert!(same_text(&base, &base.clone()), "length {len}");
            assert!(!same_text(&base, &format!("{base}x")), "length {len}");
            for position in 0..len {
                let mut changed = base.clone().into_bytes();
                changed[position] = b'#';
                let changed = String::from_utf8(changed).unwrap();
                assert!(!same_text(&base, &changed), "length {len}, byte {position}");
            }
        }
    }

    #[test]
    fn hashes_spread() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000i64 {
            let v = i.to_string();
            let set = AttributeSet::new(&[KeyValue::str("id", &v), KeyValue::i64("n", i)]).unwrap();
            assert!(seen.insert(set.hash()));
        }
    }
}
