/*
 * pb.h - a tiny header-only protobuf *writer* in C99, just enough to build OTLP
 * metrics messages by hand in the C tests (no protobuf library needed).
 *
 *   pb_buf b = PB_BUF_INIT;
 *   ... append fields ...
 *   if (b.failed) { out of memory }
 *   use b.data / b.len, then pb_buf_free(&b);
 *
 * Nested (length-delimited) messages are written in place:
 *
 *   size_t m = pb_begin(&b, FIELD);   -- tag now, length later
 *   ... the nested message's fields ...
 *   pb_end(&b, m);                    -- inserts the length varint
 *
 * Field numbers below are those of the official opentelemetry-proto files
 * (opentelemetry/proto/common/v1/common.proto, resource/v1/resource.proto,
 * metrics/v1/metrics.proto, collector/metrics/v1/metrics_service.proto), checked
 * by decoding this writer's output with the `opentelemetry-proto` Python package.
 *
 * Canonical bytes. The library decodes what it is given and encodes it again
 * (prost). To let a test predict the exact bytes the receiver gets, the otlp_*
 * helpers below write what prost writes for the same message:
 *   - fields in ascending field-number order (prost sorts fields by tag; a oneof
 *     sits at its smallest tag, e.g. NumberDataPoint.as_int(6) before exemplars(5),
 *     which these helpers never write);
 *   - proto3 scalars and strings with their default value (0, "", false) omitted,
 *     except oneof members (AnyValue.*, NumberDataPoint.as_*) and `optional`
 *     fields (HistogramDataPoint sum/min/max), which are written when set;
 *   - repeated numeric fields packed (proto3 default), omitted when empty;
 *   - sub-messages (resource, scope, AnyValue, sum/gauge/histogram) written when
 *     present, even when empty.
 * Bytes that follow other rules still decode fine; they just may not come back
 * byte for byte.
 *
 * Everything is `static inline` so that unused helpers raise no warnings.
 */
#ifndef OTLPMETRIC_TESTS_PB_H
#define OTLPMETRIC_TESTS_PB_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Wire format
 * ------------------------------------------------------------------------- */

enum {
    PB_WT_VARINT = 0, /* int32, int64, uint32, uint64, bool, enum */
    PB_WT_I64 = 1,    /* fixed64, sfixed64, double */
    PB_WT_LEN = 2,    /* string, bytes, messages, packed repeated */
    PB_WT_I32 = 5     /* fixed32, sfixed32, float */
};

/* A growable byte buffer. `failed` becomes 1 on allocation failure; every later
   write is then ignored, so callers check it once at the end. */
typedef struct pb_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int failed;
} pb_buf;

#define PB_BUF_INIT {NULL, 0, 0, 0}

static inline void pb_buf_free(pb_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

/* Make room for `extra` more bytes. Returns 1 on success. */
static inline int pb_reserve(pb_buf *b, size_t extra) {
    size_t need, cap;
    uint8_t *p;
    if (b->failed) return 0;
    if (extra > (size_t)-1 - b->len) { b->failed = 1; return 0; }
    need = b->len + extra;
    if (need <= b->cap) return 1;
    cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > (size_t)-1 / 2) { cap = need; break; }
        cap *= 2;
    }
    p = (uint8_t *)realloc(b->data, cap);
    if (!p) { b->failed = 1; return 0; }
    b->data = p;
    b->cap = cap;
    return 1;
}

static inline void pb_put_raw(pb_buf *b, const void *bytes, size_t n) {
    if (n == 0 || !pb_reserve(b, n)) return;
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
}

/* Number of bytes the varint encoding of v takes (1..10). */
static inline size_t pb_varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

/* Base-128 varint, least significant group first. Negative int32/int64 values
   are sign-extended to 64 bits by the caller's cast (10 bytes), as protobuf does. */
static inline void pb_put_varint(pb_buf *b, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) { tmp[n++] = (uint8_t)(v | 0x80); v >>= 7; }
    tmp[n++] = (uint8_t)v;
    pb_put_raw(b, tmp, n);
}

