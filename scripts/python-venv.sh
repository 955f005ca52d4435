#!/usr/bin/env bash
# Creates (or reuses) the virtualenv at ${OTLPMETRIC_VENV:-$HOME/.cache/otlpmetric/venv}
# with ${PYTHON:-python3}, installs the test and example dependencies and the package from
# the wheel scripts/package.sh builds (what a user installs: the library and the header
# inside), and prints the venv's python on stdout. Used by scripts/python-tests.sh and
# scripts/demo.sh.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

python="${PYTHON:-python3}"
venv="${OTLPMETRIC_VENV:-$HOME/.cache/otlpmetric/venv}"

# Runs at the same time (a test run beside another) share the venv: one at a time
# makes and fills it.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$venv"
    if ! "$python" -m venv "$venv"; then
        echo "python-venv: '$python -m venv' failed (on Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
vpython="$venv/bin/python"
pip=("$vpython" -m pip --quiet --disable-pip-version-check --no-input)

# Test dependencies, pinned loosely.
"${pip[@]}" install \
    "pytest>=7,<10" \
    "cffi>=1.15,<3" \
    "opentelemetry-sdk>=1.20,<2" \
    "opentelemetry-proto>=1.20,<2" \
    "opentelemetry-exporter-otlp-proto-common>=1.20,<2" \
    "grpcio>=1.50,<2" >&2

wheel="$(scripts/package.sh wheel)"
"${pip[@]}" install --no-deps --force-reinstall "$wheel" >&2

echo "$vpython"
