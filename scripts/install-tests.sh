#!/usr/bin/env bash
# Install and discovery tests: scripts/install.sh into a temporary prefix, then
#  - the layout, the installed headers, the .pc and CMake version files;
#  - the shared object exports only otlpmetric_* symbols (and every function the header
#    declares);
#  - examples/c/periodic.c and examples/cpp/periodic.cpp built with
#    `pkg-config --cflags --libs otlpmetric`, and examples/ built with CMake
#    (find_package(otlpmetric), shared and static targets) from the prefix moved
#    elsewhere (the CMake package is relocatable);
#  - each program run for 2 rounds against a real OpenTelemetry Collector (HTTP/protobuf,
#    HTTP/JSON, gRPC), and stopped with SIGINT / SIGTERM; the Collector must have
#    received their counter, histogram and gauge.
# Quiet on success except a summary.
#   scripts/install-tests.sh      env: OTLPMETRIC_PROFILE=release (default: the build
#                                 scripts/package.sh shares) or debug, CC, CXX
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export OTLPMETRIC_PROFILE="${OTLPMETRIC_PROFILE:-release}"
CC="${CC:-cc}"
CXX="${CXX:-c++}"
T0=$(date +%s)

scripts/bootstrap.sh
OTELCOL_BIN="$(scripts/otelcol.sh path)"
export OTELCOL_BIN
# Deterministic: no OTEL_* settings from the caller's environment.
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(OTEL_[A-Za-z0-9_]*\)=.*/\1/p')

WORK="$(mktemp -d "${TMPDIR:-/tmp}/otlpmetric-install-tests.XXXXXX")"
OTELCOL_PIDFILE=""
cleanup() {
  local rc=$?
  if [ -n "$OTELCOL_PIDFILE" ]; then tools/otelcol/run.sh stop "$OTELCOL_PIDFILE" || true; fi
  if [ "$rc" = 0 ]; then rm -rf "$WORK"; else echo "install-tests: FAILED (files kept in $WORK)" >&2; fi
}
trap cleanup EXIT
fail() { echo "install-tests: $*" >&2; exit 1; }
say() { echo "install-tests: $*"; }

# ---------------------------------------------------------------------------------
# 1. Install, and look at what was installed.
# ---------------------------------------------------------------------------------
PREFIX="$WORK/prefix"
scripts/install.sh "$PREFIX" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; fail "scripts/install.sh failed"; }
pkgid="$(cargo pkgid --quiet)"
VERSION="${pkgid##*[#@]}"
MAJOR="${VERSION%%.*}"
for f in "lib/libotlpmetric.so.$VERSION" lib/libotlpmetric.a include/otlpmetric.h include/otlpmetric.hpp \
         lib/pkgconfig/otlpmetric.pc lib/cmake/otlpmetric/otlpmetricConfig.cmake \
         lib/cmake/otlpmetric/otlpmetricConfigVersion.cmake; do
  [ -f "$PREFIX/$f" ] || fail "not installed: $f"
done
# The versioned library and its two links: the SONAME's, and the development one.
[ "$(readlink "$PREFIX/lib/libotlpmetric.so.$MAJOR")" = "libotlpmetric.so.$VERSION" ] \
  || fail "lib/libotlpmetric.so.$MAJOR is not a link to libotlpmetric.so.$VERSION"
[ -L "$PREFIX/lib/libotlpmetric.so" ] \
  && [ "$(readlink -f "$PREFIX/lib/libotlpmetric.so")" = "$(readlink -f "$PREFIX/lib/libotlpmetric.so.$VERSION")" ] \
  || fail "lib/libotlpmetric.so is not a link to libotlpmetric.so.$VERSION"
cmp -s include/otlpmetric.h "$PREFIX/include/otlpmetric.h" || fail "installed otlpmetric.h differs from include/"
cmp -s bindings/cpp/include/otlpmetric.hpp "$PREFIX/include/otlpmetric.hpp" || fail "installed otlpmetric.hpp differs"

