/*
 * otlpmetric.hpp - header-only C++17 wrapper over the otlpmetric C API (otlpmetric.h).
 *
 *   #include <otlpmetric.hpp>
 *
 *   otlpmetric::Config cfg;                                   // reads OTEL_EXPORTER_OTLP_*
 *   cfg.set_endpoint("http://collector:4318/v1/metrics")
 *      .set_protocol(otlpmetric::Protocol::HttpProtobuf)
 *      .set_log_callback([](otlpmetric::LogLevel level, std::string_view msg) {
 *          std::cerr << otlpmetric::to_string(level) << ": " << msg << '\n';
 *      });
 *   otlpmetric::Exporter exporter(cfg);                       // cfg may go now
 *   exporter.upload_json(json);                               // throws otlpmetric::Error
 *   if (auto r = exporter.try_upload(bytes); !r)              // or: a Result, no throw
 *       std::cerr << r.message << '\n';
 *   exporter.shutdown(std::chrono::seconds(5));
 *
 *   otlpmetric::MeterProvider provider(cfg);                  // or record on instruments and let
 *   provider.meter("my.lib").counter<std::int64_t>("requests")  // the library aggregate and export:
 *       .add(1, {{"route", "/api"}, {"code", 200}});          // see "Meter provider" below
 *
 * Build: c++ -std=c++17 app.cpp $(pkg-config --cflags --libs otlpmetric), or CMake's
 * find_package(otlpmetric) + target_link_libraries(app PRIVATE otlpmetric::otlpmetric).
 *
 * Rules (the C API's, made C++):
 * - Config and Exporter are move-only RAII owners. A moved-from (or default-constructed
 *   Exporter) object holds nothing: destroying it is fine, and every call on it fails
 *   with Status::InvalidArgument, as the C API does for a NULL handle.
 * - Errors: the plain methods throw otlpmetric::Error (status() plus the library's
 *   message); every try_* method returns a [[nodiscard]] Result instead and throws
 *   nothing of its own (std::bad_alloc aside).
 * - Timeouts are std::chrono::milliseconds. On calls, 0 (configured_timeout, the
 *   default) means the exporter's configured export timeout; in Config::set_timeout, 0
 *   means no limit. Negative values are refused with Status::InvalidArgument; values
 *   over 2^32-1 ms are clamped.
 * - Callbacks are std::function. No C++ exception ever crosses the C library: a
 *   selector that throws makes exporter creation fail, and the Exporter constructor
 *   rethrows that exception (try_create reports it as Status::InvalidArgument); an
 *   exception from the log callback is swallowed; one from the header callback fails
 *   that attempt (retryably).
 * - Selectors run only inside exporter creation, on the creating thread. The log
 *   callback may run on the library's threads, concurrently, until the exporter is
 *   destroyed: each Exporter co-owns the log function it was created with, so the
 *   Config may be destroyed or changed freely. The callback must not call back into
 *   the same exporter.
 * - Threads: a Config is used by one thread at a time (creating an Exporter from it
 *   counts as a use). An Exporter's methods may be called from any number of threads
 *   at once; moving, assigning, reset() and destruction need exclusive access.
 * - Enum arguments are passed to the C API as their integer values, which the library
 *   checks (an unknown value is Status::InvalidArgument).
 * - Cancellation: upload() and force_flush() take an otlpmetric::Cancel (trigger() it
 *   from any thread, or a signal handler) and, in C++20, a std::stop_token; a cancelled
 *   call fails with Status::Cancelled.
 */
#ifndef OTLPMETRIC_HPP
#define OTLPMETRIC_HPP

#include "otlpmetric.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <iterator>
#include <limits>
#include <list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
#if __cplusplus >= 202002L
#include <stop_token>
#endif

#if !defined(__cplusplus) || (__cplusplus < 201703L && !(defined(_MSVC_LANG) && _MSVC_LANG >= 201703L))
#error "otlpmetric.hpp needs C++17 or later"
#endif

namespace otlpmetric {

// ---------------------------------------------------------------------------------
// Enums: the C API's values, as scoped enums.
// ---------------------------------------------------------------------------------

/// The result of a call (otlpmetric_status).
enum class Status : std::int32_t {
    Ok = OTLPMETRIC_OK,
    InvalidArgument = OTLPMETRIC_ERR_INVALID_ARGUMENT,
    Decode = OTLPMETRIC_ERR_DECODE,
    Shutdown = OTLPMETRIC_ERR_SHUTDOWN,
    Timeout = OTLPMETRIC_ERR_TIMEOUT,
    Export = OTLPMETRIC_ERR_EXPORT,
    QueueFull = OTLPMETRIC_ERR_QUEUE_FULL,
    Internal = OTLPMETRIC_ERR_INTERNAL,
    Cancelled = OTLPMETRIC_ERR_CANCELLED,
};

/// The OTLP transport.
enum class Protocol : std::int32_t {
    Grpc = OTLPMETRIC_PROTOCOL_GRPC,
    HttpProtobuf = OTLPMETRIC_PROTOCOL_HTTP_PROTOBUF,
    HttpJson = OTLPMETRIC_PROTOCOL_HTTP_JSON,
};

/// Payload compression.
enum class Compression : std::int32_t {
    None = OTLPMETRIC_COMPRESSION_NONE,
    Gzip = OTLPMETRIC_COMPRESSION_GZIP,
    Zstd = OTLPMETRIC_COMPRESSION_ZSTD,
};

/// Severity of a log callback message.
enum class LogLevel : std::int32_t {
    Error = OTLPMETRIC_LOG_ERROR,
    Warn = OTLPMETRIC_LOG_WARN,
    Info = OTLPMETRIC_LOG_INFO,
    Debug = OTLPMETRIC_LOG_DEBUG,
};

/// The instrument kinds of the OpenTelemetry metrics API.
enum class InstrumentKind : std::int32_t {
    Counter = OTLPMETRIC_INSTRUMENT_COUNTER,
    UpDownCounter = OTLPMETRIC_INSTRUMENT_UP_DOWN_COUNTER,
    Histogram = OTLPMETRIC_INSTRUMENT_HISTOGRAM,
    Gauge = OTLPMETRIC_INSTRUMENT_GAUGE,
    ObservableCounter = OTLPMETRIC_INSTRUMENT_OBSERVABLE_COUNTER,
    ObservableUpDownCounter = OTLPMETRIC_INSTRUMENT_OBSERVABLE_UP_DOWN_COUNTER,
    ObservableGauge = OTLPMETRIC_INSTRUMENT_OBSERVABLE_GAUGE,
};

/// Every instrument kind, in order.
inline constexpr InstrumentKind all_instrument_kinds[] = {
    InstrumentKind::Counter,           InstrumentKind::UpDownCounter,
    InstrumentKind::Histogram,         InstrumentKind::Gauge,
    InstrumentKind::ObservableCounter, InstrumentKind::ObservableUpDownCounter,
    InstrumentKind::ObservableGauge,
};

/// Aggregation temporality; the same numbers as OTLP's AggregationTemporality.
enum class Temporality : std::int32_t {
    Delta = OTLPMETRIC_TEMPORALITY_DELTA,
    Cumulative = OTLPMETRIC_TEMPORALITY_CUMULATIVE,
};

/// The aggregations of the OpenTelemetry metrics SDK.
enum class AggregationKind : std::int32_t {
    Drop = OTLPMETRIC_AGGREGATION_DROP,
    Sum = OTLPMETRIC_AGGREGATION_SUM,
    LastValue = OTLPMETRIC_AGGREGATION_LAST_VALUE,
    ExplicitBucketHistogram = OTLPMETRIC_AGGREGATION_EXPLICIT_BUCKET_HISTOGRAM,
    Base2ExponentialHistogram = OTLPMETRIC_AGGREGATION_BASE2_EXPONENTIAL_HISTOGRAM,
};

/// An aggregation and its parameters (otlpmetric_aggregation, owning its boundaries).
/// Into an aggregation selector it arrives filled with the kind's default.
struct Aggregation {
    AggregationKind kind = AggregationKind::Drop;
    std::vector<double> boundaries;  // explicit bucket histogram: strictly increasing, finite
    bool record_min_max = false;     // histograms
    std::int32_t max_size = 0;       // exponential histogram: >= 2 (default 160)
    std::int32_t max_scale = 0;      // exponential histogram: -10..20 (default 20)
};

/// Export statistics (otlpmetric_stats); all but queue_bytes only grow.
struct Stats {
    std::uint64_t requests_sent = 0;         // export requests accepted (after any split)
    std::uint64_t requests_failed = 0;       // export requests that failed for good
    std::uint64_t retries = 0;               // retry attempts
    std::uint64_t bytes_sent = 0;            // protobuf bytes accepted, before compression
    std::uint64_t data_points_rejected = 0;  // from partial successes
    std::uint64_t queue_dropped = 0;         // enqueued uploads refused or dropped
    std::uint64_t queue_bytes = 0;           // bytes waiting in the queue now
};

using TemporalitySelector = std::function<Temporality(InstrumentKind)>;
using AggregationSelector = std::function<void(InstrumentKind, Aggregation &)>;
using LogCallback = std::function<void(LogLevel, std::string_view)>;

/// For call timeouts: use the exporter's configured export timeout.
inline constexpr std::chrono::milliseconds configured_timeout{0};
/// For Config::set_timeout: no limit.
inline constexpr std::chrono::milliseconds no_limit{0};

// ---------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------

/// The library's version, e.g. "0.1.0" (the header's: OTLPMETRIC_VERSION_*).
inline std::string_view version() noexcept { return otlpmetric_version(); }

/// "OTLPMETRIC_ERR_DECODE" etc.; "OTLPMETRIC_UNKNOWN_STATUS" for other values.
inline const char *status_str(Status status) noexcept {
    const auto v = static_cast<std::int32_t>(status);
    if (v < OTLPMETRIC_OK || v > OTLPMETRIC_ERR_CANCELLED) return "OTLPMETRIC_UNKNOWN_STATUS";
    return otlpmetric_status_str(static_cast<otlpmetric_status>(v));
}

inline std::string_view to_string(Status status) noexcept { return status_str(status); }

inline std::string_view to_string(LogLevel level) noexcept {
    switch (level) {
        case LogLevel::Error: return "ERROR";
        case LogLevel::Warn: return "WARN";
        case LogLevel::Info: return "INFO";
        case LogLevel::Debug: return "DEBUG";
    }
    return "UNKNOWN";
}

inline std::string_view to_string(InstrumentKind kind) noexcept {
    switch (kind) {
        case InstrumentKind::Counter: return "COUNTER";
        case InstrumentKind::UpDownCounter: return "UP_DOWN_COUNTER";
        case InstrumentKind::Histogram: return "HISTOGRAM";
        case InstrumentKind::Gauge: return "GAUGE";
        case InstrumentKind::ObservableCounter: return "OBSERVABLE_COUNTER";
        case InstrumentKind::ObservableUpDownCounter: return "OBSERVABLE_UP_DOWN_COUNTER";
        case InstrumentKind::ObservableGauge: return "OBSERVABLE_GAUGE";
    }
    return "UNKNOWN";
}

inline std::string_view to_string(Temporality temporality) noexcept {
    switch (temporality) {
        case Temporality::Delta: return "DELTA";
        case Temporality::Cumulative: return "CUMULATIVE";
    }
    return "UNKNOWN";
}

inline std::string_view to_string(AggregationKind kind) noexcept {
    switch (kind) {
        case AggregationKind::Drop: return "DROP";
        case AggregationKind::Sum: return "SUM";
        case AggregationKind::LastValue: return "LAST_VALUE";
        case AggregationKind::ExplicitBucketHistogram: return "EXPLICIT_BUCKET_HISTOGRAM";
        case AggregationKind::Base2ExponentialHistogram: return "BASE2_EXPONENTIAL_HISTOGRAM";
    }
    return "UNKNOWN";
}

// ---------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------

/// What the throwing methods throw: a status and the library's message.
/// what() is "<C function>: <STATUS NAME>: <message>"; message() is the message alone.
class Error : public std::runtime_error {
public:
    Error(Status status, const std::string &message, std::string_view operation = {})
        : std::runtime_error(compose(status, message, operation)),
          status_(status),
          offset_(prefix_length(std::char_traits<char>::length(what()), message.size())) {}

