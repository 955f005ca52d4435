/*
 * test_metrics.c - tests of the meter provider's C API (section "Metrics pipeline" of
 * shared/design/c-api.md), written as C against the real header.
 *
 * Run:   ./test_metrics [WORD...]   WORD: run only the tests whose name contains it;
 *                                   -WORD: skip the tests whose name contains it
 * Prints "PASS name" / "FAIL name" / "SKIP name (why)" per test and ends with exactly
 * "N passed, M failed"; exits 1 on any failure.
 *
 * Environment (set by tests/c_api.rs):
 *   OTLPM_TEST_OUT_DIR            where collected buffers are written for the harness to
 *                                 decode: collected.bin, fork-parent.bin, fork-child.bin
 *   OTLPM_TEST_COLLECTOR_ENDPOINT OTLP/HTTP endpoint of the real Collector (optional)
 *   OTLPM_TEST_COLLECTOR_MARKER   service.name to export under, for the harness to find
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "otlpmetric.h"

enum { PASS = 0, FAIL = 1, SKIP = 2 };

static const char *g_test_name = "";
static char g_skip_reason[256];
static char g_err[2048];

static const char *snap(void) {
    snprintf(g_err, sizeof g_err, "%s", otlpmetric_last_error());
    return g_err;
}

static void report_failure(int line, const char *fmt, ...) {
    va_list ap;
    printf("    %s: test_metrics.c:%d: ", g_test_name, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

#define FAILF(...)                             \
    do {                                       \
        report_failure(__LINE__, __VA_ARGS__); \
        goto done;                             \
    } while (0)

#define CHECK(cond)                                    \
    do {                                               \
        if (!(cond)) FAILF("check failed: %s", #cond); \
    } while (0)

#define EXPECT_STATUS(call, want)                                                                  \
    do {                                                                                           \
        otlpmetric_status st_ = (call);                                                            \
        snap();                                                                                    \
        if (st_ != (want))                                                                         \
            FAILF("%s returned %d (%s), expected %s; last_error: \"%s\"", #call, (int)st_,         \
                  otlpmetric_status_str(st_), #want, g_err);                                       \
    } while (0)

/* An error, with a last_error that names what was wrong. */
#define EXPECT_ERR(call, want, needle)                                                    \
    do {                                                                                  \
        EXPECT_STATUS(call, want);                                                        \
        if (!strstr(g_err, needle)) FAILF("%s: last_error \"%s\" lacks \"%s\"", #call, g_err, needle); \
    } while (0)

#define EXPECT_OK(call) EXPECT_STATUS(call, OTLPMETRIC_OK)
#define INVALID OTLPMETRIC_ERR_INVALID_ARGUMENT

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Nothing listens on port 9 of loopback: exports fail at once. */
#define NOWHERE "http://127.0.0.1:9/v1/metrics"

/* A config for a provider with no periodic export, exporting nowhere without retries. */
static otlpmetric_config *manual_config(void) {
    otlpmetric_config *config = otlpmetric_config_new();
    if (!config) return NULL;
    if (otlpmetric_config_set_endpoint(config, NOWHERE) != OTLPMETRIC_OK ||
        otlpmetric_config_set_retry(config, false, 0, 0, 0) != OTLPMETRIC_OK ||
        otlpmetric_config_set_export_interval_ms(config, 0) != OTLPMETRIC_OK) {
        otlpmetric_config_free(config);
        return NULL;
    }
    return config;
}

static otlpmetric_meter_provider *manual_provider(void) {
    otlpmetric_meter_provider *provider = NULL;
    otlpmetric_config *config = manual_config();
    if (!config) return NULL;
    if (otlpmetric_meter_provider_new(config, &provider) != OTLPMETRIC_OK) provider = NULL;
    otlpmetric_config_free(config);
    return provider;
}

static bool contains(const otlpmetric_buffer *b, const char *text) {
    size_t n = strlen(text), i;
    for (i = 0; b->data && i + n <= b->len; i++)
        if (memcmp(b->data + i, text, n) == 0) return true;
    return false;
}

/* Collects and reports whether the bytes name `text`. */
static int collected_contains(otlpmetric_meter_provider *p, const char *text, bool *found) {
    otlpmetric_buffer b = {NULL, 0};
    if (otlpmetric_meter_provider_collect(p, &b) != OTLPMETRIC_OK) return -1;
    *found = contains(&b, text);
    otlpmetric_buffer_free(&b);
    return 0;
}

static int write_out(const char *name, const otlpmetric_buffer *b) {
    const char *dir = env_nonempty("OTLPM_TEST_OUT_DIR");
    char path[1024];
    FILE *f;
    if (!dir) return -1;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f) return -1;
    if (b->len && fwrite(b->data, 1, b->len, f) != b->len) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

static otlpmetric_attribute str_attr(const char *key, const char *value) {
    otlpmetric_attribute a = {0};
    a.key = key;
    a.type = OTLPMETRIC_ATTRIBUTE_STRING;
    a.string_value = value;
    return a;
}

static otlpmetric_attribute int_attr(const char *key, int64_t value) {
    otlpmetric_attribute a = {0};
    a.key = key;
    a.type = OTLPMETRIC_ATTRIBUTE_INT;
    a.int_value = value;
    return a;
}

typedef struct {
    int calls;
    int64_t value;
} observed;

static void observe_value(void *user_data, otlpmetric_observer *observer) {
    observed *o = (observed *)user_data;
    otlpmetric_attribute a = str_attr("source", "callback");
    o->calls++;
    otlpmetric_observer_observe_i64(observer, o->value, &a, 1);
}

/* Observes with bad arguments; counts each refusal in user_data. */
static void observe_badly(void *user_data, otlpmetric_observer *observer) {
    int *refused = (int *)user_data;
    otlpmetric_attribute empty_key = str_attr("", "x");
    if (otlpmetric_observer_observe_f64(observer, 1.0, NULL, 0) == INVALID) (*refused)++;
    if (otlpmetric_observer_observe_i64(observer, 1, &empty_key, 1) == INVALID) (*refused)++;
    if (otlpmetric_observer_observe_i64(NULL, 1, NULL, 0) == INVALID) (*refused)++;
}

typedef struct {
    int warnings;
    char last[1024];
} log_capture;

static void capture_log(void *user_data, otlpmetric_log_level level, const char *message) {
    log_capture *c = (log_capture *)user_data;
    if (level == OTLPMETRIC_LOG_WARN) {
        c->warnings++;
        snprintf(c->last, sizeof c->last, "%s", message);
    }
}

/* ------------------------------------------------------------------------- */

static int test_null_handles_and_outputs(void) {
    int rc = FAIL;
    otlpmetric_meter_provider *p = NULL;
    otlpmetric_meter *m = NULL;
    otlpmetric_instrument *counter = NULL;
    otlpmetric_bound_instrument *bound = NULL;
    otlpmetric_buffer b = {NULL, 0};
    otlpmetric_stats stats;
    otlpmetric_config *config = manual_config();
    CHECK(config);
    EXPECT_ERR(otlpmetric_meter_provider_new(NULL, &p), INVALID, "config is NULL");
    EXPECT_ERR(otlpmetric_meter_provider_new(config, NULL), INVALID, "out is NULL");
    EXPECT_OK(otlpmetric_meter_provider_new(config, &p));
    EXPECT_ERR(otlpmetric_meter_provider_meter(NULL, "s", NULL, &m), INVALID, "provider is NULL");
    EXPECT_ERR(otlpmetric_meter_provider_meter(p, NULL, NULL, &m), INVALID, "scope_name is NULL");
    EXPECT_ERR(otlpmetric_meter_provider_meter(p, "s", NULL, NULL), INVALID, "out is NULL");
    EXPECT_ERR(otlpmetric_meter_provider_meter(p, "\xff", NULL, &m), INVALID, "UTF-8");
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "s", NULL, &m));
    EXPECT_ERR(otlpmetric_meter_instrument(NULL, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                           "c", NULL, NULL, &counter),
               INVALID, "meter is NULL");
    EXPECT_ERR(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                           "c", NULL, NULL, NULL),
               INVALID, "out is NULL");
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64, "c",
                                          NULL, NULL, &counter));
    EXPECT_ERR(otlpmetric_instrument_add_i64(NULL, 1, NULL, 0), INVALID, "instrument is NULL");
    EXPECT_ERR(otlpmetric_instrument_record_f64(NULL, 1, NULL, 0), INVALID, "instrument is NULL");
    EXPECT_ERR(otlpmetric_instrument_bind(NULL, NULL, 0, &bound), INVALID, "instrument is NULL");
    EXPECT_ERR(otlpmetric_instrument_bind(counter, NULL, 0, NULL), INVALID, "out is NULL");
    EXPECT_ERR(otlpmetric_bound_add_i64(NULL, 1), INVALID, "bound is NULL");
    EXPECT_ERR(otlpmetric_bound_record_f64(NULL, 1), INVALID, "bound is NULL");
    EXPECT_ERR(otlpmetric_observer_observe_i64(NULL, 1, NULL, 0), INVALID, "observer is NULL");
    EXPECT_ERR(otlpmetric_meter_provider_collect(NULL, &b), INVALID, "provider is NULL");
    EXPECT_ERR(otlpmetric_meter_provider_collect(p, NULL), INVALID, "out is NULL");
    EXPECT_ERR(otlpmetric_meter_provider_force_flush(NULL, 0), INVALID, "provider is NULL");
    EXPECT_ERR(otlpmetric_meter_provider_shutdown(NULL, 0), INVALID, "provider is NULL");
    EXPECT_ERR(otlpmetric_meter_provider_stats(NULL, &stats), INVALID, "provider is NULL");
    EXPECT_ERR(otlpmetric_meter_provider_stats(p, NULL), INVALID, "out is NULL");
    EXPECT_ERR(otlpmetric_config_set_resource(NULL, NULL, 0), INVALID, "config is NULL");
    EXPECT_ERR(otlpmetric_config_set_export_interval_ms(NULL, 0), INVALID, "config is NULL");
    EXPECT_ERR(otlpmetric_config_set_cardinality_limit(NULL, 1), INVALID, "config is NULL");
    EXPECT_ERR(otlpmetric_config_set_cardinality_limit(config, 0), INVALID, "cardinality limit 0");
    EXPECT_ERR(otlpmetric_config_set_exporter_metrics(NULL, true), INVALID, "config is NULL");
    /* NULL is fine for the free functions. */
    otlpmetric_bound_free(NULL);
    otlpmetric_buffer_free(NULL);
    otlpmetric_buffer_free(&b);
    otlpmetric_meter_provider_free(NULL);
    rc = PASS;
