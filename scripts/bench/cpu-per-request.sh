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
# suite's shared server core counts against the gateway. FULL=1 has the mock
# answer as OpenAI does today (see instructions-per-request.sh).
# Needs the release binaries (just bench builds them; BIN=dir picks others,
# e.g. an older build to compare with) and wrk. Ends with each variant's
# median over the rounds: on a noisy machine single cells vary by ±10 %.
# BASE_BIN=dir adds that build's `full` and `off` as `base-full` and
# `base-off`, interleaved with the rest (before/after a change, same run).
# PIN=1 runs the servers on CPU 0 and wrk on CPU 1, as the suite does: the
# telemetry's background writers then compete with the proxy for one core.
# CONNECTIONS=n sets wrk's connections (64; 1 shows the cost per request
# when nothing is batched, as target 2's latency sees it).
# TOGETHER=1 loads all variants at once, one wrk each (with PIN=1 they share
# CPU 0): each cell's CPU per request is then measured over the same seconds
# of the same machine, so the host's drift, which moves cells run one after
# another by ±15 % on a noisy host, moves every variant alike; each round
# also prints every variant's CPU per request over the first's. ONLY="full
# off" picks the variants (the first is the reference for the ratios). Each
# variant then gets a share of the core, so a request costs more than alone
# (more context switches, less batching): use it to compare variants or
# builds, not for the suite's on/off figure. Non-streamed only: the one mock
# serving every variant's streams becomes the bottleneck, and all variants
# get its pace whatever they cost.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ ${TOGETHER:-0} == 1 && ${STREAM:-0} == 1 ]]; then
  echo "cpu-per-request: TOGETHER=1 measures non-streamed requests only (the shared mock paces streams)" >&2
  exit 2
fi
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
if [[ -n ${ONLY:-} ]]; then read -r -a VARIANTS <<<"$ONLY"; fi
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
if [[ ${FULL:-0} == 1 ]]; then QUERY="${QUERY:-?}${QUERY:+&}full=1"; fi
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# CPU 0's idle and total ticks: with PIN=1, idle time there is time the
# servers spent waiting rather than working.
cpu0() { awk '$1 == "cpu0" { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
HZ=$(getconf CLK_TCK)
CONNECTIONS=${CONNECTIONS:-64}
THREADS=$((CONNECTIONS < 2 ? 1 : 2))
# One variant's cell from the ticks before and after, wrk's output and CPU
# 0's counters: prints and records its line.
cell() {
  local round=$1 v=$2 before=$3 after=$4 mock_before=$5 mock_after=$6 out=$7 idle=$8 total=$9
  local requests rps
  requests=$(echo "$out" | awk '/requests in/ { print $1 }')
  rps=$(echo "$out" | awk '/Requests\/sec/ { printf "%d", $2 }')
  awk -v r="$round" -v v="$v" -v rps="$rps" -v t=$((after - before)) -v m=$((mock_after - mock_before)) -v hz="$HZ" -v n="$requests" \
    -v idle="$idle" -v total="$total" \
    'BEGIN { printf "round %d  %-10s %7d req/s  %6.2f us CPU/request  (mock %6.2f)  cpu0 idle %4.1f %%\n", r, v, rps,
      t / hz * 1e6 / n, m / hz * 1e6 / n, total ? 100 * idle / total : 0 }' |
    tee -a "$WORK/cells"
}
# wrk's load on variant $1 for one cell; its report on stdout.
load() {
  "${LOAD[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/chat.lua" \
    "http://127.0.0.1:${PORT[$1]}/llm/bench/v1/chat/completions$QUERY"
}
# The median, lowest and highest of the numbers on stdin, one a line.
median() {
  sort -n | awk '{ a[NR] = $1 } END { print ((NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[1], a[NR] }'
}
# Each variant's CPU per request in round $1 over the first variant's.
ratios() {
  awk -v r="$1" -v first="${VARIANTS[0]}" '$2 == r { cpu[$3] = $6; order[++n] = $3 }
    END { line = "round " r " over " first ":"; for (i = 2; i <= n; i++) line = line sprintf("  %s %.3f", order[i], cpu[order[i]] / cpu[first]); print line }' \
    "$WORK/cells" | tee -a "$WORK/ratios"
}
if [[ ${TOGETHER:-0} == 1 ]]; then
  for round in $(seq 1 "$ROUNDS"); do
    declare -A started=() wrk_pid=() served=()
    read -r idle0 total0 < <(cpu0)
    mock_start=$(ticks "$MOCK")
    for v in "${VARIANTS[@]}"; do
      started[$v]=$(ticks "${PID[$v]}")
      load "$v" >"$WORK/$v.wrk" &
      wrk_pid[$v]=$!
    done
    for v in "${VARIANTS[@]}"; do wait "${wrk_pid[$v]}"; done
    read -r idle1 total1 < <(cpu0)
    sleep 1.2 # the request-log writers' last flush of this cell
    mock_end=$(ticks "$MOCK")
    # The mock serves every variant at once: its line shows its share per request of all of them.
    all=0
    for v in "${VARIANTS[@]}"; do
      served[$v]=$(awk '/requests in/ { print $1 }' "$WORK/$v.wrk")
      all=$((all + served[$v]))
    done
    for v in "${VARIANTS[@]}"; do
      cell "$round" "$v" "${started[$v]}" "$(ticks "${PID[$v]}")" 0 $(((mock_end - mock_start) * served[$v] / all)) \
        "$(cat "$WORK/$v.wrk")" $((idle1 - idle0)) $((total1 - total0))
    done
    ratios "$round"
  done
  echo "median over $ROUNDS rounds, CPU per request over ${VARIANTS[0]}'s in the same cell:"
  for v in "${VARIANTS[@]:1}"; do
    awk -v v="$v" '{ for (i = 1; i <= NF; i++) if ($i == v) print $(i + 1) }' "$WORK/ratios" | median |
      awk -v v="$v" '{ printf "  %-10s %.3f (rounds %.3f to %.3f)\n", v, $1, $2, $3 }'
  done
else
  for round in $(seq 1 "$ROUNDS"); do
    for v in "${VARIANTS[@]}"; do
      before=$(ticks "${PID[$v]}") mock_before=$(ticks "$MOCK")
      read -r idle0 total0 < <(cpu0)
      out=$(load "$v")
      read -r idle1 total1 < <(cpu0)
      sleep 1.2 # the request-log writer's last flush of this cell
      after=$(ticks "${PID[$v]}") mock_after=$(ticks "$MOCK")
      cell "$round" "$v" "$before" "$after" "$mock_before" "$mock_after" "$out" $((idle1 - idle0)) $((total1 - total0))
    done
  done
fi
echo "median over $ROUNDS rounds:"
for v in "${VARIANTS[@]}"; do
  awk -v v="$v" '$3 == v { print $6 }' "$WORK/cells" | median | awk -v v="$v" '{ printf "  %-10s %6.2f us CPU/request\n", v, $1 }'
done
for v in "${VARIANTS[@]}"; do
  [[ $v == full || $v == off ]] || continue
  echo "$v after the run: $(grep -E 'RssAnon|RssFile' "/proc/${PID[$v]}/status" | tr -s ' \t\n' ' ')"
done