/* Little-endian 8 bytes (fixed64, sfixed64). */
static inline void pb_put_fixed64_raw(pb_buf *b, uint64_t v) {
    uint8_t tmp[8];
    int i;
    for (i = 0; i < 8; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    pb_put_raw(b, tmp, 8);
}

/* IEEE 754 binary64, little-endian (same bits as fixed64). */
static inline void pb_put_double_raw(pb_buf *b, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    pb_put_fixed64_raw(b, bits);
}

static inline void pb_put_tag(pb_buf *b, uint32_t field, unsigned wire_type) {
    pb_put_varint(b, ((uint64_t)field << 3) | (wire_type & 7u));
}

/* --- one field each (always written, whatever the value) ------------------- */

static inline void pb_field_varint(pb_buf *b, uint32_t field, uint64_t v) {
    pb_put_tag(b, field, PB_WT_VARINT);
    pb_put_varint(b, v);
}

static inline void pb_field_fixed64(pb_buf *b, uint32_t field, uint64_t v) {
    pb_put_tag(b, field, PB_WT_I64);
    pb_put_fixed64_raw(b, v);
}

static inline void pb_field_sfixed64(pb_buf *b, uint32_t field, int64_t v) {
    pb_put_tag(b, field, PB_WT_I64);
    pb_put_fixed64_raw(b, (uint64_t)v);
}

static inline void pb_field_double(pb_buf *b, uint32_t field, double d) {
    pb_put_tag(b, field, PB_WT_I64);
    pb_put_double_raw(b, d);
}

static inline void pb_field_bytes(pb_buf *b, uint32_t field, const void *bytes, size_t n) {
    pb_put_tag(b, field, PB_WT_LEN);
    pb_put_varint(b, (uint64_t)n);
    pb_put_raw(b, bytes, n);
}

static inline void pb_field_string(pb_buf *b, uint32_t field, const char *s) {
    pb_field_bytes(b, field, s, strlen(s));
}

/* Packed repeated fixed64 / double: one LEN field holding n * 8 bytes. */
static inline void pb_field_packed_fixed64(pb_buf *b, uint32_t field, const uint64_t *v, size_t n) {
    size_t i;
    pb_put_tag(b, field, PB_WT_LEN);
    pb_put_varint(b, (uint64_t)n * 8u);
    for (i = 0; i < n; i++) pb_put_fixed64_raw(b, v[i]);
}

static inline void pb_field_packed_double(pb_buf *b, uint32_t field, const double *v, size_t n) {
    size_t i;
    pb_put_tag(b, field, PB_WT_LEN);
    pb_put_varint(b, (uint64_t)n * 8u);
    for (i = 0; i < n; i++) pb_put_double_raw(b, v[i]);
}

/* --- nested messages -------------------------------------------------------- */

/* Starts a length-delimited sub-message in field `field`; returns a mark for pb_end. */
static inline size_t pb_begin(pb_buf *b, uint32_t field) {
    pb_put_tag(b, field, PB_WT_LEN);
    return b->len;
}

/* Closes the sub-message started at `mark`: inserts its length varint before it. */
static inline void pb_end(pb_buf *b, size_t mark) {
    size_t body, lsize, i;
    uint64_t v;
    if (b->failed || mark > b->len) { b->failed = 1; return; }
    body = b->len - mark;
    lsize = pb_varint_size((uint64_t)body);
    if (!pb_reserve(b, lsize)) return;
    memmove(b->data + mark + lsize, b->data + mark, body);
    v = (uint64_t)body;
    for (i = 0; i < lsize; i++) {
        b->data[mark + i] = (uint8_t)((v & 0x7f) | (i + 1 < lsize ? 0x80 : 0));
        v >>= 7;
    }
    b->len += lsize;
}

/* ---------------------------------------------------------------------------
 * OTLP field numbers
 * ------------------------------------------------------------------------- */

/* opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest */
#define OTLP_EXPORT_REQUEST_RESOURCE_METRICS 1 /* repeated ResourceMetrics */

/* opentelemetry.proto.metrics.v1.ResourceMetrics */
#define OTLP_RESOURCE_METRICS_RESOURCE 1      /* Resource */
#define OTLP_RESOURCE_METRICS_SCOPE_METRICS 2 /* repeated ScopeMetrics */
#define OTLP_RESOURCE_METRICS_SCHEMA_URL 3    /* string */

/* opentelemetry.proto.resource.v1.Resource */
#define OTLP_RESOURCE_ATTRIBUTES 1               /* repeated KeyValue */
#define OTLP_RESOURCE_DROPPED_ATTRIBUTES_COUNT 2 /* uint32 */

/* opentelemetry.proto.metrics.v1.ScopeMetrics */
#define OTLP_SCOPE_METRICS_SCOPE 1      /* InstrumentationScope */
#define OTLP_SCOPE_METRICS_METRICS 2    /* repeated Metric */
#define OTLP_SCOPE_METRICS_SCHEMA_URL 3 /* string */

/* opentelemetry.proto.common.v1.InstrumentationScope */
#define OTLP_SCOPE_NAME 1                     /* string */
#define OTLP_SCOPE_VERSION 2                  /* string */
#define OTLP_SCOPE_ATTRIBUTES 3               /* repeated KeyValue */
#define OTLP_SCOPE_DROPPED_ATTRIBUTES_COUNT 4 /* uint32 */

/* opentelemetry.proto.common.v1.KeyValue */
#define OTLP_KEY_VALUE_KEY 1   /* string */
#define OTLP_KEY_VALUE_VALUE 2 /* AnyValue */

/* opentelemetry.proto.common.v1.AnyValue (oneof value) */
#define OTLP_ANY_VALUE_STRING 1 /* string */
#define OTLP_ANY_VALUE_BOOL 2   /* bool */
#define OTLP_ANY_VALUE_INT 3    /* int64 (varint) */
#define OTLP_ANY_VALUE_DOUBLE 4 /* double */
#define OTLP_ANY_VALUE_ARRAY 5  /* ArrayValue */
#define OTLP_ANY_VALUE_KVLIST 6 /* KeyValueList */
#define OTLP_ANY_VALUE_BYTES 7  /* bytes */

/* opentelemetry.proto.metrics.v1.Metric (oneof data: 5, 7, 9, 10, 11) */
#define OTLP_METRIC_NAME 1                  /* string */
#define OTLP_METRIC_DESCRIPTION 2           /* string */
#define OTLP_METRIC_UNIT 3                  /* string */
#define OTLP_METRIC_GAUGE 5                 /* Gauge */
#define OTLP_METRIC_SUM 7                   /* Sum */
#define OTLP_METRIC_HISTOGRAM 9             /* Histogram */
#define OTLP_METRIC_EXPONENTIAL_HISTOGRAM 10 /* ExponentialHistogram */
#define OTLP_METRIC_SUMMARY 11              /* Summary */
#define OTLP_METRIC_METADATA 12             /* repeated KeyValue */

/* opentelemetry.proto.metrics.v1.Gauge */
#define OTLP_GAUGE_DATA_POINTS 1 /* repeated NumberDataPoint */

/* opentelemetry.proto.metrics.v1.Sum */
#define OTLP_SUM_DATA_POINTS 1             /* repeated NumberDataPoint */
#define OTLP_SUM_AGGREGATION_TEMPORALITY 2 /* AggregationTemporality (enum) */
#define OTLP_SUM_IS_MONOTONIC 3            /* bool */

/* opentelemetry.proto.metrics.v1.Histogram */
#define OTLP_HISTOGRAM_DATA_POINTS 1             /* repeated HistogramDataPoint */
#define OTLP_HISTOGRAM_AGGREGATION_TEMPORALITY 2 /* AggregationTemporality (enum) */

/* opentelemetry.proto.metrics.v1.AggregationTemporality */
#define OTLP_TEMPORALITY_UNSPECIFIED 0
#define OTLP_TEMPORALITY_DELTA 1
#define OTLP_TEMPORALITY_CUMULATIVE 2

/* opentelemetry.proto.metrics.v1.NumberDataPoint (oneof value: 4, 6) */
#define OTLP_NUMBER_POINT_START_TIME 2 /* fixed64 start_time_unix_nano */
#define OTLP_NUMBER_POINT_TIME 3       /* fixed64 time_unix_nano */
#define OTLP_NUMBER_POINT_AS_DOUBLE 4  /* double */
#define OTLP_NUMBER_POINT_EXEMPLARS 5  /* repeated Exemplar */
#define OTLP_NUMBER_POINT_AS_INT 6     /* sfixed64 */
#define OTLP_NUMBER_POINT_ATTRIBUTES 7 /* repeated KeyValue */
#define OTLP_NUMBER_POINT_FLAGS 8      /* uint32 */

/* opentelemetry.proto.metrics.v1.HistogramDataPoint */
#define OTLP_HISTOGRAM_POINT_START_TIME 2      /* fixed64 start_time_unix_nano */
#define OTLP_HISTOGRAM_POINT_TIME 3            /* fixed64 time_unix_nano */
#define OTLP_HISTOGRAM_POINT_COUNT 4           /* fixed64 */
#define OTLP_HISTOGRAM_POINT_SUM 5             /* optional double */
#define OTLP_HISTOGRAM_POINT_BUCKET_COUNTS 6   /* repeated fixed64 (packed) */
#define OTLP_HISTOGRAM_POINT_EXPLICIT_BOUNDS 7 /* repeated double (packed) */
#define OTLP_HISTOGRAM_POINT_EXEMPLARS 8       /* repeated Exemplar */
#define OTLP_HISTOGRAM_POINT_ATTRIBUTES 9      /* repeated KeyValue */
#define OTLP_HISTOGRAM_POINT_FLAGS 10          /* uint32 */
#define OTLP_HISTOGRAM_POINT_MIN 11            /* optional double */
#define OTLP_HISTOGRAM_POINT_MAX 12            /* optional double */

/* ---------------------------------------------------------------------------
 * OTLP helpers (canonical, see the top of this file)
 * ------------------------------------------------------------------------- */

/* Skips proto3 defaults, as prost does for plain (non-optional, non-oneof) fields. */
static inline void otlp_opt_string(pb_buf *b, uint32_t field, const char *s) {
    if (s && *s) pb_field_string(b, field, s);
}
static inline void otlp_opt_fixed64(pb_buf *b, uint32_t field, uint64_t v) {
    if (v) pb_field_fixed64(b, field, v);
}
static inline void otlp_opt_varint(pb_buf *b, uint32_t field, uint64_t v) {
    if (v) pb_field_varint(b, field, v);
}

/* An attribute: a KeyValue whose AnyValue holds a string, an int, a double or a bool. */
typedef enum { OTLP_ATTR_STRING, OTLP_ATTR_INT, OTLP_ATTR_DOUBLE, OTLP_ATTR_BOOL } otlp_attr_type;
typedef struct otlp_attr {
    const char *key;
    otlp_attr_type type;
    const char *s; /* OTLP_ATTR_STRING */
    int64_t i;     /* OTLP_ATTR_INT, OTLP_ATTR_BOOL (0 or 1) */
    double d;      /* OTLP_ATTR_DOUBLE */
} otlp_attr;

/* One KeyValue in repeated field `field` (e.g. OTLP_RESOURCE_ATTRIBUTES). */
static inline void otlp_attr_write(pb_buf *b, uint32_t field, const otlp_attr *a) {
    size_t kv = pb_begin(b, field);
    size_t av;
    otlp_opt_string(b, OTLP_KEY_VALUE_KEY, a->key); /* 1: key */
    av = pb_begin(b, OTLP_KEY_VALUE_VALUE);          /* 2: value (AnyValue) */
    switch (a->type) {
    case OTLP_ATTR_STRING: pb_field_string(b, OTLP_ANY_VALUE_STRING, a->s ? a->s : ""); break;
    case OTLP_ATTR_INT: pb_field_varint(b, OTLP_ANY_VALUE_INT, (uint64_t)a->i); break;
    case OTLP_ATTR_DOUBLE: pb_field_double(b, OTLP_ANY_VALUE_DOUBLE, a->d); break;
    case OTLP_ATTR_BOOL: pb_field_varint(b, OTLP_ANY_VALUE_BOOL, a->i ? 1u : 0u); break;
    }
    pb_end(b, av);
    pb_end(b, kv);
}

static inline void otlp_attrs_write(pb_buf *b, uint32_t field, const otlp_attr *attrs, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) otlp_attr_write(b, field, &attrs[i]);
}

