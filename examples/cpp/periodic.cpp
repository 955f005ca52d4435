/*
 * periodic.cpp - a periodic OTLP metrics exporter in C++17 with otlpmetric.hpp, with
 * clean shutdown on Ctrl-C.
 *
 * What an OpenTelemetry SDK's periodic reader does, written out by hand: measure while
 * working; every interval, write what was measured as OTLP/JSON and hand it to the
 * exporter, which sends it over OTLP/HTTP or OTLP/gRPC. Three instruments:
 *
 *   periodic.requests          counter    (two series: outcome=ok and outcome=error)
 *   periodic.request.duration  histogram  (ms, with min and max)
 *   periodic.queue.length      gauge
 *
 * The exporter says which temporality the counter and the histogram use (cumulative
 * by default; OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta switches) and
 * the histogram's boundaries (here set by an aggregation selector, a lambda).
 *
 * Usage:  periodic [ENDPOINT|-] [--rounds N] [--interval-ms MS]
 *   ENDPOINT      full URL: http://host:4318/v1/metrics (OTLP/HTTP, the default
 *                 protocol) or, with OTEL_EXPORTER_OTLP_PROTOCOL=grpc, http://host:4317.
 *                 Without it (or "-"): OTEL_EXPORTER_OTLP_METRICS_ENDPOINT /
 *                 OTEL_EXPORTER_OTLP_ENDPOINT, else the library's default.
 *   --rounds N    stop after N exports (default 0: until Ctrl-C / SIGTERM)
 *   --interval-ms the export interval (default 10000)
 *   OTEL_SERVICE_NAME names the service (default otlpmetric-periodic-cpp).
 *
 * On SIGINT or SIGTERM it exports what it measured since the last export, flushes and
 * shuts down (a second signal kills it at once). Exit status 0 only if every export,
 * the flush and the shutdown succeeded.
 *
 * Build:  c++ -std=c++17 periodic.cpp $(pkg-config --cflags --libs otlpmetric)
 *    or:  CMake: find_package(otlpmetric) + target_link_libraries(app PRIVATE otlpmetric::otlpmetric)
 */
#include <otlpmetric.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>  // getpid

namespace om = otlpmetric;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------
// Signals: the handler only sets a flag; the main loop notices it.
// ---------------------------------------------------------------------------------

static volatile std::sig_atomic_t stop_requested = 0;

extern "C" {
static void on_signal(int sig) {
    if (stop_requested) {  // a second Ctrl-C: stop now, the default way
        std::signal(sig, SIG_DFL);
        std::raise(sig);
        return;
    }
    stop_requested = 1;
}
}

namespace {

std::uint64_t now_unix_nano() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

// ---------------------------------------------------------------------------------
// A small OTLP/JSON writer: 64-bit integers as strings, doubles as numbers.
// ---------------------------------------------------------------------------------

class Json {
public:
    Json &raw(std::string_view s) {
        text_.append(s);
        return *this;
    }
    Json &str(std::string_view s) {
        text_ += '"';
        for (char ch : s) {
            const auto c = static_cast<unsigned char>(ch);
            if (c == '"' || c == '\\') {
                text_ += '\\';
                text_ += ch;
            } else if (c < 0x20) {
                char esc[8];
                std::snprintf(esc, sizeof esc, "\\u%04x", c);
                text_ += esc;
            } else {
                text_ += ch;
            }
        }
        text_ += '"';
        return *this;
    }
    Json &u64(std::uint64_t v) { return raw("\"").raw(std::to_string(v)).raw("\""); }
    Json &num(double d) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", d);
        return raw(buf);
    }
    Json &attr(std::string_view key, std::string_view value) {
        return raw("{\"key\":").str(key).raw(",\"value\":{\"stringValue\":").str(value).raw("}}");
    }
    const std::string &text() const { return text_; }

private:
    std::string text_;
};

// ---------------------------------------------------------------------------------
// The instruments. Each measurement goes into two windows: one since the start (for
// cumulative temporality), one since the last export (for delta).
// ---------------------------------------------------------------------------------

struct Window {
    std::uint64_t start_ns = 0;
    std::uint64_t requests_ok = 0, requests_error = 0;
    std::uint64_t count = 0;  // histogram
    double sum = 0, min = 0, max = 0;
    std::vector<std::uint64_t> buckets;  // bounds + 1

    Window(std::size_t n_bounds, std::uint64_t start) : start_ns(start), buckets(n_bounds + 1, 0) {}

    void record(const std::vector<double> &bounds, bool ok, double ms) {
        (ok ? requests_ok : requests_error)++;
        // buckets are (bound[i-1], bound[i]]
        buckets[static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), ms) - bounds.begin())]++;
        if (count == 0 || ms < min) min = ms;
        if (count == 0 || ms > max) max = ms;
        count++;
        sum += ms;
    }
};