done:
    otlpmetric_meter_provider_free(p);
    otlpmetric_config_free(config);
    return rc;
}

static int test_bad_kinds_numbers_and_names(void) {
    int rc = FAIL;
    otlpmetric_meter_provider *p = manual_provider();
    otlpmetric_meter *m = NULL;
    otlpmetric_instrument *i = NULL;
    char long_name[300], long_unit[80];
    observed o = {0, 1};
    CHECK(p);
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "s", "1.0", &m));
    EXPECT_ERR(otlpmetric_meter_instrument(m, (otlpmetric_instrument_kind)0, OTLPMETRIC_NUMBER_INT64, "x",
                                           NULL, NULL, &i),
               INVALID, "kind 0");
    EXPECT_ERR(otlpmetric_meter_instrument(m, (otlpmetric_instrument_kind)8, OTLPMETRIC_NUMBER_INT64, "x",
                                           NULL, NULL, &i),
               INVALID, "kind 8");
    EXPECT_ERR(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE, OTLPMETRIC_NUMBER_INT64,
                                           "x", NULL, NULL, &i),
               INVALID, "observable");
    EXPECT_ERR(otlpmetric_meter_observable(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64, "x",
                                           NULL, NULL, observe_value, &o, &i),
               INVALID, "synchronous");
    EXPECT_ERR(otlpmetric_meter_observable(m, OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE, OTLPMETRIC_NUMBER_INT64,
                                           "x", NULL, NULL, NULL, &o, &i),
               INVALID, "callback is NULL");
    EXPECT_ERR(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, (otlpmetric_number_type)0, "x",
                                           NULL, NULL, &i),
               INVALID, "number type 0");
    EXPECT_ERR(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, (otlpmetric_number_type)3, "x",
                                           NULL, NULL, &i),
               INVALID, "number type 3");
    EXPECT_ERR(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64, NULL,
                                           NULL, NULL, &i),
               INVALID, "name is NULL");
    EXPECT_STATUS(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64, "",
                                              NULL, NULL, &i),
                  INVALID);
    EXPECT_STATUS(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                              "1st", NULL, NULL, &i),
                  INVALID);
    EXPECT_STATUS(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                              "has space", NULL, NULL, &i),
                  INVALID);
    EXPECT_ERR(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                           "bad\xff", NULL, NULL, &i),
               INVALID, "UTF-8");
    memset(long_name, 'a', 256);
    long_name[256] = '\0';
    EXPECT_STATUS(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                              long_name, NULL, NULL, &i),
                  INVALID);
    long_name[255] = '\0';
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          long_name, NULL, NULL, &i));
    memset(long_unit, 'u', 64);
    long_unit[64] = '\0';
    EXPECT_STATUS(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64, "x",
                                              long_unit, NULL, &i),
                  INVALID);
    EXPECT_STATUS(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64, "x",
                                              "\xc2\xb5s", NULL, &i),
                  INVALID);
    rc = PASS;
