#!/usr/bin/env node
// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Scale-out on this machine (issue 14): messages/s through 1 bridge in front of 1 broker
// node against 2 bridges in front of 2 nodes of a cluster, side by side in one run.
//
//   node bench/bridge/cluster.mjs [--runs N] [--quick] [--no-build]
//
// The broker is rmqtt with its broadcast cluster plugin (tests/src/bin/cluster-node.rs,
// release build; the test fixture `mqttwire_tests::cluster` runs the same binary):
//   one  a single node and one mqttwire-bridge in front of it
//   two  two nodes joined over gRPC, bridge A in front of node 1, bridge B of node 2
// Load, the same for both: two publisher/subscriber pairs of MQTT.js clients in four node
// processes (./worker.mjs, MQTT 3.1.1, browser framing: one WebSocket message per tick's
// writes). In "two" each pair crosses the cluster: pair 1 publishes through A and is
// subscribed through B, pair 2 the other way round, so every message takes the gRPC hop,
// as when a load balancer spreads users over bridges. Per run, one then two (two then one
// in even runs), QoS 0 and QoS 1, 64 B: the pairs publish at once; messages/s is all
// messages delivered over the time from the first publish to the last delivery.
//
// Output: markdown on stdout and in bench/results/cluster.md, raw numbers in
// bench/results/cluster.json (--quick: cluster-quick.*). Exit status 0 when both setups
// were measured, 1 on a harness failure, 2 on a usage error.

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import process from 'node:process'
import { parseArgs } from 'node:util'
import {
  BENCH_DIR, CARGO_LOCK, HarnessError, REPO_DIR, RESULTS_DIR, Worker, buildBridge, cpuSnapshot, fmtNum, fmtRate, freePorts,
  initHarness, log, logTail, quiesce, sleep, startBridge, startProcess, stats, stopAll, waitForPort, withRange
} from './common.mjs'

const NODE_BIN = join(REPO_DIR, 'target', 'release', 'cluster-node')
const PAYLOAD = 64
const PROFILES = {
  full: { runs: 5, qos0: 100_000, qos1: 30_000, warmup: 5_000, capMs: 30_000 },
  quick: { runs: 1, qos0: 5_000, qos1: 2_000, warmup: 1_000, capMs: 10_000 }
}

const USAGE = `usage: node bench/bridge/cluster.mjs [options]

  --runs N     runs, the setups alternating (default 5, at least 5 unless --quick)
  --quick      1 small run: a smoke test, numbers NOT comparable
               (writes bench/results/cluster-quick.{md,json})
  --no-build   use target/release/mqttwire-bridge and target/release/cluster-node as they are
  --help       show this help`

function parseCli () {
  let values
  try {
    ({ values } = parseArgs({
      options: {
        runs: { type: 'string' },
        quick: { type: 'boolean', default: false },
        'no-build': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      },
      strict: true
    }))
  } catch (err) {
    process.stderr.write(`${err.message}\n\n${USAGE}\n`)
    process.exit(2)
  }
  if (values.help) { process.stdout.write(`${USAGE}\n`); process.exit(0) }
  const profile = { ...PROFILES[values.quick ? 'quick' : 'full'] }
  if (values.runs !== undefined) {
    const runs = Number(values.runs)
    if (!Number.isInteger(runs) || runs < (values.quick ? 1 : 5) || runs > 50) {
      process.stderr.write(`--runs must be an integer from ${values.quick ? 1 : 5} to 50\n`)
      process.exit(2)
    }
    profile.runs = runs
  }
  return { profile, quick: values.quick, build: !values['no-build'] }
}

