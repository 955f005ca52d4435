#!/usr/bin/env bash
# The C++ wrapper's tests (bindings/cpp): builds the library if needed, starts a real
# OpenTelemetry Collector on free loopback ports, compiles bindings/cpp/tests (two
# translation units, -std=c++17 -Wall -Wextra -Werror -pedantic), runs them, checks that
# every metric they sent arrived at the Collector, then runs them again under valgrind
# (when installed), then builds examples/cpp/instruments.cpp and checks that what it
# records arrives. Quiet on success except a summary.
#   scripts/cpp-tests.sh            env: CXX (default c++), OTLPMETRIC_NO_VALGRIND=1
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CXX="${CXX:-c++}"
T0=$(date +%s)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/otlpmetric-cpp-tests.XXXXXX")"
OTELCOL_PIDFILE=""
cleanup() {
  local rc=$?
  if [ -n "$OTELCOL_PIDFILE" ]; then tools/otelcol/run.sh stop "$OTELCOL_PIDFILE" || true; fi
  if [ "$rc" = 0 ]; then rm -rf "$WORK"; else echo "cpp-tests: FAILED (files kept in $WORK)" >&2; fi
}
trap cleanup EXIT

scripts/bootstrap.sh
if ! scripts/dev-library.sh >"$WORK/cargo-build.log" 2>&1; then  # shown only when it fails
  cat "$WORK/cargo-build.log" >&2
  echo "cpp-tests: cargo build failed" >&2
  exit 1
fi
OTELCOL_BIN="$(scripts/otelcol.sh path)"
export OTELCOL_BIN

# Deterministic: no OTEL_EXPORTER_OTLP_* from the caller's environment.
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(OTEL_EXPORTER_OTLP_[A-Za-z0-9_]*\)=.*/\1/p')

# 1. Compile: the header from two translation units, strict warnings.
WARN=(-Wall -Wextra -Werror -pedantic)
"$CXX" -std=c++17 "${WARN[@]}" -pthread -I include -I bindings/cpp/include \
  bindings/cpp/tests/test_wrapper.cpp bindings/cpp/tests/second_tu.cpp -o "$WORK/test_wrapper" \
  -L target/debug -Wl,-rpath,"$ROOT/target/debug" -lotlpmetric
# The header alone under the warnings users turn on, and as C++20.
cat >"$WORK/header_only.cpp" <<'EOF_CPP'
#include "otlpmetric.hpp"
namespace om = otlpmetric;
template <class T>
void instantiate(om::Meter &m) {  // every template of the provider, under the strict warnings
    auto c = m.counter<T>("c");
    c.add(1, {{"s", "x"}, {"b", true}, {"i", 2}, {"u", 3u}, {"d", 0.5}, {"f", 0.5f}});
    m.up_down_counter<T>("u").bind({}).add(1);
    m.histogram<T>("h").record(1);
    m.gauge<T>("g").bind({{"k", std::string("v")}}).record(1);
    m.observable_counter<T>("oc", [](om::Observer<T> &o) { o.observe(1, {{"k", 1}}); });
    m.observable_up_down_counter<T>("ou", [](om::Observer<T> &o) { o.observe(1); });
    m.observable_gauge<T>("og", [](om::Observer<T> &o) { (void)o.try_observe(1); });
}
int main() {
    om::Config c;
    om::Exporter e;
    om::MeterProvider p;
    om::Meter m;
    instantiate<std::int64_t>(m);
    instantiate<double>(m);
    (void)c; (void)e; (void)p;
}
EOF_CPP
# C++20 only: the std::stop_token overloads; a stop requested before the call cancels it.
cat >"$WORK/stop_token.cpp" <<'EOF_CPP'
#include "otlpmetric.hpp"
int main() {
    otlpmetric::Config c;
    c.set_endpoint("http://127.0.0.1:9/v1/metrics");
    otlpmetric::Exporter e(c);
    std::stop_source stop;
    stop.request_stop();
    const unsigned char empty = 0;
    const bool upload = e.try_upload(otlpmetric::ByteView(&empty, 0), stop.get_token()).status == otlpmetric::Status::Cancelled;
    const bool flush = e.try_force_flush(stop.get_token()).status == otlpmetric::Status::Cancelled;
    const bool uncancellable = e.try_force_flush(std::stop_token{}).ok();
    return upload && flush && uncancellable ? 0 : 1;
}
EOF_CPP
"$CXX" -std=c++17 "${WARN[@]}" -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast -Wnon-virtual-dtor \
  -Wzero-as-null-pointer-constant -I include -I bindings/cpp/include -fsyntax-only "$WORK/header_only.cpp"
