#!/usr/bin/env bash
# Builds libotlpmetric and installs it for C, C++, pkg-config and CMake users:
#
#   PREFIX/lib/libotlpmetric.so.X.Y.Z, its links libotlpmetric.so.X (the SONAME) and
#   libotlpmetric.so (for linking), PREFIX/lib/libotlpmetric.a
#   PREFIX/include/otlpmetric.h, PREFIX/include/otlpmetric.hpp
#   PREFIX/lib/pkgconfig/otlpmetric.pc
#   PREFIX/lib/cmake/otlpmetric/otlpmetricConfig.cmake, otlpmetricConfigVersion.cmake
#
#   scripts/install.sh PREFIX            e.g. scripts/install.sh /usr/local (as root)
#
# Env: OTLPMETRIC_PROFILE=release (default: cargo build --release) or debug (reuses
# target/debug, much faster to build); DESTDIR (staged install: files go to
# $DESTDIR$PREFIX, paths inside them name $PREFIX).
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
DEST="${DESTDIR:-}$PREFIX"

PROFILE="${OTLPMETRIC_PROFILE:-release}"
case "$PROFILE" in
  release) cargo build --release --quiet; BUILT=target/release ;;
  debug) cargo build --quiet; BUILT=target/debug ;;
  *) echo "install.sh: OTLPMETRIC_PROFILE must be release or debug, not '$PROFILE'" >&2; exit 2 ;;
esac
for f in "$BUILT/libotlpmetric.so" "$BUILT/libotlpmetric.a" include/otlpmetric.h bindings/cpp/include/otlpmetric.hpp; do
  [ -f "$f" ] || { echo "install.sh: $f is missing" >&2; exit 1; }
done

# The version, from Cargo.toml's [package] section.
VERSION="$(sed -n '/^\[package\]/,/^\[/{s/^version *= *"\([^"]*\)".*/\1/p}' Cargo.toml | head -n 1)"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || { echo "install.sh: no version in Cargo.toml" >&2; exit 1; }
SIZEOF_VOID_P="$(( $(getconf LONG_BIT) / 8 ))"

install -d "$DEST/lib" "$DEST/include" "$DEST/lib/pkgconfig" "$DEST/lib/cmake/otlpmetric"
SONAME="libotlpmetric.so.${VERSION%%.*}"
install -m 0755 "$BUILT/libotlpmetric.so" "$DEST/lib/libotlpmetric.so.$VERSION"
ln -sfn "libotlpmetric.so.$VERSION" "$DEST/lib/$SONAME"
ln -sfn "$SONAME" "$DEST/lib/libotlpmetric.so"
install -m 0644 "$BUILT/libotlpmetric.a" "$DEST/lib/libotlpmetric.a"
install -m 0644 include/otlpmetric.h bindings/cpp/include/otlpmetric.hpp "$DEST/include/"

escape() { printf '%s' "$1" | sed 's/[\\&|]/\\&/g'; }  # for a sed replacement
sed -e "s|@PREFIX@|$(escape "$PREFIX")|g" -e "s|@VERSION@|$VERSION|g" pkgconfig/otlpmetric.pc.in \
  > "$DEST/lib/pkgconfig/otlpmetric.pc"
chmod 0644 "$DEST/lib/pkgconfig/otlpmetric.pc"
sed -e "s|@VERSION_MAJOR@|${VERSION%%.*}|g" cmake/otlpmetricConfig.cmake \
  > "$DEST/lib/cmake/otlpmetric/otlpmetricConfig.cmake"
chmod 0644 "$DEST/lib/cmake/otlpmetric/otlpmetricConfig.cmake"
sed -e "s|@VERSION@|$VERSION|g" -e "s|@VERSION_MAJOR@|${VERSION%%.*}|g" -e "s|@SIZEOF_VOID_P@|$SIZEOF_VOID_P|g" \
  cmake/otlpmetricConfigVersion.cmake.in > "$DEST/lib/cmake/otlpmetric/otlpmetricConfigVersion.cmake"
chmod 0644 "$DEST/lib/cmake/otlpmetric/otlpmetricConfigVersion.cmake"

# A system library directory needs the dynamic linker's cache refreshed.
if [ -z "${DESTDIR:-}" ] && [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then
  case "$PREFIX" in /usr | /usr/local) ldconfig ;; esac
fi

echo "installed otlpmetric $VERSION ($PROFILE) into $DEST"
