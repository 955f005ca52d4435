/*
 * instruments.c - a C program that records metrics on instruments and lets otlpmetric
 * aggregate and export them: no SDK, no protobuf, no hand-written OTLP.
 *
 *   instruments.requests         counter (int64), attributes route and status
 *   instruments.request.duration histogram (double, ms), attribute route
 *   instruments.memory.usage     observable gauge (int64, By): the process's resident
 *                                memory, read from /proc/self/statm at each collection
 *
 * It serves pretend requests for a while; the library's own thread exports every
 * interval, and shutdown exports what is left.
 *
 * Usage:  instruments [ENDPOINT|-] [--requests N] [--interval-ms MS]
 *   ENDPOINT       full URL: http://host:4318/v1/metrics (OTLP/HTTP, the default
 *                  protocol) or, with OTEL_EXPORTER_OTLP_PROTOCOL=grpc, http://host:4317.
 *                  Without it (or "-"): the OTEL_EXPORTER_OTLP_* environment.
 *   --requests N   how many pretend requests (default 300, 10 ms apart)
 *   --interval-ms  the export interval (default 1000; OTEL_METRIC_EXPORT_INTERVAL too)
 *   OTEL_SERVICE_NAME names the service (default otlpmetric-instruments-c).
 * Exit status 0 only if the shutdown's export succeeded.
 *
 * Build:  cc -std=c99 instruments.c $(pkg-config --cflags --libs otlpmetric)
 *    or:  cc -std=c99 -I include examples/c/instruments.c -L target/debug -lotlpmetric
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, sysconf */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "otlpmetric.h"

static int check(otlpmetric_status status, const char *what) {
    if (status != OTLPMETRIC_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, otlpmetric_status_str(status), otlpmetric_last_error());
        return -1;
    }
    return 0;
}

/* Called by the library at each collection, on the collecting thread. */
static void observe_memory(void *user_data, otlpmetric_observer *observer) {
    long page_size = *(const long *)user_data;
    unsigned long size = 0, resident = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm) return;
    if (fscanf(statm, "%lu %lu", &size, &resident) == 2) {
        otlpmetric_attribute kind = {.key = "memory.kind", .type = OTLPMETRIC_ATTRIBUTE_STRING,
                                     .string_value = "resident"};
        otlpmetric_observer_observe_i64(observer, (int64_t)resident * page_size, &kind, 1);
    }
    fclose(statm);
}

static void log_message(void *user_data, otlpmetric_log_level level, const char *message) {
    (void)user_data;
    if (level <= OTLPMETRIC_LOG_WARN) fprintf(stderr, "otlpmetric: %s\n", message);
}

int main(int argc, char **argv) {
    const char *endpoint = NULL;
    long requests = 300, interval_ms = 1000, i;
    long page_size = sysconf(_SC_PAGESIZE);
    static const char *routes[] = {"/", "/api/items", "/api/cart"};
    otlpmetric_config *config;
    otlpmetric_meter_provider *provider = NULL;
    otlpmetric_meter *meter = NULL;
    otlpmetric_instrument *counter = NULL, *duration = NULL, *memory = NULL;
    int failed = 0, a;

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--requests") == 0 && a + 1 < argc) requests = atol(argv[++a]);
        else if (strcmp(argv[a], "--interval-ms") == 0 && a + 1 < argc) interval_ms = atol(argv[++a]);
        else if (argv[a][0] != '-' || strcmp(argv[a], "-") == 0) endpoint = argv[a];
        else {
            fprintf(stderr, "usage: %s [ENDPOINT|-] [--requests N] [--interval-ms MS]\n", argv[0]);
            return 2;
        }
    }
    if (endpoint && strcmp(endpoint, "-") == 0) endpoint = NULL;

    config = otlpmetric_config_new();
    if (!config) return 1;
    {
        const char *service = getenv("OTEL_SERVICE_NAME");
        otlpmetric_attribute resource[] = {
            {.key = "service.name", .type = OTLPMETRIC_ATTRIBUTE_STRING,
             .string_value = service && *service ? service : "otlpmetric-instruments-c"},
            {.key = "deployment.environment.name", .type = OTLPMETRIC_ATTRIBUTE_STRING, .string_value = "demo"},
        };
        if ((endpoint && check(otlpmetric_config_set_endpoint(config, endpoint), "endpoint")) ||
            check(otlpmetric_config_set_log_callback(config, log_message, NULL), "log callback") ||
            check(otlpmetric_config_set_resource(config, resource, 2), "resource") ||
            (!getenv("OTEL_METRIC_EXPORT_INTERVAL") &&
             check(otlpmetric_config_set_export_interval_ms(config, (uint32_t)interval_ms), "interval")) ||
            check(otlpmetric_meter_provider_new(config, &provider), "meter provider")) {
            otlpmetric_config_free(config);
            return 1;
        }
    }
    otlpmetric_config_free(config);

    if (check(otlpmetric_meter_provider_meter(provider, "otlpmetric.examples.instruments", "1.0.0", &meter),
              "meter") ||
        check(otlpmetric_meter_instrument(meter, OTLPMETRIC_INSTRUMENT_COUNTER, OTLPMETRIC_NUMBER_INT64,
                                          "instruments.requests", "{request}", "Requests served", &counter),
              "counter") ||
        check(otlpmetric_meter_instrument(meter, OTLPMETRIC_INSTRUMENT_HISTOGRAM, OTLPMETRIC_NUMBER_DOUBLE,
                                          "instruments.request.duration", "ms", "Time to serve a request",
                                          &duration),
              "histogram") ||
        check(otlpmetric_meter_observable(meter, OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE,
                                          OTLPMETRIC_NUMBER_INT64, "instruments.memory.usage", "By",
                                          "Resident memory of the process", observe_memory, &page_size,
                                          &memory),
              "gauge")) {
        otlpmetric_meter_provider_free(provider);
        return 1;
    }

    srand(42);
    for (i = 0; i < requests; i++) {
        const char *route = routes[rand() % 3];
        int64_t status = rand() % 10 == 0 ? 500 : 200;
        double ms = 2.0 + (double)(rand() % 2000) / 10.0;
        otlpmetric_attribute attrs[] = {
            {.key = "route", .type = OTLPMETRIC_ATTRIBUTE_STRING, .string_value = route},
            {.key = "status", .type = OTLPMETRIC_ATTRIBUTE_INT, .int_value = status},
        };
        struct timespec pause = {0, 10 * 1000 * 1000};
        /* Recording never blocks on the network; it only fails on a bug in the arguments. */
        failed |= check(otlpmetric_instrument_add_i64(counter, 1, attrs, 2), "add");
        failed |= check(otlpmetric_instrument_record_f64(duration, ms, attrs, 1), "record");
        nanosleep(&pause, NULL);
    }

    /* Exports what is left, stops the thread, shuts the exporter down. */
    failed |= check(otlpmetric_meter_provider_shutdown(provider, 10000), "shutdown");
    {
        otlpmetric_stats stats;
        if (otlpmetric_meter_provider_stats(provider, &stats) == OTLPMETRIC_OK)
            fprintf(stderr, "%ld requests recorded; %llu exports sent, %llu failed\n", requests,
                    (unsigned long long)stats.requests_sent, (unsigned long long)stats.requests_failed);
    }
    otlpmetric_meter_provider_free(provider);
    return failed ? 1 : 0;
}