    /// The status code (never Status::Ok).
    Status status() const noexcept { return status_; }
    /// The library's message (otlpmetric_last_error() at the time of the failure).
    const char *message() const noexcept { return what() + offset_; }

private:
    static std::size_t prefix_length(std::size_t what_length, std::size_t message_length) noexcept {
        return what_length >= message_length ? what_length - message_length : what_length;
    }

    static std::string compose(Status status, const std::string &message, std::string_view operation) {
        std::string text;
        if (!operation.empty()) {
            text.append(operation);
            text.append(": ");
        }
        text.append(status_str(status));
        text.append(": ");
        text.append(message);
        return text;
    }

    Status status_;
    std::size_t offset_;
};

/// What the try_* methods return: Status::Ok, or a status and the library's message.
struct [[nodiscard]] Result {
    Status status = Status::Ok;
    std::string message;         // empty when ok
    const char *operation = "";  // the C function that failed (a static string)

    bool ok() const noexcept { return status == Status::Ok; }
    explicit operator bool() const noexcept { return ok(); }
    /// Throws otlpmetric::Error unless ok().
    void throw_if_error() const {
        if (!ok()) throw Error(status, message, operation);
    }
};

/// A read-only view of bytes: (pointer, size), or any contiguous container of
/// 1-byte elements (std::vector<std::uint8_t>, std::string, std::string_view,
/// std::array<std::uint8_t, N>, ...). Arrays are not taken implicitly (a string
/// literal would bring its NUL): pass (pointer, size). An empty view is an empty
/// message: its data() is never NULL (the C API refuses a NULL buffer even with size 0,
/// and an empty container may hold one); (NULL, size > 0) stays NULL and is refused.
class ByteView {
public:
    constexpr ByteView() noexcept = default;
    ByteView(const void *data, std::size_t size) noexcept
        : data_(data == nullptr && size == 0 ? no_bytes_ : static_cast<const std::uint8_t *>(data)), size_(size) {}

    template <class C,
              class Elem = std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const C &>()))>>,
              class = decltype(std::size(std::declval<const C &>())),
              std::enable_if_t<!std::is_array_v<C> && sizeof(Elem) == 1 && std::is_trivially_copyable_v<Elem>,
                               int> = 0>
    ByteView(const C &container) noexcept  // NOLINT(google-explicit-constructor): a view
        : ByteView(std::data(container), std::size(container)) {}

    const std::uint8_t *data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

private:
    static constexpr std::uint8_t no_bytes_[1] = {0};

    const std::uint8_t *data_ = no_bytes_;
    std::size_t size_ = 0;
};

/// The headers a header callback adds to one attempt (otlpmetric_headers); valid only
/// during the callback.
class Headers {
public:
    explicit Headers(otlpmetric_headers *headers) noexcept : headers_(headers) {}

    /// otlpmetric_headers_add(): refused (Status::InvalidArgument) for invalid names or
    /// values and the headers the library sets for the protocol (content-type, grpc-*...).
    Headers &add(std::string_view key, std::string_view value) {
        try_add(key, value).throw_if_error();
        return *this;
    }
    Result try_add(std::string_view key, std::string_view value);

private:
    otlpmetric_headers *headers_;
};

/// Adds headers to each attempt; returning false (or throwing) fails that attempt,
/// retryably. Called before every attempt, on the thread that makes it (the uploading
/// one, or the library's for Exporter::enqueue), possibly on several at once.
using HeaderCallback = std::function<bool(Headers &)>;

// ---------------------------------------------------------------------------------
// Implementation details (not part of the API)
// ---------------------------------------------------------------------------------
namespace detail {

inline std::string last_error() {
    const char *m = otlpmetric_last_error();
    return m ? std::string(m) : std::string();
}

inline Result check(const char *operation, otlpmetric_status st) {
    if (st == OTLPMETRIC_OK) return Result{};
    std::string message = last_error();
    if (message.empty()) message = "(no message)";
    return Result{static_cast<Status>(st), std::move(message), operation};
}

inline Result invalid(const char *operation, std::string message) {
    return Result{Status::InvalidArgument, std::move(message), operation};
}

// Milliseconds as the C API's uint32_t: negative is refused, too large is clamped.
inline bool to_ms(std::chrono::milliseconds t, std::uint32_t &out) noexcept {
    using Rep = std::chrono::milliseconds::rep;
    constexpr Rep limit = static_cast<Rep>(std::numeric_limits<std::uint32_t>::max());
    if (t.count() < 0) return false;
    out = t.count() > limit ? std::numeric_limits<std::uint32_t>::max() : static_cast<std::uint32_t>(t.count());
    return true;
}

// A NUL-terminated copy; false if `s` holds a NUL (the C side would cut it there).
inline bool c_string(std::string_view s, std::string &out) {
    if (s.find('\0') != std::string_view::npos) return false;
    out.assign(s.data(), s.size());
    return true;
}

inline otlpmetric_instrument_kind c_kind(InstrumentKind kind) noexcept {
    return static_cast<otlpmetric_instrument_kind>(static_cast<std::int32_t>(kind));
}

inline Aggregation from_c(const otlpmetric_aggregation &a) {
    Aggregation r;
    r.kind = static_cast<AggregationKind>(static_cast<std::int32_t>(a.kind));
    if (a.boundaries != nullptr && a.boundaries_len > 0) r.boundaries.assign(a.boundaries, a.boundaries + a.boundaries_len);
    r.record_min_max = a.record_min_max;
    r.max_size = a.max_size;
    r.max_scale = a.max_scale;
    return r;
}

inline Stats from_c(const otlpmetric_stats &s) noexcept {
    Stats r;
    r.requests_sent = s.requests_sent;
    r.requests_failed = s.requests_failed;
    r.retries = s.retries;
    r.bytes_sent = s.bytes_sent;
    r.data_points_rejected = s.data_points_rejected;
    r.queue_dropped = s.queue_dropped;
    r.queue_bytes = s.queue_bytes;
    return r;
}

// What the selector trampolines need while otlpmetric_exporter_new (or _meter_provider_new) runs. Owned by a
// Config on the heap, so its address survives moves of the Config.
struct SelectorState {
    TemporalitySelector temporality;
    AggregationSelector aggregation;
    std::exception_ptr thrown;                  // the first exception a selector threw
    std::list<std::vector<double>> boundaries;  // kept until otlpmetric_exporter_new returns
};

// Values the library refuses, returned when a C++ selector threw (or answered a value
// that does not fit the C enum): 0 is within the C enums' ranges and is no enumerator.
inline otlpmetric_temporality invalid_temporality() noexcept { return static_cast<otlpmetric_temporality>(0); }
inline otlpmetric_aggregation_kind invalid_aggregation_kind() noexcept {
    return static_cast<otlpmetric_aggregation_kind>(0);
}

inline otlpmetric_temporality temporality_trampoline(void *user_data, otlpmetric_instrument_kind kind) noexcept {
    auto *state = static_cast<SelectorState *>(user_data);
    if (state == nullptr || state->thrown || !state->temporality) return invalid_temporality();
    try {
        const auto t = static_cast<std::int32_t>(state->temporality(static_cast<InstrumentKind>(kind)));
        if (t == OTLPMETRIC_TEMPORALITY_DELTA || t == OTLPMETRIC_TEMPORALITY_CUMULATIVE)
            return static_cast<otlpmetric_temporality>(t);
        return invalid_temporality();
    } catch (...) {
        state->thrown = std::current_exception();
        return invalid_temporality();
    }
}

inline void aggregation_trampoline(void *user_data, otlpmetric_instrument_kind kind,
                                   otlpmetric_aggregation *out) noexcept {
    auto *state = static_cast<SelectorState *>(user_data);
    if (out == nullptr) return;
    if (state == nullptr || state->thrown || !state->aggregation) {
        out->kind = invalid_aggregation_kind();
        return;
    }
    try {
        Aggregation a = from_c(*out);
        state->aggregation(static_cast<InstrumentKind>(kind), a);
        const auto k = static_cast<std::int32_t>(a.kind);
        state->boundaries.push_back(std::move(a.boundaries));
        const std::vector<double> &kept = state->boundaries.back();
        out->kind = (k >= OTLPMETRIC_AGGREGATION_DROP && k <= OTLPMETRIC_AGGREGATION_BASE2_EXPONENTIAL_HISTOGRAM)
                        ? static_cast<otlpmetric_aggregation_kind>(k)
                        : invalid_aggregation_kind();
        out->boundaries = kept.empty() ? nullptr : kept.data();
        out->boundaries_len = kept.size();
        out->record_min_max = a.record_min_max;
        out->max_size = a.max_size;
        out->max_scale = a.max_scale;
    } catch (...) {
        state->thrown = std::current_exception();
        out->kind = invalid_aggregation_kind();
    }
}

inline void log_trampoline(void *user_data, otlpmetric_log_level level, const char *message) noexcept {
    const auto *callback = static_cast<const LogCallback *>(user_data);
    if (callback == nullptr || !*callback) return;
    try {
        (*callback)(static_cast<LogLevel>(static_cast<std::int32_t>(level)),
                    message != nullptr ? std::string_view(message) : std::string_view());
    } catch (...) {
        // An exception must not unwind into the library; the message is lost.
    }
}

inline std::int32_t header_trampoline(void *user_data, otlpmetric_headers *out) noexcept {
    const auto *callback = static_cast<const HeaderCallback *>(user_data);
    if (callback == nullptr || !*callback) return 0;
    try {
        Headers headers(out);
        return (*callback)(headers) ? 0 : 1;
    } catch (...) {
        return -1;  // an exception must not unwind into the library: the attempt fails
    }
}

struct ConfigDeleter {
    void operator()(otlpmetric_config *c) const noexcept { otlpmetric_config_free(c); }
};
struct ExporterDeleter {
    void operator()(otlpmetric_exporter *e) const noexcept { otlpmetric_exporter_free(e); }
};

}  // namespace detail