# DESTDIR: staged files, paths inside them name the final prefix.
DESTDIR="$WORK/stage" scripts/install.sh /opt/otlpmetric >"$WORK/install-destdir.log" 2>&1 \
  || { cat "$WORK/install-destdir.log" >&2; fail "DESTDIR=... scripts/install.sh failed"; }
grep -qx 'prefix=/opt/otlpmetric' "$WORK/stage/opt/otlpmetric/lib/pkgconfig/otlpmetric.pc" \
  || fail "DESTDIR install: the .pc does not name the final prefix"
[ -f "$WORK/stage/opt/otlpmetric/lib/libotlpmetric.so.$VERSION" ] || fail "DESTDIR install: no library under \$DESTDIR"

# Exported symbols: only otlpmetric_*, and every function the header declares.
SO="$PREFIX/lib/libotlpmetric.so"
nm -D --defined-only "$SO" | awk '{print $NF}' | sort -u >"$WORK/exported"
others="$(grep -v '^otlpmetric_' "$WORK/exported" || true)"
[ -z "$others" ] || fail "libotlpmetric.so exports symbols outside otlpmetric_*: $(echo "$others" | tr '\n' ' ')"
grep -o '\botlpmetric_[a-z0-9_]*(' include/otlpmetric.h | tr -d '(' | sort -u >"$WORK/declared"
missing="$(comm -23 "$WORK/declared" "$WORK/exported")"
[ -z "$missing" ] || fail "declared in otlpmetric.h but not exported: $(echo "$missing" | tr '\n' ' ')"
undeclared="$(comm -13 "$WORK/declared" "$WORK/exported")"
[ -z "$undeclared" ] || fail "exported but not declared in otlpmetric.h: $(echo "$undeclared" | tr '\n' ' ')"
soname="$(readelf -d "$SO" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
[ "$soname" = "libotlpmetric.so.$MAJOR" ] || fail "SONAME is '${soname:-none}', not libotlpmetric.so.$MAJOR"
say "libotlpmetric.so exports $(wc -l <"$WORK/exported") symbols, all otlpmetric_* and all declared in the header; SONAME: $soname"

# The CMake version file: which requests this installation satisfies.
cat >"$WORK/version-check.cmake" <<'EOF'
# cmake -DREQ=<version or range> -DFILE=<otlpmetricConfigVersion.cmake> -P version-check.cmake
if(REQ MATCHES "^([^.]+)(\\.\\.\\.)(<?)(.+)$")
  set(PACKAGE_FIND_VERSION_RANGE "${REQ}")
  set(PACKAGE_FIND_VERSION_MIN "${CMAKE_MATCH_1}")
  set(PACKAGE_FIND_VERSION_MAX "${CMAKE_MATCH_4}")
  if(CMAKE_MATCH_3 STREQUAL "<")
    set(PACKAGE_FIND_VERSION_RANGE_MAX EXCLUDE)
  else()
    set(PACKAGE_FIND_VERSION_RANGE_MAX INCLUDE)
  endif()
  string(REGEX MATCH "^[0-9]+" PACKAGE_FIND_VERSION_MIN_MAJOR "${PACKAGE_FIND_VERSION_MIN}")
  string(REGEX MATCH "^[0-9]+" PACKAGE_FIND_VERSION_MAX_MAJOR "${PACKAGE_FIND_VERSION_MAX}")
  set(PACKAGE_FIND_VERSION "${PACKAGE_FIND_VERSION_MIN}")
else()
  set(PACKAGE_FIND_VERSION "${REQ}")
  string(REGEX MATCH "^[0-9]+" PACKAGE_FIND_VERSION_MAJOR "${REQ}")
