#!/usr/bin/env bash
# `just bench`: requests/s and p50/p99 latency through the gateway and
# directly against the testkit mock upstream, in the same run, at 1, 64 and
# 256 connections, non-streamed and streamed (20 SSE events per response);
# then telemetry on against off (TELEMETRY_ENABLED=false), and the same binary
# as an enterprise instance (MariaDB + Redis on loopback) against the
# lightweight one, both interleaved.
# Writes the table to docs/benchmarks.md (between the BENCH markers) and prints it.
#
# Environment: BENCH_DURATION (seconds per cell, default 10), BENCH_WRITE=0 to
# only print. Needs wrk (installed from apt when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/admin.sh
source scripts/lib/admin.sh

DURATION=${BENCH_DURATION:-10}
GATEWAY_PORT=18080
MOCK_PORT=18081
CLIENT_KEY=bench-client-key
WORK=$(mktemp -d)

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
# One binary with both backends: lightweight and enterprise runs differ only in configuration.
cargo build --release --quiet -p gateway --features enterprise
cargo build --release --quiet -p testkit --bins
ENTERPRISE_PORT=18082
BENCH_DB="akr_bench_$$"
REDIS_PREFIX="akr_bench_$$"

cleanup() {
  kill "${GATEWAY_PID:-}" "${ENTERPRISE_PID:-}" "${OFF_PID:-}" 2>/dev/null || true
  kill -INT "${MOCK_PID:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  mysql -uroot -e "DROP DATABASE IF EXISTS $BENCH_DB" 2>/dev/null || true
  redis-cli --scan --pattern "$REDIS_PREFIX:*" 2>/dev/null | xargs -r redis-cli del >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

target/release/mock-upstream "127.0.0.1:$MOCK_PORT" 1 2>"$WORK/mock.log" &
MOCK_PID=$!
BACKEND_PORT=$GATEWAY_PORT BIND_ADDRESS=127.0.0.1 DATABASE_PATH="$WORK/data/bench.db" ADMIN_PASSWORD=bench \
  GLOBAL_PROXY_KEYS=$CLIENT_KEY LOG_LEVEL=warn target/release/gateway 2>"$WORK/gateway.log" >/dev/null &
GATEWAY_PID=$!
wait_for "http://127.0.0.1:$GATEWAY_PORT/healthz" "http://127.0.0.1:$MOCK_PORT/v1/models"
BENCH_KEYS='{"keys":["sk-bench-key-0000000001","sk-bench-key-0000000002","sk-bench-key-0000000003"]}'
bench_service() { # PORT
  admin_login "$1" bench
  create_service_with_keys "$1" "{\"name\":\"bench\",\"slug\":\"bench\",\"config_type\":\"llm\",
    \"target_base_url\":\"http://127.0.0.1:$MOCK_PORT/v1\",\"api_format\":\"openai_compatible\"}" "$BENCH_KEYS" >/dev/null
}
bench_service "$GATEWAY_PORT"

cat >"$WORK/chat.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $CLIENT_KEY"
LUA
cat >"$WORK/stream.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $CLIENT_KEY"
LUA

# a / b with `format` (default two decimals); 0 when b is 0.
ratio() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { printf f, (b > 0 ? a / b : 0) }'; }

# wrk's latency lines read like "50%  1.23ms"; print milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

run() { # mode target connections -> "rps p50 p99"
  local mode=$1 target=$2 conns=$3 url script threads=2
  case $target in
    direct) url="http://127.0.0.1:$MOCK_PORT/v1/chat/completions" ;;
    gateway) url="http://127.0.0.1:$GATEWAY_PORT/llm/bench/v1/chat/completions" ;;
    enterprise) url="http://127.0.0.1:$ENTERPRISE_PORT/llm/bench/v1/chat/completions" ;;
    off) url="http://127.0.0.1:${OFF_PORT:-0}/llm/bench/v1/chat/completions" ;;
  esac
  if [ "$mode" = streamed ]; then url="$url?events=20"; script="$WORK/stream.lua"; else script="$WORK/chat.lua"; fi
  [ "$conns" -lt 2 ] && threads=1
  local out
  out=$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -s "$script" "$url")
  if echo "$out" | grep -q "Non-2xx"; then echo "bench: non-2xx answers ($mode, $target, $conns connections):" >&2; echo "$out" >&2; exit 1; fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ { printf "%d", $2 }')
  p50=$(to_ms "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
  p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
  echo "$rps $p50 $p99"
}

