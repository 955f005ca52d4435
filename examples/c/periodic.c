/*
 * periodic.c - a periodic OTLP metrics exporter in C, with clean shutdown on Ctrl-C.
 *
 * This is what an OpenTelemetry SDK's periodic reader does, written out by hand: the
 * program measures while it works, and every interval it writes what it measured as
 * OTLP/JSON (with snprintf, no protobuf library) and hands it to otlpmetric, which
 * sends it over OTLP/HTTP or OTLP/gRPC. Three instruments:
 *
 *   periodic.requests          counter    (two series: outcome=ok and outcome=error)
 *   periodic.request.duration  histogram  (ms, with min and max)
 *   periodic.queue.length      gauge
 *
 * It asks the exporter which temporality to use for the counter and the histogram
 * (cumulative by default; OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta
 * switches) and which histogram boundaries (the SDK defaults unless a selector says
 * otherwise), as an SDK would.
 *
 * Usage:  periodic [ENDPOINT|-] [--rounds N] [--interval-ms MS]
 *   ENDPOINT      full URL: http://host:4318/v1/metrics (OTLP/HTTP, the default
 *                 protocol) or, with OTEL_EXPORTER_OTLP_PROTOCOL=grpc, http://host:4317.
 *                 Without it (or "-"): OTEL_EXPORTER_OTLP_METRICS_ENDPOINT /
 *                 OTEL_EXPORTER_OTLP_ENDPOINT, else the library's default.
 *   --rounds N    stop after N exports (default 0: until Ctrl-C / SIGTERM)
 *   --interval-ms the export interval (default 10000)
 *   OTEL_SERVICE_NAME names the service (default otlpmetric-periodic-c).
 *
 * On SIGINT or SIGTERM it exports what it measured since the last export, flushes and
 * shuts down (a second signal kills it at once). Exit status 0 only if every export,
 * the flush and the shutdown succeeded.
 *
 * Build:  cc -std=c99 periodic.c $(pkg-config --cflags --libs otlpmetric)
 *    or:  cc -std=c99 -I include examples/c/periodic.c -L target/debug -lotlpmetric
 */
#define _POSIX_C_SOURCE 200809L /* sigaction, clock_gettime, nanosleep, getpid */

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <otlpmetric.h>

/* ---------------------------------------------------------------------------
 * Signals: the handler only sets a flag; the main loop notices it.
 * ------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
    if (stop_requested) { /* a second Ctrl-C: stop now, the default way */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_requested = 1;
}

static void install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---------------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------------- */

static uint64_t now_unix_nano(void) { /* wall clock, as OTLP wants it */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t monotonic_ms(void) { /* for the interval */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL); /* an interrupting signal just ends the nap early */
}

/* ---------------------------------------------------------------------------
 * A tiny JSON writer (as in demo.c): appends to a buffer, remembers overflow.
 * ------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t cap, len;
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

static void out_string(json_out *j, const char *s) { /* with JSON's escapes */
    out(j, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') out(j, "\\%c", c);
        else if (c < 0x20) out(j, "\\u%04x", c);
        else out(j, "%c", c);
    }
    out(j, "\"");
}

/* OTLP/JSON: 64-bit integers as strings, doubles as numbers, enums as numbers. */
static void out_u64(json_out *j, uint64_t v) { out(j, "\"%llu\"", (unsigned long long)v); }
static void out_double(json_out *j, double d) { out(j, "%.17g", d); }

static void out_attr_str(json_out *j, const char *key, const char *value) {
    out(j, "{\"key\":");
    out_string(j, key);
    out(j, ",\"value\":{\"stringValue\":");
    out_string(j, value);
    out(j, "}}");
}

/* ---------------------------------------------------------------------------
 * The instruments' state. Each measurement goes into two windows: one since the
 * start (for cumulative temporality) and one since the last export (for delta).
 * ------------------------------------------------------------------------- */

typedef struct {
    uint64_t start_ns;             /* start of the window */
    uint64_t requests_ok, requests_error;
    uint64_t count;                /* histogram */
    double sum, min, max;
    uint64_t *buckets;             /* n_bounds + 1 */
} window;

typedef struct {
    const double *bounds; /* histogram boundaries, from the exporter */
    size_t n_bounds;
    int record_min_max;
    window total, delta;
    long queue_length; /* the gauge's current value */
} instruments;

static void window_reset(window *w, size_t n_bounds, uint64_t start_ns) {
    uint64_t *b = w->buckets;
    memset(w, 0, sizeof *w);
    w->buckets = b;
    memset(w->buckets, 0, (n_bounds + 1) * sizeof *w->buckets);
    w->start_ns = start_ns;
}

