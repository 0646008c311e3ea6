#!/usr/bin/env bash
# Builds the npm package `mqttwire` into client-wasm/pkg/: the crate compiled to wasm32
# with the size profile, wasm-bindgen's ES module glue, wasm-opt -Oz (npm binaryen, never
# Debian's, which breaks wasm-bindgen output) with the imports and exports renamed to short
# names (minify-names.mjs renames them in the glue), the JavaScript API bundled with the glue
# into one module by esbuild and minified by terser (js/index.js stays the readable source;
# index.d.ts carries the documentation), and its types; all of it twice, the second time
# with the feature `store` for the entry point mqttwire/store. Prints the sizes raw,
# gzipped and brotli-compressed, and records the fingerprint of its sources in
# pkg/BUILT_FROM (fingerprint.sh). The package is committed, so that the demo needs no
# Rust-to-wasm toolchain; tests/run-all.sh checks that it is what these sources build.
#
#   bash client-wasm/build.sh
set -euo pipefail
cd "$(dirname "$0")"

WASM_BINDGEN_VERSION=0.2.130 # keep equal to wasm-bindgen in Cargo.toml
if ! wasm-bindgen --version 2>/dev/null | grep -q "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  echo "==> cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi
[ -x node_modules/.bin/wasm-opt ] && [ -x node_modules/.bin/terser ] && [ -x node_modules/.bin/esbuild ] || npm ci --no-audit --no-fund

# The package is built with a pinned nightly that rebuilds the standard library for size:
# panics abort without formatting a message (no panic machinery, no location strings) and
# std is compiled with its optimize_for_size paths. Stable Rust ships std prebuilt with all
# of that in; the difference is about 4.5 KB of the gzipped package. The nightly is used
# for nothing else (tests and the bridge build with stable) and is installed when absent.
NIGHTLY=nightly-2026-05-20
if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1 ||
  [ ! -d "$(rustup run "$NIGHTLY" rustc --print sysroot)/lib/rustlib/src/rust/library" ] ||
  [ ! -d "$(rustup run "$NIGHTLY" rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown" ]; then
  echo "==> rustup toolchain install $NIGHTLY (rust-src, wasm32-unknown-unknown)"
  rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src \
    --target wasm32-unknown-unknown
fi

# build_wasm NAME [CARGO_ARGS...]: the crate built with CARGO_ARGS (features) into
# pkg/NAME_bg.wasm with its glue pkg/NAME.js, optimised and with short names.
build_wasm() {
  local name=$1
  shift
  echo "==> cargo +$NIGHTLY build --profile wasm-release --target wasm32-unknown-unknown -p client-wasm $* (build-std)"
  RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
    cargo "+$NIGHTLY" build --profile wasm-release --target wasm32-unknown-unknown -p client-wasm \
    --locked --target-dir ../target/npm -Zbuild-std=std,panic_abort \
    -Zbuild-std-features=optimize_for_size "$@"
  wasm-bindgen --target web --no-typescript --out-dir pkg --out-name "$name" \
    ../target/npm/wasm32-unknown-unknown/wasm-release/client_wasm.wasm
  # --zero-filled-memory: the module defines its own memory, which starts zeroed.
  # --low-memory-unused lets wasm-opt fold `p + C` (C < 1 KiB) into a load or store offset,
  # which differs only where `p + C` would wrap around 4 GiB into the first KiB: Rust's
  # pointer arithmetic never wraps (-330 B gzip).
  # --one-caller-inline-max-function-size=20: a function called from one place is inlined
  # only if it is that small; inlining every such function (the default) gives a larger
  # gzip, since code spread over one huge function with many locals repeats itself less
  # (measured on the package: 20 gave the least, -1.4 KB gzip and -0.9 KB brotli, for 3 KB
  # more raw wasm). The names are minified in a second pass: with --converge the
  # optimising pass prints them per round.
  local features="--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue"
  node_modules/.bin/wasm-opt -Oz --converge --zero-filled-memory --low-memory-unused \
    --one-caller-inline-max-function-size=20 $features \
    "pkg/${name}_bg.wasm" -o "pkg/${name}_bg.wasm"
  node_modules/.bin/wasm-opt $features --strip-producers --strip-target-features \
    --minify-imports-and-exports-and-modules \
    "pkg/${name}_bg.wasm" -o "pkg/${name}_bg.wasm" > pkg/names.json
  node minify-names.mjs "pkg/$name.js" "pkg/${name}_bg.wasm" < pkg/names.json
  rm pkg/names.json
}