"$CXX" -std=c++20 "${WARN[@]}" -I include -I bindings/cpp/include -fsyntax-only "$WORK/header_only.cpp"
"$CXX" -std=c++20 "${WARN[@]}" -pthread -I include -I bindings/cpp/include "$WORK/stop_token.cpp" -o "$WORK/stop_token" \
  -L target/debug -Wl,-rpath,"$ROOT/target/debug" -lotlpmetric
"$WORK/stop_token" || { echo "cpp-tests: the C++20 std::stop_token overloads do not cancel" >&2; exit 1; }

# 2. A Collector on free loopback ports.
eval "$(OTELCOL_GRPC_PORT=auto OTELCOL_HTTP_PORT=auto OTELCOL_RUN_DIR="$WORK/collector" tools/otelcol/run.sh)"
export OTLPMETRIC_TEST_HTTP_ENDPOINT="$OTELCOL_HTTP_ENDPOINT/v1/metrics"
export OTLPMETRIC_TEST_GRPC_ENDPOINT="$OTELCOL_GRPC_ENDPOINT"
MARKER="cpp-$$-$(date +%s)"

# Waits (up to 5 s: the file exporter flushes every 100 ms) until every metric named in
# $1 appears in the Collector's output.
check_arrivals() {
  local names="$1" name missing
  for _ in $(seq 50); do
    missing=""
    while IFS= read -r name; do
      [ -n "$name" ] || continue
      grep -q "\"name\":\"$name\"" "$OTELCOL_OUT" 2>/dev/null || missing="$missing $name"
    done <"$names"
    [ -z "$missing" ] && return 0
    sleep 0.1
  done
  echo "cpp-tests: never reached the Collector:$missing" >&2
  return 1
}

# 3. Run.
run_tests() {  # label, marker, command prefix...
  local label="$1" marker="$2"
  shift 2
  local out
  if ! out="$(OTLPMETRIC_TEST_MARKER="$marker" OTLPMETRIC_TEST_MARKERS_OUT="$WORK/$marker.names" \
              "$@" "$WORK/test_wrapper" 2>"$WORK/$marker.stderr")"; then
    echo "$out" >&2
    cat "$WORK/$marker.stderr" >&2
    echo "cpp-tests: $label failed" >&2
    return 1
  fi
  check_arrivals "$WORK/$marker.names"
  { grep '^skipped:' <<<"$out" || true; } | sed "s/^/cpp-tests: $label: /"
  echo "cpp-tests: $label: ${out##*$'\n'}, $(wc -l <"$WORK/$marker.names") metrics arrived at the Collector"
}
run_tests "test_wrapper" "$MARKER"
if [ "${OTLPMETRIC_NO_VALGRIND:-0}" != 1 ] && command -v valgrind >/dev/null 2>&1; then
  run_tests "test_wrapper under valgrind" "$MARKER-vg" \
    valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
else
  echo "cpp-tests: valgrind not run (not installed, or OTLPMETRIC_NO_VALGRIND=1)"
fi

# 4. The instruments example: built with the same warnings, run against the Collector.
"$CXX" -std=c++17 "${WARN[@]}" -pthread -I include -I bindings/cpp/include examples/cpp/instruments.cpp \
  -o "$WORK/instruments_cpp" -L target/debug -Wl,-rpath,"$ROOT/target/debug" -lotlpmetric
if ! OTEL_SERVICE_NAME="otlpmetric-cpp-tests-$MARKER" "$WORK/instruments_cpp" "$OTLPMETRIC_TEST_HTTP_ENDPOINT" \
     --requests 30 --interval-ms 200 >"$WORK/instruments.out" 2>&1; then
  cat "$WORK/instruments.out" >&2
  echo "cpp-tests: examples/cpp/instruments.cpp failed" >&2
  exit 1
fi
printf '%s\n' instruments.requests instruments.request.duration instruments.memory.usage >"$WORK/instruments.names"
check_arrivals "$WORK/instruments.names"
grep -q "otlpmetric-cpp-tests-$MARKER" "$OTELCOL_OUT" ||
  { echo "cpp-tests: the instruments example's service.name never reached the Collector" >&2; exit 1; }
echo "cpp-tests: examples/cpp/instruments.cpp: $(cat "$WORK/instruments.out"), its metrics arrived at the Collector"
echo "cpp-tests: ok in $(( $(date +%s) - T0 ))s"