static void window_record(window *w, const instruments *in, int ok, double ms) {
    size_t i = 0;
    if (ok) w->requests_ok++;
    else w->requests_error++;
    while (i < in->n_bounds && ms > in->bounds[i]) i++; /* buckets are (bound[i-1], bound[i]] */
    w->buckets[i]++;
    if (w->count == 0 || ms < w->min) w->min = ms;
    if (w->count == 0 || ms > w->max) w->max = ms;
    w->count++;
    w->sum += ms;
}

/* ---------------------------------------------------------------------------
 * The "work" being measured: a stand-in for your program's real requests.
 * ------------------------------------------------------------------------- */

static uint32_t rng_state = 2463534242u; /* xorshift: no libm, no rand() state games */
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void handle_some_requests(instruments *in) {
    unsigned n = rng() % 4, i;
    for (i = 0; i < n; i++) {
        int ok = rng() % 20 != 0;                           /* 5% errors */
        double ms = 0.5 + (double)(rng() % 30000) / 100.0;  /* 0.5 .. 300.49 ms */
        window_record(&in->total, in, ok, ms);
        window_record(&in->delta, in, ok, ms);
    }
    in->queue_length += (long)(rng() % 5) - 2;
    if (in->queue_length < 0) in->queue_length = 0;
}

/* ---------------------------------------------------------------------------
 * One export: an ExportMetricsServiceRequest in OTLP/JSON.
 * ------------------------------------------------------------------------- */

typedef struct {
    otlpmetric_temporality counter, histogram; /* from the exporter */
    int drop_counter, drop_histogram;          /* DROP aggregation: not exported */
} export_plan;

static void out_counter_point(json_out *j, const window *w, const char *outcome, uint64_t value, uint64_t now_ns) {
    out(j, "{\"attributes\":[");
    out_attr_str(j, "outcome", outcome);
    out(j, "],\"startTimeUnixNano\":");
    out_u64(j, w->start_ns);
    out(j, ",\"timeUnixNano\":");
    out_u64(j, now_ns);
    out(j, ",\"asInt\":");
    out_u64(j, value);
    out(j, "}");
}

