#!/usr/bin/env bash
# `just bench`: the gateway (lightweight and enterprise, telemetry on and off,
# same-format and converting) against nginx as a plain reverse proxy and
# against the mock upstream directly, interleaved in one run; servers pinned
# to CPU 0, load on CPU 1. The measuring is scripts/bench/suite.py; this
# script installs what it needs and builds the release binaries.
#
# Environment: BENCH_DURATION (seconds per cell, default 10), BENCH_ROUNDS
# (default 2), BENCH_TELEMETRY_LAUNCHES (launches of the telemetry on and off
# gateways, default 10), BENCH_TELEMETRY_PAIRS (paired 2-second on/off cells per
# mode and launch, default 8), BENCH_WRITE=0 to only print (otherwise the tables go into
# docs/benchmarks.md and the plots into docs/bench/).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  # Installed for the bench only: keep Debian's service scripts from starting nginx on port 80.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
VENV=target/bench-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q matplotlib==3.10.7
fi
# The lightweight targets run the default build (what `cargo run --release` runs: its
# memory is target 6's), the enterprise target the build with both backends.
cargo build --release --quiet -p gateway
cp target/release/gateway target/release/gateway-lightweight
cargo build --release --quiet -p gateway --features enterprise
cargo build --release --quiet -p testkit --bins
# 1,000 open streams through the gateway need a few thousand descriptors.
[ "$(ulimit -n)" -ge 4096 ] || ulimit -n 65536
exec "$VENV/bin/python" scripts/bench/suite.py
