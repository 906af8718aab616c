# API Key Rotator — developer recipes (https://github.com/casey/just).
# Every recipe is a plain cargo or script command, usable without just.

# Run the gateway (lightweight: SQLite + in-process state).
run:
    cargo run --release

# The test suite (the README's test command): lightweight, then enterprise.
test:
    scripts/test.sh

# Everything CI runs: format check, clippy, docs, deploy files, tests, the README's first run and tour.
test-all:
    bash .ci/run

# Lints as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Apply database migrations and exit.
migrate:
    cargo run --release -- migrate

# Print a new ENCRYPTION_KEY.
gen-key:
    cargo run --release -- gen-key

# Proxy throughput, latency, time to first byte and memory (gateway against nginx
# and the mock directly; enterprise, telemetry off, conversion) and conversion
# speed, written to docs/benchmarks.md with plots in docs/bench/.
bench:
    scripts/bench.sh
    scripts/bench-scale.sh
    scripts/bench-conversion.sh

# Issue 9 target 7 alone: 10,000 services × 10 keys (also part of `bench`).
bench-scale:
    scripts/bench-scale.sh

# What telemetry costs per request, telemetry variants side by side: instructions
# counted by callgrind (repeatable), then CPU time with the servers pinned as in `bench`,
# then on and off loaded at once on the shared core (the host's drift cancels out).
bench-telemetry:
    cargo build --release --quiet -p gateway -p testkit --bins
    scripts/bench/instructions-per-request.sh
    PIN=1 scripts/bench/cpu-per-request.sh 5 4
    PIN=1 TOGETHER=1 ONLY="full off" scripts/bench/cpu-per-request.sh 8 8

# Validate the compose files and lint the Dockerfiles (no Docker engine needed).
check-deploy:
    scripts/check-deploy.sh

# Build the lightweight image (needs a Docker engine; CI does not build images).
docker-build:
    docker build -f deploy/Dockerfile -t api-key-rotator .

# Run the lightweight image with Compose (deploy/docker-compose.yml).
docker-up:
    docker compose -f deploy/docker-compose.yml up --build

# The SDK conformance suite alone (official Python SDKs against the release build).
test-sdk:
    scripts/test-sdk.sh

# The browser tests of the web UI alone (chromium + playwright-core; screenshots to docs/screenshots).
test-ui:
    scripts/test-ui.sh

# Fuzz every converter target for SECONDS each (nightly + cargo-fuzz); new inputs go to
# fuzz/target/corpus, the committed seed corpus stays small.
fuzz SECONDS="300":
    cd crates/converters/fuzz && for t in request_openai request_openai_responses request_anthropic request_gemini sse_streams; do mkdir -p target/corpus/$t && cargo +nightly fuzz run -O $t target/corpus/$t corpus/$t -- -max_total_time={{SECONDS}} || exit 1; done

# 10 minutes at 100 requests/s with 30% of the keys misbehaving: no visible
# errors, flat memory and file descriptors (results in docs/soak.md).
soak:
    scripts/soak.sh
