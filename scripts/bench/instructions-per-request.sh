#!/usr/bin/env bash
# Instructions the gateway executes per proxied request, counted by
# callgrind over every thread of the process (the request-log writer and
# SQLite included), for the telemetry variants side by side: everything on,
# request log off, metrics off, telemetry off. Unlike requests/s or CPU time
# on a shared two-core machine, the counts repeat to within a fraction of a
# percent, so they show what a change to the hot path costs or saves. They
# leave out the kernel (sockets, file writes).
#
# valgrind counts every byte of a `rep movsb`/`rep stosb` as an instruction,
# so libc's memset/memcpy are shown apart: on hardware those run at tens of
# bytes per cycle.
#
# Usage: scripts/bench/instructions-per-request.sh [requests, 2000]
# STREAM=1 asks for streamed answers (20 events, as the suite streams) instead of JSON.
# FULL=1 has the mock answer as OpenAI does today (usage details, service tier,
# fingerprint; `"usage": null` in every chunk) instead of its minimal answers.
# SIM=1 also simulates the caches and the branch predictor (callgrind's
# --cache-sim and --branch-sim; a few times slower) and prints each variant's
# first-level cache misses and mispredicted branches per request: I1mr
# (instruction fetches), D1mr and D1mw (data reads and writes), Bcm
# (conditional branches), Bim (indirect ones). Valgrind's last-level cache is
# left out: it models the host's as direct-mapped, so its misses are
# conflicts the hardware does not have.
# Needs the release binaries (just bench builds them; BIN=dir picks others),
# valgrind (installed from apt when missing) and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/admin.sh
source scripts/lib/admin.sh
REQUESTS=${1:-2000}
BIN=${BIN:-target/release}
if ! command -v valgrind >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
SIM_ARGS=()
if [[ ${SIM:-0} == 1 ]]; then SIM_ARGS=(--cache-sim=yes --branch-sim=yes); fi
WORK=$(mktemp -d)
MOCK_PORT=18381 PORT=18391
"$BIN/mock-upstream" "127.0.0.1:$MOCK_PORT" 1 2>"$WORK/mock.log" &
MOCK=$!
trap 'kill "$MOCK" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

cat >"$WORK/client.py" <<'PY'
import http.client, json, sys
port, count, stream, full = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}], "stream": stream})
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for _ in range(count):
    query = "&".join((["events=20"] if stream else []) + (["full=1"] if full else []))
    connection.request("POST", "/llm/bench/v1/chat/completions" + ("?" + query if query else ""), body,
                       {"Content-Type": "application/json", "Authorization": "Bearer ck"})
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"status {response.status}")
PY

for v in full nolog nometrics off; do
  # shellcheck disable=SC2086
  env ${TELEMETRY_VARIANTS[$v]} BACKEND_PORT=$PORT BIND_ADDRESS=127.0.0.1 DATABASE_PATH="$WORK/$v.sqlite" \
    ADMIN_PASSWORD=bench GLOBAL_PROXY_KEYS=ck LOG_LEVEL=warn \
    valgrind --tool=callgrind "${SIM_ARGS[@]}" --callgrind-out-file="$WORK/$v.out" "$BIN/gateway" >/dev/null 2>"$WORK/$v.log" &
  GATEWAY=$!
  for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  create_bench_service "$PORT" "$MOCK_PORT"
  python3 "$WORK/client.py" $PORT 200 "${STREAM:-0}" "${FULL:-0}" # warm-up: connections, pools, first flushes
  sleep 2
  callgrind_control -z "$GATEWAY" >/dev/null 2>&1
  python3 "$WORK/client.py" $PORT "$REQUESTS" "${STREAM:-0}" "${FULL:-0}"
  sleep 2.5 # the request-log writer's flush of these requests
  callgrind_control -d "$GATEWAY" >/dev/null 2>&1
  kill -INT "$GATEWAY"
  wait "$GATEWAY" 2>/dev/null || true
  total=$(awk '/^totals:/ { print $2 }' "$WORK/$v.out.1")
  rep=$(callgrind_annotate --inclusive=no --threshold=100 --auto=no "$WORK/$v.out.1" 2>/dev/null |
    awk '/(memset|memmove)-vec-unaligned-erms/ { gsub(",", "", $1); s += $1 } END { print s + 0 }')
  awk -v v="$v" -v t="$total" -v r="$rep" -v n="$REQUESTS" 'BEGIN {
    printf "%-10s %7.0f instructions/request  (%7.0f without libc memset/memcpy)\n", v, t / n, (t - r) / n }'
  if [[ ${SIM:-0} == 1 ]]; then
    awk -v v="$v" -v n="$REQUESTS" '/^events:/ { for (i = 2; i <= NF; i++) name[i] = $i }
      /^totals:/ { line = sprintf("%-10s", v)
        for (i = 2; i <= NF; i++) if (name[i] ~ /^(I1mr|D1mr|D1mw|Bcm|Bim)$/) line = line sprintf("  %s %6.1f", name[i], $i / n)
        print line "  per request" }' "$WORK/$v.out.1"
  fi
done
