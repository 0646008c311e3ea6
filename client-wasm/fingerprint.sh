#!/usr/bin/env bash
# Prints the SHA-256 of every source the npm package is built from (the crates it
# compiles, the lock files, the JavaScript API, the build scripts). client-wasm/build.sh
# records it in pkg/BUILT_FROM; www/demo.sh uses the committed package when the two match
# and builds it otherwise, and tests/run-all.sh fails when the committed package is not
# the one these sources build.
#
#   bash client-wasm/fingerprint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
inputs=(Cargo.toml Cargo.lock .cargo/config.toml protocol/Cargo.toml protocol/src
  client-wasm/Cargo.toml client-wasm/src client-wasm/js client-wasm/build.sh
  client-wasm/minify-names.mjs client-wasm/package.json client-wasm/package-lock.json)
find "${inputs[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