// ---------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------

/// One attribute: a key and a string, bool, integer or double value. It borrows its
/// key and string value (const char * or std::string; both must outlive the call it is
/// passed to, which an initializer list at the call does):
///   counter.add(1, {{"route", "/api"}, {"ok", true}, {"code", 200}, {"ratio", 0.5}});
/// A NULL or empty key, a NULL string value, a std::string holding a NUL byte, or an
/// unsigned integer above INT64_MAX makes the call fail with Status::InvalidArgument.
class Attribute {
public:
    /// A key: a NUL-terminated const char * or a std::string, borrowed.
    class Key {
    public:
        Key(const char *key) noexcept : key_(key), bad_(key == nullptr) {}  // NOLINT: implicit by design
        Key(const std::string &key) noexcept  // NOLINT: implicit by design
            : key_(key.c_str()), bad_(key.find('\0') != std::string::npos) {}

    private:
        friend class Attribute;
        const char *key_;
        bool bad_;
    };

    Attribute(Key key, const char *value) noexcept : Attribute(key, OTLPMETRIC_ATTRIBUTE_STRING) {
        c_.string_value = value;
        bad_ = bad_ || value == nullptr;
    }
    Attribute(Key key, const std::string &value) noexcept : Attribute(key, OTLPMETRIC_ATTRIBUTE_STRING) {
        c_.string_value = value.c_str();
        bad_ = bad_ || value.find('\0') != std::string::npos;
    }
    Attribute(Key key, bool value) noexcept : Attribute(key, OTLPMETRIC_ATTRIBUTE_BOOL) { c_.int_value = value ? 1 : 0; }
    Attribute(Key key, char value) = delete;  // a character is neither a string nor a number here
    template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                            !std::is_same_v<T, char>,
                                        int> = 0>
    Attribute(Key key, T value) noexcept : Attribute(key, OTLPMETRIC_ATTRIBUTE_INT) {
        if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
            bad_ = bad_ || value > static_cast<T>(std::numeric_limits<std::int64_t>::max());
        }
        c_.int_value = static_cast<std::int64_t>(value);
    }
    template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
    Attribute(Key key, T value) noexcept : Attribute(key, OTLPMETRIC_ATTRIBUTE_DOUBLE) {
        c_.double_value = static_cast<double>(value);
    }

    /// The C attribute (pointing at the borrowed strings).
    const otlpmetric_attribute &c_attribute() const noexcept { return c_; }
    /// False when the call it is passed to will refuse it (see above).
    bool valid() const noexcept { return !bad_; }

private:
    Attribute(Key key, otlpmetric_attribute_type type) noexcept : bad_(key.bad_) {
        c_.key = key.key_;
        c_.type = type;
    }

    otlpmetric_attribute c_{};
    bool bad_ = false;
};

/// A borrowed, read-only list of attributes: an initializer list at the call, or any
/// contiguous container of Attribute (std::vector, std::array) that outlives the call.
/// A parameter type: do not keep one in a variable (an initializer list's array is gone
/// at the end of the statement that made it).
class Attributes {
public:
    constexpr Attributes() noexcept = default;
// The list's array lives until the end of the full expression of the call, as long as
// this parameter type is used: Attributes is for parameters only (as absl::Span is).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
#endif
    Attributes(std::initializer_list<Attribute> list) noexcept : data_(list.begin()), size_(list.size()) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    Attributes(const Attribute *data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <class C, class = std::enable_if_t<std::is_same_v<
                           std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const C &>()))>>,
                           Attribute>>>
    Attributes(const C &container) noexcept  // NOLINT(google-explicit-constructor): a view
        : data_(std::data(container)), size_(std::size(container)) {}

    const Attribute *begin() const noexcept { return data_; }
    const Attribute *end() const noexcept { return data_ + size_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

private:
    const Attribute *data_ = nullptr;
    std::size_t size_ = 0;
};

namespace detail {

// Sets up to this many attributes are converted on the stack; larger ones on the heap.
inline constexpr std::size_t stack_attributes = 8;

// Calls f(const otlpmetric_attribute *, size_t) with `attrs` in C form, or returns
// Status::InvalidArgument (naming `operation`) without calling it when one is invalid.
template <class F>
Result with_c_attributes(const char *operation, Attributes attrs, F &&f) {
    for (std::size_t i = 0; i < attrs.size(); i++) {
        if (!attrs.begin()[i].valid())
            return invalid(operation, "attribute " + std::to_string(i) +
                                          " is invalid (NULL or empty key, NULL string, NUL byte in a std::string, "
                                          "or an unsigned integer above INT64_MAX)");
    }
    if (attrs.size() <= stack_attributes) {
        otlpmetric_attribute c[stack_attributes];
        for (std::size_t i = 0; i < attrs.size(); i++) c[i] = attrs.begin()[i].c_attribute();
        return check(operation, f(attrs.empty() ? nullptr : c, attrs.size()));
    }
    std::vector<otlpmetric_attribute> c;
    c.reserve(attrs.size());
    for (const Attribute &a : attrs) c.push_back(a.c_attribute());
    return check(operation, f(c.data(), c.size()));
}

}  // namespace detail

class Exporter;
class MeterProvider;

// ---------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------

/// An exporter configuration (otlpmetric_config): starts from the OTEL_EXPORTER_OTLP_*
/// environment, read when it is constructed; what is set in code wins. Setters return
/// *this and throw Error; the try_set_* forms return a Result. A refused value leaves
/// the configuration unchanged.
class Config {
public:
    /// otlpmetric_config_new(). Throws Error (Status::Internal) if it fails.
    Config()
        : selectors_(std::make_unique<detail::SelectorState>()),
          handle_(otlpmetric_config_new()) {
        if (!handle_) {
            std::string m = detail::last_error();
            throw Error(Status::Internal, m.empty() ? "otlpmetric_config_new returned NULL" : m,
                        "otlpmetric_config_new");
        }
    }

    Config(Config &&other) noexcept = default;
    Config &operator=(Config &&other) noexcept {
        if (this != &other) {
            handle_ = std::move(other.handle_);  // frees ours first: it points into our state
            log_ = std::move(other.log_);
            header_callback_ = std::move(other.header_callback_);
            selectors_ = std::move(other.selectors_);
        }
        return *this;
    }
    Config(const Config &) = delete;
    Config &operator=(const Config &) = delete;
    ~Config() = default;  // handle_ (declared last) goes first

    /// The C handle (NULL once moved from); still owned by this object.
    otlpmetric_config *handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /// Full URL, scheme included; for HTTP with the path (http://host:4318/v1/metrics).
    Config &set_endpoint(std::string_view url) { return done(try_set_endpoint(url)); }
    Result try_set_endpoint(std::string_view url) {
        std::string s;
        if (!detail::c_string(url, s)) return detail::invalid("otlpmetric_config_set_endpoint", "url contains a NUL byte");
        return detail::check("otlpmetric_config_set_endpoint", otlpmetric_config_set_endpoint(handle(), s.c_str()));
    }

    Config &set_protocol(Protocol protocol) { return done(try_set_protocol(protocol)); }
    Result try_set_protocol(Protocol protocol) {
        return detail::check("otlpmetric_config_set_protocol",
                             otlpmetric_config_set_protocol(
                                 handle(), static_cast<otlpmetric_protocol>(static_cast<std::int32_t>(protocol))));
    }

    /// A header sent with every request (replaces one of the same key). Never logged.
    Config &add_header(std::string_view key, std::string_view value) { return done(try_add_header(key, value)); }
    Result try_add_header(std::string_view key, std::string_view value) {
        std::string k, v;
        if (!detail::c_string(key, k) || !detail::c_string(value, v))
            return detail::invalid("otlpmetric_config_add_header", "header key or value contains a NUL byte");
        return detail::check("otlpmetric_config_add_header", otlpmetric_config_add_header(handle(), k.c_str(), v.c_str()));
    }

    /// The export timeout (default 10 s); no_limit (0) means none.
    Config &set_timeout(std::chrono::milliseconds timeout) { return done(try_set_timeout(timeout)); }
    Result try_set_timeout(std::chrono::milliseconds timeout) {
        std::uint32_t ms = 0;
        if (!detail::to_ms(timeout, ms)) return detail::invalid("otlpmetric_config_set_timeout_ms", "timeout is negative");
        return detail::check("otlpmetric_config_set_timeout_ms", otlpmetric_config_set_timeout_ms(handle(), ms));
    }

    Config &set_compression(Compression compression) { return done(try_set_compression(compression)); }
    Result try_set_compression(Compression compression) {
        return detail::check("otlpmetric_config_set_compression",
                             otlpmetric_config_set_compression(
                                 handle(), static_cast<otlpmetric_compression>(static_cast<std::int32_t>(compression))));
    }

    /// PEM files, read now; an empty string means "not given" (NULL in C). The client
    /// certificate and key go together.
    Config &set_tls(std::string_view ca_file, std::string_view client_cert_file = {},
                    std::string_view client_key_file = {}) {
        return done(try_set_tls(ca_file, client_cert_file, client_key_file));
    }
    Result try_set_tls(std::string_view ca_file, std::string_view client_cert_file = {},
                       std::string_view client_key_file = {}) {
        std::string ca, cert, key;
        if (!detail::c_string(ca_file, ca) || !detail::c_string(client_cert_file, cert) ||
            !detail::c_string(client_key_file, key))
            return detail::invalid("otlpmetric_config_set_tls", "a file name contains a NUL byte");
        auto c = [](const std::string &s) { return s.empty() ? nullptr : s.c_str(); };
        return detail::check("otlpmetric_config_set_tls", otlpmetric_config_set_tls(handle(), c(ca), c(cert), c(key)));
    }

    /// gRPC only: no transport security even for https:// endpoints.
    Config &set_insecure(bool insecure) { return done(try_set_insecure(insecure)); }
    Result try_set_insecure(bool insecure) {
        return detail::check("otlpmetric_config_set_insecure", otlpmetric_config_set_insecure(handle(), insecure));
    }

    /// An HTTP proxy for every endpoint (`http://user:password@host:port`), or "" for none,
    /// whatever HTTPS_PROXY / HTTP_PROXY / NO_PROXY say.
    Config &set_proxy(std::string_view url) { return done(try_set_proxy(url)); }
    Result try_set_proxy(std::string_view url) {
        std::string s;
        if (!detail::c_string(url, s)) return detail::invalid("otlpmetric_config_set_proxy", "url contains a NUL byte");
        return detail::check("otlpmetric_config_set_proxy", otlpmetric_config_set_proxy(handle(), s.c_str()));
    }
    /// Back to the default: the environment's proxy variables decide.
    Config &set_proxy_from_environment() {
        return done(detail::check("otlpmetric_config_set_proxy", otlpmetric_config_set_proxy(handle(), nullptr)));
    }

    /// Connects to this Unix domain socket ("" : TCP, the default); the endpoint still gives
    /// the scheme, Host and path.
    Config &set_unix_socket(std::string_view path) { return done(try_set_unix_socket(path)); }
    Result try_set_unix_socket(std::string_view path) {
        std::string s;
        if (!detail::c_string(path, s))
            return detail::invalid("otlpmetric_config_set_unix_socket", "path contains a NUL byte");
        return detail::check("otlpmetric_config_set_unix_socket",
                             otlpmetric_config_set_unix_socket(handle(), s.empty() ? nullptr : s.c_str()));
    }

    /// The retry policy (default: on, 5 s first wait, 30 s cap, 1 min in all).
    Config &set_retry(bool enabled, std::chrono::milliseconds initial = std::chrono::milliseconds(5000),
                      std::chrono::milliseconds max_interval = std::chrono::milliseconds(30000),
                      std::chrono::milliseconds max_elapsed = std::chrono::milliseconds(60000)) {
        return done(try_set_retry(enabled, initial, max_interval, max_elapsed));
    }
    Result try_set_retry(bool enabled, std::chrono::milliseconds initial = std::chrono::milliseconds(5000),
                         std::chrono::milliseconds max_interval = std::chrono::milliseconds(30000),
                         std::chrono::milliseconds max_elapsed = std::chrono::milliseconds(60000)) {
        std::uint32_t i = 0, m = 0, e = 0;
        if (!detail::to_ms(initial, i) || !detail::to_ms(max_interval, m) || !detail::to_ms(max_elapsed, e))
            return detail::invalid("otlpmetric_config_set_retry", "a retry interval is negative");
        return detail::check("otlpmetric_config_set_retry", otlpmetric_config_set_retry(handle(), enabled, i, m, e));
    }

    /// Chooses the temporality per instrument kind; called once per kind while an
    /// Exporter is created from this Config. An empty function restores the default.
    /// If it throws, the Exporter constructor rethrows the exception.
    Config &set_temporality_selector(TemporalitySelector selector) {
        return done(try_set_temporality_selector(std::move(selector)));
    }
    Result try_set_temporality_selector(TemporalitySelector selector) {
        const bool has = static_cast<bool>(selector);
        Result r = detail::check(
            "otlpmetric_config_set_temporality_selector",
            otlpmetric_config_set_temporality_selector(handle(), has ? &detail::temporality_trampoline : nullptr,
                                                       selectors_.get()));
        if (r.ok()) selectors_->temporality = std::move(selector);
        return r;
    }

    /// The temporality this Config gives `kind` when no selector says otherwise: the
    /// OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE read at construction, else
    /// cumulative. A temporality selector returns it for the kinds it leaves to the
    /// default (it may capture this Config). Throws Error.
    Temporality default_temporality(InstrumentKind kind) const {
        const otlpmetric_temporality t = otlpmetric_config_default_temporality(handle(), detail::c_kind(kind));
        const auto v = static_cast<std::int32_t>(t);
        if (v == 0)
            throw Error(Status::InvalidArgument, detail::last_error(), "otlpmetric_config_default_temporality");
        return static_cast<Temporality>(v);
    }

    /// Chooses the aggregation per instrument kind by changing the Aggregation, which
    /// arrives filled with the default; called once per kind while an Exporter is
    /// created. An empty function restores the default. If it throws, the Exporter
    /// constructor rethrows the exception.
    Config &set_aggregation_selector(AggregationSelector selector) {
        return done(try_set_aggregation_selector(std::move(selector)));
    }
    Result try_set_aggregation_selector(AggregationSelector selector) {
        const bool has = static_cast<bool>(selector);
        Result r = detail::check(
            "otlpmetric_config_set_aggregation_selector",
            otlpmetric_config_set_aggregation_selector(handle(), has ? &detail::aggregation_trampoline : nullptr,
                                                       selectors_.get()));
        if (r.ok()) selectors_->aggregation = std::move(selector);
        return r;
    }

    /// The library's diagnostics. May be called from the library's threads, at once
    /// from several, until every Exporter created with it is destroyed (each keeps its
    /// own reference); it must not call back into the same exporter. Exceptions it
    /// throws are swallowed. An empty function removes it.
    Config &set_log_callback(LogCallback callback) { return done(try_set_log_callback(std::move(callback))); }
    Result try_set_log_callback(LogCallback callback) {
        std::shared_ptr<const LogCallback> owned;
        if (callback) owned = std::make_shared<const LogCallback>(std::move(callback));
        Result r = detail::check(
            "otlpmetric_config_set_log_callback",
            otlpmetric_config_set_log_callback(handle(), owned ? &detail::log_trampoline : nullptr,
                                               const_cast<LogCallback *>(owned.get())));
        if (r.ok()) log_ = std::move(owned);
        return r;
    }

    /// Adds headers to each attempt (an empty function removes it), e.g. a token that
    /// changes; see HeaderCallback. Each Exporter co-owns the callback it was created with.
    Config &set_header_callback(HeaderCallback callback) {
        return done(try_set_header_callback(std::move(callback)));
    }
    Result try_set_header_callback(HeaderCallback callback) {
        std::shared_ptr<const HeaderCallback> owned;
        if (callback) owned = std::make_shared<const HeaderCallback>(std::move(callback));
        Result r = detail::check(
            "otlpmetric_config_set_header_callback",
            otlpmetric_config_set_header_callback(handle(), owned ? &detail::header_trampoline : nullptr,
                                                  const_cast<HeaderCallback *>(owned.get())));
        if (r.ok()) header_callback_ = std::move(owned);
        return r;
    }

    /// The largest request in protobuf bytes (default 4 MiB, at least 256); larger
    /// uploads are split.
    Config &set_max_request_bytes(std::size_t max_bytes) { return done(try_set_max_request_bytes(max_bytes)); }
    Result try_set_max_request_bytes(std::size_t max_bytes) {
        return detail::check("otlpmetric_config_set_max_request_bytes",
                             otlpmetric_config_set_max_request_bytes(handle(), max_bytes));
    }

    /// The largest response body read into memory (default 4 MiB, above 0); a larger
    /// answer fails that attempt.
    Config &set_max_response_bytes(std::size_t max_bytes) { return done(try_set_max_response_bytes(max_bytes)); }
    Result try_set_max_response_bytes(std::size_t max_bytes) {
        return detail::check("otlpmetric_config_set_max_response_bytes",
                             otlpmetric_config_set_max_response_bytes(handle(), max_bytes));
    }

    /// The byte bound of the asynchronous queue used by Exporter::enqueue (default 16 MiB).
    Config &set_queue(std::size_t max_bytes) { return done(try_set_queue(max_bytes)); }
    Result try_set_queue(std::size_t max_bytes) {
        return detail::check("otlpmetric_config_set_queue", otlpmetric_config_set_queue(handle(), max_bytes));
    }

    /// The meter provider's resource attributes (copied), replacing any set before; they
    /// win over OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.
    Config &set_resource(Attributes attributes) { return done(try_set_resource(attributes)); }
    Result try_set_resource(Attributes attributes) {
        otlpmetric_config *c = handle();
        return detail::with_c_attributes("otlpmetric_config_set_resource", attributes,
                                         [c](const otlpmetric_attribute *a, std::size_t n) {
                                             return otlpmetric_config_set_resource(c, a, n);
                                         });
    }

    /// How often a MeterProvider's own thread collects and exports (default
    /// OTEL_METRIC_EXPORT_INTERVAL, else 60 s); 0: no thread, collect() or force_flush()
    /// only.
    Config &set_export_interval(std::chrono::milliseconds interval) { return done(try_set_export_interval(interval)); }
    Result try_set_export_interval(std::chrono::milliseconds interval) {
        std::uint32_t ms = 0;
        if (!detail::to_ms(interval, ms))
            return detail::invalid("otlpmetric_config_set_export_interval_ms", "interval is negative");
        return detail::check("otlpmetric_config_set_export_interval_ms",
                             otlpmetric_config_set_export_interval_ms(handle(), ms));
    }

    /// The most attribute sets each instrument of a MeterProvider keeps (default 2000, at
    /// least 1); further sets go to one series with otel.metric.overflow = true.
    Config &set_cardinality_limit(std::uint32_t series_per_instrument) {
        return done(try_set_cardinality_limit(series_per_instrument));
    }
    Result try_set_cardinality_limit(std::uint32_t series_per_instrument) {
        return detail::check("otlpmetric_config_set_cardinality_limit",
                             otlpmetric_config_set_cardinality_limit(handle(), series_per_instrument));
    }

    /// Whether a MeterProvider records its exporter's own metrics (otel.sdk.exporter.*) and
    /// exports them with the rest (default: off, or OTLPMETRIC_EXPORTER_METRICS=true).
    Config &set_exporter_metrics(bool enabled) { return done(try_set_exporter_metrics(enabled)); }
    Result try_set_exporter_metrics(bool enabled) {
        return detail::check("otlpmetric_config_set_exporter_metrics",
                             otlpmetric_config_set_exporter_metrics(handle(), enabled));
    }

private:
    friend class Exporter;
    friend class MeterProvider;

    Config &done(const Result &r) {
        r.throw_if_error();
        return *this;
    }

    // Declaration order matters: handle_ is destroyed first, as it points at the others.
    std::unique_ptr<detail::SelectorState> selectors_;
    std::shared_ptr<const LogCallback> log_;
    std::shared_ptr<const HeaderCallback> header_callback_;
    std::unique_ptr<otlpmetric_config, detail::ConfigDeleter> handle_;
};

// ---------------------------------------------------------------------------------
// Exporter
// ---------------------------------------------------------------------------------