function buildNode (build) {
  if (build) {
    log(`flock ${CARGO_LOCK} cargo build --release -p mqttwire-tests --bin cluster-node (a no-op when up to date)`)
    const r = spawnSync('flock', [CARGO_LOCK, 'cargo', 'build', '-q', '--release', '--locked', '-p', 'mqttwire-tests', '--bin', 'cluster-node'], { cwd: REPO_DIR, stdio: ['ignore', 2, 2] })
    if (r.error || r.status !== 0) throw new HarnessError('cargo build --release -p mqttwire-tests --bin cluster-node failed')
  }
  if (!existsSync(NODE_BIN)) throw new HarnessError(`${NODE_BIN} missing (run without --no-build)`)
}

/** `n` rmqtt nodes joined into one cluster (each node lists every node, itself included). */
async function startCluster (name, n) {
  const ports = await freePorts(2 * n)
  const mqtt = ports.slice(0, n)
  const grpc = ports.slice(n)
  const peers = grpc.map((port, i) => `${i + 1}@127.0.0.1:${port}`)
  const nodes = []
  for (let i = 0; i < n; i++) {
    // Its standard input is /dev/null, not a pipe: the node runs until it is stopped.
    const proc = startProcess(`${name}-node${i + 1}`, NODE_BIN, [String(i + 1), String(mqtt[i]), String(grpc[i]), ...peers])
    nodes.push({ proc, port: mqtt[i] })
  }
  for (const node of nodes) await waitForPort(node.port, node.proc, 20_000)
  return nodes
}

/**
 * One measurement: both pairs subscribe, connect, then publish `n` messages each at once.
 * `routes[i]` = [publisher URL, subscriber URL] of pair i.
 */
async function measure (setup, pairs, { n, qos, capMs, topic }) {
  const convs = []
  try {
    const subs = pairs.map((pair, i) => pair.sub.start({ op: 'sub', url: setup.routes[i][1], topic: `${topic}/${i}`, qos, n, capMs, wsFraming: 'browser' }))
    convs.push(...subs)
    for (const s of subs) await s.expect('ready', 15_000)
    // The subscription reaches the other node asynchronously: a moment for it.
    if (setup.nodes.length > 1) await sleep(300)
    const pubs = pairs.map((pair, i) => pair.pub.start({ op: 'pub', url: setup.routes[i][0], topic: `${topic}/${i}`, qos, n, size: PAYLOAD, capMs, window: 1000, wsFraming: 'browser' }))
    convs.push(...pubs)
    for (const p of pubs) await p.expect('ready', 15_000)
    const servers = Object.fromEntries([...setup.bridges.map((b, i) => [`bridge${i + 1}`, b.proc.pid]), ...setup.nodes.map((x, i) => [`node${i + 1}`, x.proc.pid])])
    const before = cpuSnapshot(servers)
    for (const s of subs) s.send('go')
    for (const p of pubs) p.send('go')
    const pd = await Promise.all(pubs.map((p) => p.expect('done', capMs + 15_000)))
    const sd = await Promise.all(subs.map((s) => s.expect('done', capMs + 15_000)))
    const after = cpuSnapshot(servers)
    await Promise.all(convs.map((c) => c.expect('closed', 10_000)))
    const first = pd.map((d) => BigInt(d.startNs)).reduce((a, b) => (a < b ? a : b))
    const last = sd.map((d) => BigInt(d.lastNs)).reduce((a, b) => (a > b ? a : b))
    const seconds = Number(last - first) / 1e9
    const delivered = sd.reduce((acc, d) => acc + d.count, 0)
    const wall = Number(after.at - before.at) / 1e9
    const cpuOfKind = (kind) => Object.keys(servers).filter((k) => k.startsWith(kind)).reduce((acc, k) => acc + ((after[k] ?? 0) - (before[k] ?? 0)), 0)
    const serverCpu = cpuOfKind('bridge') + cpuOfKind('node')
    const busy = after.machine.busy - before.machine.busy
    const total = after.machine.total - before.machine.total
    return {
      ok: delivered === n * pairs.length && !sd.some((d) => d.timedOut) && !pd.some((d) => d.timedOut),
      capped: sd.some((d) => d.timedOut) || pd.some((d) => d.timedOut),
      sent: pd.reduce((acc, d) => acc + d.count, 0),
      delivered,
      seconds,
      rate: delivered > 0 && seconds > 0 ? delivered / seconds : 0,
      serverUsPerMsg: delivered ? (serverCpu * 1e6) / delivered : null,
      bridgeUsPerMsg: delivered ? (cpuOfKind('bridge') * 1e6) / delivered : null,
      nodeUsPerMsg: delivered ? (cpuOfKind('node') * 1e6) / delivered : null,
      serverCores: wall > 0 ? serverCpu / wall : null,
      machineBusyPct: total > 0 ? (100 * busy) / total : null
    }
  } finally {
    for (const c of convs) c.forget()
  }
}


