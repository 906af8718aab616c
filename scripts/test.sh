#!/usr/bin/env bash
# The whole test suite (the README's test command): the default lightweight
# build, then the enterprise build against the machine's MariaDB, PostgreSQL
# and Redis (loopback; override with TEST_MYSQL_URL, TEST_POSTGRES_URL,
# TEST_REDIS_URL). Tests needing a service print SKIPPED without it, and fail
# when CI=true. Last, on the release build: the SDK conformance suite
# (scripts/test-sdk.sh) and the browser tests of the web UI (scripts/test-ui.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/test-env.sh
source scripts/test-env.sh
cargo test --workspace
cargo test -p gateway --features enterprise
scripts/test-sdk.sh
scripts/test-ui.sh
