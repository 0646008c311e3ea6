#!/usr/bin/env node
// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Every comparison of issues 7 and 12 in one command, on this machine, and bench/RESULTS.md:
//
//   node bench/run.mjs [--quick] [--no-build] [--only codec,codec-browser,bridge,auth,cluster,soak,browser]
//   (or: cd bench && npm run all [-- --quick])
//
// 1. Installs what is missing: `npm ci` in bench/ (node_modules), websocat from crates.io
//    (`cargo install`), websockify from PyPI into bench/.venv; checks mosquitto and Chromium.
// 2. Builds, each under the shared cargo lock (flock /tmp/mqttwire-cargo.lock), one at a
//    time: the bridge, the native codec bench, the codec as wasm, the npm package mqttwire.
// 3. Runs the comparisons one after another, each a script of its own that writes
//    bench/results/<name>.{md,json}: codec natively (codec/run.mjs), codec in Chromium
//    (codec/browser.mjs), bridge (bridge/run.mjs, with websockify and both client kinds: MQTT.js and the lean compiled clients),
//    the bridge's JWT + ACL cost (bridge/auth.mjs), the bridge soak with 10,000 idle
//    connections held for 2 minutes here (bridge/soak.mjs --minutes 2; the issue's 10
//    minutes are `node bench/bridge/soak.mjs` on its own), browser client (browser/run.mjs).
//    Each runs at least 5 runs per measurement and reports medians with min and max (the
//    soak is one long run); --quick is a smoke test with 1-2 runs and smaller workloads.
// 4. Writes bench/RESULTS.md: machine, versions, every target with met/missed, then each
//    comparison's report.
//
// Exit status: 0 when every comparison produced its report (targets met or not), 1 if one
// failed (RESULTS.md is still written, with the failure), 2 on a usage error.

import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import process from 'node:process'
import { parseArgs } from 'node:util'
import { BENCH_DIR, REPO_DIR, CARGO_LOCK, CHROMIUM, cargo, machineInfo, versionOf } from './lib.mjs'

const RESULTS = join(BENCH_DIR, 'RESULTS.md')
/** Where a run of a subset (--only) writes its summary: RESULTS.md holds whole runs only. */
const PARTIAL = join(BENCH_DIR, 'results', 'RESULTS-partial.md')
const WEBSOCAT_VERSION = '1.14.1'
const WEBSOCKIFY_VERSION = '0.13.0'
const MOSQUITTO = '/usr/sbin/mosquitto'
const log = (m) => process.stderr.write(`[bench] ${m}\n`)

const STEPS = ['codec', 'codec-browser', 'bridge', 'auth', 'cluster', 'soak', 'browser']
/** The soak's hold in a full run, so that the whole stays near 15 minutes (the issue's 10 minutes: bridge/soak.mjs alone). */
const SOAK_MINUTES = 2
const USAGE = `usage: node bench/run.mjs [--quick] [--no-build] [--only LIST]

  --quick      smoke test: 1-2 runs and small workloads, numbers NOT comparable
               (RESULTS.md says so at the top)
  --no-build   use the builds as they are (bridge, codec bench, wasm, client-wasm/pkg)
  --only LIST  a subset of ${STEPS.join(',')}; its summary goes to
               bench/results/RESULTS-partial.md (RESULTS.md holds whole runs only)`

