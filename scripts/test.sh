#!/usr/bin/env bash
# Every test: formatting, clippy, the Rust tests (core, our receivers, the C tests compiled
# with strict warnings and run under valgrind, the real OpenTelemetry Collector interop),
# the Python bindings, the C++ wrapper and the install/packaging checks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
T0=$(date +%s)
step() { printf '\n== %s (+%ss)\n' "$*" "$(( $(date +%s) - T0 ))"; }

step "bootstrap"
scripts/bootstrap.sh
step "the OpenTelemetry Collector (built once per machine, cached)"
OTELCOL_BIN="$(scripts/otelcol.sh path)"
export OTELCOL_BIN

step "cargo fmt --check"
cargo fmt --check
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
step "cargo test (Rust, C, C++17 header, valgrind, Collector interop)"
cargo test
step "cargo build (the library the scripts below load from target/debug)"
cargo build --quiet
SUITES=(scripts/budgets.sh scripts/python-tests.sh scripts/cpp-tests.sh scripts/install-tests.sh scripts/package-tests.sh scripts/fuzz.sh)
# A suite that is missing or not executable is a failure, never a silent skip.
for suite in "${SUITES[@]}"; do
  [ -f "$suite" ] && [ -x "$suite" ] || { echo "test.sh: suite $suite is missing or not executable" >&2; exit 1; }
done
for suite in "${SUITES[@]}"; do
  step "$suite"
  "$suite"
done
step "all tests passed in $(( $(date +%s) - T0 ))s"
