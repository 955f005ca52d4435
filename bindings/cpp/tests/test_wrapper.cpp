/*
 * test_wrapper.cpp - tests of bindings/cpp/include/otlpmetric.hpp against a real
 * OTLP receiver (scripts/cpp-tests.sh starts an OpenTelemetry Collector).
 *
 *   c++ -std=c++17 -Wall -Wextra -Werror -pedantic -I include -I bindings/cpp/include \
 *       bindings/cpp/tests/test_wrapper.cpp bindings/cpp/tests/second_tu.cpp \
 *       -L target/debug -Wl,-rpath,$PWD/target/debug -lotlpmetric -pthread
 *
 * Environment:
 *   OTLPMETRIC_TEST_HTTP_ENDPOINT  http://127.0.0.1:PORT/v1/metrics (required)
 *   OTLPMETRIC_TEST_GRPC_ENDPOINT  http://127.0.0.1:PORT (required)
 *   OTLPMETRIC_TEST_MARKER         prefix of the metric names sent (default cpp-test)
 *   OTLPMETRIC_TEST_MARKERS_OUT    file to write the metric names that must arrive
 *
 * Prints failures and "N passed, M failed"; exits 1 if anything failed.
 */
#include "otlpmetric.hpp"
#include "test_support.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <new>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace om = otlpmetric;