/// A cancellation handle (otlpmetric_cancel), move-only. trigger() makes the calls that
/// use it fail with Status::Cancelled promptly, now and later; it may be called from any
/// thread, any number of times, and from a signal handler (async-signal-safe). Destroy
/// it only once no call uses it.
class Cancel {
public:
    /// otlpmetric_cancel_new(). Throws Error (when the process has no file descriptor left).
    Cancel() { try_create(*this).throw_if_error(); }
    /// Holds nothing, like a moved-from Cancel: a call given it cannot be cancelled.
    explicit Cancel(std::nullptr_t) noexcept {}

    /// As the constructor, without throwing; `out` is replaced on success only.
    static Result try_create(Cancel &out) {
        otlpmetric_cancel *raw = nullptr;
        Result r = detail::check("otlpmetric_cancel_new", otlpmetric_cancel_new(&raw));
        if (r.ok()) out.handle_.reset(raw);
        return r;
    }
    Cancel(Cancel &&) noexcept = default;
    Cancel &operator=(Cancel &&) noexcept = default;
    Cancel(const Cancel &) = delete;
    Cancel &operator=(const Cancel &) = delete;
    ~Cancel() = default;

    /// Triggers the handle; a moved-from Cancel does nothing.
    void trigger() const noexcept { otlpmetric_cancel_trigger(handle_.get()); }

    /// The C handle (NULL when moved from); still owned by this object.
    const otlpmetric_cancel *handle() const noexcept { return handle_.get(); }

private:
    struct Deleter {
        void operator()(otlpmetric_cancel *c) const noexcept { otlpmetric_cancel_free(c); }
    };
    std::unique_ptr<otlpmetric_cancel, Deleter> handle_;
};

/// An OTLP metrics exporter (otlpmetric_exporter). Its methods may be called from any
/// number of threads at once. Destroying it shuts it down first if needed (within the
/// configured export timeout) and blocks until then.
class Exporter {
public:
    /// An empty exporter (like a moved-from one): every call fails with InvalidArgument.
    Exporter() noexcept = default;

    /// otlpmetric_exporter_new(). Throws Error, or rethrows what a selector threw.
    explicit Exporter(const Config &config) {
        std::exception_ptr thrown;
        Result r = create(config, *this, thrown);
        if (thrown) std::rethrow_exception(thrown);
        r.throw_if_error();
    }

    /// As the constructor, without throwing: a selector's exception becomes
    /// Status::InvalidArgument with its what() in the message. `out` is replaced on
    /// success and left alone on failure.
    static Result try_create(const Config &config, Exporter &out) {
        std::exception_ptr thrown;
        Exporter created;
        Result r = create(config, created, thrown);
        if (thrown) {
            std::string what = "unknown exception";
            try {
                std::rethrow_exception(thrown);
            } catch (const std::exception &e) {
                what = e.what();
            } catch (...) {
            }
            return detail::invalid("otlpmetric_exporter_new", "a selector threw: " + what);
        }
        if (r.ok()) out = std::move(created);
        return r;
    }

    Exporter(Exporter &&other) noexcept = default;
    Exporter &operator=(Exporter &&other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::move(other.handle_);
            log_ = std::move(other.log_);
            header_callback_ = std::move(other.header_callback_);
        }
        return *this;
    }
    Exporter(const Exporter &) = delete;
    Exporter &operator=(const Exporter &) = delete;
    ~Exporter() { reset(); }

    /// Frees the exporter now (shutting it down first if needed); leaves it empty.
    void reset() noexcept {
        handle_.reset();  // the library may log until otlpmetric_exporter_free returns
        log_.reset();
        header_callback_.reset();
    }

    /// The C handle (NULL when empty); still owned by this object.
    otlpmetric_exporter *handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /// Uploads one serialized opentelemetry.proto.metrics.v1.ResourceMetrics and waits
    /// until the receiver took it, refused it for good, or `timeout` ran out.
    void upload(ByteView resource_metrics, std::chrono::milliseconds timeout = configured_timeout) {
        try_upload(resource_metrics, timeout).throw_if_error();
    }
    void upload(const void *data, std::size_t size, std::chrono::milliseconds timeout = configured_timeout) {
        try_upload(ByteView(data, size), timeout).throw_if_error();
    }
    Result try_upload(ByteView resource_metrics, std::chrono::milliseconds timeout = configured_timeout) {
        std::uint32_t ms = 0;
        if (!detail::to_ms(timeout, ms)) return detail::invalid("otlpmetric_exporter_upload", "timeout is negative");
        return detail::check("otlpmetric_exporter_upload",
                             otlpmetric_exporter_upload(handle(), resource_metrics.data(), resource_metrics.size(), ms));
    }
    Result try_upload(const void *data, std::size_t size, std::chrono::milliseconds timeout = configured_timeout) {
        return try_upload(ByteView(data, size), timeout);
    }

    /// As upload(), and Status::Cancelled as soon as `cancel` is triggered (at once when
    /// it was triggered before the call).
    void upload(ByteView resource_metrics, const Cancel &cancel,
                std::chrono::milliseconds timeout = configured_timeout) {
        try_upload(resource_metrics, cancel, timeout).throw_if_error();
    }
    Result try_upload(ByteView resource_metrics, const Cancel &cancel,
                      std::chrono::milliseconds timeout = configured_timeout) {
        std::uint32_t ms = 0;
        if (!detail::to_ms(timeout, ms))
            return detail::invalid("otlpmetric_exporter_upload_cancellable", "timeout is negative");
        return detail::check("otlpmetric_exporter_upload_cancellable",
                             otlpmetric_exporter_upload_cancellable(handle(), resource_metrics.data(),
                                                                    resource_metrics.size(), ms, cancel.handle()));
    }
#if __cplusplus >= 202002L
    /// As upload(), and Status::Cancelled once a stop is requested through `stop`.
    void upload(ByteView resource_metrics, std::stop_token stop,
                std::chrono::milliseconds timeout = configured_timeout) {
        try_upload(resource_metrics, std::move(stop), timeout).throw_if_error();
    }
    Result try_upload(ByteView resource_metrics, std::stop_token stop,
                      std::chrono::milliseconds timeout = configured_timeout) {
        if (!stop.stop_possible()) return try_upload(resource_metrics, timeout);
        Cancel cancel(nullptr);
        if (Result r = Cancel::try_create(cancel); !r) return r;
        std::stop_callback on_stop(stop, [&cancel] { cancel.trigger(); });
        return try_upload(resource_metrics, cancel, timeout);
    }
#endif

    /// As upload(), for one serialized
    /// opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest.
    void upload_request(ByteView request, std::chrono::milliseconds timeout = configured_timeout) {
        try_upload_request(request, timeout).throw_if_error();
    }
    void upload_request(const void *data, std::size_t size, std::chrono::milliseconds timeout = configured_timeout) {
        try_upload_request(ByteView(data, size), timeout).throw_if_error();
    }
    Result try_upload_request(ByteView request, std::chrono::milliseconds timeout = configured_timeout) {
        std::uint32_t ms = 0;
        if (!detail::to_ms(timeout, ms))
            return detail::invalid("otlpmetric_exporter_upload_request", "timeout is negative");
        return detail::check("otlpmetric_exporter_upload_request",
                             otlpmetric_exporter_upload_request(handle(), request.data(), request.size(), ms));
    }
    Result try_upload_request(const void *data, std::size_t size,
                              std::chrono::milliseconds timeout = configured_timeout) {
        return try_upload_request(ByteView(data, size), timeout);
    }

    /// As upload_request(), for an ExportMetricsServiceRequest in OTLP/JSON.
    void upload_json(std::string_view json, std::chrono::milliseconds timeout = configured_timeout) {
        try_upload_json(json, timeout).throw_if_error();
    }
    Result try_upload_json(std::string_view json, std::chrono::milliseconds timeout = configured_timeout) {
        std::uint32_t ms = 0;
        if (!detail::to_ms(timeout, ms)) return detail::invalid("otlpmetric_exporter_upload_json", "timeout is negative");
        return detail::check("otlpmetric_exporter_upload_json",
                             otlpmetric_exporter_upload_json(handle(), json.empty() ? "" : json.data(), json.size(), ms));
    }

    /// Checks one serialized ResourceMetrics, copies it into the bounded queue and
    /// returns at once (Status::QueueFull when it would overflow).
    void enqueue(ByteView resource_metrics) { try_enqueue(resource_metrics).throw_if_error(); }
    void enqueue(const void *data, std::size_t size) { try_enqueue(ByteView(data, size)).throw_if_error(); }
    Result try_enqueue(ByteView resource_metrics) {
        return detail::check("otlpmetric_exporter_enqueue",
                             otlpmetric_exporter_enqueue(handle(), resource_metrics.data(), resource_metrics.size()));
    }
    Result try_enqueue(const void *data, std::size_t size) { return try_enqueue(ByteView(data, size)); }

    /// Waits until every upload and enqueue made before it has finished.
    void force_flush(std::chrono::milliseconds timeout = configured_timeout) {
        try_force_flush(timeout).throw_if_error();
    }
    Result try_force_flush(std::chrono::milliseconds timeout = configured_timeout) {
        std::uint32_t ms = 0;
        if (!detail::to_ms(timeout, ms)) return detail::invalid("otlpmetric_exporter_force_flush", "timeout is negative");
        return detail::check("otlpmetric_exporter_force_flush", otlpmetric_exporter_force_flush(handle(), ms));
    }

    /// As force_flush(), and Status::Cancelled as soon as `cancel` is triggered; the
    /// uploads it waited for go on.
    void force_flush(const Cancel &cancel, std::chrono::milliseconds timeout = configured_timeout) {
        try_force_flush(cancel, timeout).throw_if_error();
    }
    Result try_force_flush(const Cancel &cancel, std::chrono::milliseconds timeout = configured_timeout) {
        std::uint32_t ms = 0;
        if (!detail::to_ms(timeout, ms))
            return detail::invalid("otlpmetric_exporter_force_flush_cancellable", "timeout is negative");
        return detail::check("otlpmetric_exporter_force_flush_cancellable",
                             otlpmetric_exporter_force_flush_cancellable(handle(), ms, cancel.handle()));
    }
#if __cplusplus >= 202002L
    /// As force_flush(), and Status::Cancelled once a stop is requested through `stop`.
    void force_flush(std::stop_token stop, std::chrono::milliseconds timeout = configured_timeout) {
        try_force_flush(std::move(stop), timeout).throw_if_error();
    }
    Result try_force_flush(std::stop_token stop, std::chrono::milliseconds timeout = configured_timeout) {
        if (!stop.stop_possible()) return try_force_flush(timeout);
        Cancel cancel(nullptr);
        if (Result r = Cancel::try_create(cancel); !r) return r;
        std::stop_callback on_stop(stop, [&cancel] { cancel.trigger(); });
        return try_force_flush(cancel, timeout);
    }