function parseCli () {
  let values
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        'no-build': { type: 'boolean', default: false },
        only: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false }
      },
      strict: true
    }))
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`)
    process.exit(2)
  }
  if (values.help) { process.stdout.write(USAGE + '\n'); process.exit(0) }
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : STEPS
  if (only.some((s) => !STEPS.includes(s))) { process.stderr.write(`--only: ${STEPS.join(',')}\n`); process.exit(2) }
  return { quick: values.quick, build: !values['no-build'], only }
}

/** Runs a command to completion, output to stderr; throws unless it succeeds. */
function must (cmd, args, opts = {}) {
  log(`${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { stdio: ['ignore', 2, 2], ...opts })
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? r.status ?? r.signal})`)
}

function setup (cli) {
  if (!existsSync(MOSQUITTO)) throw new Error(`${MOSQUITTO} missing: apt-get install mosquitto`)
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: apt-get install chromium`)
  const pkg = JSON.parse(readFileSync(join(BENCH_DIR, 'package.json'), 'utf8'))
  const wanted = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })
  if (wanted.some((name) => !existsSync(join(BENCH_DIR, 'node_modules', name, 'package.json')))) {
    must('npm', ['ci', '--no-audit', '--no-fund'], { cwd: BENCH_DIR })
  }
  const websocatFound = versionOf('websocat') ?? versionOf(join(os.homedir(), '.cargo', 'bin', 'websocat'))
  if (!websocatFound) must('flock', [CARGO_LOCK, 'cargo', 'install', '--locked', 'websocat', '--version', WEBSOCAT_VERSION])
  const venv = join(BENCH_DIR, '.venv')
  if (!existsSync(join(venv, 'bin', 'websockify'))) {
    must('python3', ['-m', 'venv', venv])
    must(join(venv, 'bin', 'pip'), ['install', '--quiet', `websockify==${WEBSOCKIFY_VERSION}`])
  }
  if (!cli.build) return
  // One build at a time, each under the shared lock (the sub-scripts get --no-build).
  if (['bridge', 'auth', 'cluster', 'soak', 'browser'].some((s) => cli.only.includes(s))) cargo(['build', '-q', '--release', '-p', 'ws-bridge', '--bin', 'mqttwire-bridge', '--example', 'bench_client'])
  if (cli.only.includes('cluster')) cargo(['build', '-q', '--release', '-p', 'mqttwire-tests', '--bin', 'cluster-node'])
  if (cli.only.includes('codec')) cargo(['build', '-q', '--release', '-p', 'mqttwire', '--example', 'codec_bench'])
  if (cli.only.includes('browser')) must('flock', [CARGO_LOCK, 'bash', join(REPO_DIR, 'client-wasm', 'build.sh')])
  if (cli.only.includes('codec-browser')) must(process.execPath, [join(BENCH_DIR, 'codec', 'browser.mjs'), '--build-only'], { cwd: REPO_DIR })
}

/** Runs one comparison with the open-files limit raised to the hard limit. */
function runStep (name, script, args) {
  return new Promise((resolve) => {
    log(`=== ${name}: node bench/${script} ${args.join(' ')}`)
    const t0 = Date.now()
    const child = spawn('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', process.execPath, join(BENCH_DIR, script), ...args],
      { cwd: REPO_DIR, stdio: ['ignore', 'ignore', 'inherit'] })
    const stop = () => child.kill('SIGTERM')
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    child.on('exit', (code, signal) => {
      process.removeListener('SIGINT', stop)
      process.removeListener('SIGTERM', stop)
      const seconds = (Date.now() - t0) / 1000
      log(`=== ${name}: ${code === 0 ? 'done' : `FAILED (${code ?? signal})`} in ${seconds.toFixed(0)} s`)
      resolve({ name, ok: code === 0, seconds, exit: code ?? signal })
    })
  })
}