struct Instruments {
    om::Temporality counter_temporality = om::Temporality::Cumulative;
    om::Temporality histogram_temporality = om::Temporality::Cumulative;
    bool export_counter = true, export_histogram = true;
    std::vector<double> bounds;
    bool record_min_max = true;
    Window total, delta;
    long queue_length = 0;

    Instruments(const om::Exporter &exporter, std::uint64_t start_ns)
        : total(0, start_ns), delta(0, start_ns) {
        // Ask the exporter how to aggregate, as an SDK would.
        counter_temporality = exporter.temporality(om::InstrumentKind::Counter);
        histogram_temporality = exporter.temporality(om::InstrumentKind::Histogram);
        export_counter = exporter.aggregation(om::InstrumentKind::Counter).kind != om::AggregationKind::Drop;
        const om::Aggregation h = exporter.aggregation(om::InstrumentKind::Histogram);
        export_histogram = h.kind != om::AggregationKind::Drop;
        if (h.kind == om::AggregationKind::ExplicitBucketHistogram) {
            bounds = h.boundaries;
            record_min_max = h.record_min_max;
        } else {
            if (export_histogram) std::cerr << "note: this example writes explicit-bucket histograms only\n";
            bounds = {0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000};
        }
        total = Window(bounds.size(), start_ns);
        delta = Window(bounds.size(), start_ns);
    }

    void record(bool ok, double ms) {
        total.record(bounds, ok, ms);
        delta.record(bounds, ok, ms);
    }
};

// The "work" being measured: a stand-in for your program's real requests.
void handle_some_requests(Instruments &in, std::mt19937 &rng) {
    std::uniform_int_distribution<int> n(0, 3), outcome(0, 19), step(-2, 2);
    std::uniform_real_distribution<double> ms(0.5, 300.5);
    for (int i = n(rng); i > 0; i--) in.record(outcome(rng) != 0, ms(rng));  // 5% errors
    in.queue_length = std::max(0L, in.queue_length + step(rng));
}

// One ExportMetricsServiceRequest in OTLP/JSON.
std::string build_request(const Instruments &in, const std::string &service, std::uint64_t now_ns) {
    const Window &cw = in.counter_temporality == om::Temporality::Delta ? in.delta : in.total;
    const Window &hw = in.histogram_temporality == om::Temporality::Delta ? in.delta : in.total;
    Json j;
    j.raw("{\"resourceMetrics\":[{\"resource\":{\"attributes\":[").attr("service.name", service);
    j.raw(",{\"key\":\"process.pid\",\"value\":{\"intValue\":").u64(static_cast<std::uint64_t>(getpid())).raw("}}]},");
    j.raw("\"scopeMetrics\":[{\"scope\":{\"name\":\"otlpmetric.examples.periodic\",\"version\":")
        .str(om::version())
        .raw("},\"metrics\":[");

    // The gauge: a value at a point in time.
    j.raw("{\"name\":\"periodic.queue.length\",\"description\":\"Requests waiting\",\"unit\":\"{request}\","
          "\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":")
        .u64(now_ns)
        .raw(",\"asInt\":")
        .u64(static_cast<std::uint64_t>(in.queue_length))
        .raw("}]}}");

    // The counter: a monotonic Sum, one point per attribute set.
    if (in.export_counter) {
        j.raw(",{\"name\":\"periodic.requests\",\"description\":\"Requests handled\",\"unit\":\"{request}\","
              "\"sum\":{\"aggregationTemporality\":")
            .raw(std::to_string(static_cast<int>(in.counter_temporality)))
            .raw(",\"isMonotonic\":true,\"dataPoints\":[");
        const char *const outcomes[] = {"ok", "error"};
        const std::uint64_t values[] = {cw.requests_ok, cw.requests_error};
        for (int i = 0; i < 2; i++) {
            if (i) j.raw(",");
            j.raw("{\"attributes\":[").attr("outcome", outcomes[i]).raw("],\"startTimeUnixNano\":").u64(cw.start_ns);
            j.raw(",\"timeUnixNano\":").u64(now_ns).raw(",\"asInt\":").u64(values[i]).raw("}");
        }
        j.raw("]}}");
    }

    // The histogram: count, sum, (min, max), one more bucket count than bounds.
    if (in.export_histogram) {
        j.raw(",{\"name\":\"periodic.request.duration\",\"description\":\"Request duration\",\"unit\":\"ms\","
              "\"histogram\":{\"aggregationTemporality\":")
            .raw(std::to_string(static_cast<int>(in.histogram_temporality)))
            .raw(",\"dataPoints\":[{\"startTimeUnixNano\":")
            .u64(hw.start_ns);
        j.raw(",\"timeUnixNano\":").u64(now_ns).raw(",\"count\":").u64(hw.count).raw(",\"sum\":").num(hw.sum);
        if (in.record_min_max && hw.count > 0) j.raw(",\"min\":").num(hw.min).raw(",\"max\":").num(hw.max);
        j.raw(",\"bucketCounts\":[");
        for (std::size_t i = 0; i < hw.buckets.size(); i++) (i ? j.raw(",") : j).u64(hw.buckets[i]);
        j.raw("],\"explicitBounds\":[");
        for (std::size_t i = 0; i < in.bounds.size(); i++) (i ? j.raw(",") : j).num(in.bounds[i]);
        j.raw("]}]}}");
    }
    j.raw("]}]}]}");
    return j.text();
}

int usage(const char *argv0) {
    std::cerr << "usage: " << argv0 << " [ENDPOINT|-] [--rounds N] [--interval-ms MS]\n";
    return 2;
}

}  // namespace

