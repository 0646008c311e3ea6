#!/usr/bin/env bash
# Builds the npm package `mqttwire` into client-wasm/pkg/: the crate compiled to wasm32
# with the size profile, wasm-bindgen's ES module glue, wasm-opt -Oz (npm binaryen, never
# Debian's, which breaks wasm-bindgen output) with the imports and exports renamed to short
# names (minify-names.mjs renames them in the glue), the JavaScript API and its types, the two
# JavaScript files minified by terser (js/index.js stays the readable source; index.d.ts
# carries the documentation). Prints the package size raw, gzipped and brotli-compressed.
#
#   bash client-wasm/build.sh
set -euo pipefail
cd "$(dirname "$0")"

WASM_BINDGEN_VERSION=0.2.130 # keep equal to wasm-bindgen in Cargo.toml
if ! wasm-bindgen --version 2>/dev/null | grep -q "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  echo "==> cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi
[ -x node_modules/.bin/wasm-opt ] && [ -x node_modules/.bin/terser ] || npm ci --no-audit --no-fund

echo "==> cargo build --profile wasm-release --target wasm32-unknown-unknown -p client-wasm"
cargo build --profile wasm-release --target wasm32-unknown-unknown -p client-wasm --locked
rm -rf pkg
wasm-bindgen --target web --no-typescript --out-dir pkg --out-name mqttwire_wasm \
  ../target/wasm32-unknown-unknown/wasm-release/client_wasm.wasm
node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  --strip-producers --strip-target-features --minify-imports-and-exports-and-modules \
  pkg/mqttwire_wasm_bg.wasm -o pkg/mqttwire_wasm_bg.wasm > pkg/names.json
node minify-names.mjs pkg/mqttwire_wasm.js pkg/mqttwire_wasm_bg.wasm < pkg/names.json
rm pkg/names.json
cp js/index.d.ts js/package.json js/README.md pkg/
for f in js/index.js pkg/mqttwire_wasm.js; do
  node_modules/.bin/terser "$f" --module --ecma 2020 --compress --mangle --keep-classnames \
    -o "pkg/$(basename "$f")"
done

node --input-type=module -e '
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
const files = ["index.js", "mqttwire_wasm.js", "mqttwire_wasm_bg.wasm"];
let raw = 0, gz = 0, br = 0;
for (const f of files) {
  const b = readFileSync("pkg/" + f);
  const g = gzipSync(b, { level: 9 }).length;
  const r = brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  raw += b.length; gz += g; br += r;
  console.log(`  ${f.padEnd(24)} ${String(b.length).padStart(8)} B raw ${String(g).padStart(7)} B gzip ${String(r).padStart(7)} B brotli`);
}
console.log(`  ${"JS + wasm".padEnd(24)} ${String(raw).padStart(8)} B raw ${String(gz).padStart(7)} B gzip ${String(br).padStart(7)} B brotli`);
'
echo "==> client-wasm/pkg is the npm package mqttwire"
