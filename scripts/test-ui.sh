#!/usr/bin/env bash
# Browser tests of the embedded web UI (tests/ui): playwright-core from npm
# driving Debian's chromium, headless, against the release gateway and the
# testkit mock upstream. Installs chromium (apt) and the npm package when
# missing. Screenshots of each page land in docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
if ! command -v npm >/dev/null; then
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d tests/ui/node_modules/playwright-core ] || [ tests/ui/package-lock.json -nt tests/ui/node_modules/.package-lock.json ]; then
  (cd tests/ui && npm ci --no-audit --no-fund --loglevel=error)
fi
# Syntax errors fail here with a line number rather than as a blank page.
for file in crates/http/ui/*.js crates/http/ui/pages/*.js; do
  node --check --input-type=module < "$file" || { echo "syntax error in $file" >&2; exit 1; }
done
# Built one at a time (2 cores); no-ops when the SDK suite built them already.
cargo build --release -p gateway
cargo build --release -p testkit --bin mock-upstream
cd tests/ui && node --test . "$@"