done:
    otlpmetric_meter_provider_free(p);
    return rc;
}

static int test_wrong_call_for_the_kind_or_number_type(void) {
    int rc = FAIL;
    otlpmetric_meter_provider *p = manual_provider();
    otlpmetric_meter *m = NULL;
    otlpmetric_instrument *counter = NULL, *histogram = NULL, *gauge = NULL;
    otlpmetric_bound_instrument *bound = NULL;
    observed o = {0, 3};
    bool found = true;
    CHECK(p);
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "s", NULL, &m));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          "wrong.counter", "1", NULL, &counter));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_HISTOGRAM, OTLPMETRIC_NUMBER_DOUBLE,
                                          "wrong.histogram", "s", "d", &histogram));
    EXPECT_OK(otlpmetric_meter_observable(m, OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE, OTLPMETRIC_NUMBER_INT64,
                                          "wrong.gauge", NULL, NULL, observe_value, &o, &gauge));
    EXPECT_STATUS(otlpmetric_instrument_record_i64(counter, 1, NULL, 0), INVALID);
    EXPECT_STATUS(otlpmetric_instrument_add_f64(counter, 1, NULL, 0), INVALID);
    EXPECT_STATUS(otlpmetric_instrument_add_f64(histogram, 1, NULL, 0), INVALID);
    EXPECT_STATUS(otlpmetric_instrument_record_i64(histogram, 1, NULL, 0), INVALID);
    EXPECT_STATUS(otlpmetric_instrument_add_i64(gauge, 1, NULL, 0), INVALID);
    EXPECT_STATUS(otlpmetric_instrument_record_i64(gauge, 1, NULL, 0), INVALID);
    EXPECT_ERR(otlpmetric_instrument_bind(gauge, NULL, 0, &bound), INVALID, "observable");
    EXPECT_OK(otlpmetric_instrument_bind(histogram, NULL, 0, &bound));
    EXPECT_STATUS(otlpmetric_bound_add_f64(bound, 1), INVALID);
    EXPECT_STATUS(otlpmetric_bound_record_i64(bound, 1), INVALID);
    otlpmetric_bound_free(bound);
    bound = NULL;
    /* None of it was recorded. */
    CHECK(collected_contains(p, "wrong.counter", &found) == 0 && !found);
    CHECK(collected_contains(p, "wrong.histogram", &found) == 0 && !found);
    rc = PASS;
