/*
 * test_support.hpp - shared by test_wrapper.cpp and second_tu.cpp: a tiny check
 * counter and OTLP message builders (OTLP/JSON text and hand-written protobuf), so
 * the tests need no protobuf library.
 *
 * Everything is `inline` (this header is included from two translation units).
 */
#ifndef OTLPMETRIC_CPP_TEST_SUPPORT_HPP
#define OTLPMETRIC_CPP_TEST_SUPPORT_HPP

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace test {

// -------------------------------------------------------------------------------
// Checks
// -------------------------------------------------------------------------------

struct Counts {
    int passed = 0;
    int failed = 0;
};

inline Counts &counts() {
    static Counts c;
    return c;
}

inline bool check(bool ok, const std::string &what, const std::string &detail = std::string()) {
    if (ok) {
        counts().passed++;
    } else {
        counts().failed++;
        std::printf("FAIL: %s%s%s\n", what.c_str(), detail.empty() ? "" : ": ", detail.c_str());
        std::fflush(stdout);
    }
    return ok;
}

inline bool contains(const std::string &haystack, const std::string &needle) {
    return haystack.find(needle) != std::string::npos;
}

inline std::uint64_t now_unix_nano() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

// -------------------------------------------------------------------------------
// OTLP/JSON: one ExportMetricsServiceRequest with one gauge named `metric`.
// -------------------------------------------------------------------------------

inline std::string gauge_json(const std::string &metric, double value) {
    char num[64];
    std::snprintf(num, sizeof num, "%.17g", value);
    return std::string("{\"resourceMetrics\":[{\"resource\":{\"attributes\":[") +
           "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"otlpmetric-cpp-tests\"}}]}," +
           "\"scopeMetrics\":[{\"scope\":{\"name\":\"otlpmetric.cpp.tests\"},\"metrics\":[" + "{\"name\":\"" +
           metric + "\",\"unit\":\"1\",\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"" +
           std::to_string(now_unix_nano()) + "\",\"asDouble\":" + num + "}]}}]}]}]}";
}

// -------------------------------------------------------------------------------
// Protobuf (field numbers of opentelemetry-proto's metrics.proto, common.proto,
// resource.proto and metrics_service.proto).
// -------------------------------------------------------------------------------

class Pb {
public:
    std::vector<std::uint8_t> bytes;

    Pb &varint_field(std::uint32_t field, std::uint64_t v) {
        tag(field, 0);
        varint(v);
        return *this;
    }
    Pb &fixed64_field(std::uint32_t field, std::uint64_t v) {
        tag(field, 1);
        for (int i = 0; i < 8; i++) bytes.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
        return *this;
    }
    Pb &double_field(std::uint32_t field, double d) {
        std::uint64_t v;
        std::memcpy(&v, &d, sizeof v);
        return fixed64_field(field, v);
    }
    Pb &string_field(std::uint32_t field, const std::string &s) {
        tag(field, 2);
        varint(s.size());
        bytes.insert(bytes.end(), s.begin(), s.end());
        return *this;
    }
    Pb &message_field(std::uint32_t field, const Pb &m) {
        tag(field, 2);
        varint(m.bytes.size());
        bytes.insert(bytes.end(), m.bytes.begin(), m.bytes.end());
        return *this;
    }

private:
    void tag(std::uint32_t field, std::uint32_t wire_type) { varint((std::uint64_t{field} << 3) | wire_type); }
    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            bytes.push_back(static_cast<std::uint8_t>(v | 0x80));
            v >>= 7;
        }
        bytes.push_back(static_cast<std::uint8_t>(v));
    }
};

// KeyValue{key, AnyValue{string_value}}
inline Pb string_attribute(const std::string &key, const std::string &value) {
    return Pb().string_field(1, key).message_field(2, Pb().string_field(1, value));
}

// One serialized ResourceMetrics: a cumulative monotonic counter `metric` (Sum, one
// as_int point) and a gauge `metric`.gauge (one as_double point).
inline std::vector<std::uint8_t> resource_metrics(const std::string &metric, std::int64_t count, double gauge) {
    const std::uint64_t now = now_unix_nano();
    Pb counter_point;  // NumberDataPoint: attributes 7, start 2, time 3, as_int 6 (sfixed64)
    counter_point.fixed64_field(2, now - 1000000000ull)
        .fixed64_field(3, now)
        .fixed64_field(6, static_cast<std::uint64_t>(count))
        .message_field(7, string_attribute("test.kind", "counter"));
    Pb sum;  // Sum: data_points 1, aggregation_temporality 2, is_monotonic 3
    sum.message_field(1, counter_point).varint_field(2, 2).varint_field(3, 1);
    Pb counter;  // Metric: name 1, description 2, unit 3, sum 7
    counter.string_field(1, metric).string_field(3, "{item}").message_field(7, sum);

    Pb gauge_point;  // time 3, as_double 4
    gauge_point.fixed64_field(3, now).double_field(4, gauge);
    Pb gauge_metric;  // Metric: name 1, gauge 5 (Gauge: data_points 1)
    gauge_metric.string_field(1, metric + ".gauge").message_field(5, Pb().message_field(1, gauge_point));

    Pb scope_metrics;  // ScopeMetrics: scope 1 (name 1), metrics 2
    scope_metrics.message_field(1, Pb().string_field(1, "otlpmetric.cpp.tests"))
        .message_field(2, counter)
        .message_field(2, gauge_metric);
    Pb rm;  // ResourceMetrics: resource 1 (attributes 1), scope_metrics 2
    rm.message_field(1, Pb().message_field(1, string_attribute("service.name", "otlpmetric-cpp-tests")))
        .message_field(2, scope_metrics);
    return rm.bytes;
}

// One serialized ExportMetricsServiceRequest (resource_metrics 1) around it.
inline std::vector<std::uint8_t> export_request(const std::string &metric, std::int64_t count, double gauge) {
    Pb rm;
    rm.bytes = resource_metrics(metric, count, gauge);
    return Pb().message_field(1, rm).bytes;
}

}  // namespace test

// -------------------------------------------------------------------------------
// Defined in second_tu.cpp, which includes otlpmetric.hpp too: the two translation
// units are linked together, so an inline/ODR mistake in the header shows up.
// -------------------------------------------------------------------------------
#include "otlpmetric.hpp"

namespace second_tu {
// The address of an inline function of the header, as the second TU sees it.
otlpmetric_log_callback log_trampoline_address();
// The address of test::counts(), as the second TU sees it.
const void *counts_address();
// An exporter built (config, log lambda and all) in the second TU, returned by move.
otlpmetric::Exporter make_exporter(const std::string &endpoint, std::atomic<int> *log_messages);
// Throws otlpmetric::Error (Status::Decode) from the second TU.
void upload_garbage(otlpmetric::Exporter &exporter);
// Uploads `marker`-second-tu as JSON with its own exporter; returns the failures.
int round_trip(const std::string &endpoint, const std::string &marker);
}  // namespace second_tu

#endif  // OTLPMETRIC_CPP_TEST_SUPPORT_HPP
