#!/usr/bin/env bash
# Issue 9, target 7: start-up, change visibility and per-request cost with
# 10,000 services × 10 keys against 10 services (scripts/bench/scale.py).
# Needs wrk and the release binaries; writes the SCALE section of
# docs/benchmarks.md (BENCH_WRITE=0 to only print).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet -p gateway --features enterprise
cargo build --release --quiet -p testkit --bins
exec python3 scripts/bench/scale.py
