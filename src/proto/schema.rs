//! The OTLP metrics schema (opentelemetry-proto's `.proto` files, as prost compiles them):
//! every message the library reads, with its fields' numbers, JSON names and types. The
//! wire-format validator and the OTLP/JSON transcoder both walk this one table.

/// A message of the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Msg {
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

/// A field's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Message(Msg),
    String,
    /// bytes; base64 in JSON.
    Bytes,
    /// bytes written as hex in OTLP/JSON (trace and span ids).
    HexBytes,
    Bool,
    Int32,
    Int64,
    UInt32,
    UInt64,
    SInt32,
    /// An enum with its value names.
    Enum(&'static [(&'static str, i32)]),
    Fixed64,
    SFixed64,
    Double,
}

/// How a field may repeat, and whether an explicit default is still written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Card {
    /// Proto3 implicit presence: the default value is not written.
    Single,
    /// `optional` or a message: written whenever set.
    Present,
    /// A member of the message's oneof (each message has at most one): written whenever
    /// set, and at most one member may be.
    OneOf,
    Repeated,
}

/// One field of a message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub number: u32,
    /// lowerCamelCase, as OTLP/JSON writes it.
    pub json: &'static str,
    /// The `.proto` name, which JSON readers also accept.
    pub proto: &'static str,
    pub kind: Kind,
    pub card: Card,
}

const AGGREGATION_TEMPORALITY: &[(&str, i32)] = &[
    ("AGGREGATION_TEMPORALITY_UNSPECIFIED", 0),
    ("AGGREGATION_TEMPORALITY_DELTA", 1),
    ("AGGREGATION_TEMPORALITY_CUMULATIVE", 2),
];

macro_rules! fields {
    ($($number:literal $json:literal $proto:literal $kind:expr, $card:ident;)*) => {
        &[$(Field { number: $number, json: $json, proto: $proto, kind: $kind, card: Card::$card }),*]
    };
}

impl Msg {
    pub(crate) fn name(self) -> &'static str {
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

