/*
 * A program that never calls shutdown or free: it leaves an exporter with queued data
 * for a receiver that never answers, and another thread blocked in an upload, then
 * returns from main. The process must exit at once, without a hang or a crash.
 * Usage: exit_without_shutdown ENDPOINT
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "otlpmetric.h"

static const char JSON[] = "{\"resourceMetrics\":[]}";

static void *upload_forever(void *exporter) {
    otlpmetric_exporter_upload_json(exporter, JSON, strlen(JSON), 60000);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        return 2;
    }
    otlpmetric_config *config = otlpmetric_config_new();
    otlpmetric_exporter *exporter = NULL;
    if (otlpmetric_config_set_endpoint(config, argv[1]) != OTLPMETRIC_OK ||
        otlpmetric_exporter_new(config, &exporter) != OTLPMETRIC_OK) {
        fprintf(stderr, "setup failed: %s\n", otlpmetric_last_error());
        return 1;
    }
    otlpmetric_config_free(config);
    static const uint8_t empty_resource_metrics[1] = {0};
    for (int i = 0; i < 10; i++) {
        otlpmetric_exporter_enqueue(exporter, empty_resource_metrics, 0);
    }
    pthread_t thread;
    pthread_create(&thread, NULL, upload_forever, exporter);
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    puts("returning from main without shutdown");
    return 0;
}
