#!/usr/bin/env node
// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Side-by-side codec benchmark driver: mqttwire (Rust) vs. npm mqtt-packet
// (node.js), on this machine, in one command.
//
//   node bench/codec/run.mjs [--runs K] [--rounds R] [--quick] [--no-build]
//   (or: cd bench && npm run codec:compare -- [--runs K] [--quick])
//
// Both halves follow ./WORKLOAD.md and print JSON in the same schema:
//   node : bench/codec/mqtt-packet.mjs
//   Rust : target/release/examples/codec_bench (built first with
//          flock /tmp/mqttwire-cargo.lock cargo build --release -p mqttwire --example codec_bench)
//
// The two sides are run alternately, in R rounds (ABBA order: node, rust |
// rust, node | ...), each round doing ceil(K / R) timed runs per measurement
// (>= 5; the Rust side enforces that minimum itself), so that load changes on
// this small machine hit both sides alike. The per-run samples of all rounds
// are merged and median / min / max are taken over the merged samples.
//
// Output: a markdown report on stdout (progress on stderr), also written to
// bench/results/codec.md; the raw JSON of every child run plus the merged
// numbers go to bench/results/codec.json.
//
// Exit status: 0 on success, even if the decode target (>= 5x mqtt-packet's
// packets/s) is missed; 1 on a harness failure (a child failed, printed bad
// JSON, or the two sides did not use identical streams); 2 on a usage error.

import { spawn, execFileSync } from 'node:child_process'
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, relative } from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const CODEC_DIR = dirname(fileURLToPath(import.meta.url))
const BENCH_DIR = dirname(CODEC_DIR)
const REPO_DIR = dirname(BENCH_DIR)
const RESULTS_DIR = join(BENCH_DIR, 'results')
const NODE_BENCH = join(CODEC_DIR, 'mqtt-packet.mjs')

/** The target stated in the issue: decoding at least 5x mqtt-packet's packets/s. */
const TARGET_RATIO = 5
const DEFAULT_RUNS = 10
const DEFAULT_ROUNDS = 2
const MIN_RUNS = 5

// Workload constants, only used to cross-check what the children report
// (WORKLOAD.md sections 1-3).
const QOS_LEVELS = [0, 1]
const PAYLOAD_SIZES = [16, 256, 4096, 65536]
const OPS = [['decode', 'whole'], ['decode', 'chunked'], ['encode', 'whole']]
const TOPIC_LEN = 12

class HarnessError extends Error {}
const fail = (msg) => { throw new HarnessError(msg) }
const log = (msg) => process.stderr.write(`[codec:compare] ${msg}\n`)

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

const USAGE = `usage: node bench/codec/run.mjs [--runs K] [--rounds R] [--quick]

  --runs K     timed runs per side per measurement (default ${DEFAULT_RUNS}, minimum ${MIN_RUNS})
  --rounds R   alternate node / Rust in up to R rounds (default ${DEFAULT_ROUNDS}); each round
               does ceil(K/R) runs, at least ${MIN_RUNS}, so R shrinks if K is small
  --quick      small streams, smoke test only (numbers are NOT comparable)
  --no-build   run target/release/examples/codec_bench as it is (no cargo build)
  --help       show this help`