// C++ heap allocations on this thread: the wrapper's attribute conversion is checked to
// use none for small sets (the library allocates with malloc, not counted here).
static thread_local long cxx_allocations = 0;
void *operator new(std::size_t size) {
    cxx_allocations++;
    if (void *p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
using namespace std::chrono_literals;
using test::check;
using test::contains;

// The wrapper's types are move-only RAII owners.
static_assert(!std::is_copy_constructible_v<om::Config> && !std::is_copy_assignable_v<om::Config>);
static_assert(std::is_nothrow_move_constructible_v<om::Config> && std::is_nothrow_move_assignable_v<om::Config>);
static_assert(!std::is_copy_constructible_v<om::Exporter> && !std::is_copy_assignable_v<om::Exporter>);
static_assert(std::is_nothrow_move_constructible_v<om::Exporter> && std::is_nothrow_move_assignable_v<om::Exporter>);
static_assert(std::is_nothrow_default_constructible_v<om::Exporter>);
static_assert(!std::is_copy_constructible_v<om::Cancel> && std::is_nothrow_move_constructible_v<om::Cancel>);
// Bytes come as any contiguous container of bytes, never as a bare char pointer or array.
static_assert(std::is_convertible_v<std::vector<std::uint8_t>, om::ByteView>);
static_assert(std::is_convertible_v<std::string, om::ByteView>);
static_assert(std::is_convertible_v<std::string_view, om::ByteView>);
static_assert(std::is_convertible_v<std::array<std::uint8_t, 4>, om::ByteView>);
static_assert(!std::is_convertible_v<const char *, om::ByteView>);
static_assert(!std::is_convertible_v<const char (&)[4], om::ByteView>);
static_assert(!std::is_convertible_v<std::vector<int>, om::ByteView>);
// The C++ enums carry the C values.
static_assert(static_cast<int>(om::Status::QueueFull) == OTLPMETRIC_ERR_QUEUE_FULL);
static_assert(static_cast<int>(om::Status::Cancelled) == OTLPMETRIC_ERR_CANCELLED);
static_assert(static_cast<int>(om::Temporality::Cumulative) == OTLPMETRIC_TEMPORALITY_CUMULATIVE);
static_assert(static_cast<int>(om::InstrumentKind::ObservableGauge) == OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE);
static_assert(static_cast<int>(om::AggregationKind::Base2ExponentialHistogram) ==
              OTLPMETRIC_AGGREGATION_BASE2_EXPONENTIAL_HISTOGRAM);
// The provider owns; meters and instruments are handles; bound instruments own a binding.
static_assert(!std::is_copy_constructible_v<om::MeterProvider> && !std::is_copy_assignable_v<om::MeterProvider>);
static_assert(std::is_nothrow_move_constructible_v<om::MeterProvider> &&
              std::is_nothrow_move_assignable_v<om::MeterProvider>);
static_assert(std::is_nothrow_default_constructible_v<om::MeterProvider>);
static_assert(std::is_trivially_copyable_v<om::Meter> && std::is_trivially_copyable_v<om::Counter<double>>);
static_assert(!std::is_copy_constructible_v<om::BoundCounter<double>> &&
              std::is_nothrow_move_constructible_v<om::BoundCounter<double>>);

// Wrong-kind calls do not compile: counters add, histograms and gauges record.
template <class I, class = void>
struct has_add : std::false_type {};
template <class I>
struct has_add<I, std::void_t<decltype(std::declval<I &>().add(1))>> : std::true_type {};
template <class I, class = void>
struct has_record : std::false_type {};
template <class I>
struct has_record<I, std::void_t<decltype(std::declval<I &>().record(1))>> : std::true_type {};
static_assert(has_add<om::Counter<std::int64_t>>::value && !has_record<om::Counter<std::int64_t>>::value);
static_assert(has_add<om::UpDownCounter<double>>::value && !has_record<om::UpDownCounter<double>>::value);
static_assert(has_record<om::Histogram<double>>::value && !has_add<om::Histogram<double>>::value);
static_assert(has_record<om::Gauge<std::int64_t>>::value && !has_add<om::Gauge<std::int64_t>>::value);
static_assert(has_add<om::BoundCounter<double>>::value && !has_record<om::BoundCounter<double>>::value);
static_assert(has_record<om::BoundHistogram<double>>::value && !has_add<om::BoundHistogram<double>>::value);
static_assert(!has_add<om::ObservableCounter<double>>::value && !has_record<om::ObservableGauge<double>>::value);
// Attribute values: strings, bools, integers, doubles; not a bare char.
static_assert(std::is_constructible_v<om::Attribute, const char *, const char *>);
static_assert(std::is_constructible_v<om::Attribute, std::string, std::string>);
static_assert(std::is_constructible_v<om::Attribute, const char *, bool>);
static_assert(std::is_constructible_v<om::Attribute, const char *, std::uint8_t>);
static_assert(std::is_constructible_v<om::Attribute, const char *, float>);
static_assert(!std::is_constructible_v<om::Attribute, const char *, char>);

namespace {

struct Settings {
    std::string http;    // full URL with /v1/metrics
    std::string grpc;    // http://host:port
    std::string marker;  // metric name prefix
    std::string dead = "http://127.0.0.1:1/v1/metrics";  // nothing listens there
    std::vector<std::string> must_arrive;

    std::string metric(const std::string &suffix) {
        std::string name = marker + "-" + suffix;
        must_arrive.push_back(name);
        return name;
    }
};

Settings g;

std::string status_name(om::Status s) { return om::status_str(s); }

// Runs `f`, which must throw otlpmetric::Error with `want`; returns the message.
template <class F>
std::string expect_error(om::Status want, const std::string &what, F &&f) {
    try {
        f();
        check(false, what, "no exception (wanted " + status_name(want) + ")");
    } catch (const om::Error &e) {
        check(e.status() == want, what, "status " + status_name(e.status()) + ", wanted " + status_name(want));
        check(std::strlen(e.message()) > 0, what + ": has a message");
        check(contains(e.what(), status_name(want)) && contains(e.what(), e.message()),
              what + ": what() names the status and holds the message", e.what());
        return e.message();
    } catch (const std::exception &e) {
        check(false, what, std::string("wrong exception type: ") + e.what());
    } catch (...) {
        check(false, what, "wrong exception type");
    }
    return std::string();
}

void expect_result(const om::Result &r, om::Status want, const std::string &what) {
    check(r.status == want, what, "status " + status_name(r.status) + ", wanted " + status_name(want) +
                                      (r.message.empty() ? std::string() : " (" + r.message + ")"));
    check(r.ok() == (want == om::Status::Ok) && static_cast<bool>(r) == r.ok(), what + ": ok()/bool");
    check(r.ok() == r.message.empty(), what + ": a message exactly when it failed", r.message);
}

template <class F>
void run(const char *name, F &&f) {
    try {
        f();
    } catch (const std::exception &e) {
        check(false, name, std::string("unexpected exception: ") + e.what());
    } catch (...) {
        check(false, name, "unexpected non-std exception");
    }
}

// Collects log callback messages; called from the library's threads.
struct LogSink {
    std::mutex mutex;
    std::vector<std::pair<om::LogLevel, std::string>> messages;
    std::vector<std::thread::id> threads;

    void add(om::LogLevel level, std::string_view message) {
        std::lock_guard<std::mutex> lock(mutex);
        messages.emplace_back(level, std::string(message));
        threads.push_back(std::this_thread::get_id());
    }
    bool has(om::LogLevel level, const std::string &part) {
        std::lock_guard<std::mutex> lock(mutex);
        return std::any_of(messages.begin(), messages.end(),
                           [&](const auto &m) { return m.first == level && contains(m.second, part); });
    }
    std::string all() {
        std::lock_guard<std::mutex> lock(mutex);
        std::string s;
        for (const auto &m : messages) s += std::string(om::to_string(m.first)) + " " + m.second + "; ";
        return s;
    }
};

om::Config http_config() {
    om::Config c;
    c.set_endpoint(g.http).set_protocol(om::Protocol::HttpProtobuf).set_timeout(10s);
    return c;
}

// -------------------------------------------------------------------------------

void test_names() {
    const std::string v = std::to_string(OTLPMETRIC_VERSION_MAJOR) + "." + std::to_string(OTLPMETRIC_VERSION_MINOR) +
                          "." + std::to_string(OTLPMETRIC_VERSION_PATCH);
    check(om::version() == v, "version() matches the header", std::string(om::version()));
    check(std::string(om::status_str(om::Status::Decode)) == "OTLPMETRIC_ERR_DECODE", "status_str");
    check(std::string(om::status_str(static_cast<om::Status>(42))) == "OTLPMETRIC_UNKNOWN_STATUS",
          "status_str of an unknown value");
    check(om::to_string(om::LogLevel::Warn) == "WARN" && om::to_string(om::InstrumentKind::Histogram) == "HISTOGRAM" &&
              om::to_string(om::Temporality::Delta) == "DELTA" &&
              om::to_string(om::AggregationKind::LastValue) == "LAST_VALUE",
          "to_string");
}

// Environment problems reach the log callback (a lambda) when the exporter is created;
// a throwing callback changes nothing. Runs first: setenv while no library thread runs.
void test_log_callback_and_environment() {
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon", 1);
    om::Config config;
    om::Config throwing_config;
    unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");

    auto sink = std::make_shared<LogSink>();
    config.set_endpoint(g.http).set_log_callback([sink](om::LogLevel level, std::string_view message) {
        sink->add(level, message);
    });
    {
        om::Exporter exporter(config);
        check(sink->has(om::LogLevel::Warn, "OTEL_EXPORTER_OTLP_PROTOCOL"),
              "an unknown OTEL_EXPORTER_OTLP_PROTOCOL is a warning through the log callback", sink->all());
        // the bad value was ignored: the default protocol (http/protobuf) works
        exporter.upload_json(test::gauge_json(g.metric("env"), 1.0));
    }

    throwing_config.set_endpoint(g.http).set_log_callback(
        [](om::LogLevel, std::string_view) { throw std::runtime_error("a log callback that throws"); });
    om::Exporter exporter(throwing_config);  // the callback throws inside; nothing escapes
    check(static_cast<bool>(exporter), "a throwing log callback does not break exporter creation");
    exporter.shutdown(5s);
}

void test_config_errors() {
    om::Config c = http_config();
    om::Config &same = c.set_insecure(false).set_max_request_bytes(1 << 20).set_queue(1 << 20).set_max_response_bytes(1 << 16);
    check(&same == &c, "setters are fluent (return *this)");
    expect_result(c.try_set_max_response_bytes(0), om::Status::InvalidArgument, "try_set_max_response_bytes(0)");

    std::string m = expect_error(om::Status::InvalidArgument, "set_endpoint(\"not a url\")",
                                 [&] { c.set_endpoint("not a url"); });
    check(contains(m, "not a url") || contains(m, "endpoint") || contains(m, "URL") || contains(m, "url"),
          "the endpoint error says what was wrong", m);
    expect_result(c.try_set_endpoint(std::string_view("http://a\0b", 10)), om::Status::InvalidArgument,
                  "try_set_endpoint with a NUL byte");
    expect_result(c.try_set_protocol(static_cast<om::Protocol>(0)), om::Status::InvalidArgument,
                  "try_set_protocol(0): the library checks enum values");
    expect_error(om::Status::InvalidArgument, "set_protocol(0) throws",
                 [&] { c.set_protocol(static_cast<om::Protocol>(0)); });
    expect_result(c.try_set_timeout(-1ms), om::Status::InvalidArgument, "try_set_timeout(-1ms)");
    om::Result tls = c.try_set_tls("/nonexistent/otlpmetric-ca.pem");
    expect_result(tls, om::Status::InvalidArgument, "try_set_tls with a missing file");
    check(contains(tls.message, "/nonexistent/otlpmetric-ca.pem"), "the TLS error names the file", tls.message);
    expect_result(c.try_set_retry(true, 0ms, 1s, 1s), om::Status::InvalidArgument, "try_set_retry(initial 0)");
    expect_result(c.try_set_max_request_bytes(1), om::Status::InvalidArgument, "try_set_max_request_bytes(1)");
    expect_result(c.try_add_header("x-otlpmetric-test", "1"), om::Status::Ok, "try_add_header");
    expect_result(c.try_set_compression(om::Compression::Gzip), om::Status::Ok, "try_set_compression");
    expect_result(c.try_set_compression(om::Compression::Zstd), om::Status::Ok, "try_set_compression(Zstd)");
    expect_result(c.try_set_compression(om::Compression::Gzip), om::Status::Ok, "try_set_compression");
    om::Result proxy = c.try_set_proxy("socks5://user:pr0xy-pw@127.0.0.1:1080");
    expect_result(proxy, om::Status::InvalidArgument, "try_set_proxy(socks5)");
    check(!contains(proxy.message, "pr0xy-pw"), "the proxy error hides the password", proxy.message);
    expect_result(c.try_set_proxy(""), om::Status::Ok, "try_set_proxy(\"\"): no proxy");
    c.set_proxy_from_environment().set_proxy("");
    expect_result(c.try_set_unix_socket(std::string(200, 'a')), om::Status::InvalidArgument,
                  "try_set_unix_socket(a path too long)");
    expect_result(c.try_set_unix_socket(""), om::Status::Ok, "try_set_unix_socket(\"\"): TCP");

    // refused values left the config as it was: it still exports to the Collector
    om::Exporter exporter(c);
    exporter.upload_json(test::gauge_json(g.metric("after-refused-settings"), 3.0));
}

void test_round_trips() {
    om::Exporter exporter(http_config());
    const om::Stats before = exporter.stats();
    check(before.requests_sent == 0 && before.bytes_sent == 0, "a new exporter's stats are zero");

    exporter.upload_json(test::gauge_json(g.metric("json"), 1.5));
    expect_result(exporter.try_upload_json(test::gauge_json(g.metric("json-try"), 2.5), 5s), om::Status::Ok,
                  "try_upload_json");

    const std::vector<std::uint8_t> rm = test::resource_metrics(g.metric("bytes"), 7, 0.5);
    exporter.upload(rm);  // std::vector<std::uint8_t>
    const std::vector<std::uint8_t> rm2 = test::resource_metrics(g.metric("bytes-ptr"), 8, 0.25);
    exporter.upload(rm2.data(), rm2.size(), 5s);  // (pointer, size)
    const std::vector<std::uint8_t> rm3 = test::resource_metrics(g.metric("bytes-string"), 9, 0.125);
    const std::string as_string(rm3.begin(), rm3.end());
    expect_result(exporter.try_upload(as_string), om::Status::Ok, "try_upload(std::string)");
    exporter.upload_request(test::export_request(g.metric("request"), 10, 1.0));
    exporter.enqueue(test::resource_metrics(g.metric("enqueue"), 11, 2.0));
    // Empty views are empty messages, also those whose container holds no pointer at all.
    exporter.upload(std::vector<std::uint8_t>());
    exporter.upload(om::ByteView());
    exporter.enqueue(std::string_view());
    exporter.force_flush(10s);

    const om::Stats after = exporter.stats();
    check(after.requests_sent == 10, "stats: 10 requests sent", std::to_string(after.requests_sent));
    check(after.bytes_sent > rm.size(), "stats: bytes sent", std::to_string(after.bytes_sent));
    check(after.requests_failed == 0 && after.queue_dropped == 0 && after.queue_bytes == 0,
          "stats: nothing failed, dropped or queued");
    exporter.shutdown(5s);
}

void test_grpc_and_http_json() {
    om::Config grpc;
    grpc.set_protocol(om::Protocol::Grpc).set_endpoint(g.grpc).set_compression(om::Compression::Gzip);
    om::Exporter over_grpc(grpc);
    over_grpc.upload(test::resource_metrics(g.metric("grpc"), 1, 1.0));
    over_grpc.upload_json(test::gauge_json(g.metric("grpc-json"), 1.0));

    om::Config json;
    json.set_protocol(om::Protocol::HttpJson).set_endpoint(g.http);
    om::Exporter over_json(json);
    over_json.upload(test::resource_metrics(g.metric("http-json"), 1, 1.0));
    check(over_grpc.stats().requests_sent == 2 && over_json.stats().requests_sent == 1, "gRPC and HTTP/JSON stats");
}

void test_errors() {
    om::Exporter exporter(http_config());
    const std::uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff};

    std::string m = expect_error(om::Status::Decode, "upload(garbage)", [&] { exporter.upload(garbage, sizeof garbage); });
    om::Result r = exporter.try_upload(garbage, sizeof garbage);
    expect_result(r, om::Status::Decode, "try_upload(garbage)");
    check(std::string(r.operation) == "otlpmetric_exporter_upload", "Result names the C function", r.operation);
    expect_error(om::Status::Decode, "Result::throw_if_error rethrows its status", [&] { r.throw_if_error(); });
    expect_result(exporter.try_upload_request(garbage, sizeof garbage), om::Status::Decode, "try_upload_request(garbage)");
    expect_result(exporter.try_enqueue(garbage, sizeof garbage), om::Status::Decode, "try_enqueue(garbage)");
    std::string jm = expect_error(om::Status::Decode, "upload_json(malformed)",
                                  [&] { exporter.upload_json("{\"resourceMetrics\": [ {"); });
    check(contains(jm, "line") || contains(jm, "column"), "the JSON error says where", jm);
    expect_result(exporter.try_upload_json("{\"resourceMetrics\": 42}"), om::Status::Decode, "try_upload_json(wrong type)");
    expect_result(exporter.try_upload_json(std::string_view()), om::Status::Decode, "try_upload_json(empty): no JSON, not NULL");
    expect_result(exporter.try_upload(nullptr, 5), om::Status::InvalidArgument, "try_upload(NULL, 5)");

    expect_error(om::Status::InvalidArgument, "temporality(kind 0)",
                 [&] { (void)exporter.temporality(static_cast<om::InstrumentKind>(0)); });
    expect_error(om::Status::InvalidArgument, "aggregation(kind 0)",
                 [&] { (void)exporter.aggregation(static_cast<om::InstrumentKind>(0)); });
    expect_result(exporter.try_upload_json(test::gauge_json("x", 1), -5ms), om::Status::InvalidArgument,
                  "a negative timeout");

    // Errors are std::runtime_errors too.
    try {
        exporter.upload(garbage, sizeof garbage);
        check(false, "upload(garbage) throws");
    } catch (const std::runtime_error &e) {
        check(contains(e.what(), "otlpmetric_exporter_upload"), "what() names the C function", e.what());
    }

    // A receiver that is not there: refused connection, no retries -> ERR_EXPORT.
    om::Config dead;
    dead.set_endpoint(g.dead).set_retry(false);
    om::Exporter nowhere(dead);
    om::Result export_failed = nowhere.try_upload_json(test::gauge_json("never-arrives", 1), 5s);
    expect_result(export_failed, om::Status::Export, "upload to a closed port");
    check(nowhere.stats().requests_failed == 1, "stats count the failed request");

    // Shut down twice.
    exporter.shutdown(5s);
    expect_error(om::Status::Shutdown, "shutdown twice", [&] { exporter.shutdown(5s); });
    expect_result(exporter.try_shutdown(), om::Status::Shutdown, "try_shutdown after shutdown");
    expect_error(om::Status::Shutdown, "upload_json after shutdown",
                 [&] { exporter.upload_json(test::gauge_json("too-late", 1)); });
    expect_result(exporter.try_force_flush(1s), om::Status::Shutdown, "try_force_flush after shutdown");
    check(exporter.temporality(om::InstrumentKind::Counter) == om::Temporality::Cumulative,
          "temporality() answers after shutdown");
    (void)exporter.stats();

    expect_result(om::Result{}, om::Status::Ok, "a default Result is ok");
    om::Result{}.throw_if_error();
}

struct SelectorBoom : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void test_selectors() {
    int temporality_calls = 0, aggregation_calls = 0;
    bool defaults_arrived = true;
    std::vector<double> bounds = {1, 2, 5, 10};
    om::Config c = http_config();
    c.set_temporality_selector([&](om::InstrumentKind kind) {
         temporality_calls++;
         return (kind == om::InstrumentKind::Counter || kind == om::InstrumentKind::Histogram)
                    ? om::Temporality::Delta
                    : om::Temporality::Cumulative;
     })
        .set_aggregation_selector([&](om::InstrumentKind kind, om::Aggregation &a) {
            aggregation_calls++;
            if (kind == om::InstrumentKind::Histogram) {
                defaults_arrived = defaults_arrived && a.kind == om::AggregationKind::ExplicitBucketHistogram &&
                                   a.boundaries.size() == 15 && a.record_min_max;
                a.boundaries = bounds;  // a copy owned by `a`: the wrapper keeps it alive
                a.record_min_max = false;
            } else if (kind == om::InstrumentKind::Counter) {
                defaults_arrived = defaults_arrived && a.kind == om::AggregationKind::Sum;
            } else if (kind == om::InstrumentKind::ObservableGauge) {
                a.kind = om::AggregationKind::Drop;
            }
        });
    {
        om::Exporter exporter(c);
        check(temporality_calls == 7 && aggregation_calls == 7, "each selector is called once per kind",
              std::to_string(temporality_calls) + "/" + std::to_string(aggregation_calls));
        check(defaults_arrived, "the aggregation arrives filled with the default");
        check(exporter.temporality(om::InstrumentKind::Counter) == om::Temporality::Delta &&
                  exporter.temporality(om::InstrumentKind::Histogram) == om::Temporality::Delta &&
                  exporter.temporality(om::InstrumentKind::Gauge) == om::Temporality::Cumulative,
              "temporality from a lambda");
        om::Aggregation h = exporter.aggregation(om::InstrumentKind::Histogram);
        check(h.kind == om::AggregationKind::ExplicitBucketHistogram && h.boundaries == bounds && !h.record_min_max,
              "aggregation from a lambda (boundaries copied)");
        check(exporter.aggregation(om::InstrumentKind::ObservableGauge).kind == om::AggregationKind::Drop,
              "DROP for the observable gauge");
        om::Aggregation u = exporter.aggregation(om::InstrumentKind::UpDownCounter);
        check(u.kind == om::AggregationKind::Sum && u.boundaries.empty(), "default aggregation for up-down counters");
    }
    {
        om::Exporter again(c);  // the selectors are consulted again for a second exporter
        check(temporality_calls == 14 && aggregation_calls == 14, "selectors run again for each exporter");
    }

    // Answers the library refuses.
    om::Config bad = http_config();
    bad.set_aggregation_selector([](om::InstrumentKind kind, om::Aggregation &a) {
        if (kind == om::InstrumentKind::Gauge) a.kind = om::AggregationKind::Sum;  // does not fit a gauge
    });
    std::string m = expect_error(om::Status::InvalidArgument, "an aggregation that does not fit the kind",
                                 [&] { om::Exporter e(bad); });
    check(contains(m, "GAUGE") || contains(m, "auge"), "the selector error names the kind", m);
    bad.set_aggregation_selector([](om::InstrumentKind, om::Aggregation &a) { a.boundaries = {3, 1}; });
    expect_error(om::Status::InvalidArgument, "unsorted boundaries", [&] { om::Exporter e(bad); });
    bad.set_aggregation_selector({}).set_temporality_selector(
        [](om::InstrumentKind) { return static_cast<om::Temporality>(7); });
    expect_error(om::Status::InvalidArgument, "a temporality that is no enumerator", [&] { om::Exporter e(bad); });

    // A selector that throws: creation fails, the exception comes back, nothing crashes.
    int calls_after_throw = 0;
    bool thrown = false;
    om::Config boom = http_config();
    boom.set_temporality_selector([&](om::InstrumentKind kind) {
        if (thrown) calls_after_throw++;
        if (kind == om::InstrumentKind::Histogram) {
            thrown = true;
            throw SelectorBoom("boom from the temporality selector");
        }
        return om::Temporality::Delta;
    });
    try {
        om::Exporter e(boom);
        check(false, "a throwing temporality selector fails creation");
    } catch (const SelectorBoom &e) {
        check(contains(e.what(), "boom from"), "the selector's own exception is rethrown");
    } catch (const std::exception &e) {
        check(false, "a throwing temporality selector", std::string("wrong exception: ") + e.what());
    }
    check(calls_after_throw == 0, "no selector call after one threw");

    thrown = false;
    om::Exporter keep(http_config());
    om::Result r = om::Exporter::try_create(boom, keep);
    expect_result(r, om::Status::InvalidArgument, "try_create with a throwing selector");
    check(contains(r.message, "boom from"), "try_create carries the selector's what()", r.message);
    check(static_cast<bool>(keep), "try_create leaves `out` alone on failure");
    keep.upload_json(test::gauge_json(g.metric("try-create-kept"), 1));

    boom.set_temporality_selector({}).set_aggregation_selector(
        [](om::InstrumentKind kind, om::Aggregation &) {
            if (kind == om::InstrumentKind::Gauge) throw 42;  // not even a std::exception
        });
    try {
        om::Exporter e(boom);
        check(false, "a throwing aggregation selector fails creation");
    } catch (int v) {
        check(v == 42, "a non-std exception from a selector is rethrown as is");
    }

    boom.set_aggregation_selector({});  // back to the defaults: creation works again
    om::Exporter fine(boom);
    check(fine.temporality(om::InstrumentKind::Counter) == om::Temporality::Cumulative &&
              fine.aggregation(om::InstrumentKind::Gauge).kind == om::AggregationKind::LastValue,
          "empty std::function restores the default selectors");
    om::Result created = om::Exporter::try_create(boom, keep);
    expect_result(created, om::Status::Ok, "try_create");
}

// A selector that decides some kinds and leaves the others to the Config's default.
void test_default_temporality() {
    using K = om::InstrumentKind;
    setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "lowmemory", 1);
    om::Config c = http_config();
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
    check(c.default_temporality(K::Counter) == om::Temporality::Delta &&
              c.default_temporality(K::UpDownCounter) == om::Temporality::Cumulative &&
              c.default_temporality(K::ObservableCounter) == om::Temporality::Cumulative,
          "default_temporality follows OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");
    c.set_temporality_selector([&c](K kind) {
        return kind == K::UpDownCounter ? om::Temporality::Delta : c.default_temporality(kind);
    });
    check(c.default_temporality(K::UpDownCounter) == om::Temporality::Cumulative,
          "a selector does not change the default");
    om::Exporter e(c);
    check(e.temporality(K::UpDownCounter) == om::Temporality::Delta && e.temporality(K::Counter) == om::Temporality::Delta &&
              e.temporality(K::ObservableCounter) == om::Temporality::Cumulative,
          "the selector decided one kind and kept the default for the others");
    expect_error(om::Status::InvalidArgument, "default_temporality(kind 0)",
                 [&] { (void)c.default_temporality(static_cast<K>(0)); });
}

// The log callback is owned by the exporter: the Config may die and the Exporter may
// move while the library's threads log.
void test_log_lifetime() {
    auto sink = std::make_shared<LogSink>();
    std::weak_ptr<LogSink> watch = sink;
    om::Exporter moved;
    {
        om::Config c;
        c.set_endpoint(g.dead).set_retry(false).set_log_callback(
            [sink](om::LogLevel level, std::string_view message) { sink->add(level, message); });
        om::Exporter exporter(c);
        moved = std::move(exporter);
    }  // the Config and the moved-from Exporter are gone
    sink.reset();  // only the exporter holds the lambda (and the sink) now
    check(!watch.expired(), "the exporter keeps the log callback alive");

    moved.enqueue(test::resource_metrics("never-arrives", 1, 1));  // delivery fails in the background
    moved.force_flush(10s);
    auto s = watch.lock();
    check(s && s->has(om::LogLevel::Error, ""), "a background failure reaches the log callback",
          s ? s->all() : std::string("(gone)"));
    bool other_thread = false;
    if (s) {
        std::lock_guard<std::mutex> lock(s->mutex);
        other_thread = std::any_of(s->threads.begin(), s->threads.end(),
                                   [](std::thread::id id) { return id != std::this_thread::get_id(); });
    }
    check(other_thread, "the log callback ran on a library thread");
    check(moved.stats().requests_failed >= 1, "the failed background delivery is counted");
    s.reset();
    moved.reset();
    check(watch.expired(), "destroying the exporter releases the log callback");
    expect_result(moved.try_shutdown(), om::Status::InvalidArgument, "a reset exporter is empty");
}

void test_moves() {
    om::Config a = http_config();
    int selector_calls = 0;
    a.set_temporality_selector([&](om::InstrumentKind) {
        selector_calls++;
        return om::Temporality::Cumulative;
    });
    om::Config b(std::move(a));
    check(!a && static_cast<bool>(b), "a moved-from Config is empty");  // NOLINT(bugprone-use-after-move)
    expect_result(a.try_set_endpoint(g.http), om::Status::InvalidArgument, "a setter on a moved-from Config");
    expect_error(om::Status::InvalidArgument, "an Exporter from a moved-from Config", [&] { om::Exporter e(a); });
    om::Exporter not_made;
    expect_result(om::Exporter::try_create(a, not_made), om::Status::InvalidArgument, "try_create from a moved-from Config");

    om::Config c;
    c = std::move(b);  // the selector moves along with its state
    om::Exporter e1(c);
    check(selector_calls == 7, "a selector survives moves of its Config", std::to_string(selector_calls));

    om::Exporter e2(std::move(e1));
    check(!e1 && static_cast<bool>(e2), "a moved-from Exporter is empty");  // NOLINT(bugprone-use-after-move)
    expect_result(e1.try_upload_json(test::gauge_json("x", 1)), om::Status::InvalidArgument,
                  "upload on a moved-from Exporter");
    expect_error(om::Status::InvalidArgument, "stats() on a moved-from Exporter", [&] { (void)e1.stats(); });
    e2.upload_json(test::gauge_json(g.metric("moved"), 1));

    om::Exporter e3(c);
    e3 = std::move(e2);  // e3's own exporter is freed, e2's taken over
    e3.upload_json(test::gauge_json(g.metric("move-assigned"), 1));
    check(e3.stats().requests_sent == 2, "move assignment takes the other exporter");

    // An exporter built in the other translation unit (with a lambda from there), returned by move.
    std::atomic<int> log_messages{0};
    {
        om::Exporter from_tu2 = second_tu::make_exporter(g.http, &log_messages);
        from_tu2.upload_json(test::gauge_json(g.metric("second-tu-exporter"), 1));
        from_tu2.shutdown(5s);
    }

    om::Exporter empty;
    om::Exporter also_empty(std::move(empty));
    empty = std::move(also_empty);
}

void test_threads() {
    om::Exporter exporter(http_config());
    const std::string name = g.metric("threads");
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 5; i++) {
                om::Result r = exporter.try_upload_json(test::gauge_json(name, t * 10 + i));
                if (!r.ok()) failures++;
            }
        });
    }
    for (auto &th : threads) th.join();
    check(failures.load() == 0, "uploads from 4 threads at once");
    check(exporter.stats().requests_sent == 20, "20 requests from 4 threads",
          std::to_string(exporter.stats().requests_sent));
}

