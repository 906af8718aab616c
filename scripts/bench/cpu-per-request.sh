#!/usr/bin/env bash
# CPU time the gateway process spends per proxied request (all its threads,
# the request-log writer and SQLite included), for four telemetry variants
# side by side: everything on, request log off, metrics off, telemetry off.
# Steadier than requests/s for judging a change to the hot path, because it
# does not depend on what else the two cores are doing.
#
# Usage: scripts/bench/cpu-per-request.sh [seconds per cell, 5] [rounds, 2]
# STREAM=1 asks for streamed answers (20 events, as the suite streams)
# instead of JSON. Each cell also shows the mock upstream's CPU time per
# request: telemetry makes the upstream send the usage chunk, work that the
# suite's shared server core counts against the gateway.
# Needs the release binaries (just bench builds them; BIN=dir picks others,
# e.g. an older build to compare with) and wrk. Ends with each variant's
# median over the rounds: on a noisy machine single cells vary by ±10 %.
# BASE_BIN=dir adds that build's `full` and `off` as `base-full` and
# `base-off`, interleaved with the rest (before/after a change, same run).
# PIN=1 runs the servers on CPU 0 and wrk on CPU 1, as the suite does: the
# telemetry's background writers then compete with the proxy for one core.
# CONNECTIONS=n sets wrk's connections (64; 1 shows the cost per request
# when nothing is batched, as target 2's latency sees it).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/admin.sh
source scripts/lib/admin.sh
DURATION=${1:-5}
ROUNDS=${2:-2}
BIN=${BIN:-target/release}
WORK=$(mktemp -d)
MOCK_PORT=18181
SERVERS=() LOAD=()
if [[ ${PIN:-0} == 1 ]]; then SERVERS=(taskset -c 0) LOAD=(taskset -c 1); fi
declare -A SWITCH
for v in "${!TELEMETRY_VARIANTS[@]}"; do SWITCH[$v]=${TELEMETRY_VARIANTS[$v]}; done
declare -A PORT=([full]=18191 [nolog]=18192 [nometrics]=18193 [off]=18194)
declare -A PID
declare -A EXE=([full]="$BIN" [nolog]="$BIN" [nometrics]="$BIN" [off]="$BIN")
VARIANTS=(full nolog nometrics off)
if [[ -n ${BASE_BIN:-} ]]; then
  SWITCH[base-full]="" PORT[base-full]=18195 EXE[base-full]=$BASE_BIN
  SWITCH[base-off]="TELEMETRY_ENABLED=false" PORT[base-off]=18196 EXE[base-off]=$BASE_BIN
  VARIANTS+=(base-full base-off)
fi
"${SERVERS[@]}" "$BIN/mock-upstream" "127.0.0.1:$MOCK_PORT" 1 2>"$WORK/mock.log" &
MOCK=$!
for v in "${VARIANTS[@]}"; do
  # shellcheck disable=SC2086
  env ${SWITCH[$v]} BACKEND_PORT="${PORT[$v]}" BIND_ADDRESS=127.0.0.1 DATABASE_PATH="$WORK/$v/db.sqlite" \
    ADMIN_PASSWORD=bench GLOBAL_PROXY_KEYS=ck LOG_LEVEL=warn "${SERVERS[@]}" "${EXE[$v]}/gateway" 2>"$WORK/$v.log" >/dev/null &
  PID[$v]=$!
done
trap 'kill "${PID[@]}" "$MOCK" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
for v in "${VARIANTS[@]}"; do
  wait_for "http://127.0.0.1:${PORT[$v]}/healthz" "http://127.0.0.1:$MOCK_PORT/v1/models"
  create_bench_service "${PORT[$v]}" "$MOCK_PORT"
done
cat >"$WORK/chat.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini",STREAM"messages":[{"role":"user","content":"Say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ck"
LUA
QUERY=
if [[ ${STREAM:-0} == 1 ]]; then
  sed -i 's/STREAM/"stream":true,/' "$WORK/chat.lua"
  QUERY='?events=20'
else
  sed -i 's/STREAM//' "$WORK/chat.lua"
fi
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# CPU 0's idle and total ticks: with PIN=1, idle time there is time the
# servers spent waiting rather than working.
cpu0() { awk '$1 == "cpu0" { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
HZ=$(getconf CLK_TCK)
CONNECTIONS=${CONNECTIONS:-64}
THREADS=$((CONNECTIONS < 2 ? 1 : 2))
for round in $(seq 1 "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
    before=$(ticks "${PID[$v]}") mock_before=$(ticks "$MOCK")
    read -r idle0 total0 < <(cpu0)
    out=$("${LOAD[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/chat.lua" "http://127.0.0.1:${PORT[$v]}/llm/bench/v1/chat/completions$QUERY")
    read -r idle1 total1 < <(cpu0)
    sleep 1.2 # the request-log writer's last flush of this cell
    after=$(ticks "${PID[$v]}") mock_after=$(ticks "$MOCK")
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/Requests\/sec/ { printf "%d", $2 }')
    awk -v r="$round" -v v="$v" -v rps="$rps" -v t=$((after - before)) -v m=$((mock_after - mock_before)) -v hz="$HZ" -v n="$requests" \
      -v idle=$((idle1 - idle0)) -v total=$((total1 - total0)) \
      'BEGIN { printf "round %d  %-10s %7d req/s  %6.2f us CPU/request  (mock %6.2f)  cpu0 idle %4.1f %%\n", r, v, rps,
        t / hz * 1e6 / n, m / hz * 1e6 / n, total ? 100 * idle / total : 0 }' |
      tee -a "$WORK/cells"
  done
done
echo "median over $ROUNDS rounds:"
for v in "${VARIANTS[@]}"; do
  awk -v v="$v" '$3 == v { print $6 }' "$WORK/cells" | sort -n |
    awk -v v="$v" '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
      printf "  %-10s %6.2f us CPU/request\n", v, m }'
done
for v in full off; do
  echo "$v after the run: $(grep -E 'RssAnon|RssFile' "/proc/${PID[$v]}/status" | tr -s ' \t\n' ' ')"
done