endif()
set(CMAKE_SIZEOF_VOID_P 8)
include("${FILE}")
message("${PACKAGE_VERSION_COMPATIBLE}")
EOF
version_ok() {  # request -> TRUE/FALSE
  cmake -DREQ="$1" -DFILE="$PREFIX/lib/cmake/otlpmetric/otlpmetricConfigVersion.cmake" -P "$WORK/version-check.cmake" 2>&1
}
NEXT_MAJOR="$(( MAJOR + 1 ))"
for req in "$MAJOR" "$VERSION" "$MAJOR.0...<$NEXT_MAJOR.0"; do
  [ "$(version_ok "$req")" = TRUE ] || fail "otlpmetricConfigVersion.cmake ($VERSION) refuses find_package(otlpmetric $req)"
done
for req in "$NEXT_MAJOR.0" "$VERSION.1" "$MAJOR.999"; do
  [ "$(version_ok "$req")" = FALSE ] || fail "otlpmetricConfigVersion.cmake ($VERSION) accepts find_package(otlpmetric $req)"
done

# ---------------------------------------------------------------------------------
# 2. pkg-config builds (from the installed prefix only).
# ---------------------------------------------------------------------------------
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
[ "$(pkg-config --modversion otlpmetric)" = "$VERSION" ] || fail "pkg-config --modversion otlpmetric != $VERSION"
[ "$(pkg-config --variable=includedir otlpmetric)" = "$PREFIX/include" ] || fail "pkg-config includedir"
# shellcheck disable=SC2046  # word splitting of pkg-config's flags is intended
"$CC" -std=c99 -Wall -Wextra -Werror -pedantic examples/c/periodic.c $(pkg-config --cflags --libs otlpmetric) \
  -Wl,-rpath,"$PREFIX/lib" -o "$WORK/periodic_c_pkgconfig"
# shellcheck disable=SC2046
"$CXX" -std=c++17 -Wall -Wextra -Werror -pedantic examples/cpp/periodic.cpp $(pkg-config --cflags --libs otlpmetric) \
  -Wl,-rpath,"$PREFIX/lib" -o "$WORK/periodic_cpp_pkgconfig"
readelf -d "$WORK/periodic_c_pkgconfig" | grep -qF "[libotlpmetric.so.$MAJOR]" \
  || fail "periodic_c (pkg-config) does not need libotlpmetric.so.$MAJOR"

# ---------------------------------------------------------------------------------
# 3. A Collector, and the pkg-config builds against it.
# ---------------------------------------------------------------------------------
eval "$(OTELCOL_GRPC_PORT=auto OTELCOL_HTTP_PORT=auto OTELCOL_RUN_DIR="$WORK/collector" tools/otelcol/run.sh)"
HTTP="$OTELCOL_HTTP_ENDPOINT/v1/metrics"
GRPC="$OTELCOL_GRPC_ENDPOINT"
RUN_ID="$$-$(date +%s)"
SERVICES=()

run_example() {  # name program args... ; env from the caller; rounds must be given
  local name="$1"
  shift
  if ! OTEL_SERVICE_NAME="$name-$RUN_ID" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
    cat "$WORK/$name.out" "$WORK/$name.err" >&2
    fail "$name failed"
  fi
  grep -q 'periodic: ok' "$WORK/$name.out" || fail "$name did not finish cleanly"
  SERVICES+=("$name")
}

run_until_signal() {  # name signal program args...
  local name="$1" sig="$2" pid rc=0
  shift 2
  OTEL_SERVICE_NAME="$name-$RUN_ID" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  pid=$!
  sleep 0.7
  kill "-$sig" "$pid"
  wait "$pid" || rc=$?
  if [ "$rc" != 0 ] || ! grep -q 'signal received' "$WORK/$name.out" || ! grep -q 'periodic: ok' "$WORK/$name.out"; then
    cat "$WORK/$name.out" "$WORK/$name.err" >&2
    fail "$name: no clean shutdown on SIG$sig (exit $rc)"
  fi
  SERVICES+=("$name")
}

ROUNDS=(--rounds 2 --interval-ms 150)
run_example c-pkgconfig "$WORK/periodic_c_pkgconfig" "$HTTP" "${ROUNDS[@]}"
OTEL_EXPORTER_OTLP_PROTOCOL=grpc run_example cpp-pkgconfig "$WORK/periodic_cpp_pkgconfig" "$GRPC" "${ROUNDS[@]}"