// A loopback port that takes connections (the kernel's backlog) and never answers.
struct SilentListener {
    int fd = -1;
    int port = 0;
    SilentListener() {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr *>(&addr), len) == 0 && ::listen(fd, 16) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0)
            port = ntohs(addr.sin_port);
    }
    ~SilentListener() {
        if (fd >= 0) ::close(fd);
    }
    SilentListener(const SilentListener &) = delete;
    SilentListener &operator=(const SilentListener &) = delete;
};

void test_cancel() {
    check(status_name(om::Status::Cancelled) == "OTLPMETRIC_ERR_CANCELLED", "status_str(Cancelled)");
    const auto bytes = test::resource_metrics(g.metric("cancel"), 1, 1.0);

    om::Exporter exporter(http_config());
    om::Cancel triggered;
    triggered.trigger();
    triggered.trigger();
    check(exporter.try_upload(bytes, triggered).status == om::Status::Cancelled, "a triggered Cancel: upload");
    check(exporter.try_force_flush(triggered).status == om::Status::Cancelled, "a triggered Cancel: force_flush");
    try {
        exporter.upload(bytes, triggered);
        check(false, "upload(bytes, triggered) throws");
    } catch (const om::Error &e) {
        check(e.status() == om::Status::Cancelled, "upload(bytes, triggered) throws Status::Cancelled");
    }
    const om::Cancel none(nullptr);
    none.trigger();  // does nothing
    check(exporter.try_upload(bytes, none).ok(), "an empty Cancel: an upload that cannot be cancelled");
    check(exporter.try_force_flush(none).ok(), "an empty Cancel: force_flush");

    SilentListener silent;
    if (!check(silent.port != 0, "a silent loopback listener")) return;
    om::Config c;
    c.set_endpoint("http://127.0.0.1:" + std::to_string(silent.port) + "/v1/metrics").set_retry(false);
    om::Exporter hung(c);
    om::Cancel cancel;
    std::chrono::steady_clock::time_point triggered_at;
    std::thread trigger([&] {
        std::this_thread::sleep_for(200ms);
        triggered_at = std::chrono::steady_clock::now();
        cancel.trigger();
    });
    const om::Result r = hung.try_upload(bytes, cancel, 10s);
    const auto returned_at = std::chrono::steady_clock::now();
    trigger.join();
    check(r.status == om::Status::Cancelled, "a hung upload is cancelled", r.message);
    const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(returned_at - triggered_at);
    check(after < 1000ms, "a hung upload returns promptly after the trigger", std::to_string(after.count()) + " ms");
}