done:
    otlpmetric_bound_free(bound);
    otlpmetric_meter_provider_free(p);
    return rc;
}

static int test_bad_attributes_record_nothing(void) {
    int rc = FAIL;
    otlpmetric_meter_provider *p = manual_provider();
    otlpmetric_config *config = manual_config();
    otlpmetric_meter *m = NULL;
    otlpmetric_instrument *counter = NULL;
    otlpmetric_bound_instrument *bound = NULL;
    otlpmetric_attribute a[2];
    bool found = true;
    CHECK(p && config);
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "s", NULL, &m));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          "attr.counter", NULL, NULL, &counter));
    a[0] = str_attr("good", "value");
    EXPECT_ERR(otlpmetric_instrument_add_i64(counter, 1, NULL, 1), INVALID, "attrs is NULL");
    a[1] = str_attr(NULL, "v");
    EXPECT_ERR(otlpmetric_instrument_add_i64(counter, 1, a, 2), INVALID, "attrs[1].key is NULL");
    a[1] = str_attr("", "v");
    EXPECT_ERR(otlpmetric_instrument_add_i64(counter, 1, a, 2), INVALID, "attrs[1].key is empty");
    a[1] = str_attr("k\xff", "v");
    EXPECT_ERR(otlpmetric_instrument_add_i64(counter, 1, a, 2), INVALID, "attrs[1].key is not valid UTF-8");
    a[1] = str_attr("k", "\xc3\x28");
    EXPECT_ERR(otlpmetric_instrument_add_i64(counter, 1, a, 2), INVALID,
               "attrs[1].string_value is not valid UTF-8");
    a[1] = str_attr("k", NULL);
    EXPECT_ERR(otlpmetric_instrument_add_i64(counter, 1, a, 2), INVALID, "attrs[1].string_value is NULL");
    a[1] = int_attr("k", 1);
    a[1].type = (otlpmetric_attribute_type)0;
    EXPECT_ERR(otlpmetric_instrument_add_i64(counter, 1, a, 2), INVALID, "type 0 is unknown");
    a[1].type = (otlpmetric_attribute_type)5;
    EXPECT_ERR(otlpmetric_instrument_add_i64(counter, 1, a, 2), INVALID, "type 5 is unknown");
    a[1].type = OTLPMETRIC_ATTRIBUTE_BOOL;
    a[1].int_value = 2;
    EXPECT_ERR(otlpmetric_instrument_add_i64(counter, 1, a, 2), INVALID, "must be 0 or 1");
    EXPECT_ERR(otlpmetric_instrument_bind(counter, a, 2, &bound), INVALID, "must be 0 or 1");
    EXPECT_ERR(otlpmetric_config_set_resource(config, a, 2), INVALID, "must be 0 or 1");
    CHECK(bound == NULL);
    CHECK(collected_contains(p, "attr.counter", &found) == 0 && !found);
    /* A good call still works, and NULL attributes with length 0 are none. */
    a[1].int_value = 1;
    EXPECT_OK(otlpmetric_instrument_add_i64(counter, 1, a, 2));
    EXPECT_OK(otlpmetric_instrument_add_i64(counter, 1, NULL, 0));
    EXPECT_OK(otlpmetric_config_set_resource(config, a, 2));
    EXPECT_OK(otlpmetric_config_set_resource(config, NULL, 0));
    CHECK(collected_contains(p, "attr.counter", &found) == 0 && found);
    rc = PASS;
done:
    otlpmetric_bound_free(bound);
    otlpmetric_meter_provider_free(p);
    otlpmetric_config_free(config);
    return rc;
}

static int test_identity_duplicates_and_callbacks_once(void) {
    int rc = FAIL;
    otlpmetric_meter_provider *p = NULL;
    otlpmetric_config *config = manual_config();
    otlpmetric_meter *m = NULL, *m2 = NULL, *other = NULL;
    otlpmetric_instrument *a = NULL, *b = NULL, *c = NULL, *g1 = NULL, *g2 = NULL, *bad = NULL;
    observed o = {0, 41};
    int refused = 0;
    log_capture logs = {0, ""};
    bool found = false;
    CHECK(config);
    EXPECT_OK(otlpmetric_config_set_log_callback(config, capture_log, &logs));
    EXPECT_OK(otlpmetric_meter_provider_new(config, &p));
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "scope", "1", &m));
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "scope", "1", &m2));
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "scope", NULL, &other));
    CHECK(m == m2 && m != other);
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          "requests", "1", "d", &a));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          "REQUESTS", "1", "d", &b));
    CHECK(a == b);
    CHECK(logs.warnings == 0);
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_DOUBLE,
                                          "requests", "1", "d", &c));
    CHECK(c != a);
    CHECK(logs.warnings == 1 && strstr(logs.last, "duplicate"));
    /* The same callback and user_data twice: observed once per collection. */
    EXPECT_OK(otlpmetric_meter_observable(m, OTLPMETRIC_INSTRUMENT_OBSERVABLE_COUNTER,
                                          OTLPMETRIC_NUMBER_INT64, "observed", NULL, NULL, observe_value, &o,
                                          &g1));
    EXPECT_OK(otlpmetric_meter_observable(m, OTLPMETRIC_INSTRUMENT_OBSERVABLE_COUNTER,
                                          OTLPMETRIC_NUMBER_INT64, "observed", NULL, NULL, observe_value, &o,
                                          &g2));
    CHECK(g1 == g2);
    EXPECT_OK(otlpmetric_meter_observable(m, OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE, OTLPMETRIC_NUMBER_INT64,
                                          "observed.badly", NULL, NULL, observe_badly, &refused, &bad));
    CHECK(collected_contains(p, "observed", &found) == 0 && found);
    CHECK(o.calls == 1);
    CHECK(refused == 3);
    rc = PASS;