# bundle SOURCE OUT WITH_STORE [ESBUILD_ARGS...]: one JavaScript module, the API and wasm-bindgen's glue
# bundled (one request fewer for pages without a bundler, and about 200 B less gzipped
# than two files), then minified. MQTTWIRE_STORE says whether it handles options.store;
# in the core it is false, and the code for it is left out.
bundle() {
  node_modules/.bin/esbuild "$1" --bundle --format=esm --target=es2020 --log-level=warning \
    --define:MQTTWIRE_STORE="$3" --outfile=pkg/bundle.tmp.js "${@:4}"
  node_modules/.bin/terser pkg/bundle.tmp.js --module --ecma 2020 --compress --mangle \
    --keep-classnames -o "pkg/$2"
  rm pkg/bundle.tmp.js
}

rm -rf pkg
# The core, and the build behind the entry point mqttwire/store: the same client with
# options.store. An app loads one of the two, never both, and pays for the store only when
# it imports mqttwire/store.
build_wasm mqttwire_wasm
build_wasm mqttwire_store_wasm --features store
cp js/*.d.ts js/package.json js/README.md pkg/
# The sources of the bundles, with the glue, in pkg/src until they are bundled.
mkdir pkg/src
cp js/*.js pkg/src/
mv pkg/mqttwire_wasm.js pkg/mqttwire_store_wasm.js pkg/src/
bundle pkg/src/index.js index.js false
{
  sed "s#'./mqttwire_wasm.js'#'./mqttwire_store_wasm.js'#" js/index.js
  cat js/store.js
} > pkg/src/store-entry.js
bundle pkg/src/store-entry.js store.js true
# mqttwire/shared: the tab's side (no wasm), and the shared worker it starts, which holds
# the core; the tab loads the worker's module itself only where there is no SharedWorker.
bundle pkg/src/shared.js shared.js false --external:./shared-worker.js
bundle pkg/src/shared-worker.js shared-worker.js false
rm -r pkg/src
node --input-type=module -e '
import { readFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
const sizes = (f) => {
  const b = readFileSync("pkg/" + f);
  const br = brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
  return [b.length, gzipSync(b, { level: 9 }).length, br.length];
};
const line = (name, [raw, gz, br], note = "") =>
  console.log(`  ${name.padEnd(28)} ${String(raw).padStart(8)} B raw ${String(gz).padStart(7)} B gzip ${String(br).padStart(7)} B brotli${note}`);
const core = ["index.js", "mqttwire_wasm_bg.wasm"].map((f) => [f, sizes(f)]);
for (const [f, s] of core) line(f, s);
line("JS + wasm", core.map(([, s]) => s).reduce((a, s) => a.map((v, i) => v + s[i])), " (the core, mqttwire)");
const store = ["store.js", "mqttwire_store_wasm_bg.wasm"].map((f) => [f, sizes(f)]);
for (const [f, s] of store) line(f, s);
line("mqttwire/store", store.map(([, s]) => s).reduce((a, s) => a.map((v, i) => v + s[i])),
  " (instead of the core, for an app that imports it)");
line("mqttwire/shared", sizes("shared.js"), " (shared.js: what a tab loads)");
const worker = ["shared-worker.js", "mqttwire_wasm_bg.wasm"].map((f) => sizes(f));
line("its shared worker", worker.reduce((a, s) => a.map((v, i) => v + s[i])), " (shared-worker.js + the core wasm, once per origin)");
'
bash fingerprint.sh > pkg/BUILT_FROM
echo "==> client-wasm/pkg is the npm package mqttwire"
