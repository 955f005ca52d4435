#!/usr/bin/env bash
# Builds the library in target/<profile> (default debug) for programs linked in the
# checkout, and gives it the link its SONAME names (libotlpmetric.so.<major> ->
# libotlpmetric.so), which an installed library gets from scripts/install.sh.
# Prints the directory.
#   scripts/dev-library.sh [debug|release]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
case "${1:-debug}" in
  debug) cargo build --quiet; DIR="$ROOT/target/debug" ;;
  release) cargo build --release --quiet; DIR="$ROOT/target/release" ;;
  *) echo "usage: scripts/dev-library.sh [debug|release]" >&2; exit 2 ;;
esac
soname="$(readelf -d "$DIR/libotlpmetric.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
[ -n "$soname" ] || { echo "dev-library: $DIR/libotlpmetric.so has no SONAME" >&2; exit 1; }
ln -sfn libotlpmetric.so "$DIR/$soname"
echo "$DIR"
