#!/usr/bin/env bash
# The demo: builds the library, starts a real OpenTelemetry Collector on free loopback
# ports, runs examples/c/demo.c (a C program that builds metrics with snprintf and
# exports them with otlpmetric), then prints what the Collector received.
#   scripts/demo.sh [grpc|http/protobuf|http/json] [ROUNDS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROTOCOL="${1:-http/protobuf}"
ROUNDS="${2:-3}"

scripts/bootstrap.sh
echo "== building libotlpmetric" >&2
cargo build --quiet
OTELCOL_BIN="$(scripts/otelcol.sh path)"
export OTELCOL_BIN

BUILD="$(mktemp -d "${TMPDIR:-/tmp}/otlpmetric-demo.XXXXXX")"
cc -std=c99 -Wall -Wextra -Werror -I include examples/c/demo.c -o "$BUILD/demo" \
   -L target/debug -Wl,-rpath,"$ROOT/target/debug" -lotlpmetric

echo "== starting the OpenTelemetry Collector" >&2
eval "$(OTELCOL_GRPC_PORT=auto OTELCOL_HTTP_PORT=auto OTELCOL_RUN_DIR="$BUILD/collector" tools/otelcol/run.sh)"
trap 'tools/otelcol/run.sh stop "$OTELCOL_PIDFILE"' EXIT
case "$PROTOCOL" in
  grpc) ENDPOINT="$OTELCOL_GRPC_ENDPOINT" ;;
  http/protobuf | http/json) ENDPOINT="$OTELCOL_HTTP_ENDPOINT/v1/metrics" ;;
  *) echo "unknown protocol $PROTOCOL (grpc, http/protobuf, http/json)" >&2; exit 2 ;;
esac

echo "== running examples/c/demo.c against $ENDPOINT ($PROTOCOL)" >&2
OTEL_EXPORTER_OTLP_PROTOCOL="$PROTOCOL" "$BUILD/demo" "$ENDPOINT" "$ROUNDS"

sleep 0.3   # the Collector's file exporter flushes every 100 ms
echo "== what the Collector received" >&2
python3 scripts/show_received.py "$OTELCOL_OUT"
