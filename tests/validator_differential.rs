//! The wire-format validator accepts exactly what prost accepts: valid messages, mutated
//! ones, random bytes and crafted edge cases (groups, packed fields, deep nesting). A
//! `ResourceMetrics` is accepted when prost accepts the request it is sent in
//! (`validate::wrap_resource_metrics`), which nests it one level deeper.

mod support;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use otlpmetric::internals::validate;
use prost::Message;

fn agree(bytes: &[u8]) {
    let wrapped = validate::wrap_resource_metrics(bytes);
    let prost_rm = ExportMetricsServiceRequest::decode(wrapped.as_ref()).is_ok();
    let ours_rm = validate::resource_metrics(bytes);
    assert_eq!(
        ours_rm.is_ok(),
        prost_rm,
        "ResourceMetrics {bytes:02x?}: ours {ours_rm:?}"
    );
    let prost_req = ExportMetricsServiceRequest::decode(bytes).is_ok();
    let ours_req = validate::export_request(bytes);
    assert_eq!(
        ours_req.is_ok(),
        prost_req,
        "request {bytes:02x?}: ours {ours_req:?}"
    );
}

fn mutate(rng: &mut fastrand::Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.usize(1..4) {
        if out.is_empty() {
            out.push(rng.u8(..));
            continue;
        }
        let at = rng.usize(..out.len());
        match rng.u8(..7) {
            0 => out[at] ^= 1 << rng.u8(..8),
            1 => out[at] = rng.u8(..),
            2 => out.insert(at, rng.u8(..)),
            3 => {
                let end = (at + rng.usize(1..8)).min(out.len());
                out.drain(at..end);
            }
            4 => out.truncate(at),
            5 => {
                // an interesting byte: varint continuation, group or bad wire types
                out[at] = *rng
                    .choice(&[0x80, 0xff, 0x0b, 0x0c, 0x0e, 0x0f, 0x01, 0x00])
                    .unwrap();
            }
            _ => {
                let end = (at + rng.usize(1..16)).min(out.len());
                let copy = out[at..end].to_vec();
                let to = rng.usize(..=out.len());
                out.splice(to..to, copy);
            }
        }
    }
    out
}

#[test]
fn valid_messages_are_accepted_by_both() {
    for points in [0, 1, 3, 50, 400] {
        let rm = support::sample_resource_metrics(points).encode_to_vec();
        assert!(validate::resource_metrics(&rm).is_ok());
        agree(&rm);
        agree(&support::sample_request(points).encode_to_vec());
    }
}

#[test]
fn mutated_messages_get_the_same_verdict() {
    let seeds: Vec<Vec<u8>> = [1, 7, 40]
        .iter()
        .flat_map(|&n| {
            [
                support::sample_resource_metrics(n).encode_to_vec(),
                support::sample_request(n).encode_to_vec(),
            ]
        })
        .collect();
    let mut rng = fastrand::Rng::with_seed(0x07e1);
    for _ in 0..60_000 {
        let seed = rng.choice(&seeds).unwrap();
        agree(&mutate(&mut rng, seed));
    }
}

#[test]
fn random_bytes_get_the_same_verdict() {
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..50_000 {
        let len = rng.usize(..24);
        let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        agree(&bytes);
    }
}

#[test]
fn crafted_edge_cases_get_the_same_verdict() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x00],                   // field number 0
        vec![0x0e],                   // wire type 6
        vec![0x0f],                   // wire type 7
        vec![0x7b, 0x7c],             // group 15, closed
        vec![0x7b, 0x08, 0x01, 0x7c], // group 15 holding a varint
        vec![0x7b, 0x84, 0x01],       // group closed by the wrong number
        vec![0x7c],                   // end group alone
        vec![0x7b],                   // unterminated group
        vec![0x1b, 0x1c],             // group where a string is expected
        vec![
            0x78, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ], // 10-byte varint
        vec![
            0x78, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
        ], // overflow
        vec![
            0x78, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ],
        vec![0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00], // largest field number
        vec![0xf8, 0xff, 0xff, 0xff, 0x1f, 0x00], // key over 32 bits
        vec![0x1a, 0x00],                         // empty schema_url
        vec![0x1a, 0x01, 0x80],                   // not UTF-8
        vec![0x18, 0x01],                         // string field sent as varint
    ];
    for case in &cases {
        agree(case);
    }
}

