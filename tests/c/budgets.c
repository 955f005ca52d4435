/*
 * Embeddability budgets, measured in a plain C process that loads the library with
 * dlopen after OpenSSL is already loaded (RTLD_GLOBAL), as a host application would:
 *   - loading the library and building a config starts no thread;
 *   - one idle exporter adds less than 4 MiB of resident memory;
 *   - the library still works next to the other TLS stack.
 * Usage: budgets LIBRARY ENDPOINT    Prints the figures; exit 0 when within budget.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "otlpmetric.h"

static int thread_count(void) {
    DIR *dir = opendir("/proc/self/task");
    int n = 0;
    struct dirent *entry;
    if (!dir) {
        return -1;
    }
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] != '.') {
            n++;
        }
    }
    closedir(dir);
    return n;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f) {
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
        }
    }
    fclose(f);
    return kib;
}

static void pause_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef otlpmetric_config *(*config_new_fn)(void);
typedef void (*config_free_fn)(otlpmetric_config *);
typedef otlpmetric_status (*set_endpoint_fn)(otlpmetric_config *, const char *);
typedef otlpmetric_status (*exporter_new_fn)(const otlpmetric_config *, otlpmetric_exporter **);
typedef otlpmetric_status (*upload_json_fn)(otlpmetric_exporter *, const char *, size_t, uint32_t);
typedef otlpmetric_status (*shutdown_fn)(otlpmetric_exporter *, uint32_t);
typedef void (*exporter_free_fn)(otlpmetric_exporter *);
typedef const char *(*last_error_fn)(void);

/* dlsym into a function pointer without the object-to-function cast warning. */
#define LOAD(lib, name, type, var)                                   \
    type var;                                                        \
    do {                                                             \
        void *sym = dlsym(lib, name);                                \
        if (!sym) {                                                  \
            fprintf(stderr, "missing symbol %s\n", name);           \
            return 1;                                                \
        }                                                            \
        memcpy(&var, &sym, sizeof var);                              \
    } while (0)

int main(int argc, char **argv) {
    const char *other_tls[] = {"libssl.so.3", "libcrypto.so.3", "libssl.so", "libcrypto.so"};
    int others = 0;
    size_t i;
    if (argc < 3) {
        fprintf(stderr, "usage: budgets LIBRARY ENDPOINT\n");
        return 2;
    }
    for (i = 0; i < sizeof other_tls / sizeof other_tls[0]; i++) {
        if (dlopen(other_tls[i], RTLD_NOW | RTLD_GLOBAL)) {
            others++;
        }
    }
    int threads_before = thread_count();
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    LOAD(lib, "otlpmetric_config_new", config_new_fn, config_new);
    LOAD(lib, "otlpmetric_config_free", config_free_fn, config_free);
    LOAD(lib, "otlpmetric_config_set_endpoint", set_endpoint_fn, set_endpoint);
    LOAD(lib, "otlpmetric_exporter_new", exporter_new_fn, exporter_new);
    LOAD(lib, "otlpmetric_exporter_upload_json", upload_json_fn, upload_json);
    LOAD(lib, "otlpmetric_exporter_shutdown", shutdown_fn, shutdown);
    LOAD(lib, "otlpmetric_exporter_free", exporter_free_fn, exporter_free);
    LOAD(lib, "otlpmetric_last_error", last_error_fn, last_error);

    otlpmetric_config *config = config_new();
    if (set_endpoint(config, argv[2]) != OTLPMETRIC_OK) {
        fprintf(stderr, "set_endpoint: %s\n", last_error());
        return 1;
    }
    pause_ms(50);
    int threads_without_exporter = thread_count();

    long rss_before = rss_kib();
    otlpmetric_exporter *exporter = NULL;
    if (exporter_new(config, &exporter) != OTLPMETRIC_OK) {
        fprintf(stderr, "exporter_new: %s\n", last_error());
        return 1;
    }
    config_free(config);
    pause_ms(300);
    long rss_idle = rss_kib();
    int threads_with_exporter = thread_count();

    const char json[] = "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"budget\","
                        "\"gauge\":{\"dataPoints\":[{\"asInt\":\"1\",\"timeUnixNano\":\"1\"}]}}]}]}]}";
    otlpmetric_status st = upload_json(exporter, json, strlen(json), 5000);
    long rss_used = rss_kib();
    if (st != OTLPMETRIC_OK) {
        fprintf(stderr, "upload next to %d other TLS libraries: %s\n", others, last_error());
        return 1;
    }
    if (shutdown(exporter, 2000) != OTLPMETRIC_OK) {
        fprintf(stderr, "shutdown: %s\n", last_error());
        return 1;
    }
    exporter_free(exporter);

    long idle_added = rss_idle - rss_before;
    printf("other TLS libraries loaded first: %d\n", others);
    printf("threads: %d before loading, %d after loading and a config, %d with one exporter\n",
           threads_before, threads_without_exporter, threads_with_exporter);
    printf("RSS: %ld KiB before the exporter, +%ld KiB idle exporter (budget 4096), +%ld KiB after one upload\n",
           rss_before, idle_added, rss_used - rss_before);
    int ok = threads_without_exporter == threads_before && idle_added < 4096 && others > 0;
    printf("%s\n", ok ? "within budget" : "OVER BUDGET");
    return ok ? 0 : 1;
}