static inline void otlp_kv_string(pb_buf *b, uint32_t field, const char *key, const char *value) {
    otlp_attr a;
    memset(&a, 0, sizeof a);
    a.key = key;
    a.type = OTLP_ATTR_STRING;
    a.s = value;
    otlp_attr_write(b, field, &a);
}

static inline void otlp_kv_int(pb_buf *b, uint32_t field, const char *key, int64_t value) {
    otlp_attr a;
    memset(&a, 0, sizeof a);
    a.key = key;
    a.type = OTLP_ATTR_INT;
    a.i = value;
    otlp_attr_write(b, field, &a);
}

/* ResourceMetrics.resource (field 1): a Resource with these attributes. Write it
   first in a ResourceMetrics. */
static inline void otlp_resource(pb_buf *b, const otlp_attr *attrs, size_t n) {
    size_t r = pb_begin(b, OTLP_RESOURCE_METRICS_RESOURCE);
    otlp_attrs_write(b, OTLP_RESOURCE_ATTRIBUTES, attrs, n); /* 1: attributes */
    pb_end(b, r);
}

/* ResourceMetrics.scope_metrics (field 2): starts a ScopeMetrics and writes its
   InstrumentationScope (field 1: name 1, version 2). Add metrics with
   otlp_metric_begin, then pb_end(b, mark). */
