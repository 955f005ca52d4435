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

    if (const char *out = std::getenv("OTLPMETRIC_TEST_MARKERS_OUT"); out && *out) {
        std::ofstream f(out);
        for (const auto &m : g.must_arrive) f << m << '\n';
    }
    std::printf("%d passed, %d failed\n", test::counts().passed, test::counts().failed);
    return test::counts().failed ? 1 : 0;
}
