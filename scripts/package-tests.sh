#!/usr/bin/env bash
# The artefacts of scripts/package.sh, used as a user would, from clean temporary
# directories with nothing from the checkout on any path:
#  - the wheel: tagged manylinux, and `auditwheel show` agrees; installed with its cffi and
#    sdk extras into a fresh virtualenv; run from an empty directory with PATH stripped of
#    cargo and rustc and no OTLPMETRIC_* / PYTHON* variables, it imports from the venv,
#    loads the library and the header from inside the package, and exports to a real
#    OpenTelemetry Collector through ctypes, cffi and the SDK exporter;
#  - the C install tree: unpacked into an empty prefix (not the /usr/local it was made
#    for); examples/c/periodic.c and examples/cpp/periodic.cpp copied out and built with
#    `pkg-config --define-prefix --cflags --libs otlpmetric` alone, and run against the
#    Collector;
#  - the Collector received what each of them sent.
#   scripts/package-tests.sh      (builds with scripts/package.sh; OTLPMETRIC_DIST to reuse)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
T0=$(date +%s)

scripts/bootstrap.sh
OTELCOL_BIN="$(scripts/otelcol.sh path)"
export OTELCOL_BIN
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(OTEL_[A-Za-z0-9_]*\)=.*/\1/p')

WORK="$(mktemp -d "${TMPDIR:-/tmp}/otlpmetric-package-tests.XXXXXX")"
OTELCOL_PIDFILE=""
cleanup() {
  local rc=$?
  if [ -n "$OTELCOL_PIDFILE" ]; then tools/otelcol/run.sh stop "$OTELCOL_PIDFILE" || true; fi
  if [ "$rc" = 0 ]; then rm -rf "$WORK"; else echo "package-tests: FAILED (files kept in $WORK)" >&2; fi
}
trap cleanup EXIT
fail() { echo "package-tests: $*" >&2; exit 1; }
say() { echo "package-tests: $*"; }

mapfile -t ARTEFACTS < <(scripts/package.sh all)
WHEEL="${ARTEFACTS[0]:-}"
TARBALL="${ARTEFACTS[1]:-}"
[ -f "$WHEEL" ] && [ -f "$TARBALL" ] || fail "scripts/package.sh printed no wheel and tarball: ${ARTEFACTS[*]}"
pkgid="$(cargo pkgid --quiet)"
VERSION="${pkgid##*[#@]}"
case "$(basename "$WHEEL")" in
  "otlpmetric-$VERSION-py3-none-manylinux_"*.whl) ;;
  *) fail "$(basename "$WHEEL") is not otlpmetric-$VERSION-py3-none-manylinux_*" ;;
esac
tools="${OTLPMETRIC_TOOLS_VENV:-$HOME/.cache/otlpmetric/tools-venv}"
"$tools/bin/auditwheel" show "$WHEEL" >"$WORK/auditwheel-show.log" 2>&1 || { cat "$WORK/auditwheel-show.log" >&2; fail "auditwheel show failed"; }
# (auditwheel wraps its lines)
tr -s ' \n' '  ' <"$WORK/auditwheel-show.log" | grep -q 'consistent with the following platform tag: "manylinux_' \
  || { cat "$WORK/auditwheel-show.log" >&2; fail "auditwheel show finds no manylinux policy for the wheel"; }

eval "$(OTELCOL_GRPC_PORT=auto OTELCOL_HTTP_PORT=auto OTELCOL_RUN_DIR="$WORK/collector" tools/otelcol/run.sh)"
HTTP="$OTELCOL_HTTP_ENDPOINT/v1/metrics"
GRPC="$OTELCOL_GRPC_ENDPOINT"
RUN_ID="$$-$(date +%s)"

# A PATH without cargo, rustc or anything of the checkout: the system's directories.
CLEAN_PATH=/usr/local/bin:/usr/bin:/bin
for tool in cargo rustc; do
  if PATH="$CLEAN_PATH" command -v "$tool" >/dev/null 2>&1; then
    fail "$tool is on the clean PATH ($CLEAN_PATH)"
  fi
done
# Runs a command as a user would: from DIR, with HOME, TMPDIR and a clean PATH and nothing
# else of this environment except the Collector's endpoints given as arguments.
as_user() {  # dir command...
  local dir="$1"
  shift
  (cd "$dir" && env -i HOME="$WORK/home" TMPDIR="$WORK/tmp" PATH="$CLEAN_PATH" LANG=C.UTF-8 "$@")
}
mkdir -p "$WORK/home" "$WORK/tmp"

# ---------------------------------------------------------------------------------
# 1. The wheel, in a fresh venv.
# ---------------------------------------------------------------------------------
python3 -m venv "$WORK/venv"
# Dependencies from the index; the package itself only from the wheel.
"$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  "$WHEEL[cffi,sdk]" >"$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log" >&2; fail "pip install of the wheel failed"; }
mkdir -p "$WORK/user-python"
cat >"$WORK/user-python/check.py" <<'PY'
"""Exports through each front of the installed otlpmetric package."""
import os
import sys
from pathlib import Path

http, grpc, run_id, venv, checkout = sys.argv[1:6]

import otlpmetric
import otlpmetric.cffi
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from otlpmetric.sdk import OTLPMetricExporter

package = Path(otlpmetric.__file__).resolve().parent
assert str(package).startswith(str(Path(venv).resolve()) + os.sep), f"otlpmetric imported from {package}"
assert Path(otlpmetric.library_path()).resolve().parent == package, otlpmetric.library_path()
assert Path(otlpmetric.cffi.library_path()).resolve().parent == package, otlpmetric.cffi.library_path()
assert Path(otlpmetric.cffi.header_path()).resolve() == package / "otlpmetric.h", otlpmetric.cffi.header_path()
assert not [p for p in sys.path if p.startswith(checkout)], sys.path
assert not [k for k in os.environ if k.startswith(("OTLPMETRIC_", "PYTHON"))], sorted(os.environ)


