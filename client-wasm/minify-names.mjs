// Renames the wasm module's imports and exports in wasm-bindgen's glue to the short names
// `wasm-opt --minify-imports-and-exports-and-modules` gave them in the wasm. Names like
// `__wbg_new_with_byte_offset_and_length_3cd32055a417f095` appear in both files, hash and
// all, and do not compress; short ones save about 2 KB gzipped. Fails if an import of the
// wasm is not provided by the glue afterwards.
//
//   node minify-names.mjs GLUE.js MODULE.wasm < MAPPING.json   (build.sh runs it)
import { readFileSync, writeFileSync } from 'node:fs';

const [glueFile, wasmFile] = process.argv.slice(2);
const mapping = JSON.parse(readFileSync(0, 'utf8'));
const imports = WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(wasmFile)));
let glue = readFileSync(glueFile, 'utf8');

// Every import now comes from one module with a short name.
const modules = new Set(imports.map((i) => i.module));
if (modules.size !== 1) throw new Error(`expected one import module, got ${[...modules]}`);
const [module] = modules;
for (const old of new Set(mapping.imports.map(([m]) => m))) {
  glue = glue.replaceAll(JSON.stringify(old), JSON.stringify(module));
}

// A name is used as `wasm.name` (exports) or as a key `name: function` (imports).
const rename = (old, short) => {
  const uses = new RegExp(`(?<=\\.)${old}\\b|\\b${old}(?=\\s*:)`, 'g');
  let count = 0;
  glue = glue.replace(uses, () => { count += 1; return short; });
  return count;
};
for (const [, old, short] of mapping.imports) {
  if (rename(old, short) === 0) throw new Error(`import ${old} not found in ${glueFile}`);
}
for (const [old, short] of mapping.exports) rename(old, short);

const provided = new Set([...glue.matchAll(/([\w$]+)\s*:\s*function/g)].map((m) => m[1]));
const missing = imports.filter((i) => !provided.has(i.name)).map((i) => i.name);
if (missing.length > 0) throw new Error(`the glue does not provide ${missing.join(', ')}`);
writeFileSync(glueFile, glue);