done:
    otlpmetric_meter_provider_free(p);
    otlpmetric_config_free(config);
    return rc;
}

/* The pipeline's environment is read by otlpmetric_config_new, and what is wrong in it
   reaches the log callback when the provider is made, as the exporter's does. */
static int test_environment_warnings_reach_the_log_callback(void) {
    int rc = FAIL;
    otlpmetric_meter_provider *p = NULL;
    otlpmetric_config *config = NULL;
    log_capture logs = {0, ""};
    setenv("OTEL_METRIC_EXPORT_INTERVAL", "soon", 1);
    config = manual_config();
    unsetenv("OTEL_METRIC_EXPORT_INTERVAL");
    CHECK(config);
    EXPECT_OK(otlpmetric_config_set_log_callback(config, capture_log, &logs));
    CHECK(logs.warnings == 0);
    EXPECT_OK(otlpmetric_meter_provider_new(config, &p));
    CHECK(logs.warnings == 1);
    CHECK(strstr(logs.last, "OTEL_METRIC_EXPORT_INTERVAL") && strstr(logs.last, "soon"));
    rc = PASS;
done:
    otlpmetric_meter_provider_free(p);
    otlpmetric_config_free(config);
    return rc;
}

static int test_after_shutdown(void) {
    int rc = FAIL;
    otlpmetric_meter_provider *p = manual_provider();
    otlpmetric_meter *m = NULL, *m2 = NULL;
    otlpmetric_instrument *counter = NULL, *later = NULL;
    otlpmetric_bound_instrument *bound = NULL;
    otlpmetric_buffer b = {NULL, 0};
    otlpmetric_stats stats;
    CHECK(p);
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "s", NULL, &m));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64, "c",
                                          NULL, NULL, &counter));
    EXPECT_OK(otlpmetric_instrument_bind(counter, NULL, 0, &bound));
    /* Nothing was recorded: shutdown has nothing to export, and succeeds. */
    EXPECT_OK(otlpmetric_meter_provider_shutdown(p, 1000));
    EXPECT_ERR(otlpmetric_meter_provider_shutdown(p, 1000), OTLPMETRIC_ERR_SHUTDOWN, "shut down");
    EXPECT_STATUS(otlpmetric_instrument_add_i64(counter, 1, NULL, 0), OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_STATUS(otlpmetric_bound_add_i64(bound, 1), OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_STATUS(otlpmetric_meter_provider_collect(p, &b), OTLPMETRIC_ERR_SHUTDOWN);
    CHECK(b.data == NULL);
    EXPECT_STATUS(otlpmetric_meter_provider_force_flush(p, 1000), OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_STATUS(otlpmetric_meter_provider_meter(p, "new", NULL, &m2), OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_STATUS(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_GAUGE, OTLPMETRIC_NUMBER_INT64, "g",
                                              NULL, NULL, &later),
                  OTLPMETRIC_ERR_SHUTDOWN);
    EXPECT_OK(otlpmetric_meter_provider_stats(p, &stats));
    rc = PASS;
done:
    otlpmetric_bound_free(bound);
    otlpmetric_meter_provider_free(p);
    return rc;
}

/* The exporter's own metrics: a failed export (nothing listens) is counted with its
 * error.type, and its duration recorded; off unless asked for. */
static int test_exporter_metrics_of_a_failed_export(void) {
    int rc = FAIL;
    otlpmetric_config *config = manual_config();
    otlpmetric_meter_provider *p = NULL;
    otlpmetric_meter *m = NULL;
    otlpmetric_instrument *counter = NULL;
    otlpmetric_buffer b = {NULL, 0};
    bool found = true;
    CHECK(config);
    EXPECT_OK(otlpmetric_config_set_exporter_metrics(config, false));
    EXPECT_OK(otlpmetric_meter_provider_new(config, &p));
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "s", NULL, &m));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64, "c",
                                          NULL, NULL, &counter));
    EXPECT_OK(otlpmetric_instrument_add_i64(counter, 1, NULL, 0));
    EXPECT_STATUS(otlpmetric_meter_provider_force_flush(p, 2000), OTLPMETRIC_ERR_EXPORT);
    CHECK(collected_contains(p, "otel.sdk.exporter", &found) == 0 && !found);
    otlpmetric_meter_provider_free(p);
    p = NULL;

    EXPECT_OK(otlpmetric_config_set_exporter_metrics(config, true));
    EXPECT_OK(otlpmetric_meter_provider_new(config, &p));
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "s", NULL, &m));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64, "c",
                                          NULL, NULL, &counter));
    EXPECT_OK(otlpmetric_instrument_add_i64(counter, 1, NULL, 0));
    EXPECT_STATUS(otlpmetric_meter_provider_force_flush(p, 2000), OTLPMETRIC_ERR_EXPORT);
    EXPECT_OK(otlpmetric_meter_provider_collect(p, &b));
    CHECK(contains(&b, "otel.sdk.exporter.metric_data_point.exported"));
    CHECK(contains(&b, "otel.sdk.exporter.metric_data_point.inflight"));
    CHECK(contains(&b, "otel.sdk.exporter.operation.duration"));
    CHECK(contains(&b, "_metric_exporter/"));
    CHECK(contains(&b, "error.type"));
    rc = PASS;
