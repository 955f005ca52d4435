/*
 * test_api.c - tests of the otlpmetric C API, written as C against the contract
 * (shared/design/c-api.md) and the real header.
 *
 * Build: cc -std=c99 -Wall -Wextra -Werror -pedantic -I include tests/c/test_api.c \
 *           -L target/debug -lotlpmetric -Wl,-rpath,$PWD/target/debug -pthread
 * Run:   ./test_api [WORD...]   WORD: run only the tests whose name contains it;
 *                                -WORD: skip the tests whose name contains it
 *
 * Prints one line per test ("PASS name", "FAIL name", "SKIP name (why)") and ends
 * with exactly "N passed, M failed"; exits 1 on any failure.
 *
 * Environment (set by the Rust harness that starts the receivers):
 *   OTLPM_TEST_GRPC_ENDPOINT  http://127.0.0.1:PORT            accepts everything (gRPC)
 *   OTLPM_TEST_HTTP_ENDPOINT  http://127.0.0.1:PORT/v1/metrics accepts everything (HTTP/protobuf)
 *   OTLPM_TEST_HANG_ENDPOINT  http://127.0.0.1:PORT/v1/metrics accepts connections, never answers
 *   OTLPM_TEST_GRPC_HANG_ENDPOINT http://127.0.0.1:PORT        the same, for gRPC
 *   OTLPM_TEST_DEAD_ENDPOINT  http://127.0.0.1:PORT[/...]      nothing listens
 *   OTLPM_TEST_OUT_DIR        where the files below are written
 *   OTLPM_TEST_TIME_SCALE     optional multiplier (>= 1) for the "returns within" bounds;
 *                             defaults to 10 under valgrind (LD_PRELOAD has vgpreload), else 1
 *   OTLPM_TEST_NO_SKIP=1      a test whose endpoint variable is missing fails instead of skipping
 *
 * Files written in OTLPM_TEST_OUT_DIR, for every request that this program
 * expects a receiver to have accepted (only after the call returned OK):
 *   sent-<n>.bin        n = 1, 2, 3, ...: the exact serialized
 *                       ExportMetricsServiceRequest the receiver should get (for
 *                       `upload` of a ResourceMetrics: the request wrapping it; for
 *                       `upload_json`: the protobuf encoding of that JSON request),
 *                       uncompressed
 *   sent-manifest.txt   one line per file: "<n> <grpc|http> <none|gzip> <test name>"
 *                       (which receiver, and the compression used on the wire)
 *   expected-count.txt  "grpc <n>\nhttp <n>\n": requests each receiver should have got
 * Requests reach a receiver in increasing n, except those of
 * test_concurrent_uploads (any order among themselves): compare per receiver as
 * multisets. Calls that fail (ERR_DECODE etc.) send nothing and are not listed.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "otlpmetric.h"
#include "pb.h"

/* ---------------------------------------------------------------------------
 * Test plumbing
 * ------------------------------------------------------------------------- */

enum { PASS = 0, FAIL = 1, SKIP = 2 };

static const char *g_test_name = "";
static char g_skip_reason[256];
static char g_err[2048];        /* copy of otlpmetric_last_error() right after a checked call */
static double g_scale = 1.0;    /* multiplier for "returns within" bounds */
static const char *g_out_dir;   /* OTLPM_TEST_OUT_DIR or NULL */
static int g_sent_n;            /* sent-<n>.bin files written */
static int g_count_grpc, g_count_http;

/* Copies the thread's last error now: it is only valid until the next
   otlpmetric_* call on this thread (status_str included). */
static const char *snap(void) {
    const char *e = otlpmetric_last_error();
    snprintf(g_err, sizeof g_err, "%s", e ? e : "<NULL last_error>");
    return g_err;
}

