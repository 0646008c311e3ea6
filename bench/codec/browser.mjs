#!/usr/bin/env node
// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Codec in the browser: the mqttwire codec compiled to wasm against npm mqtt-packet bundled
// for browsers, side by side in one headless Chromium page, on the workload of WORKLOAD.md.
//
//   node bench/codec/browser.mjs [--runs K] [--quick] [--no-build] [--profile P]
//
// Builds (under the shared cargo lock) the bench/codec-wasm crate for wasm32 with cargo
// profile P (default wasm-release, the profile the npm package `mqttwire` is built with),
// runs wasm-bindgen 0.2.130 on it, bundles mqtt-packet with esbuild (minified, for the
// browser), serves both with ./browser-page.mjs on 127.0.0.1 (port 0), loads the page in
// /usr/bin/chromium through playwright-core and runs every case there (browser-page.mjs
// says what is timed and checked). Writes a markdown report to
// bench/results/codec-browser.md and stdout, the raw samples to
// bench/results/codec-browser.json. Exit status 0 whether or not the target is met, 1 on a
// harness failure, 2 on a usage error.

import { createServer } from 'node:http'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { chromium } from 'playwright-core'
import { BENCH_DIR, REPO_DIR, CHROMIUM, CHROMIUM_ARGS, cargo, machineInfo, npmVersion, stats, versionOf } from '../lib.mjs'

const CODEC_DIR = dirname(fileURLToPath(import.meta.url))
const RESULTS_DIR = join(BENCH_DIR, 'results')
const OUT_DIR = join(REPO_DIR, 'target', 'bench-codec-browser')
const WASM_BINDGEN_VERSION = '0.2.130'
const TARGET_RATIO = 2
const QOS_LEVELS = [0, 1]
const PAYLOAD_SIZES = [16, 256, 4096, 65536]
const OPS = [['decode', 'whole'], ['decode', 'chunked'], ['encode', 'whole']]
/** No case may take longer than this in the page (a hung page must not hang the run). */
const CASE_TIMEOUT_MS = 180_000

const log = (msg) => process.stderr.write(`[codec:browser] ${msg}\n`)
class HarnessError extends Error {}

const USAGE = `usage: node bench/codec/browser.mjs [--runs K] [--quick] [--no-build] [--profile P]

  --runs K      timed runs per side per measurement (default 5, at least 5 unless --quick),
                in 2 rounds with the side order swapped, each round +1 warm-up run
  --quick       small streams, 2 runs: a smoke test, numbers NOT comparable
  --no-build    use the wasm, glue and bundle already in target/bench-codec-browser
  --build-only  build them and stop (bench/run.mjs builds everything before measuring)
  --profile P   cargo profile of the wasm build (default wasm-release, as the npm package)`

