#!/usr/bin/env bash
# Embeddability budgets of the release library: stripped size under 8 MB, only
# otlpmetric_* symbols exported, dlopen next to OpenSSL, no thread without an exporter,
# idle RSS of one exporter under 4 MiB. Prints the figures.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --release --quiet
LIB="$TARGET/release/libotlpmetric.so"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/otlpmetric-budgets.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

cp "$LIB" "$WORK/libotlpmetric.so"
strip "$WORK/libotlpmetric.so"
size=$(stat -c %s "$WORK/libotlpmetric.so")
echo "stripped libotlpmetric.so: $size bytes (budget 8000000)"
[ "$size" -lt 8000000 ] || { echo "OVER BUDGET: size"; exit 1; }

exported=$(nm -D --defined-only "$LIB" | awk '{print $3}' | sort)
others=$(echo "$exported" | grep -v '^otlpmetric_' || true)
echo "exported symbols: $(echo "$exported" | wc -l), all otlpmetric_*: $([ -z "$others" ] && echo yes || echo no)"
[ -z "$others" ] || { echo "OVER BUDGET: other exported symbols:"; echo "$others"; exit 1; }

cc -std=c99 -Wall -Wextra -Werror -pedantic -I include tests/c/budgets.c -o "$WORK/budgets" -ldl
python3 - "$WORK" <<'PY' &
import http.server, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + "/port", "w").write(str(s.server_address[1]))
threading.Timer(60, s.shutdown).start()
s.serve_forever()
PY
receiver=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
set +e
"$WORK/budgets" "$WORK/libotlpmetric.so" "http://127.0.0.1:$(cat "$WORK/port")/v1/metrics"
status=$?
set -e
kill "$receiver" 2>/dev/null || true
exit $status