#endif

    /// Flushes, closes connections, stops the threads. Acts once: later uploads,
    /// flushes and shutdowns fail with Status::Shutdown.
    void shutdown(std::chrono::milliseconds timeout = configured_timeout) { try_shutdown(timeout).throw_if_error(); }
    Result try_shutdown(std::chrono::milliseconds timeout = configured_timeout) {
        std::uint32_t ms = 0;
        if (!detail::to_ms(timeout, ms)) return detail::invalid("otlpmetric_exporter_shutdown", "timeout is negative");
        return detail::check("otlpmetric_exporter_shutdown", otlpmetric_exporter_shutdown(handle(), ms));
    }

    /// The temporality used for `kind` (also after shutdown). Throws Error.
    Temporality temporality(InstrumentKind kind) const {
        const otlpmetric_temporality t = otlpmetric_exporter_temporality(handle(), detail::c_kind(kind));
        const auto v = static_cast<std::int32_t>(t);
        if (v == 0) throw Error(Status::InvalidArgument, detail::last_error(), "otlpmetric_exporter_temporality");
        return static_cast<Temporality>(v);
    }

    /// The aggregation used for `kind` (also after shutdown). Throws Error.
    Aggregation aggregation(InstrumentKind kind) const {
        otlpmetric_aggregation a{};
        detail::check("otlpmetric_exporter_aggregation", otlpmetric_exporter_aggregation(handle(), detail::c_kind(kind), &a))
            .throw_if_error();
        return detail::from_c(a);
    }

    /// Export statistics (also after shutdown). Throws Error.
    Stats stats() const {
        otlpmetric_stats s{};
        detail::check("otlpmetric_exporter_stats", otlpmetric_exporter_stats(handle(), &s)).throw_if_error();
        return detail::from_c(s);
    }

private:
    static Result create(const Config &config, Exporter &out, std::exception_ptr &thrown) {
        detail::SelectorState *state = config.selectors_.get();
        if (state != nullptr) {
            state->thrown = nullptr;
            state->boundaries.clear();
        }
        otlpmetric_exporter *raw = nullptr;
        const otlpmetric_status st = otlpmetric_exporter_new(config.handle(), &raw);
        Result r = detail::check("otlpmetric_exporter_new", st);
        std::unique_ptr<otlpmetric_exporter, detail::ExporterDeleter> created(st == OTLPMETRIC_OK ? raw : nullptr);
        if (state != nullptr) {
            thrown = std::exchange(state->thrown, nullptr);
            state->boundaries.clear();
        }
        if (thrown || !r.ok()) return r;  // `created` (if any) is freed while config.log_ lives
        if (!created) return Result{Status::Internal, "otlpmetric_exporter_new returned no exporter", "otlpmetric_exporter_new"};
        out.reset();
        out.log_ = config.log_;  // before the handle: the exporter may log at any time
        out.header_callback_ = config.header_callback_;
        out.handle_ = std::move(created);
        return r;
    }

    // Declaration order matters: handle_ is destroyed first (the library may call the
    // log callback until otlpmetric_exporter_free returns).
    std::shared_ptr<const LogCallback> log_;
    std::shared_ptr<const HeaderCallback> header_callback_;
    std::unique_ptr<otlpmetric_exporter, detail::ExporterDeleter> handle_;
};

// ---------------------------------------------------------------------------------
// Meter provider
// ---------------------------------------------------------------------------------
//
//   otlpmetric::Config cfg;
//   cfg.set_endpoint("http://collector:4318/v1/metrics").set_export_interval(std::chrono::seconds(10));
//   otlpmetric::MeterProvider provider(cfg);
//   otlpmetric::Meter meter = provider.meter("my.library", "1.2.0");
//   auto requests = meter.counter<std::int64_t>("http.server.requests", "{request}");
//   requests.add(1, {{"route", "/api"}, {"ok", true}, {"code", 200}});
//   auto latency = meter.histogram<double>("http.server.duration", "s");
//   auto api = latency.bind({{"route", "/api"}});      // no attribute work per record
//   api.record(0.012);
//   auto queue = meter.observable_gauge<std::int64_t>("queue.length", [&](auto &observer) {
//       observer.observe(queue_length(), {{"queue", "main"}});
//   });
//
// Lifetimes: the MeterProvider owns everything; Meter, the instruments and Observer are
// non-owning handles, valid while their provider lives (also after it is moved: moving a
// provider keeps them valid). A BoundInstrument owns its binding and must be destroyed (or
// reset()) before its provider. Default-constructed handles hold nothing: every call on
// them fails with Status::InvalidArgument.
//
// Kinds: Counter and UpDownCounter have add(), Histogram and Gauge record(); the other
// call does not compile. The number type is std::int64_t or double.
//
// Observe callbacks are std::function, kept alive by the provider; they run during
// collection (on the provider's thread, or in collect / force_flush / shutdown), one at
// a time, and may only observe through the Observer they are given. An exception one
// throws is caught (observations made before it stand) and counted in
// MeterProvider::callback_exceptions().

namespace detail {

template <class T>
struct Number;

template <>
struct Number<std::int64_t> {
    static constexpr otlpmetric_number_type type = OTLPMETRIC_NUMBER_INT64;
    static otlpmetric_status add(otlpmetric_instrument *i, std::int64_t v, const otlpmetric_attribute *a,
                                 std::size_t n) noexcept {
        return otlpmetric_instrument_add_i64(i, v, a, n);
    }
    static otlpmetric_status record(otlpmetric_instrument *i, std::int64_t v, const otlpmetric_attribute *a,
                                    std::size_t n) noexcept {
        return otlpmetric_instrument_record_i64(i, v, a, n);
    }
    static otlpmetric_status bound_add(otlpmetric_bound_instrument *b, std::int64_t v) noexcept {
        return otlpmetric_bound_add_i64(b, v);
    }
    static otlpmetric_status bound_record(otlpmetric_bound_instrument *b, std::int64_t v) noexcept {
        return otlpmetric_bound_record_i64(b, v);
    }
    static otlpmetric_status observe(otlpmetric_observer *o, std::int64_t v, const otlpmetric_attribute *a,
                                     std::size_t n) noexcept {
        return otlpmetric_observer_observe_i64(o, v, a, n);
    }
    static constexpr const char *add_name = "otlpmetric_instrument_add_i64";
    static constexpr const char *record_name = "otlpmetric_instrument_record_i64";
    static constexpr const char *bound_add_name = "otlpmetric_bound_add_i64";
    static constexpr const char *bound_record_name = "otlpmetric_bound_record_i64";
    static constexpr const char *observe_name = "otlpmetric_observer_observe_i64";
};

template <>
struct Number<double> {
    static constexpr otlpmetric_number_type type = OTLPMETRIC_NUMBER_DOUBLE;
    static otlpmetric_status add(otlpmetric_instrument *i, double v, const otlpmetric_attribute *a,
                                 std::size_t n) noexcept {
        return otlpmetric_instrument_add_f64(i, v, a, n);
    }
    static otlpmetric_status record(otlpmetric_instrument *i, double v, const otlpmetric_attribute *a,
                                    std::size_t n) noexcept {
        return otlpmetric_instrument_record_f64(i, v, a, n);
    }
    static otlpmetric_status bound_add(otlpmetric_bound_instrument *b, double v) noexcept {
        return otlpmetric_bound_add_f64(b, v);
    }
    static otlpmetric_status bound_record(otlpmetric_bound_instrument *b, double v) noexcept {
        return otlpmetric_bound_record_f64(b, v);
    }
    static otlpmetric_status observe(otlpmetric_observer *o, double v, const otlpmetric_attribute *a,
                                     std::size_t n) noexcept {
        return otlpmetric_observer_observe_f64(o, v, a, n);
    }
    static constexpr const char *add_name = "otlpmetric_instrument_add_f64";
    static constexpr const char *record_name = "otlpmetric_instrument_record_f64";
    static constexpr const char *bound_add_name = "otlpmetric_bound_add_f64";
    static constexpr const char *bound_record_name = "otlpmetric_bound_record_f64";
    static constexpr const char *observe_name = "otlpmetric_observer_observe_f64";
};

template <class T>
inline constexpr bool is_number_v = std::is_same_v<T, std::int64_t> || std::is_same_v<T, double>;

constexpr bool adds(InstrumentKind kind) noexcept {
    return kind == InstrumentKind::Counter || kind == InstrumentKind::UpDownCounter;
}
constexpr bool records(InstrumentKind kind) noexcept {
    return kind == InstrumentKind::Histogram || kind == InstrumentKind::Gauge;
}
constexpr bool observes(InstrumentKind kind) noexcept {
    return kind == InstrumentKind::ObservableCounter || kind == InstrumentKind::ObservableUpDownCounter ||
           kind == InstrumentKind::ObservableGauge;
}

// The observe callbacks of one provider, on the heap so that moving the provider keeps
// the user_data pointers the library holds valid.
struct ObserveState {
    struct Callback {
        ObserveState *owner;
        std::function<void(otlpmetric_observer *)> function;
    };
    std::mutex mutex;                // registration may happen on several threads
    std::list<Callback> callbacks;   // std::list: addresses stay put
    std::atomic<std::uint64_t> exceptions{0};
};

inline void observe_trampoline(void *user_data, otlpmetric_observer *observer) noexcept {
    auto *callback = static_cast<ObserveState::Callback *>(user_data);
    if (callback == nullptr || !callback->function) return;
    try {
        callback->function(observer);
    } catch (...) {
        // An exception must not unwind into the library: counted, and the collection goes on.
        callback->owner->exceptions.fetch_add(1, std::memory_order_relaxed);
    }
}

struct MeterProviderDeleter {
    void operator()(otlpmetric_meter_provider *p) const noexcept { otlpmetric_meter_provider_free(p); }
};
struct BoundDeleter {
    void operator()(otlpmetric_bound_instrument *b) const noexcept { otlpmetric_bound_free(b); }
};

}  // namespace detail

/// What an observe callback observes through; valid only during that call.
template <class T>
class Observer {
    static_assert(detail::is_number_v<T>, "an Observer observes std::int64_t or double");

public:
    explicit Observer(otlpmetric_observer *observer) noexcept : observer_(observer) {}

    /// Observes `value` for the attribute set. Observations of one set in one
    /// collection add up for counters; the last one counts for gauges.
    void observe(T value, Attributes attributes = {}) { try_observe(value, attributes).throw_if_error(); }
    Result try_observe(T value, Attributes attributes = {}) {
        otlpmetric_observer *o = observer_;
        return detail::with_c_attributes(detail::Number<T>::observe_name, attributes,
                                         [o, value](const otlpmetric_attribute *a, std::size_t n) {
                                             return detail::Number<T>::observe(o, value, a, n);
                                         });
    }

private:
    otlpmetric_observer *observer_;
};

