#!/usr/bin/env bash
# The demo in one command: builds the web apps (www/dist, with Vite) on the npm package
# (client-wasm/pkg, committed; rebuilt only when its sources changed), builds and starts
# mqttwire-bridge serving them — with its embedded
# development broker unless a --broker is given — and the dashboard's sample data feed,
# then prints the address to open. Ctrl-C stops everything.
#
#   bash www/demo.sh                                   # http://127.0.0.1:8080/
#   bash www/demo.sh --listen 127.0.0.1:9000 --broker mqtt://127.0.0.1:1883
#
# Every argument goes to mqttwire-bridge (see `mqttwire-bridge --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

listen=127.0.0.1:8080
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --listen) listen="${args[i + 1]:-$listen}" ;;
    --listen=*) listen="${args[i]#--listen=}" ;;
  esac
done
[[ " ${args[*]-} " == *" --listen"* ]] || args+=(--listen "$listen")
# The bridge refuses browsers from origins it was not told of: the demo's own pages, by
# address and, on loopback, by name.
if [[ " ${args[*]-} " != *" --origin"* ]]; then
  args+=(--origin "http://$listen")
  port=${listen##*:}
  case "$listen" in 127.0.0.1:* | localhost:* | \[::1\]:*) args+=(--origin "http://localhost:$port" --origin "http://127.0.0.1:$port") ;; esac
fi

began=$SECONDS
step() { printf '\n==> [%ss] %s\n' "$((SECONDS - began))" "$*"; }

# The npm package is committed, built (size-optimised) from the sources it records in
# pkg/BUILT_FROM: used as it is while they match, so the demo needs no wasm toolchain.
if [ -f client-wasm/pkg/BUILT_FROM ] && [ "$(cat client-wasm/pkg/BUILT_FROM)" = "$(bash client-wasm/fingerprint.sh)" ]; then
  step "the npm package mqttwire: client-wasm/pkg as committed, built from these sources"
else
  step "the npm package mqttwire (client-wasm/pkg): its sources changed, building it (a few minutes the first time)"
  if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
  fi
  bash client-wasm/build.sh
fi
step "the web apps (www/dist)"
(cd www && { [ -x node_modules/.bin/vite ] || npm ci --no-audit --no-fund; } && npm run build --silent)
step "mqttwire-bridge and the sample data feed (cargo build --profile demo; minutes the first time)"
cargo build --profile demo --locked -p ws-bridge --bin mqttwire-bridge --example demo_feed
bin=target/demo

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin/mqttwire-bridge" --serve www/dist "${args[@]}" &
pids+=($!)
# Wait until the bridge answers its health check (at most 30 s).
for _ in $(seq 300); do
  if node -e "fetch('http://$listen/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
    break
  fi
  kill -0 "${pids[0]}" 2>/dev/null || { echo "mqttwire-bridge exited" >&2; exit 1; }
  sleep 0.1
done
"$bin/examples/demo_feed" --url "ws://$listen/mqtt" &
pids+=($!)

cat <<MSG

  mqttwire demo on http://$listen/   (ready after $((SECONDS - began)) s)
    chat:       http://$listen/chat/       (open it in two tabs and pick two nicknames)
    dashboard:  http://$listen/dashboard/  (fed by the sample publisher)
  Ctrl-C stops it.

MSG
wait -n "${pids[@]}"
