#!/usr/bin/env bash
# Fuzzing: builds the cargo-fuzz targets in fuzz/ (libFuzzer + AddressSanitizer) and runs
# each for a bounded time from a scratch copy of its seed corpus (fuzz/corpus/<target>/
# is never grown). Prints per target the executions run and whether it crashed; exits
# non-zero on any crash, with the reproducer left in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh                 # the short pass run by scripts/test.sh (~110 s in all)
#   scripts/fuzz.sh 3600            # the long run: an hour per target
#   scripts/fuzz.sh 600 split       # some targets only
#
# Environment: FUZZ_SANITIZER=address|none (default address), FUZZ_JOBS=N (parallel
# libFuzzer jobs per target, default 1), FUZZ_KEEP_CORPUS=DIR (keep the grown corpora
# there). Needs no nightly toolchain: stable rustc with RUSTC_BOOTSTRAP=1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CARGO_FUZZ_VERSION=0.13.2
ALL_TARGETS=(validate_differential json_input json_output split record)
SHORT_TOTAL=100 # seconds of fuzzing in the default pass, shared by the targets

if [ $# -ge 1 ] && [ -n "$1" ]; then
  case "$1" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
  esac
  PER_TARGET="$1"
  shift
else
  PER_TARGET=""
fi
if [ $# -ge 1 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
if [ -z "$PER_TARGET" ]; then PER_TARGET=$(( SHORT_TOTAL / ${#TARGETS[@]} )); fi
SANITIZER="${FUZZ_SANITIZER:-address}"
JOBS="${FUZZ_JOBS:-1}"

# ---- tools ---------------------------------------------------------------------------
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v cargo >/dev/null; then
  echo "fuzz.sh: cargo is missing (scripts/bootstrap.sh installs Rust)" >&2
  exit 1
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION (once per machine)"
  log="$(mktemp)"
  if ! cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
  rm -f "$log"
fi
# libfuzzer-sys compiles libFuzzer (C++17) with the system compiler: g++ is fine.
if [ -z "${CXX:-}" ]; then
  for cxx in c++ g++ clang++; do
    if command -v "$cxx" >/dev/null; then export CXX="$cxx"; break; fi
  done
  if [ -z "${CXX:-}" ]; then
    echo "fuzz.sh: installing g++"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++) >/dev/null
    export CXX=g++
  fi
fi
# cargo fuzz passes -Z flags (sanitizer, coverage instrumentation): allowed on the stable
# toolchain with RUSTC_BOOTSTRAP=1, so no nightly toolchain has to be downloaded.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
HOST="$(rustc -vV | sed -n 's/^host: //p')"
# The fuzz crate is a workspace of its own: its target dir is fuzz/target.
unset CARGO_TARGET_DIR
BIN_DIR="$ROOT/fuzz/target/$HOST/release"

# ---- build ---------------------------------------------------------------------------
T0=$(date +%s)
log="$(mktemp)"
if ! cargo fuzz build --fuzz-dir fuzz -O --debug-assertions --sanitizer "$SANITIZER" >"$log" 2>&1; then
  cat "$log" >&2
  echo "fuzz.sh: the build failed" >&2
  exit 1
fi
rm -f "$log"
echo "fuzz.sh: built the fuzz targets (sanitizer $SANITIZER) in $(( $(date +%s) - T0 ))s"

# ---- run -----------------------------------------------------------------------------
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/otlpmetric-fuzz.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
failed=0
total_runs=0
for t in "${TARGETS[@]}"; do
  bin="$BIN_DIR/$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz.sh: no such target: $t (have: ${ALL_TARGETS[*]})" >&2
    exit 2
  fi
  corpus="$SCRATCH/corpus/$t"
  artifacts="$ROOT/fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  if [ -d "fuzz/corpus/$t" ]; then cp fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true; fi
  seeds=$(find "$corpus" -type f | wc -l)
  before=$(find "$artifacts" -type f | wc -l)
  out="$SCRATCH/$t.log"
  marker="$SCRATCH/$t.start"
  touch "$marker"
  args=(-max_total_time="$PER_TARGET" -rss_limit_mb=2048 -max_len=65536 -timeout=60
        -print_final_stats=1 -artifact_prefix="$artifacts/")
  start=$(date +%s)
  set +e
  if [ "$JOBS" -gt 1 ]; then
    # -fork keeps going over crashes in one job and the stats of all jobs add up.
    "$bin" "$corpus" "${args[@]}" -fork="$JOBS" -ignore_crashes=1 >"$out" 2>&1
  else
    "$bin" "$corpus" "${args[@]}" >"$out" 2>&1
  fi
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$out" | tail -1)
  [ -n "$runs" ] || runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
  [ -n "$runs" ] || runs=0
  # -fork: the last "#N ... exec/s" status line counts all jobs' executions.
  if [ "$JOBS" -gt 1 ]; then
    fr=$(sed -n 's/^#\([0-9]*\):* .*/\1/p' "$out" | tail -1)
    [ -n "$fr" ] && runs="$fr"
  fi
  total_runs=$(( total_runs + runs ))
  grown=$(find "$corpus" -type f | wc -l)
  after=$(find "$artifacts" -type f | wc -l)
  if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ]; then
    printf 'fuzz %-22s %10s executions in %4ss (%s/s), corpus %s -> %s, no crash\n' \
      "$t" "$runs" "$secs" "$(( runs / (secs > 0 ? secs : 1) ))" "$seeds" "$grown"
  else
    failed=1
    printf 'fuzz %-22s %10s executions in %4ss: CRASH (libFuzzer exit %s)\n' "$t" "$runs" "$secs" "$rc"
    first="$(find "$artifacts" -type f -newer "$marker" | head -1)"
    if [ -n "$first" ]; then
      # Rerun the first reproducer alone: with -fork the panic is not in the main log.
      timeout 60 "$bin" "$first" >"$out.first" 2>&1 || true
    else
      cp "$out" "$out.first"
    fi
    { grep -m1 -A4 "panicked at" "$out.first" \
        || grep -m1 -A12 "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|ERROR: libFuzzer" "$out.first" \
        || tail -20 "$out.first"; } | grep -v "^stack backtrace:" | cut -c1-400 | sed 's/^/    /'
    for a in $(find "$artifacts" -type f -newer "$marker" | head -5); do
      echo "    reproducer: $a ($(wc -c <"$a") bytes): $(head -c 96 "$a" | od -An -tx1 | tr -d ' \n')"
      echo "    rerun:      $bin $a"
    done
  fi
  if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
    mkdir -p "$FUZZ_KEEP_CORPUS/$t"
    cp "$corpus"/* "$FUZZ_KEEP_CORPUS/$t"/ 2>/dev/null || true
  fi
done

echo "fuzz.sh: ${#TARGETS[@]} target(s), $total_runs executions, $(( $(date +%s) - T0 ))s in all"
if [ "$failed" -ne 0 ]; then
  echo "fuzz.sh: crashes found (reproducers in fuzz/artifacts/)" >&2
  exit 1
fi