# ---------------------------------------------------------------------------------
# 4. CMake, from the prefix moved elsewhere (the package is relocatable).
# ---------------------------------------------------------------------------------
MOVED="$WORK/moved/prefix"
mkdir -p "$WORK/moved"
mv "$PREFIX" "$MOVED"
if ! cmake -S examples -B "$WORK/build" -DCMAKE_PREFIX_PATH="$MOVED" -DCMAKE_BUILD_TYPE=Release \
      >"$WORK/cmake-configure.log" 2>&1; then
  cat "$WORK/cmake-configure.log" >&2
  fail "cmake -S examples could not configure (find_package(otlpmetric))"
fi
grep -q "otlpmetric_DIR:PATH=$MOVED/lib/cmake/otlpmetric" "$WORK/build/CMakeCache.txt" \
  || fail "find_package found otlpmetric somewhere other than $MOVED"
if ! cmake --build "$WORK/build" -j "$(nproc 2>/dev/null || echo 2)" >"$WORK/cmake-build.log" 2>&1; then
  cat "$WORK/cmake-build.log" >&2
  fail "cmake --build failed"
fi
for exe in periodic_c periodic_cpp periodic_cpp_static demo_c instruments_c instruments_cpp; do
  [ -x "$WORK/build/$exe" ] || fail "CMake did not build $exe"
done
readelf -d "$WORK/build/periodic_cpp" | grep -qF "[libotlpmetric.so.$MAJOR]" \
  || fail "periodic_cpp (CMake) does not record libotlpmetric.so.$MAJOR as NEEDED (a path instead?)"
if readelf -d "$WORK/build/periodic_cpp_static" | grep -q 'NEEDED.*otlpmetric'; then
  fail "periodic_cpp_static (CMake, otlpmetric::otlpmetric_static) needs libotlpmetric.so"
fi

BUILD="$WORK/build"
OTEL_EXPORTER_OTLP_PROTOCOL=http/json run_example c-cmake "$BUILD/periodic_c" "$HTTP" "${ROUNDS[@]}"
OTEL_EXPORTER_OTLP_PROTOCOL=grpc run_example cpp-cmake "$BUILD/periodic_cpp" "$GRPC" "${ROUNDS[@]}"
OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta \
  run_example cpp-cmake-static "$BUILD/periodic_cpp_static" "$HTTP" "${ROUNDS[@]}"
grep -q 'counter DELTA' "$WORK/cpp-cmake-static.out" || fail "the temporality preference did not reach the example"
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="$HTTP" run_until_signal cpp-sigint INT "$BUILD/periodic_cpp" --interval-ms 200
run_until_signal c-sigterm TERM "$BUILD/periodic_c" "$HTTP" --interval-ms 200

# ---------------------------------------------------------------------------------
# 5. What the Collector received: at least 2 requests per program, each with the
#    counter, the histogram and the gauge.
# ---------------------------------------------------------------------------------
arrived() {  # service -> number of complete requests
  { grep -F "\"stringValue\":\"$1-$RUN_ID\"" "$OTELCOL_OUT" 2>/dev/null || true; } \
    | grep -F '"periodic.requests"' | grep -F '"periodic.request.duration"' | grep -cF '"periodic.queue.length"' || true
}
for name in "${SERVICES[@]}"; do
  n=0
  for _ in $(seq 50); do  # the file exporter flushes every 100 ms
    n="$(arrived "$name")"
    [ "$n" -ge 2 ] && break
    sleep 0.1
  done
  [ "$n" -ge 2 ] || fail "$name: the Collector received $n complete requests, wanted >= 2"
done

say "pkg-config and CMake (shared, static, relocated prefix) builds ran against the Collector: ${SERVICES[*]}"
say "ok in $(( $(date +%s) - T0 ))s ($OTLPMETRIC_PROFILE library)"