static void report_failure(int line, const char *fmt, ...) {
    va_list ap;
    printf("    %s: test_api.c:%d: ", g_test_name, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* Every test declares `int rc = FAIL;` and ends with `rc = PASS; done: cleanup; return rc;`. */
#define FAILF(...)                                 \
    do {                                           \
        report_failure(__LINE__, __VA_ARGS__);     \
        goto done;                                 \
    } while (0)

#define CHECK(cond)                                        \
    do {                                                   \
        if (!(cond)) FAILF("check failed: %s", #cond);     \
    } while (0)

/* The call must return `want`; last_error is copied to g_err. */
#define EXPECT_STATUS(call, want)                                                                     \
    do {                                                                                              \
        otlpmetric_status st_ = (call);                                                               \
        snap();                                                                                       \
        if (st_ != (want))                                                                            \
            FAILF("%s returned %d (%s), expected %d (%s); last_error: \"%s\"", #call, (int)st_,       \
                  status_name(st_), (int)(want), #want, g_err);                                       \
    } while (0)

/* An error status, with a non-empty last_error. */
#define EXPECT_ERR(call, want)                                                 \
    do {                                                                       \
        EXPECT_STATUS(call, want);                                             \
        if (g_err[0] == '\0') FAILF("%s: last_error is empty", #call);         \
    } while (0)

#define EXPECT_OK(call) EXPECT_STATUS(call, OTLPMETRIC_OK)

/* Skips (or fails, with OTLPM_TEST_NO_SKIP=1) when an endpoint variable is missing. */
#define NEED_ENV(var, name)                                                       \
    do {                                                                          \
        var = env_nonempty(name);                                                 \
        if (!var) {                                                               \
            snprintf(g_skip_reason, sizeof g_skip_reason, "%s not set", name);    \
            if (env_nonempty("OTLPM_TEST_NO_SKIP")) FAILF("%s not set", name);    \
            rc = SKIP;                                                            \
            goto done;                                                            \
        }                                                                         \
    } while (0)

static const char *status_name(otlpmetric_status st) {
    const char *s = otlpmetric_status_str(st);
    return s ? s : "<NULL>";
}

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A bound in ms, stretched under valgrind / OTLPM_TEST_TIME_SCALE. */
static double within(double ms) { return ms * g_scale; }

/* A per-call timeout for uploads to receivers that answer. */
static uint32_t good_timeout(void) { return (uint32_t)(10000.0 * g_scale); }

static int ci_contains(const char *hay, const char *needle) {
    size_t n = strlen(needle), i, j;
    if (!hay) return 0;
    for (i = 0; hay[i]; i++) {
        for (j = 0; j < n && hay[i + j]; j++) {
            char a = hay[i + j], b = needle[j];
            if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
            if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
            if (a != b) break;
        }
        if (j == n) return 1;
    }
    return n == 0;
}

/* --- the files for the harness --------------------------------------------- */

static int write_file(const char *name, const void *data, size_t len, const char *mode) {
    char path[4096];
    FILE *f;
    size_t w;
    if (!g_out_dir) return 0;
    snprintf(path, sizeof path, "%s/%s", g_out_dir, name);
    f = fopen(path, mode);
    if (!f) {
        printf("    cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    w = len ? fwrite(data, 1, len, f) : 0;
    if (fclose(f) != 0 || w != len) {
        printf("    cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static int write_expected_count(void) {
    char text[64];
    int n = snprintf(text, sizeof text, "grpc %d\nhttp %d\n", g_count_grpc, g_count_http);
    return write_file("expected-count.txt", text, (size_t)n, "wb");
}

/* Records one ExportMetricsServiceRequest that `receiver` ("grpc" or "http")
   must have accepted. */
static int record_request(const char *receiver, const char *compression, const uint8_t *req, size_t len) {
    char name[64], line[256];
    int n;
    g_sent_n++;
    if (strcmp(receiver, "grpc") == 0) g_count_grpc++;
    else g_count_http++;
    snprintf(name, sizeof name, "sent-%d.bin", g_sent_n);
    n = snprintf(line, sizeof line, "%d %s %s %s\n", g_sent_n, receiver, compression, g_test_name);
    if (write_file(name, req, len, "wb") != 0) return -1;
    if (write_file("sent-manifest.txt", line, (size_t)n, "ab") != 0) return -1;
    return write_expected_count();
}

/* Records the request that wraps one ResourceMetrics. */
static int record_rm(const char *receiver, const char *compression, const uint8_t *rm, size_t len) {
    pb_buf req = PB_BUF_INIT;
    int r = otlp_wrap_export_request(&req, rm, len);
    if (r == 0) r = record_request(receiver, compression, req.data, req.len);
    pb_buf_free(&req);
    return r;
}

/* Size of the request that wraps a ResourceMetrics of `len` bytes. */
static uint64_t wrapped_size(size_t len) { return 1u + (uint64_t)pb_varint_size((uint64_t)len) + (uint64_t)len; }

/* --- sample data ------------------------------------------------------------ */

static const uint64_t T0 = 1700000000000000000ull; /* 2023-11-14T22:13:20Z */

/* A ResourceMetrics with a monotonic cumulative counter, a delta up-down counter,
   a gauge and a histogram; `tag` and `seq` make each one distinct. */
static int build_sample_rm(pb_buf *b, const char *tag, int64_t seq) {
    otlp_attr res[3];
    otlp_attr pa[2];
    static const double bounds[] = {0, 5, 10, 25, 50};
    static const uint64_t counts[] = {1, 0, 2, 3, 0, 1};
    otlp_histogram_point hp;
    size_t sm, m, d;
    memset(res, 0, sizeof res);
    memset(pa, 0, sizeof pa);
    res[0].key = "service.name"; res[0].type = OTLP_ATTR_STRING; res[0].s = "otlpmetric-c-test";
    res[1].key = "test.name"; res[1].type = OTLP_ATTR_STRING; res[1].s = tag;
    res[2].key = "test.seq"; res[2].type = OTLP_ATTR_INT; res[2].i = seq;
    pa[0].key = "route"; pa[0].type = OTLP_ATTR_STRING; pa[0].s = "/api/items";
    pa[1].key = "code"; pa[1].type = OTLP_ATTR_INT; pa[1].i = 200;

    otlp_resource(b, res, 3);
    sm = otlp_scope_metrics_begin(b, "otlpmetric.c.tests", "0.1.0");

    m = otlp_metric_begin(b, "test.requests", "requests served", "{request}");
    d = otlp_sum_begin(b);
    otlp_int_point(b, pa, 2, T0, T0 + 1000000000ull + (uint64_t)seq, 40 + seq);
    otlp_int_point(b, pa, 1, T0, T0 + 1000000000ull + (uint64_t)seq, 2);
    otlp_sum_end(b, d, OTLP_TEMPORALITY_CUMULATIVE, 1);
    pb_end(b, m);

    m = otlp_metric_begin(b, "test.inflight", "", "{request}");
    d = otlp_sum_begin(b);
    otlp_int_point(b, NULL, 0, T0 + 500000000ull, T0 + 1000000000ull, -3);
    otlp_sum_end(b, d, OTLP_TEMPORALITY_DELTA, 0);
    pb_end(b, m);

    m = otlp_metric_begin(b, "test.temperature", "room temperature", "Cel");
    d = otlp_gauge_begin(b);
    otlp_double_point(b, NULL, 0, 0, T0 + 1000000000ull, 21.5 + (double)seq);
    pb_end(b, d);
    pb_end(b, m);

    m = otlp_metric_begin(b, "test.latency", "request latency", "ms");
    d = otlp_histogram_begin(b);
    memset(&hp, 0, sizeof hp);
    hp.attrs = pa;
    hp.n_attrs = 1;
    hp.start_ns = T0;
    hp.time_ns = T0 + 1000000000ull;
    hp.count = 7;
    hp.has_sum = 1;
    hp.sum = 123.25;
    hp.bucket_counts = counts;
    hp.n_bucket_counts = 6;
    hp.bounds = bounds;
    hp.n_bounds = 5;
    hp.has_min = 1;
    hp.min = 0.5;
    hp.has_max = 1;
    hp.max = 80.0;
    otlp_histogram_point_write(b, &hp);
    otlp_histogram_end(b, d, OTLP_TEMPORALITY_CUMULATIVE);
    pb_end(b, m);

    pb_end(b, sm);
    return b->failed ? -1 : 0;
}

/* --- OTLP/JSON sample and the protobuf it stands for -------------------------- */

/* An ExportMetricsServiceRequest in OTLP/JSON: a counter, a gauge and a histogram. */
static int build_sample_json(char *out, size_t cap, const char *tag) {
    int n = snprintf(out, cap,
        "{\"resourceMetrics\":[{"
          "\"resource\":{\"attributes\":["
            "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"otlpmetric-c-test\"}},"
            "{\"key\":\"test.name\",\"value\":{\"stringValue\":\"%s\"}},"
            "{\"key\":\"test.seq\",\"value\":{\"intValue\":\"7\"}}]},"
          "\"scopeMetrics\":[{"
            "\"scope\":{\"name\":\"otlpmetric.c.json\",\"version\":\"1.2.3\"},"
            "\"metrics\":["
              "{\"name\":\"json.requests\",\"description\":\"requests served\",\"unit\":\"1\","
               "\"sum\":{\"dataPoints\":[{"
                 "\"attributes\":[{\"key\":\"route\",\"value\":{\"stringValue\":\"/x\"}}],"
                 "\"startTimeUnixNano\":\"%llu\",\"timeUnixNano\":\"%llu\",\"asInt\":\"42\"}],"
               "\"aggregationTemporality\":2,\"isMonotonic\":true}},"
              "{\"name\":\"json.temperature\",\"unit\":\"Cel\","
               "\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"%llu\",\"asDouble\":21.5}]}},"
              "{\"name\":\"json.latency\",\"unit\":\"ms\","
               "\"histogram\":{\"dataPoints\":[{"
                 "\"startTimeUnixNano\":\"%llu\",\"timeUnixNano\":\"%llu\","
                 "\"count\":\"4\",\"sum\":37.5,\"bucketCounts\":[\"1\",\"2\",\"1\"],"
                 "\"explicitBounds\":[5,10],\"min\":2.5,\"max\":20}],"
               "\"aggregationTemporality\":1}}"
            "]}]}]}",
        tag, (unsigned long long)T0, (unsigned long long)(T0 + 1000000000ull), (unsigned long long)(T0 + 1000000000ull),
        (unsigned long long)T0, (unsigned long long)(T0 + 1000000000ull));
    return (n > 0 && (size_t)n < cap) ? n : -1;
}

/* The ExportMetricsServiceRequest that build_sample_json describes, as protobuf. */
static int build_sample_json_as_pb(pb_buf *req, const char *tag) {
    pb_buf rm = PB_BUF_INIT;
    otlp_attr res[3], pa[1];
    static const double bounds[] = {5, 10};
    static const uint64_t counts[] = {1, 2, 1};
    otlp_histogram_point hp;
    size_t sm, m, d;
    int r;
    memset(res, 0, sizeof res);
    memset(pa, 0, sizeof pa);
    res[0].key = "service.name"; res[0].type = OTLP_ATTR_STRING; res[0].s = "otlpmetric-c-test";
    res[1].key = "test.name"; res[1].type = OTLP_ATTR_STRING; res[1].s = tag;
    res[2].key = "test.seq"; res[2].type = OTLP_ATTR_INT; res[2].i = 7;
    pa[0].key = "route"; pa[0].type = OTLP_ATTR_STRING; pa[0].s = "/x";
    otlp_resource(&rm, res, 3);
    sm = otlp_scope_metrics_begin(&rm, "otlpmetric.c.json", "1.2.3");
    m = otlp_metric_begin(&rm, "json.requests", "requests served", "1");
    d = otlp_sum_begin(&rm);
    otlp_int_point(&rm, pa, 1, T0, T0 + 1000000000ull, 42);
    otlp_sum_end(&rm, d, OTLP_TEMPORALITY_CUMULATIVE, 1);
    pb_end(&rm, m);
    m = otlp_metric_begin(&rm, "json.temperature", NULL, "Cel");
    d = otlp_gauge_begin(&rm);
    otlp_double_point(&rm, NULL, 0, 0, T0 + 1000000000ull, 21.5);
    pb_end(&rm, d);
    pb_end(&rm, m);
    m = otlp_metric_begin(&rm, "json.latency", NULL, "ms");
    d = otlp_histogram_begin(&rm);
    memset(&hp, 0, sizeof hp);
    hp.start_ns = T0;
    hp.time_ns = T0 + 1000000000ull;
    hp.count = 4;
    hp.has_sum = 1;
    hp.sum = 37.5;
    hp.bucket_counts = counts;
    hp.n_bucket_counts = 3;
    hp.bounds = bounds;
    hp.n_bounds = 2;
    hp.has_min = 1;
    hp.min = 2.5;
    hp.has_max = 1;
    hp.max = 20;
    otlp_histogram_point_write(&rm, &hp);
    otlp_histogram_end(&rm, d, OTLP_TEMPORALITY_DELTA);
    pb_end(&rm, m);
    pb_end(&rm, sm);
    r = rm.failed ? -1 : otlp_wrap_export_request(req, rm.data, rm.len);
    pb_buf_free(&rm);
    return r;
}

/* --- configs ------------------------------------------------------------------ */

/* A config for `endpoint` over `protocol`, no compression, retry as given. On
   failure prints why and returns NULL. */
static otlpmetric_config *make_config(otlpmetric_protocol protocol, const char *endpoint, bool retry) {
    otlpmetric_config *cfg = otlpmetric_config_new();
    otlpmetric_status st;
    if (!cfg) {
        printf("    otlpmetric_config_new returned NULL: %s\n", snap());
        return NULL;
    }
    if ((st = otlpmetric_config_set_protocol(cfg, protocol)) != OTLPMETRIC_OK ||
        (st = otlpmetric_config_set_endpoint(cfg, endpoint)) != OTLPMETRIC_OK ||
        (st = otlpmetric_config_set_compression(cfg, OTLPMETRIC_COMPRESSION_NONE)) != OTLPMETRIC_OK ||
        (st = otlpmetric_config_set_timeout_ms(cfg, good_timeout())) != OTLPMETRIC_OK ||
        (st = retry ? otlpmetric_config_set_retry(cfg, true, 50, 500, 5000)
                    : otlpmetric_config_set_retry(cfg, false, 100, 1000, 1000)) != OTLPMETRIC_OK) {
        snap();
        printf("    configuring %s (protocol %d) failed: status %d: %s\n", endpoint, (int)protocol, (int)st, g_err);
        otlpmetric_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* A config + exporter in one go (the config is freed). */
static otlpmetric_exporter *make_exporter(otlpmetric_protocol protocol, const char *endpoint, bool retry) {
    otlpmetric_config *cfg = make_config(protocol, endpoint, retry);
    otlpmetric_exporter *ex = NULL;
    otlpmetric_status st;
    if (!cfg) return NULL;
    st = otlpmetric_exporter_new(cfg, &ex);
    snap();
    otlpmetric_config_free(cfg);
    if (st != OTLPMETRIC_OK || !ex) {
        printf("    otlpmetric_exporter_new(%s) failed: status %d: %s\n", endpoint, (int)st, g_err);
        return NULL;
    }
    return ex;
}

/* An endpoint nothing should ever be sent to (for tests that send nothing). */
#define NOWHERE "http://127.0.0.1:9/v1/metrics"

/* --- log capture (the callback may run on library threads) -------------------- */

typedef struct log_capture {
    pthread_mutex_t mu;
    int calls;
    int warnings;
    int bad_level;
    char text[8192];
} log_capture;

static void log_capture_init(log_capture *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

static void log_capture_destroy(log_capture *c) { pthread_mutex_destroy(&c->mu); }

static void capture_log(void *user_data, otlpmetric_log_level level, const char *message) {
    log_capture *c = (log_capture *)user_data;
    size_t used;
    pthread_mutex_lock(&c->mu);
    c->calls++;
    if (level == OTLPMETRIC_LOG_WARN) c->warnings++;
    if ((int)level < OTLPMETRIC_LOG_ERROR || (int)level > OTLPMETRIC_LOG_DEBUG) c->bad_level++;
    used = strlen(c->text);
    snprintf(c->text + used, sizeof c->text - used, "[%d] %s\n", (int)level, message ? message : "<NULL>");
    pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------------------------
 * Tests: constants, names, version, last_error
 * ------------------------------------------------------------------------- */

static int test_status_values(void) {
    int rc = FAIL;
    CHECK(sizeof(otlpmetric_status) == sizeof(int32_t));
    CHECK(OTLPMETRIC_OK == 0);
    CHECK(OTLPMETRIC_ERR_INVALID_ARGUMENT == 1);
    CHECK(OTLPMETRIC_ERR_DECODE == 2);
    CHECK(OTLPMETRIC_ERR_SHUTDOWN == 3);
    CHECK(OTLPMETRIC_ERR_TIMEOUT == 4);
    CHECK(OTLPMETRIC_ERR_EXPORT == 5);
    CHECK(OTLPMETRIC_ERR_QUEUE_FULL == 6);
    CHECK(OTLPMETRIC_ERR_INTERNAL == 7);
    CHECK(OTLPMETRIC_ERR_CANCELLED == 8);
    rc = PASS;
done:
    return rc;
}

static int test_enum_values(void) {
    int rc = FAIL;
    CHECK(OTLPMETRIC_PROTOCOL_GRPC == 1);
    CHECK(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF == 2);
    CHECK(OTLPMETRIC_PROTOCOL_HTTP_JSON == 3);
    CHECK(OTLPMETRIC_COMPRESSION_NONE == 0);
    CHECK(OTLPMETRIC_COMPRESSION_GZIP == 1);
    CHECK(OTLPMETRIC_COMPRESSION_ZSTD == 2);
    CHECK(OTLPMETRIC_LOG_ERROR == 1);
    CHECK(OTLPMETRIC_LOG_WARN == 2);
    CHECK(OTLPMETRIC_LOG_INFO == 3);
    CHECK(OTLPMETRIC_LOG_DEBUG == 4);
    CHECK(OTLPMETRIC_INSTRUMENT_COUNTER == 1);
    CHECK(OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER == 2);
    CHECK(OTLPMETRIC_INSTRUMENT_HISTOGRAM == 3);
    CHECK(OTLPMETRIC_INSTRUMENT_GAUGE == 4);
    CHECK(OTLPMETRIC_INSTRUMENT_OBSERVABLE_COUNTER == 5);
    CHECK(OTLPMETRIC_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER == 6);
    CHECK(OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE == 7);
    CHECK(OTLPMETRIC_TEMPORALITY_DELTA == 1);        /* = OTLP AGGREGATION_TEMPORALITY_DELTA */
    CHECK(OTLPMETRIC_TEMPORALITY_CUMULATIVE == 2);   /* = OTLP AGGREGATION_TEMPORALITY_CUMULATIVE */
    CHECK(OTLPMETRIC_TEMPORALITY_DELTA == OTLP_TEMPORALITY_DELTA);
    CHECK(OTLPMETRIC_TEMPORALITY_CUMULATIVE == OTLP_TEMPORALITY_CUMULATIVE);
    CHECK(OTLPMETRIC_AGGREGATION_DROP == 1);
    CHECK(OTLPMETRIC_AGGREGATION_SUM == 2);
    CHECK(OTLPMETRIC_AGGREGATION_LAST_VALUE == 3);
    CHECK(OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM == 4);
    CHECK(OTLPMETRIC_AGGREGATION_BASE2_EXPONENTIAL_HISTOGRAM == 5);
    rc = PASS;
done:
    return rc;
}

static int test_status_str(void) {
    static const struct {
        otlpmetric_status st;
        const char *word;
    } known[] = {
        {OTLPMETRIC_OK, "ok"},
        {OTLPMETRIC_ERR_INVALID_ARGUMENT, "invalid"},
        {OTLPMETRIC_ERR_DECODE, "decode"},
        {OTLPMETRIC_ERR_SHUTDOWN, "shut"},
        {OTLPMETRIC_ERR_TIMEOUT, "timeout"},
        {OTLPMETRIC_ERR_EXPORT, "export"},
        {OTLPMETRIC_ERR_QUEUE_FULL, "queue"},
        {OTLPMETRIC_ERR_INTERNAL, "internal"},
        {OTLPMETRIC_ERR_CANCELLED, "cancel"},
    };
    static const int unknown[] = {9, 10, 42, -1, 2147483647, -2147483647 - 1};
    int rc = FAIL;
    size_t i, j;
    for (i = 0; i < sizeof known / sizeof known[0]; i++) {
        const char *s = otlpmetric_status_str(known[i].st);
        CHECK(s != NULL);
        if (!ci_contains(s, known[i].word))
            FAILF("status_str(%d) = \"%s\", expected it to contain \"%s\"", (int)known[i].st, s, known[i].word);
        CHECK(otlpmetric_status_str(known[i].st) == s); /* static: the same string every time */
        for (j = 0; j < i; j++) {
            if (strcmp(s, otlpmetric_status_str(known[j].st)) == 0)
                FAILF("status %d and %d have the same name \"%s\"", (int)known[i].st, (int)known[j].st, s);
        }
    }
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = otlpmetric_status_str((otlpmetric_status)unknown[i]);
        if (!s) FAILF("status_str(%d) returned NULL", unknown[i]);
        if (!*s) FAILF("status_str(%d) returned \"\"", unknown[i]);
    }
    rc = PASS;
done:
    return rc;
}

static int test_version(void) {
    int rc = FAIL;
    const char *v = otlpmetric_version();
    char want[64];
    size_t n;
    CHECK(v != NULL);
    n = (size_t)snprintf(want, sizeof want, "%d.%d.%d", OTLPMETRIC_VERSION_MAJOR, OTLPMETRIC_VERSION_MINOR,
                         OTLPMETRIC_VERSION_PATCH);
    /* "X.Y.Z", optionally followed by a pre-release / build suffix ("-rc.1", "+abc") */
    if (strncmp(v, want, n) != 0 || (v[n] != '\0' && v[n] != '-' && v[n] != '+'))
        FAILF("otlpmetric_version() = \"%s\", header macros say %s", v, want);
    CHECK(otlpmetric_version() == v);
    rc = PASS;
done:
    return rc;
}

typedef struct thread_err {
    char before[256];
    char after[256];
    int before_null, after_null;
    otlpmetric_status st;
} thread_err;

static void *last_error_thread(void *arg) {
    thread_err *t = (thread_err *)arg;
    const char *e = otlpmetric_last_error();
    t->before_null = e == NULL;
    snprintf(t->before, sizeof t->before, "%s", e ? e : "");
    t->st = otlpmetric_config_set_timeout_ms(NULL, 5);
    e = otlpmetric_last_error();
    t->after_null = e == NULL;
    snprintf(t->after, sizeof t->after, "%s", e ? e : "");
    return NULL;
}

static int test_last_error_is_per_thread(void) {
    int rc = FAIL;
    pthread_t th;
    thread_err t;
    char mine[sizeof g_err];
    memset(&t, 0, sizeof t);
    EXPECT_ERR(otlpmetric_config_set_endpoint(NULL, "http://127.0.0.1:4318/v1/metrics"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    snprintf(mine, sizeof mine, "%s", g_err);
    CHECK(pthread_create(&th, NULL, last_error_thread, &t) == 0);
    pthread_join(th, NULL);
    CHECK(!t.before_null && !t.after_null);
    if (t.before[0] != '\0') FAILF("a fresh thread's last_error is \"%s\", expected \"\"", t.before);
    CHECK(t.st == OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(t.after[0] != '\0');
    /* the other thread's failure did not touch this thread's message */
    snap();
    if (strcmp(g_err, mine) != 0) FAILF("last_error changed from \"%s\" to \"%s\" by another thread", mine, g_err);
    rc = PASS;
done:
    return rc;
}

/* ---------------------------------------------------------------------------
 * Tests: arguments
 * ------------------------------------------------------------------------- */

static void noop_log(void *ud, otlpmetric_log_level level, const char *msg) { (void)ud; (void)level; (void)msg; }
static otlpmetric_temporality cumulative_selector(void *ud, otlpmetric_instrument_kind kind) {
    (void)ud; (void)kind;
    return OTLPMETRIC_TEMPORALITY_CUMULATIVE;
}
static void default_aggregation_selector(void *ud, otlpmetric_instrument_kind kind, otlpmetric_aggregation *out) {
    (void)ud; (void)kind; (void)out;
}

static int test_null_pointers(void) {
    int rc = FAIL;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL, *untouched;
    otlpmetric_aggregation agg;
    otlpmetric_stats stats;
    char sentinel = 0;
    static const uint8_t some[] = {0x0a, 0x00};

    /* free(NULL) does nothing */
    otlpmetric_config_free(NULL);
    otlpmetric_exporter_free(NULL);

    /* every setter with a NULL config */
    EXPECT_ERR(otlpmetric_config_set_endpoint(NULL, "http://127.0.0.1:4318/v1/metrics"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_protocol(NULL, OTLPMETRIC_PROTOCOL_GRPC), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_add_header(NULL, "k", "v"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_timeout_ms(NULL, 1000), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_compression(NULL, OTLPMETRIC_COMPRESSION_GZIP), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_tls(NULL, NULL, NULL, NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_insecure(NULL, true), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_retry(NULL, true, 10, 50, 300), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_temporality_selector(NULL, cumulative_selector, NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_aggregation_selector(NULL, default_aggregation_selector, NULL),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_log_callback(NULL, noop_log, NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_max_request_bytes(NULL, 1024), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_max_response_bytes(NULL, 1024), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_queue(NULL, 1024), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_proxy(NULL, "http://127.0.0.1:3128"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_proxy(NULL, NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_unix_socket(NULL, "/run/otel.sock"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_unix_socket(NULL, NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);

    /* NULL strings on a real config */
    cfg = otlpmetric_config_new();
    CHECK(cfg != NULL);
    EXPECT_ERR(otlpmetric_config_set_endpoint(cfg, NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_add_header(cfg, NULL, "v"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_add_header(cfg, "k", NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_OK(otlpmetric_config_set_endpoint(cfg, NOWHERE));
    EXPECT_OK(otlpmetric_config_set_retry(cfg, false, 100, 1000, 1000));

    /* exporter_new */
    untouched = (otlpmetric_exporter *)(void *)&sentinel;
    EXPECT_ERR(otlpmetric_exporter_new(NULL, &untouched), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(untouched == (otlpmetric_exporter *)(void *)&sentinel); /* outputs only written on success */
    EXPECT_ERR(otlpmetric_exporter_new(cfg, NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    CHECK(ex != NULL);

    /* uploads */
    EXPECT_ERR(otlpmetric_exporter_upload(NULL, some, sizeof some, 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_upload(ex, NULL, 5, 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_upload_request(NULL, some, sizeof some, 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_upload_request(ex, NULL, 5, 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_upload_json(NULL, "{}", 2, 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_upload_json(ex, NULL, 5, 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_enqueue(NULL, some, sizeof some), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_enqueue(ex, NULL, 5), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    /* NULL is refused with length 0 too (an empty message is a non-NULL pointer, length 0) */
    EXPECT_ERR(otlpmetric_exporter_upload(ex, NULL, 0, 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    if (!strstr(g_err, "resource_metrics is NULL")) FAILF("upload(ex, NULL, 0): last_error \"%s\"", g_err);
    EXPECT_ERR(otlpmetric_exporter_upload_request(ex, NULL, 0, 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    if (!strstr(g_err, "export_request is NULL")) FAILF("upload_request(ex, NULL, 0): last_error \"%s\"", g_err);
    EXPECT_ERR(otlpmetric_exporter_upload_json(ex, NULL, 0, 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    if (!strstr(g_err, "json is NULL")) FAILF("upload_json(ex, NULL, 0): last_error \"%s\"", g_err);
    EXPECT_ERR(otlpmetric_exporter_enqueue(ex, NULL, 0), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    if (!strstr(g_err, "resource_metrics is NULL")) FAILF("enqueue(ex, NULL, 0): last_error \"%s\"", g_err);

    /* the rest of the exporter calls */
    EXPECT_ERR(otlpmetric_exporter_force_flush(NULL, 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_shutdown(NULL, 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_stats(NULL, &stats), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_stats(ex, NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_aggregation(NULL, OTLPMETRIC_INSTRUMENT_COUNTER, &agg), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_COUNTER, NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK((int)otlpmetric_exporter_temporality(NULL, OTLPMETRIC_INSTRUMENT_COUNTER) == 0);
    snap();
    if (!g_err[0]) FAILF("exporter_temporality(NULL, ...) left last_error empty");

    /* nothing above broke the exporter, sent, failed or queued anything */
    EXPECT_OK(otlpmetric_exporter_force_flush(ex, good_timeout()));
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.requests_sent == 0 && stats.bytes_sent == 0);
    CHECK(stats.requests_failed == 0 && stats.queue_bytes == 0 && stats.queue_dropped == 0);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    return rc;
}

/* An empty ResourceMetrics (a non-NULL pointer, length 0) is a valid message: it is
   sent. (NULL, 0) is a NULL pointer: refused, nothing sent. */
static int test_upload_empty_message(void) {
    static const uint8_t no_bytes[1] = {0};
    int rc = FAIL;
    const char *http;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_stats stats;
    NEED_ENV(http, "OTLPM_TEST_HTTP_ENDPOINT");
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http, true);
    CHECK(ex != NULL);
    EXPECT_OK(otlpmetric_exporter_upload(ex, no_bytes, 0, good_timeout()));
    CHECK(record_rm("http", "none", no_bytes, 0) == 0); /* request bytes 0a 00 */
    EXPECT_ERR(otlpmetric_exporter_upload(ex, NULL, 0, good_timeout()), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.requests_sent == 1);
    CHECK(stats.bytes_sent == 2);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    return rc;
}

/* Unknown enum values are refused, and a refused value leaves the config as it was. */
static int test_bad_enum_values(void) {
    static const int bad_protocols[] = {0, 4, 99, -1};
    static const int bad_compressions[] = {3, 99, -1};
    static const int bad_kinds[] = {0, 8, 99, -1};
    int rc = FAIL;
    const char *http = env_nonempty("OTLPM_TEST_HTTP_ENDPOINT");
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_aggregation agg, before;
    pb_buf rm = PB_BUF_INIT;
    size_t i;

    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http ? http : NOWHERE, true);
    CHECK(cfg != NULL);
    for (i = 0; i < sizeof bad_protocols / sizeof bad_protocols[0]; i++)
        EXPECT_ERR(otlpmetric_config_set_protocol(cfg, (otlpmetric_protocol)bad_protocols[i]),
                   OTLPMETRIC_ERR_INVALID_ARGUMENT);
    for (i = 0; i < sizeof bad_compressions / sizeof bad_compressions[0]; i++)
        EXPECT_ERR(otlpmetric_config_set_compression(cfg, (otlpmetric_compression)bad_compressions[i]),
                   OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_endpoint(cfg, "not a url"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));

    /* unknown kinds: temporality 0 with a message; aggregation refused, out untouched */
    for (i = 0; i < sizeof bad_kinds / sizeof bad_kinds[0]; i++) {
        otlpmetric_temporality t = otlpmetric_exporter_temporality(ex, (otlpmetric_instrument_kind)bad_kinds[i]);
        snap();
        if ((int)t != 0) FAILF("temporality(kind %d) = %d, expected 0", bad_kinds[i], (int)t);
        if (!g_err[0]) FAILF("temporality(kind %d): last_error is empty", bad_kinds[i]);
        memset(&agg, 0x5a, sizeof agg);
        memcpy(&before, &agg, sizeof agg);
        EXPECT_ERR(otlpmetric_exporter_aggregation(ex, (otlpmetric_instrument_kind)bad_kinds[i], &agg),
                   OTLPMETRIC_ERR_INVALID_ARGUMENT);
        CHECK(memcmp(&agg, &before, sizeof agg) == 0);
    }

    /* the config kept HTTP/protobuf, no compression and the good endpoint: an upload arrives */
    if (http) {
        CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);
        EXPECT_OK(otlpmetric_exporter_upload(ex, rm.data, rm.len, good_timeout()));
        CHECK(record_rm("http", "none", rm.data, rm.len) == 0);
    }
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    pb_buf_free(&rm);
    return rc;
}

static int test_config_setters(void) {
    int rc = FAIL;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    cfg = otlpmetric_config_new();
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_endpoint(cfg, "http://127.0.0.1:4318/v1/metrics"));
    EXPECT_OK(otlpmetric_config_set_endpoint(cfg, "https://collector.example:4317"));
    EXPECT_OK(otlpmetric_config_set_endpoint(cfg, NOWHERE));
    EXPECT_OK(otlpmetric_config_set_protocol(cfg, OTLPMETRIC_PROTOCOL_GRPC));
    EXPECT_OK(otlpmetric_config_set_protocol(cfg, OTLPMETRIC_PROTOCOL_HTTP_JSON));
    EXPECT_OK(otlpmetric_config_set_protocol(cfg, OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF));
    EXPECT_OK(otlpmetric_config_add_header(cfg, "x-tenant", "c-tests"));
    EXPECT_OK(otlpmetric_config_set_timeout_ms(cfg, 0)); /* no limit */
    EXPECT_OK(otlpmetric_config_set_timeout_ms(cfg, 5000));
    EXPECT_OK(otlpmetric_config_set_compression(cfg, OTLPMETRIC_COMPRESSION_GZIP));
    EXPECT_OK(otlpmetric_config_set_compression(cfg, OTLPMETRIC_COMPRESSION_ZSTD));
    EXPECT_OK(otlpmetric_config_set_compression(cfg, OTLPMETRIC_COMPRESSION_NONE));
    EXPECT_OK(otlpmetric_config_set_tls(cfg, NULL, NULL, NULL)); /* any may be null */
    EXPECT_OK(otlpmetric_config_set_insecure(cfg, true));
    EXPECT_OK(otlpmetric_config_set_insecure(cfg, false));
    EXPECT_OK(otlpmetric_config_set_retry(cfg, true, 10, 50, 300));
    EXPECT_OK(otlpmetric_config_set_retry(cfg, false, 100, 1000, 1000));
    EXPECT_OK(otlpmetric_config_set_max_request_bytes(cfg, 1024 * 1024));
    EXPECT_OK(otlpmetric_config_set_max_response_bytes(cfg, 64 * 1024));
    EXPECT_ERR(otlpmetric_config_set_max_response_bytes(cfg, 0), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    if (!strstr(g_err, "max_response_bytes")) FAILF("last_error: %s", g_err);
    EXPECT_OK(otlpmetric_config_set_queue(cfg, 1024 * 1024));
    EXPECT_OK(otlpmetric_config_set_log_callback(cfg, noop_log, NULL));
    EXPECT_OK(otlpmetric_config_set_log_callback(cfg, NULL, NULL)); /* a NULL callback is accepted */
    EXPECT_OK(otlpmetric_config_set_temporality_selector(cfg, NULL, NULL));
    EXPECT_OK(otlpmetric_config_set_aggregation_selector(cfg, NULL, NULL));

    /* values checked at once */
    EXPECT_ERR(otlpmetric_config_set_tls(cfg, "/nonexistent/otlpmetric-test/ca.pem", NULL, NULL),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_endpoint(cfg, "not a url"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_add_header(cfg, "bad\nname", "v"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    /* header values are secrets: a refused one is not echoed */
    EXPECT_ERR(otlpmetric_config_add_header(cfg, "authorization", "Bearer s3cr3t-value\r\nx: y"),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    if (strstr(g_err, "s3cr3t")) FAILF("a header value appears in last_error: \"%s\"", g_err);

    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    otlpmetric_config_free(cfg); /* the config may be freed while the exporter lives */
    cfg = NULL;
    EXPECT_OK(otlpmetric_exporter_shutdown(ex, 5000));
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Tests: bytes that do not decode
 * ------------------------------------------------------------------------- */

/* A ResourceMetrics with a string that is not UTF-8: where 0, a resource
   attribute key; where 1, a metric name. */
/* Proxy and Unix socket settings: NULL means the default, bad values are refused with a
 * message that never shows the proxy's password. */
static int test_network_setters(void) {
    int rc = FAIL;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL, *untouched;
    char sentinel = 0;
    char long_path[160];
    cfg = otlpmetric_config_new();
    CHECK(cfg != NULL);

    EXPECT_OK(otlpmetric_config_set_proxy(cfg, "http://127.0.0.1:3128"));
    EXPECT_OK(otlpmetric_config_set_proxy(cfg, "proxy.example:3128")); /* no scheme: http */
    EXPECT_OK(otlpmetric_config_set_proxy(cfg, "http://user:pa%40ss@[::1]:3128"));
    EXPECT_OK(otlpmetric_config_set_proxy(cfg, ""));   /* none */
    EXPECT_OK(otlpmetric_config_set_proxy(cfg, NULL)); /* from the environment */
    EXPECT_ERR(otlpmetric_config_set_proxy(cfg, "socks5://user:pr0xy-pw@127.0.0.1:1080"),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    if (strstr(g_err, "pr0xy-pw")) FAILF("a proxy password appears in last_error: \"%s\"", g_err);
    if (!strstr(g_err, "socks5")) FAILF("last_error does not say what is wrong: \"%s\"", g_err);
    EXPECT_ERR(otlpmetric_config_set_proxy(cfg, "https://user:pr0xy-pw@127.0.0.1:3128"),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    if (strstr(g_err, "pr0xy-pw")) FAILF("a proxy password appears in last_error: \"%s\"", g_err);
    EXPECT_ERR(otlpmetric_config_set_proxy(cfg, "http://user:pr0xy-pw@127.0.0.1:99999"),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    if (strstr(g_err, "pr0xy-pw")) FAILF("a proxy password appears in last_error: \"%s\"", g_err);
    EXPECT_ERR(otlpmetric_config_set_proxy(cfg, "not a url"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_proxy(cfg, "http://proxy\xff:3128"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    if (!strstr(g_err, "UTF-8")) FAILF("last_error does not name the encoding: \"%s\"", g_err);

    EXPECT_OK(otlpmetric_config_set_unix_socket(cfg, "/run/otel/otlp.sock"));
    EXPECT_OK(otlpmetric_config_set_unix_socket(cfg, NULL)); /* TCP */
    EXPECT_ERR(otlpmetric_config_set_unix_socket(cfg, ""), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_unix_socket(cfg, "/run/\xff.sock"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = 0;
    EXPECT_ERR(otlpmetric_config_set_unix_socket(cfg, long_path), OTLPMETRIC_ERR_INVALID_ARGUMENT);

    /* gRPC's unix: endpoints: accepted when set, refused at create for OTLP/HTTP */
    EXPECT_OK(otlpmetric_config_set_endpoint(cfg, "unix:///run/otel/otlp.sock"));
    EXPECT_ERR(otlpmetric_config_set_endpoint(cfg, "unix://host/otlp.sock"), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_OK(otlpmetric_config_set_protocol(cfg, OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF));
    untouched = (otlpmetric_exporter *)(void *)&sentinel;
    EXPECT_ERR(otlpmetric_exporter_new(cfg, &untouched), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(untouched == (otlpmetric_exporter *)(void *)&sentinel);
    if (!strstr(g_err, "set_unix_socket")) FAILF("last_error does not say what to use: \"%s\"", g_err);
    EXPECT_OK(otlpmetric_config_set_protocol(cfg, OTLPMETRIC_PROTOCOL_GRPC));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    EXPECT_OK(otlpmetric_exporter_shutdown(ex, 5000));
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    return rc;
}

static int build_rm_bad_utf8(pb_buf *b, int where) {
    size_t r, sm, m, g;
    if (where == 0) {
        r = pb_begin(b, OTLP_RESOURCE_METRICS_RESOURCE);
        otlp_kv_string(b, OTLP_RESOURCE_ATTRIBUTES, "bad\xc3\x28key", "v");
        pb_end(b, r);
    } else {
        sm = otlp_scope_metrics_begin(b, "scope", "1");
        m = otlp_metric_begin(b, "bad.\xff\xfe.name", NULL, NULL);
        g = otlp_gauge_begin(b);
        otlp_double_point(b, NULL, 0, 0, T0, 1.0);
        pb_end(b, g);
        pb_end(b, m);
        pb_end(b, sm);
    }
    return b->failed ? -1 : 0;
}

static int test_decode_errors(void) {
    static const uint8_t ff3[] = {0xff, 0xff, 0xff};
    static const uint8_t wrong_wire_type[] = {0x08, 0x01};       /* field 1 (resource) as a varint */
    static const uint8_t field_zero[] = {0x00, 0x00};            /* field number 0 */
    static const uint8_t long_len[] = {0x12, 0x7f, 0x0a, 0x00};  /* scope_metrics claims 127 bytes, has 2 */
    int rc = FAIL;
    const char *http = env_nonempty("OTLPM_TEST_HTTP_ENDPOINT");
    otlpmetric_exporter *ex = NULL;
    otlpmetric_stats stats;
    pb_buf good = PB_BUF_INIT, bad1 = PB_BUF_INIT, bad2 = PB_BUF_INIT, req = PB_BUF_INIT;

    /* with a receiver, the harness also sees that nothing arrived */
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http ? http : NOWHERE, false);
    CHECK(ex != NULL);
    CHECK(build_sample_rm(&good, g_test_name, 1) == 0);
    CHECK(build_rm_bad_utf8(&bad1, 0) == 0);
    CHECK(build_rm_bad_utf8(&bad2, 1) == 0);

    EXPECT_ERR(otlpmetric_exporter_upload(ex, ff3, sizeof ff3, 1000), OTLPMETRIC_ERR_DECODE);
    EXPECT_ERR(otlpmetric_exporter_upload(ex, wrong_wire_type, sizeof wrong_wire_type, 1000), OTLPMETRIC_ERR_DECODE);
    EXPECT_ERR(otlpmetric_exporter_upload(ex, field_zero, sizeof field_zero, 1000), OTLPMETRIC_ERR_DECODE);
    EXPECT_ERR(otlpmetric_exporter_upload(ex, long_len, sizeof long_len, 1000), OTLPMETRIC_ERR_DECODE);
    EXPECT_ERR(otlpmetric_exporter_upload(ex, good.data, good.len - 3, 1000), OTLPMETRIC_ERR_DECODE); /* truncated */
    EXPECT_ERR(otlpmetric_exporter_upload(ex, good.data, good.len / 2, 1000), OTLPMETRIC_ERR_DECODE);
    EXPECT_ERR(otlpmetric_exporter_upload(ex, bad1.data, bad1.len, 1000), OTLPMETRIC_ERR_DECODE); /* key not UTF-8 */
    EXPECT_ERR(otlpmetric_exporter_upload(ex, bad2.data, bad2.len, 1000), OTLPMETRIC_ERR_DECODE); /* name not UTF-8 */

    EXPECT_ERR(otlpmetric_exporter_upload_request(ex, ff3, sizeof ff3, 1000), OTLPMETRIC_ERR_DECODE);
    EXPECT_ERR(otlpmetric_exporter_upload_request(ex, wrong_wire_type, sizeof wrong_wire_type, 1000),
               OTLPMETRIC_ERR_DECODE);
    CHECK(otlp_wrap_export_request(&req, good.data, good.len) == 0);
    EXPECT_ERR(otlpmetric_exporter_upload_request(ex, req.data, req.len - 1, 1000), OTLPMETRIC_ERR_DECODE);
    req.len = 0;
    CHECK(otlp_wrap_export_request(&req, good.data, good.len) == 0);
    otlp_request_add_resource_metrics(&req, bad1.data, bad1.len); /* one good, one bad: nothing is sent */
    CHECK(!req.failed);
    EXPECT_ERR(otlpmetric_exporter_upload_request(ex, req.data, req.len, 1000), OTLPMETRIC_ERR_DECODE);

    EXPECT_ERR(otlpmetric_exporter_enqueue(ex, ff3, sizeof ff3), OTLPMETRIC_ERR_DECODE);
    EXPECT_ERR(otlpmetric_exporter_enqueue(ex, bad2.data, bad2.len), OTLPMETRIC_ERR_DECODE);

    EXPECT_OK(otlpmetric_exporter_force_flush(ex, 5000));
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.requests_sent == 0);
    CHECK(stats.bytes_sent == 0);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    pb_buf_free(&good);
    pb_buf_free(&bad1);
    pb_buf_free(&bad2);
    pb_buf_free(&req);
    return rc;
}

static int test_json_errors(void) {
    static const char multi_line[] = "{\n  \"resourceMetrics\": [\n    {\"resource\": }\n  ]\n}\n";
    static const char truncated[] = "{\"resourceMetrics\":[{\"scopeMetrics\":[";
    static const char wrong_type[] = "{\"resourceMetrics\":5}";
    static const char bad_utf8[] = "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":\"k\xff\","
                                   "\"value\":{\"stringValue\":\"v\"}}]}}]}";
    int rc = FAIL;
    const char *http = env_nonempty("OTLPM_TEST_HTTP_ENDPOINT");
    otlpmetric_exporter *ex = NULL;
    otlpmetric_stats stats;
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http ? http : NOWHERE, false);
    CHECK(ex != NULL);

    /* the error is on line 3: the message says where */
    EXPECT_ERR(otlpmetric_exporter_upload_json(ex, multi_line, strlen(multi_line), 1000), OTLPMETRIC_ERR_DECODE);
    if (!ci_contains(g_err, "line") || !ci_contains(g_err, "column"))
        FAILF("malformed JSON: last_error \"%s\" does not give a line and column", g_err);
    if (!strstr(g_err, "3")) FAILF("malformed JSON on line 3: last_error \"%s\" does not say 3", g_err);

    EXPECT_ERR(otlpmetric_exporter_upload_json(ex, truncated, strlen(truncated), 1000), OTLPMETRIC_ERR_DECODE);
    EXPECT_ERR(otlpmetric_exporter_upload_json(ex, wrong_type, strlen(wrong_type), 1000), OTLPMETRIC_ERR_DECODE);
    EXPECT_ERR(otlpmetric_exporter_upload_json(ex, bad_utf8, strlen(bad_utf8), 1000), OTLPMETRIC_ERR_DECODE);
    EXPECT_ERR(otlpmetric_exporter_upload_json(ex, "", 0, 1000), OTLPMETRIC_ERR_DECODE);
    /* len is honoured: a valid prefix of a longer buffer is what counts */
    EXPECT_ERR(otlpmetric_exporter_upload_json(ex, "{\"resourceMetrics\":[]}", 5, 1000), OTLPMETRIC_ERR_DECODE);

    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.requests_sent == 0);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    return rc;
}

/* Unknown fields are valid: checked against the hang endpoint, where a message
   that decodes times out and one that does not gets ERR_DECODE at once. */
static int test_unknown_fields_are_valid(void) {
    int rc = FAIL;
    const char *hang;
    otlpmetric_exporter *ex = NULL;
    pb_buf rm = PB_BUF_INIT;
    size_t sm, m, g;
    NEED_ENV(hang, "OTLPM_TEST_HANG_ENDPOINT");
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, hang, false);
    CHECK(ex != NULL);
    otlp_resource(&rm, NULL, 0);
    pb_field_varint(&rm, 99, 12345);          /* unknown varint */
    pb_field_string(&rm, 98, "unknown");      /* unknown length-delimited */
    pb_put_tag(&rm, 97, PB_WT_I32);           /* unknown fixed32 */
    pb_put_raw(&rm, "\x01\x02\x03\x04", 4);
    sm = otlp_scope_metrics_begin(&rm, "scope", "1");
    m = otlp_metric_begin(&rm, "with.unknown", NULL, NULL);
    pb_field_fixed64(&rm, 77, 5);             /* unknown fixed64 inside a Metric */
    g = otlp_gauge_begin(&rm);
    otlp_double_point(&rm, NULL, 0, 0, T0, 1.0);
    pb_end(&rm, g);
    pb_end(&rm, m);
    pb_end(&rm, sm);
    CHECK(!rm.failed);
    EXPECT_ERR(otlpmetric_exporter_upload(ex, rm.data, rm.len, 200), OTLPMETRIC_ERR_TIMEOUT);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    pb_buf_free(&rm);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Tests: round trips
 * ------------------------------------------------------------------------- */

static int roundtrip(otlpmetric_protocol protocol, const char *endpoint, const char *receiver,
                     otlpmetric_compression compression) {
    int rc = FAIL;
    const char *comp = compression == OTLPMETRIC_COMPRESSION_GZIP   ? "gzip"
                       : compression == OTLPMETRIC_COMPRESSION_ZSTD ? "zstd"
                                                                    : "none";
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_stats stats;
    pb_buf rm1 = PB_BUF_INIT, rm2 = PB_BUF_INIT, rm3 = PB_BUF_INIT, req = PB_BUF_INIT;
    uint64_t bytes = 0;

    cfg = make_config(protocol, endpoint, true);
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_compression(cfg, compression));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.requests_sent == 0 && stats.requests_failed == 0 && stats.bytes_sent == 0 && stats.retries == 0);

    /* upload: one ResourceMetrics */
    CHECK(build_sample_rm(&rm1, g_test_name, 1) == 0);
    EXPECT_OK(otlpmetric_exporter_upload(ex, rm1.data, rm1.len, good_timeout()));
    CHECK(record_rm(receiver, comp, rm1.data, rm1.len) == 0);
    bytes += wrapped_size(rm1.len);

    /* upload_request: a request with two ResourceMetrics, built here */
    CHECK(build_sample_rm(&rm2, g_test_name, 2) == 0);
    CHECK(build_sample_rm(&rm3, g_test_name, 3) == 0);
    otlp_request_add_resource_metrics(&req, rm2.data, rm2.len);
    otlp_request_add_resource_metrics(&req, rm3.data, rm3.len);
    CHECK(!req.failed);
    EXPECT_OK(otlpmetric_exporter_upload_request(ex, req.data, req.len, good_timeout()));
    CHECK(record_request(receiver, comp, req.data, req.len) == 0);
    bytes += req.len;

    /* a call timeout of 0 means the configured timeout */
    EXPECT_OK(otlpmetric_exporter_upload(ex, rm3.data, rm3.len, 0));
    CHECK(record_rm(receiver, comp, rm3.data, rm3.len) == 0);
    bytes += wrapped_size(rm3.len);

    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.requests_sent == 3);
    CHECK(stats.requests_failed == 0);
    if (stats.bytes_sent != bytes)
        FAILF("stats.bytes_sent = %llu, expected %llu (protobuf bytes before compression)",
              (unsigned long long)stats.bytes_sent, (unsigned long long)bytes);
    CHECK(stats.queue_bytes == 0);

    EXPECT_OK(otlpmetric_exporter_force_flush(ex, good_timeout()));
    EXPECT_OK(otlpmetric_exporter_shutdown(ex, good_timeout()));
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    pb_buf_free(&rm1);
    pb_buf_free(&rm2);
    pb_buf_free(&rm3);
    pb_buf_free(&req);
    return rc;
}

static int test_roundtrip_grpc(void) {
    int rc = FAIL;
    const char *ep;
    NEED_ENV(ep, "OTLPM_TEST_GRPC_ENDPOINT");
    rc = roundtrip(OTLPMETRIC_PROTOCOL_GRPC, ep, "grpc", OTLPMETRIC_COMPRESSION_NONE);
done:
    return rc;
}

static int test_roundtrip_http(void) {
    int rc = FAIL;
    const char *ep;
    NEED_ENV(ep, "OTLPM_TEST_HTTP_ENDPOINT");
    rc = roundtrip(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, ep, "http", OTLPMETRIC_COMPRESSION_NONE);
done:
    return rc;
}

static int test_roundtrip_grpc_gzip(void) {
    int rc = FAIL;
    const char *ep;
    NEED_ENV(ep, "OTLPM_TEST_GRPC_ENDPOINT");
    rc = roundtrip(OTLPMETRIC_PROTOCOL_GRPC, ep, "grpc", OTLPMETRIC_COMPRESSION_GZIP);
done:
    return rc;
}

static int test_roundtrip_http_gzip(void) {
    int rc = FAIL;
    const char *ep;
    NEED_ENV(ep, "OTLPM_TEST_HTTP_ENDPOINT");
    rc = roundtrip(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, ep, "http", OTLPMETRIC_COMPRESSION_GZIP);
done:
    return rc;
}

static int test_roundtrip_grpc_zstd(void) {
    int rc = FAIL;
    const char *ep;
    NEED_ENV(ep, "OTLPM_TEST_GRPC_ENDPOINT");
    rc = roundtrip(OTLPMETRIC_PROTOCOL_GRPC, ep, "grpc", OTLPMETRIC_COMPRESSION_ZSTD);
done:
    return rc;
}

static int test_roundtrip_http_zstd(void) {
    int rc = FAIL;
    const char *ep;
    NEED_ENV(ep, "OTLPM_TEST_HTTP_ENDPOINT");
    rc = roundtrip(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, ep, "http", OTLPMETRIC_COMPRESSION_ZSTD);
done:
    return rc;
}

static int upload_json_to(otlpmetric_protocol protocol, const char *endpoint, const char *receiver) {
    int rc = FAIL;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_stats stats;
    char json[4096];
    int n;
    pb_buf want = PB_BUF_INIT;
    ex = make_exporter(protocol, endpoint, true);
    CHECK(ex != NULL);
    n = build_sample_json(json, sizeof json, g_test_name);
    CHECK(n > 0);
    CHECK(build_sample_json_as_pb(&want, g_test_name) == 0);
    EXPECT_OK(otlpmetric_exporter_upload_json(ex, json, (size_t)n, good_timeout()));
    CHECK(record_request(receiver, "none", want.data, want.len) == 0);
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.requests_sent == 1);
    if (stats.bytes_sent != want.len)
        FAILF("the JSON request went out as %llu protobuf bytes, expected %zu", (unsigned long long)stats.bytes_sent,
              want.len);
    EXPECT_OK(otlpmetric_exporter_shutdown(ex, good_timeout()));
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    pb_buf_free(&want);
    return rc;
}

static int test_upload_json_grpc(void) {
    int rc = FAIL;
    const char *ep;
    NEED_ENV(ep, "OTLPM_TEST_GRPC_ENDPOINT");
    rc = upload_json_to(OTLPMETRIC_PROTOCOL_GRPC, ep, "grpc");
done:
    return rc;
}

static int test_upload_json_http(void) {
    int rc = FAIL;
    const char *ep;
    NEED_ENV(ep, "OTLPM_TEST_HTTP_ENDPOINT");
    rc = upload_json_to(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, ep, "http");
done:
    return rc;
}

/* Several threads upload on one exporter at once. */
typedef struct upload_job {
    otlpmetric_exporter *ex;
    pb_buf rm[3];
    otlpmetric_status st[3];
    char err[3][256];
    int built;
} upload_job;

static void *upload_thread(void *arg) {
    upload_job *j = (upload_job *)arg;
    int i;
    for (i = 0; i < 3; i++) {
        j->st[i] = otlpmetric_exporter_upload(j->ex, j->rm[i].data, j->rm[i].len, good_timeout());
        snprintf(j->err[i], sizeof j->err[i], "%s", otlpmetric_last_error());
    }
    return NULL;
}

static int test_concurrent_uploads(void) {
    enum { THREADS = 4 };
    int rc = FAIL;
    const char *http;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_stats stats;
    upload_job jobs[THREADS];
    pthread_t th[THREADS];
    int started = 0, t, i, ok = 0;
    char tag[64];
    memset(jobs, 0, sizeof jobs);
    NEED_ENV(http, "OTLPM_TEST_HTTP_ENDPOINT");
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http, true);
    CHECK(ex != NULL);
    for (t = 0; t < THREADS; t++) {
        jobs[t].ex = ex;
        snprintf(tag, sizeof tag, "%s/thread-%d", g_test_name, t);
        for (i = 0; i < 3; i++) CHECK(build_sample_rm(&jobs[t].rm[i], tag, i) == 0);
    }
    for (t = 0; t < THREADS; t++) {
        if (pthread_create(&th[t], NULL, upload_thread, &jobs[t]) != 0) break;
        started++;
    }
    for (t = 0; t < started; t++) pthread_join(th[t], NULL);
    CHECK(started == THREADS);
    for (t = 0; t < THREADS; t++) {
        for (i = 0; i < 3; i++) {
            if (jobs[t].st[i] == OTLPMETRIC_OK) {
                ok++;
                CHECK(record_rm("http", "none", jobs[t].rm[i].data, jobs[t].rm[i].len) == 0);
            } else {
                report_failure(__LINE__, "thread %d upload %d: status %d: %s", t, i, (int)jobs[t].st[i], jobs[t].err[i]);
            }
        }
    }
    CHECK(ok == THREADS * 3);
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.requests_sent == (uint64_t)THREADS * 3);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    for (t = 0; t < THREADS; t++)
        for (i = 0; i < 3; i++) pb_buf_free(&jobs[t].rm[i]);
    return rc;
}

/* enqueue + force_flush: delivered in the background, counted in stats. */
static int test_enqueue_then_flush(void) {
    int rc = FAIL;
    const char *http;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_stats stats;
    pb_buf rm = PB_BUF_INIT;
    NEED_ENV(http, "OTLPM_TEST_HTTP_ENDPOINT");
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http, true);
    CHECK(ex != NULL);
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);
    EXPECT_OK(otlpmetric_exporter_enqueue(ex, rm.data, rm.len));
    EXPECT_OK(otlpmetric_exporter_force_flush(ex, good_timeout()));
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    if (stats.requests_sent == 1) CHECK(record_rm("http", "none", rm.data, rm.len) == 0);
    CHECK(stats.requests_sent == 1);
    CHECK(stats.bytes_sent == wrapped_size(rm.len));
    CHECK(stats.queue_bytes == 0);
    CHECK(stats.queue_dropped == 0);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    pb_buf_free(&rm);
    return rc;
}

/* A queue smaller than the data refuses it at once, and counts it. */
static int test_queue_full(void) {
    int rc = FAIL;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_stats stats;
    pb_buf rm = PB_BUF_INIT;
    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_queue(cfg, 16));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);
    CHECK(rm.len > 16);
    EXPECT_ERR(otlpmetric_exporter_enqueue(ex, rm.data, rm.len), OTLPMETRIC_ERR_QUEUE_FULL);
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.queue_dropped == 1);
    CHECK(stats.queue_bytes == 0);
    CHECK(stats.requests_sent == 0);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    pb_buf_free(&rm);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Tests: flush and shutdown
 * ------------------------------------------------------------------------- */

static int test_shutdown_lifecycle(void) {
    int rc = FAIL;
    const char *http = env_nonempty("OTLPM_TEST_HTTP_ENDPOINT");
    otlpmetric_exporter *ex = NULL;
    otlpmetric_aggregation agg;
    otlpmetric_stats stats;
    pb_buf rm = PB_BUF_INIT;
    char json[4096];
    int n;
    double t0;
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http ? http : NOWHERE, false);
    CHECK(ex != NULL);
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);
    n = build_sample_json(json, sizeof json, g_test_name);
    CHECK(n > 0);
    if (http) {
        EXPECT_OK(otlpmetric_exporter_upload(ex, rm.data, rm.len, good_timeout()));
        CHECK(record_rm("http", "none", rm.data, rm.len) == 0);
    }
    EXPECT_OK(otlpmetric_exporter_force_flush(ex, 5000));
    EXPECT_OK(otlpmetric_exporter_force_flush(ex, 0));

    t0 = now_ms();
    EXPECT_OK(otlpmetric_exporter_shutdown(ex, 5000));
    if (now_ms() - t0 > within(5000)) FAILF("shutdown took %.0f ms", now_ms() - t0);

    /* it acts once */
    EXPECT_ERR(otlpmetric_exporter_upload(ex, rm.data, rm.len, 1000), OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_ERR(otlpmetric_exporter_upload_request(ex, (const uint8_t *)"\x0a\x00", 2, 1000), OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_ERR(otlpmetric_exporter_upload_json(ex, json, (size_t)n, 1000), OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_ERR(otlpmetric_exporter_enqueue(ex, rm.data, rm.len), OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_ERR(otlpmetric_exporter_force_flush(ex, 1000), OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_ERR(otlpmetric_exporter_shutdown(ex, 1000), OTLPMETRIC_ERR_SHUTDOWN);

    /* the selectors and stats still answer */
    CHECK(otlpmetric_exporter_temporality(ex, OTLPMETRIC_INSTRUMENT_COUNTER) == OTLPMETRIC_TEMPORALITY_CUMULATIVE);
    EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_HISTOGRAM, &agg));
    CHECK(agg.kind == OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM);
    CHECK(agg.boundaries_len == 15 && agg.boundaries != NULL && agg.boundaries[14] == 10000.0);
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.requests_sent == (http ? 1u : 0u));
    rc = PASS;
done:
    otlpmetric_exporter_free(ex); /* free after shutdown */
    pb_buf_free(&rm);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Tests: deadlines
 * ------------------------------------------------------------------------- */

static int test_deadline_upload_hang(void) {
    int rc = FAIL;
    const char *hang;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    pb_buf rm = PB_BUF_INIT, req = PB_BUF_INIT;
    char json[4096];
    int n;
    double t0, dt;
    NEED_ENV(hang, "OTLPM_TEST_HANG_ENDPOINT");
    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, hang, false); /* retry disabled */
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_timeout_ms(cfg, 300)); /* used when the call passes 0 */
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);
    CHECK(otlp_wrap_export_request(&req, rm.data, rm.len) == 0);
    n = build_sample_json(json, sizeof json, g_test_name);
    CHECK(n > 0);

    t0 = now_ms();
    EXPECT_ERR(otlpmetric_exporter_upload(ex, rm.data, rm.len, 300), OTLPMETRIC_ERR_TIMEOUT);
    dt = now_ms() - t0;
    if (dt < 250 || dt > within(1000)) FAILF("upload(timeout 300 ms) returned after %.0f ms", dt);

    t0 = now_ms();
    EXPECT_ERR(otlpmetric_exporter_upload(ex, rm.data, rm.len, 0), OTLPMETRIC_ERR_TIMEOUT);
    dt = now_ms() - t0;
    if (dt < 250 || dt > within(1000)) FAILF("upload(0 = configured 300 ms) returned after %.0f ms", dt);

    t0 = now_ms();
    EXPECT_ERR(otlpmetric_exporter_upload_request(ex, req.data, req.len, 200), OTLPMETRIC_ERR_TIMEOUT);
    dt = now_ms() - t0;
    if (dt < 150 || dt > within(1000)) FAILF("upload_request(timeout 200 ms) returned after %.0f ms", dt);

    t0 = now_ms();
    EXPECT_ERR(otlpmetric_exporter_upload_json(ex, json, (size_t)n, 200), OTLPMETRIC_ERR_TIMEOUT);
    dt = now_ms() - t0;
    if (dt < 150 || dt > within(1000)) FAILF("upload_json(timeout 200 ms) returned after %.0f ms", dt);

    /* free shuts down within the configured export timeout (300 ms) */
    t0 = now_ms();
    otlpmetric_exporter_free(ex);
    ex = NULL;
    dt = now_ms() - t0;
    if (dt > within(1500)) FAILF("exporter_free took %.0f ms", dt);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    pb_buf_free(&rm);
    pb_buf_free(&req);
    return rc;
}

typedef struct hang_job {
    otlpmetric_exporter *ex;
    const uint8_t *data;
    size_t len;
    uint32_t timeout_ms;
    pthread_mutex_t mu;
    int started;
    otlpmetric_status st;
    double elapsed_ms;
    char err[512];
} hang_job;

static void *hang_upload_thread(void *arg) {
    hang_job *j = (hang_job *)arg;
    double t0;
    pthread_mutex_lock(&j->mu);
    j->started = 1;
    pthread_mutex_unlock(&j->mu);
    t0 = now_ms();
    j->st = otlpmetric_exporter_upload(j->ex, j->data, j->len, j->timeout_ms);
    snprintf(j->err, sizeof j->err, "%s", otlpmetric_last_error());
    j->elapsed_ms = now_ms() - t0;
    return NULL;
}

static int test_shutdown_races_hanging_upload(void) {
    int rc = FAIL;
    const char *hang;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    pb_buf rm = PB_BUF_INIT;
    hang_job job;
    pthread_t th;
    int joined = 1, started = 0;
    double t0, dt;
    memset(&job, 0, sizeof job);
    pthread_mutex_init(&job.mu, NULL);
    NEED_ENV(hang, "OTLPM_TEST_HANG_ENDPOINT");
    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, hang, false);
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_timeout_ms(cfg, 2000));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);

    job.ex = ex;
    job.data = rm.data;
    job.len = rm.len;
    job.timeout_ms = 3000;
    CHECK(pthread_create(&th, NULL, hang_upload_thread, &job) == 0);
    joined = 0;
    while (!started) {
        pthread_mutex_lock(&job.mu);
        started = job.started;
        pthread_mutex_unlock(&job.mu);
        if (!started) sleep_ms(5);
    }
    sleep_ms((long)within(200)); /* let the upload reach the receiver */

    t0 = now_ms();
    EXPECT_ERR(otlpmetric_exporter_shutdown(ex, 200), OTLPMETRIC_ERR_TIMEOUT);
    dt = now_ms() - t0;
    if (dt > within(1000)) FAILF("shutdown(200 ms) returned after %.0f ms", dt);
    /* ... and the exporter is shut down all the same */
    EXPECT_ERR(otlpmetric_exporter_upload(ex, rm.data, rm.len, 100), OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_ERR(otlpmetric_exporter_force_flush(ex, 100), OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_ERR(otlpmetric_exporter_shutdown(ex, 100), OTLPMETRIC_ERR_SHUTDOWN);

    pthread_join(th, NULL);
    joined = 1;
    if (job.st == OTLPMETRIC_OK) FAILF("the hanging upload returned OK");
    if (job.err[0] == '\0') FAILF("the hanging upload (status %d) left last_error empty", (int)job.st);
    if (job.elapsed_ms > 3000 + within(1000))
        FAILF("the hanging upload returned after %.0f ms (timeout 3000)", job.elapsed_ms);

    t0 = now_ms();
    otlpmetric_exporter_free(ex);
    ex = NULL;
    dt = now_ms() - t0;
    if (dt > within(2500)) FAILF("exporter_free after shutdown took %.0f ms", dt);
    rc = PASS;
done:
    if (!joined) pthread_join(th, NULL);
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    pb_buf_free(&rm);
    pthread_mutex_destroy(&job.mu);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Tests: cancellation
 * ------------------------------------------------------------------------- */

typedef struct cancel_job {
    otlpmetric_exporter *ex;
    const otlpmetric_cancel *cancel;
    const uint8_t *data; /* NULL: force_flush_cancellable instead of upload_cancellable */
    size_t len;
    otlpmetric_status st;
    double returned_at;
    char err[512];
} cancel_job;

static void *cancel_job_thread(void *arg) {
    cancel_job *j = (cancel_job *)arg;
    if (j->data)
        j->st = otlpmetric_exporter_upload_cancellable(j->ex, j->data, j->len, 10000, j->cancel);
    else
        j->st = otlpmetric_exporter_force_flush_cancellable(j->ex, 10000, j->cancel);
    snprintf(j->err, sizeof j->err, "%s", otlpmetric_last_error());
    j->returned_at = now_ms();
    return NULL;
}

/* Starts `job` on a thread, triggers `cancel` once the call waits, and checks that it
   returned ERR_CANCELLED promptly after the trigger. */
static int expect_prompt_cancel(cancel_job *job, otlpmetric_cancel *cancel, const char *what) {
    int rc = FAIL;
    pthread_t th;
    double triggered_at;
    job->cancel = cancel;
    CHECK(pthread_create(&th, NULL, cancel_job_thread, job) == 0);
    sleep_ms((long)within(200)); /* let the call reach the receiver */
    triggered_at = now_ms();
    otlpmetric_cancel_trigger(cancel);
    pthread_join(th, NULL);
    if (job->st != OTLPMETRIC_ERR_CANCELLED)
        FAILF("%s returned %s, expected OTLPMETRIC_ERR_CANCELLED (%s)", what, status_name(job->st), job->err);
    if (job->err[0] == '\0') FAILF("%s: last_error is empty", what);
    if (job->returned_at - triggered_at > within(100))
        FAILF("%s returned %.1f ms after the trigger", what, job->returned_at - triggered_at);
    rc = PASS;
done:
    return rc;
}

static int test_cancel_hanging_upload(void) {
    const char *vars[2] = {"OTLPM_TEST_HANG_ENDPOINT", "OTLPM_TEST_GRPC_HANG_ENDPOINT"};
    const otlpmetric_protocol protocols[2] = {OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, OTLPMETRIC_PROTOCOL_GRPC};
    int rc = FAIL;
    int i;
    const char *hang;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_cancel *cancel = NULL;
    pb_buf rm = PB_BUF_INIT;
    cancel_job job;
    otlpmetric_stats stats;
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);
    for (i = 0; i < 2; i++) {
        NEED_ENV(hang, vars[i]);
        ex = make_exporter(protocols[i], hang, true);
        CHECK(ex != NULL);
        EXPECT_OK(otlpmetric_cancel_new(&cancel));
        memset(&job, 0, sizeof job);
        job.ex = ex;
        job.data = rm.data;
        job.len = rm.len;
        if (expect_prompt_cancel(&job, cancel, vars[i]) != PASS) goto done;
        /* triggered stays triggered: the next call returns at once */
        EXPECT_ERR(otlpmetric_exporter_upload_cancellable(ex, rm.data, rm.len, 10000, cancel),
                   OTLPMETRIC_ERR_CANCELLED);
        otlpmetric_cancel_trigger(cancel);
        EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
        CHECK(stats.requests_failed == 1);
        otlpmetric_cancel_free(cancel);
        cancel = NULL;
        otlpmetric_exporter_free(ex);
        ex = NULL;
    }
    rc = PASS;
done:
    otlpmetric_cancel_free(cancel);
    otlpmetric_exporter_free(ex);
    pb_buf_free(&rm);
    return rc;
}

static int test_cancel_flush_waiting_for_hung_upload(void) {
    int rc = FAIL;
    const char *hang;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_cancel *cancel = NULL;
    pb_buf rm = PB_BUF_INIT;
    cancel_job upload, flush;
    pthread_t th;
    int joined = 1;
    memset(&upload, 0, sizeof upload);
    memset(&flush, 0, sizeof flush);
    NEED_ENV(hang, "OTLPM_TEST_HANG_ENDPOINT");
    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, hang, false);
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_timeout_ms(cfg, 2000));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);
    EXPECT_OK(otlpmetric_cancel_new(&cancel));
    /* an upload nobody cancels (NULL handle), ended by the exporter's free */
    upload.ex = ex;
    upload.data = rm.data;
    upload.len = rm.len;
    CHECK(pthread_create(&th, NULL, cancel_job_thread, &upload) == 0);
    joined = 0;
    sleep_ms((long)within(100));
    flush.ex = ex;
    if (expect_prompt_cancel(&flush, cancel, "force_flush_cancellable") != PASS) goto done;
    EXPECT_ERR(otlpmetric_exporter_force_flush_cancellable(ex, 10000, cancel), OTLPMETRIC_ERR_CANCELLED);
    EXPECT_ERR(otlpmetric_exporter_shutdown(ex, 100), OTLPMETRIC_ERR_TIMEOUT);
    pthread_join(th, NULL);
    joined = 1;
    if (upload.st == OTLPMETRIC_OK || upload.st == OTLPMETRIC_ERR_CANCELLED)
        FAILF("the upload without a handle returned %s", status_name(upload.st));
    rc = PASS;
done:
    if (!joined) pthread_join(th, NULL);
    otlpmetric_cancel_free(cancel);
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    pb_buf_free(&rm);
    return rc;
}

static otlpmetric_cancel *volatile g_signal_cancel;

static void trigger_on_signal(int sig) {
    (void)sig;
    otlpmetric_cancel_trigger(g_signal_cancel);
}

/* A handle triggered before the call (here from a signal handler) makes it return at
   once and send nothing; a NULL handle is an ordinary upload. */
static int test_cancel_before_the_call_and_null_handle(void) {
    int rc = FAIL;
    const char *http;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_cancel *cancel = NULL;
    pb_buf rm = PB_BUF_INIT;
    otlpmetric_stats stats;
    struct sigaction action, previous;
    int installed = 0;
    double t0;
    NEED_ENV(http, "OTLPM_TEST_HTTP_ENDPOINT");
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http, true);
    CHECK(ex != NULL);
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);
    EXPECT_OK(otlpmetric_cancel_new(&cancel));

    g_signal_cancel = cancel;
    memset(&action, 0, sizeof action);
    action.sa_handler = trigger_on_signal;
    sigemptyset(&action.sa_mask);
    CHECK(sigaction(SIGUSR1, &action, &previous) == 0);
    installed = 1;
    CHECK(raise(SIGUSR1) == 0);

    t0 = now_ms();
    EXPECT_ERR(otlpmetric_exporter_upload_cancellable(ex, rm.data, rm.len, 10000, cancel), OTLPMETRIC_ERR_CANCELLED);
    EXPECT_ERR(otlpmetric_exporter_force_flush_cancellable(ex, 10000, cancel), OTLPMETRIC_ERR_CANCELLED);
    if (now_ms() - t0 > within(50)) FAILF("pre-triggered calls took %.1f ms", now_ms() - t0);
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.requests_sent == 0);

    EXPECT_OK(otlpmetric_exporter_upload_cancellable(ex, rm.data, rm.len, good_timeout(), NULL));
    CHECK(record_rm("http", "none", rm.data, rm.len) == 0);
    EXPECT_OK(otlpmetric_exporter_force_flush_cancellable(ex, good_timeout(), NULL));
    rc = PASS;
done:
    if (installed) sigaction(SIGUSR1, &previous, NULL);
    g_signal_cancel = NULL;
    otlpmetric_cancel_free(cancel);
    otlpmetric_exporter_free(ex);
    pb_buf_free(&rm);
    return rc;
}

static int test_cancel_bad_inputs(void) {
    int rc = FAIL;
    otlpmetric_cancel *cancel = NULL;
    static const uint8_t byte = 0;
    EXPECT_ERR(otlpmetric_cancel_new(NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_OK(otlpmetric_cancel_new(&cancel));
    EXPECT_ERR(otlpmetric_exporter_upload_cancellable(NULL, &byte, 0, 0, cancel), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(g_err, "exporter is NULL") != NULL);
    EXPECT_ERR(otlpmetric_exporter_force_flush_cancellable(NULL, 0, cancel), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    otlpmetric_cancel_trigger(NULL); /* fine */
    otlpmetric_cancel_free(NULL);    /* fine */
    otlpmetric_cancel_trigger(cancel);
    otlpmetric_cancel_trigger(cancel);
    rc = PASS;
done:
    otlpmetric_cancel_free(cancel);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Tests: header callback
 * ------------------------------------------------------------------------- */

typedef struct header_state {
    int calls;
    int fail_first; /* the first calls that fail (non-zero return) */
    otlpmetric_status bad_key, bad_value, reserved, null_key, null_headers;
} header_state;

static int32_t add_token_header(void *user_data, otlpmetric_headers *out) {
    header_state *s = (header_state *)user_data;
    char token[64];
    s->calls++;
    if (s->calls <= s->fail_first) return 7;
    s->bad_key = otlpmetric_headers_add(out, "bad key", "v");
    s->bad_value = otlpmetric_headers_add(out, "x-token", "line\nbreak-secret");
    s->reserved = otlpmetric_headers_add(out, "content-type", "text/plain");
    s->null_key = otlpmetric_headers_add(out, NULL, "v");
    s->null_headers = otlpmetric_headers_add(NULL, "x-token", "v");
    snprintf(token, sizeof token, "token-%d", s->calls);
    return (int32_t)otlpmetric_headers_add(out, "x-token", token);
}

static int test_header_callback(void) {
    int rc = FAIL;
    const char *http;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    pb_buf rm = PB_BUF_INIT;
    otlpmetric_stats stats;
    header_state state;
    memset(&state, 0, sizeof state);
    state.fail_first = 2;
    NEED_ENV(http, "OTLPM_TEST_HTTP_ENDPOINT");
    EXPECT_ERR(otlpmetric_config_set_header_callback(NULL, add_token_header, &state), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http, false);
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_retry(cfg, true, 10, 20, 5000));
    EXPECT_OK(otlpmetric_config_set_header_callback(cfg, add_token_header, &state));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);

    /* two failed attempts (nothing sent), then one that goes out */
    EXPECT_OK(otlpmetric_exporter_upload(ex, rm.data, rm.len, good_timeout()));
    CHECK(record_rm("http", "none", rm.data, rm.len) == 0);
    CHECK(state.calls == 3);
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.retries == 2 && stats.requests_sent == 1);
    CHECK(state.bad_key == OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(state.bad_value == OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(state.reserved == OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(state.null_key == OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(state.null_headers == OTLPMETRIC_ERR_INVALID_ARGUMENT);
    otlpmetric_exporter_free(ex);
    ex = NULL;

    /* a callback that always fails: retried until the retry budget runs out, nothing sent */
    memset(&state, 0, sizeof state);
    state.fail_first = 1000000;
    EXPECT_OK(otlpmetric_config_set_retry(cfg, true, 10, 20, 200));
    EXPECT_OK(otlpmetric_config_set_header_callback(cfg, add_token_header, &state));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    EXPECT_ERR(otlpmetric_exporter_upload(ex, rm.data, rm.len, good_timeout()), OTLPMETRIC_ERR_EXPORT);
    if (!strstr(g_err, "header callback returned 7")) FAILF("last_error: %s", g_err);
    CHECK(state.calls > 1);
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    CHECK(stats.requests_sent == 0 && stats.requests_failed == 1);
    otlpmetric_exporter_free(ex);
    ex = NULL;

    /* NULL removes it */
    memset(&state, 0, sizeof state);
    EXPECT_OK(otlpmetric_config_set_header_callback(cfg, NULL, NULL));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    EXPECT_OK(otlpmetric_exporter_upload(ex, rm.data, rm.len, good_timeout()));
    CHECK(record_rm("http", "none", rm.data, rm.len) == 0);
    CHECK(state.calls == 0);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    pb_buf_free(&rm);
    return rc;
}

/* Nothing listens: the retries (10 ms .. 50 ms, 300 ms in all) give up promptly.
   Also: a header value (a secret) appears in no message. */
static int test_dead_endpoint_retry(void) {
    static const otlpmetric_protocol protocols[] = {OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, OTLPMETRIC_PROTOCOL_GRPC};
    int rc = FAIL;
    const char *dead;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_stats stats;
    log_capture logs;
    pb_buf rm = PB_BUF_INIT;
    size_t i;
    double t0, dt;
    otlpmetric_status st;
    log_capture_init(&logs);
    NEED_ENV(dead, "OTLPM_TEST_DEAD_ENDPOINT");
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);
    for (i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        cfg = make_config(protocols[i], dead, true);
        CHECK(cfg != NULL);
        EXPECT_OK(otlpmetric_config_set_retry(cfg, true, 10, 50, 300));
        EXPECT_OK(otlpmetric_config_add_header(cfg, "authorization", "Bearer s3cr3t-token"));
        EXPECT_OK(otlpmetric_config_set_log_callback(cfg, capture_log, &logs));
        EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
        otlpmetric_config_free(cfg);
        cfg = NULL;

        t0 = now_ms();
        st = otlpmetric_exporter_upload(ex, rm.data, rm.len, 5000);
        snap();
        dt = now_ms() - t0;
        if (st != OTLPMETRIC_ERR_EXPORT && st != OTLPMETRIC_ERR_TIMEOUT)
            FAILF("protocol %d: upload to a dead endpoint returned %d, expected ERR_EXPORT or ERR_TIMEOUT; last_error: %s",
                  (int)protocols[i], (int)st, g_err);
        if (!g_err[0]) FAILF("protocol %d: last_error is empty", (int)protocols[i]);
        if (strstr(g_err, "s3cr3t")) FAILF("a header value appears in last_error: %s", g_err);
        if (dt > within(2000)) FAILF("protocol %d: upload gave up after %.0f ms", (int)protocols[i], dt);

        EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
        CHECK(stats.requests_sent == 0);
        CHECK(stats.requests_failed == 1);
        CHECK(stats.retries >= 1);

        otlpmetric_exporter_free(ex);
        ex = NULL;
    }
    pthread_mutex_lock(&logs.mu);
    if (strstr(logs.text, "s3cr3t")) {
        pthread_mutex_unlock(&logs.mu);
        FAILF("a header value appears in a log line:\n%s", logs.text);
    }
    pthread_mutex_unlock(&logs.mu);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex); /* the callback's user_data outlives the exporter */
    otlpmetric_config_free(cfg);
    pb_buf_free(&rm);
    log_capture_destroy(&logs);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Tests: temporality and aggregation selectors
 * ------------------------------------------------------------------------- */

static const double DEFAULT_BOUNDS[15] = {0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000};

static const otlpmetric_instrument_kind ALL_KINDS[7] = {
    OTLPMETRIC_INSTRUMENT_COUNTER,           OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER,
    OTLPMETRIC_INSTRUMENT_HISTOGRAM,         OTLPMETRIC_INSTRUMENT_GAUGE,
    OTLPMETRIC_INSTRUMENT_OBSERVABLE_COUNTER, OTLPMETRIC_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER,
    OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE};

static otlpmetric_aggregation_kind default_aggregation_kind(otlpmetric_instrument_kind k) {
    switch (k) {
    case OTLPMETRIC_INSTRUMENT_HISTOGRAM: return OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM;
    case OTLPMETRIC_INSTRUMENT_GAUGE:
    case OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE: return OTLPMETRIC_AGGREGATION_LAST_VALUE;
    default: return OTLPMETRIC_AGGREGATION_SUM;
    }
}

static int is_default_histogram(const otlpmetric_aggregation *a) {
    size_t i;
    if (a->kind != OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM || a->boundaries_len != 15 || !a->boundaries ||
        !a->record_min_max)
        return 0;
    for (i = 0; i < 15; i++)
        if (a->boundaries[i] != DEFAULT_BOUNDS[i]) return 0;
    return 1;
}

/* Every kind answers the SDK defaults. */
static int check_defaults(const otlpmetric_exporter *ex, const char **why) {
    size_t i;
    otlpmetric_aggregation a;
    for (i = 0; i < 7; i++) {
        otlpmetric_instrument_kind k = ALL_KINDS[i];
        if (otlpmetric_exporter_temporality(ex, k) != OTLPMETRIC_TEMPORALITY_CUMULATIVE) {
            *why = "temporality is not cumulative";
            return (int)k;
        }
        if (otlpmetric_exporter_aggregation(ex, k, &a) != OTLPMETRIC_OK) {
            *why = "aggregation() failed";
            return (int)k;
        }
        if (a.kind != default_aggregation_kind(k)) {
            *why = "aggregation kind is not the default";
            return (int)k;
        }
        if (k == OTLPMETRIC_INSTRUMENT_HISTOGRAM && !is_default_histogram(&a)) {
            *why = "not the default explicit bucket histogram (15 boundaries, min/max)";
            return (int)k;
        }
    }
    return 0;
}

static int test_selector_defaults(void) {
    int rc = FAIL, k;
    const char *why = "";
    otlpmetric_exporter *ex = NULL;
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
    CHECK(ex != NULL);
    k = check_defaults(ex, &why);
    if (k) FAILF("kind %d: %s", k, why);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    return rc;
}

typedef struct temporality_state {
    int calls[8];
    int bad_kind;
    int user_data_ok;
} temporality_state;

/* Delta for the counters and the histogram (as Go's DeltaTemporalitySelector), cumulative for the rest. */
static otlpmetric_temporality delta_selector(void *user_data, otlpmetric_instrument_kind kind) {
    temporality_state *s = (temporality_state *)user_data;
    if ((int)kind >= 1 && (int)kind <= 7) s->calls[(int)kind]++;
    else s->bad_kind++;
    s->user_data_ok = 1;
    switch (kind) {
    case OTLPMETRIC_INSTRUMENT_COUNTER:
    case OTLPMETRIC_INSTRUMENT_OBSERVABLE_COUNTER:
    case OTLPMETRIC_INSTRUMENT_HISTOGRAM: return OTLPMETRIC_TEMPORALITY_DELTA;
    default: return OTLPMETRIC_TEMPORALITY_CUMULATIVE;
    }
}

static int test_temporality_selector(void) {
    int rc = FAIL, i;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    temporality_state *s = (temporality_state *)calloc(1, sizeof *s); /* only needs to live through exporter_new */
    CHECK(s != NULL);
    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_temporality_selector(cfg, delta_selector, s));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    CHECK(s->user_data_ok && s->bad_kind == 0);
    for (i = 1; i <= 7; i++)
        if (s->calls[i] != 1) FAILF("the selector was called %d times for kind %d, expected once", s->calls[i], i);
    free(s);
    s = NULL;
    CHECK(otlpmetric_exporter_temporality(ex, OTLPMETRIC_INSTRUMENT_COUNTER) == OTLPMETRIC_TEMPORALITY_DELTA);
    CHECK(otlpmetric_exporter_temporality(ex, OTLPMETRIC_INSTRUMENT_OBSERVABLE_COUNTER) == OTLPMETRIC_TEMPORALITY_DELTA);
    CHECK(otlpmetric_exporter_temporality(ex, OTLPMETRIC_INSTRUMENT_HISTOGRAM) == OTLPMETRIC_TEMPORALITY_DELTA);
    CHECK(otlpmetric_exporter_temporality(ex, OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER) == OTLPMETRIC_TEMPORALITY_CUMULATIVE);
    CHECK(otlpmetric_exporter_temporality(ex, OTLPMETRIC_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER) ==
          OTLPMETRIC_TEMPORALITY_CUMULATIVE);
    CHECK(otlpmetric_exporter_temporality(ex, OTLPMETRIC_INSTRUMENT_GAUGE) == OTLPMETRIC_TEMPORALITY_CUMULATIVE);
    CHECK(otlpmetric_exporter_temporality(ex, OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE) == OTLPMETRIC_TEMPORALITY_CUMULATIVE);
    rc = PASS;
done:
    free(s);
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    return rc;
}

typedef struct aggregation_state {
    double bounds[4]; /* the selector hands out a pointer to this array */
    int calls[8];
    int bad_kind;
    int default_mismatch; /* kind whose `out` did not arrive filled with the default */
} aggregation_state;

static void custom_aggregation_selector(void *user_data, otlpmetric_instrument_kind kind, otlpmetric_aggregation *out) {
    aggregation_state *s = (aggregation_state *)user_data;
    if ((int)kind < 1 || (int)kind > 7) {
        s->bad_kind++;
        return;
    }
    s->calls[(int)kind]++;
    /* `out` arrives filled with the default for `kind` */
    if (out->kind != default_aggregation_kind(kind) ||
        (kind == OTLPMETRIC_INSTRUMENT_HISTOGRAM && !is_default_histogram(out)))
        s->default_mismatch = (int)kind;
    switch (kind) {
    case OTLPMETRIC_INSTRUMENT_HISTOGRAM: /* custom boundaries from the caller's array, no min/max */
        out->boundaries = s->bounds;
        out->boundaries_len = 4;
        out->record_min_max = false;
        break;
    case OTLPMETRIC_INSTRUMENT_COUNTER: /* a histogram with no boundaries: one bucket */
        out->kind = OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM;
        out->boundaries = NULL;
        out->boundaries_len = 0;
        out->record_min_max = true;
        break;
    case OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER:
        out->kind = OTLPMETRIC_AGGREGATION_BASE2_EXPONENTIAL_HISTOGRAM;
        out->max_size = 80;
        out->max_scale = 5;
        out->record_min_max = false;
        break;
    case OTLPMETRIC_INSTRUMENT_GAUGE: out->kind = OTLPMETRIC_AGGREGATION_DROP; break;
    default: break; /* keep the default */
    }
}

static int test_aggregation_selector(void) {
    int rc = FAIL, i;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    aggregation_state s;
    otlpmetric_aggregation a;
    memset(&s, 0, sizeof s);
    s.bounds[0] = 1;
    s.bounds[1] = 2;
    s.bounds[2] = 4;
    s.bounds[3] = 8;
    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_aggregation_selector(cfg, custom_aggregation_selector, &s));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    CHECK(s.bad_kind == 0);
    for (i = 1; i <= 7; i++)
        if (s.calls[i] != 1) FAILF("the selector was called %d times for kind %d, expected once", s.calls[i], i);
    if (s.default_mismatch) FAILF("`out` did not arrive filled with the default for kind %d", s.default_mismatch);

    /* the library copied the boundaries: overwriting the caller's array changes nothing */
    for (i = 0; i < 4; i++) s.bounds[i] = 99;
    EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_HISTOGRAM, &a));
    CHECK(a.kind == OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM);
    CHECK(a.boundaries_len == 4 && a.boundaries != NULL && a.boundaries != s.bounds);
    CHECK(a.boundaries[0] == 1 && a.boundaries[1] == 2 && a.boundaries[2] == 4 && a.boundaries[3] == 8);
    CHECK(!a.record_min_max);

    EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_COUNTER, &a));
    CHECK(a.kind == OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM);
    CHECK(a.boundaries_len == 0);
    CHECK(a.record_min_max);

    EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER, &a));
    CHECK(a.kind == OTLPMETRIC_AGGREGATION_BASE2_EXPONENTIAL_HISTOGRAM);
    CHECK(a.max_size == 80 && a.max_scale == 5 && !a.record_min_max);

    EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_GAUGE, &a));
    CHECK(a.kind == OTLPMETRIC_AGGREGATION_DROP);
    EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE, &a));
    CHECK(a.kind == OTLPMETRIC_AGGREGATION_LAST_VALUE);
    EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_OBSERVABLE_COUNTER, &a));
    CHECK(a.kind == OTLPMETRIC_AGGREGATION_SUM);
    /* temporality untouched */
    CHECK(otlpmetric_exporter_temporality(ex, OTLPMETRIC_INSTRUMENT_HISTOGRAM) == OTLPMETRIC_TEMPORALITY_CUMULATIVE);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    return rc;
}

/* Invalid selector answers: exporter_new fails, names the kind, writes no exporter. */
typedef struct bad_answer {
    const char *what;
    otlpmetric_instrument_kind kind; /* the kind the bad answer is given for */
    const char *kind_word;           /* the message must contain this (any case) */
    int by_temporality;              /* 1: the temporality selector answers `temporality` */
    int temporality;
    int agg_kind;                    /* else: the aggregation selector sets this kind ... */
    int set_bounds;                  /* ... these boundaries when set_bounds ... */
    const double *bounds;
    size_t bounds_len;
    int max_size, max_scale;         /* ... and these when non-zero */
} bad_answer;

static otlpmetric_temporality bad_temporality_selector(void *user_data, otlpmetric_instrument_kind kind) {
    const bad_answer *b = (const bad_answer *)user_data;
    if (kind == b->kind) return (otlpmetric_temporality)b->temporality;
    return OTLPMETRIC_TEMPORALITY_CUMULATIVE;
}

static void bad_aggregation_selector(void *user_data, otlpmetric_instrument_kind kind, otlpmetric_aggregation *out) {
    const bad_answer *b = (const bad_answer *)user_data;
    if (kind != b->kind) return;
    out->kind = (otlpmetric_aggregation_kind)b->agg_kind;
    if (b->set_bounds) {
        out->boundaries = b->bounds;
        out->boundaries_len = b->bounds_len;
    }
    if (b->max_size) out->max_size = b->max_size;
    if (b->max_scale) out->max_scale = b->max_scale;
}

static const double UNSORTED[] = {1, 3, 2};
static const double REPEATED[] = {1, 1, 2};
static const double WITH_NAN[] = {1, NAN};
static const double WITH_INF[] = {1, INFINITY};

#define EXPLICIT OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM
#define BASE2 OTLPMETRIC_AGGREGATION_BASE2_EXPONENTIAL_HISTOGRAM
static const bad_answer BAD_ANSWERS[] = {
    {"temporality 7", OTLPMETRIC_INSTRUMENT_COUNTER, "counter", 1, 7, 0, 0, NULL, 0, 0, 0},
    {"temporality 0", OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 1, 0, 0, 0, NULL, 0, 0, 0},
    {"aggregation kind 42", OTLPMETRIC_INSTRUMENT_COUNTER, "counter", 0, 0, 42, 0, NULL, 0, 0, 0},
    {"aggregation kind 0", OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 0, 0, 0, 0, NULL, 0, 0, 0},
    {"unsorted boundaries", OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 0, 0, EXPLICIT, 1, UNSORTED, 3, 0, 0},
    {"repeated boundary", OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 0, 0, EXPLICIT, 1, REPEATED, 3, 0, 0},
    {"NaN boundary", OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 0, 0, EXPLICIT, 1, WITH_NAN, 2, 0, 0},
    {"infinite boundary", OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 0, 0, EXPLICIT, 1, WITH_INF, 2, 0, 0},
    {"NULL boundaries with a length", OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 0, 0, EXPLICIT, 1, NULL, 3, 0, 0},
    {"LAST_VALUE for a counter", OTLPMETRIC_INSTRUMENT_COUNTER, "counter", 0, 0, OTLPMETRIC_AGGREGATION_LAST_VALUE, 0,
     NULL, 0, 0, 0},
    {"LAST_VALUE for a histogram", OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 0, 0,
     OTLPMETRIC_AGGREGATION_LAST_VALUE, 0, NULL, 0, 0, 0},
    {"SUM for a gauge", OTLPMETRIC_INSTRUMENT_GAUGE, "gauge", 0, 0, OTLPMETRIC_AGGREGATION_SUM, 0, NULL, 0, 0, 0},
    {"explicit histogram for an observable gauge", OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE, "gauge", 0, 0, EXPLICIT, 0,
     NULL, 0, 0, 0},
    {"max_scale 21", OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 0, 0, BASE2, 0, NULL, 0, 0, 21},
    {"max_scale -11", OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 0, 0, BASE2, 0, NULL, 0, 0, -11},
    {"max_size 1", OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 0, 0, BASE2, 0, NULL, 0, 1, 0},
};
#undef EXPLICIT
#undef BASE2

static int test_selector_invalid_answers(void) {
    int rc = FAIL;
    size_t i;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex;
    char sentinel = 0;
    for (i = 0; i < sizeof BAD_ANSWERS / sizeof BAD_ANSWERS[0]; i++) {
        otlpmetric_status st;
        const bad_answer *c = &BAD_ANSWERS[i];
        cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
        CHECK(cfg != NULL);
        if (c->by_temporality)
            EXPECT_OK(otlpmetric_config_set_temporality_selector(cfg, bad_temporality_selector, (void *)c));
        else
            EXPECT_OK(otlpmetric_config_set_aggregation_selector(cfg, bad_aggregation_selector, (void *)c));
        ex = (otlpmetric_exporter *)(void *)&sentinel;
        st = otlpmetric_exporter_new(cfg, &ex);
        snap();
        if (st == OTLPMETRIC_OK) {
            otlpmetric_exporter_free(ex);
            FAILF("%s: exporter_new accepted it", c->what);
        }
        if (st != OTLPMETRIC_ERR_INVALID_ARGUMENT)
            FAILF("%s: exporter_new returned %d, expected ERR_INVALID_ARGUMENT; last_error: %s", c->what, (int)st, g_err);
        if (ex != (otlpmetric_exporter *)(void *)&sentinel) FAILF("%s: exporter_new wrote *out on failure", c->what);
        if (!ci_contains(g_err, c->kind_word))
            FAILF("%s: last_error \"%s\" does not name the kind (%s)", c->what, g_err, c->kind_word);
        otlpmetric_config_free(cfg);
        cfg = NULL;
    }
    rc = PASS;
done:
    otlpmetric_config_free(cfg);
    return rc;
}

static otlpmetric_temporality all_delta_selector(void *ud, otlpmetric_instrument_kind kind) {
    (void)ud; (void)kind;
    return OTLPMETRIC_TEMPORALITY_DELTA;
}
static void all_drop_selector(void *ud, otlpmetric_instrument_kind kind, otlpmetric_aggregation *out) {
    (void)ud; (void)kind;
    out->kind = OTLPMETRIC_AGGREGATION_DROP;
}

/* record_min_max is a C bool written by the selector: a byte other than 0 or 1 (put
   there with memcpy, as a buggy or foreign-language selector might) is refused, naming
   the kind and the field, whatever the aggregation kind. */
typedef struct {
    otlpmetric_instrument_kind kind;
    const char *kind_word;
    unsigned char byte;
} bool_byte;

static void bool_byte_selector(void *user_data, otlpmetric_instrument_kind kind, otlpmetric_aggregation *out) {
    const bool_byte *b = (const bool_byte *)user_data;
    if (kind == b->kind) memcpy(&out->record_min_max, &b->byte, 1);
}

static int test_selector_bool_field_not_0_or_1(void) {
    static const bool_byte bad[] = {
        {OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 2},
        {OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 255},
        {OTLPMETRIC_INSTRUMENT_COUNTER, "counter", 2}, /* SUM: the field is unused, still no bool */
    };
    static const bool_byte good[] = {
        {OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 0},
        {OTLPMETRIC_INSTRUMENT_HISTOGRAM, "histogram", 1},
    };
    int rc = FAIL;
    size_t i;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_aggregation a;
    char sentinel = 0;
    CHECK(sizeof a.record_min_max == 1);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
        CHECK(cfg != NULL);
        EXPECT_OK(otlpmetric_config_set_aggregation_selector(cfg, bool_byte_selector, (void *)&bad[i]));
        ex = (otlpmetric_exporter *)(void *)&sentinel;
        EXPECT_ERR(otlpmetric_exporter_new(cfg, &ex), OTLPMETRIC_ERR_INVALID_ARGUMENT);
        if (ex != (otlpmetric_exporter *)(void *)&sentinel) FAILF("byte %d: exporter_new wrote *out", bad[i].byte);
        ex = NULL;
        if (!ci_contains(g_err, bad[i].kind_word) || !strstr(g_err, "record_min_max"))
            FAILF("byte %d: last_error \"%s\" does not name the kind (%s) and record_min_max", bad[i].byte, g_err,
                  bad[i].kind_word);
        otlpmetric_config_free(cfg);
        cfg = NULL;
    }
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
        CHECK(cfg != NULL);
        EXPECT_OK(otlpmetric_config_set_aggregation_selector(cfg, bool_byte_selector, (void *)&good[i]));
        EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
        EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_HISTOGRAM, &a));
        CHECK(a.record_min_max == (good[i].byte == 1));
        otlpmetric_exporter_free(ex);
        ex = NULL;
        otlpmetric_config_free(cfg);
        cfg = NULL;
    }
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    return rc;
}

/* Decides the up-down counters only; every other kind keeps the config's default. */
static otlpmetric_temporality up_down_delta_selector(void *user_data, otlpmetric_instrument_kind kind) {
    if (kind == OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER) return OTLPMETRIC_TEMPORALITY_DELTA;
    return otlpmetric_config_default_temporality((const otlpmetric_config *)user_data, kind);
}

/* otlpmetric_config_default_temporality: the environment's preference, mapped per kind,
   whatever selector the config has; 0 and a message for a NULL config or unknown kind. */
static int test_config_default_temporality(void) {
    /* indexed by kind: -, COUNTER, UP_DOWN, HISTOGRAM, GAUGE, OBS_COUNTER, OBS_UP_DOWN, OBS_GAUGE */
    static const otlpmetric_temporality lowmemory[8] = {0, 1, 2, 1, 2, 2, 2, 2};
    static const otlpmetric_temporality delta[8] = {0, 1, 2, 1, 2, 1, 2, 2};
    static const int bad_kinds[] = {0, 8, -1};
    int rc = FAIL;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    int k;
    size_t i;

    CHECK((int)otlpmetric_config_default_temporality(NULL, OTLPMETRIC_INSTRUMENT_COUNTER) == 0);
    snap();
    if (!strstr(g_err, "config is NULL")) FAILF("default_temporality(NULL, ...): last_error \"%s\"", g_err);

    cfg = otlpmetric_config_new();
    CHECK(cfg != NULL);
    for (i = 0; i < sizeof bad_kinds / sizeof bad_kinds[0]; i++) {
        CHECK((int)otlpmetric_config_default_temporality(cfg, (otlpmetric_instrument_kind)bad_kinds[i]) == 0);
        snap();
        if (!g_err[0]) FAILF("default_temporality(kind %d): last_error is empty", bad_kinds[i]);
    }
    /* no preference: cumulative; a selector on the config does not change the default */
    EXPECT_OK(otlpmetric_config_set_temporality_selector(cfg, all_delta_selector, NULL));
    for (k = 1; k <= 7; k++)
        CHECK(otlpmetric_config_default_temporality(cfg, (otlpmetric_instrument_kind)k) ==
              OTLPMETRIC_TEMPORALITY_CUMULATIVE);
    otlpmetric_config_free(cfg);

    setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta", 1);
    cfg = otlpmetric_config_new();
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
    CHECK(cfg != NULL);
    for (k = 1; k <= 7; k++)
        if (otlpmetric_config_default_temporality(cfg, (otlpmetric_instrument_kind)k) != delta[k])
            FAILF("delta: kind %d got %d, expected %d", k,
                  (int)otlpmetric_config_default_temporality(cfg, (otlpmetric_instrument_kind)k), (int)delta[k]);
    otlpmetric_config_free(cfg);

    /* a selector that keeps the default for the kinds it does not decide */
    setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "lowmemory", 1);
    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
    CHECK(cfg != NULL);
    for (k = 1; k <= 7; k++)
        CHECK(otlpmetric_config_default_temporality(cfg, (otlpmetric_instrument_kind)k) == lowmemory[k]);
    EXPECT_OK(otlpmetric_config_set_temporality_selector(cfg, up_down_delta_selector, cfg));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    for (k = 1; k <= 7; k++) {
        otlpmetric_temporality want =
            k == OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER ? OTLPMETRIC_TEMPORALITY_DELTA : lowmemory[k];
        otlpmetric_temporality got = otlpmetric_exporter_temporality(ex, (otlpmetric_instrument_kind)k);
        if (got != want) FAILF("selector keeping defaults: kind %d got %d, expected %d", k, (int)got, (int)want);
    }
    rc = PASS;
done:
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    return rc;
}

static int test_selector_reset_with_null(void) {
    int rc = FAIL, k;
    const char *why = "";
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_aggregation a;
    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_temporality_selector(cfg, all_delta_selector, NULL));
    EXPECT_OK(otlpmetric_config_set_aggregation_selector(cfg, all_drop_selector, NULL));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    CHECK(otlpmetric_exporter_temporality(ex, OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER) == OTLPMETRIC_TEMPORALITY_DELTA);
    EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_HISTOGRAM, &a));
    CHECK(a.kind == OTLPMETRIC_AGGREGATION_DROP);
    otlpmetric_exporter_free(ex);
    ex = NULL;

    EXPECT_OK(otlpmetric_config_set_temporality_selector(cfg, NULL, NULL));
    EXPECT_OK(otlpmetric_config_set_aggregation_selector(cfg, NULL, NULL));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    k = check_defaults(ex, &why);
    if (k) FAILF("after resetting the selectors: kind %d: %s", k, why);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    return rc;
}

/* OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: the exporter created with
   `value` in the environment answers want[kind] for the five kinds that the
   specification's table covers (gauges are not in it). */
static int check_preference(const char *value, const otlpmetric_temporality want[8]) {
    static const int kinds[] = {1, 2, 3, 5, 6};
    otlpmetric_exporter *ex;
    size_t i;
    int bad = 0;
    setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", value, 1);
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
    if (!ex) return -1;
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        otlpmetric_temporality t = otlpmetric_exporter_temporality(ex, (otlpmetric_instrument_kind)kinds[i]);
        if (t != want[kinds[i]]) {
            printf("    preference \"%s\": kind %d got temporality %d, expected %d\n", value, kinds[i], (int)t,
                   (int)want[kinds[i]]);
            bad = 1;
        }
    }
    otlpmetric_exporter_free(ex);
    return bad ? -1 : 0;
}

/* ... and OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION. */
static int test_env_defaults(void) {
    /* indexed by kind: -, COUNTER, UP_DOWN, HISTOGRAM, GAUGE, OBS_COUNTER, OBS_UP_DOWN, OBS_GAUGE */
    static const otlpmetric_temporality cumulative[8] = {0, 2, 2, 2, 2, 2, 2, 2};
    static const otlpmetric_temporality delta[8] = {0, 1, 2, 1, 0, 1, 2, 0};
    static const otlpmetric_temporality lowmemory[8] = {0, 1, 2, 1, 0, 2, 2, 0};
    int rc = FAIL;
    otlpmetric_exporter *ex = NULL;
    otlpmetric_aggregation a;
    CHECK(check_preference("delta", delta) == 0);
    CHECK(check_preference("Delta", delta) == 0);
    CHECK(check_preference("lowmemory", lowmemory) == 0);
    CHECK(check_preference("LowMemory", lowmemory) == 0);
    CHECK(check_preference("CUMULATIVE", cumulative) == 0);

    setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "base2_exponential_bucket_histogram", 1);
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION");
    CHECK(ex != NULL);
    EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_HISTOGRAM, &a));
    CHECK(a.kind == OTLPMETRIC_AGGREGATION_BASE2_EXPONENTIAL_HISTOGRAM);
    CHECK(a.max_size == 160 && a.max_scale == 20 && a.record_min_max);
    EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_COUNTER, &a));
    CHECK(a.kind == OTLPMETRIC_AGGREGATION_SUM);
    otlpmetric_exporter_free(ex);
    ex = NULL;

    setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "explicit_bucket_histogram", 1);
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION");
    CHECK(ex != NULL);
    EXPECT_OK(otlpmetric_exporter_aggregation(ex, OTLPMETRIC_INSTRUMENT_HISTOGRAM, &a));
    CHECK(is_default_histogram(&a));
    rc = PASS;
done:
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION");
    otlpmetric_exporter_free(ex);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Tests: log callback
 * ------------------------------------------------------------------------- */

static int test_log_callback(void) {
    int rc = FAIL, calls;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL;
    log_capture logs;
    log_capture_init(&logs);

    cfg = otlpmetric_config_new();
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_log_callback(cfg, capture_log, &logs));
    EXPECT_OK(otlpmetric_config_set_log_callback(cfg, NULL, NULL)); /* NULL: no callback */
    EXPECT_OK(otlpmetric_config_set_log_callback(cfg, capture_log, &logs));
    otlpmetric_config_free(cfg);
    cfg = NULL;

    /* problems in the environment are reported as warnings naming the variable,
       when the exporter is created, and the values are ignored */
    setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "carrier-pigeon", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "soon", 1);
    setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", NOWHERE, 1);
    cfg = otlpmetric_config_new();
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL");
    unsetenv("OTEL_EXPORTER_OTLP_TIMEOUT");
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_log_callback(cfg, capture_log, &logs));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    pthread_mutex_lock(&logs.mu);
    calls = logs.calls;
    if (logs.warnings < 2 || !strstr(logs.text, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") ||
        !strstr(logs.text, "OTEL_EXPORTER_OTLP_TIMEOUT") || logs.bad_level) {
        pthread_mutex_unlock(&logs.mu);
        FAILF("expected warnings naming OTEL_EXPORTER_OTLP_METRICS_PROTOCOL and OTEL_EXPORTER_OTLP_TIMEOUT, got:\n%s",
              logs.text);
    }
    pthread_mutex_unlock(&logs.mu);
    otlpmetric_exporter_free(ex);
    ex = NULL;

    /* with the callback reset to NULL, the same problems call nothing */
    EXPECT_OK(otlpmetric_config_set_log_callback(cfg, NULL, NULL));
    otlpmetric_config_free(cfg);
    setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "carrier-pigeon", 1);
    cfg = otlpmetric_config_new();
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL");
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_endpoint(cfg, NOWHERE));
    EXPECT_OK(otlpmetric_config_set_log_callback(cfg, NULL, NULL));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    otlpmetric_exporter_free(ex);
    ex = NULL;
    pthread_mutex_lock(&logs.mu);
    CHECK(logs.calls == calls);
    pthread_mutex_unlock(&logs.mu);
    rc = PASS;
done:
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL");
    unsetenv("OTEL_EXPORTER_OTLP_TIMEOUT");
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    log_capture_destroy(&logs);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Tests: fork
 * ------------------------------------------------------------------------- */

/* After a fork the child can use the parent's exporter and create its own. The
   child reports each step on a pipe: 'a' inherited upload OK, 'b' new exporter
   upload OK, 'f' both exporters freed. */
static int test_fork_child_can_export(void) {
    int rc = FAIL;
    const char *http;
    otlpmetric_exporter *ex = NULL;
    pb_buf rm1 = PB_BUF_INIT, rm2 = PB_BUF_INIT, rm3 = PB_BUF_INIT;
    int fds[2] = {-1, -1}, status = 0, exited = 0;
    pid_t pid = -1;
    double t0;
    char steps[8];
    ssize_t got = 0, r;
    NEED_ENV(http, "OTLPM_TEST_HTTP_ENDPOINT");
    ex = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http, true);
    CHECK(ex != NULL);
    CHECK(build_sample_rm(&rm1, g_test_name, 1) == 0);
    CHECK(build_sample_rm(&rm2, g_test_name, 2) == 0);
    CHECK(build_sample_rm(&rm3, g_test_name, 3) == 0);
    /* the parent uses the exporter first, so its threads and connections exist */
    EXPECT_OK(otlpmetric_exporter_upload(ex, rm1.data, rm1.len, good_timeout()));
    CHECK(record_rm("http", "none", rm1.data, rm1.len) == 0);

    CHECK(pipe(fds) == 0);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        otlpmetric_exporter *mine = NULL;
        otlpmetric_status st;
        int code = 0;
        close(fds[0]);
        st = otlpmetric_exporter_upload(ex, rm2.data, rm2.len, (uint32_t)within(3000));
        if (st == OTLPMETRIC_OK) {
            if (write(fds[1], "a", 1) != 1) code = 9;
        } else {
            fprintf(stderr, "    child: upload on the inherited exporter: %d: %s\n", (int)st, otlpmetric_last_error());
            code = 1;
        }
        mine = make_exporter(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http, true);
        if (!mine) {
            code = 2;
        } else {
            st = otlpmetric_exporter_upload(mine, rm3.data, rm3.len, (uint32_t)within(3000));
            if (st == OTLPMETRIC_OK) {
                if (write(fds[1], "b", 1) != 1) code = 9;
            } else {
                fprintf(stderr, "    child: upload on a new exporter: %d: %s\n", (int)st, otlpmetric_last_error());
                code = 3;
            }
        }
        otlpmetric_exporter_free(mine);
        otlpmetric_exporter_free(ex);
        if (write(fds[1], "f", 1) != 1) code = 9;
        close(fds[1]);
        pb_buf_free(&rm1);
        pb_buf_free(&rm2);
        pb_buf_free(&rm3);
        _exit(code);
    }
    close(fds[1]);
    fds[1] = -1;

    t0 = now_ms();
    while (now_ms() - t0 < within(12000)) { /* two 3 s uploads, two frees */
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            exited = 1;
            break;
        }
        sleep_ms(20);
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    pid = -1;
    while (got < (ssize_t)sizeof steps - 1 && (r = read(fds[0], steps + got, sizeof steps - 1 - (size_t)got)) > 0)
        got += r;
    steps[got > 0 ? got : 0] = '\0';
    if (strchr(steps, 'a')) CHECK(record_rm("http", "none", rm2.data, rm2.len) == 0);
    if (strchr(steps, 'b')) CHECK(record_rm("http", "none", rm3.data, rm3.len) == 0);
    if (!exited) FAILF("the child hung (steps done: \"%s\") and was killed", steps);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAILF("the child failed: status 0x%x, steps done: \"%s\"", (unsigned)status, steps);
    CHECK(strcmp(steps, "abf") == 0);

    /* the parent's exporter still works */
    EXPECT_OK(otlpmetric_exporter_upload(ex, rm3.data, rm3.len, good_timeout()));
    CHECK(record_rm("http", "none", rm3.data, rm3.len) == 0);
    rc = PASS;
done:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    otlpmetric_exporter_free(ex);
    pb_buf_free(&rm1);
    pb_buf_free(&rm2);
    pb_buf_free(&rm3);
    return rc;
}

/* ---------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------- */

typedef struct test_case {
    const char *name;
    int (*fn)(void);
} test_case;

#define TEST(f) {#f, f}

/* ---------------------------------------------------------------------------
 * Tests: the disk spool
 * ------------------------------------------------------------------------- */

/* Bad inputs to the spool setters are refused and name the problem. */
static int test_spool_setters(void) {
    int rc = FAIL;
    otlpmetric_config *cfg = otlpmetric_config_new();
    otlpmetric_exporter *ex = NULL;
    otlpmetric_spool_stats spool;
    CHECK(cfg != NULL);
    CHECK(OTLPMETRIC_SPOOL_SYNC_INTERVAL == 0);
    CHECK(OTLPMETRIC_SPOOL_SYNC_EVERY_RECORD == 1);
    CHECK(OTLPMETRIC_SPOOL_SYNC_NEVER == 2);
    CHECK(OTLPMETRIC_SPOOL_FULL_DROP_OLDEST == 0);
    CHECK(OTLPMETRIC_SPOOL_FULL_REFUSE_NEW == 1);
    EXPECT_ERR(otlpmetric_config_set_spool(NULL, "/tmp/x", 1 << 20), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_spool(cfg, "", 1 << 20), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(ci_contains(g_err, "empty"));
    EXPECT_ERR(otlpmetric_config_set_spool(cfg, "/tmp/x", 100), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(ci_contains(g_err, "4096"));
    EXPECT_OK(otlpmetric_config_set_spool(cfg, NULL, 0)); /* in memory only */
    EXPECT_ERR(otlpmetric_config_set_spool_durability(NULL, OTLPMETRIC_SPOOL_SYNC_NEVER, 0),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_spool_durability(cfg, (otlpmetric_spool_durability)3, 0),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(ci_contains(g_err, "3"));
    EXPECT_ERR(otlpmetric_config_set_spool_durability(cfg, (otlpmetric_spool_durability)-1, 0),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_spool_durability(cfg, OTLPMETRIC_SPOOL_SYNC_NEVER, 500),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(ci_contains(g_err, "interval_ms"));
    EXPECT_OK(otlpmetric_config_set_spool_durability(cfg, OTLPMETRIC_SPOOL_SYNC_INTERVAL, 0));
    EXPECT_OK(otlpmetric_config_set_spool_durability(cfg, OTLPMETRIC_SPOOL_SYNC_INTERVAL, 250));
    EXPECT_OK(otlpmetric_config_set_spool_durability(cfg, OTLPMETRIC_SPOOL_SYNC_EVERY_RECORD, 0));
    EXPECT_ERR(otlpmetric_config_set_spool_full_policy(NULL, OTLPMETRIC_SPOOL_FULL_REFUSE_NEW),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_config_set_spool_full_policy(cfg, (otlpmetric_spool_full_policy)2),
               OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_OK(otlpmetric_config_set_spool_full_policy(cfg, OTLPMETRIC_SPOOL_FULL_REFUSE_NEW));
    /* A directory that cannot be created is refused when the exporter is made. */
    EXPECT_OK(otlpmetric_config_set_spool(cfg, "/dev/null/spool", 1 << 20));
    EXPECT_ERR(otlpmetric_exporter_new(cfg, &ex), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(ex == NULL);
    CHECK(ci_contains(g_err, "/dev/null/spool"));
    /* An exporter without a spool has no spool statistics. */
    EXPECT_OK(otlpmetric_config_set_spool(cfg, NULL, 0));
    EXPECT_OK(otlpmetric_config_set_endpoint(cfg, NOWHERE));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    EXPECT_ERR(otlpmetric_exporter_spool_stats(ex, &spool), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_spool_stats(ex, NULL), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(otlpmetric_exporter_spool_stats(NULL, &spool), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    return rc;
}

/* enqueue through a spool: written to disk, delivered, counted; a second exporter on the
   directory is refused until the first is freed. */
static int test_spool_end_to_end(void) {
    int rc = FAIL;
    const char *http;
    char dir[] = "/tmp/otlpmetric-c-spool-XXXXXX";
    char path[sizeof dir + 1 + 256];
    int made = 0;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL, *second = NULL;
    otlpmetric_stats stats;
    otlpmetric_spool_stats spool;
    pb_buf rm = PB_BUF_INIT;
    NEED_ENV(http, "OTLPM_TEST_HTTP_ENDPOINT");
    CHECK(mkdtemp(dir) != NULL);
    made = 1;
    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, http, true);
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_spool(cfg, dir, 1 << 20));
    EXPECT_OK(otlpmetric_config_set_spool_durability(cfg, OTLPMETRIC_SPOOL_SYNC_EVERY_RECORD, 0));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    EXPECT_ERR(otlpmetric_exporter_new(cfg, &second), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(second == NULL);
    CHECK(ci_contains(g_err, "in use"));
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);
    EXPECT_OK(otlpmetric_exporter_enqueue(ex, rm.data, rm.len));
    EXPECT_OK(otlpmetric_exporter_force_flush(ex, good_timeout()));
    EXPECT_OK(otlpmetric_exporter_stats(ex, &stats));
    if (stats.requests_sent == 1) CHECK(record_rm("http", "none", rm.data, rm.len) == 0);
    CHECK(stats.requests_sent == 1);
    CHECK(stats.queue_bytes == 0);
    CHECK(stats.queue_dropped == 0);
    EXPECT_OK(otlpmetric_exporter_spool_stats(ex, &spool));
    CHECK(spool.records_spooled == 1);
    CHECK(spool.records_delivered == 1);
    CHECK(spool.records_skipped == 0 && spool.records_dropped == 0 && spool.records_rejected == 0);
    CHECK(spool.bytes_waiting == 0);
    rc = PASS;
done:
    otlpmetric_exporter_free(ex);
    otlpmetric_exporter_free(second);
    otlpmetric_config_free(cfg);
    pb_buf_free(&rm);
    if (made) {
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        if (d) closedir(d);
        rmdir(dir);
    }
    return rc;
}


/* After fork(), the child does not use the parent's spool: its enqueue is refused, and the
   copy of the lock it inherited does not keep the directory locked once the parent lets go. */
static int test_spool_fork_child(void) {
    int rc = FAIL;
    char dir[] = "/tmp/otlpmetric-c-spool-fork-XXXXXX";
    char path[sizeof dir + 1 + 256];
    int made = 0, status = 0;
    int verdict[2] = {-1, -1}, release[2] = {-1, -1};
    pid_t pid = -1;
    char got = 0;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *ex = NULL, *next = NULL;
    pb_buf rm = PB_BUF_INIT;
    CHECK(mkdtemp(dir) != NULL);
    made = 1;
    cfg = make_config(OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF, NOWHERE, false);
    CHECK(cfg != NULL);
    EXPECT_OK(otlpmetric_config_set_spool(cfg, dir, 1 << 20));
    EXPECT_OK(otlpmetric_exporter_new(cfg, &ex));
    CHECK(build_sample_rm(&rm, g_test_name, 1) == 0);
    CHECK(pipe(verdict) == 0 && pipe(release) == 0);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        otlpmetric_status st = otlpmetric_exporter_enqueue(ex, rm.data, rm.len);
        char answer = st == OTLPMETRIC_ERR_INVALID_ARGUMENT && ci_contains(otlpmetric_last_error(), "fork") ? 'k' : 'x';
        char wait_byte;
        if (answer != 'k') fprintf(stderr, "    child: enqueue returned %d: %s\n", (int)st, otlpmetric_last_error());
        close(verdict[0]);
        close(release[1]);
        if (write(verdict[1], &answer, 1) != 1) _exit(9);
        /* stay alive until the parent has checked the lock */
        if (read(release[0], &wait_byte, 1) < 0) _exit(8);
        _exit(0);
    }
    close(verdict[1]);
    verdict[1] = -1;
    close(release[0]);
    release[0] = -1;
    CHECK(read(verdict[0], &got, 1) == 1);
    CHECK(got == 'k');
    /* the parent still holds the lock */
    EXPECT_ERR(otlpmetric_exporter_new(cfg, &next), OTLPMETRIC_ERR_INVALID_ARGUMENT);
    CHECK(next == NULL);
    /* the parent lets go while the child lives: the directory is free */
    otlpmetric_exporter_free(ex);
    ex = NULL;
    EXPECT_OK(otlpmetric_exporter_new(cfg, &next));
    rc = PASS;
done:
    if (release[1] >= 0) close(release[1]);
    if (release[0] >= 0) close(release[0]);
    if (verdict[0] >= 0) close(verdict[0]);
    if (verdict[1] >= 0) close(verdict[1]);
    if (pid > 0) waitpid(pid, &status, 0);
    if (pid > 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        printf("    child ended with status %d\n", status);
        rc = FAIL;
    }
    otlpmetric_exporter_free(next);
    otlpmetric_exporter_free(ex);
    otlpmetric_config_free(cfg);
    pb_buf_free(&rm);
    if (made) {
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        if (d) closedir(d);
        rmdir(dir);
    }
    return rc;
}

static const test_case TESTS[] = {
    TEST(test_status_values),
    TEST(test_enum_values),
    TEST(test_status_str),
    TEST(test_version),
    TEST(test_last_error_is_per_thread),
    TEST(test_null_pointers),
    TEST(test_upload_empty_message),
    TEST(test_bad_enum_values),
    TEST(test_config_setters),
    TEST(test_network_setters),
    TEST(test_decode_errors),
    TEST(test_json_errors),
    TEST(test_unknown_fields_are_valid),
    TEST(test_roundtrip_grpc),
    TEST(test_roundtrip_http),
    TEST(test_roundtrip_grpc_gzip),
    TEST(test_roundtrip_http_gzip),
    TEST(test_roundtrip_grpc_zstd),
    TEST(test_roundtrip_http_zstd),
    TEST(test_upload_json_grpc),
    TEST(test_upload_json_http),
    TEST(test_concurrent_uploads),
    TEST(test_enqueue_then_flush),
    TEST(test_queue_full),
    TEST(test_shutdown_lifecycle),
    TEST(test_deadline_upload_hang),
    TEST(test_shutdown_races_hanging_upload),
    TEST(test_dead_endpoint_retry),
    TEST(test_cancel_hanging_upload),
    TEST(test_cancel_flush_waiting_for_hung_upload),
    TEST(test_cancel_before_the_call_and_null_handle),
    TEST(test_cancel_bad_inputs),
    TEST(test_header_callback),
    TEST(test_selector_defaults),
    TEST(test_temporality_selector),
    TEST(test_aggregation_selector),
    TEST(test_selector_invalid_answers),
    TEST(test_selector_reset_with_null),
    TEST(test_selector_bool_field_not_0_or_1),
    TEST(test_config_default_temporality),
    TEST(test_env_defaults),
    TEST(test_log_callback),
    TEST(test_fork_child_can_export),
    TEST(test_spool_setters),
    TEST(test_spool_end_to_end),
    TEST(test_spool_fork_child),
};

/* Variables that would change the library's defaults under the tests' feet. */
static const char *const OTEL_VARS[] = {
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    "OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_METRICS_INSECURE",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
    "OTLPMETRIC_SPOOL_DIR", "OTLPMETRIC_SPOOL_MAX_BYTES", "OTLPMETRIC_SPOOL_DURABILITY",
};

/* Whether the command line selects this test (see the top of the file). */
static int selected(const char *name, int argc, char **argv) {
    int i, includes = 0, included = 0;
    for (i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            if (argv[i][1] && strstr(name, argv[i] + 1)) return 0;
        } else {
            includes++;
            if (strstr(name, argv[i])) included = 1;
        }
    }
    return includes == 0 || included;
}

int main(int argc, char **argv) {
    const char *scale = env_nonempty("OTLPM_TEST_TIME_SCALE");
    const char *preload = getenv("LD_PRELOAD");
    int passed = 0, failed = 0, skipped = 0;
    size_t i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 0; i < sizeof OTEL_VARS / sizeof OTEL_VARS[0]; i++) unsetenv(OTEL_VARS[i]);
    if (scale) g_scale = atof(scale);
    else if (preload && strstr(preload, "vgpreload")) g_scale = 10.0; /* under valgrind */
    if (!(g_scale >= 1.0)) g_scale = 1.0;
    g_out_dir = env_nonempty("OTLPM_TEST_OUT_DIR");
    if (g_out_dir) {
        if (write_file("sent-manifest.txt", "", 0, "wb") != 0 || write_expected_count() != 0) {
            printf("cannot write to OTLPM_TEST_OUT_DIR=%s\n", g_out_dir);
            printf("0 passed, 1 failed\n");
            return 1;
        }
    }

    for (i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++) {
        int r;
        double t0;
        if (!selected(TESTS[i].name, argc, argv)) continue;
        g_test_name = TESTS[i].name;
        g_skip_reason[0] = '\0';
        t0 = now_ms();
        r = TESTS[i].fn();
        if (r == PASS) {
            passed++;
            printf("PASS %s (%.0f ms)\n", TESTS[i].name, now_ms() - t0);
        } else if (r == SKIP) {
            skipped++;
            printf("SKIP %s (%s)\n", TESTS[i].name, g_skip_reason);
        } else {
            failed++;
            printf("FAIL %s (%.0f ms)\n", TESTS[i].name, now_ms() - t0);
        }
    }
    if (g_out_dir && write_expected_count() != 0) failed++;
    if (skipped) printf("(%d skipped: set the OTLPM_TEST_* endpoints to run them)\n", skipped);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
