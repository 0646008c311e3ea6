#!/usr/bin/env node
// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Soak test of mqttwire-bridge (issue 12): N idle MQTT-over-WebSocket connections through
// the bridge to mosquitto, held for a while with keepalive traffic, the bridge's memory
// sampled throughout.
//
//   node bench/bridge/soak.mjs [--connections N] [--minutes M] [--keepalive S] ...
//   (defaults: 10,000 connections or as many as RLIMIT_NOFILE allows, 10 minutes,
//   keepalive 30 s, a sample every 15 s)
//
// 1. Builds the bridge (flock /tmp/mqttwire-cargo.lock cargo build --release -p ws-bridge;
//    --no-build skips it), starts mosquitto and the bridge (--metrics-listen on a port of
//    its own) on loopback, each with its soft open-files limit raised to the hard limit,
//    and one client process (./worker.mjs, raw `ws` clients, hand-built CONNECT) likewise.
// 2. Opens N connections, 50 at a time, each waiting for its CONNACK; every connection then
//    sends PINGREQ every `keepalive` seconds and counts the PINGRESPs.
// 3. Holds them for M minutes; every 15 s it samples the bridge's VmRSS (/proc/PID/status),
//    its descriptors and CPU time, mosquitto's VmRSS and descriptors, the bridge's
//    /metrics (mqttwire_bridge_connections_open, refusals, PINGREQs relayed) and the
//    client's counts (open, pings, PINGRESPs, connections lost).
// 4. Closes the connections, samples once more, stops everything (also on errors, Ctrl-C,
//    SIGTERM and a watchdog at M + 6 minutes) and writes the report.
//
// Bytes per connection = (VmRSS at the sample − VmRSS before any connection) /
// connections the bridge reports open at the sample. The report gives it at the start and
// end of the hold, the least-squares slope over the hold, and calls memory "flat" when the
// slope adds up to at most 5 % of the start value over the hold and the end value is within
// 5 % of the start value.
//
// Output: markdown on stdout and in bench/results/soak.md, everything raw in
// bench/results/soak.json; a hold shorter than 10 minutes or fewer than 10,000 connections
// asked for writes soak-short.{md,json} instead, so that a short run never overwrites the
// real one. Progress goes to stderr. Exit status: 0 when the soak ran to the end (whether or
// not memory stayed flat or connections were lost: the report says so), 1 on a harness
// failure, 2 on a usage error.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import process from 'node:process'
import { parseArgs } from 'node:util'
import {
  BENCH_DIR, HarnessError, RESULTS_DIR, Worker, buildBridge, cpuSeconds, family, fdCount, initHarness, log, logProblems,
  logTail, mosquittoVersion, openFilesLimits, rssKiB, scrapeMetrics, sleep, startBridge, startMosquitto,
  stopAll, stopProcess
} from './common.mjs'

const DEFAULTS = { connections: 10_000, minutes: 10, keepalive: 30, sample: 15 }
/** Connections opened at a time. */
const CONCURRENCY = 50
/** Descriptors the bridge keeps free beyond its own (listeners, metrics scrapes, accept races). */
const FD_SPARE = 50
/** "Flat": growth over the hold (slope x duration) and end − start, each at most this share of the start value. */
const FLAT_SHARE = 0.05

const USAGE = `usage: node bench/bridge/soak.mjs [options]

  --connections N   idle connections to hold (default ${DEFAULTS.connections.toLocaleString('en')}; cut to what the
                    processes' RLIMIT_NOFILE allows: the bridge needs 2 descriptors
                    per connection, mosquitto and the client 1 each)
  --minutes M       how long to hold them (default ${DEFAULTS.minutes}; at most 120)
  --keepalive S     MQTT keepalive in seconds; each connection sends PINGREQ every S s
                    (default ${DEFAULTS.keepalive})
  --sample S        seconds between samples (default ${DEFAULTS.sample})
  --no-build        use target/release/mqttwire-bridge as it is
  --help            show this help

Writes bench/results/soak.{md,json} (soak-short.{md,json} for a hold under
${DEFAULTS.minutes} minutes or under ${DEFAULTS.connections.toLocaleString('en')} connections).`