function summarize (records) {
  const out = {}
  for (const qos of [0, 1]) {
    const side = (key) => {
      const list = records.filter((r) => r.qos === qos && r.setup === key && r.result).map((r) => r.result)
      return {
        rate: stats(list.map((r) => r.rate)),
        serverUs: stats(list.map((r) => r.serverUsPerMsg)),
        bridgeUs: stats(list.map((r) => r.bridgeUsPerMsg)),
        nodeUs: stats(list.map((r) => r.nodeUsPerMsg)),
        serverCores: stats(list.map((r) => r.serverCores)),
        busy: stats(list.map((r) => r.machineBusyPct)),
        incomplete: list.filter((r) => !r.ok).length
      }
    }
    const one = side('one')
    const two = side('two')
    const pairs = []
    for (const run of new Set(records.map((r) => r.run))) {
      const a = records.find((r) => r.run === run && r.qos === qos && r.setup === 'one' && r.result)
      const b = records.find((r) => r.run === run && r.qos === qos && r.setup === 'two' && r.result)
      if (a && b && a.result.rate) pairs.push(b.result.rate / a.result.rate)
    }
    out[qos] = { one, two, ratio: one.rate && two.rate ? two.rate.median / one.rate.median : null, pairRatio: stats(pairs) }
  }
  return out
}

