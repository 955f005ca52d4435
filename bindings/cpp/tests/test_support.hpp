/*
 * test_support.hpp - shared by test_wrapper.cpp and second_tu.cpp: a tiny check
 * counter and OTLP message builders (OTLP/JSON text and hand-written protobuf), so
 * the tests need no protobuf library, and a small reader of the ResourceMetrics that
 * MeterProvider::collect returns.
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


// -------------------------------------------------------------------------------
// Protobuf reading: enough of a ResourceMetrics (as MeterProvider::collect returns it)
// to check names, kinds, points, values and attributes.
// -------------------------------------------------------------------------------

struct PbField {
    std::uint32_t number = 0;
    std::uint32_t wire = 0;
    std::uint64_t value = 0;             // varint, fixed64, fixed32
    const std::uint8_t *data = nullptr;  // length-delimited
    std::size_t len = 0;
};

// The fields of one message; false if it is malformed.
inline bool pb_fields(const std::uint8_t *p, std::size_t n, std::vector<PbField> &out) {
    std::size_t i = 0;
    auto varint = [&](std::uint64_t &v) {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (i >= n) return false;
            const std::uint8_t b = p[i++];
            v |= std::uint64_t{b & 0x7fu} << shift;
            if ((b & 0x80) == 0) return true;
        }
        return false;
    };
    while (i < n) {
        std::uint64_t key = 0;
        if (!varint(key)) return false;
        PbField f;
        f.number = static_cast<std::uint32_t>(key >> 3);
        f.wire = static_cast<std::uint32_t>(key & 7);
        if (f.wire == 0) {
            if (!varint(f.value)) return false;
        } else if (f.wire == 1 || f.wire == 5) {
            const std::size_t width = f.wire == 1 ? 8 : 4;
            if (n - i < width) return false;
            for (std::size_t b = 0; b < width; b++) f.value |= std::uint64_t{p[i + b]} << (8 * b);
            i += width;
        } else if (f.wire == 2) {
            std::uint64_t len = 0;
            if (!varint(len) || len > n - i) return false;
            f.data = p + i;
            f.len = static_cast<std::size_t>(len);
            i += f.len;
        } else {
            return false;
        }
        out.push_back(f);
    }
    return true;
}

inline double pb_double(std::uint64_t bits) {
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
}

// An attribute as text: "key=s:text", "key=b:1", "key=i:200", "key=d:0.5".
inline std::string pb_attribute(const PbField &key_value) {
    std::vector<PbField> kv, any;
    if (!pb_fields(key_value.data, key_value.len, kv)) return "?";
    std::string key, value;
    for (const PbField &f : kv) {
        if (f.number == 1) key.assign(reinterpret_cast<const char *>(f.data), f.len);
        if (f.number == 2 && pb_fields(f.data, f.len, any)) {
            for (const PbField &a : any) {
                char num[64];
                if (a.number == 1) value = "s:" + std::string(reinterpret_cast<const char *>(a.data), a.len);
                if (a.number == 2) value = "b:" + std::to_string(a.value);
                if (a.number == 3) value = "i:" + std::to_string(static_cast<std::int64_t>(a.value));
                if (a.number == 4) {
                    std::snprintf(num, sizeof num, "%g", pb_double(a.value));
                    value = std::string("d:") + num;
                }
            }
        }
    }
    return key + "=" + value;
}

struct Point {
    bool is_int = false;
    std::int64_t as_int = 0;
    double as_double = 0;
    std::uint64_t count = 0;  // histograms
    double sum = 0;           // histograms
    std::vector<std::string> attributes;

    double number() const { return is_int ? static_cast<double>(as_int) : as_double; }
    bool has(const std::string &attribute) const {
        for (const auto &a : attributes)
            if (a == attribute) return true;
        return false;
    }
};

struct Metric {
    std::string name, unit, description, scope, scope_version;
    std::string type;  // "gauge", "sum", "histogram", "exponential_histogram"
    bool monotonic = false;
    std::uint64_t temporality = 0;
    std::vector<Point> points;
};

struct Collected {
    bool ok = false;
    std::vector<std::string> resource;  // attributes as pb_attribute shows them
    std::vector<Metric> metrics;

    const Metric *find(const std::string &name) const {
        for (const auto &m : metrics)
            if (m.name == name) return &m;
        return nullptr;
    }
    bool has_resource(const std::string &attribute) const {
        for (const auto &a : resource)
            if (a == attribute) return true;
        return false;
    }
};

inline Point pb_point(const PbField &point, bool histogram) {
    Point pt;
    std::vector<PbField> fs;
    pb_fields(point.data, point.len, fs);
    for (const PbField &f : fs) {
        if (histogram) {
            if (f.number == 4) pt.count = f.value;
            if (f.number == 5) pt.sum = pb_double(f.value);
            if (f.number == 9) pt.attributes.push_back(pb_attribute(f));
        } else {
            if (f.number == 4) pt.as_double = pb_double(f.value);
            if (f.number == 6) {
                pt.is_int = true;
                pt.as_int = static_cast<std::int64_t>(f.value);
            }
            if (f.number == 7) pt.attributes.push_back(pb_attribute(f));
        }
    }
    return pt;
}

inline Collected decode_resource_metrics(const std::vector<std::uint8_t> &bytes) {
    Collected c;
    std::vector<PbField> rm;
    if (!pb_fields(bytes.data(), bytes.size(), rm)) return c;
    for (const PbField &f : rm) {
        std::vector<PbField> sub;
        if (f.number == 1 && pb_fields(f.data, f.len, sub)) {  // Resource
            for (const PbField &a : sub)
                if (a.number == 1) c.resource.push_back(pb_attribute(a));
        }
        if (f.number != 2 || !pb_fields(f.data, f.len, sub)) continue;  // ScopeMetrics
        std::string scope, scope_version;
        for (const PbField &s : sub) {
            std::vector<PbField> sf;
            if (s.number == 1 && pb_fields(s.data, s.len, sf)) {
                for (const PbField &x : sf) {
                    if (x.number == 1) scope.assign(reinterpret_cast<const char *>(x.data), x.len);
                    if (x.number == 2) scope_version.assign(reinterpret_cast<const char *>(x.data), x.len);
                }
            }
        }
        for (const PbField &s : sub) {
            std::vector<PbField> mf;
            if (s.number != 2 || !pb_fields(s.data, s.len, mf)) continue;  // Metric
            Metric m;
            m.scope = scope;
            m.scope_version = scope_version;
            for (const PbField &x : mf) {
                const std::string text(reinterpret_cast<const char *>(x.data), x.wire == 2 ? x.len : 0);
                if (x.number == 1) m.name = text;
                if (x.number == 2) m.description = text;
                if (x.number == 3) m.unit = text;
                const char *types[] = {nullptr, nullptr, nullptr, nullptr, nullptr, "gauge", nullptr, "sum",
                                       nullptr, "histogram", "exponential_histogram"};
                if (x.number < 11 && types[x.number] != nullptr && x.wire == 2) {
                    m.type = types[x.number];
                    std::vector<PbField> data;
                    pb_fields(x.data, x.len, data);
                    for (const PbField &d : data) {
                        if (d.number == 1) m.points.push_back(pb_point(d, x.number == 9 || x.number == 10));
                        if (d.number == 2) m.temporality = d.value;
                        if (d.number == 3 && x.number == 7) m.monotonic = d.value != 0;
                    }
                }
            }
            c.metrics.push_back(std::move(m));
        }
    }
    c.ok = true;
    return c;
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
// A provider (interval 0) built in the second TU with an observable gauge
// second.tu.gauge whose callback counts its calls in `observed`, returned by move.
otlpmetric::MeterProvider make_provider(const std::string &endpoint, std::atomic<int> *observed);
}  // namespace second_tu

#endif  // OTLPMETRIC_CPP_TEST_SUPPORT_HPP
