#!/usr/bin/env bash
# The first ten minutes of a new user, on a fresh clone: the README's run
# command (`cargo run --release`, no configuration at all), then the README's
# tour exactly as written — the blocks between the <!-- tour:… --> markers —
# with its placeholders filled in: the printed admin password, and the mock
# upstream (testkit's mock-upstream) instead of api.openai.com. The OpenAI
# Python SDK (target/sdk-venv, made by scripts/test-sdk.sh if missing) makes
# the call, and the usage must then show in the admin API. Finally SIGTERM
# must stop the gateway cleanly. Leaves no data behind.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -e data ]; then
  echo "smoke-first-run: ./data already exists; run this on a fresh clone" >&2
  exit 1
fi
MOCK_ADDRESS=127.0.0.1:18081
VENV=target/sdk-venv
[ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import openai' 2>/dev/null || scripts/test-sdk.sh --collect-only -q >/dev/null
cargo build --release --quiet
cargo build --release --quiet -p testkit --bin mock-upstream
work=$(mktemp -d)
log=$work/gateway.log
setsid cargo run --release --quiet >"$log" 2>&1 &
pid=$!
target/release/mock-upstream "$MOCK_ADDRESS" >"$work/mock.log" 2>&1 &
mock=$!
cleanup() {
  kill -TERM -- "-$pid" 2>/dev/null || true
  kill "$mock" 2>/dev/null || true
  rm -rf data "$work"
}
trap cleanup EXIT

for _ in $(seq 1 120); do
  if curl -fsS http://127.0.0.1:8000/healthz 2>/dev/null | grep -q '"ok"'; then
    break
  fi
  sleep 0.5
done
curl -fsS http://127.0.0.1:8000/healthz
echo
password=$(sed -n 's/^Admin password: *//p' "$log")
[ -n "$password" ] || { echo "no generated admin password printed" >&2; cat "$log" >&2; exit 1; }
test -f data/api_key_rotator.db
test "$(stat -c %a data/secret.key)" = "600"

# The README's blocks, as written.
block() {
  awk -v tag="$1" '
    $0 == "<!-- tour:" tag " -->" { inside = 1; next }
    $0 == "<!-- /tour:" tag " -->" { inside = 0 }
    inside && !/^```/ { print }
  ' README.md
}
for tag in admin sdk usage; do
  [ -n "$(block "$tag")" ] || { echo "README.md has no tour:$tag block" >&2; exit 1; }
done
block sdk >"$work/tour.py"
{
  echo 'set -euo pipefail'
  block admin | sed -e "s|<printed password>|$password|" -e "s|https://api.openai.com/v1|http://$MOCK_ADDRESS/v1|"
  echo "\"$PWD/$VENV/bin/python\" \"$work/tour.py\""
  block usage | sed 's/$/ >>"$USAGE_OUT"/'
} >"$work/tour.sh"
echo "--- running the README's tour"
USAGE_OUT=$work/usage.json bash "$work/tour.sh" | tee "$work/tour.out"

# The SDK got an answer with usage, and the admin API shows that usage.
grep -q "CompletionUsage(" "$work/tour.out" || { echo "the SDK call printed no usage" >&2; exit 1; }
"$VENV/bin/python" - "$work/usage.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
decoder, documents, at = json.JSONDecoder(), [], 0
while at < len(text):
    document, at = decoder.raw_decode(text, at)
    documents.append(document)
    while at < len(text) and text[at].isspace():
        at += 1
stats, client_keys = documents
totals = stats["totals"]
assert totals["requests"] == 1 and totals["input_tokens"] > 0 and totals["output_tokens"] > 0, totals
mine = [k for k in client_keys if k["name"] == "my-app"]
assert mine and mine[0]["requests"] == 1 and mine[0]["input_tokens"] == totals["input_tokens"], client_keys
print(f"usage seen in the admin API: {totals['requests']} request, "
      f"{totals['input_tokens']} input and {totals['output_tokens']} output tokens")
PY

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