function parseCli () {
  let values
  try {
    ({ values } = parseArgs({
      options: {
        connections: { type: 'string' },
        minutes: { type: 'string' },
        keepalive: { type: 'string' },
        sample: { type: 'string' },
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
  const num = (name, def, min, max, integer = true) => {
    if (values[name] === undefined) return def
    const x = Number(values[name])
    if (!Number.isFinite(x) || x < min || x > max || (integer && !Number.isInteger(x))) {
      process.stderr.write(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}\n`)
      process.exit(2)
    }
    return x
  }
  const cli = {
    connections: num('connections', DEFAULTS.connections, 1, 100_000),
    minutes: num('minutes', DEFAULTS.minutes, 0.25, 120, false),
    keepalive: num('keepalive', DEFAULTS.keepalive, 1, 3600),
    sample: num('sample', DEFAULTS.sample, 1, 600),
    build: !values['no-build']
  }
  cli.full = cli.minutes >= DEFAULTS.minutes && cli.connections >= DEFAULTS.connections
  return cli
}

/** Least-squares slope and intercept of y over x; null with fewer than 2 points. */
function regression (points) {
  if (points.length < 2) return null
  const n = points.length
  const mx = points.reduce((a, p) => a + p[0], 0) / n
  const my = points.reduce((a, p) => a + p[1], 0) / n
  let sxy = 0
  let sxx = 0
  for (const [x, y] of points) { sxy += (x - mx) * (y - my); sxx += (x - mx) ** 2 }
  if (!sxx) return null
  const slope = sxy / sxx
  return { slope, intercept: my - slope * mx }
}

/** One sample of everything that is watched during the hold. */
async function sample (tSec, bridge, broker, idle) {
  const s = {
    t: tSec,
    bridgeRssKiB: rssKiB(bridge.proc.pid),
    bridgeFds: fdCount(bridge.proc.pid),
    bridgeCpuS: cpuSeconds(bridge.proc.pid),
    brokerRssKiB: rssKiB(broker.proc.pid),
    brokerFds: fdCount(broker.proc.pid)
  }
  try {
    const m = await scrapeMetrics(bridge.metricsUrl)
    s.connectionsOpen = m.mqttwire_bridge_connections_open ?? null
    s.connectionsTotal = m.mqttwire_bridge_connections_total ?? null
    s.refused = family(m, 'mqttwire_bridge_refused_total')
    s.pingreqRelayed = m['mqttwire_bridge_packets_total{direction="Upstream",type="PINGREQ"}'] ?? 0
    s.pingrespRelayed = m['mqttwire_bridge_packets_total{direction="Downstream",type="PINGRESP"}'] ?? 0
  } catch (err) {
    s.metricsError = String(err?.message ?? err)
  }
  if (idle) {
    try {
      idle.worker.proc.send({ op: 'status', id: idle.conv.id })
      const { ev, id, ...status } = await idle.conv.expect('status', 5000)
      s.client = status
    } catch (err) {
      s.clientError = String(err?.message ?? err)
    }
  }
  return s
}

const mib = (kib) => kib == null ? '–' : (kib / 1024).toFixed(1)
const fmt = (x, d = 0) => x == null || !Number.isFinite(x) ? '–' : x.toLocaleString('en', { minimumFractionDigits: d, maximumFractionDigits: d })

function render (r) {
  const L = []
  const row = (cells) => L.push(`| ${cells.join(' | ')} |`)
  const m = r.meta
  L.push(`# Bridge soak: ${fmt(r.connections.opened)} idle connections for ${m.minutes} minutes`)
  L.push('')
  L.push(`${m.date} · ${m.machine.cores}x ${m.machine.cpu} · Linux ${m.machine.kernel} · load average at start ${m.loadavgStart.join(' ')}, at end ${m.loadavgEnd.join(' ')} · took ${Math.round(m.durationSeconds)} s · ` +
    `${m.versions.bridge} (${m.source.built ? 'built by this run from' : `binary of ${m.source.builtAt}, --no-build; work tree at run time:`} commit ${m.source.commit}${m.source.dirty.length ? ` with uncommitted changes to ${m.source.dirty.join(', ')}` : ''}), ${m.versions.mosquitto}, node ${m.versions.node}, ws ${m.versions.ws}.`)
  L.push('')
  if (!m.full) L.push(`**Short run** (the issue's soak is ${DEFAULTS.connections.toLocaleString('en')} connections for ${DEFAULTS.minutes} minutes: \`node bench/bridge/soak.mjs\`).`, '')
  L.push(`${fmt(r.connections.opened)} MQTT 3.1.1 connections over WebSocket (raw \`ws\` clients in one node process, hand-built CONNECT, keepalive ${m.keepalive} s, ${CONCURRENCY} opened at a time) ` +
    `through \`mqttwire-bridge ${r.bridgeArgs.join(' ')}\` to mosquitto on loopback, held for ${m.minutes} minutes; each sends PINGREQ every ${m.keepalive} s. ` +
    `A sample every ${m.sample} s. Bytes per connection = (bridge VmRSS − VmRSS before any connection) / connections open per the bridge's /metrics.`)
  L.push('')
  L.push('## Result', '')
  row(['measure', 'value'])
  row(['---', '---'])
  const a = r.analysis
  row(['connections asked for / opened', `${fmt(r.connections.requested)} / ${fmt(r.connections.opened)}${r.connections.cut ? ` (cut to ${fmt(r.connections.target)}: ${r.connections.cut})` : ''}${r.connections.failed ? `, ${r.connections.failed} failed to open (${r.connections.firstError})` : ''}`])
  row(['opening', `${fmt(r.connections.openSeconds, 1)} s (${fmt(r.connections.opened / r.connections.openSeconds)} connections/s)`])
  row(['bridge VmRSS before connections', `${mib(r.baseline.bridgeRssKiB)} MiB`])
  const bytes = (x) => x == null ? '–' : `${fmt(x)} B (${fmt(x / 1024, 1)} KiB)`
  row(['bytes per connection, start of hold', bytes(a.startBytesPerConnection)])
  row(['bytes per connection, end of hold', bytes(a.endBytesPerConnection)])
  row(['change start → end', a.changePct == null ? '–' : `${a.changePct >= 0 ? '+' : ''}${a.changePct.toFixed(1)} %`])
  row(['slope over the hold', a.slopeBytesPerConnPerMin == null ? '–' : `${a.slopeBytesPerConnPerMin >= 0 ? '+' : ''}${a.slopeBytesPerConnPerMin.toFixed(1)} bytes per connection per minute (${a.slopeKiBPerMin >= 0 ? '+' : ''}${a.slopeKiBPerMin.toFixed(1)} KiB/min of RSS; ${a.growthPct >= 0 ? '+' : ''}${a.growthPct.toFixed(1)} % of the start value over the hold)`])
  row(['memory per connection flat?', a.flat == null ? 'not measured' : a.flat ? `yes (within ${FLAT_SHARE * 100} %)` : `**no** (more than ${FLAT_SHARE * 100} %)`])
  row(['connections open at the end (bridge /metrics: mqttwire_bridge_connections_open)', `${fmt(r.end.connectionsOpen)} of ${fmt(r.connections.opened)}`])
  row(['connections open at the end (client side / mosquitto descriptors − baseline)', `${fmt(r.end.client?.open)} / ${fmt(r.end.brokerFds != null ? r.end.brokerFds - r.baseline.brokerFds : null)}`])
  row(['connections lost during the hold (client side)', `${fmt(r.end.client?.lost)}${r.end.client?.lost ? `: ${Object.entries(r.end.client.lossByCause).map(([k, v]) => `${v} × ${k}`).join('; ')}` : ''}`])
  row(['keepalive traffic', `${fmt(r.end.client?.pingsSent)} PINGREQ sent, ${fmt(r.end.client?.pongs)} PINGRESP back (bridge relayed ${fmt(r.end.pingreqRelayed)} / ${fmt(r.end.pingrespRelayed)}); ` +
    `PINGRESP after ${fmt(r.end.client?.meanPongMs, 1)} ms mean, ${fmt(r.end.client?.maxPongMs, 1)} ms max; ${fmt(r.end.client?.late)} pings unanswered when the next was due`])
  row(['bridge CPU during the hold', `${fmt(a.bridgeCpuSeconds, 2)} s (${fmt(a.bridgeCpuPct, 2)} % of one core)`])
  row(['bridge descriptors, start / end of hold', `${fmt(r.samples[0]?.bridgeFds)} / ${fmt(r.end.bridgeFds)}`])
  row(['mosquitto VmRSS, before / start / end', `${mib(r.baseline.brokerRssKiB)} / ${mib(r.samples[0]?.brokerRssKiB)} / ${mib(r.end.brokerRssKiB)} MiB`])
  row(['after closing all: bridge VmRSS, connections_open, descriptors', `${mib(r.afterClose.bridgeRssKiB)} MiB, ${fmt(r.afterClose.connectionsOpen)}, ${fmt(r.afterClose.bridgeFds)}`])
  row(['refusals counted by the bridge (mqttwire_bridge_refused_total)', Object.keys(r.end.refused ?? {}).length ? Object.entries(r.end.refused).map(([k, v]) => `${k}: ${v}`).join(', ') : 'none'])
  row(['bridge log lines at WARN or ERROR', fmt(r.bridgeLog.count)])
  row(['bridge exit', String(r.bridgeExit)])
  L.push('')
  L.push('## Open-files limits (RLIMIT_NOFILE soft / hard)', '')
  row(['process', 'soft', 'hard', 'needs'])
  row(['---', '---', '---', '---'])
  const lim = (l) => l ? [l.soft === Infinity ? 'unlimited' : fmt(l.soft), l.hard === Infinity ? 'unlimited' : fmt(l.hard)] : ['?', '?']
  row(['this script (node)', ...lim(r.limits.self), '–'])
  row(['mqttwire-bridge', ...lim(r.limits.bridge), `2 per connection + its own (${fmt(r.baseline.bridgeFds)} before connections)`])
  row(['mosquitto', ...lim(r.limits.broker), `1 per connection + its own (${fmt(r.baseline.brokerFds)})`])
  row(['client (node, separate process)', ...lim(r.limits.client), '1 per connection'])
  L.push('')
  L.push('Each process gets its soft limit raised to its hard limit (`ulimit -n "$(ulimit -Hn)"` before exec).' +
    (r.connections.cut ? ` The hard limit cut the connections to ${fmt(r.connections.target)}; opening all ${fmt(r.connections.requested)} needs a higher hard limit, which takes privileges (see bench/bridge/README.md, "Open files").` : ''), '')
  L.push('## Samples', '')
  row(['t (s)', 'bridge VmRSS MiB', 'bytes per connection', 'open (bridge)', 'open (client)', 'lost', 'PINGREQ sent', 'PINGRESP', 'bridge fds', 'bridge CPU s', 'mosquitto VmRSS MiB'])
  row(Array(11).fill('---'))
  for (const s of r.samples) {
    row([fmt(s.t), mib(s.bridgeRssKiB), fmt(s.bytesPerConnection), fmt(s.connectionsOpen), fmt(s.client?.open), fmt(s.client?.lost), fmt(s.client?.pingsSent), fmt(s.client?.pongs), fmt(s.bridgeFds), fmt(s.bridgeCpuS, 2), mib(s.brokerRssKiB)])
  }
  if (r.problems.length) {
    L.push('', '## Problems', '')
    for (const p of r.problems) L.push(`- ${p.split('\n')[0]}`)
  }
  if (r.bridgeLog.lines.length) {
    L.push('', 'First bridge log lines at WARN or ERROR:', '', '```')
    for (const l of r.bridgeLog.lines) L.push(l)
    L.push('```')
  }
  L.push('', `Raw numbers: \`bench/results/${r.base}.json\`. How to read this: \`bench/bridge/README.md\` ("Soak").`)
  return L.join('\n') + '\n'
}

async function main () {
  const cli = parseCli()
  const t0 = Date.now()
  const holdMs = cli.minutes * 60_000
  initHarness('soak', { watchdogMs: holdMs + 6 * 60_000 + (cli.build ? 30 * 60_000 : 0) })
  const loadavgStart = os.loadavg()
  const tools = { bridge: buildBridge(cli.build) }
  if (!tools.bridge.help.includes('--metrics-listen')) throw new HarnessError(`${tools.bridge.bin} has no --metrics-listen: rebuild it`)
  const versions = {
    bridge: tools.bridge.version,
    mosquitto: mosquittoVersion(),
    node: process.version,
    ws: JSON.parse(readFileSync(join(BENCH_DIR, 'node_modules', 'ws', 'package.json'), 'utf8')).version
  }
  const problems = []

  const broker = await startMosquitto()
  log(`mosquitto pid ${broker.proc.pid} on 127.0.0.1:${broker.port}`)
  const bridge = await startBridge(tools.bridge.bin, broker.port, 'mqttwire-bridge')
  log(`mqttwire-bridge pid ${bridge.proc.pid}: ${bridge.url}, metrics ${bridge.metricsUrl}`)
  const worker = new Worker('soak-client')
  await sleep(1000)

  // How many connections fit in every process's open-files limit.
  const limits = { self: openFilesLimits(process.pid), bridge: openFilesLimits(bridge.proc.pid), broker: openFilesLimits(broker.proc.pid), client: openFilesLimits(worker.pid) }
  const baseline = { bridgeRssKiB: rssKiB(bridge.proc.pid), bridgeFds: fdCount(bridge.proc.pid), brokerRssKiB: rssKiB(broker.proc.pid), brokerFds: fdCount(broker.proc.pid), bridgeCpuS: cpuSeconds(bridge.proc.pid) }
  const fits = [
    ['mqttwire-bridge', limits.bridge, Math.floor((limits.bridge?.soft - baseline.bridgeFds - FD_SPARE) / 2)],
    ['mosquitto', limits.broker, limits.broker?.soft - baseline.brokerFds - FD_SPARE],
    ['client', limits.client, limits.client?.soft - 30 - FD_SPARE]
  ]
  let target = cli.connections
  let cut = null
  for (const [name, l, n] of fits) {
    if (Number.isFinite(n) && n < target) { target = n; cut = `${name}'s RLIMIT_NOFILE is ${l.soft} (hard ${l.hard})` }
  }
  if (target < 1) throw new HarnessError(`no connection fits the open-files limits (${cut})`)
  if (cut) log(`opening ${target} connections, not ${cli.connections}: ${cut}`)
  log(`baseline: bridge VmRSS ${mib(baseline.bridgeRssKiB)} MiB, ${baseline.bridgeFds} fds; limits bridge ${limits.bridge?.soft}/${limits.bridge?.hard}, mosquitto ${limits.broker?.soft}/${limits.broker?.hard}, client ${limits.client?.soft}/${limits.client?.hard}`)

  // Open.
  const openCapMs = Math.max(60_000, target * 20) // 20 ms a connection at worst: 200 s for 10,000
  const conv = worker.start({ op: 'idle', url: bridge.url, n: target, concurrency: CONCURRENCY, capMs: openCapMs, keepalive: cli.keepalive })
  const opened = await conv.expect('open', openCapMs + 30_000)
  const connections = { requested: cli.connections, target, cut, opened: opened.opened, failed: opened.failed, firstError: opened.firstError, openSeconds: opened.openMs / 1000 }
  log(`opened ${opened.opened}/${target} in ${(opened.openMs / 1000).toFixed(1)} s${opened.failed ? ` (${opened.failed} failed: ${opened.firstError})` : ''}`)
  if (opened.failed) problems.push(`${opened.failed} connections failed to open; first: ${opened.firstError}`)
  if (!opened.opened) throw new HarnessError(`no connection opened: ${opened.firstError}\n${logTail(bridge.proc)}`)

  // Hold: a sample at 0, every cli.sample seconds, and at the end. Bounded by count and time.
  const idle = { worker, conv }
  const holdStart = Date.now()
  const times = []
  for (let t = 0; t < holdMs / 1000; t += cli.sample) times.push(t)
  times.push(holdMs / 1000)
  const samples = []
  for (const t of times) {
    const wait = holdStart + t * 1000 - Date.now()
    if (wait > 0) await sleep(wait)
    if (bridge.proc.exited) { problems.push(`the bridge exited (${bridge.proc.exitCode}) during the hold at ${Math.round((Date.now() - holdStart) / 1000)} s`); break }
    if (worker.dead) { problems.push(`the client process died during the hold: ${worker.dead}`); break }
    const s = await sample(Math.round((Date.now() - holdStart) / 100) / 10, bridge, broker, idle)
    const open = s.connectionsOpen ?? s.client?.open
    s.bytesPerConnection = open ? ((s.bridgeRssKiB - baseline.bridgeRssKiB) * 1024) / open : null
    samples.push(s)
    log(`t=${s.t} s: bridge VmRSS ${mib(s.bridgeRssKiB)} MiB, ${fmt(s.bytesPerConnection)} B/connection, open ${s.connectionsOpen ?? '?'} (client ${s.client?.open ?? '?'}, lost ${s.client?.lost ?? '?'}), pings ${s.client?.pingsSent ?? '?'}/${s.client?.pongs ?? '?'}` +
      (s.metricsError ? `, metrics: ${s.metricsError}` : '') + (s.clientError ? `, client: ${s.clientError}` : ''))
  }
  const end = samples[samples.length - 1] ?? {}
  if (end.metricsError) problems.push(`last /metrics scrape failed: ${end.metricsError}`)
  if (end.client?.lost) problems.push(`${end.client.lost} connections lost during the hold; first: ${end.client.firstLoss}`)
  if (end.client?.late) problems.push(`${end.client.late} PINGREQs still unanswered when the next was due`)
  if (end.client?.unexpected) problems.push(`${end.client.unexpected} unexpected messages (not PINGRESP) from the bridge`)
  if (end.connectionsOpen != null && end.connectionsOpen !== opened.opened) problems.push(`the bridge reports ${end.connectionsOpen} connections open at the end, ${opened.opened} were opened`)

  // Close, then look once more.
  let afterClose = {}
  try {
    conv.send('close')
    await conv.expect('closed', 60_000)
    await sleep(2000)
    afterClose = await sample(null, bridge, broker, null)
  } catch (err) {
    problems.push(`closing the connections: ${err?.message ?? err}`)
  }
  worker.kill()
  const bridgeExit = await stopProcess(bridge.proc)
  const bridgeLog = logProblems(bridge.proc)
  await stopAll()

  // Analysis over the hold.
  const pts = samples.filter((s) => s.bytesPerConnection != null).map((s) => [s.t / 60, s.bytesPerConnection])
  const rssPts = samples.filter((s) => s.bridgeRssKiB != null).map((s) => [s.t / 60, s.bridgeRssKiB])
  const reg = regression(pts)
  const rssReg = regression(rssPts)
  const start = samples[0]?.bytesPerConnection ?? null
  const endB = end.bytesPerConnection ?? null
  const holdMin = samples.length ? samples[samples.length - 1].t / 60 : 0
  const analysis = {
    startBytesPerConnection: start,
    endBytesPerConnection: endB,
    changePct: start && endB != null ? (100 * (endB - start)) / start : null,
    slopeBytesPerConnPerMin: reg?.slope ?? null,
    slopeKiBPerMin: rssReg?.slope ?? null,
    growthPct: reg && start ? (100 * reg.slope * holdMin) / start : null,
    holdMinutes: holdMin,
    bridgeCpuSeconds: end.bridgeCpuS != null && samples[0]?.bridgeCpuS != null ? end.bridgeCpuS - samples[0].bridgeCpuS : null
  }
  analysis.bridgeCpuPct = analysis.bridgeCpuSeconds != null && holdMin ? (100 * analysis.bridgeCpuSeconds) / (holdMin * 60) : null
  analysis.flat = analysis.growthPct == null || analysis.changePct == null
    ? null
    : Math.abs(analysis.growthPct) <= FLAT_SHARE * 100 && Math.abs(analysis.changePct) <= FLAT_SHARE * 100
  if (samples.length < times.length) problems.push(`only ${samples.length} of ${times.length} samples were taken`)
  if (bridgeLog.count) problems.push(`${bridgeLog.count} bridge log lines at WARN or ERROR`)

  const base = cli.full ? 'soak' : 'soak-short'
  const machine = { cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length, kernel: os.release(), memTotalMiB: Math.round(os.totalmem() / 2 ** 20) }
  const result = {
    base,
    meta: {
      date: new Date().toISOString(),
      full: cli.full,
      minutes: cli.minutes,
      keepalive: cli.keepalive,
      sample: cli.sample,
      concurrency: CONCURRENCY,
      flatShare: FLAT_SHARE,
      versions,
      source: { ...tools.bridge.source, builtAt: tools.bridge.builtAt, built: tools.bridge.built },
      machine,
      loadavgStart: loadavgStart.map((x) => Number(x.toFixed(2))),
      loadavgEnd: os.loadavg().map((x) => Number(x.toFixed(2))),
      durationSeconds: (Date.now() - t0) / 1000,
      mosquittoConf: broker.conf
    },
    bridgeArgs: bridge.args.map((a) => a.replace(/^127\.0\.0\.1:\d+$/, '127.0.0.1:PORT').replace(/^mqtt:\/\/127\.0\.0\.1:\d+$/, 'mqtt://127.0.0.1:MQTTPORT')),
    limits,
    connections,
    baseline,
    samples,
    end,
    afterClose,
    analysis,
    bridgeExit,
    bridgeLog,
    problems
  }
  const report = render(result)
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(join(RESULTS_DIR, `${base}.md`), report)
  writeFileSync(join(RESULTS_DIR, `${base}.json`), JSON.stringify(result, null, 2) + '\n')
  process.stdout.write(report)
  log(`done in ${Math.round(result.meta.durationSeconds)} s; wrote bench/results/${base}.md and .json`)
}

try {
  await main()
} catch (err) {
  log(err instanceof HarnessError ? `error: ${err.message}` : `error: ${err?.stack ?? err}`)
  await stopAll()
  process.exitCode = 1
}