void test_header_callback() {
    std::atomic<int> calls{0};
    std::atomic<int> refused{0};
    om::Config c = http_config();
    c.set_retry(true, 10ms, 20ms, 2s).set_header_callback([&](om::Headers &headers) {
        const int n = ++calls;
        if (!headers.try_add("content-type", "text/plain").ok()) refused++;
        if (!headers.try_add(std::string_view("x-bad\0key", 9), "v").ok()) refused++;
        if (n == 1) return false;                                    // fails the attempt
        if (n == 2) throw std::runtime_error("token not ready");     // so does this
        headers.add("x-token", "token-" + std::to_string(n));
        return true;
    });
    om::Exporter exporter(c);
    c.set_header_callback(nullptr);  // the exporter keeps its own
    exporter.upload_json(test::gauge_json(g.metric("header-callback"), 1));
    check(calls.load() == 3, "the header callback runs before each attempt", std::to_string(calls.load()));
    check(refused.load() == 6, "headers the library sets, and NUL bytes, are refused");
    check(exporter.stats().retries == 2, "a failing header callback fails its attempt, retryably");
}

void test_second_tu() {
    check(second_tu::log_trampoline_address() == &om::detail::log_trampoline,
          "inline functions have one address across translation units");
    check(second_tu::counts_address() == &test::counts(), "one test::counts() across translation units");
    om::Exporter exporter(http_config());
    try {
        second_tu::upload_garbage(exporter);
        check(false, "an Error thrown in the other TU");
    } catch (const om::Error &e) {
        check(e.status() == om::Status::Decode, "an otlpmetric::Error thrown in one TU is caught in the other");
    }
    check(second_tu::round_trip(g.http, g.marker) == 0, "the second TU's round trip");
    g.must_arrive.push_back(g.marker + "-second-tu");
}

