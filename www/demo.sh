#!/usr/bin/env bash
# The demo in one command: builds the npm package (client-wasm/pkg) and the web apps
# (www/dist, with Vite), starts mqttwire-bridge serving them — with its embedded
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

step() { printf '\n==> %s\n' "$*"; }

if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
step "the npm package mqttwire (client-wasm/pkg)"
bash client-wasm/build.sh
step "the web apps (www/dist)"
(cd www && { [ -x node_modules/.bin/vite ] || npm ci --no-audit --no-fund; } && npm run build --silent)
step "mqttwire-bridge and the sample data feed (release build)"
cargo build --release --locked -p ws-bridge --bin mqttwire-bridge --example demo_feed

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

./target/release/mqttwire-bridge --serve www/dist "${args[@]}" &
pids+=($!)
# Wait until the bridge answers its health check (at most 30 s).
for _ in $(seq 300); do
  if node -e "fetch('http://$listen/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
    break
  fi
  kill -0 "${pids[0]}" 2>/dev/null || { echo "mqttwire-bridge exited" >&2; exit 1; }
  sleep 0.1
done
./target/release/examples/demo_feed --url "ws://$listen/mqtt" &
pids+=($!)

cat <<MSG

  mqttwire demo on http://$listen/
    chat:       http://$listen/chat/       (open it in two tabs and pick two nicknames)
    dashboard:  http://$listen/dashboard/  (fed by the sample publisher)
  Ctrl-C stops it.

MSG
wait -n "${pids[@]}"