TABLE="$WORK/table.md"
{
  echo "| mode | connections | direct req/s | gateway req/s | gateway/direct | direct p50 / p99 (ms) | gateway p50 / p99 (ms) |"
  echo "|---|---|---|---|---|---|---|"
} >"$TABLE"
for mode in non-streamed streamed; do
  for conns in 1 64 256; do
    direct=$(run "$mode" direct "$conns") || exit 1
    gateway=$(run "$mode" gateway "$conns") || exit 1
    read -r d_rps d_p50 d_p99 <<<"$direct"
    read -r g_rps g_p50 g_p99 <<<"$gateway"
    ratio=$(ratio "$g_rps" "$d_rps")
    echo "| $mode | $conns | $d_rps | $g_rps | $ratio | $d_p50 / $d_p99 | $g_p50 / $g_p99 |" >>"$TABLE"
    tail -1 "$TABLE"
  done
done

# Telemetry (usage accounting, request log, metrics) on against off: a second
# lightweight gateway with TELEMETRY_ENABLED=false, interleaved, 3 rounds.
OFF_PORT=18083
BACKEND_PORT=$OFF_PORT BIND_ADDRESS=127.0.0.1 DATABASE_PATH="$WORK/data/bench-off.db" ADMIN_PASSWORD=bench \
  GLOBAL_PROXY_KEYS=$CLIENT_KEY LOG_LEVEL=warn TELEMETRY_ENABLED=false target/release/gateway 2>"$WORK/off.log" >/dev/null &
OFF_PID=$!
wait_for "http://127.0.0.1:$OFF_PORT/healthz"
bench_service "$OFF_PORT"
TELEMETRY_TABLE="$WORK/telemetry.md"
{
  echo "| round | mode | connections | telemetry on req/s | telemetry off req/s | on/off |"
  echo "|---|---|---|---|---|---|"
} >"$TELEMETRY_TABLE"
for round in 1 2 3; do
  for mode in non-streamed streamed; do
    on=$(run "$mode" gateway 64) || exit 1
    off=$(run "$mode" off 64) || exit 1
    read -r on_rps _ _ <<<"$on"
    read -r off_rps _ _ <<<"$off"
    ratio=$(ratio "$on_rps" "$off_rps" %.3f)
    echo "| $round | $mode | 64 | $on_rps | $off_rps | $ratio |" >>"$TELEMETRY_TABLE"
    tail -1 "$TELEMETRY_TABLE"
    ON_SUM=$((${ON_SUM:-0} + on_rps))
    OFF_SUM=$((${OFF_SUM:-0} + off_rps))
  done
done
pooled=$(ratio "$ON_SUM" "$OFF_SUM" %.3f)
echo "| pooled | all | 64 | $ON_SUM | $OFF_SUM | $pooled |" >>"$TELEMETRY_TABLE"
kill "$OFF_PID" 2>/dev/null || true
wait "$OFF_PID" 2>/dev/null || true