/// `depth` nested ArrayValues inside one attribute of the resource; the innermost
/// AnyValue holds `innermost` (its fields).
fn nested_any_value(depth: usize, innermost: &[u8]) -> Vec<u8> {
    // AnyValue { array_value (5): ArrayValue { values (1): AnyValue ... } }
    let mut any = innermost.to_vec();
    for _ in 0..depth {
        let mut array = vec![0x0a];
        prost::encoding::encode_varint(any.len() as u64, &mut array);
        array.extend_from_slice(&any);
        any = vec![0x2a];
        prost::encoding::encode_varint(array.len() as u64, &mut any);
        any.extend_from_slice(&array);
    }
    let mut kv = vec![0x0a, 0x01, b'k', 0x12];
    prost::encoding::encode_varint(any.len() as u64, &mut kv);
    kv.extend_from_slice(&any);
    let mut resource = vec![0x0a];
    prost::encoding::encode_varint(kv.len() as u64, &mut resource);
    resource.extend_from_slice(&kv);
    let mut rm = vec![0x0a];
    prost::encoding::encode_varint(resource.len() as u64, &mut rm);
    rm.extend_from_slice(&resource);
    rm
}

/// AnyValue.bool_value = true: needs no recursion budget.
const BOOL: &[u8] = &[0x10, 0x01];
/// An unknown varint field (15): prost skips it only with recursion budget left, so it
/// takes one level more than `BOOL`.
const UNKNOWN: &[u8] = &[0x78, 0x01];
/// An unknown group (15) holding a varint: one level more again for its content.
const GROUP: &[u8] = &[0x7b, 0x08, 0x01, 0x7c];

#[test]
fn the_recursion_limit_is_prosts() {
    // In the request (ExportMetricsServiceRequest > ResourceMetrics > Resource > KeyValue
    // > AnyValue, then ArrayValue > AnyValue per level) the innermost AnyValue has
    // 100 - 4 - 2 * depth levels of budget left when entered; its unknown fields need
    // one more.
    for depth in 40..52 {
        for (innermost, last_ok) in [(BOOL, 48), (UNKNOWN, 47), (GROUP, 47)] {
            let rm = nested_any_value(depth, innermost);
            assert_eq!(
                validate::resource_metrics(&rm).is_ok(),
                depth <= last_ok,
                "{depth} {innermost:02x?}"
            );
            agree(&rm);
            // A request holding it is also checked against prost, one level up.
            agree(&validate::wrap_resource_metrics(&rm));
            // An unknown group at the top level (needs 2 levels there) changes nothing.
            let mut with_group = rm.clone();
            with_group.extend_from_slice(GROUP);
            agree(&with_group);
        }
    }
    assert!(validate::resource_metrics(&nested_any_value(10, BOOL)).is_ok());
    assert!(validate::resource_metrics(&nested_any_value(60, BOOL)).is_err());
}

/// What `upload` sends is what it validated: a `ResourceMetrics` nested exactly to prost's
/// limit when decoded alone is one level too deep once wrapped, so it is refused (the
/// fuzz corpus's rm_nested_at_limit.pb).
#[test]
fn a_resource_metrics_at_the_limit_alone_is_refused() {
    use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
    let rm = nested_any_value(48, UNKNOWN);
    assert!(ResourceMetrics::decode(rm.as_slice()).is_ok());
    let wrapped = validate::wrap_resource_metrics(&rm);
    assert!(ExportMetricsServiceRequest::decode(wrapped.as_ref()).is_err());
    assert!(validate::resource_metrics(&rm).is_err());
    assert!(validate::export_request(&wrapped).is_err());
    let seed = include_bytes!("../fuzz/corpus/validate_differential/rm_nested_at_limit.pb");
    assert!(ResourceMetrics::decode(&seed[..]).is_ok());
    assert!(validate::resource_metrics(seed).is_err());
    // What `upload` and `enqueue` call: refused before anything is sent.
    assert!(validate::checked_resource_metrics_request(seed).is_err());
    agree(seed);
}

#[test]
fn packed_and_unpacked_repeated_scalars() {
    // HistogramDataPoint.bucket_counts (6, fixed64) and explicit_bounds (7, double)
    // inside Metric.histogram inside ScopeMetrics inside ResourceMetrics.
    let wrap = |point: Vec<u8>| {
        let field = |number: u8, body: &[u8]| {
            let mut out = vec![(number << 3) | 2];
            prost::encoding::encode_varint(body.len() as u64, &mut out);
            out.extend_from_slice(body);
            out
        };
        let histogram = field(1, &point);
        let metric = field(9, &histogram);
        let scope = field(2, &metric);
        field(2, &scope)
    };
    let mut cases = vec![
        vec![0x32, 0x08, 1, 0, 0, 0, 0, 0, 0, 0], // packed, one value
        vec![0x32, 0x07, 1, 0, 0, 0, 0, 0, 0],    // packed, 7 bytes
        vec![0x31, 1, 0, 0, 0, 0, 0, 0, 0],       // unpacked
        vec![0x30, 0x01],                         // varint for a fixed64 field
        vec![0x3a, 0x00],                         // empty packed
        vec![0x11, 1, 2, 3, 4, 5, 6, 7, 8],       // start_time_unix_nano
        vec![0x10, 0x01],                         // start time as varint
    ];
    // ExponentialHistogramDataPoint.positive.bucket_counts: packed varints.
    for body in [
        vec![0x12, 0x02, 0x01, 0x02],
        vec![0x12, 0x02, 0x01, 0x80],
        vec![0x10, 0x05],
    ] {
        let mut buckets = vec![0x42];
        prost::encoding::encode_varint(body.len() as u64, &mut buckets);
        buckets.extend_from_slice(&body);
        cases.push(buckets);
    }
    for case in cases {
        agree(&wrap(case));
    }
}

