#!/usr/bin/env bash
# Every test of mqttwire, as CI runs them: formatting, lints, all unit, property and
# integration tests (against a real mosquitto), the engine tests again on wasm32 in
# headless Chromium, and the protocol crate built for wasm32. Installs what is missing
# first (tests/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

bash tests/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (native)"
cargo test --workspace --locked

step "engine tests on wasm32 in headless Chromium"
CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=120 \
  cargo test -p mqttwire --target wasm32-unknown-unknown --locked --test engine

step "cargo build -p mqttwire --target wasm32-unknown-unknown"
cargo build -p mqttwire --target wasm32-unknown-unknown --locked
