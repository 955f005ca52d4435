#!/usr/bin/env bash
# Embeddability budgets of the release library: stripped size under 8 MB, only
# otlpmetric_* symbols exported, dlopen into a process that already has the system's
# OpenSSL, protobuf and gRPC loaded (then exports over HTTP and gRPC to a real Collector),
# no thread without an exporter, idle RSS of one exporter under 4 MiB. Prints the figures.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --release --quiet
LIB="$TARGET/release/libotlpmetric.so"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/otlpmetric-budgets.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

cp "$LIB" "$WORK/libotlpmetric.so"
strip "$WORK/libotlpmetric.so"
size=$(stat -c %s "$WORK/libotlpmetric.so")
echo "stripped libotlpmetric.so: $size bytes (budget 8000000)"
[ "$size" -lt 8000000 ] || { echo "OVER BUDGET: size"; exit 1; }

exported=$(nm -D --defined-only "$LIB" | awk '{print $3}' | sort)
others=$(echo "$exported" | grep -v '^otlpmetric_' || true)
echo "exported symbols: $(echo "$exported" | wc -l), all otlpmetric_*: $([ -z "$others" ] && echo yes || echo no)"
[ -z "$others" ] || { echo "OVER BUDGET: other exported symbols:"; echo "$others"; exit 1; }

cc -std=c99 -Wall -Wextra -Werror -pedantic -I include tests/c/budgets.c -o "$WORK/budgets" -ldl

# The host's libraries, loaded before ours: the system's OpenSSL, protobuf and gRPC
# (scripts/bootstrap.sh installs libgrpc++-dev, which brings the last two).
host_libs=()
libraries=$(PATH="$PATH:/sbin:/usr/sbin" ldconfig -p)
for soname in 'libssl\.so\.' 'libcrypto\.so\.' 'libprotobuf\.so\.' 'libgrpc\.so\.' 'libgrpc\+\+\.so\.'; do
  # The first 64-bit one, else the first one (awk reads all its input: no SIGPIPE).
  path=$(awk -v re="^$soname" '$1 ~ re && !any {any = $NF} $1 ~ re && /x86-64|64bit/ && !best {best = $NF}
                               END {print best ? best : any}' <<<"$libraries")
  [ -n "$path" ] || { echo "budgets: no ${soname//\\/} library on this system (scripts/bootstrap.sh installs them)"; exit 1; }
  host_libs+=("$path")
done

# A real receiver for both protocols: the OpenTelemetry Collector.
OTELCOL_BIN="${OTELCOL_BIN:-$(scripts/otelcol.sh path)}"
export OTELCOL_BIN
eval "$(OTELCOL_GRPC_PORT=auto OTELCOL_HTTP_PORT=auto OTELCOL_RUN_DIR="$WORK/collector" tools/otelcol/run.sh)"
trap 'tools/otelcol/run.sh stop "$OTELCOL_PIDFILE" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

"$WORK/budgets" "$WORK/libotlpmetric.so" "$OTELCOL_HTTP_ENDPOINT/v1/metrics" "$OTELCOL_GRPC_ENDPOINT" "${host_libs[@]}"

# Both uploads arrived (the file exporter flushes every 100 ms).
received=0
for _ in $(seq 50); do
  received=$(grep -c '"budget"' "$OTELCOL_OUT" 2>/dev/null) || received=${received:-0}
  [ "$received" -ge 2 ] && break
  sleep 0.1
done
echo "the Collector received $received of 2 requests"
[ "$received" -eq 2 ] || { echo "OVER BUDGET: the Collector did not receive both uploads"; exit 1; }