static void build_request(json_out *j, const instruments *in, const export_plan *plan, const char *service,
                          uint64_t now_ns) {
    const window *cw = plan->counter == OTLPMETRIC_TEMPORALITY_DELTA ? &in->delta : &in->total;
    const window *hw = plan->histogram == OTLPMETRIC_TEMPORALITY_DELTA ? &in->delta : &in->total;
    size_t i;

    out(j, "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[");
    out_attr_str(j, "service.name", service);
    out(j, ",{\"key\":\"process.pid\",\"value\":{\"intValue\":\"%ld\"}}]},", (long)getpid());
    out(j, "\"scopeMetrics\":[{\"scope\":{\"name\":\"otlpmetric.examples.periodic\",\"version\":");
    out_string(j, otlpmetric_version());
    out(j, "},\"metrics\":[");

    /* The gauge: a value at a point in time. */
    out(j, "{\"name\":\"periodic.queue.length\",\"description\":\"Requests waiting\",\"unit\":\"{request}\","
           "\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":");
    out_u64(j, now_ns);
    out(j, ",\"asInt\":\"%ld\"}]}}", in->queue_length);

    /* The counter: a monotonic Sum, one point per attribute set. */
    if (!plan->drop_counter) {
        out(j, ",{\"name\":\"periodic.requests\",\"description\":\"Requests handled\",\"unit\":\"{request}\","
               "\"sum\":{\"aggregationTemporality\":%d,\"isMonotonic\":true,\"dataPoints\":[",
            (int)plan->counter);
        out_counter_point(j, cw, "ok", cw->requests_ok, now_ns);
        out(j, ",");
        out_counter_point(j, cw, "error", cw->requests_error, now_ns);
        out(j, "]}}");
    }

    /* The histogram: count, sum, (min, max), one more bucket count than bounds. */
    if (!plan->drop_histogram) {
        out(j, ",{\"name\":\"periodic.request.duration\",\"description\":\"Request duration\",\"unit\":\"ms\","
               "\"histogram\":{\"aggregationTemporality\":%d,\"dataPoints\":[{\"startTimeUnixNano\":",
            (int)plan->histogram);
        out_u64(j, hw->start_ns);
        out(j, ",\"timeUnixNano\":");
        out_u64(j, now_ns);
        out(j, ",\"count\":");
        out_u64(j, hw->count);
        out(j, ",\"sum\":");
        out_double(j, hw->sum);
        if (in->record_min_max && hw->count > 0) {
            out(j, ",\"min\":");
            out_double(j, hw->min);
            out(j, ",\"max\":");
            out_double(j, hw->max);
        }
        out(j, ",\"bucketCounts\":[");
        for (i = 0; i <= in->n_bounds; i++) {
            if (i) out(j, ",");
            out_u64(j, hw->buckets[i]);
        }
        out(j, "],\"explicitBounds\":[");
        for (i = 0; i < in->n_bounds; i++) {
            if (i) out(j, ",");
            out_double(j, in->bounds[i]);
        }
        out(j, "]}]}}");
    }
    out(j, "]}]}]}");
}

/* ---------------------------------------------------------------------------
 * The library's diagnostics (may be called from the library's own threads).
 * ------------------------------------------------------------------------- */

static void log_to_stderr(void *user_data, otlpmetric_log_level level, const char *message) {
    static const char *const names[] = {"?", "ERROR", "WARN", "INFO", "DEBUG"};
    (void)user_data;
    if (level == OTLPMETRIC_LOG_DEBUG) return;
    fprintf(stderr, "otlpmetric %s: %s\n", ((int)level >= 1 && (int)level <= 4) ? names[level] : "?", message);
}

static int usage(const char *argv0) {
    fprintf(stderr, "usage: %s [ENDPOINT|-] [--rounds N] [--interval-ms MS]\n", argv0);
    return 2;
}

/* The SDK's default boundaries, for when the exporter asks for an exponential histogram
   (which this example does not write). */
static const double DEFAULT_BOUNDS[] = {0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000};

int main(int argc, char **argv) {
    const char *endpoint = NULL, *service;
    long rounds = 0, interval_ms = 10000;
    int i, round, failures = 0;
    otlpmetric_config *cfg;
    otlpmetric_exporter *exporter = NULL;
    otlpmetric_aggregation counter_agg, hist_agg;
    otlpmetric_status st;
    otlpmetric_stats stats;
    export_plan plan;
    instruments in;
    char *json = NULL;
    size_t json_cap;
    uint64_t start_ns = now_unix_nano();

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc) interval_ms = strtol(argv[++i], NULL, 10);
        else if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0) return usage(argv[0]);
        else if (!endpoint) endpoint = argv[i];
        else return usage(argv[0]);
    }
    if (rounds < 0 || interval_ms < 1) return usage(argv[0]);
    if (endpoint && (strcmp(endpoint, "-") == 0 || !*endpoint)) endpoint = NULL;
    service = getenv("OTEL_SERVICE_NAME");
    if (!service || !*service) service = "otlpmetric-periodic-c";
    rng_state ^= (uint32_t)start_ns;
    install_signal_handlers();

    /* 1. Configure (starts from the OTEL_EXPORTER_OTLP_* environment) and create. */
    cfg = otlpmetric_config_new();
    if (!cfg) {
        fprintf(stderr, "otlpmetric_config_new: %s\n", otlpmetric_last_error());
        return 1;
    }
    otlpmetric_config_set_log_callback(cfg, log_to_stderr, NULL);
    if (endpoint && otlpmetric_config_set_endpoint(cfg, endpoint) != OTLPMETRIC_OK) {
        fprintf(stderr, "bad endpoint %s: %s\n", endpoint, otlpmetric_last_error());
        otlpmetric_config_free(cfg);
        return 1;
    }
    st = otlpmetric_exporter_new(cfg, &exporter);
    otlpmetric_config_free(cfg);
    if (st != OTLPMETRIC_OK) {
        fprintf(stderr, "otlpmetric_exporter_new: %s: %s\n", otlpmetric_status_str(st), otlpmetric_last_error());
        return 1;
    }

    /* 2. Ask the exporter how to aggregate, as an SDK would. */
    memset(&plan, 0, sizeof plan);
    plan.counter = otlpmetric_exporter_temporality(exporter, OTLPMETRIC_INSTRUMENT_COUNTER);
    plan.histogram = otlpmetric_exporter_temporality(exporter, OTLPMETRIC_INSTRUMENT_HISTOGRAM);
    memset(&in, 0, sizeof in);
    if (otlpmetric_exporter_aggregation(exporter, OTLPMETRIC_INSTRUMENT_COUNTER, &counter_agg) != OTLPMETRIC_OK ||
        otlpmetric_exporter_aggregation(exporter, OTLPMETRIC_INSTRUMENT_HISTOGRAM, &hist_agg) != OTLPMETRIC_OK) {
        fprintf(stderr, "otlpmetric_exporter_aggregation: %s\n", otlpmetric_last_error());
        otlpmetric_exporter_free(exporter);
        return 1;
    }
    plan.drop_counter = counter_agg.kind == OTLPMETRIC_AGGREGATION_DROP;
    plan.drop_histogram = hist_agg.kind == OTLPMETRIC_AGGREGATION_DROP;
    if (hist_agg.kind == OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM) {
        in.bounds = hist_agg.boundaries; /* points into the exporter: valid until it is freed */
        in.n_bounds = hist_agg.boundaries_len;
        in.record_min_max = hist_agg.record_min_max;
    } else {
        if (hist_agg.kind != OTLPMETRIC_AGGREGATION_DROP)
            fprintf(stderr, "note: this example writes explicit-bucket histograms only\n");
        in.bounds = DEFAULT_BOUNDS;
        in.n_bounds = sizeof DEFAULT_BOUNDS / sizeof DEFAULT_BOUNDS[0];
        in.record_min_max = 1;
    }
    in.total.buckets = calloc(in.n_bounds + 1, sizeof(uint64_t));
    in.delta.buckets = calloc(in.n_bounds + 1, sizeof(uint64_t));
    json_cap = 4096 + 64 * (in.n_bounds + 1);
    json = malloc(json_cap);
    if (!in.total.buckets || !in.delta.buckets || !json) {
        fprintf(stderr, "out of memory\n");
        otlpmetric_exporter_free(exporter);
        return 1;
    }
    window_reset(&in.total, in.n_bounds, start_ns);
    window_reset(&in.delta, in.n_bounds, start_ns);

    printf("exporting to %s every %ld ms (counter %s, histogram %s); Ctrl-C to stop\n",
           endpoint ? endpoint : "the configured endpoint", interval_ms,
           plan.counter == OTLPMETRIC_TEMPORALITY_DELTA ? "delta" : "cumulative",
           plan.histogram == OTLPMETRIC_TEMPORALITY_DELTA ? "delta" : "cumulative");
    fflush(stdout);

    /* 3. Work and measure; export every interval, and once more when stopped. */
    for (round = 1;; round++) {
        json_out j;
        uint64_t deadline = monotonic_ms() + (uint64_t)interval_ms, now_ns, t;
        while (!stop_requested && (t = monotonic_ms()) < deadline) {
            handle_some_requests(&in);
            sleep_ms(deadline - t < 50 ? (long)(deadline - t) : 50); /* short naps: the signal may */
        }                                                            /* go to a library thread   */
        now_ns = now_unix_nano();
        j.buf = json;
        j.cap = json_cap;
        j.len = 0;
        j.overflow = 0;
        build_request(&j, &in, &plan, service, now_ns);
        if (j.overflow) {
            fprintf(stderr, "round %d: the request did not fit in %zu bytes\n", round, json_cap);
            failures++;
        } else {
            /* timeout 0: the configured export timeout (10 s unless OTEL_EXPORTER_OTLP_TIMEOUT says otherwise) */
            st = otlpmetric_exporter_upload_json(exporter, j.buf, j.len, 0);
            printf("round %d: %s (%llu requests so far, queue %ld)\n", round, otlpmetric_status_str(st),
                   (unsigned long long)(in.total.requests_ok + in.total.requests_error), in.queue_length);
            if (st != OTLPMETRIC_OK) {
                fprintf(stderr, "  error: %s\n", otlpmetric_last_error());
                failures++;
            }
            fflush(stdout);
        }
        window_reset(&in.delta, in.n_bounds, now_ns); /* the next delta starts now */
        if (stop_requested || (rounds > 0 && round >= rounds)) break;
    }
    if (stop_requested) printf("signal received: flushing and shutting down\n");

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
        printf("sent %llu requests (%llu bytes), %llu failed, %llu retries\n",
               (unsigned long long)stats.requests_sent, (unsigned long long)stats.bytes_sent,
               (unsigned long long)stats.requests_failed, (unsigned long long)stats.retries);
    otlpmetric_exporter_free(exporter); /* in.bounds pointed into it: not used after this */
    free(in.total.buckets);
    free(in.delta.buckets);
    free(json);
    printf("%s\n", failures ? "periodic: FAILED" : "periodic: ok");
    return failures ? 1 : 0;
}