done:
    otlpmetric_buffer_free(&b);
    otlpmetric_meter_provider_free(p);
    otlpmetric_config_free(config);
    return rc;
}

/* What the harness decodes from collected.bin: see tests/c_api.rs. */
static int test_collect_decodes(void) {
    int rc = FAIL;
    otlpmetric_meter_provider *p = NULL;
    otlpmetric_config *config = manual_config();
    otlpmetric_meter *m = NULL;
    otlpmetric_instrument *requests = NULL, *latency = NULL, *queue = NULL, *temperature = NULL,
                          *memory = NULL;
    otlpmetric_bound_instrument *bound = NULL;
    otlpmetric_attribute attrs[3], reversed[3], resource[1];
    otlpmetric_buffer b = {NULL, 0};
    observed o = {0, 4096};
    CHECK(config);
    resource[0] = str_attr("service.name", "test-metrics");
    EXPECT_OK(otlpmetric_config_set_resource(config, resource, 1));
    EXPECT_OK(otlpmetric_meter_provider_new(config, &p));
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "test_metrics", "1.2.3", &m));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          "requests", "{request}", "Requests served", &requests));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_HISTOGRAM, OTLPMETRIC_NUMBER_DOUBLE,
                                          "latency", "ms", NULL, &latency));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          "queue", NULL, NULL, &queue));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_GAUGE, OTLPMETRIC_NUMBER_DOUBLE,
                                          "temperature", "Cel", NULL, &temperature));
    EXPECT_OK(otlpmetric_meter_observable(m, OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE, OTLPMETRIC_NUMBER_INT64,
                                          "memory", "By", NULL, observe_value, &o, &memory));
    attrs[0] = str_attr("route", "/api");
    attrs[1] = int_attr("status", 200);
    attrs[2] = str_attr("method", "GET");
    attrs[2].type = OTLPMETRIC_ATTRIBUTE_BOOL; /* ok=true */
    attrs[2].key = "ok";
    attrs[2].int_value = 1;
    reversed[0] = attrs[2];
    reversed[1] = attrs[1];
    reversed[2] = attrs[0];
    /* requests{route=/api,status=200,ok=true} = 2 + 3 + 5 (order does not count) */
    EXPECT_OK(otlpmetric_instrument_add_i64(requests, 2, attrs, 3));
    EXPECT_OK(otlpmetric_instrument_add_i64(requests, 3, reversed, 3));
    EXPECT_OK(otlpmetric_instrument_bind(requests, attrs, 3, &bound));
    EXPECT_OK(otlpmetric_bound_add_i64(bound, 5));
    /* requests{} = 1; a negative add on a counter is not recorded, and is OK. */
    EXPECT_OK(otlpmetric_instrument_add_i64(requests, 1, NULL, 0));
    EXPECT_OK(otlpmetric_instrument_add_i64(requests, -7, NULL, 0));
    /* latency: 3 values */
    EXPECT_OK(otlpmetric_instrument_record_f64(latency, 1.5, attrs, 1));
    EXPECT_OK(otlpmetric_instrument_record_f64(latency, 20.0, attrs, 1));
    EXPECT_OK(otlpmetric_instrument_record_f64(latency, 300.0, attrs, 1));
    EXPECT_OK(otlpmetric_instrument_record_f64(latency, NAN, attrs, 1));
    /* queue = 5 - 2 */
    EXPECT_OK(otlpmetric_instrument_add_i64(queue, 5, NULL, 0));
    EXPECT_OK(otlpmetric_instrument_add_i64(queue, -2, NULL, 0));
    /* temperature: the last value */
    EXPECT_OK(otlpmetric_instrument_record_f64(temperature, 20.5, NULL, 0));
    EXPECT_OK(otlpmetric_instrument_record_f64(temperature, 21.25, NULL, 0));
    EXPECT_OK(otlpmetric_meter_provider_collect(p, &b));
    CHECK(b.data != NULL && b.len > 0);
    CHECK(o.calls == 1);
    CHECK(write_out("collected.bin", &b) == 0);
    otlpmetric_buffer_free(&b);
    CHECK(b.data == NULL && b.len == 0);
    rc = PASS;
done:
    otlpmetric_buffer_free(&b);
    otlpmetric_bound_free(bound);
    otlpmetric_meter_provider_free(p);
    otlpmetric_config_free(config);
    return rc;
}

enum { THREADS = 4, ADDS_PER_THREAD = 5000 };

typedef struct {
    otlpmetric_instrument *counter;
    otlpmetric_bound_instrument *bound;
    int failures;
} worker_args;

