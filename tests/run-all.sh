#!/usr/bin/env bash
# Every test of mqttwire, as CI runs them: formatting, lints, all unit, property and
# integration tests, and the protocol crate built for wasm32 (the browser target).
# Needs rustup (stable with rustfmt and clippy); adds the wasm32 target if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

step "cargo build -p mqttwire --target wasm32-unknown-unknown"
cargo build -p mqttwire --target wasm32-unknown-unknown --locked