function render (r) {
  const L = []
  const row = (cells) => L.push(`| ${cells.join(' | ')} |`)
  const m = r.meta
  L.push('# Bridge: 1 bridge + 1 broker node against 2 bridges + 2 nodes of a cluster')
  L.push('')
  L.push(`${m.date} · ${m.machine.cores}x ${m.machine.cpu} · load average at start ${m.loadavgStart.join(' ')}, at end ${m.loadavgEnd.join(' ')} · took ${Math.round(m.durationSeconds)} s · ${m.versions.bridge}, rmqtt 0.24 with rmqtt-cluster-broadcast (\`cluster-node\`, release), MQTT.js ${m.versions.mqtt}, node ${m.versions.node}.`)
  L.push('')
  if (m.quick) L.push('**QUICK RUN: smoke test, numbers not comparable.**', '')
  L.push(`Two publisher/subscriber pairs of MQTT.js clients (MQTT 3.1.1, four node processes) publish ${m.profile.qos0.toLocaleString('en')} (QoS 0) or ${m.profile.qos1.toLocaleString('en')} (QoS 1, at most 1,000 unacknowledged) messages of ${PAYLOAD} B each, at once. ` +
    '**one**: every client through one mqttwire-bridge to one rmqtt node. **two**: two rmqtt nodes joined by the broadcast cluster (gRPC), bridge A in front of node 1 and bridge B of node 2; each pair publishes through one bridge and subscribes through the other, so every message crosses the cluster. ' +
    `${m.profile.runs} runs, the setups alternating. Messages/s: every delivered message over the time from the first publish to the last delivery. CPU from /proc per message delivered: of the bridges together and of the broker nodes together; "server cores" is their sum over the wall time. Median (min–max).`)
  L.push('')
  row(['QoS', 'setup', 'msgs/s', 'two / one', 'pairs two / one', 'bridges µs/msg', 'broker nodes µs/msg', 'server cores', 'machine busy'])
  row(Array(9).fill('---'))
  for (const [qos, s] of Object.entries(r.summary)) {
    for (const key of ['one', 'two']) {
      const x = s[key]
      row([qos, key === 'one' ? '1 bridge + 1 node' : '2 bridges + 2 nodes', withRange(x.rate, fmtRate) + (x.incomplete ? ` ⚠ ${x.incomplete} incomplete` : ''),
        key === 'two' && s.ratio != null ? `${s.ratio.toFixed(2)}x` : '', key === 'two' ? withRange(s.pairRatio, (v) => v.toFixed(2)) : '',
        withRange(x.bridgeUs, fmtNum), withRange(x.nodeUs, fmtNum), withRange(x.serverCores, fmtNum), x.busy ? `${x.busy.median.toFixed(0)} %` : '–'])
    }
  }
  L.push('')
  L.push(`**What 2 cores allow.** Both setups run on the same ${m.machine.cores} cores, with the four MQTT.js processes on them too: the machine is busy near 100 % in both ("machine busy"), so a second bridge and a second node cannot add capacity here, only work (the gRPC hop, a second process of each). ` +
    'What "two" shows on one machine is that the cluster carries the traffic across bridges and nodes, and at what CPU cost per message (the two µs/msg columns: where "two" costs more, the table shows which side pays); the gain of scaling out shows where each bridge and node has cores of its own: throughput is then bounded by the busiest single process ("server cores" is their sum here).')
  L.push('')
  L.push('## Runs', '')
  row(['run', 'QoS', 'setup', 'msgs/s', 'delivered', 'server µs/msg', 'machine busy'])
  row(Array(7).fill('---'))
  for (const rec of r.records) {
    const x = rec.result
    row([rec.run, rec.qos, rec.setup, x ? fmtRate(x.rate) : `failed: ${rec.error}`, x ? `${x.delivered}/${x.sent}${x.capped ? ' (cap)' : ''}` : '–', x ? fmtNum(x.serverUsPerMsg) : '–', x?.machineBusyPct ? `${x.machineBusyPct.toFixed(0)} %` : '–'])
  }
  if (r.problems.length) {
    L.push('', '## Problems', '')
    for (const p of r.problems) L.push(`- ${p.split('\n')[0]}`)
  }
  L.push('', `Raw numbers: \`bench/results/${r.base}.json\`. How to read this: \`bench/bridge/README.md\` ("Scale-out").`)
  return L.join('\n') + '\n'
}

