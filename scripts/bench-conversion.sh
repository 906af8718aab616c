#!/usr/bin/env bash
# Conversion speed (criterion, one core): non-streamed conversion of a ~2 KB chat
# request and its answer, stream events per second, and the gateway's own work
# before the first token (p50/p99). Writes docs/benchmarks.md between the
# CONVERSION markers (BENCH_WRITE=0 to only print).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
# taskset keeps the measurement on one core, as the targets are stated.
taskset -c 0 cargo bench -p converters --bench conversion -- --warm-up-time 2 --measurement-time 5 | tee "$OUT"
TTFT=$(grep -o 'time_to_first_token_overhead_us.*' "$OUT")
MACHINE="$(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%d)"
python3 - "$TTFT" "$MACHINE" <<'PY'
import json, pathlib, sys
ttft, machine = sys.argv[1], sys.argv[2]
def mean_ns(path):
    return json.loads(pathlib.Path(path).read_text())["mean"]["point_estimate"]
base = pathlib.Path("target/criterion")
request = next(base.glob("non_streamed/*/*/new/estimates.json"))
stream = base / "stream/anthropic_to_openai_events/new/estimates.json"
req_ns, stream_ns = mean_ns(request), mean_ns(stream)
p = dict(kv.split("=") for kv in ttft.split()[1:])
table = f"""Machine: {machine}; one core (`taskset -c 0`).

| measurement | result | target |
|---|---|---|
| non-streamed: ~2 KB OpenAI request → Anthropic, and the answer back | {1e9 / req_ns:,.0f} conversions/s ({req_ns / 1000:.1f} µs each) | ≥ 20,000/s |
| stream: Anthropic events → OpenAI chunks | {1000 * 1e9 / stream_ns:,.0f} events/s | ≥ 50,000/s |
| time to first token added by conversion | p50 {p['p50']} µs, p99 {p['p99']} µs, max {p['max']} µs | p99 ≤ 1 ms |
"""
print(table)
import os
if os.environ.get("BENCH_WRITE", "1") == "1":
    doc = pathlib.Path("docs/benchmarks.md")
    text = doc.read_text()
    start, end = "<!-- CONVERSION:START -->", "<!-- CONVERSION:END -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(head + start + "\n" + table + end + tail)
PY
