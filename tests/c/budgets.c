/*
 * Embeddability budgets, measured in a plain C process that loads the library with
 * dlopen after other protobuf, gRPC and OpenSSL libraries are already loaded
 * (RTLD_GLOBAL, so their symbols are the process's), as a host application would:
 *   - loading the library and building a config starts no thread;
 *   - one idle exporter adds less than 4 MiB of resident memory;
 *   - the library still exports over HTTP and over gRPC next to those libraries, and
 *     they still answer through their own symbols afterwards.
 * Usage: budgets LIBRARY HTTP_ENDPOINT GRPC_ENDPOINT HOST_LIBRARY...
 * Prints the figures; exit 0 when within budget.
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
typedef otlpmetric_status (*set_protocol_fn)(otlpmetric_config *, otlpmetric_protocol);
typedef const char *(*version_string_fn)(void);
typedef unsigned long (*openssl_version_num_fn)(void);

/* The library's functions, as dlsym found them. */
static struct {
    config_new_fn config_new;
    config_free_fn config_free;
    set_endpoint_fn set_endpoint;
    set_protocol_fn set_protocol;
    exporter_new_fn exporter_new;
    upload_json_fn upload_json;
    shutdown_fn shutdown;
    exporter_free_fn exporter_free;
    last_error_fn last_error;
} api;

/* dlsym into a function pointer (of `api`, or any) without the object-to-function cast
 * warning; fails main() when the symbol is missing. */
#define LOAD(lib, name, fn)                                          \
    do {                                                             \
        void *sym = dlsym(lib, name);                                \
        if (!sym) {                                                  \
            fprintf(stderr, "missing symbol %s\n", name);           \
            return 1;                                                \
        }                                                            \
        memcpy(&(fn), &sym, sizeof(fn));                             \
    } while (0)

/* A symbol of the process's global scope (the program and the RTLD_GLOBAL libraries,
 * first definition wins): NULL if no loaded library has it. */
static void *global_symbol(const char *name) {
    return dlsym(dlopen(NULL, RTLD_NOW), name);
}

/* A host library's version string, from `symbol` in the global scope: NULL if none. */
static const char *host_version(const char *symbol) {
    void *sym = global_symbol(symbol);
    version_string_fn fn;
    if (!sym) {
        return NULL;
    }
    memcpy(&fn, &sym, sizeof fn);
    return fn();
}

static const char budget_json[] =
    "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"budget\","
    "\"gauge\":{\"dataPoints\":[{\"asInt\":\"1\",\"timeUnixNano\":\"1\"}]}}]}]}]}";

/* Uploads the budget request through `exporter` (over `protocol`, for messages), then
 * shuts it down and frees it; `*rss_after_upload`, when given, gets the RSS right after
 * the upload. 0 on success. */
static int upload_and_close(otlpmetric_exporter *exporter, const char *protocol, long *rss_after_upload) {
    otlpmetric_status st = api.upload_json(exporter, budget_json, strlen(budget_json), 5000);
    if (rss_after_upload) {
        *rss_after_upload = rss_kib();
    }
    if (st != OTLPMETRIC_OK) {
        fprintf(stderr, "%s upload next to the host libraries: %s\n", protocol, api.last_error());
        return 1;
    }
    if (api.shutdown(exporter, 2000) != OTLPMETRIC_OK) {
        fprintf(stderr, "%s shutdown: %s\n", protocol, api.last_error());
        return 1;
    }
    api.exporter_free(exporter);
    return 0;
}

int main(int argc, char **argv) {
    int i;
    if (argc < 5) {
        fprintf(stderr, "usage: budgets LIBRARY HTTP_ENDPOINT GRPC_ENDPOINT HOST_LIBRARY...\n");
        return 2;
    }
    printf("host libraries loaded first (RTLD_GLOBAL):");
    for (i = 4; i < argc; i++) {
        if (!dlopen(argv[i], RTLD_NOW | RTLD_GLOBAL)) {
            fprintf(stderr, "\ndlopen %s: %s\n", argv[i], dlerror());
            return 1;
        }
        printf(" %s", strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i]);
    }
    printf("\n");
    const char *grpc_before = host_version("grpc_version_string");
    int threads_before = thread_count();
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    LOAD(lib, "otlpmetric_config_new", api.config_new);
    LOAD(lib, "otlpmetric_config_free", api.config_free);
    LOAD(lib, "otlpmetric_config_set_endpoint", api.set_endpoint);
    LOAD(lib, "otlpmetric_config_set_protocol", api.set_protocol);
    LOAD(lib, "otlpmetric_exporter_new", api.exporter_new);
    LOAD(lib, "otlpmetric_exporter_upload_json", api.upload_json);
    LOAD(lib, "otlpmetric_exporter_shutdown", api.shutdown);
    LOAD(lib, "otlpmetric_exporter_free", api.exporter_free);
    LOAD(lib, "otlpmetric_last_error", api.last_error);

    otlpmetric_config *config = api.config_new();
    if (api.set_endpoint(config, argv[2]) != OTLPMETRIC_OK) {
        fprintf(stderr, "set_endpoint: %s\n", api.last_error());
        return 1;
    }
    pause_ms(50);
    int threads_without_exporter = thread_count();

    long rss_before = rss_kib();
    otlpmetric_exporter *exporter = NULL;
    if (api.exporter_new(config, &exporter) != OTLPMETRIC_OK) {
        fprintf(stderr, "exporter_new: %s\n", api.last_error());
        return 1;
    }
    api.config_free(config);
    pause_ms(300);
    long rss_idle = rss_kib();
    int threads_with_exporter = thread_count();

    long rss_used = 0;
    if (upload_and_close(exporter, "HTTP", &rss_used) != 0) {
        return 1;
    }

    /* The same over gRPC, next to the host's own gRPC. */
    config = api.config_new();
    if (api.set_protocol(config, OTLPMETRIC_PROTOCOL_GRPC) != OTLPMETRIC_OK ||
        api.set_endpoint(config, argv[3]) != OTLPMETRIC_OK || api.exporter_new(config, &exporter) != OTLPMETRIC_OK) {
        fprintf(stderr, "gRPC exporter: %s\n", api.last_error());
        return 1;
    }
    api.config_free(config);
    if (upload_and_close(exporter, "gRPC", NULL) != 0) {
        return 1;
    }
    printf("exported over HTTP and gRPC next to them\n");

    /* The host's libraries still answer through their own symbols. */
    const char *grpc_after = host_version("grpc_version_string");
    unsigned long openssl = 0;
    void *openssl_sym = global_symbol("OpenSSL_version_num");
    if (openssl_sym) {
        openssl_version_num_fn fn;
        memcpy(&fn, &openssl_sym, sizeof fn);
        openssl = fn();
    }
    printf("host gRPC core %s before, %s after; host OpenSSL 0x%lx\n", grpc_before ? grpc_before : "(none)",
           grpc_after ? grpc_after : "(none)", openssl);
    int host_ok = grpc_before && grpc_after && strcmp(grpc_before, grpc_after) == 0 && openssl != 0;

    long idle_added = rss_idle - rss_before;
    printf("threads: %d before loading, %d after loading and a config, %d with one exporter\n",
           threads_before, threads_without_exporter, threads_with_exporter);
    printf("RSS: %ld KiB before the exporter, +%ld KiB idle exporter (budget 4096), +%ld KiB after one upload\n",
           rss_before, idle_added, rss_used - rss_before);
    int ok = threads_without_exporter == threads_before && idle_added < 4096 && host_ok;
    printf("%s\n", ok ? "within budget" : "OVER BUDGET");
    return ok ? 0 : 1;
}
