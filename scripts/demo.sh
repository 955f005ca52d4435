#!/usr/bin/env bash
# The demo: builds the library, starts a real OpenTelemetry Collector on free loopback
# ports, runs an example against it, then prints what the Collector received.
#   scripts/demo.sh [EXAMPLE] [PROTOCOL]
#     EXAMPLE   instruments (examples/c/instruments.c, the default: instruments and the
#               library's meter provider), json (examples/c/demo.c: hand-written OTLP/JSON;
#               also "demo"), periodic-c, periodic-cpp, periodic-python
#     PROTOCOL  http/protobuf (default), grpc, http/json
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXAMPLE=instruments
PROTOCOL=http/protobuf
for arg in "$@"; do
  case "$arg" in
    instruments | json | periodic-c | periodic-cpp | periodic-python) EXAMPLE="$arg" ;;
    demo) EXAMPLE=json ;;
    grpc | http/protobuf | http/json) PROTOCOL="$arg" ;;
    *) echo "usage: scripts/demo.sh [instruments|json|periodic-c|periodic-cpp|periodic-python] [grpc|http/protobuf|http/json]" >&2; exit 2 ;;
  esac
done

scripts/bootstrap.sh
echo "== building libotlpmetric" >&2
LIB="$(scripts/dev-library.sh)"
OTELCOL_BIN="$(scripts/otelcol.sh path)"
export OTELCOL_BIN

BUILD="$(mktemp -d "${TMPDIR:-/tmp}/otlpmetric-demo.XXXXXX")"
CFLAGS=(-Wall -Wextra -Werror -I include -I bindings/cpp/include -L "$LIB" -Wl,-rpath,"$LIB" -lotlpmetric)
# The program, then the arguments that follow the endpoint.
ROUNDS=(--rounds 3 --interval-ms 1000)
case "$EXAMPLE" in
  instruments) cc -std=c99 examples/c/instruments.c -o "$BUILD/example" "${CFLAGS[@]}"
               PROGRAM=("$BUILD/example"); ARGS=(--requests 200 --interval-ms 500) ;;
  json) cc -std=c99 examples/c/demo.c -o "$BUILD/example" "${CFLAGS[@]}"
        PROGRAM=("$BUILD/example"); ARGS=(3) ;;
  periodic-c) cc -std=c99 examples/c/periodic.c -o "$BUILD/example" "${CFLAGS[@]}"
              PROGRAM=("$BUILD/example"); ARGS=("${ROUNDS[@]}") ;;
  periodic-cpp) c++ -std=c++17 examples/cpp/periodic.cpp -o "$BUILD/example" "${CFLAGS[@]}"
                PROGRAM=("$BUILD/example"); ARGS=("${ROUNDS[@]}") ;;
  periodic-python) PROGRAM=("$(scripts/python-venv.sh)" examples/python/periodic.py); ARGS=("${ROUNDS[@]}")
                   export OTLPMETRIC_LIBRARY="$LIB/libotlpmetric.so" ;;
esac

echo "== starting the OpenTelemetry Collector" >&2
eval "$(OTELCOL_GRPC_PORT=auto OTELCOL_HTTP_PORT=auto OTELCOL_RUN_DIR="$BUILD/collector" tools/otelcol/run.sh)"
trap 'tools/otelcol/run.sh stop "$OTELCOL_PIDFILE"' EXIT
case "$PROTOCOL" in
  grpc) ENDPOINT="$OTELCOL_GRPC_ENDPOINT" ;;
  *) ENDPOINT="$OTELCOL_HTTP_ENDPOINT/v1/metrics" ;;
esac

echo "== running $EXAMPLE against $ENDPOINT ($PROTOCOL)" >&2
OTEL_EXPORTER_OTLP_PROTOCOL="$PROTOCOL" "${PROGRAM[@]}" "$ENDPOINT" "${ARGS[@]}"

sleep 0.3   # the Collector's file exporter flushes every 100 ms
echo "== what the Collector received" >&2
python3 scripts/show_received.py "$OTELCOL_OUT"