// -------------------------------------------------------------------------------
// Meter provider
// -------------------------------------------------------------------------------

// A provider that exports only when asked (interval 0), to the Collector.
om::Config provider_config() {
    om::Config c = http_config();
    c.set_export_interval(0ms);
    return c;
}

test::Collected collect(om::MeterProvider &provider, const std::string &what) {
    const std::vector<std::uint8_t> bytes = provider.collect();
    test::Collected c = test::decode_resource_metrics(bytes);
    check(c.ok && !bytes.empty(), what + ": collect() returns a ResourceMetrics", std::to_string(bytes.size()));
    return c;
}

// The single point of metric `name`, checked to be of `type`.
test::Point point_of(const test::Collected &c, const std::string &name, const std::string &type) {
    const test::Metric *m = c.find(name);
    if (!check(m != nullptr, name + ": collected")) return test::Point();
    check(m->type == type, name + ": is a " + type, m->type);
    if (!check(m->points.size() == 1, name + ": one point", std::to_string(m->points.size()))) return test::Point();
    return m->points[0];
}

void test_provider_instruments() {
    om::Config config = provider_config();
    config.set_resource({{"service.name", "otlpmetric-cpp-tests"}, {"deployment.environment", std::string("test")}});
    om::MeterProvider provider(config);
    om::Meter meter = provider.meter("otlpmetric.cpp.tests", "1.0");

    auto ci = meter.counter<std::int64_t>("c.i64", "{request}", "requests");
    auto cd = meter.counter<double>("c.f64", "s");
    auto ui = meter.up_down_counter<std::int64_t>("u.i64");
    auto ud = meter.up_down_counter<double>("u.f64");
    auto hi = meter.histogram<std::int64_t>("h.i64", "By");
    auto hd = meter.histogram<double>("h.f64", "s");
    auto gi = meter.gauge<std::int64_t>("g.i64");
    auto gd = meter.gauge<double>("g.f64");
    check(meter.counter<std::int64_t>("C.I64", "{request}", "requests").handle() == ci.handle(),
          "the same instrument again (name case-insensitive) is the same handle");

    const std::string route = "/api";
    ci.add(1, {{"route", route}, {"ok", true}, {"code", 200}, {"ratio", 0.5}});
    ci.add(2, {{"ratio", 0.5}, {"code", 200}, {"ok", true}, {"route", "/api"}});  // order does not count
    expect_result(cd.try_add(0.25), om::Status::Ok, "try_add on a double counter");
    cd.add(1);  // an int is a double here
    ui.add(5);
    ui.add(-7);
    ud.add(-0.5, {{"code", static_cast<std::uint16_t>(7)}});
    hi.record(100);
    hi.record(300);
    hd.record(0.5, {});
    expect_result(hd.try_record(1.5), om::Status::Ok, "try_record on a double histogram");
    gi.record(-4, {{"queue", "main"}});
    gd.record(2.5);
    gd.record(3.5);

    const test::Collected c = collect(provider, "instruments");
    check(c.has_resource("service.name=s:otlpmetric-cpp-tests") && c.has_resource("deployment.environment=s:test"),
          "set_resource reaches the resource");
    const test::Metric *m = c.find("c.i64");
    check(m != nullptr && m->unit == "{request}" && m->description == "requests" &&
              m->scope == "otlpmetric.cpp.tests" && m->scope_version == "1.0" && m->monotonic,
          "counter: unit, description, scope, monotonic");
    test::Point p = point_of(c, "c.i64", "sum");
    check(p.is_int && p.as_int == 3, "counter<int64_t>: 1 + 2", std::to_string(p.as_int));
    check(p.has("route=s:/api") && p.has("ok=b:1") && p.has("code=i:200") && p.has("ratio=d:0.5") &&
              p.attributes.size() == 4,
          "counter: the four attribute types");
    p = point_of(c, "c.f64", "sum");
    check(!p.is_int && p.as_double == 1.25, "counter<double>", std::to_string(p.as_double));
    p = point_of(c, "u.i64", "sum");
    check(p.is_int && p.as_int == -2, "up_down_counter<int64_t>", std::to_string(p.as_int));
    check(c.find("u.i64") != nullptr && !c.find("u.i64")->monotonic, "an up-down counter is not monotonic");
    p = point_of(c, "u.f64", "sum");
    check(p.as_double == -0.5 && p.has("code=i:7"), "up_down_counter<double>, an unsigned attribute");
    p = point_of(c, "h.i64", "histogram");
    check(p.count == 2 && p.sum == 400, "histogram<int64_t>", std::to_string(p.count) + " " + std::to_string(p.sum));
    p = point_of(c, "h.f64", "histogram");
    check(p.count == 2 && p.sum == 2.0, "histogram<double>", std::to_string(p.count) + " " + std::to_string(p.sum));
    p = point_of(c, "g.i64", "gauge");
    check(p.is_int && p.as_int == -4 && p.has("queue=s:main"), "gauge<int64_t>");
    p = point_of(c, "g.f64", "gauge");
    check(p.as_double == 3.5, "gauge<double>: the last value", std::to_string(p.as_double));

    // More attributes than fit on the stack.
    auto wide = meter.counter<std::int64_t>("wide");
    wide.add(1, {{"a0", 0}, {"a1", 1}, {"a2", 2}, {"a3", 3}, {"a4", 4}, {"a5", 5}, {"a6", 6}, {"a7", 7}, {"a8", 8},
                 {"a9", 9}});
    std::vector<om::Attribute> from_vector = {{"a0", 0}, {"a1", 1}, {"a2", 2}, {"a3", 3}, {"a4", 4},
                                              {"a5", 5}, {"a6", 6}, {"a7", 7}, {"a8", 8}, {"a9", 9}};
    wide.add(2, from_vector);
    p = point_of(collect(provider, "wide"), "wide", "sum");
    check(p.as_int == 3 && p.attributes.size() == 10 && p.has("a9=i:9"), "ten attributes (the heap path)",
          std::to_string(p.as_int) + " " + std::to_string(p.attributes.size()));
    provider.shutdown(5s);
}

