#!/usr/bin/env bash
# Runs the Python bindings' tests (bindings/python/tests) against the native library.
#
#   scripts/python-tests.sh [path/to/libotlpmetric.so] [extra pytest arguments...]
#
# The library is the first argument, else $OTLPMETRIC_LIBRARY, else
# target/debug/libotlpmetric.so (built with `cargo build` when missing and cargo is there).
# A virtualenv at ${OTLPMETRIC_VENV:-$HOME/.cache/otlpmetric/venv} is created with
# ${PYTHON:-python3} (or reused); the package is installed into it from a copy of
# bindings/python (not editable: this checks the packaging), with the test dependencies.
# Exits with pytest's status; "no tests collected" (5) counts as a failure.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

library="${OTLPMETRIC_LIBRARY:-$repo/target/debug/libotlpmetric.so}"
if [[ $# -gt 0 && "$1" != -* ]]; then
    library="$1"
    shift
fi
case "$library" in /*) ;; *) library="$repo/$library" ;; esac

if [[ ! -f "$library" ]]; then
    if [[ "$library" == "$repo/target/debug/libotlpmetric.so" ]] && command -v cargo >/dev/null; then
        echo "python-tests: $library is missing; running cargo build" >&2
        cargo build --quiet
    fi
    if [[ ! -f "$library" ]]; then
        echo "python-tests: no native library at $library (build it with cargo build)" >&2
        exit 1
    fi
fi
if [[ -n "$(find "$repo/src" -name '*.rs' -newer "$library" -print -quit 2>/dev/null)" ]]; then
    echo "python-tests: warning: $library is older than src/ (run cargo build)" >&2
fi

header="${OTLPMETRIC_HEADER:-$repo/include/otlpmetric.h}"
python="${PYTHON:-python3}"
venv="${OTLPMETRIC_VENV:-$HOME/.cache/otlpmetric/venv}"

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! "$python" -m venv "$venv"; then
        echo "python-tests: '$python -m venv' failed (on Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
vpython="$venv/bin/python"
pip=("$vpython" -m pip --quiet --disable-pip-version-check --no-input)

# Test dependencies, pinned loosely. setuptools is there so that the package can be
# built without an isolated build environment (no index access once this is satisfied).
"${pip[@]}" install \
    "setuptools>=70.1" \
    "pytest>=7,<10" \
    "cffi>=1.15,<3" \
    "opentelemetry-sdk>=1.20,<2" \
    "opentelemetry-proto>=1.20,<2" \
    "opentelemetry-exporter-otlp-proto-common>=1.20,<2"

# Install the package from a copy of its sources, so that the build leaves nothing in
# the work tree and nothing outside bindings/python can leak into it.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/otlpmetric"
cp -R bindings/python/pyproject.toml bindings/python/README.md bindings/python/src "$work/otlpmetric/"
find "$work/otlpmetric" -name '__pycache__' -prune -exec rm -rf {} +
"${pip[@]}" install --no-build-isolation --no-deps --force-reinstall "$work/otlpmetric"

# The installed package, not bindings/python/src, must be what the tests import.
location="$(cd / && "$vpython" -c 'import otlpmetric, os; print(os.path.dirname(otlpmetric.__file__))')"
case "$location" in
    "$repo"/*) echo "python-tests: otlpmetric imported from the work tree ($location)" >&2; exit 1 ;;
esac

status=0
OTLPMETRIC_LIBRARY="$library" OTLPMETRIC_HEADER="$header" \
    "$vpython" -m pytest -q -p no:cacheprovider bindings/python/tests "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "python-tests: pytest collected no tests" >&2
    exit 1
fi
exit $status
