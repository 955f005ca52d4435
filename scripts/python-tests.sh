#!/usr/bin/env bash
# Runs the Python bindings' tests (bindings/python/tests) against the native library.
#
#   scripts/python-tests.sh [path/to/libotlpmetric.so] [extra pytest arguments...]
#
# The library is the first argument, else $OTLPMETRIC_LIBRARY, else
# target/debug/libotlpmetric.so (built with `cargo build` when missing and cargo is there).
# A virtualenv at ${OTLPMETRIC_VENV:-$HOME/.cache/otlpmetric/venv} is created with
# ${PYTHON:-python3} (or reused); the package is installed into it from the wheel
# scripts/package.sh builds, with the test dependencies (scripts/python-venv.sh).
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
vpython="$(scripts/python-venv.sh)"

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