async function main () {
  const cli = parseCli()
  const P = cli.profile
  const t0 = Date.now()
  initHarness('cluster', { watchdogMs: 20 * 60_000 + (cli.build ? 30 * 60_000 : 0) })
  const loadavgStart = os.loadavg()
  const bridgeTool = buildBridge(cli.build)
  buildNode(cli.build)
  const versions = {
    bridge: bridgeTool.version,
    mqtt: JSON.parse(readFileSync(join(BENCH_DIR, 'node_modules', 'mqtt', 'package.json'), 'utf8')).version,
    node: process.version
  }

  const oneNodes = await startCluster('one', 1)
  const oneBridge = await startBridge(bridgeTool.bin, oneNodes[0].port, 'one-bridge')
  const twoNodes = await startCluster('two', 2)
  const twoBridges = [await startBridge(bridgeTool.bin, twoNodes[0].port, 'two-bridge-a'), await startBridge(bridgeTool.bin, twoNodes[1].port, 'two-bridge-b')]
  const setups = [
    { key: 'one', nodes: oneNodes, bridges: [oneBridge], routes: [[oneBridge.url, oneBridge.url], [oneBridge.url, oneBridge.url]] },
    { key: 'two', nodes: twoNodes, bridges: twoBridges, routes: [[twoBridges[0].url, twoBridges[1].url], [twoBridges[1].url, twoBridges[0].url]] }
  ]
  const servers = setups.flatMap((s) => [...s.nodes, ...s.bridges].map((x) => x.proc.pid))
  const pairs = [0, 1].map((i) => ({ pub: new Worker(`publisher-${i + 1}`), sub: new Worker(`subscriber-${i + 1}`) }))
  const problems = []

  for (const setup of setups) {
    for (const qos of [0, 1]) {
      const w = await measure(setup, pairs, { n: P.warmup, qos, capMs: P.capMs, topic: `warmup/${setup.key}/${qos}` })
      if (!w.ok) throw new HarnessError(`warm-up through ${setup.key} at QoS ${qos} delivered ${w.delivered}/${2 * P.warmup}`)
      log(`warm-up ${setup.key} QoS ${qos}: ${fmtRate(w.rate)} msgs/s`)
      await quiesce(servers)
    }
  }

  const records = []
  for (let run = 1; run <= P.runs; run++) {
    for (const qos of [0, 1]) {
      for (const setup of run % 2 ? setups : [...setups].reverse()) {
        const n = qos ? P.qos1 : P.qos0
        const rec = { run, qos, setup: setup.key, startedAt: new Date().toISOString() }
        try {
          rec.result = await measure(setup, pairs, { n, qos, capMs: P.capMs, topic: `bench/${run}/${setup.key}/${qos}` })
          const x = rec.result
          log(`run ${run}/${P.runs} QoS ${qos} ${setup.key}: ${fmtRate(x.rate)} msgs/s (${x.delivered}/${x.sent}${x.capped ? ', TIME CAP' : ''}), server ${fmtNum(x.serverUsPerMsg)} µs/msg, machine ${fmtNum(x.machineBusyPct, 0)} %`)
          if (!x.ok) problems.push(`run ${run} QoS ${qos} ${setup.key}: delivered ${x.delivered} of ${2 * n}${x.capped ? ' (time cap)' : ''}`)
        } catch (err) {
          rec.error = String(err?.message ?? err)
          problems.push(`run ${run} QoS ${qos} ${setup.key}: ${rec.error}`)
          log(`run ${run}/${P.runs} QoS ${qos} ${setup.key} FAILED: ${rec.error}`)
        }
        await quiesce(servers)
        records.push(rec)
      }
    }
  }
  for (const setup of setups) {
    for (const x of [...setup.nodes, ...setup.bridges]) {
      if (x.proc.exited) problems.push(`${x.proc.name} exited (${x.proc.exitCode}): ${logTail(x.proc, 3)}`)
    }
  }
  await stopAll()

  const base = cli.quick ? 'cluster-quick' : 'cluster'
  const result = {
    base,
    meta: {
      date: new Date().toISOString(),
      quick: cli.quick,
      profile: P,
      payloadBytes: PAYLOAD,
      versions,
      source: { ...bridgeTool.source, builtAt: bridgeTool.builtAt, built: bridgeTool.built },
      machine: { cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length },
      loadavgStart: loadavgStart.map((x) => x.toFixed(2)),
      loadavgEnd: os.loadavg().map((x) => x.toFixed(2)),
      durationSeconds: (Date.now() - t0) / 1000
    },
    summary: summarize(records),
    records,
    problems
  }
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(join(RESULTS_DIR, `${base}.json`), JSON.stringify(result, null, 2) + '\n')
  const md = render(result)
  writeFileSync(join(RESULTS_DIR, `${base}.md`), md)
  process.stdout.write(md)
  if (records.some((r) => r.setup === 'one' && r.result) && records.some((r) => r.setup === 'two' && r.result)) return
  process.exitCode = 1
}

main().catch(async (err) => {
  log(`error: ${err.stack ?? err}`)
  await stopAll()
  process.exit(1)
})