const readJson = (file) => JSON.parse(readFileSync(join(BENCH_DIR, 'results', file), 'utf8'))
const readMd = (file) => readFileSync(join(BENCH_DIR, 'results', file), 'utf8')
/** A sub-report under RESULTS.md's own heading levels: every heading one level deeper. */
const demote = (md) => md.replace(/^(#{1,5}) /gm, '#$1 ').trim()
const fmtRatio = (x) => `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}x`
const payload = (n) => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`)

/** Target rows (comparison, target, measured, status) and a section per comparison. */
function collect (name, quick) {
  if (name === 'codec') {
    const j = readJson('codec.json')
    const rows = []
    for (const op of ['decode', 'encode']) {
      const mine = j.rows.filter((r) => r.op === op)
      const missed = mine.filter((r) => r.ratio < 5)
      const min = mine.reduce((a, r) => (r.ratio < a.ratio ? r : a))
      rows.push({
        comparison: 'codec, native',
        target: `${op} packets/s ≥ 5x mqtt-packet (node), every case`,
        value: `${mine.length - missed.length}/${mine.length} cases; lowest ${fmtRatio(min.ratio)} (QoS ${min.qos}, ${payload(min.payload)}, ${min.mode})` +
          (missed.length ? `; missed: ${missed.map((r) => `QoS ${r.qos} ${payload(r.payload)} ${r.mode} ${fmtRatio(r.ratio)}`).join(', ')}` : ''),
        met: missed.length === 0
      })
    }
    return { rows, versions: { 'mqtt-packet (node)': j.versions.mqtt_packet, rustc: j.versions.rustc }, md: readMd('codec.md') }
  }
  if (name === 'codec-browser') {
    const j = readJson('codec-browser.json')
    const rows = []
    for (const op of ['decode', 'encode']) {
      const mine = j.rows.filter((r) => r.op === op)
      const missed = mine.filter((r) => !r.met)
      const min = mine.reduce((a, r) => (r.ratio < a.ratio ? r : a))
      rows.push({
        comparison: 'codec, Chromium',
        target: `${op} packets/s ≥ 2x mqtt-packet in the browser, every case`,
        value: `${mine.length - missed.length}/${mine.length} cases; lowest ${fmtRatio(min.ratio)} (QoS ${min.qos}, ${payload(min.payload)}, ${min.mode})`,
        met: missed.length === 0
      })
    }
    return {
      rows,
      versions: { Chromium: j.versions.chromium.replace(/^Chromium /, ''), 'mqtt-packet (browser bundle)': `${j.versions.mqtt_packet} + buffer ${j.versions.buffer}, esbuild ${j.versions.esbuild}`, 'wasm build': `cargo profile ${j.versions.profile}, ${j.versions.wasm_bindgen}` },
      md: readMd('codec-browser.md')
    }
  }
  if (name === 'auth') {
    const j = readJson(quick ? 'auth-quick.json' : 'auth.json')
    const rows = j.targets.map((t) => ({ comparison: 'bridge JWT + ACL', target: t.target, value: t.value, met: t.met }))
    return { rows, versions: {}, md: readMd(quick ? 'auth-quick.md' : 'auth.md') }
  }
  if (name === 'cluster') {
    const j = readJson(quick ? 'cluster-quick.json' : 'cluster.json')
    const rows = Object.entries(j.summary).map(([qos, x]) => ({
      comparison: 'bridge scale-out',
      target: `QoS ${qos} 64 B msgs/s, 2 bridges + 2 rmqtt cluster nodes against 1 + 1 (no target: both on the same 2 cores)`,
      value: x.ratio == null ? '–' : `${x.ratio.toFixed(2)}x (${Math.round(x.two.rate.median).toLocaleString('en')} against ${Math.round(x.one.rate.median).toLocaleString('en')} msgs/s)`,
      met: x.ratio == null ? null : true,
      info: true
    }))
    return { rows, versions: {}, md: readMd(quick ? 'cluster-quick.md' : 'cluster.md') }
  }
  if (name === 'soak') {
    // A hold under 10 minutes: soak.mjs writes soak-short.*, never the full soak's soak.*.
    const j = readJson('soak-short.json')
    const c = j.connections
    const a = j.analysis
    const held = `${c.opened.toLocaleString('en')} connections${c.cut ? ` (of ${c.requested.toLocaleString('en')}: ${c.cut})` : ''}, ${j.meta.minutes} min, keepalive ${j.meta.keepalive} s`
    const B = (x) => x == null ? '–' : `${Math.round(x).toLocaleString('en')} B`
    const rows = [
      {
        comparison: 'bridge soak',
        target: `10,000 idle WebSocket connections held with keepalive traffic, all still open at the end (${j.meta.minutes} min here; 10 min: \`node bench/bridge/soak.mjs\`)`,
        value: `${held}: ${j.end.connectionsOpen ?? '?'} open at the end (bridge /metrics), ${j.end.client?.lost ?? '?'} lost, ${j.end.client?.pongs ?? '?'}/${j.end.client?.pingsSent ?? '?'} PINGRESP/PINGREQ`,
        met: j.end.connectionsOpen == null ? null : j.end.connectionsOpen === c.opened && !j.end.client?.lost
      },
      {
        comparison: 'bridge soak',
        target: `bridge memory per idle connection flat over the hold (change and slope x hold each within ± ${j.meta.flatShare * 100} % of the start)`,
        value: `${B(a.startBytesPerConnection)} → ${B(a.endBytesPerConnection)} per connection; slope ${a.slopeBytesPerConnPerMin == null ? '–' : `${a.slopeBytesPerConnPerMin.toFixed(1)} B/connection/min`}`,
        met: a.flat
      }
    ]
    return { rows, versions: {}, md: readMd('soak-short.md') }
  }
  if (name === 'bridge') {
    const base = quick ? 'bridge-quick' : 'bridge'
    const j = readJson(`${base}.json`)
    const rows = j.targets.map((t) => ({ comparison: 'bridge', target: t.target, value: t.value, met: t.met, aim: t.aim }))
    const v = j.meta.versions
    return { rows, versions: { mosquitto: v.mosquitto, websocat: v.websocat, websockify: v.websockify, 'mqttwire-bridge': v.bridge, 'MQTT.js (node clients)': v.mqtt, ws: v.ws }, md: readMd(`${base}.md`) }
  }
  const base = quick ? 'browser-quick' : 'browser'
  const j = readJson(`${base}.json`)
  const rows = j.targets.map((t) => ({ comparison: 'browser client', target: t.target, value: t.value, met: t.met }))
  return { rows, versions: { 'MQTT.js (browser)': j.versions.mqtt, 'mqttwire (npm package)': j.versions.mqttwire, Chromium: j.versions.chromium.replace(/^Chromium /, '') }, md: readMd(`${base}.md`) }
}

