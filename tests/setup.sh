#!/usr/bin/env bash
# Installs what the tests need on a Debian machine with rustup, skipping whatever is
# already there: rustfmt, clippy, the wasm32 target, wasm-bindgen-cli (the exact version
# of the wasm-bindgen crate), Chromium with its WebDriver, and mosquitto (the reference
# broker), protoc (rmqtt's cluster plugin, used as the test cluster, compiles its gRPC
# schema with it). Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130 # keep equal to wasm-bindgen in Cargo.toml
APT_PACKAGES=(chromium chromium-driver mosquitto mosquitto-clients protobuf-compiler)

say() { printf '==> %s\n' "$*"; }

command -v cargo >/dev/null || { echo "cargo not found: install rustup first (https://rustup.rs)" >&2; exit 1; }
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || { say "rustup component add $component"; rustup component add "$component"; }
done
rustup target list --installed | grep -qx wasm32-unknown-unknown || { say "rustup target add wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian starts a system mosquitto on port 1883 when installed; the tests start their own.

if ! wasm-bindgen --version 2>/dev/null | grep -q "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # Not --locked: its lock file pins a webpki-roots the registry does not serve.
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi
