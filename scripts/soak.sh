#!/usr/bin/env bash
# `just soak`: SOAK_DURATION seconds (default 600) at SOAK_RATE requests/s
# (default 100) through the release gateway (lightweight) to the testkit mock,
# where a changing 30% of the 10 keys answer 429, 500 or stall past the
# service's 1 s timeout (a new set every 60 s). Passes when no client sees an
# error while a key is usable, RSS grows < 10% after the first minute, and
# open file descriptors do not grow (beyond connection churn). Results go to docs/soak.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/admin.sh
source scripts/lib/admin.sh
DURATION=${SOAK_DURATION:-600}
RATE=${SOAK_RATE:-100}
GATEWAY_PORT=18090
MOCK_PORT=18091
CLIENT_KEY=soak-client-key
WORK=$(mktemp -d)
cargo build --release --quiet -p gateway
cargo build --release --quiet -p testkit --bin mock-upstream
cleanup() {
  kill "${GATEWAY_PID:-}" "${MOCK_PID:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
target/release/mock-upstream "127.0.0.1:$MOCK_PORT" 1 0.3 60 2>"$WORK/mock.log" &
MOCK_PID=$!
BACKEND_PORT=$GATEWAY_PORT BIND_ADDRESS=127.0.0.1 DATABASE_PATH="$WORK/soak.db" ADMIN_PASSWORD=soak \
  GLOBAL_PROXY_KEYS=$CLIENT_KEY LOG_LEVEL=warn target/release/gateway 2>"$WORK/gateway.log" >/dev/null &
GATEWAY_PID=$!
wait_for "http://127.0.0.1:$GATEWAY_PORT/healthz"
admin_login "$GATEWAY_PORT" soak
KEYS=$(python3 -c 'import json; print(json.dumps({"keys": [f"sk-soak-key-{i:012d}" for i in range(10)]}))')
create_service_with_keys "$GATEWAY_PORT" "{\"name\":\"soak\",\"slug\":\"soak\",\"config_type\":\"llm\",
  \"target_base_url\":\"http://127.0.0.1:$MOCK_PORT/v1\",\"api_format\":\"openai_compatible\",\"max_attempts\":10,\"timeout_s\":1}" \
  "$KEYS" >/dev/null
RESULT=$(python3 scripts/soak_driver.py 127.0.0.1 "$GATEWAY_PORT" "$GATEWAY_PID" "$RATE" "$DURATION" "$CLIENT_KEY")
FAILOVERS=$(grep -c "failing over" "$WORK/gateway.log" || true)
python3 - "$RESULT" "$DURATION" "$RATE" "$FAILOVERS" <<'PY'
import json, pathlib, platform, os, sys, datetime
r, duration, rate, failovers = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
samples = r["samples"]
warm = next((s for s in samples if s["t"] >= 60), samples[0])
last = samples[-1]
growth = (last["rss_kb"] - warm["rss_kb"]) / warm["rss_kb"]
fd_growth = last["fds"] - warm["fds"]
ok200 = r["statuses"].get("200", 0)
errors = {k: v for k, v in r["statuses"].items() if k != "200"}
visible = sum(v for k, v in r["error_codes"].items() if k != "no_available_key") + r["statuses"].get("connection_error", 0)
# Connections to clients and upstreams come and go; a leak grows without bound.
passed = visible == 0 and growth < 0.10 and fd_growth <= 16 and failovers > 0
table = f"""Run: {datetime.date.today()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; {duration} s at {rate} requests/s.

| measurement | result |
|---|---|
| requests sent / answered 200 | {r['sent']} / {ok200} |
| other answers | {errors or 'none'} (codes: {r['error_codes'] or 'none'}) |
| failovers (a key failed, the next one served) | {failovers} |
| client-visible errors while a key was usable | {visible} |
| RSS after 1 min → end | {warm['rss_kb'] / 1024:.1f} MiB → {last['rss_kb'] / 1024:.1f} MiB ({growth:+.1%}) |
| open file descriptors after 1 min → end | {warm['fds']} → {last['fds']} |
| verdict | {'pass' if passed else 'FAIL'} |
"""
print(table)
doc = pathlib.Path("docs/soak.md")
text = doc.read_text()
head, rest = text.split("<!-- SOAK:START -->", 1)
_, tail = rest.split("<!-- SOAK:END -->", 1)
doc.write_text(head + "<!-- SOAK:START -->\n" + table + "<!-- SOAK:END -->" + tail)
sys.exit(0 if passed else 1)
PY