/// An instrument bound to one attribute set (otlpmetric_bound_instrument): move-only,
/// owns the binding; add()/record() do no attribute work. Destroy it (or reset() it)
/// before its MeterProvider. A moved-from one holds nothing.
template <InstrumentKind Kind, class T>
class BoundInstrument {
public:
    BoundInstrument() noexcept = default;
    BoundInstrument(BoundInstrument &&) noexcept = default;
    BoundInstrument &operator=(BoundInstrument &&) noexcept = default;
    BoundInstrument(const BoundInstrument &) = delete;
    BoundInstrument &operator=(const BoundInstrument &) = delete;
    ~BoundInstrument() = default;

    /// Frees the binding now; leaves this empty.
    void reset() noexcept { handle_.reset(); }
    otlpmetric_bound_instrument *handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    template <InstrumentKind K = Kind, std::enable_if_t<detail::adds(K), int> = 0>
    void add(T value) {
        try_add(value).throw_if_error();
    }
    template <InstrumentKind K = Kind, std::enable_if_t<detail::adds(K), int> = 0>
    Result try_add(T value) {
        return detail::check(detail::Number<T>::bound_add_name, detail::Number<T>::bound_add(handle(), value));
    }
    template <InstrumentKind K = Kind, std::enable_if_t<detail::records(K), int> = 0>
    void record(T value) {
        try_record(value).throw_if_error();
    }
    template <InstrumentKind K = Kind, std::enable_if_t<detail::records(K), int> = 0>
    Result try_record(T value) {
        return detail::check(detail::Number<T>::bound_record_name, detail::Number<T>::bound_record(handle(), value));
    }

private:
    template <InstrumentKind, class>
    friend class Instrument;
    std::unique_ptr<otlpmetric_bound_instrument, detail::BoundDeleter> handle_;
};

/// A synchronous instrument (otlpmetric_instrument): a non-owning handle, cheap to copy,
/// valid while its MeterProvider lives. Use the aliases Counter<T>, UpDownCounter<T>,
/// Histogram<T> and Gauge<T>, T being std::int64_t or double. Any thread may record.
template <InstrumentKind Kind, class T>
class Instrument {
    static_assert(detail::is_number_v<T>, "instruments record std::int64_t or double");
    static_assert(detail::adds(Kind) || detail::records(Kind), "observable instruments are ObservableInstrument");

public:
    using value_type = T;
    static constexpr InstrumentKind kind = Kind;

    Instrument() noexcept = default;
    otlpmetric_instrument *handle() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /// Counter, UpDownCounter: adds `value` for the attribute set. A negative add on a
    /// Counter, NaN and infinities are not recorded (no error; the log callback warns).
    template <InstrumentKind K = Kind, std::enable_if_t<detail::adds(K), int> = 0>
    void add(T value, Attributes attributes = {}) {
        try_add(value, attributes).throw_if_error();
    }
    template <InstrumentKind K = Kind, std::enable_if_t<detail::adds(K), int> = 0>
    Result try_add(T value, Attributes attributes = {}) {
        otlpmetric_instrument *i = handle_;
        return detail::with_c_attributes(detail::Number<T>::add_name, attributes,
                                         [i, value](const otlpmetric_attribute *a, std::size_t n) {
                                             return detail::Number<T>::add(i, value, a, n);
                                         });
    }

    /// Histogram, Gauge: records `value` for the attribute set.
    template <InstrumentKind K = Kind, std::enable_if_t<detail::records(K), int> = 0>
    void record(T value, Attributes attributes = {}) {
        try_record(value, attributes).throw_if_error();
    }
    template <InstrumentKind K = Kind, std::enable_if_t<detail::records(K), int> = 0>
    Result try_record(T value, Attributes attributes = {}) {
        otlpmetric_instrument *i = handle_;
        return detail::with_c_attributes(detail::Number<T>::record_name, attributes,
                                         [i, value](const otlpmetric_attribute *a, std::size_t n) {
                                             return detail::Number<T>::record(i, value, a, n);
                                         });
    }

    /// Binds the attribute set (copied): see BoundInstrument.
    BoundInstrument<Kind, T> bind(Attributes attributes) const {
        BoundInstrument<Kind, T> bound;
        try_bind(attributes, bound).throw_if_error();
        return bound;
    }
    /// As bind(); `out` is replaced on success only.
    Result try_bind(Attributes attributes, BoundInstrument<Kind, T> &out) const {
        otlpmetric_instrument *i = handle_;
        otlpmetric_bound_instrument *raw = nullptr;
        Result r = detail::with_c_attributes("otlpmetric_instrument_bind", attributes,
                                             [i, &raw](const otlpmetric_attribute *a, std::size_t n) {
                                                 return otlpmetric_instrument_bind(i, a, n, &raw);
                                             });
        if (r.ok()) out.handle_.reset(raw);
        return r;
    }

private:
    friend class Meter;
    explicit Instrument(otlpmetric_instrument *handle) noexcept : handle_(handle) {}
    otlpmetric_instrument *handle_ = nullptr;
};

template <class T>
using Counter = Instrument<InstrumentKind::Counter, T>;
template <class T>
using UpDownCounter = Instrument<InstrumentKind::UpDownCounter, T>;
template <class T>
using Histogram = Instrument<InstrumentKind::Histogram, T>;
template <class T>
using Gauge = Instrument<InstrumentKind::Gauge, T>;
template <class T>
using BoundCounter = BoundInstrument<InstrumentKind::Counter, T>;
template <class T>
using BoundUpDownCounter = BoundInstrument<InstrumentKind::UpDownCounter, T>;
template <class T>
using BoundHistogram = BoundInstrument<InstrumentKind::Histogram, T>;
template <class T>
using BoundGauge = BoundInstrument<InstrumentKind::Gauge, T>;

/// An observable instrument: a non-owning handle (it records nothing itself; its
/// callback observes at each collection), valid while its MeterProvider lives.
template <InstrumentKind Kind, class T>
class ObservableInstrument {
    static_assert(detail::is_number_v<T>, "instruments observe std::int64_t or double");
    static_assert(detail::observes(Kind), "synchronous instruments are Instrument");

public:
    using value_type = T;
    using Callback = std::function<void(Observer<T> &)>;
    static constexpr InstrumentKind kind = Kind;

    ObservableInstrument() noexcept = default;
    otlpmetric_instrument *handle() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

private:
    friend class Meter;
    explicit ObservableInstrument(otlpmetric_instrument *handle) noexcept : handle_(handle) {}
    otlpmetric_instrument *handle_ = nullptr;
};

template <class T>
using ObservableCounter = ObservableInstrument<InstrumentKind::ObservableCounter, T>;
template <class T>
using ObservableUpDownCounter = ObservableInstrument<InstrumentKind::ObservableUpDownCounter, T>;
template <class T>
using ObservableGauge = ObservableInstrument<InstrumentKind::ObservableGauge, T>;

/// One instrumentation scope (otlpmetric_meter): a non-owning handle, cheap to copy,
/// valid while its MeterProvider lives; any thread may use it. Asking again for an
/// instrument with the same name (case-insensitive), kind, number type, unit and
/// description gives the same instrument. A name must match
/// [A-Za-z][A-Za-z0-9_.\-/]{0,254}, a unit be at most 63 ASCII characters; an empty
/// unit or description means none. Throws Error; the try_* forms return a Result and
/// replace `out` on success only.
class Meter {
public:
    Meter() noexcept = default;
    otlpmetric_meter *handle() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    template <class T>
    Counter<T> counter(std::string_view name, std::string_view unit = {}, std::string_view description = {}) {
        return instrument<InstrumentKind::Counter, T>(name, unit, description);
    }
    template <class T>
    UpDownCounter<T> up_down_counter(std::string_view name, std::string_view unit = {},
                                     std::string_view description = {}) {
        return instrument<InstrumentKind::UpDownCounter, T>(name, unit, description);
    }
    template <class T>
    Histogram<T> histogram(std::string_view name, std::string_view unit = {}, std::string_view description = {}) {
        return instrument<InstrumentKind::Histogram, T>(name, unit, description);
    }
    template <class T>
    Gauge<T> gauge(std::string_view name, std::string_view unit = {}, std::string_view description = {}) {
        return instrument<InstrumentKind::Gauge, T>(name, unit, description);
    }
    template <InstrumentKind Kind, class T>
    Instrument<Kind, T> instrument(std::string_view name, std::string_view unit = {},
                                   std::string_view description = {}) {
        Instrument<Kind, T> out;
        try_instrument(name, unit, description, out).throw_if_error();
        return out;
    }
    template <InstrumentKind Kind, class T>
    Result try_instrument(std::string_view name, std::string_view unit, std::string_view description,
                          Instrument<Kind, T> &out) {
        std::string n, u, d;
        if (!detail::c_string(name, n) || !detail::c_string(unit, u) || !detail::c_string(description, d))
            return detail::invalid("otlpmetric_meter_instrument", "a name, unit or description contains a NUL byte");
        otlpmetric_instrument *raw = nullptr;
        Result r = detail::check("otlpmetric_meter_instrument",
                                 otlpmetric_meter_instrument(handle_, detail::c_kind(Kind), detail::Number<T>::type,
                                                             n.c_str(), u.empty() ? nullptr : u.c_str(),
                                                             d.empty() ? nullptr : d.c_str(), &raw));
        if (r.ok()) out = Instrument<Kind, T>(raw);
        return r;
    }