static void *record_from_a_thread(void *arg) {
    worker_args *w = (worker_args *)arg;
    otlpmetric_attribute attrs[2];
    int i;
    attrs[0] = str_attr("route", "/threads");
    attrs[1] = int_attr("shard", 1);
    for (i = 0; i < ADDS_PER_THREAD; i++) {
        if (otlpmetric_instrument_add_i64(w->counter, 1, attrs, 2) != OTLPMETRIC_OK) w->failures++;
        if (otlpmetric_bound_add_i64(w->bound, 2) != OTLPMETRIC_OK) w->failures++;
    }
    return NULL;
}

/* Threads record while this one collects; the harness checks the totals in threads.bin
   (route=/threads,shard=1: THREADS * ADDS_PER_THREAD; the bound empty set: twice that). */
static int test_threads_record_while_collecting(void) {
    int rc = FAIL, i, started = 0;
    bool collected = false;
    otlpmetric_meter_provider *p = manual_provider();
    otlpmetric_meter *m = NULL;
    otlpmetric_instrument *counter = NULL;
    otlpmetric_bound_instrument *bound = NULL;
    otlpmetric_buffer b = {NULL, 0};
    pthread_t threads[THREADS];
    worker_args args[THREADS];
    CHECK(p);
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "threads", NULL, &m));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          "threaded", NULL, NULL, &counter));
    EXPECT_OK(otlpmetric_instrument_bind(counter, NULL, 0, &bound));
    for (i = 0; i < THREADS; i++) {
        args[i].counter = counter;
        args[i].bound = bound;
        args[i].failures = 0;
        if (pthread_create(&threads[i], NULL, record_from_a_thread, &args[i]) != 0) break;
        started++;
    }
    for (i = 0; i < 20; i++) {
        EXPECT_OK(otlpmetric_meter_provider_collect(p, &b));
        otlpmetric_buffer_free(&b);
    }
    collected = true;
done:
    /* The threads are joined on every path; only then are their results read. */
    for (i = 0; i < started; i++) pthread_join(threads[i], NULL);
    if (collected && started == THREADS) {
        rc = PASS;
        for (i = 0; i < THREADS; i++)
            if (args[i].failures) rc = FAIL;
        if (rc == PASS && (otlpmetric_meter_provider_collect(p, &b) != OTLPMETRIC_OK ||
                           write_out("threads.bin", &b) != 0))
            rc = FAIL;
    }
    otlpmetric_buffer_free(&b);
    otlpmetric_bound_free(bound);
    otlpmetric_meter_provider_free(p);
    return rc;
}

/* The child of a fork starts empty: the harness compares fork-parent.bin and
   fork-child.bin (values, start times, service.instance.id). */
static int test_fork_child_starts_empty(void) {
    int rc = FAIL, status = 0;
    otlpmetric_meter_provider *p = manual_provider();
    otlpmetric_meter *m = NULL;
    otlpmetric_instrument *counter = NULL;
    otlpmetric_bound_instrument *bound = NULL;
    otlpmetric_buffer b = {NULL, 0};
    pid_t child;
    CHECK(p);
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "fork", NULL, &m));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          "forked", NULL, NULL, &counter));
    EXPECT_OK(otlpmetric_instrument_bind(counter, NULL, 0, &bound));
    EXPECT_OK(otlpmetric_instrument_add_i64(counter, 5, NULL, 0));
    /* Distinct start times even on a coarse clock. */
    {
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
    }
    child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        int ok = otlpmetric_instrument_add_i64(counter, 7, NULL, 0) == OTLPMETRIC_OK &&
                 otlpmetric_bound_add_i64(bound, 100) == OTLPMETRIC_OK &&
                 otlpmetric_meter_provider_collect(p, &b) == OTLPMETRIC_OK && write_out("fork-child.bin", &b) == 0;
        otlpmetric_buffer_free(&b);
        otlpmetric_bound_free(bound);
        otlpmetric_meter_provider_free(p);
        _exit(ok ? 0 : 3);
    }
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_OK(otlpmetric_instrument_add_i64(counter, 1, NULL, 0));
    EXPECT_OK(otlpmetric_meter_provider_collect(p, &b));
    CHECK(write_out("fork-parent.bin", &b) == 0);
    rc = PASS;
done:
    otlpmetric_buffer_free(&b);
    otlpmetric_bound_free(bound);
    otlpmetric_meter_provider_free(p);
    return rc;
}

/* A forked child has an export thread of its own: the harness finds what only the child
   recorded at the Collector, though the child never flushes or shuts down. */
static int test_fork_child_exports_from_its_own_thread(void) {
    int rc = FAIL, status = 0;
    const char *endpoint = env_nonempty("OTLPM_TEST_COLLECTOR_ENDPOINT");
    const char *marker = env_nonempty("OTLPM_TEST_FORK_MARKER");
    otlpmetric_meter_provider *p = NULL;
    otlpmetric_config *config = NULL;
    otlpmetric_meter *m = NULL;
    otlpmetric_instrument *counter = NULL;
    otlpmetric_attribute resource[1];
    pid_t child;
    if (!endpoint || !marker) {
        snprintf(g_skip_reason, sizeof g_skip_reason, "OTLPM_TEST_FORK_MARKER not set");
        return SKIP;
    }
    config = otlpmetric_config_new();
    CHECK(config);
    EXPECT_OK(otlpmetric_config_set_endpoint(config, endpoint));
    EXPECT_OK(otlpmetric_config_set_export_interval_ms(config, 100));
    resource[0] = str_attr("service.name", marker);
    EXPECT_OK(otlpmetric_config_set_resource(config, resource, 1));
    EXPECT_OK(otlpmetric_meter_provider_new(config, &p));
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "fork", NULL, &m));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          "recorded.by.the.child", NULL, NULL, &counter));
    child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        struct timespec pause = {2, 0};
        int ok = otlpmetric_instrument_add_i64(counter, 1, NULL, 0) == OTLPMETRIC_OK;
        nanosleep(&pause, NULL);
        _exit(ok ? 0 : 3);
    }
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    rc = PASS;
done:
    otlpmetric_meter_provider_free(p);
    otlpmetric_config_free(config);
    return rc;
}