static inline size_t otlp_scope_metrics_begin(pb_buf *b, const char *scope_name, const char *scope_version) {
    size_t sm = pb_begin(b, OTLP_RESOURCE_METRICS_SCOPE_METRICS);
    size_t sc = pb_begin(b, OTLP_SCOPE_METRICS_SCOPE);
    otlp_opt_string(b, OTLP_SCOPE_NAME, scope_name);
    otlp_opt_string(b, OTLP_SCOPE_VERSION, scope_version);
    pb_end(b, sc);
    return sm;
}

/* ScopeMetrics.metrics (field 2): starts a Metric with name 1, description 2,
   unit 3. Follow with exactly one of otlp_sum_begin / otlp_gauge_begin /
   otlp_histogram_begin ... end, then pb_end(b, mark). */
static inline size_t otlp_metric_begin(pb_buf *b, const char *name, const char *description, const char *unit) {
    size_t m = pb_begin(b, OTLP_SCOPE_METRICS_METRICS);
    otlp_opt_string(b, OTLP_METRIC_NAME, name);
    otlp_opt_string(b, OTLP_METRIC_DESCRIPTION, description);
    otlp_opt_string(b, OTLP_METRIC_UNIT, unit);
    return m;
}

/* Metric.sum (7). Points go in field 1; otlp_sum_end writes
   aggregation_temporality (2) and is_monotonic (3) after them and closes. */