/// Attributes (KeyValue) have a fast path in the validator for their usual shape: every
/// byte of a few attributes set to every value, in a resource and in a data point.
#[test]
fn attribute_bytes_get_the_same_verdict() {
    let field = |number: u8, body: &[u8]| {
        let mut out = vec![(number << 3) | 2];
        prost::encoding::encode_varint(body.len() as u64, &mut out);
        out.extend_from_slice(body);
        out
    };
    let in_resource = |kv: &[u8]| field(1, &field(1, kv));
    let in_point = |kv: &[u8]| {
        // ResourceMetrics > ScopeMetrics > Metric > Gauge > NumberDataPoint.attributes
        let point = [&[0x21, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f][..], &field(7, kv)].concat();
        field(2, &field(2, &field(5, &field(1, &point))))
    };
    let string_kv = |key: &[u8], value: &[u8]| {
        field(1, key)
            .into_iter()
            .chain(field(2, &field(1, value)))
            .collect::<Vec<u8>>()
    };
    let long = vec![b'x'; 130]; // a two-byte length
    let kvs = [
        string_kv(b"key", b"val"),
        string_kv(b"", b""),
        string_kv(b"k\xc3\xa9", b"v\xe2\x82\xac"),
        string_kv(&long, b"v"),
        string_kv(b"k", &long),
        [&field(1, b"k")[..], &field(2, &[0x18, 0x96, 0x01])].concat(), // int value
        [&field(1, b"k")[..], &field(2, &[0x10, 0x01])].concat(),       // bool value
        [
            &field(1, b"k")[..],
            &field(2, &[0x21, 1, 2, 3, 4, 5, 6, 7, 8]),
        ]
        .concat(),
        [&field(2, &field(1, b"v"))[..], &field(1, b"k")].concat(), // value first
        [&string_kv(b"k", b"v")[..], &[0x18, 0x01]].concat(),       // key_strindex after
    ];
    for kv in &kvs {
        for at in 0..kv.len() {
            for byte in 0..=255u8 {
                let mut kv = kv.clone();
                kv[at] = byte;
                agree(&in_resource(&kv));
                agree(&in_point(&kv));
            }
        }
        for end in 0..kv.len() {
            agree(&in_resource(&kv[..end]));
            agree(&in_point(&kv[..end]));
        }
    }
}

/// Data points have a fast path in the validator for the fields they usually hold: every
/// byte of a NumberDataPoint and of a HistogramDataPoint with each of those fields set to
/// every value, and every truncation.
#[test]
fn data_point_bytes_get_the_same_verdict() {
    let field = |key: u8, body: &[u8]| {
        let mut out = vec![key];
        prost::encoding::encode_varint(body.len() as u64, &mut out);
        out.extend_from_slice(body);
        out
    };
    let fixed = |key: u8| [&[key][..], &1.5f64.to_le_bytes()].concat();
    let string_kv = [&field(0x0a, b"k")[..], &field(0x12, &field(0x0a, b"v"))].concat();
    let int_kv = [&field(0x0a, b"n")[..], &field(0x12, &[0x18, 0x2a])].concat();
    // ResourceMetrics > ScopeMetrics > Metric > (Gauge | Histogram) > data point.
    let in_metric = |metric_field: u8, point: &[u8]| {
        field(
            0x12,
            &field(0x12, &field(metric_field, &field(0x0a, point))),
        )
    };
    let number_point = [
        fixed(0x11),
        fixed(0x19),
        fixed(0x31),
        field(0x3a, &string_kv),
        field(0x3a, &int_kv),
        vec![0x40, 0x01],
    ]
    .concat();
    let histogram_point = [
        fixed(0x11),
        fixed(0x19),
        fixed(0x21),
        fixed(0x29),
        field(0x32, &[7; 16]),
        field(0x3a, &[9; 8]),
        field(0x4a, &string_kv),
        vec![0x50, 0x01],
        fixed(0x59),
        fixed(0x61),
    ]
    .concat();
    for (metric_field, point) in [(0x2a, number_point), (0x4a, histogram_point)] {
        agree(&in_metric(metric_field, &point));
        for at in 0..point.len() {
            for byte in 0..=255u8 {
                let mut point = point.clone();
                point[at] = byte;
                agree(&in_metric(metric_field, &point));
            }
        }
        for end in 0..point.len() {
            agree(&in_metric(metric_field, &point[..end]));
        }
    }
}
