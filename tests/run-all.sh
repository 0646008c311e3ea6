#!/usr/bin/env bash
# Every test of mqttwire, as CI runs them: formatting, lints, all unit, property and
# integration tests (against a real mosquitto), the engine tests again on wasm32 in
# headless Chromium, the browser client in Chromium against mosquitto and the bridge, the
# built npm package (the committed one checked against it, types, a round trip as a user
# imports it, and a tab's life: keepalive in
# a throttled background tab, the will, reconnect, memory), and the protocol crate
# built for wasm32. Installs what is missing first (tests/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

bash tests/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The client of mqttwire/store: client-wasm with the feature store.
cargo clippy -p client-wasm --features store --all-targets --locked -- -D warnings

step "cargo test (native)"
cargo test --workspace --locked

step "the relay's fuzz harness (feature fuzzing): clippy and its replay tests"
cargo clippy -p ws-bridge --features fuzzing --all-targets --locked -- -D warnings
cargo test -p ws-bridge --features fuzzing --lib --locked fuzzing

step "engine tests on wasm32 in headless Chromium"
CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=120 \
  cargo test -p mqttwire --target wasm32-unknown-unknown --locked --test engine

step "the browser client in headless Chromium against mosquitto, mqttwire-bridge and aedes"
cargo build -q -p mqttwire-tests --bin test-servers --locked
servers_out=$(mktemp)
# The servers run until their standard input closes: a pipe held open by this shell.
exec 7> >(./target/debug/test-servers > "$servers_out")
servers_pid=$!
[ -d client-wasm/node_modules/aedes ] || (cd client-wasm && npm ci --no-audit --no-fund)
aedes_out=$(mktemp)
exec 8> >(node client-wasm/tests/js/aedes-server.mjs > "$aedes_out")
aedes_pid=$!
trap 'exec 7>&- 8>&-; wait "$servers_pid" "$aedes_pid" 2>/dev/null || true; rm -f "$servers_out" "$aedes_out"' EXIT
started() { grep -q MQTTWIRE_BRIDGE_WS "$servers_out" && grep -q MQTTWIRE_AEDES_WS "$aedes_out"; }
for _ in $(seq 100); do started && break; sleep 0.1; done
started || { echo "test servers did not start" >&2; exit 1; }
export $(grep -h '^MQTTWIRE_' "$servers_out" "$aedes_out" | xargs)
CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=120 \
  cargo test -p client-wasm --target wasm32-unknown-unknown --locked --test browser

step "the npm package: build, the committed package checked against it, type check of a consumer, round trip in Chromium as a user imports it"
committed=$(mktemp -d)
[ -d client-wasm/pkg ] && cp -r client-wasm/pkg "$committed/"
fingerprint=$(bash client-wasm/fingerprint.sh)
bash client-wasm/build.sh
# The demo uses the committed package while its BUILT_FROM matches the sources: it must be
# up to date, and exactly what they build.
if [ "$(cat "$committed/pkg/BUILT_FROM" 2>/dev/null)" != "$fingerprint" ]; then
  echo "client-wasm/pkg was built from other sources than these: rebuilt now; commit client-wasm/pkg" >&2
  exit 1
fi
if ! diff -r "$committed/pkg" client-wasm/pkg >&2; then
  echo "client-wasm/pkg as committed differs from what its sources build (see above)" >&2
  exit 1
fi
rm -rf "$committed"
client-wasm/node_modules/.bin/tsc -p client-wasm/tests/js/tsconfig.json
node --test client-wasm/tests/js/util.test.mjs
node client-wasm/tests/js/package.test.mjs
# The same package in node with its global WebSocket (behind a flag in Node 20).
cargo build -q -p ws-bridge --bin mqttwire-bridge --locked
ws_flag=$(node -e 'process.stdout.write(typeof WebSocket === "function" ? "" : "--experimental-websocket")')
node $ws_flag client-wasm/tests/js/node.test.mjs

step "the package through a tab's life in Chromium: keepalive in a throttled background tab, the will, reconnect across a bridge restart, memory over 1,000 clients (~2 min)"
cargo build -q -p ws-bridge --bin mqttwire-bridge --locked
node client-wasm/tests/js/lifecycle.test.mjs

step "mqttwire/store in Chromium: nothing lost across page reloads (offline, 12 random reloads mid-burst, inbound QoS 2), STORE_FAILED fallbacks"
node client-wasm/tests/js/store.test.mjs

step "mqttwire/shared in Chromium: 5 tabs on one WebSocket, subscriptions counted across tabs, a reload kept, the fallback without SharedWorker"
node client-wasm/tests/js/shared.test.mjs

step "www: the chat's topic scheme in node; the chat and the dashboard end to end in Chromium, through the bridge to mosquitto"
node --test www/test/*.test.mjs
cargo build -p ws-bridge --bin mqttwire-bridge --example demo_feed --locked
(cd www && { [ -x node_modules/.bin/vite ] || npm ci --no-audit --no-fund; } && npm run build --silent)
[ -d tests/e2e/node_modules/playwright-core ] || (cd tests/e2e && npm ci --no-audit --no-fund)
node tests/e2e/run.mjs

step "cargo build -p mqttwire --target wasm32-unknown-unknown"
cargo build -p mqttwire --target wasm32-unknown-unknown --locked
