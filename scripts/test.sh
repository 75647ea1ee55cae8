#!/usr/bin/env bash
# Runs every test: installs the test environment (real Aleph clients, Kubo library, JS SDK),
# then unit, integration and end-to-end tests of the whole workspace.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p alephd-message`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-env.sh
cargo test --workspace --locked "$@"
