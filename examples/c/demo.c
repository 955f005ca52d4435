/*
 * demo.c - report metrics from C with otlpmetric, using nothing but snprintf.
 *
 * This is the file to copy. It builds real OTLP metrics as OTLP/JSON text (no
 * protobuf library needed) and sends them with otlpmetric_exporter_upload_json,
 * over whatever protocol the exporter is configured for:
 *
 *   demo.requests     a monotonic counter (two series: status 200 and 500)
 *   demo.temperature  a gauge
 *   demo.latency      an explicit-bucket histogram with min and max
 *
 * Usage:  demo [ENDPOINT [ROUNDS]]
 *   ENDPOINT  full URL, e.g. http://localhost:4318/v1/metrics (OTLP/HTTP, the default
 *             protocol) or, with OTEL_EXPORTER_OTLP_PROTOCOL=grpc, http://localhost:4317.
 *             Without it (or with "-"), OTEL_EXPORTER_OTLP_METRICS_ENDPOINT /
 *             OTEL_EXPORTER_OTLP_ENDPOINT are used, else the library's default.
 *   ROUNDS    how many exports, one second apart (default 3).
 *
 * Build:  cc -std=c99 -Wall -Wextra -I include examples/c/demo.c -L target/debug -lotlpmetric
 * Exit status: 0 only if every export, the flush and the shutdown succeeded.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep, getpid */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "otlpmetric.h"

/* ---------------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------------- */

/* Wall-clock time in nanoseconds since the Unix epoch, as OTLP wants it. */
static uint64_t now_unix_nano(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------------------
 * A tiny JSON writer: appends to a fixed buffer, remembers overflow.
 * ------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    int overflow;
} json_out;

static void out(json_out *j, const char *fmt, ...) {
    va_list ap;
    int n;
    if (j->overflow) return;
    va_start(ap, fmt);
    n = vsnprintf(j->buf + j->len, j->cap - j->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= j->cap - j->len) {
        j->overflow = 1;
        return;
    }
    j->len += (size_t)n;
}

/* A JSON string with the characters JSON requires escaped. */
static void out_string(json_out *j, const char *s) {
    out(j, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') out(j, "\\%c", c);
        else if (c < 0x20) out(j, "\\u%04x", c);
        else out(j, "%c", c);
    }
    out(j, "\"");
}

/* OTLP/JSON rules used below (the encoding OTLP/HTTP uses):
 *  - keys are lowerCamelCase: timeUnixNano, dataPoints, aggregationTemporality;
 *  - 64-bit integers (times, counts, asInt, intValue) are JSON strings: "42";
 *  - doubles are JSON numbers (17 significant digits keep every bit);
 *  - enums are numbers: aggregationTemporality 1 = delta, 2 = cumulative. */
static void out_u64(json_out *j, uint64_t v) { out(j, "\"%llu\"", (unsigned long long)v); }
static void out_double(json_out *j, double d) { out(j, "%.17g", d); }

/* An attribute: {"key":"k","value":{"stringValue":"v"}} */
static void out_attr_str(json_out *j, const char *key, const char *value) {
    out(j, "{\"key\":");
    out_string(j, key);
    out(j, ",\"value\":{\"stringValue\":");
    out_string(j, value);
    out(j, "}}");
}

/* An int attribute: {"key":"k","value":{"intValue":"123"}} */
static void out_attr_int(json_out *j, const char *key, long long value) {
    out(j, "{\"key\":");
    out_string(j, key);
    out(j, ",\"value\":{\"intValue\":\"%lld\"}}", value);
}

/* ---------------------------------------------------------------------------
 * The measurements (a stand-in for your program's real work)
 * ------------------------------------------------------------------------- */

#define N_BOUNDS 7
static const double LATENCY_BOUNDS[N_BOUNDS] = {5, 10, 25, 50, 100, 250, 500}; /* ms */

typedef struct {
    uint64_t requests_ok, requests_failed;  /* counter totals since start */
    double temperature;                     /* last gauge reading */
    /* histogram state since start (cumulative) */
    uint64_t lat_count;
    double lat_sum, lat_min, lat_max;
    uint64_t lat_buckets[N_BOUNDS + 1];     /* bucket i counts values <= bounds[i]; the last is (bounds[6], +inf) */
} measurements;

/* A small deterministic pseudo-random generator, so the demo needs no libm. */
static uint32_t rng_state = 2463534242u;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void record_latency(measurements *m, double ms) {
    size_t i = 0;
    while (i < N_BOUNDS && ms > LATENCY_BOUNDS[i]) i++; /* OTLP buckets are (bound[i-1], bound[i]] */
    m->lat_buckets[i]++;
    if (m->lat_count == 0 || ms < m->lat_min) m->lat_min = ms;
    if (m->lat_count == 0 || ms > m->lat_max) m->lat_max = ms;
    m->lat_count++;
    m->lat_sum += ms;
}