static inline size_t otlp_sum_begin(pb_buf *b) { return pb_begin(b, OTLP_METRIC_SUM); }
static inline void otlp_sum_end(pb_buf *b, size_t mark, int temporality, int is_monotonic) {
    otlp_opt_varint(b, OTLP_SUM_AGGREGATION_TEMPORALITY, (uint64_t)temporality);
    otlp_opt_varint(b, OTLP_SUM_IS_MONOTONIC, is_monotonic ? 1u : 0u);
    pb_end(b, mark);
}

/* Metric.gauge (5). Points go in field 1. Close with pb_end. */
static inline size_t otlp_gauge_begin(pb_buf *b) { return pb_begin(b, OTLP_METRIC_GAUGE); }

/* Metric.histogram (9). Points go in field 1; otlp_histogram_end writes
   aggregation_temporality (2) and closes. */
static inline size_t otlp_histogram_begin(pb_buf *b) { return pb_begin(b, OTLP_METRIC_HISTOGRAM); }
static inline void otlp_histogram_end(pb_buf *b, size_t mark, int temporality) {
    otlp_opt_varint(b, OTLP_HISTOGRAM_AGGREGATION_TEMPORALITY, (uint64_t)temporality);
    pb_end(b, mark);
}

/* A NumberDataPoint with an int value (as_int, sfixed64) in field 1 of the
   enclosing Sum or Gauge: start 2, time 3, as_int 6, attributes 7. */
static inline void otlp_int_point(pb_buf *b, const otlp_attr *attrs, size_t n, uint64_t start_ns, uint64_t time_ns,
                                  int64_t value) {
    size_t p = pb_begin(b, OTLP_SUM_DATA_POINTS);
    otlp_opt_fixed64(b, OTLP_NUMBER_POINT_START_TIME, start_ns);
    otlp_opt_fixed64(b, OTLP_NUMBER_POINT_TIME, time_ns);
    pb_field_sfixed64(b, OTLP_NUMBER_POINT_AS_INT, value); /* oneof: written even when 0 */
    otlp_attrs_write(b, OTLP_NUMBER_POINT_ATTRIBUTES, attrs, n);
    pb_end(b, p);
}