void test_provider_bound() {
    om::MeterProvider provider(provider_config());
    om::Meter meter = provider.meter("bound");
    auto counter = meter.counter<std::int64_t>("b.counter");
    auto up_down = meter.up_down_counter<double>("b.updown");
    auto histogram = meter.histogram<double>("b.histogram");
    auto gauge = meter.gauge<std::int64_t>("b.gauge");
    {
        om::BoundCounter<std::int64_t> bc = counter.bind({{"route", "/bound"}});
        auto bu = up_down.bind({{"k", 1}});
        auto bh = histogram.bind({});
        auto bg = gauge.bind({{"g", true}});
        bc.add(2);
        bc.add(3);
        counter.add(10, {{"route", "/bound"}});  // the same series
        expect_result(bu.try_add(-1.5), om::Status::Ok, "bound try_add");
        bh.record(0.25);
        expect_result(bh.try_record(0.75), om::Status::Ok, "bound try_record");
        bg.record(9);

        om::BoundCounter<std::int64_t> moved(std::move(bc));
        check(!bc && static_cast<bool>(moved), "a moved-from BoundInstrument is empty");  // NOLINT(bugprone-use-after-move)
        expect_result(bc.try_add(1), om::Status::InvalidArgument, "add on a moved-from BoundInstrument");
        expect_error(om::Status::InvalidArgument, "add() on a moved-from BoundInstrument", [&] { bc.add(1); });
        moved.add(1);
        bg.reset();
        check(!bg, "reset() empties a BoundInstrument");
        om::BoundGauge<std::int64_t> empty;
        expect_result(empty.try_record(1), om::Status::InvalidArgument, "record on an empty BoundInstrument");
    }  // all bound instruments are freed here, before the provider
    const test::Collected c = collect(provider, "bound");
    test::Point p = point_of(c, "b.counter", "sum");
    check(p.as_int == 16 && p.has("route=s:/bound"), "bound counter and the same set unbound",
          std::to_string(p.as_int));
    p = point_of(c, "b.updown", "sum");
    check(p.as_double == -1.5 && p.has("k=i:1"), "bound up-down counter");
    p = point_of(c, "b.histogram", "histogram");
    check(p.count == 2 && p.sum == 1.0 && p.attributes.empty(), "bound histogram with no attributes");
    p = point_of(c, "b.gauge", "gauge");
    check(p.as_int == 9 && p.has("g=b:1"), "bound gauge");

    om::BoundHistogram<double> unmade;
    expect_result(histogram.try_bind({{"", 1}}, unmade), om::Status::InvalidArgument, "bind with an empty key");
    check(!unmade, "a failed try_bind leaves `out` alone");
}

void test_provider_observables() {
    om::MeterProvider provider(provider_config());
    om::Meter meter = provider.meter("observables");
    int calls = 0;
    std::int64_t total = 0;
    auto oc = meter.observable_counter<std::int64_t>(
        "o.counter",
        [&](om::Observer<std::int64_t> &o) {
            calls++;
            total += 10;
            o.observe(total, {{"cpu", 0}});
            o.observe(1, {{"cpu", 1}});
        },
        "{tick}");
    check(static_cast<bool>(oc), "observable_counter made");
    meter.observable_counter<double>("o.counter.f64", [](om::Observer<double> &o) { o.observe(1.5); });
    meter.observable_up_down_counter<std::int64_t>("o.updown", [](auto &o) { o.observe(-3); });
    meter.observable_up_down_counter<double>("o.updown.f64", [](auto &o) { o.observe(-0.25, {{"x", "y"}}); });
    meter.observable_gauge<std::int64_t>("o.gauge", [](auto &o) { o.observe(42); });
    meter.observable_gauge<double>("o.gauge.f64", [](om::Observer<double> &o) {
        expect_result(o.try_observe(0.5, {{nullptr, 1}}), om::Status::InvalidArgument, "observe with a NULL key");
        o.observe(7.5);
    });
    // Throws after observing: the observation stands, the exception stays in C++.
    meter.observable_gauge<double>("o.throws", [](om::Observer<double> &o) {
        o.observe(1.0);
        throw std::runtime_error("from an observe callback");
    });
    meter.observable_gauge<std::int64_t>("o.throws.int", [](auto &) { throw 42; });

    test::Collected c = collect(provider, "observables");
    check(calls == 1, "a callback runs once per collect", std::to_string(calls));
    const test::Metric *m = c.find("o.counter");
    check(m != nullptr && m->type == "sum" && m->monotonic && m->points.size() == 2 && m->unit == "{tick}",
          "observable counter<int64_t>: two series");
    if (m != nullptr)
        for (const auto &pt : m->points)
            if (pt.has("cpu=i:0")) check(pt.as_int == 10, "observable counter: the observed total");
    check(point_of(c, "o.counter.f64", "sum").as_double == 1.5, "observable counter<double>");
    check(point_of(c, "o.updown", "sum").as_int == -3, "observable up-down counter<int64_t>");
    test::Point p = point_of(c, "o.updown.f64", "sum");
    check(p.as_double == -0.25 && p.has("x=s:y"), "observable up-down counter<double>");
    check(point_of(c, "o.gauge", "gauge").as_int == 42, "observable gauge<int64_t>");
    check(point_of(c, "o.gauge.f64", "gauge").as_double == 7.5, "observable gauge<double>");
    check(point_of(c, "o.throws", "gauge").as_double == 1.0, "what a callback observed before it threw stands");
    check(provider.callback_exceptions() == 2, "exceptions from callbacks are caught and counted",
          std::to_string(provider.callback_exceptions()));

    c = collect(provider, "observables again");
    check(calls == 2, "the callback runs again", std::to_string(calls));
    m = c.find("o.counter");
    if (check(m != nullptr, "observable counter collected again"))
        for (const auto &pt : m->points)
            if (pt.has("cpu=i:0")) check(pt.as_int == 20, "observable counter: cumulative", std::to_string(pt.as_int));
    check(provider.callback_exceptions() == 4, "callback exceptions counted each time");

    om::ObservableGauge<double> unmade;
    expect_result(meter.try_observable<om::InstrumentKind::ObservableGauge, double>("o.empty", {}, "", "", unmade),
                  om::Status::InvalidArgument, "an empty callback");
    expect_error(om::Status::InvalidArgument, "an observable with a bad name",
                 [&] { meter.observable_gauge<double>("9bad", [](auto &) {}); });
    check(!unmade, "a failed try_observable leaves `out` alone");
}

