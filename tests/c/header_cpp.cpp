/*
 * header_cpp.cpp - the header from C++17: extern "C" linkage, the enums and the
 * callback typedefs work as C++ sees them.
 *
 *   c++ -std=c++17 -Wall -Wextra -Werror -pedantic -I include tests/c/header_cpp.cpp \
 *       -L target/debug -lotlpmetric
 */
#include "otlpmetric.h"

#include <cstdio>
#include <cstring>
#include <memory>

static_assert(OTLPMETRIC_OK == 0, "status values are the contract's");
static_assert(OTLPMETRIC_ERR_TIMEOUT == 4, "status values are the contract's");
static_assert(OTLPMETRIC_ERR_INTERNAL == 7, "status values are the contract's");
static_assert(OTLPMETRIC_ERR_CANCELLED == 8, "status values are the contract's");
static_assert(OTLPMETRIC_TEMPORALITY_CUMULATIVE == 2, "OTLP wire numbers");
static_assert(sizeof(otlpmetric_status) == 4, "an int32_t-sized enum");

namespace {

// The RAII style a C++ wrapper would use.
struct ConfigDeleter {
    void operator()(otlpmetric_config *c) const noexcept { otlpmetric_config_free(c); }
};
struct ExporterDeleter {
    void operator()(otlpmetric_exporter *e) const noexcept { otlpmetric_exporter_free(e); }
};
using ConfigPtr = std::unique_ptr<otlpmetric_config, ConfigDeleter>;
using ExporterPtr = std::unique_ptr<otlpmetric_exporter, ExporterDeleter>;

int failures = 0;

void expect(bool ok, const char *what) {
    if (!ok) {
        std::printf("FAIL: %s (last_error: %s)\n", what, otlpmetric_last_error());
        failures++;
    }
}

}  // namespace

int main() {
    const char *v = otlpmetric_version();
    expect(v != nullptr && std::strlen(v) >= 5, "otlpmetric_version");
    expect(std::strlen(otlpmetric_status_str(OTLPMETRIC_ERR_DECODE)) > 0, "otlpmetric_status_str");

    ConfigPtr cfg(otlpmetric_config_new());
    expect(cfg != nullptr, "otlpmetric_config_new");
    if (!cfg) return 1;
    expect(otlpmetric_config_set_endpoint(cfg.get(), "http://127.0.0.1:9/v1/metrics") == OTLPMETRIC_OK, "set_endpoint");
    expect(otlpmetric_config_set_protocol(cfg.get(), OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF) == OTLPMETRIC_OK, "set_protocol");
    // Captureless lambdas convert to the C callback types.
    otlpmetric_temporality_selector delta = [](void *, otlpmetric_instrument_kind kind) {
        return kind == OTLPMETRIC_INSTRUMENT_COUNTER ? OTLPMETRIC_TEMPORALITY_DELTA : OTLPMETRIC_TEMPORALITY_CUMULATIVE;
    };
    otlpmetric_log_callback log = [](void *, otlpmetric_log_level level, const char *message) {
        std::fprintf(stderr, "otlpmetric [%d] %s\n", static_cast<int>(level), message);
    };
    expect(otlpmetric_config_set_temporality_selector(cfg.get(), delta, nullptr) == OTLPMETRIC_OK, "selector");
    expect(otlpmetric_config_set_log_callback(cfg.get(), log, nullptr) == OTLPMETRIC_OK, "log callback");

    otlpmetric_exporter *raw = nullptr;
    expect(otlpmetric_exporter_new(cfg.get(), &raw) == OTLPMETRIC_OK && raw != nullptr, "otlpmetric_exporter_new");
    ExporterPtr ex(raw);
    cfg.reset();  // the config may go as soon as the exporter exists
    if (ex) {
        expect(otlpmetric_exporter_temporality(ex.get(), OTLPMETRIC_INSTRUMENT_COUNTER) == OTLPMETRIC_TEMPORALITY_DELTA,
               "temporality");
        otlpmetric_aggregation agg{};
        expect(otlpmetric_exporter_aggregation(ex.get(), OTLPMETRIC_INSTRUMENT_HISTOGRAM, &agg) == OTLPMETRIC_OK &&
                   agg.kind == OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM && agg.boundaries_len == 15,
               "aggregation");
        expect(otlpmetric_exporter_shutdown(ex.get(), 5000) == OTLPMETRIC_OK, "shutdown");
    }
    std::printf("header_cpp: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