function parseCli () {
  let values
  try {
    ({ values } = parseArgs({
      options: {
        runs: { type: 'string' },
        quick: { type: 'boolean', default: false },
        'no-build': { type: 'boolean', default: false },
        'build-only': { type: 'boolean', default: false },
        profile: { type: 'string', default: 'wasm-release' },
        help: { type: 'boolean', short: 'h', default: false }
      },
      strict: true
    }))
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`)
    process.exit(2)
  }
  if (values.help) { process.stdout.write(USAGE + '\n'); process.exit(0) }
  const runs = values.runs === undefined ? (values.quick ? 2 : 5) : Number(values.runs)
  if (!Number.isInteger(runs) || runs < (values.quick ? 1 : 5) || runs > 50) {
    process.stderr.write(`--runs must be an integer from ${values.quick ? 1 : 5} to 50\n`)
    process.exit(2)
  }
  if (!/^[a-z][a-z0-9-]*$/.test(values.profile)) { process.stderr.write('--profile: a cargo profile name\n'); process.exit(2) }
  const rounds = runs >= 2 ? 2 : 1
  // Round r does its share of the runs: 5 in 2 rounds = 3 + 2.
  const perRound = Array.from({ length: rounds }, (_, r) => Math.floor(runs / rounds) + (r < runs % rounds ? 1 : 0))
  return { runs, rounds, perRound, quick: values.quick, build: !values['no-build'], buildOnly: values['build-only'], profile: values.profile }
}

function build (profile) {
  log(`cargo build --profile ${profile} --target wasm32-unknown-unknown -p codec-wasm-bench (under the cargo lock)`)
  cargo(['build', '--locked', '--profile', profile, '--target', 'wasm32-unknown-unknown', '-p', 'codec-wasm-bench'])
  const bindgen = versionOf('wasm-bindgen')
  if (!bindgen?.includes(WASM_BINDGEN_VERSION)) throw new HarnessError(`wasm-bindgen ${WASM_BINDGEN_VERSION} needed, found ${bindgen}`)
  const wasmDir = profile === 'dev' ? 'debug' : profile
  const wasm = join(REPO_DIR, 'target', 'wasm32-unknown-unknown', wasmDir, 'codec_wasm_bench.wasm')
  let r = spawnSync('wasm-bindgen', ['--target', 'web', '--no-typescript', '--out-dir', join(OUT_DIR, 'wasm'),
    '--out-name', 'codec_wasm_bench', wasm], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) throw new HarnessError('wasm-bindgen failed')
  log('esbuild: mqtt-packet for the browser (bundled, minified)')
  r = spawnSync(join(BENCH_DIR, 'node_modules', '.bin', 'esbuild'), [join(CODEC_DIR, 'mqtt-packet-browser.js'),
    '--bundle', '--minify', '--format=esm', '--platform=browser', '--log-level=warning',
    `--outfile=${join(OUT_DIR, 'mqtt-packet.js')}`], { cwd: BENCH_DIR, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) throw new HarnessError('esbuild failed')
  writeFileSync(join(OUT_DIR, 'build.json'), JSON.stringify({ profile, wasm_bindgen: bindgen }) + '\n')
}

/** The reference table of WORKLOAD.md section 2, keyed "qos/payload". */
function workloadReference () {
  const ref = new Map()
  const text = readFileSync(join(CODEC_DIR, 'WORKLOAD.md'), 'utf8')
  const row = /^\|\s*([01])\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*`([0-9a-f]{64})`\s*\|/gm
  for (const [, qos, payload, wire, n, bytes, chunks, sha] of text.matchAll(row)) {
    ref.set(`${qos}/${payload}`, { wire_size: +wire, packets: +n, stream_bytes: +bytes, chunks: +chunks, stream_sha256: sha })
  }
  return ref
}

function serve () {
  const files = {
    '/': [join(CODEC_DIR, 'browser-page.html'), 'text/html'],
    '/page.mjs': [join(CODEC_DIR, 'browser-page.mjs'), 'text/javascript'],
    '/mqtt-packet.js': [join(OUT_DIR, 'mqtt-packet.js'), 'text/javascript']
  }
  const server = createServer((req, res) => {
    try {
      let entry = files[req.url]
      if (!entry && req.url.startsWith('/wasm/')) {
        const file = normalize(join(OUT_DIR, 'wasm', req.url.slice(6)))
        if (!file.startsWith(join(OUT_DIR, 'wasm'))) throw new Error('outside')
        entry = [file, file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript']
      }
      const body = entry[0].endsWith('.html')
        ? '<!doctype html><meta charset="utf-8"><script type="module" src="/page.mjs"></script>'
        : readFileSync(entry[0])
      // Cross-origin isolation gives performance.now() its fine (5 µs) resolution.
      res.writeHead(200, { 'content-type': entry[1], 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' })
      res.end(body)
    } catch { res.writeHead(404); res.end() }
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

const fmtInt = (x) => Math.round(x).toLocaleString('en-US')
const fmtRatio = (x) => (x >= 10 ? x.toFixed(1) : x.toFixed(2)) + 'x'
const fmtPayload = (n) => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`)
const fmtRange = (s) => `${fmtInt(s.median)} (${fmtInt(s.min)}–${fmtInt(s.max)})`

function markdown (report) {
  const { versions, harness, rows, extra } = report
  const L = []
  L.push('# Codec in the browser: mqttwire (wasm) vs. mqtt-packet, headless Chromium', '')
  L.push(`- Date: ${report.date}; load average ${harness.loadavg_start.join(' / ')} at start, ${harness.loadavg_end.join(' / ')} at end`)
  L.push(`- ${versions.chromium}; mqtt-packet ${versions.mqtt_packet} with buffer ${versions.buffer}, bundled by esbuild ${versions.esbuild} (minified); ` +
    `mqttwire ${versions.mqttwire} built with ${versions.rustc}, cargo profile \`${versions.profile}\`, ${versions.wasm_bindgen} (no wasm-opt)`)
  L.push(`- Mode: ${harness.quick ? '**quick (smoke test; numbers NOT comparable)**' : 'full'}; per side and measurement ${harness.runs_per_round.join(' + ')} timed runs in ${harness.rounds} round(s) ` +
    `(+1 warm-up each), side order swapped between rounds and cases; cross-origin isolated page: ${harness.cross_origin_isolated}; wall time ${harness.wall_seconds.toFixed(0)} s`)
  L.push(`- Workload \`bench/codec/WORKLOAD.md\`, built in the page independently of both codecs; the wasm side held the same bytes and chunks; mqtt-packet decoded every field and re-encoded the stream byte for byte` +
    (harness.sha_checked ? `; stream SHA-256 equals WORKLOAD.md (${harness.sha_checked}/8)` : '') + '.')
  L.push(`- **Target (issue 7): the codec at least ${TARGET_RATIO}x mqtt-packet in the browser.** Ratio = mqttwire median / mqtt-packet median.`, '')
  L.push(`| qos | payload | op | mode | mqttwire (wasm) packets/s | mqtt-packet packets/s | ratio | ≥ ${TARGET_RATIO}x |`)
  L.push('|---:|---:|---|---|---:|---:|---:|:---:|')
  for (const r of rows) {
    L.push(`| ${r.qos} | ${fmtPayload(r.payload)} | ${r.op} | ${r.mode} | ${fmtRange(r.mqttwire)} | ${fmtRange(r.mqtt_packet)} | ${fmtRatio(r.ratio)} | ${r.met ? 'met' : '**missed**'} |`)
  }
  L.push('', 'Extra: mqttwire decoding chunks that live in JavaScript (each copied into wasm memory by the call, as a browser client gets WebSocket messages), against mqtt-packet\'s chunked decode:', '')
  L.push('| qos | payload | mqttwire chunked-from-js packets/s | ratio vs mqtt-packet chunked |')
  L.push('|---:|---:|---:|---:|')
  for (const e of extra) L.push(`| ${e.qos} | ${fmtPayload(e.payload)} | ${fmtRange(e.mqttwire)} | ${fmtRatio(e.ratio)} |`)
  return L.join('\n') + '\n'
}

async function main () {
  const cli = parseCli()
  const t0 = process.hrtime.bigint()
  const loadStart = os.loadavg().map((x) => Number(x.toFixed(2)))
  if (!existsSync(join(BENCH_DIR, 'node_modules', 'esbuild'))) throw new HarnessError('bench/node_modules/esbuild missing: npm ci in bench/')
  if (cli.build || cli.buildOnly) build(cli.profile)
  if (cli.buildOnly) return
  const built = JSON.parse(readFileSync(join(OUT_DIR, 'build.json'), 'utf8'))
  const reference = workloadReference()
  const server = await serve()
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  const results = []
  try {
    const page = await browser.newPage()
    const errors = []
    page.on('pageerror', (err) => errors.push(String(err)))
    await page.goto(`http://127.0.0.1:${server.address().port}/`)
    await page.waitForFunction(() => window.codecReady === true, null, { timeout: 30_000 }).catch((err) => {
      throw new HarnessError(`page did not load: ${errors.join('; ') || err.message}`)
    })
    const [target, minPackets] = cli.quick ? [256 * 1024, 100] : [4 * 1024 * 1024, 1000]
    let i = 0
    for (const qos of QOS_LEVELS) {
      for (const payload of PAYLOAD_SIZES) {
        const first = i++ % 2 === 0 ? 'mqtt-packet' : 'mqttwire'
        const started = Date.now()
        let timer
        const r = await Promise.race([
          page.evaluate((a) => window.codecCase(a), { qos, payload, target, minPackets, perRound: cli.perRound, first }),
          new Promise((resolve, reject) => { timer = setTimeout(() => reject(new HarnessError(`case qos ${qos} payload ${payload} took over ${CASE_TIMEOUT_MS / 1000} s`)), CASE_TIMEOUT_MS) })
        ]).finally(() => clearTimeout(timer))
        const ref = reference.get(`${qos}/${payload}`)
        const s = r.stream
        if (!cli.quick) {
          if (!ref || s.packets !== ref.packets || s.wire_size !== ref.wire_size || s.chunks !== ref.chunks || s.stream_sha256 !== ref.stream_sha256) {
            throw new HarnessError(`stream qos ${qos} payload ${payload} differs from WORKLOAD.md: ${JSON.stringify(s)}`)
          }
        }
        log(`qos ${qos} payload ${payload}: N=${s.packets}, ${s.chunks} chunks, ${((Date.now() - started) / 1000).toFixed(1)} s`)
        results.push(r)
      }
    }
    if (errors.length) throw new HarnessError(`page errors: ${errors.join('; ')}`)
  } finally {
    await browser.close().catch(() => {})
    server.close()
  }

  const rows = []
  for (const [op, mode] of OPS) {
    for (const r of results) {
      const key = `${op}/${mode}`
      const mqttwire = stats(r.samples.mqttwire[key])
      const mqttPacket = stats(r.samples['mqtt-packet'][key])
      const ratio = mqttwire.median / mqttPacket.median
      rows.push({ op, mode, qos: r.stream.qos, payload: r.stream.payload, packets: r.stream.packets, wire_size: r.stream.wire_size, mqttwire, mqtt_packet: mqttPacket, ratio, met: ratio >= TARGET_RATIO })
    }
  }
  const extra = results.map((r) => {
    const mqttwire = stats(r.samples.mqttwire['decode/chunked-from-js'])
    const ratio = mqttwire.median / stats(r.samples['mqtt-packet']['decode/chunked']).median
    return { op: 'decode', mode: 'chunked-from-js', qos: r.stream.qos, payload: r.stream.payload, mqttwire, ratio }
  })
  const versions = {
    chromium: `Chromium ${browser.version()}`,
    mqtt_packet: npmVersion('mqtt-packet'),
    buffer: npmVersion('buffer'),
    esbuild: npmVersion('esbuild'),
    mqttwire: cargoVersion(),
    rustc: versionOf('rustc') ?? '?',
    wasm_bindgen: built.wasm_bindgen,
    profile: built.profile
  }
  const report = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    versions,
    harness: {
      command: `node bench/codec/browser.mjs ${process.argv.slice(2).join(' ')}`.trim(),
      quick: cli.quick,
      rounds: cli.rounds,
      runs_per_round: cli.perRound,
      cross_origin_isolated: results.every((r) => r.crossOriginIsolated),
      sha_checked: cli.quick ? 0 : results.length,
      loadavg_start: loadStart,
      loadavg_end: os.loadavg().map((x) => Number(x.toFixed(2))),
      wall_seconds: Number(process.hrtime.bigint() - t0) / 1e9
    },
    target: { min_ratio: TARGET_RATIO, metric: 'packets/s median, mqttwire (wasm) / mqtt-packet, Chromium' },
    rows,
    extra,
    raw: results
  }
  const md = markdown(report)
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(join(RESULTS_DIR, 'codec-browser.md'), md)
  writeFileSync(join(RESULTS_DIR, 'codec-browser.json'), JSON.stringify(report, null, 2) + '\n')
  process.stdout.write(md)
  log('wrote bench/results/codec-browser.md and bench/results/codec-browser.json')
}

/** The version of the protocol crate, from its Cargo.toml (workspace version). */
function cargoVersion () {
  const root = readFileSync(join(REPO_DIR, 'Cargo.toml'), 'utf8')
  return root.match(/\[workspace\.package\][^[]*?version\s*=\s*"([^"]+)"/)?.[1] ?? '?'
}

main().catch((err) => {
  log(`HARNESS FAILURE: ${err instanceof HarnessError ? err.message : err.stack ?? err}`)
  process.exitCode = 1
})