/* A NumberDataPoint with a double value (as_double): start 2, time 3, as_double 4, attributes 7. */
static inline void otlp_double_point(pb_buf *b, const otlp_attr *attrs, size_t n, uint64_t start_ns, uint64_t time_ns,
                                     double value) {
    size_t p = pb_begin(b, OTLP_GAUGE_DATA_POINTS);
    otlp_opt_fixed64(b, OTLP_NUMBER_POINT_START_TIME, start_ns);
    otlp_opt_fixed64(b, OTLP_NUMBER_POINT_TIME, time_ns);
    pb_field_double(b, OTLP_NUMBER_POINT_AS_DOUBLE, value); /* oneof: written even when 0 */
    otlp_attrs_write(b, OTLP_NUMBER_POINT_ATTRIBUTES, attrs, n);
    pb_end(b, p);
}

/* A HistogramDataPoint in field 1 of the enclosing Histogram. bucket_counts has
   n_bounds + 1 entries (unless both are empty). sum/min/max are proto3
   `optional`: written whenever has_* is set, even when 0. */
typedef struct otlp_histogram_point {
    const otlp_attr *attrs;
    size_t n_attrs;
    uint64_t start_ns, time_ns;
    uint64_t count;
    int has_sum;
    double sum;
    const uint64_t *bucket_counts;
    size_t n_bucket_counts;
    const double *bounds;
    size_t n_bounds;
    int has_min;
    double min;
    int has_max;
    double max;
} otlp_histogram_point;

static inline void otlp_histogram_point_write(pb_buf *b, const otlp_histogram_point *h) {
    size_t p = pb_begin(b, OTLP_HISTOGRAM_DATA_POINTS);
    otlp_opt_fixed64(b, OTLP_HISTOGRAM_POINT_START_TIME, h->start_ns); /* 2 */
    otlp_opt_fixed64(b, OTLP_HISTOGRAM_POINT_TIME, h->time_ns);        /* 3 */
    otlp_opt_fixed64(b, OTLP_HISTOGRAM_POINT_COUNT, h->count);         /* 4 */
    if (h->has_sum) pb_field_double(b, OTLP_HISTOGRAM_POINT_SUM, h->sum); /* 5 */
    if (h->n_bucket_counts) /* 6 */
        pb_field_packed_fixed64(b, OTLP_HISTOGRAM_POINT_BUCKET_COUNTS, h->bucket_counts, h->n_bucket_counts);
    if (h->n_bounds) /* 7 */
        pb_field_packed_double(b, OTLP_HISTOGRAM_POINT_EXPLICIT_BOUNDS, h->bounds, h->n_bounds);
    otlp_attrs_write(b, OTLP_HISTOGRAM_POINT_ATTRIBUTES, h->attrs, h->n_attrs); /* 9 */
    if (h->has_min) pb_field_double(b, OTLP_HISTOGRAM_POINT_MIN, h->min); /* 11 */
    if (h->has_max) pb_field_double(b, OTLP_HISTOGRAM_POINT_MAX, h->max); /* 12 */
    pb_end(b, p);
}

/* Appends one serialized ResourceMetrics to an ExportMetricsServiceRequest being
   built in `req` (field 1, repeated: call once per ResourceMetrics). */
static inline void otlp_request_add_resource_metrics(pb_buf *req, const uint8_t *rm, size_t len) {
    pb_field_bytes(req, OTLP_EXPORT_REQUEST_RESOURCE_METRICS, rm, len);
}

/* Fills `req` (which should be empty) with the ExportMetricsServiceRequest that
   wraps exactly one ResourceMetrics. Returns 0 on success, -1 on out of memory. */
static inline int otlp_wrap_export_request(pb_buf *req, const uint8_t *rm, size_t len) {
    otlp_request_add_resource_metrics(req, rm, len);
    return req->failed ? -1 : 0;
}

#endif /* OTLPMETRIC_TESTS_PB_H */