void test_provider_errors() {
    om::MeterProvider provider(provider_config());
    om::Meter meter = provider.meter("errors");
    expect_error(om::Status::InvalidArgument, "an instrument name starting with a digit",
                 [&] { meter.counter<std::int64_t>("1abc"); });
    om::Counter<double> unmade;
    expect_result(meter.try_instrument(std::string_view("bad name"), "", "", unmade), om::Status::InvalidArgument,
                  "try_instrument with a space in the name");
    check(!unmade, "a failed try_instrument leaves `out` alone");
    expect_result(meter.try_instrument(std::string_view("nul\0name", 8), "", "", unmade), om::Status::InvalidArgument,
                  "a name with a NUL byte");
    expect_error(om::Status::InvalidArgument, "a unit longer than 63 characters",
                 [&] { meter.histogram<double>("long.unit", std::string(64, 'u')); });
    expect_error(om::Status::InvalidArgument, "a meter name with a NUL byte",
                 [&] { provider.meter(std::string_view("a\0b", 3)); });

    auto counter = meter.counter<std::int64_t>("errors.counter");
    const std::string with_nul("a\0b", 3);
    const char *null_text = nullptr;
    expect_result(counter.try_add(1, {{"", 1}}), om::Status::InvalidArgument, "an empty key");
    expect_result(counter.try_add(1, {{null_text, 1}}), om::Status::InvalidArgument, "a NULL key");
    expect_result(counter.try_add(1, {{"k", null_text}}), om::Status::InvalidArgument, "a NULL string value");
    expect_result(counter.try_add(1, {{"k", with_nul}}), om::Status::InvalidArgument, "a std::string value with a NUL");
    expect_result(counter.try_add(1, {{with_nul, 1}}), om::Status::InvalidArgument, "a std::string key with a NUL");
    expect_result(counter.try_add(1, {{"k", std::numeric_limits<std::uint64_t>::max()}}), om::Status::InvalidArgument,
                  "an unsigned value above INT64_MAX");
    expect_result(counter.try_add(1, {{"k", "\xff"}}), om::Status::InvalidArgument, "a value that is not UTF-8");
    expect_error(om::Status::InvalidArgument, "add() with a bad attribute throws", [&] { counter.add(1, {{"", 1}}); });
    expect_result(counter.try_add(-1), om::Status::Ok, "a negative add on a counter is dropped, not refused");
    expect_result(provider.try_force_flush(-1ms), om::Status::InvalidArgument, "a negative flush timeout");
    expect_result(provider.try_shutdown(-1ms), om::Status::InvalidArgument, "a negative shutdown timeout");
    expect_result(provider_config().try_set_export_interval(-1ms), om::Status::InvalidArgument,
                  "a negative export interval");
    expect_result(provider_config().try_set_cardinality_limit(0), om::Status::InvalidArgument, "a cardinality limit of 0");
    expect_result(provider_config().try_set_resource({{"", "x"}}), om::Status::InvalidArgument, "a bad resource attribute");

    const test::Collected c = collect(provider, "errors");
    const test::Metric *m = c.find("errors.counter");
    check(m == nullptr || m->points.empty(), "nothing refused was recorded");

    provider.shutdown(5s);
    expect_result(counter.try_add(1), om::Status::Shutdown, "recording after shutdown");
    std::vector<std::uint8_t> untouched = {1, 2, 3};
    expect_result(provider.try_collect(untouched), om::Status::Shutdown, "collect after shutdown");
    check(untouched.size() == 3, "a failed try_collect leaves `out` alone");
    expect_error(om::Status::Shutdown, "shutdown twice", [&] { provider.shutdown(); });
    check(provider.stats().requests_failed == 0, "stats() after shutdown");

    om::Config broken = provider_config();
    broken.set_temporality_selector([](om::InstrumentKind) -> om::Temporality { throw std::logic_error("selector"); });
    expect_error(om::Status::InvalidArgument, "try_create reports a selector's exception", [&] {
        om::MeterProvider out;
        om::MeterProvider::try_create(broken, out).throw_if_error();
    });
    try {
        om::MeterProvider p(broken);
        check(false, "the MeterProvider constructor rethrows a selector's exception");
    } catch (const std::logic_error &e) {
        check(std::string(e.what()) == "selector", "the selector's own exception", e.what());
    }
}

void test_provider_delta_and_export() {
    om::Config config = provider_config();
    config.set_temporality_selector([](om::InstrumentKind) { return om::Temporality::Delta; });
    config.set_exporter_metrics(true);
    om::MeterProvider provider;
    expect_result(om::MeterProvider::try_create(config, provider), om::Status::Ok, "try_create");
    om::Meter meter = provider.meter("delta");
    auto counter = meter.counter<std::int64_t>("d.counter");
    counter.add(5);
    test::Point p = point_of(collect(provider, "delta 1"), "d.counter", "sum");
    check(p.as_int == 5, "delta: first collection");
    counter.add(2);
    const test::Collected c = collect(provider, "delta 2");
    p = point_of(c, "d.counter", "sum");
    check(p.as_int == 2 && c.find("d.counter")->temporality == 1, "delta: the selector reaches the provider",
          std::to_string(p.as_int));

    // Sent to the Collector by force_flush and shutdown.
    auto sent = meter.counter<std::int64_t>(g.metric("provider-counter"));
    auto sent_histogram = meter.histogram<double>(g.metric("provider-histogram"));
    meter.observable_gauge<double>(g.metric("provider-observable"), [](auto &o) { o.observe(1.0); });
    sent.add(1, {{"route", "/api"}});
    sent_histogram.record(0.5);
    provider.force_flush(10s);
    check(provider.stats().requests_sent >= 1, "force_flush exported",
          std::to_string(provider.stats().requests_sent));
    const test::Collected own = collect(provider, "exporter metrics");
    const test::Metric *exported = own.find("otel.sdk.exporter.metric_data_point.exported");
    check(exported && !exported->points.empty() && exported->points[0].as_int >= 1,
          "set_exporter_metrics: the exporter's own metrics count what force_flush exported");
    sent.add(1);
    provider.shutdown(10s);
    check(provider.stats().requests_failed == 0, "nothing failed to export");
}

