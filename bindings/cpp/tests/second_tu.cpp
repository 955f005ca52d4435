/*
 * second_tu.cpp - a second translation unit including otlpmetric.hpp, linked with
 * test_wrapper.cpp: duplicate definitions (a missing `inline`) fail the link, and the
 * checks in test_wrapper.cpp compare what both units see.
 */
#include "otlpmetric.hpp"
#include "test_support.hpp"

#include <atomic>
#include <memory>
#include <string>

namespace second_tu {

otlpmetric_log_callback log_trampoline_address() { return &otlpmetric::detail::log_trampoline; }

const void *counts_address() { return &test::counts(); }

otlpmetric::Exporter make_exporter(const std::string &endpoint, std::atomic<int> *log_messages) {
    otlpmetric::Config config;
    config.set_endpoint(endpoint)
        .set_protocol(otlpmetric::Protocol::HttpProtobuf)
        .set_timeout(std::chrono::seconds(10))
        .set_log_callback([log_messages](otlpmetric::LogLevel, std::string_view) {
            log_messages->fetch_add(1, std::memory_order_relaxed);  // library threads too
        });
    return otlpmetric::Exporter(config);  // the config dies here; the exporter keeps the lambda
}

void upload_garbage(otlpmetric::Exporter &exporter) {
    const std::uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff};
    exporter.upload(garbage, sizeof garbage);
}

int round_trip(const std::string &endpoint, const std::string &marker) {
    int failures = 0;
    try {
        otlpmetric::Config config;
        config.set_endpoint(endpoint).set_protocol(otlpmetric::Protocol::HttpJson);
        otlpmetric::Exporter exporter(config);
        otlpmetric::Result r = exporter.try_upload_json(test::gauge_json(marker + "-second-tu", 2.5));
        if (!test::check(r.ok(), "second TU: upload_json", r.message)) failures++;
        exporter.shutdown(std::chrono::seconds(5));
    } catch (const std::exception &e) {
        test::check(false, "second TU: round trip", e.what());
        failures++;
    }
    return failures;
}

otlpmetric::MeterProvider make_provider(const std::string &endpoint, std::atomic<int> *observed) {
    otlpmetric::Config config;
    config.set_endpoint(endpoint).set_export_interval(std::chrono::milliseconds(0));
    otlpmetric::MeterProvider provider(config);
    provider.meter("second.tu").observable_gauge<std::int64_t>(
        "second.tu.gauge", [observed](otlpmetric::Observer<std::int64_t> &o) {
            observed->fetch_add(1, std::memory_order_relaxed);
            o.observe(1, {{"tu", 2}});
        });
    return provider;  // the config dies here; the provider keeps the callback
}

}  // namespace second_tu