    /// The message's fields, in field-number order (the order prost writes them).
    pub(crate) const fn fields(self) -> &'static [Field] {
        use Kind::*;
        use Msg as M;
        match self {
            M::ExportRequest => fields! {
                1 "resourceMetrics" "resource_metrics" Message(M::ResourceMetrics), Repeated;
            },
            M::ResourceMetrics => fields! {
                1 "resource" "resource" Message(M::Resource), Present;
                2 "scopeMetrics" "scope_metrics" Message(M::ScopeMetrics), Repeated;
                3 "schemaUrl" "schema_url" String, Single;
            },
            M::Resource => fields! {
                1 "attributes" "attributes" Message(M::KeyValue), Repeated;
                2 "droppedAttributesCount" "dropped_attributes_count" UInt32, Single;
                3 "entityRefs" "entity_refs" Message(M::EntityRef), Repeated;
            },
            M::EntityRef => fields! {
                1 "schemaUrl" "schema_url" String, Single;
                2 "type" "type" String, Single;
                3 "idKeys" "id_keys" String, Repeated;
                4 "descriptionKeys" "description_keys" String, Repeated;
            },
            M::ScopeMetrics => fields! {
                1 "scope" "scope" Message(M::Scope), Present;
                2 "metrics" "metrics" Message(M::Metric), Repeated;
                3 "schemaUrl" "schema_url" String, Single;
            },
            M::Scope => fields! {
                1 "name" "name" String, Single;
                2 "version" "version" String, Single;
                3 "attributes" "attributes" Message(M::KeyValue), Repeated;
                4 "droppedAttributesCount" "dropped_attributes_count" UInt32, Single;
            },
            M::Metric => fields! {
                1 "name" "name" String, Single;
                2 "description" "description" String, Single;
                3 "unit" "unit" String, Single;
                5 "gauge" "gauge" Message(M::Gauge), OneOf;
                7 "sum" "sum" Message(M::Sum), OneOf;
                9 "histogram" "histogram" Message(M::Histogram), OneOf;
                10 "exponentialHistogram" "exponential_histogram" Message(M::ExponentialHistogram), OneOf;
                11 "summary" "summary" Message(M::Summary), OneOf;
                12 "metadata" "metadata" Message(M::KeyValue), Repeated;
            },
            M::Gauge => fields! {
                1 "dataPoints" "data_points" Message(M::NumberDataPoint), Repeated;
            },
            M::Sum => fields! {
                1 "dataPoints" "data_points" Message(M::NumberDataPoint), Repeated;
                2 "aggregationTemporality" "aggregation_temporality" Enum(AGGREGATION_TEMPORALITY), Single;
                3 "isMonotonic" "is_monotonic" Bool, Single;
            },
            M::Histogram => fields! {
                1 "dataPoints" "data_points" Message(M::HistogramDataPoint), Repeated;
                2 "aggregationTemporality" "aggregation_temporality" Enum(AGGREGATION_TEMPORALITY), Single;
            },
            M::ExponentialHistogram => fields! {
                1 "dataPoints" "data_points" Message(M::ExponentialHistogramDataPoint), Repeated;
                2 "aggregationTemporality" "aggregation_temporality" Enum(AGGREGATION_TEMPORALITY), Single;
            },
            M::Summary => fields! {
                1 "dataPoints" "data_points" Message(M::SummaryDataPoint), Repeated;
            },
            M::NumberDataPoint => fields! {
                2 "startTimeUnixNano" "start_time_unix_nano" Fixed64, Single;
                3 "timeUnixNano" "time_unix_nano" Fixed64, Single;
                4 "asDouble" "as_double" Double, OneOf;
                5 "exemplars" "exemplars" Message(M::Exemplar), Repeated;
                6 "asInt" "as_int" SFixed64, OneOf;
                7 "attributes" "attributes" Message(M::KeyValue), Repeated;
                8 "flags" "flags" UInt32, Single;
            },
            M::HistogramDataPoint => fields! {
                2 "startTimeUnixNano" "start_time_unix_nano" Fixed64, Single;
                3 "timeUnixNano" "time_unix_nano" Fixed64, Single;
                4 "count" "count" Fixed64, Single;
                5 "sum" "sum" Double, Present;
                6 "bucketCounts" "bucket_counts" Fixed64, Repeated;
                7 "explicitBounds" "explicit_bounds" Double, Repeated;
                8 "exemplars" "exemplars" Message(M::Exemplar), Repeated;
                9 "attributes" "attributes" Message(M::KeyValue), Repeated;
                10 "flags" "flags" UInt32, Single;
                11 "min" "min" Double, Present;
                12 "max" "max" Double, Present;
            },
            M::ExponentialHistogramDataPoint => fields! {
                1 "attributes" "attributes" Message(M::KeyValue), Repeated;
                2 "startTimeUnixNano" "start_time_unix_nano" Fixed64, Single;
                3 "timeUnixNano" "time_unix_nano" Fixed64, Single;
                4 "count" "count" Fixed64, Single;
                5 "sum" "sum" Double, Present;
                6 "scale" "scale" SInt32, Single;
                7 "zeroCount" "zero_count" Fixed64, Single;
                8 "positive" "positive" Message(M::Buckets), Present;
                9 "negative" "negative" Message(M::Buckets), Present;
                10 "flags" "flags" UInt32, Single;
                11 "exemplars" "exemplars" Message(M::Exemplar), Repeated;
                12 "min" "min" Double, Present;
                13 "max" "max" Double, Present;
                14 "zeroThreshold" "zero_threshold" Double, Single;
            },
            M::Buckets => fields! {
                1 "offset" "offset" SInt32, Single;
                2 "bucketCounts" "bucket_counts" UInt64, Repeated;
            },
            M::SummaryDataPoint => fields! {
                2 "startTimeUnixNano" "start_time_unix_nano" Fixed64, Single;
                3 "timeUnixNano" "time_unix_nano" Fixed64, Single;
                4 "count" "count" Fixed64, Single;
                5 "sum" "sum" Double, Single;
                6 "quantileValues" "quantile_values" Message(M::ValueAtQuantile), Repeated;
                7 "attributes" "attributes" Message(M::KeyValue), Repeated;
                8 "flags" "flags" UInt32, Single;
            },
            M::ValueAtQuantile => fields! {
                1 "quantile" "quantile" Double, Single;
                2 "value" "value" Double, Single;
            },
            M::Exemplar => fields! {
                2 "timeUnixNano" "time_unix_nano" Fixed64, Single;
                3 "asDouble" "as_double" Double, OneOf;
                4 "spanId" "span_id" HexBytes, Single;
                5 "traceId" "trace_id" HexBytes, Single;
                6 "asInt" "as_int" SFixed64, OneOf;
                7 "filteredAttributes" "filtered_attributes" Message(M::KeyValue), Repeated;
            },
            M::KeyValue => fields! {
                1 "key" "key" String, Single;
                2 "value" "value" Message(M::AnyValue), Present;
                3 "keyStrindex" "key_strindex" Int32, Single;
            },
            M::AnyValue => fields! {
                1 "stringValue" "string_value" String, OneOf;
                2 "boolValue" "bool_value" Bool, OneOf;
                3 "intValue" "int_value" Int64, OneOf;
                4 "doubleValue" "double_value" Double, OneOf;
                5 "arrayValue" "array_value" Message(M::ArrayValue), OneOf;
                6 "kvlistValue" "kvlist_value" Message(M::KeyValueList), OneOf;
                7 "bytesValue" "bytes_value" Bytes, OneOf;
                8 "stringValueStrindex" "string_value_strindex" Int32, OneOf;
            },
            M::ArrayValue => fields! {
                1 "values" "values" Message(M::AnyValue), Repeated;
            },
            M::KeyValueList => fields! {
                1 "values" "values" Message(M::KeyValue), Repeated;
            },
        }
    }

    /// The field numbered `number`, if the schema has it (a table lookup: this is on the
    /// validator's hot path).
    #[inline]
    pub(crate) fn field(self, number: u32) -> Option<&'static Field> {
        let slot = *FIELD_INDEX[self as usize].get(number as usize)?;
        (slot != 0).then(|| &self.fields()[usize::from(slot) - 1])
    }

    /// Every message, in declaration order.
    pub(crate) const ALL: [Msg; MSG_COUNT] = [
        Msg::ExportRequest,
        Msg::ResourceMetrics,
        Msg::Resource,
        Msg::EntityRef,
        Msg::ScopeMetrics,
        Msg::Scope,
        Msg::Metric,
        Msg::Gauge,
        Msg::Sum,
        Msg::Histogram,
        Msg::ExponentialHistogram,
        Msg::Summary,
        Msg::NumberDataPoint,
        Msg::HistogramDataPoint,
        Msg::ExponentialHistogramDataPoint,
        Msg::Buckets,
        Msg::SummaryDataPoint,
        Msg::ValueAtQuantile,
        Msg::Exemplar,
        Msg::KeyValue,
        Msg::AnyValue,
        Msg::ArrayValue,
        Msg::KeyValueList,
    ];
}