function parseCli () {
  let values
  try {
    ({ values } = parseArgs({
      options: {
        runs: { type: 'string' },
        rounds: { type: 'string' },
        quick: { type: 'boolean', default: false },
        'no-build': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      },
      strict: true
    }))
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`)
    process.exit(2)
  }
  if (values.help) {
    process.stderr.write(USAGE + '\n')
    process.exit(0)
  }
  const int = (name, value, min, dflt) => {
    if (value === undefined) return dflt
    const n = Number(value)
    if (!Number.isInteger(n) || n < min) {
      process.stderr.write(`--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}\n${USAGE}\n`)
      process.exit(2)
    }
    return n
  }
  const runs = int('runs', values.runs, MIN_RUNS, DEFAULT_RUNS)
  const maxRounds = int('rounds', values.rounds, 1, DEFAULT_ROUNDS)
  const rounds = Math.max(1, Math.min(maxRounds, Math.floor(runs / MIN_RUNS)))
  const runsPerRound = Math.max(MIN_RUNS, Math.ceil(runs / rounds))
  return { runs, rounds, runsPerRound, quick: values.quick, build: !values['no-build'] }
}

// ---------------------------------------------------------------------------
// Expected streams (WORKLOAD.md), independent of both children
// ---------------------------------------------------------------------------

const varIntLen = (n) => (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4)

function chunkCount (len) {
  let state = 0x9e3779b9 | 0
  let count = 0
  for (let off = 0; off < len; count++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    off = Math.min(off + 1 + ((state >>> 0) % 1400), len)
  }
  return count
}

function expectedCase (qos, payload, quick) {
  const remaining = 2 + TOPIC_LEN + (qos ? 2 : 0) + payload
  const wireSize = 1 + varIntLen(remaining) + remaining
  const [target, minPackets] = quick ? [256 * 1024, 100] : [4 * 1024 * 1024, 1000]
  const packets = Math.max(minPackets, Math.floor(target / wireSize))
  return { qos, payload, wire_size: wireSize, packets, chunks: chunkCount(packets * wireSize) }
}

/** The reference table of WORKLOAD.md section 2 (full mode only), keyed "qos/payload". */
function workloadReference () {
  const ref = new Map()
  const text = readFileSync(join(CODEC_DIR, 'WORKLOAD.md'), 'utf8')
  const row = /^\|\s*([01])\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*`([0-9a-f]{64})`\s*\|/gm
  for (const m of text.matchAll(row)) {
    const [, qos, payload, wire, n, bytes, chunks, sha] = m
    ref.set(`${qos}/${payload}`, {
      wire_size: +wire, packets: +n, stream_bytes: +bytes, chunks: +chunks, stream_sha256: sha
    })
  }
  return ref
}

const keyOf = (r) => `${r.op}/${r.mode}/${r.qos}/${r.payload}`

// ---------------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------------

/** Runs a child, forwards its stderr (prefixed), returns its parsed stdout JSON. */
function runChild (label, cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    log(`${label}: ${[cmd, ...args].map((a) => (a.startsWith(REPO_DIR + '/') ? relative(REPO_DIR, a) : a)).join(' ')}`)
    const t0 = process.hrtime.bigint()
    const env = { ...process.env, CARGO_TERM_COLOR: 'never' }
    delete env.DEBUG // mqtt-packet's debug logging would distort its numbers
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const out = []
    let errTail = ''
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => {
      const lines = (errTail + d.toString()).split('\n')
      errTail = lines.pop()
      for (const line of lines) process.stderr.write(`  [${label}] ${line}\n`)
    })
    child.on('error', (err) => reject(new HarnessError(`${label}: cannot start ${cmd}: ${err.message}`)))
    child.on('close', (code, signal) => {
      if (errTail) process.stderr.write(`  [${label}] ${errTail}\n`)
      const secs = Number(process.hrtime.bigint() - t0) / 1e9
      if (code !== 0) {
        reject(new HarnessError(`${label}: exited with ${signal ?? `status ${code}`}`))
        return
      }
      const stdout = Buffer.concat(out).toString()
      try {
        const doc = JSON.parse(stdout)
        log(`${label}: done in ${secs.toFixed(1)} s`)
        resolve({ doc, wall_seconds: Number(secs.toFixed(2)) })
      } catch (err) {
        reject(new HarnessError(`${label}: stdout is not one JSON document (${err.message}): ${stdout.slice(0, 200)}`))
      }
    })
  })
}

const nodeSide = (runs, quick) => ({
  name: 'mqtt-packet',
  run: (label) => runChild(label, process.execPath,
    [NODE_BENCH, '--runs', String(runs), ...(quick ? ['--quick'] : [])], BENCH_DIR)
})

/** Every cargo command on this shared machine runs under this lock, one at a time. */
const CARGO_LOCK = '/tmp/mqttwire-cargo.lock'
const RUST_BENCH = join(REPO_DIR, 'target', 'release', 'examples', 'codec_bench')

/** Builds the Rust half once (a no-op when up to date), under the cargo lock. */
function buildRust () {
  log(`flock ${CARGO_LOCK} cargo build --release -p mqttwire --example codec_bench`)
  try {
    execFileSync('flock', [CARGO_LOCK, 'cargo', 'build', '-q', '--release', '-p', 'mqttwire', '--example', 'codec_bench'],
      { cwd: REPO_DIR, stdio: ['ignore', 'inherit', 'inherit'] })
  } catch (err) {
    fail(`building the Rust codec bench failed: ${err.message}`)
  }
}

const rustSide = (runs, quick) => ({
  name: 'mqttwire',
  run: (label) => runChild(label, RUST_BENCH, ['--runs', String(runs), ...(quick ? ['--quick'] : [])], REPO_DIR)
})

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/** Checks one child document; returns its results keyed by op/mode/qos/payload. */
function validateDoc (label, doc, tool, expected, runsPerRound, quick) {
  if (doc?.tool !== tool) fail(`${label}: expected tool ${JSON.stringify(tool)}, got ${JSON.stringify(doc?.tool)}`)
  if (typeof doc.quick === 'boolean' && doc.quick !== quick) fail(`${label}: quick=${doc.quick}, expected ${quick}`)
  if (!Array.isArray(doc.results)) fail(`${label}: no results array`)
  const byKey = new Map()
  for (const r of doc.results) {
    const k = keyOf(r)
    if (byKey.has(k)) fail(`${label}: duplicate result ${k}`)
    byKey.set(k, r)
  }
  for (const [k, exp] of expected) {
    const r = byKey.get(k)
    if (!r) fail(`${label}: missing result ${k}`)
    if (r.packets !== exp.packets || r.wire_size !== exp.wire_size) {
      fail(`${label}: ${k}: N=${r.packets}, wire_size=${r.wire_size}; WORKLOAD.md says N=${exp.packets}, wire_size=${exp.wire_size}`)
    }
    if (!Array.isArray(r.runs) || r.runs.length !== runsPerRound) {
      fail(`${label}: ${k}: ${r.runs?.length} timed runs, expected ${runsPerRound}`)
    }
    if (!r.runs.every((x) => Number.isFinite(x) && x > 0)) fail(`${label}: ${k}: invalid run sample`)
  }
  if (byKey.size !== expected.size) fail(`${label}: ${byKey.size} results, expected ${expected.size}`)
  return byKey
}

/** The node side also reports its stream fingerprints; check them. */
function validateStreams (label, doc, cases, reference, quick) {
  if (!Array.isArray(doc.streams)) fail(`${label}: no streams array`)
  let shaChecked = 0
  for (const c of cases) {
    const s = doc.streams.find((x) => x.qos === c.qos && x.payload === c.payload)
    if (!s) fail(`${label}: no stream info for qos ${c.qos} payload ${c.payload}`)
    if (s.packets !== c.packets || s.wire_size !== c.wire_size || s.chunks !== c.chunks ||
        s.stream_bytes !== c.packets * c.wire_size) {
      fail(`${label}: stream qos ${c.qos} payload ${c.payload} differs from WORKLOAD.md: ${JSON.stringify(s)}`)
    }
    const ref = reference.get(`${c.qos}/${c.payload}`)
    if (!quick && ref) {
      if (s.stream_sha256 !== ref.stream_sha256) {
        fail(`${label}: stream qos ${c.qos} payload ${c.payload}: SHA-256 ${s.stream_sha256} != WORKLOAD.md ${ref.stream_sha256}`)
      }
      shaChecked++
    }
  }
  return shaChecked
}

// ---------------------------------------------------------------------------
// Statistics and formatting
// ---------------------------------------------------------------------------

function summarise (samples, wireSize) {
  const sorted = [...samples].sort((a, b) => a - b)
  const m = sorted.length >> 1
  const median = sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2
  return {
    samples: samples.length,
    median: Math.round(median),
    min: Math.round(sorted[0]),
    max: Math.round(sorted[sorted.length - 1]),
    mb_per_sec: Number(((median * wireSize) / 1e6).toFixed(2)),
    runs: samples
  }
}

const fmtInt = (x) => Math.round(x).toLocaleString('en-US')
const fmtMB = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1))
const fmtRatio = (x) => (x >= 10 ? x.toFixed(1) : x.toFixed(2)) + 'x'
const fmtPayload = (n) => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`)
const fmtRange = (s) => `${fmtInt(s.median)} (${fmtInt(s.min)}–${fmtInt(s.max)})`