def request(service: str) -> str:
    return (
        '{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"%s"}}]},'
        '"scopeMetrics":[{"scope":{"name":"package-tests"},"metrics":[{"name":"package.check","sum":{'
        '"dataPoints":[{"asInt":"1","timeUnixNano":"%d"}],"aggregationTemporality":2,"isMonotonic":true}}]}]}]}'
        % (service, __import__("time").time_ns())
    )


for front, endpoint, protocol in ((otlpmetric, http, "http/protobuf"), (otlpmetric.cffi, grpc, "grpc")):
    name = "ctypes" if front is otlpmetric else "cffi"
    with front.Exporter(endpoint=endpoint, protocol=protocol, timeout_ms=10000) as exporter:
        exporter.upload_json(request(f"python-{name}-{run_id}"))
    print(f"{name}: exported over {protocol}, version {front.version()}")

provider = MeterProvider(
    resource=Resource.create({"service.name": f"python-sdk-{run_id}"}),
    metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=http), export_interval_millis=60_000)],
)
provider.get_meter("package-tests").create_counter("package.check").add(1)
provider.force_flush()
provider.shutdown()
print("sdk: exported")
PY
as_user "$WORK/user-python" "$WORK/venv/bin/python" -I check.py "$HTTP" "$GRPC" "$RUN_ID" "$WORK/venv" "$ROOT" \
  >"$WORK/python.out" 2>&1 || { cat "$WORK/python.out" >&2; fail "the installed wheel did not export"; }
SERVICES=("python-ctypes-$RUN_ID" "python-cffi-$RUN_ID" "python-sdk-$RUN_ID")
say "wheel $(basename "$WHEEL"): imported from a fresh venv, exported through ctypes, cffi and the SDK"

# ---------------------------------------------------------------------------------
# 2. The C install tree, unpacked into an empty prefix.
# ---------------------------------------------------------------------------------
PREFIX="$WORK/prefix"
mkdir -p "$PREFIX" "$WORK/user-c"
tar -C "$PREFIX" -xzf "$TARBALL"
cp examples/c/periodic.c examples/cpp/periodic.cpp "$WORK/user-c/"
pc() { as_user "$WORK/user-c" env PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --define-prefix "$@" otlpmetric; }
[ "$(pc --modversion)" = "$VERSION" ] || fail "pkg-config --modversion otlpmetric is not $VERSION"
FLAGS="$(pc --cflags --libs)"
case "$FLAGS" in *"$ROOT"*) fail "pkg-config's flags name the checkout: $FLAGS" ;; esac
case "$FLAGS" in *"-L$PREFIX/lib"*"-lotlpmetric"*) ;; *) fail "pkg-config's flags do not name the unpacked prefix: $FLAGS" ;; esac
# shellcheck disable=SC2086  # word splitting of pkg-config's flags is intended
as_user "$WORK/user-c" cc -std=c99 -Wall -Wextra -Werror periodic.c $FLAGS -Wl,-rpath,"$PREFIX/lib" -o periodic_c \
  || fail "periodic.c did not build against the unpacked tree"
# shellcheck disable=SC2086
as_user "$WORK/user-c" c++ -std=c++17 -Wall -Wextra -Werror periodic.cpp $FLAGS -Wl,-rpath,"$PREFIX/lib" -o periodic_cpp \
  || fail "periodic.cpp did not build against the unpacked tree"
for exe in periodic_c periodic_cpp; do
  lib="$(as_user "$WORK/user-c" ldd "./$exe" | sed -n 's/.*libotlpmetric\.so\.[0-9]* => \([^ ]*\).*/\1/p')"
  [ "$lib" = "$PREFIX/lib/libotlpmetric.so.${VERSION%%.*}" ] || fail "$exe loads libotlpmetric from '${lib:-nowhere}'"
done
as_user "$WORK/user-c" env OTEL_SERVICE_NAME="c-$RUN_ID" ./periodic_c "$HTTP" --rounds 2 --interval-ms 150 \
  >"$WORK/c.out" 2>&1 || { cat "$WORK/c.out" >&2; fail "periodic_c failed"; }
as_user "$WORK/user-c" env OTEL_SERVICE_NAME="cpp-$RUN_ID" OTEL_EXPORTER_OTLP_PROTOCOL=grpc ./periodic_cpp "$GRPC" \
  --rounds 2 --interval-ms 150 >"$WORK/cpp.out" 2>&1 || { cat "$WORK/cpp.out" >&2; fail "periodic_cpp failed"; }
SERVICES+=("c-$RUN_ID" "cpp-$RUN_ID")
say "C tree $(basename "$TARBALL"): periodic.c and periodic.cpp built with pkg-config alone and run"

# ---------------------------------------------------------------------------------
# 3. What the Collector received.
# ---------------------------------------------------------------------------------
for service in "${SERVICES[@]}"; do
  found=""
  for _ in $(seq 50); do  # the file exporter flushes every 100 ms
    if grep -qF "\"stringValue\":\"$service\"" "$OTELCOL_OUT" 2>/dev/null; then found=1; break; fi
    sleep 0.1
  done
  [ -n "$found" ] || fail "the Collector received nothing from $service"
done
say "the Collector received from each: ${SERVICES[*]%-"$RUN_ID"}"
say "ok in $(( $(date +%s) - T0 ))s"
