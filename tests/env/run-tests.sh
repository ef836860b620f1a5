#!/usr/bin/env bash
# `make test`: build, start the real environment, run every test, stop the environment (also
# when a test fails or the run is interrupted).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/env/common.sh

# Build before starting anything: compiling is the slow part on a fresh machine, and the
# environment should not sit idle meanwhile.
cargo test --locked --no-run --all-targets 2>&1 | tail -n 3

tests/env/up.sh
trap 'tests/env/down.sh' EXIT INT TERM
source "$KTO_ENV_DIR/env.sh"

# Tests mostly wait on Kafka and the apiserver; more threads than cores keeps the run short.
# Test binaries run one after another, so broker_failure (which kills a broker) runs alone.
RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}" cargo test --locked --all-targets