function machineInfo () {
  let cpu = os.cpus()[0]?.model ?? 'unknown'
  let cpuinfoProcessors = 0
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8')
    const model = info.match(/^model name\s*:\s*(.+)$/m) ?? info.match(/^(?:Hardware|cpu model|Model)\s*:\s*(.+)$/m)
    if (model) cpu = model[1].trim()
    cpuinfoProcessors = (info.match(/^processor\s*:/gm) ?? []).length
  } catch { /* not Linux */ }
  let rustc = 'unknown'
  try {
    rustc = execFileSync('rustc', ['--version'], { cwd: REPO_DIR, encoding: 'utf8' }).trim()
  } catch (err) {
    fail(`rustc --version failed: ${err.message}`)
  }
  return {
    cpu,
    cores: cpuinfoProcessors || os.cpus().length,
    available_parallelism: os.availableParallelism(),
    platform: `${process.platform}-${process.arch}`,
    kernel: os.release(),
    node: process.version,
    v8: process.versions.v8,
    rustc
  }
}

function markdown (report) {
  const { machine, harness, rows, extra, streams, floors } = report
  const L = []
  L.push('# Codec throughput: mqttwire (Rust) vs. mqtt-packet (node.js)', '')
  L.push(`- Date: ${report.date}`)
  L.push(`- Machine: ${machine.cpu}, ${machine.cores} cores (${machine.platform}, kernel ${machine.kernel}); ` +
    `load average ${harness.loadavg_start.map((x) => x.toFixed(2)).join(' / ')} at start, ` +
    `${harness.loadavg_end.map((x) => x.toFixed(2)).join(' / ')} at end (1 / 5 / 15 min)`)
  L.push(`- node ${machine.node} (V8 ${machine.v8}), mqtt-packet ${report.versions.mqtt_packet}`)
  L.push(`- ${machine.rustc}, mqttwire ${report.versions.mqttwire} (\`--release\`, example \`codec_bench\`)`)
  L.push(`- Mode: ${harness.quick ? '**quick (smoke test; numbers NOT comparable)**' : 'full'}; ` +
    `per side and measurement ${harness.rounds} round(s) x ${harness.runs_per_round} timed runs = ` +
    `${harness.rounds * harness.runs_per_round} samples (each round +1 warm-up run); ` +
    `order ${harness.order.map((r) => r.join(' → ')).join(' | ')}; wall time ${harness.wall_seconds.toFixed(0)} s`)
  L.push(`- Workload: \`bench/codec/WORKLOAD.md\` (MQTT 3.1.1 PUBLISH, topic \`chat/room/42\`). ` +
    `Identical streams checked: N and wire size per case equal on both sides and in every round` +
    (harness.sha_checked ? `; node stream SHA-256 equals the WORKLOAD.md reference (${harness.sha_checked}/8 cases)` : '') + '.')
  L.push(`- **Target (issue): decoding at least ${TARGET_RATIO}x mqtt-packet's packets/s.** ` +
    `Ratio = mqttwire median / mqtt-packet median.`)
  L.push('')
  L.push('Packets/s: median over all samples (min–max). MB/s: median packets/s x wire size (decimal MB, wire bytes).', '')
  L.push(`| qos | payload | op | mode | mqttwire packets/s | mqttwire MB/s | mqtt-packet packets/s | mqtt-packet MB/s | ratio | ≥ ${TARGET_RATIO}x |`)
  L.push('|---:|---:|---|---|---:|---:|---:|---:|---:|:---:|')
  for (const r of rows) {
    const meets = r.op !== 'decode' ? 'n/a' : r.meets_target ? 'yes' : '**NO**'
    L.push(`| ${r.qos} | ${fmtPayload(r.payload)} | ${r.op} | ${r.mode} | ${fmtRange(r.mqttwire)} | ` +
      `${fmtMB(r.mqttwire.mb_per_sec)} | ${fmtRange(r.mqtt_packet)} | ${fmtMB(r.mqtt_packet.mb_per_sec)} | ` +
      `${fmtRatio(r.ratio)} | ${meets} |`)
  }
  const decode = rows.filter((r) => r.op === 'decode')
  const missed = decode.filter((r) => !r.meets_target)
  L.push('')
  L.push(`**Decode rows meeting ≥ ${TARGET_RATIO}x: ${decode.length - missed.length} / ${decode.length}.**` +
    (missed.length
      ? ' Missed: ' + missed.map((r) => `qos ${r.qos} ${fmtPayload(r.payload)} ${r.mode} (${fmtRatio(r.ratio)})`).join(', ') + '.'
      : ''))
  L.push('')
  L.push('Streams (identical on both sides):', '')
  L.push('| qos | payload | wire size (B) | N packets | stream bytes | chunks (chunked mode) |')
  L.push('|---:|---:|---:|---:|---:|---:|')
  for (const s of streams) {
    L.push(`| ${s.qos} | ${fmtPayload(s.payload)} | ${fmtInt(s.wire_size)} | ${fmtInt(s.packets)} | ` +
      `${fmtInt(s.packets * s.wire_size)} | ${fmtInt(s.chunks)} |`)
  }
  if (extra.length) {
    L.push('')
    L.push('node-only extra (not part of the comparison): mqtt-packet `writeToStream()` into a byte-counting sink; ' +
      'it hands the payload over by reference, so its MB/s is not a copy rate.', '')
    L.push('| qos | payload | mqtt-packet writeToStream packets/s | MB/s |')
    L.push('|---:|---:|---:|---:|')
    for (const e of extra) {
      L.push(`| ${e.qos} | ${fmtPayload(e.payload)} | ${fmtRange(e.stats)} | ${fmtMB(e.stats.mb_per_sec)} |`)
    }
  }
  if (floors?.length) {
    L.push('')
    L.push('Floors (Rust, same runs): **alloc-copy** is the least an encoder returning each packet as one buffer ' +
      '(as `generate()` does) can do: a fresh buffer per packet and a copy of its wire bytes. **copy-chunks** is ' +
      'the least a decoder handing out contiguous packets from chunked input can do: copy every chunk once. ' +
      'Where mqttwire is near its floor, the ratio to mqtt-packet is bounded by memory bandwidth, not by the codec.', '')
    L.push('| qos | payload | alloc-copy packets/s | mqttwire encode | of the floor | mqtt-packet generate | of the floor | copy-chunks packets/s | mqttwire chunked decode | of the floor |')
    L.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    const pct = (x, f) => `${Math.round((100 * x) / f)} %`
    for (const f of floors) {
      L.push(`| ${f.qos} | ${fmtPayload(f.payload)} | ${fmtInt(Math.round(f.alloc_copy))} | ${fmtInt(Math.round(f.encode))} | ` +
        `${pct(f.encode, f.alloc_copy)} | ${fmtInt(Math.round(f.mqtt_packet_encode))} | ${pct(f.mqtt_packet_encode, f.alloc_copy)} | ` +
        `${fmtInt(Math.round(f.copy_chunks))} | ${fmtInt(Math.round(f.decode_chunked))} | ${pct(f.decode_chunked, f.copy_chunks)} |`)
    }
  }
  L.push('')
  L.push('Numbers on this 2-core machine can vary by ~2x with background load (e.g. a fuzzer on one core); ' +
    'the two sides are interleaved so that load affects both alike. Compare ratios, not absolute values, across runs.')
  return L.join('\n') + '\n'
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main () {
  const { runs, rounds, runsPerRound, quick, build } = parseCli()
  const started = new Date()
  const t0 = process.hrtime.bigint()
  const loadStart = os.loadavg()
  const machine = machineInfo()

  const cases = []
  for (const qos of QOS_LEVELS) for (const payload of PAYLOAD_SIZES) cases.push(expectedCase(qos, payload, quick))
  const expected = new Map()
  for (const c of cases) for (const [op, mode] of OPS) expected.set(`${op}/${mode}/${c.qos}/${c.payload}`, c)
  const reference = workloadReference()
  if (!quick && reference.size !== cases.length) {
    log(`warning: found ${reference.size} reference rows in WORKLOAD.md (expected ${cases.length}); SHA-256 check limited`)
  }

  if (build) buildRust()
  const sides = { node: nodeSide(runsPerRound, quick), rust: rustSide(runsPerRound, quick) }
  const order = []
  const raw = { node: [], rust: [] }
  const parsed = { node: [], rust: [] }
  let shaChecked = 0
  log(`${quick ? 'QUICK mode, ' : ''}${rounds} round(s) x ${runsPerRound} timed runs per side per measurement`)

  for (let round = 0; round < rounds; round++) {
    // ABBA: node first in even rounds, Rust first in odd rounds.
    const seq = round % 2 === 0 ? ['node', 'rust'] : ['rust', 'node']
    order.push(seq.map((s) => sides[s].name))
    for (const side of seq) {
      const label = `${side} ${round + 1}/${rounds}`
      const { doc, wall_seconds: wall } = await sides[side].run(label)
      const tool = sides[side].name
      parsed[side].push(validateDoc(label, doc, tool, expected, runsPerRound, quick))
      if (side === 'node') shaChecked = validateStreams(label, doc, cases, reference, quick)
      raw[side].push({ round: round + 1, wall_seconds: wall, output: doc })
    }
  }

  // Merge per-run samples over rounds; both sides were checked against the
  // same expected (N, wire_size) per case, so their streams are identical in
  // count and size (the node side additionally proved its bytes by SHA-256).
  const rows = []
  for (const [op, mode] of OPS) {
    for (const c of cases) {
      const k = `${op}/${mode}/${c.qos}/${c.payload}`
      const merge = (side) => summarise(parsed[side].flatMap((m) => m.get(k).runs), c.wire_size)
      const mqttwire = merge('rust')
      const mqttPacket = merge('node')
      const ratio = mqttwire.median / mqttPacket.median
      rows.push({
        op, mode, qos: c.qos, payload: c.payload, packets: c.packets, wire_size: c.wire_size,
        mqttwire, mqtt_packet: mqttPacket,
        ratio: Number(ratio.toFixed(3)),
        meets_target: op === 'decode' ? ratio >= TARGET_RATIO : null
      })
    }
  }
  const extra = []
  for (const c of cases) {
    const samples = raw.node.flatMap((r) => (r.output.extra_results ?? [])
      .filter((e) => e.qos === c.qos && e.payload === c.payload && e.mode === 'writeToStream')
      .flatMap((e) => e.runs))
    if (samples.length) extra.push({ op: 'encode', mode: 'writeToStream', qos: c.qos, payload: c.payload, stats: summarise(samples, c.wire_size) })
  }

  // The Rust side's floors (allocate + copy per packet under encode, copy the chunks once
  // under chunked decode), medians over the rounds, beside mqttwire's own medians.
  const floors = []
  for (const c of cases) {
    const floor = (op) => {
      const v = raw.rust.flatMap((r) => (r.output.floors ?? [])
        .filter((f) => f.op === op && f.qos === c.qos && f.payload === c.payload)
        .map((f) => f.packets_per_sec)).sort((a, b) => a - b)
      return v.length ? v[Math.floor(v.length / 2)] : null
    }
    const ours = (op, mode) => rows.find((r) => r.op === op && r.mode === mode && r.qos === c.qos && r.payload === c.payload)
    const allocCopy = floor('alloc-copy')
    const copyChunks = floor('copy-chunks')
    if (allocCopy === null || copyChunks === null) continue
    floors.push({
      qos: c.qos,
      payload: c.payload,
      wire_size: c.wire_size,
      alloc_copy: allocCopy,
      encode: ours('encode', 'whole').mqttwire.median,
      mqtt_packet_encode: ours('encode', 'whole').mqtt_packet.median,
      copy_chunks: copyChunks,
      decode_chunked: ours('decode', 'chunked').mqttwire.median
    })
  }

  const report = {
    date: started.toISOString(),
    machine,
    versions: {
      mqttwire: raw.rust[0].output.version,
      mqtt_packet: raw.node[0].output.version,
      node: machine.node,
      rustc: machine.rustc
    },
    harness: {
      command: `node bench/codec/run.mjs${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`,
      quick,
      runs_requested: runs,
      rounds,
      runs_per_round: runsPerRound,
      warmup_runs_per_round: 1,
      order,
      sha_checked: shaChecked,
      loadavg_start: loadStart,
      loadavg_end: os.loadavg(),
      wall_seconds: Number(process.hrtime.bigint() - t0) / 1e9
    },
    target: { op: 'decode', min_ratio: TARGET_RATIO, metric: 'packets_per_sec median, mqttwire / mqtt-packet' },
    streams: cases,
    rows,
    extra,
    floors
  }
  const md = markdown(report)

  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(join(RESULTS_DIR, 'codec.md'), md)
  writeFileSync(join(RESULTS_DIR, 'codec.json'), JSON.stringify({ ...report, raw }, null, 2) + '\n')
  process.stdout.write(md)
  log(`wrote ${relative(REPO_DIR, join(RESULTS_DIR, 'codec.md'))} and ${relative(REPO_DIR, join(RESULTS_DIR, 'codec.json'))}`)
}

main().catch((err) => {
  process.stderr.write(`[codec:compare] HARNESS FAILURE: ${err instanceof HarnessError ? err.message : err.stack ?? err}\n`)
  process.exitCode = 1
})