const MSG_COUNT: usize = 23;
/// Every field number in the schema is below this (so a known field's key is one byte).
pub(crate) const MAX_FIELD: usize = 16;

/// For each message and field number, 1 + the field's index in `fields()`, or 0.
static FIELD_INDEX: [[u8; MAX_FIELD]; MSG_COUNT] = {
    let mut table = [[0u8; MAX_FIELD]; MSG_COUNT];
    let mut m = 0;
    while m < MSG_COUNT {
        let fields = Msg::ALL[m].fields();
        let mut i = 0;
        while i < fields.len() {
            let number = fields[i].number as usize;
            assert!(number < MAX_FIELD, "field number too large for the table");
            table[m][number] = (i + 1) as u8;
            i += 1;
        }
        m += 1;
    }
    table
};

/// The protobuf wire types.
pub(crate) mod wire {
    pub(crate) const VARINT: u8 = 0;
    pub(crate) const FIXED64: u8 = 1;
    pub(crate) const LEN: u8 = 2;
    pub(crate) const START_GROUP: u8 = 3;
    pub(crate) const END_GROUP: u8 = 4;
    pub(crate) const FIXED32: u8 = 5;
}

impl Kind {
    /// The wire type of one value of this kind.
    pub(crate) fn wire_type(self) -> u8 {
        match self {
            Kind::Message(_) | Kind::String | Kind::Bytes | Kind::HexBytes => wire::LEN,
            Kind::Fixed64 | Kind::SFixed64 | Kind::Double => wire::FIXED64,
            _ => wire::VARINT,
        }
    }

    /// Whether a repeated field of this kind may come packed.
    pub(crate) fn packable(self) -> bool {
        !matches!(self.wire_type(), wire::LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_in_number_order_and_names_are_consistent() {
        for (i, msg) in Msg::ALL.into_iter().enumerate() {
            assert_eq!(msg as usize, i, "Msg::ALL is in declaration order");
            let fields = msg.fields();
            assert!(
                fields.windows(2).all(|w| w[0].number < w[1].number),
                "{msg:?}"
            );
            for f in fields {
                let camel: String = f
                    .proto
                    .split('_')
                    .enumerate()
                    .map(|(i, part)| {
                        if i == 0 {
                            part.to_string()
                        } else {
                            let mut c = part.chars();
                            c.next()
                                .map(|h| h.to_ascii_uppercase().to_string() + c.as_str())
                                .unwrap_or_default()
                        }
                    })
                    .collect();
                assert_eq!(camel, f.json, "{msg:?}.{}", f.proto);
            }
        }
    }
}