/* One round of "work": some requests, their latencies, a temperature reading. */
static void do_work(measurements *m) {
    unsigned n = 10 + rng() % 20, i;
    for (i = 0; i < n; i++) {
        if (rng() % 10 == 0) m->requests_failed++;
        else m->requests_ok++;
        record_latency(m, 1.0 + (double)(rng() % 4000) / 10.0); /* 1.0 .. 400.9 ms */
    }
    m->temperature += (double)((int)(rng() % 11) - 5) / 10.0; /* a random walk of 0.1 degC steps */
}

/* ---------------------------------------------------------------------------
 * Building the export request
 * ------------------------------------------------------------------------- */

/* Writes one ExportMetricsServiceRequest with all three metrics. Counter and
   histogram are cumulative: their points cover [start_ns, now_ns]. */
static int build_request(json_out *j, const measurements *m, uint64_t start_ns, uint64_t now_ns) {
    size_t i;
    out(j, "{\"resourceMetrics\":[{");

    /* The resource: who is reporting. */
    out(j, "\"resource\":{\"attributes\":[");
    out_attr_str(j, "service.name", "otlpmetric-c-demo");
    out(j, ",");
    out_attr_str(j, "service.version", "1.0.0");
    out(j, ",");
    out_attr_int(j, "process.pid", (long long)getpid());
    out(j, "]},");

    /* The instrumentation scope: which library produced the metrics. */
    out(j, "\"scopeMetrics\":[{\"scope\":{\"name\":\"otlpmetric.demo\",\"version\":");
    out_string(j, otlpmetric_version());
    out(j, "},\"metrics\":[");

    /* 1. A monotonic cumulative counter (OTLP Sum), one point per attribute set. */
    out(j, "{\"name\":\"demo.requests\",\"description\":\"Requests handled\",\"unit\":\"{request}\","
           "\"sum\":{\"aggregationTemporality\":2,\"isMonotonic\":true,\"dataPoints\":[");
    out(j, "{\"attributes\":[");
    out_attr_str(j, "http.route", "/api/items");
    out(j, ",");
    out_attr_int(j, "http.response.status_code", 200);
    out(j, "],\"startTimeUnixNano\":");
    out_u64(j, start_ns);
    out(j, ",\"timeUnixNano\":");
    out_u64(j, now_ns);
    out(j, ",\"asInt\":");
    out_u64(j, m->requests_ok);
    out(j, "},{\"attributes\":[");
    out_attr_str(j, "http.route", "/api/items");
    out(j, ",");
    out_attr_int(j, "http.response.status_code", 500);
    out(j, "],\"startTimeUnixNano\":");
    out_u64(j, start_ns);
    out(j, ",\"timeUnixNano\":");
    out_u64(j, now_ns);
    out(j, ",\"asInt\":");
    out_u64(j, m->requests_failed);
    out(j, "}]}},");

    /* 2. A gauge: the last value, with its own time and no start time. */
    out(j, "{\"name\":\"demo.temperature\",\"description\":\"Room temperature\",\"unit\":\"Cel\","
           "\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":");
    out_u64(j, now_ns);
    out(j, ",\"asDouble\":");
    out_double(j, m->temperature);
    out(j, "}]}},");

    /* 3. An explicit-bucket histogram: count, sum, min, max, the bounds and one
          more bucket count than bounds. */
    out(j, "{\"name\":\"demo.latency\",\"description\":\"Request latency\",\"unit\":\"ms\","
           "\"histogram\":{\"aggregationTemporality\":2,\"dataPoints\":[{\"startTimeUnixNano\":");
    out_u64(j, start_ns);
    out(j, ",\"timeUnixNano\":");
    out_u64(j, now_ns);
    out(j, ",\"count\":");
    out_u64(j, m->lat_count);
    out(j, ",\"sum\":");
    out_double(j, m->lat_sum);
    if (m->lat_count > 0) { /* min and max only exist once something was recorded */
        out(j, ",\"min\":");
        out_double(j, m->lat_min);
        out(j, ",\"max\":");
        out_double(j, m->lat_max);
    }
    out(j, ",\"bucketCounts\":[");
    for (i = 0; i <= N_BOUNDS; i++) {
        if (i) out(j, ",");
        out_u64(j, m->lat_buckets[i]);
    }
    out(j, "],\"explicitBounds\":[");
    for (i = 0; i < N_BOUNDS; i++) {
        if (i) out(j, ",");
        out_double(j, LATENCY_BOUNDS[i]);
    }
    out(j, "]}]}}");

    out(j, "]}]}]}");
    return j->overflow ? -1 : 0;
}

/* ---------------------------------------------------------------------------
 * The library's diagnostics: may be called from the library's own threads.
 * ------------------------------------------------------------------------- */

static void log_to_stderr(void *user_data, otlpmetric_log_level level, const char *message) {
    static const char *const names[] = {"?", "ERROR", "WARN", "INFO", "DEBUG"};
    (void)user_data;
    fprintf(stderr, "otlpmetric %s: %s\n", ((int)level >= 1 && (int)level <= 4) ? names[level] : "?", message);
}

/* ---------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    const char *endpoint = (argc > 1 && strcmp(argv[1], "-") != 0 && argv[1][0]) ? argv[1] : NULL;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    otlpmetric_config *cfg = NULL;
    otlpmetric_exporter *exporter = NULL;
    otlpmetric_status st;
    otlpmetric_stats stats;
    measurements m;
    uint64_t start_ns = now_unix_nano(); /* start of the cumulative counter and histogram */
    static char json[16384];
    int round, failures = 0;

    if (rounds < 1) {
        fprintf(stderr, "usage: %s [ENDPOINT|-] [ROUNDS>=1]\n", argv[0]);
        return 2;
    }
    memset(&m, 0, sizeof m);
    m.temperature = 21.0;
    rng_state ^= (uint32_t)start_ns;

    /* 1. Configure. otlpmetric_config_new starts from the OTEL_EXPORTER_OTLP_*
          environment (endpoint, protocol, headers, timeout, ...); what is set in
          code wins. */
    cfg = otlpmetric_config_new();
    if (!cfg) {
        fprintf(stderr, "otlpmetric_config_new failed: %s\n", otlpmetric_last_error());
        return 1;
    }
    otlpmetric_config_set_log_callback(cfg, log_to_stderr, NULL);
    if (endpoint && otlpmetric_config_set_endpoint(cfg, endpoint) != OTLPMETRIC_OK) {
        fprintf(stderr, "bad endpoint %s: %s\n", endpoint, otlpmetric_last_error());
        otlpmetric_config_free(cfg);
        return 1;
    }

    /* 2. Create the exporter. The config can go right after. */
    st = otlpmetric_exporter_new(cfg, &exporter);
    otlpmetric_config_free(cfg);
    if (st != OTLPMETRIC_OK) {
        fprintf(stderr, "otlpmetric_exporter_new: %s: %s\n", otlpmetric_status_str(st), otlpmetric_last_error());
        return 1;
    }
    if (endpoint) printf("exporting to %s\n", endpoint);
    else if (getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") && *getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))
        printf("exporting to %s (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT)\n", getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"));
    else printf("exporting to the default endpoint (see OTEL_EXPORTER_OTLP_ENDPOINT)\n");

    /* 3. Measure and export, one round a second. */
    for (round = 1; round <= rounds; round++) {
        json_out j;
        if (round > 1) sleep_ms(1000);
        do_work(&m);
        j.buf = json;
        j.cap = sizeof json;
        j.len = 0;
        j.overflow = 0;
        if (build_request(&j, &m, start_ns, now_unix_nano()) != 0) {
            fprintf(stderr, "round %d: the request did not fit in %zu bytes\n", round, sizeof json);
            failures++;
            continue;
        }
        /* timeout 0: the configured export timeout (10 s unless OTEL_EXPORTER_OTLP_TIMEOUT says otherwise) */
        st = otlpmetric_exporter_upload_json(exporter, j.buf, j.len, 0);
        printf("round %d/%d: %s: 4 points (demo.requests 2, demo.temperature 1, demo.latency 1; "
               "%llu requests, %llu latencies, %.1f Cel), %zu bytes of JSON\n",
               round, rounds, otlpmetric_status_str(st), (unsigned long long)(m.requests_ok + m.requests_failed),
               (unsigned long long)m.lat_count, m.temperature, j.len);
        if (st != OTLPMETRIC_OK) {
            fprintf(stderr, "  error: %s\n", otlpmetric_last_error());
            failures++;
        }
        fflush(stdout);
    }

    /* 4. Flush, shut down, free. */
    st = otlpmetric_exporter_force_flush(exporter, 0);
    if (st != OTLPMETRIC_OK) {
        fprintf(stderr, "force_flush: %s: %s\n", otlpmetric_status_str(st), otlpmetric_last_error());
        failures++;
    }
    st = otlpmetric_exporter_shutdown(exporter, 0);
    if (st != OTLPMETRIC_OK) {
        fprintf(stderr, "shutdown: %s: %s\n", otlpmetric_status_str(st), otlpmetric_last_error());
        failures++;
    }
    if (otlpmetric_exporter_stats(exporter, &stats) == OTLPMETRIC_OK)
        printf("sent %llu requests (%llu protobuf bytes), %llu failed, %llu retries\n",
               (unsigned long long)stats.requests_sent, (unsigned long long)stats.bytes_sent,
               (unsigned long long)stats.requests_failed, (unsigned long long)stats.retries);
    otlpmetric_exporter_free(exporter);

    printf("%s\n", failures ? "demo: FAILED" : "demo: ok");
    return failures ? 1 : 0;
}