    /// Observable instruments: `callback` (kept alive by the provider) observes at each
    /// collection; it must not be empty.
    template <class T>
    ObservableCounter<T> observable_counter(std::string_view name, typename ObservableCounter<T>::Callback callback,
                                            std::string_view unit = {}, std::string_view description = {}) {
        return observable<InstrumentKind::ObservableCounter, T>(name, std::move(callback), unit, description);
    }
    template <class T>
    ObservableUpDownCounter<T> observable_up_down_counter(std::string_view name,
                                                          typename ObservableUpDownCounter<T>::Callback callback,
                                                          std::string_view unit = {},
                                                          std::string_view description = {}) {
        return observable<InstrumentKind::ObservableUpDownCounter, T>(name, std::move(callback), unit, description);
    }
    template <class T>
    ObservableGauge<T> observable_gauge(std::string_view name, typename ObservableGauge<T>::Callback callback,
                                        std::string_view unit = {}, std::string_view description = {}) {
        return observable<InstrumentKind::ObservableGauge, T>(name, std::move(callback), unit, description);
    }
    template <InstrumentKind Kind, class T>
    ObservableInstrument<Kind, T> observable(std::string_view name,
                                             typename ObservableInstrument<Kind, T>::Callback callback,
                                             std::string_view unit = {}, std::string_view description = {}) {
        ObservableInstrument<Kind, T> out;
        try_observable(name, std::move(callback), unit, description, out).throw_if_error();
        return out;
    }
    template <InstrumentKind Kind, class T>
    Result try_observable(std::string_view name, typename ObservableInstrument<Kind, T>::Callback callback,
                          std::string_view unit, std::string_view description, ObservableInstrument<Kind, T> &out) {
        constexpr const char *op = "otlpmetric_meter_observable";
        if (!callback) return detail::invalid(op, "the callback is empty");
        if (handle_ == nullptr || observers_ == nullptr) return detail::invalid(op, "meter is NULL");
        std::string n, u, d;
        if (!detail::c_string(name, n) || !detail::c_string(unit, u) || !detail::c_string(description, d))
            return detail::invalid(op, "a name, unit or description contains a NUL byte");
        detail::ObserveState::Callback *kept = nullptr;
        {
            std::lock_guard<std::mutex> lock(observers_->mutex);
            observers_->callbacks.push_back(detail::ObserveState::Callback{
                observers_, [f = std::move(callback)](otlpmetric_observer *o) {
                    Observer<T> observer(o);
                    f(observer);
                }});
            kept = &observers_->callbacks.back();
        }
        otlpmetric_instrument *raw = nullptr;
        Result r = detail::check(
            op, otlpmetric_meter_observable(handle_, detail::c_kind(Kind), detail::Number<T>::type, n.c_str(),
                                            u.empty() ? nullptr : u.c_str(), d.empty() ? nullptr : d.c_str(),
                                            &detail::observe_trampoline, kept, &raw));
        if (!r.ok()) {  // the library did not keep it
            std::lock_guard<std::mutex> lock(observers_->mutex);
            for (auto it = observers_->callbacks.begin(); it != observers_->callbacks.end(); ++it) {
                if (&*it == kept) {
                    observers_->callbacks.erase(it);
                    break;
                }
            }
            return r;
        }
        out = ObservableInstrument<Kind, T>(raw);
        return r;
    }

private:
    friend class MeterProvider;
    Meter(otlpmetric_meter *handle, detail::ObserveState *observers) noexcept
        : handle_(handle), observers_(observers) {}
    otlpmetric_meter *handle_ = nullptr;
    detail::ObserveState *observers_ = nullptr;
};

/// A meter provider (otlpmetric_meter_provider): meters, instruments, aggregation in
/// process as the Config's selectors say, and an exporter of its own made from the same
/// Config, exporting every export interval from its own thread (unless the interval is
/// 0). Move-only; its methods may be called from any number of threads at once.
/// Destroying it shuts it down first if needed (within the export timeout), then frees
/// its meters and instruments: destroy BoundInstruments before it.
class MeterProvider {
public:
    /// An empty provider (like a moved-from one): every call fails with InvalidArgument.
    MeterProvider() noexcept = default;

    /// otlpmetric_meter_provider_new(). Throws Error, or rethrows what a selector threw.
    explicit MeterProvider(const Config &config) {
        std::exception_ptr thrown;
        Result r = create(config, *this, thrown);
        if (thrown) std::rethrow_exception(thrown);
        r.throw_if_error();
    }

    /// As the constructor, without throwing: a selector's exception becomes
    /// Status::InvalidArgument with its what() in the message. `out` is replaced on
    /// success and left alone on failure.
    static Result try_create(const Config &config, MeterProvider &out) {
        std::exception_ptr thrown;
        MeterProvider created;
        Result r = create(config, created, thrown);
        if (thrown) {
            std::string what = "unknown exception";
            try {
                std::rethrow_exception(thrown);
            } catch (const std::exception &e) {
                what = e.what();
            } catch (...) {
            }
            return detail::invalid("otlpmetric_meter_provider_new", "a selector threw: " + what);
        }
        if (r.ok()) out = std::move(created);
        return r;
    }

    MeterProvider(MeterProvider &&other) noexcept = default;
    MeterProvider &operator=(MeterProvider &&other) noexcept {
        if (this != &other) {
            reset();
            observers_ = std::move(other.observers_);
            log_ = std::move(other.log_);
            header_callback_ = std::move(other.header_callback_);
            handle_ = std::move(other.handle_);
        }
        return *this;
    }
    MeterProvider(const MeterProvider &) = delete;
    MeterProvider &operator=(const MeterProvider &) = delete;
    ~MeterProvider() { reset(); }

    /// Frees the provider now (shutting it down first if needed) with its meters and
    /// instruments; leaves it empty.
    void reset() noexcept {
        handle_.reset();  // may still collect (run callbacks) and log until it returns
        observers_.reset();
        log_.reset();
        header_callback_.reset();
    }

    /// The C handle (NULL when empty); still owned by this object.
    otlpmetric_meter_provider *handle() const noexcept { return handle_.get(); }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /// The meter of an instrumentation scope (an empty version means none): the same
    /// one for the same name and version.
    Meter meter(std::string_view name, std::string_view version = {}) {
        Meter out;
        try_meter(name, version, out).throw_if_error();
        return out;
    }
    Result try_meter(std::string_view name, std::string_view version, Meter &out) {
        std::string n, v;
        if (!detail::c_string(name, n) || !detail::c_string(version, v))
            return detail::invalid("otlpmetric_meter_provider_meter", "the name or version contains a NUL byte");
        otlpmetric_meter *raw = nullptr;
        Result r = detail::check("otlpmetric_meter_provider_meter",
                                 otlpmetric_meter_provider_meter(handle(), n.c_str(), v.empty() ? nullptr : v.c_str(),
                                                                 &raw));
        if (r.ok()) out = Meter(raw, observers_.get());
        return r;
    }

    /// Collects now (running the observe callbacks on this thread) and returns what an
    /// export would send, as one serialized ResourceMetrics; counts as that export for
    /// delta temporality (use it with an export interval of 0, or upload the bytes
    /// yourself).
    std::vector<std::uint8_t> collect() {
        std::vector<std::uint8_t> out;
        try_collect(out).throw_if_error();
        return out;
    }
    /// As collect(); `out` is replaced on success only.
    Result try_collect(std::vector<std::uint8_t> &out) {
        otlpmetric_buffer buffer{};
        struct Free {
            otlpmetric_buffer *buffer;
            ~Free() { otlpmetric_buffer_free(buffer); }
        } free_buffer{&buffer};
        Result r = detail::check("otlpmetric_meter_provider_collect",
                                 otlpmetric_meter_provider_collect(handle(), &buffer));
        if (r.ok()) out.assign(buffer.data, buffer.data + buffer.len);
        return r;
    }

    /// Collects and exports now and waits for every export begun before, within
    /// `timeout` (configured_timeout: OTEL_METRIC_EXPORT_TIMEOUT, default 30 s).
    void force_flush(std::chrono::milliseconds timeout = configured_timeout) {
        try_force_flush(timeout).throw_if_error();
    }
    Result try_force_flush(std::chrono::milliseconds timeout = configured_timeout) {
        std::uint32_t ms = 0;
        if (!detail::to_ms(timeout, ms))
            return detail::invalid("otlpmetric_meter_provider_force_flush", "timeout is negative");
        return detail::check("otlpmetric_meter_provider_force_flush",
                             otlpmetric_meter_provider_force_flush(handle(), ms));
    }

    /// Stops the export thread, collects and exports one last time, shuts the exporter
    /// down. Acts once: later calls, and recording, collecting or flushing, fail with
    /// Status::Shutdown.
    void shutdown(std::chrono::milliseconds timeout = configured_timeout) { try_shutdown(timeout).throw_if_error(); }
    Result try_shutdown(std::chrono::milliseconds timeout = configured_timeout) {
        std::uint32_t ms = 0;
        if (!detail::to_ms(timeout, ms))
            return detail::invalid("otlpmetric_meter_provider_shutdown", "timeout is negative");
        return detail::check("otlpmetric_meter_provider_shutdown", otlpmetric_meter_provider_shutdown(handle(), ms));
    }

    /// The statistics of the provider's exporter (also after shutdown). Throws Error.
    Stats stats() const {
        otlpmetric_stats s{};
        detail::check("otlpmetric_meter_provider_stats", otlpmetric_meter_provider_stats(handle(), &s))
            .throw_if_error();
        return detail::from_c(s);
    }

    /// How many exceptions observe callbacks have thrown (each caught in the wrapper).
    std::uint64_t callback_exceptions() const noexcept {
        return observers_ ? observers_->exceptions.load(std::memory_order_relaxed) : 0;
    }

private:
    static Result create(const Config &config, MeterProvider &out, std::exception_ptr &thrown) {
        detail::SelectorState *state = config.selectors_.get();
        if (state != nullptr) {
            state->thrown = nullptr;
            state->boundaries.clear();
        }
        auto observers = std::make_unique<detail::ObserveState>();
        otlpmetric_meter_provider *raw = nullptr;
        const otlpmetric_status st = otlpmetric_meter_provider_new(config.handle(), &raw);
        Result r = detail::check("otlpmetric_meter_provider_new", st);
        std::unique_ptr<otlpmetric_meter_provider, detail::MeterProviderDeleter> created(st == OTLPMETRIC_OK ? raw
                                                                                                            : nullptr);
        if (state != nullptr) {
            thrown = std::exchange(state->thrown, nullptr);
            state->boundaries.clear();
        }
        if (thrown || !r.ok()) return r;  // `created` (if any) is freed while config.log_ lives
        if (!created)
            return Result{Status::Internal, "otlpmetric_meter_provider_new returned no provider",
                          "otlpmetric_meter_provider_new"};
        out.reset();
        out.observers_ = std::move(observers);
        out.log_ = config.log_;  // before the handle: the provider may log at any time
        out.header_callback_ = config.header_callback_;
        out.handle_ = std::move(created);
        return r;
    }

    // Declaration order matters: handle_ is destroyed first (the library may run observe
    // callbacks and the log callback until otlpmetric_meter_provider_free returns).
    std::unique_ptr<detail::ObserveState> observers_;
    std::shared_ptr<const LogCallback> log_;
    std::shared_ptr<const HeaderCallback> header_callback_;
    std::unique_ptr<otlpmetric_meter_provider, detail::MeterProviderDeleter> handle_;
};

inline Result Headers::try_add(std::string_view key, std::string_view value) {
    if (key.find('\0') != std::string_view::npos || value.find('\0') != std::string_view::npos)
        return detail::invalid("otlpmetric_headers_add", "a header name or value contains a NUL byte");
    const std::string k(key), v(value);
    return detail::check("otlpmetric_headers_add", otlpmetric_headers_add(headers_, k.c_str(), v.c_str()));
}

}  // namespace otlpmetric

#endif  // OTLPMETRIC_HPP
