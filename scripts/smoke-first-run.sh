#!/usr/bin/env bash
# Runs the README's run command (`cargo run --release`) as a new user would on
# a fresh clone: no configuration at all. Checks that the gateway prints the
# generated admin password once, answers GET /healthz on :8000, and stops
# cleanly on SIGTERM. Leaves no data behind.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -e data ]; then
  echo "smoke-first-run: ./data already exists; run this on a fresh clone" >&2
  exit 1
fi
cargo build --release --quiet
log=$(mktemp)
setsid cargo run --release --quiet >"$log" 2>&1 &
pid=$!
cleanup() { kill -TERM -- "-$pid" 2>/dev/null || true; rm -rf data "$log"; }
trap cleanup EXIT

for _ in $(seq 1 120); do
  if curl -fsS http://127.0.0.1:8000/healthz 2>/dev/null | grep -q '"ok"'; then
    break
  fi
  sleep 0.5
done
curl -fsS http://127.0.0.1:8000/healthz
echo
grep -q "Admin password: " "$log" || { echo "no generated admin password printed" >&2; cat "$log" >&2; exit 1; }
test -f data/api_key_rotator.db
test "$(stat -c %a data/secret.key)" = "600"

kill -TERM -- "-$pid"
for _ in $(seq 1 70); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
  echo "gateway did not stop within 35 s of SIGTERM" >&2
  exit 1
fi
wait "$pid" || true
echo "smoke-first-run: ok"