void test_provider_moves() {
    om::MeterProvider a(provider_config());
    om::Meter meter = a.meter("moves");
    auto counter = meter.counter<std::int64_t>("m.counter");
    int calls = 0;
    meter.observable_gauge<std::int64_t>("m.observable", [&](auto &o) {
        calls++;
        o.observe(1);
    });
    counter.add(1);

    om::MeterProvider b(std::move(a));
    check(!a && static_cast<bool>(b), "a moved-from MeterProvider is empty");  // NOLINT(bugprone-use-after-move)
    expect_error(om::Status::InvalidArgument, "meter() on a moved-from provider", [&] { a.meter("x"); });
    std::vector<std::uint8_t> out;
    expect_result(a.try_collect(out), om::Status::InvalidArgument, "collect on a moved-from provider");
    expect_result(a.try_force_flush(), om::Status::InvalidArgument, "force_flush on a moved-from provider");
    expect_error(om::Status::InvalidArgument, "stats() on a moved-from provider", [&] { (void)a.stats(); });
    check(a.callback_exceptions() == 0, "callback_exceptions() on a moved-from provider");

    counter.add(2);  // handles stay valid across moves of their provider
    meter.counter<double>("m.after.move").add(1.0);
    om::MeterProvider c;
    c = std::move(b);
    const test::Collected got = collect(c, "after moves");
    check(point_of(got, "m.counter", "sum").as_int == 3, "an instrument made before the moves still records");
    check(got.find("m.after.move") != nullptr, "a meter made before the moves still makes instruments");
    check(calls == 1, "an observe callback survives moves of its provider", std::to_string(calls));

    om::MeterProvider d(provider_config());
    d = std::move(c);  // d's own provider is freed, c's taken over
    check(static_cast<bool>(d) && !c, "move assignment");  // NOLINT(bugprone-use-after-move)

    om::Meter empty_meter;
    expect_error(om::Status::InvalidArgument, "an instrument from an empty Meter",
                 [&] { empty_meter.counter<std::int64_t>("x"); });
    expect_error(om::Status::InvalidArgument, "an observable from an empty Meter",
                 [&] { empty_meter.observable_gauge<double>("x", [](auto &) {}); });
    om::Counter<std::int64_t> empty_counter;
    expect_result(empty_counter.try_add(1), om::Status::InvalidArgument, "add on an empty Counter");
    om::Histogram<double> empty_histogram;
    expect_result(empty_histogram.try_record(1), om::Status::InvalidArgument, "record on an empty Histogram");

    om::MeterProvider empty;
    om::MeterProvider also_empty(std::move(empty));
    empty = std::move(also_empty);

    // A provider built in the other translation unit, with its callback, returned by move.
    std::atomic<int> observed{0};
    om::MeterProvider from_tu2 = second_tu::make_provider(g.http, &observed);
    const test::Collected tu2 = collect(from_tu2, "second TU provider");
    check(observed.load() == 1 && tu2.find("second.tu.gauge") != nullptr,
          "a provider and callback from the other translation unit");
}

void test_provider_allocations() {
    // valgrind puts its own operator new in place of the one above: then nothing can be counted.
    const long probe_before = cxx_allocations;
    const auto probe = std::make_unique<std::vector<int>>(100);
    if (cxx_allocations == probe_before) {
        std::printf("skipped: allocation checks (operator new is not this program's, e.g. under valgrind)\n");
        return;
    }
    om::MeterProvider provider(provider_config());
    auto counter = provider.meter("allocations").counter<std::int64_t>("alloc.counter");
    auto histogram = provider.meter("allocations").histogram<double>("alloc.histogram");
    auto eight = [&] {
        counter.add(1, {{"a0", 0}, {"a1", true}, {"a2", 2.5}, {"a3", "x"}, {"a4", 4}, {"a5", 5}, {"a6", 6}, {"a7", 7}});
        histogram.record(1.5, {{"a0", 0}, {"a1", true}, {"a2", 2.5}, {"a3", "x"}, {"a4", 4}, {"a5", 5}, {"a6", 6},
                               {"a7", 7}});
    };
    eight();
    const long before = cxx_allocations;
    eight();
    const long with_eight = cxx_allocations - before;  // read before check() builds its strings
    check(with_eight == 0, "up to 8 attributes: no C++ heap allocation", std::to_string(with_eight));
    const long before_nine = cxx_allocations;
    counter.add(1, {{"a0", 0}, {"a1", 1}, {"a2", 2}, {"a3", 3}, {"a4", 4}, {"a5", 5}, {"a6", 6}, {"a7", 7}, {"a8", 8}});
    const long with_nine = cxx_allocations - before_nine;
    check(with_nine > 0, "more than 8 attributes: on the heap");
}

void test_provider_threads() {
    om::MeterProvider provider(provider_config());
    auto counter = provider.meter("threads").counter<std::int64_t>("t.counter");
    std::atomic<int> failures{0};
    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([&, t] {
            try {
                om::BoundCounter<std::int64_t> bound = counter.bind({{"via", "bound"}});
                for (int i = 0; i < 1000; i++) {
                    counter.add(1, {{"via", "add"}, {"thread", t}});
                    bound.add(1);
                }
            } catch (...) {
                failures++;
            }
        });
    }
    std::thread collector([&] {
        while (!done) {
            std::vector<std::uint8_t> out;
            if (!provider.try_collect(out)) failures++;
        }
    });
    for (auto &t : threads) t.join();
    done = true;
    collector.join();
    check(failures == 0, "recording on many threads while another collects", std::to_string(failures.load()));
    const test::Collected c = collect(provider, "threads");
    std::int64_t via_add = 0, via_bound = 0;
    if (const test::Metric *m = c.find("t.counter"))
        for (const auto &p : m->points) (p.has("via=s:bound") ? via_bound : via_add) += p.as_int;
    check(via_add == 4000 && via_bound == 4000, "nothing recorded on threads is lost",
          std::to_string(via_add) + " " + std::to_string(via_bound));
}

}  // namespace

int main() {
    const char *http = std::getenv("OTLPMETRIC_TEST_HTTP_ENDPOINT");
    const char *grpc = std::getenv("OTLPMETRIC_TEST_GRPC_ENDPOINT");
    const char *marker = std::getenv("OTLPMETRIC_TEST_MARKER");
    if (!http || !*http || !grpc || !*grpc) {
        std::fprintf(stderr, "set OTLPMETRIC_TEST_HTTP_ENDPOINT and OTLPMETRIC_TEST_GRPC_ENDPOINT "
                             "(scripts/cpp-tests.sh does)\n");
        return 2;
    }
    g.http = http;
    g.grpc = grpc;
    g.marker = marker && *marker ? marker : "cpp-test";

    run("names", test_names);
    run("log callback and environment", test_log_callback_and_environment);
    run("config errors", test_config_errors);
    run("round trips", test_round_trips);
    run("gRPC and HTTP/JSON", test_grpc_and_http_json);
    run("errors", test_errors);
    run("selectors", test_selectors);
    run("default temporality", test_default_temporality);
    run("log callback lifetime", test_log_lifetime);
    run("moves", test_moves);
    run("threads", test_threads);
    run("cancel", test_cancel);
    run("header callback", test_header_callback);
    run("second translation unit", test_second_tu);
    run("provider: every kind and number type", test_provider_instruments);
    run("provider: bound instruments", test_provider_bound);
    run("provider: observables", test_provider_observables);
    run("provider: errors", test_provider_errors);
    run("provider: delta and export", test_provider_delta_and_export);
    run("provider: moves", test_provider_moves);
    run("provider: allocations", test_provider_allocations);
    run("provider: threads", test_provider_threads);

    if (const char *out = std::getenv("OTLPMETRIC_TEST_MARKERS_OUT"); out && *out) {
        std::ofstream f(out);
        for (const auto &m : g.must_arrive) f << m << '\n';
    }
    std::printf("%d passed, %d failed\n", test::counts().passed, test::counts().failed);
    return test::counts().failed ? 1 : 0;
}
