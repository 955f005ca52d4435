/*
 * instruments.cpp - records metrics on instruments with otlpmetric.hpp and lets the
 * library aggregate and export them: no SDK, no protobuf, no hand-written OTLP.
 *
 *   instruments.requests         counter (int64), attributes route and status
 *   instruments.request.duration histogram (double, ms), bound to route=/api
 *   instruments.memory.usage     observable gauge (int64, By): resident memory, read
 *                                from /proc/self/statm at each collection
 *
 * It serves pretend requests; the provider's own thread exports every interval, and
 * shutdown exports what is left.
 *
 * Usage:  instruments_cpp [ENDPOINT|-] [--requests N] [--interval-ms MS]
 *   ENDPOINT       http://host:4318/v1/metrics (OTLP/HTTP) or, with
 *                  OTEL_EXPORTER_OTLP_PROTOCOL=grpc, http://host:4317. Without it (or "-"):
 *                  the OTEL_EXPORTER_OTLP_* environment.
 *   --requests N   how many pretend requests (default 300, 10 ms apart)
 *   --interval-ms  the export interval (default 1000)
 * Exit status 0 only if the shutdown's export succeeded.
 *
 * Build:  c++ -std=c++17 instruments.cpp $(pkg-config --cflags --libs otlpmetric)
 */
#include <otlpmetric.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include <unistd.h>

namespace om = otlpmetric;

namespace {

std::int64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::int64_t pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

int main(int argc, char **argv) {
    std::string endpoint = "-";
    long requests = 300;
    long interval_ms = 1000;
    for (int i = 1; i < argc; i++) {
        const std::string arg = argv[i];
        if (arg == "--requests" && i + 1 < argc) {
            requests = std::strtol(argv[++i], nullptr, 10);
        } else if (arg == "--interval-ms" && i + 1 < argc) {
            interval_ms = std::strtol(argv[++i], nullptr, 10);
        } else if (i == 1 && arg.rfind("--", 0) != 0) {
            endpoint = arg;
        } else {
            std::cerr << "usage: instruments_cpp [ENDPOINT|-] [--requests N] [--interval-ms MS]\n";
            return 2;
        }
    }

    try {
        om::Config config;
        if (endpoint != "-") config.set_endpoint(endpoint);
        const char *service = std::getenv("OTEL_SERVICE_NAME");
        config.set_resource({{"service.name", service != nullptr ? service : "otlpmetric-instruments-cpp"}})
            .set_export_interval(std::chrono::milliseconds(interval_ms))
            .set_log_callback([](om::LogLevel level, std::string_view message) {
                if (level == om::LogLevel::Error || level == om::LogLevel::Warn)
                    std::cerr << om::to_string(level) << ": " << message << '\n';
            });
        om::MeterProvider provider(config);
        om::Meter meter = provider.meter("otlpmetric.examples.instruments", "1.0.0");

        auto requests_total = meter.counter<std::int64_t>("instruments.requests", "{request}", "requests served");
        auto duration = meter.histogram<double>("instruments.request.duration", "ms", "time per request");
        meter.observable_gauge<std::int64_t>("instruments.memory.usage",
                                             [](om::Observer<std::int64_t> &o) { o.observe(resident_bytes()); },
                                             "By");
        {
            // Bound: the hot path records with no attribute work. Freed before the provider.
            om::BoundHistogram<double> api_duration = duration.bind({{"route", "/api"}});
            for (long i = 0; i < requests; i++) {
                const bool ok = i % 10 != 0;
                requests_total.add(1, {{"route", "/api"}, {"status", ok ? 200 : 500}});
                api_duration.record(1.0 + static_cast<double>(i % 7) * 2.5);
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        provider.shutdown(std::chrono::seconds(10));
        const om::Stats stats = provider.stats();
        std::cout << "exported " << stats.requests_sent << " requests, " << stats.bytes_sent << " bytes\n";
    } catch (const om::Error &e) {
        std::cerr << e.what() << '\n';
        return 1;
    }
    return 0;
}