function writeResults (cli, started, machineStart, steps, seconds) {
  const machineEnd = machineInfo()
  const parts = []
  const versions = {
    node: process.version,
    rustc: versionOf('rustc') ?? '?',
    mqttwire: readFileSync(join(REPO_DIR, 'Cargo.toml'), 'utf8').match(/\[workspace\.package\][^[]*?version\s*=\s*"([^"]+)"/)?.[1] ?? '?',
    'mqttwire commit': spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_DIR, encoding: 'utf8' }).stdout.trim() +
      (spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_DIR, encoding: 'utf8' }).stdout.trim() ? ' (with uncommitted changes)' : '')
  }
  for (const s of steps) {
    if (!s.ok) { parts.push({ name: s.name, failed: s }); continue }
    try {
      const c = collect(s.name, cli.quick)
      Object.assign(versions, c.versions)
      parts.push({ name: s.name, ...c, seconds: s.seconds })
    } catch (err) {
      parts.push({ name: s.name, failed: { ...s, exit: `report unreadable: ${err.message}` } })
    }
  }
  const L = []
  L.push('# mqttwire benchmarks: results', '')
  if (cli.quick) {
    L.push('> **QUICK RUN (smoke test): 1-2 runs and small workloads, numbers NOT comparable and NOT the issue\'s workload.** ' +
      'A full run is `node bench/run.mjs` (see README.md).', '')
  }
  L.push(`Written by \`node bench/run.mjs${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}\` on ${started.toISOString()}; ` +
    `${Math.round(seconds)} s in all (setup and builds ${Math.round(seconds - steps.reduce((a, s) => a + s.seconds, 0))} s; ` +
    `${steps.map((s) => `${s.name} ${Math.round(s.seconds)} s`).join(', ')}). How to read it: [README.md](README.md).`, '')
  L.push('## Machine', '')
  L.push(`- CPU: ${machineStart.cpu}, ${machineStart.cores} cores; memory ${machineStart.memory_gib} GiB; ${machineStart.kernel}`)
  L.push(`- Load average (1 / 5 / 15 min): ${machineStart.loadavg.join(' / ')} at start, ${machineEnd.loadavg.join(' / ')} at end. ` +
    'The machine is shared (other builds may run); every comparison interleaves its contenders so that load hits them alike. Compare ratios.')
  L.push('', '## Versions', '', '| what | version |', '| --- | --- |')
  for (const [k, v] of Object.entries(versions)) if (v) L.push(`| ${k} | ${v} |`)
  L.push('', '## Targets (issues 7 and 12)', '', '| comparison | target | measured (medians) | status |', '| --- | --- | --- | --- |')
  for (const p of parts) {
    if (p.failed) { L.push(`| ${p.name} | – | run failed: ${p.failed.exit} | **not measured** |`); continue }
    for (const r of p.rows) L.push(`| ${r.comparison} | ${r.target} | ${r.value} | ${r.met == null ? 'not measured' : r.info ? 'measured' : r.met ? 'met' : r.aim ? 'not reached (aim)' : '**missed**'} |`)
  }
  for (const p of parts) {
    L.push('')
    if (p.failed) { L.push(`## ${p.name}`, '', `The run failed (${p.failed.exit}); see its output.`); continue }
    L.push(demote(p.md))
  }
  const file = cli.only.length === STEPS.length ? RESULTS : PARTIAL
  writeFileSync(file, L.join('\n') + '\n')
  log(`wrote ${file}`)
  return parts
}

async function main () {
  const cli = parseCli()
  const started = new Date()
  const t0 = Date.now()
  const machineStart = machineInfo()
  setup(cli)
  const q = cli.quick ? ['--quick'] : []
  const commands = {
    codec: ['codec/run.mjs', ['--no-build', ...q]],
    'codec-browser': ['codec/browser.mjs', ['--no-build', ...q]],
    bridge: ['bridge/run.mjs', ['--no-build', '--websockify', '--clients', 'both', ...q]],
    auth: ['bridge/auth.mjs', ['--no-build', ...q]],
    cluster: ['bridge/cluster.mjs', ['--no-build', ...q]],
    soak: ['bridge/soak.mjs', ['--no-build', ...(cli.quick ? ['--connections', '500', '--minutes', '0.5'] : ['--minutes', String(SOAK_MINUTES)])]],
    browser: ['browser/run.mjs', ['--no-build', ...q]]
  }
  const steps = []
  for (const name of cli.only) steps.push(await runStep(name, ...commands[name]))
  writeResults(cli, started, machineStart, steps, (Date.now() - t0) / 1000)
  if (steps.some((s) => !s.ok)) process.exitCode = 1
}

main().catch((err) => {
  log(`error: ${err.stack ?? err}`)
  process.exitCode = 1
})
