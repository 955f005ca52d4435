#!/usr/bin/env bash
# Builds libotlpmetric and installs it for C, C++, pkg-config and CMake users, with the
# conventional tools: cargo-c (`cargo cinstall`) installs the library, the headers and the
# pkg-config file; CMake installs its package (cmake/CMakeLists.txt):
#
#   PREFIX/lib/libotlpmetric.so.X.Y.Z, its links libotlpmetric.so.X (the SONAME) and
#   libotlpmetric.so (for linking), PREFIX/lib/libotlpmetric.a
#   PREFIX/include/otlpmetric.h, PREFIX/include/otlpmetric.hpp
#   PREFIX/lib/pkgconfig/otlpmetric.pc
#   PREFIX/lib/cmake/otlpmetric/otlpmetricConfig.cmake, otlpmetricConfigVersion.cmake
#
#   scripts/install.sh PREFIX            e.g. scripts/install.sh /usr/local (as root)
#
# Env: OTLPMETRIC_PROFILE=release (default) or debug (much faster to build); DESTDIR
# (staged install: files go to $DESTDIR$PREFIX, paths inside them name $PREFIX).
# cargo-c is installed with `cargo install` when missing (scripts/bootstrap.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALLER_DIR="$PWD"
cd "$ROOT"

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: scripts/install.sh PREFIX   (e.g. /usr/local; env OTLPMETRIC_PROFILE=release|debug, DESTDIR)" >&2
  exit 2
fi
case "$1" in
  /*) PREFIX="$1" ;;
  *) PREFIX="$CALLER_DIR/$1" ;;  # relative to the caller's directory
esac
PREFIX="${PREFIX%/}"
[ -n "$PREFIX" ] || PREFIX=/

PROFILE="${OTLPMETRIC_PROFILE:-release}"
case "$PROFILE" in
  release) PROFILE_ARGS=(--release) ;;
  debug) PROFILE_ARGS=(--profile dev) ;;
  *) echo "install.sh: OTLPMETRIC_PROFILE must be release or debug, not '$PROFILE'" >&2; exit 2 ;;
esac
scripts/bootstrap.sh cargo-c

DESTDIR_ARGS=()
[ -z "${DESTDIR:-}" ] || DESTDIR_ARGS=(--destdir "$DESTDIR")
# --libdir: lib, not Debian's multiarch default, where the CMake package looks.
# --target-dir of its own: cargo-c embeds another cargo version, and two cargo versions
# sharing target/ rebuild each other's build scripts and proc-macros (and so everything).
cargo cinstall "${PROFILE_ARGS[@]}" --prefix "$PREFIX" --libdir lib "${DESTDIR_ARGS[@]}" \
  --target-dir "$ROOT/target/cargo-c"

CMAKE_BUILD="$ROOT/target/cmake-package"
cmake -S cmake -B "$CMAKE_BUILD" -DCMAKE_INSTALL_PREFIX="$PREFIX" >/dev/null
cmake --install "$CMAKE_BUILD" >/dev/null  # DESTDIR from the environment

# A system library directory needs the dynamic linker's cache refreshed.
if [ -z "${DESTDIR:-}" ] && [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then
  case "$PREFIX" in /usr | /usr/local) ldconfig ;; esac
fi

echo "installed otlpmetric ($PROFILE) into ${DESTDIR:-}$PREFIX"