int main(int argc, char **argv) {
    std::string endpoint;
    long rounds = 0;
    std::chrono::milliseconds interval = 10s;
    for (int i = 1; i < argc; i++) {
        const std::string_view arg = argv[i];
        if (arg == "--rounds" && i + 1 < argc) rounds = std::strtol(argv[++i], nullptr, 10);
        else if (arg == "--interval-ms" && i + 1 < argc)
            interval = std::chrono::milliseconds(std::strtol(argv[++i], nullptr, 10));
        else if (arg.size() > 1 && arg[0] == '-') return usage(argv[0]);
        else if (endpoint.empty()) endpoint = arg == "-" ? std::string() : std::string(arg);
        else return usage(argv[0]);
    }
    if (rounds < 0 || interval < 1ms) return usage(argv[0]);
    const char *service_env = std::getenv("OTEL_SERVICE_NAME");
    const std::string service = service_env && *service_env ? service_env : "otlpmetric-periodic-cpp";
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    int failures = 0;
    try {
        // 1. Configure (starts from the OTEL_EXPORTER_OTLP_* environment) and create.
        om::Config config;
        if (!endpoint.empty()) config.set_endpoint(endpoint);
        config
            .set_log_callback([](om::LogLevel level, std::string_view message) {
                // May run on the library's threads: keep it short and thread-safe.
                if (level != om::LogLevel::Debug)
                    std::cerr << "otlpmetric " << om::to_string(level) << ": " << message << '\n';
            })
            .set_aggregation_selector([](om::InstrumentKind kind, om::Aggregation &aggregation) {
                // Request durations in ms: finer buckets than the SDK's default ones.
                if (kind == om::InstrumentKind::Histogram &&
                    aggregation.kind == om::AggregationKind::ExplicitBucketHistogram)
                    aggregation.boundaries = {1, 2.5, 5, 10, 25, 50, 100, 150, 200, 250, 300};
            });
        om::Exporter exporter(config);  // the config could go now

        const std::uint64_t start_ns = now_unix_nano();
        Instruments in(exporter, start_ns);
        std::mt19937 rng(static_cast<std::mt19937::result_type>(start_ns));
        std::cout << "exporting to " << (endpoint.empty() ? "the configured endpoint" : endpoint) << " every "
                  << interval.count() << " ms (counter " << om::to_string(in.counter_temporality) << ", histogram "
                  << om::to_string(in.histogram_temporality) << "); Ctrl-C to stop" << std::endl;

        // 2. Work and measure; export every interval, and once more when stopped.
        for (long round = 1;; round++) {
            const auto deadline = std::chrono::steady_clock::now() + interval;
            for (auto now = std::chrono::steady_clock::now(); !stop_requested && now < deadline;
                 now = std::chrono::steady_clock::now()) {
                handle_some_requests(in, rng);
                // short naps: the signal may be delivered to one of the library's threads
                std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(50ms, deadline - now));
            }
            const std::uint64_t now_ns = now_unix_nano();
            om::Result r = exporter.try_upload_json(build_request(in, service, now_ns));  // no throw: keep going
            std::cout << "round " << round << ": " << om::to_string(r.status) << " ("
                      << in.total.requests_ok + in.total.requests_error << " requests so far, queue "
                      << in.queue_length << ")" << std::endl;
            if (!r) {
                std::cerr << "  error: " << r.message << '\n';
                failures++;
            }
            in.delta = Window(in.bounds.size(), now_ns);  // the next delta starts now
            if (stop_requested || (rounds > 0 && round >= rounds)) break;
        }
        if (stop_requested) std::cout << "signal received: flushing and shutting down" << std::endl;

        // 3. Flush and shut down (the destructor would too, within the export timeout).
        if (om::Result r = exporter.try_force_flush(); !r) {
            std::cerr << "force_flush: " << r.message << '\n';
            failures++;
        }
        exporter.shutdown();  // throws otlpmetric::Error on failure
        const om::Stats s = exporter.stats();
        std::cout << "sent " << s.requests_sent << " requests (" << s.bytes_sent << " bytes), " << s.requests_failed
                  << " failed, " << s.retries << " retries" << std::endl;
    } catch (const om::Error &e) {
        std::cerr << "otlpmetric: " << e.what() << '\n';
        failures++;
    }
    std::cout << (failures ? "periodic: FAILED" : "periodic: ok") << std::endl;
    return failures ? 1 : 0;
}