/* End to end: the harness finds what the real Collector received under the marker. */
static int test_collector_end_to_end(void) {
    int rc = FAIL;
    const char *endpoint = env_nonempty("OTLPM_TEST_COLLECTOR_ENDPOINT");
    const char *marker = env_nonempty("OTLPM_TEST_COLLECTOR_MARKER");
    otlpmetric_meter_provider *p = NULL;
    otlpmetric_config *config = NULL;
    otlpmetric_meter *m = NULL;
    otlpmetric_instrument *counter = NULL, *histogram = NULL;
    otlpmetric_attribute resource[1], attrs[1];
    otlpmetric_stats stats;
    int i;
    if (!endpoint || !marker) {
        snprintf(g_skip_reason, sizeof g_skip_reason, "OTLPM_TEST_COLLECTOR_ENDPOINT not set");
        return SKIP;
    }
    config = otlpmetric_config_new();
    CHECK(config);
    EXPECT_OK(otlpmetric_config_set_endpoint(config, endpoint));
    EXPECT_OK(otlpmetric_config_set_export_interval_ms(config, 0));
    /* The exporter's own metrics of the first export go out with the second. */
    EXPECT_OK(otlpmetric_config_set_exporter_metrics(config, true));
    resource[0] = str_attr("service.name", marker);
    EXPECT_OK(otlpmetric_config_set_resource(config, resource, 1));
    EXPECT_OK(otlpmetric_meter_provider_new(config, &p));
    EXPECT_OK(otlpmetric_meter_provider_meter(p, "e2e", "1.0", &m));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          "e2e.requests", "1", NULL, &counter));
    EXPECT_OK(otlpmetric_meter_instrument(m, OTLPMETRIC_INSTRUMENT_HISTOGRAM, OTLPMETRIC_NUMBER_DOUBLE,
                                          "e2e.latency", "ms", NULL, &histogram));
    attrs[0] = str_attr("route", "/checkout");
    for (i = 0; i < 10; i++) {
        EXPECT_OK(otlpmetric_instrument_add_i64(counter, 1, attrs, 1));
        EXPECT_OK(otlpmetric_instrument_record_f64(histogram, (double)i, attrs, 1));
    }
    EXPECT_OK(otlpmetric_meter_provider_force_flush(p, 20000));
    EXPECT_OK(otlpmetric_meter_provider_shutdown(p, 20000));
    EXPECT_OK(otlpmetric_meter_provider_stats(p, &stats));
    /* force_flush's export and shutdown's last one (cumulative: the points again). */
    CHECK(stats.requests_sent == 2 && stats.requests_failed == 0);
    rc = PASS;
done:
    otlpmetric_meter_provider_free(p);
    otlpmetric_config_free(config);
    return rc;
}

/* ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*fn)(void);
} TESTS[] = {
    {"null_handles_and_outputs", test_null_handles_and_outputs},
    {"bad_kinds_numbers_and_names", test_bad_kinds_numbers_and_names},
    {"wrong_call_for_the_kind_or_number_type", test_wrong_call_for_the_kind_or_number_type},
    {"bad_attributes_record_nothing", test_bad_attributes_record_nothing},
    {"identity_duplicates_and_callbacks_once", test_identity_duplicates_and_callbacks_once},
    {"environment_warnings_reach_the_log_callback", test_environment_warnings_reach_the_log_callback},
    {"after_shutdown", test_after_shutdown},
    {"exporter_metrics_of_a_failed_export", test_exporter_metrics_of_a_failed_export},
    {"collect_decodes", test_collect_decodes},
    {"threads_record_while_collecting", test_threads_record_while_collecting},
    {"fork_child_starts_empty", test_fork_child_starts_empty},
    {"fork_child_exports_from_its_own_thread", test_fork_child_exports_from_its_own_thread},
    {"collector_end_to_end", test_collector_end_to_end},
};

static bool selected(const char *name, int argc, char **argv) {
    bool any_positive = false, hit = false;
    int i;
    for (i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            if (strstr(name, argv[i] + 1)) return false;
        } else {
            any_positive = true;
            if (strstr(name, argv[i])) hit = true;
        }
    }
    return !any_positive || hit;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0, skipped = 0;
    size_t i;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++) {
        int r;
        if (!selected(TESTS[i].name, argc, argv)) continue;
        g_test_name = TESTS[i].name;
        g_skip_reason[0] = '\0';
        r = TESTS[i].fn();
        if (r == PASS) {
            passed++;
            printf("PASS %s\n", TESTS[i].name);
        } else if (r == SKIP) {
            skipped++;
            printf("SKIP %s (%s)\n", TESTS[i].name, g_skip_reason);
        } else {
            failed++;
            printf("FAIL %s\n", TESTS[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
