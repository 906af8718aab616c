#!/usr/bin/env bash
# SDK conformance suite (tests/sdk): the official Python SDKs of OpenAI,
# Anthropic and Google GenAI against the release gateway and the testkit
# mock's simulated LLM, for every client format × upstream api_format,
# streamed and not. Creates its virtualenv in target/sdk-venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/sdk-venv
if [ ! -x "$VENV/bin/pytest" ] || ! cmp -s tests/sdk/requirements.txt "$VENV/requirements.txt"; then
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q -r tests/sdk/requirements.txt
  cp tests/sdk/requirements.txt "$VENV/requirements.txt"
fi
# Built one at a time so the gateway binary is the one `cargo run --release` reuses.
cargo build --release -p gateway
cargo build --release -p testkit --bin mock-upstream
"$VENV/bin/pytest" -q -p no:cacheprovider tests/sdk "$@"
