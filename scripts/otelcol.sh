#!/usr/bin/env bash
# The real OpenTelemetry Collector (otelcol-mini, built from the official modules by
# tools/otelcol/build.sh) for the demo and the interop tests. Built once per machine into
# $OTELCOL_HOME (default ~/.cache/otelcol-mini) and reused.
#   scripts/otelcol.sh path    # builds if needed, prints the binary's path
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OTELCOL_HOME="${OTELCOL_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/otelcol-mini}"
BIN="$OTELCOL_HOME/otelcol-mini"
STAMP="$OTELCOL_HOME/recipe.sha256"
recipe="$(cat "$ROOT/tools/otelcol/build.sh" "$ROOT/tools/otelcol/main.go" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$BIN" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$recipe" ]; then
  echo "otelcol: building the Collector once for this machine (about 2 minutes)..." >&2
  "$ROOT/tools/otelcol/build.sh" >&2
  echo "$recipe" > "$STAMP"
fi
case "${1:-path}" in
  path) echo "$BIN" ;;
  *) echo "usage: scripts/otelcol.sh [path]" >&2; exit 2 ;;
esac