# Enterprise (MariaDB + Redis rotation) against lightweight, same binary, interleaved.
ENTERPRISE_TABLE="$WORK/enterprise.md"
if mysql -uroot -e "CREATE DATABASE $BENCH_DB" 2>/dev/null && redis-cli ping >/dev/null 2>&1; then
  kill "$GATEWAY_PID" 2>/dev/null || true
  wait "$GATEWAY_PID" 2>/dev/null || true
  BACKEND_PORT=$GATEWAY_PORT BIND_ADDRESS=127.0.0.1 DATABASE_PATH="$WORK/data/bench2.db" ADMIN_PASSWORD=bench \
    GLOBAL_PROXY_KEYS=$CLIENT_KEY LOG_LEVEL=warn target/release/gateway 2>>"$WORK/gateway.log" >/dev/null &
  GATEWAY_PID=$!
  BACKEND_PORT=$ENTERPRISE_PORT BIND_ADDRESS=127.0.0.1 DATABASE_URL="mysql://root@127.0.0.1:3306/$BENCH_DB" \
    REDIS_URL=redis://127.0.0.1:6379 REDIS_KEY_PREFIX="$REDIS_PREFIX" ENCRYPTION_KEY="$(target/release/gateway gen-key)" \
    ADMIN_PASSWORD=bench GLOBAL_PROXY_KEYS=$CLIENT_KEY LOG_LEVEL=warn target/release/gateway 2>"$WORK/enterprise.log" >/dev/null &
  ENTERPRISE_PID=$!
  for port in $GATEWAY_PORT $ENTERPRISE_PORT; do
    wait_for "http://127.0.0.1:$port/healthz"
    bench_service "$port"
  done
  {
    echo "| round | connections | lightweight req/s | enterprise req/s | enterprise/lightweight | lightweight p50 / p99 (ms) | enterprise p50 / p99 (ms) |"
    echo "|---|---|---|---|---|---|---|"
  } >"$ENTERPRISE_TABLE"
  for round in 1 2; do
    for conns in 64 256; do
      light=$(run non-streamed gateway "$conns") || exit 1
      ent=$(run non-streamed enterprise "$conns") || exit 1
      read -r l_rps l_p50 l_p99 <<<"$light"
      read -r e_rps e_p50 e_p99 <<<"$ent"
      ratio=$(ratio "$e_rps" "$l_rps")
      echo "| $round | $conns | $l_rps | $e_rps | $ratio | $l_p50 / $l_p99 | $e_p50 / $e_p99 |" >>"$ENTERPRISE_TABLE"
      tail -1 "$ENTERPRISE_TABLE"
      L_SUM=$((${L_SUM:-0} + l_rps))
      E_SUM=$((${E_SUM:-0} + e_rps))
    done
  done
  # Single cells are noisy on a shared machine; the pooled ratio is the figure to compare with the target.
  pooled=$(ratio "$E_SUM" "$L_SUM")
  echo "| pooled | all | $L_SUM | $E_SUM | $pooled | | |" >>"$ENTERPRISE_TABLE"
else
  echo "(MariaDB or Redis not reachable on loopback: enterprise not measured)" >"$ENTERPRISE_TABLE"
fi

MACHINE="$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr), $(date -u +%Y-%m-%d)"
if [ "${BENCH_WRITE:-1}" = 1 ]; then
  python3 - "$TABLE" "$MACHINE" "$DURATION" "$ENTERPRISE_TABLE" "$TELEMETRY_TABLE" <<'PY'
import pathlib, sys
table = pathlib.Path(sys.argv[1]).read_text()
machine, duration = sys.argv[2], sys.argv[3]
enterprise = pathlib.Path(sys.argv[4]).read_text()
telemetry = pathlib.Path(sys.argv[5]).read_text()
doc = pathlib.Path("docs/benchmarks.md")
text = doc.read_text()
for name, body in (("BENCH", f"Machine: {machine}. {duration} s per cell.\n\n{table}"),
                   ("ENTERPRISE", f"Machine: {machine}. {duration} s per cell, non-streamed.\n\n{enterprise}"),
                   ("TELEMETRY", f"Machine: {machine}. {duration} s per cell.\n\n{telemetry}")):
    start, end = f"<!-- {name}:START -->", f"<!-- {name}:END -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    text = head + start + "\n" + body + end + tail
doc.write_text(text)
PY
fi
cat "$TABLE" "$TELEMETRY_TABLE" "$ENTERPRISE_TABLE"
