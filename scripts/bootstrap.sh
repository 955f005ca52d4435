#!/usr/bin/env bash
# Installs what the demo and the tests need, when it is missing: Rust (rustup, with
# rustfmt and clippy), a C/C++ compiler, Python 3 with venv, valgrind, pkg-config, cmake,
# openssl, tinyproxy (the real HTTP proxy of the proxy tests), the gRPC and protobuf
# libraries the budget test loads next to ours, and cargo-c (scripts/install.sh installs the
# C library with it).
# Idempotent and quiet when everything is there.
#   scripts/bootstrap.sh           everything
#   scripts/bootstrap.sh cargo-c   only cargo-c
set -euo pipefail

# cargo-c from crates.io: Debian's package is too old for our lock file. This version is
# the newest that builds with the toolchain rustup installs here (rustc 1.95); --locked
# builds it with the dependencies it was released with.
CARGO_C_VERSION=0.10.24
install_cargo_c() {
  local have
  # Without cargo-c the command fails: that is an empty version, not an error.
  have="$( (cargo cinstall --version 2>/dev/null || true) | sed -n 's/^cargo-c \([0-9][0-9.]*\).*/\1/p' | head -n 1)"
  case "$have" in
    0.10.* | 0.1[1-9].* | [1-9]*) return 0 ;;
  esac
  echo "bootstrap: installing cargo-c $CARGO_C_VERSION with cargo install (takes several minutes, once)" >&2
  cargo install --quiet --locked --version "$CARGO_C_VERSION" cargo-c >&2
}
if [ "${1:-}" = cargo-c ]; then
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  install_cargo_c
  exit 0
fi

need_apt=()
for tool in gcc:gcc g++:g++ make:make pkg-config:pkg-config cmake:cmake valgrind:valgrind \
            openssl:openssl python3:python3 curl:curl tinyproxy:tinyproxy; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt+=("${tool#*:}")
done
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# A host's protobuf and gRPC libraries, which the budget test loads next to ours.
libraries=$(PATH="$PATH:/sbin:/usr/sbin" ldconfig -p 2>/dev/null || true)
grep -q 'libgrpc++\.so\.' <<<"$libraries" || need_apt+=(libgrpc++-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${need_apt[*]} with apt-get" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2
  else
    echo "bootstrap: please install: ${need_apt[*]}" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "bootstrap: installing Rust with rustup" >&2
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy >&2
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if command -v rustup >/dev/null 2>&1; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" \
      || rustup component add "$component" >&2
  done
fi
install_cargo_c
