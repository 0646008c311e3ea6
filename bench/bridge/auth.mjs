#!/usr/bin/env node
// SPDX-License-Identifier: MIT OR Apache-2.0
//
// The throughput cost of mqttwire-bridge's edge authentication (JWT in the CONNECT
// password) and topic ACL (issue 12; target: under 10 % at QoS 0, 64 B), against the same
// bridge as a pass-through, both in front of one mosquitto, in one run on this machine.
//
//   node bench/bridge/auth.mjs [--runs N] [--quick] [--ws-framing LIST] [--no-build]
//
// Contenders, both started once and running side by side (idle while the other is timed):
//   a  pass-through: mqttwire-bridge with no --jwt-key and no ACL
//   b  JWT + ACL:    the same with --jwt-key FILE --jwt-algorithm HS256 --config ACL.toml,
//                    the ACL one rule `bench/%u/#` readwrite; every client presents an HS256
//                    token (made here with node's crypto: HMAC-SHA256 over
//                    base64url(header).base64url(payload); sub "bench-user", exp an hour
//                    ahead) as its CONNECT password
// Clients: MQTT.js in two node processes (./worker.mjs), publisher and subscriber; the lean
// compiled client (ws-bridge/examples/bench_client.rs) cannot send a user name or password.
// Per run and framing, a then b (b then a in even runs): 400,000 x 64 B at QoS 0 on
// bench/bench-user/qos0/..., messages/s as in run.mjs (first publish to last delivery), and
// CPU µs per message of the bridge, mosquitto and both clients from /proc.
// Before the timed runs it checks that b really enforces: a CONNECT without a token and one
// with a bad signature are refused, and a PUBLISH outside the ACL does not arrive.
//
// Output: markdown on stdout and in bench/results/auth.md, raw numbers in
// bench/results/auth.json (--quick: auth-quick.*). Exit status 0 when both contenders were
// measured (target met or not), 1 on a harness failure, 2 on a usage error.

import { createHmac, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import process from 'node:process'
import { parseArgs } from 'node:util'
import {
  BENCH_DIR, HarnessError, RESULTS_DIR, Worker, buildBridge, cpuSnapshot, family, fmtNum, fmtRate, initHarness, log,
  logProblems, mosquittoVersion, quiesce, scrapeMetrics, startBridge, startMosquitto, stats, stopAll, withRange
} from './common.mjs'

const PAYLOAD = 64
const USER = 'bench-user'
const ACL_RULE = { topic: 'bench/%u/#', access: 'readwrite' }
/** Target of issue 12: JWT + ACL cost at most this share of pass-through msgs/s. */
const MAX_COST = 0.10
const FRAMINGS = ['node', 'browser']
const PROFILES = {
  full: { runs: 5, messages: 400_000, warmup: 10_000, capMs: 20_000 },
  quick: { runs: 1, messages: 20_000, warmup: 2_000, capMs: 5_000 }
}

const USAGE = `usage: node bench/bridge/auth.mjs [options]

  --runs N           runs, contenders alternating a/b (default 5, at least 5 unless --quick)
  --quick            1 run of 20,000 messages: a smoke test, numbers NOT comparable
                     (writes bench/results/auth-quick.{md,json})
  --ws-framing LIST  how the MQTT.js clients frame MQTT over WebSocket, comma-separated:
                     'node' (MQTT.js in node: 5 WebSocket messages per 64 B PUBLISH) and/or
                     'browser' (one message per tick's writes, as in browsers); default both
  --no-build         use target/release/mqttwire-bridge as it is
  --help             show this help`

function parseCli () {
  let values
  try {
    ({ values } = parseArgs({
      options: {
        runs: { type: 'string' },
        quick: { type: 'boolean', default: false },
        'ws-framing': { type: 'string', default: FRAMINGS.join(',') },
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
  const framings = values['ws-framing'].split(',').map((s) => s.trim()).filter(Boolean)
  if (!framings.length || framings.some((f) => !FRAMINGS.includes(f))) {
    process.stderr.write(`--ws-framing: ${FRAMINGS.join(' and/or ')}\n`)
    process.exit(2)
  }
  return { profile, quick: values.quick, framings, build: !values['no-build'] }
}

/** An HS256 JSON Web Token: HMAC-SHA256 over base64url(header).base64url(payload). */
function hs256 (secret, claims) {
  const part = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url')
  const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/**
 * One throughput measurement through `contender`: the subscriber subscribes, the publisher
 * connects, then `n` QoS 0 messages as fast as MQTT.js's stream takes them.
 */
async function measure (contender, clients, { n, capMs, topic, framing, brokerPid }) {
  const common = { url: contender.url, topic, qos: 0, wsFraming: framing, ...contender.credentials }
  const s = clients.sub.start({ op: 'sub', ...common, n, capMs })
  let p = null
  try {
    await s.expect('ready', 15_000)
    p = clients.pub.start({ op: 'pub', ...common, n, size: PAYLOAD, capMs, window: 1000 })
    await p.expect('ready', 15_000)
    const pids = { bridge: contender.proc.pid, broker: brokerPid, pub: clients.pub.pid, sub: clients.sub.pid }
    const before = cpuSnapshot(pids)
    s.send('go')
    p.send('go')
    const [pd, sd] = await Promise.all([p.expect('done', capMs + 15_000), s.expect('done', capMs + 15_000)])
    const after = cpuSnapshot(pids)
    await Promise.all([p.expect('closed', 10_000), s.expect('closed', 10_000)])
    const seconds = Number(BigInt(sd.lastNs) - BigInt(pd.startNs)) / 1e9
    const wall = Number(after.at - before.at) / 1e9
    const cpu = {}
    for (const k of Object.keys(pids)) {
      const sec = after[k] != null && before[k] != null ? after[k] - before[k] : null
      cpu[k] = sec == null ? null : { seconds: sec, usPerMsg: sd.count ? (sec * 1e6) / sd.count : null, corePct: (100 * sec) / wall }
    }
    const busy = after.machine.busy - before.machine.busy
    const total = after.machine.total - before.machine.total
    cpu.machineBusyPct = total > 0 ? (100 * busy) / total : null
    return {
      ok: !sd.timedOut && !pd.timedOut && sd.count === n,
      capped: Boolean(sd.timedOut || pd.timedOut),
      sent: pd.count,
      delivered: sd.count,
      seconds,
      rate: sd.count > 0 && seconds > 0 ? sd.count / seconds : 0,
      cpu
    }
  } finally {
    s.forget()
    p?.forget()
  }
}

/** Runs `start` and returns true when the conversation ends in an error before 'ready'. */
async function refused (conv) {
  try {
    await conv.expect('ready', 15_000)
    return false
  } catch {
    return true
  } finally {
    conv.forget()
  }
}

/** Checks that contender b authenticates and enforces its ACL (a is the control). */
async function checkEnforcement (a, b, clients, secret) {
  const checks = []
  const url = b.url
  const topic = `bench/${USER}/check`
  const noToken = await refused(clients.sub.start({ op: 'sub', url, topic, qos: 0, n: 1, capMs: 1000, username: USER }))
  checks.push({ check: 'CONNECT without a token refused', ok: noToken })
  const forged = hs256(secret + 'x', { sub: USER, exp: Math.floor(Date.now() / 1000) + 3600 })
  const badSig = await refused(clients.sub.start({ op: 'sub', url, topic, qos: 0, n: 1, capMs: 1000, username: USER, password: forged }))
  checks.push({ check: 'CONNECT with a token signed by another key refused', ok: badSig })
  const expired = hs256(secret, { sub: USER, exp: Math.floor(Date.now() / 1000) - 60 })
  const badExp = await refused(clients.sub.start({ op: 'sub', url, topic, qos: 0, n: 1, capMs: 1000, username: USER, password: expired }))
  checks.push({ check: 'CONNECT with an expired token refused', ok: badExp })
  // A PUBLISH through b outside bench/<user>/#, to a subscriber on a (no ACL there): must not arrive.
  const outside = 'other/acl-check'
  const s = clients.sub.start({ op: 'sub', url: a.url, topic: outside, qos: 0, n: 1, capMs: 1500 })
  let delivered = null
  try {
    await s.expect('ready', 15_000)
    const p = clients.pub.start({ op: 'pub', url: b.url, topic: outside, qos: 0, n: 100, size: PAYLOAD, capMs: 2000, window: 1000, ...b.credentials })
    await p.expect('ready', 15_000)
    s.send('go')
    p.send('go')
    await p.expect('done', 10_000)
    delivered = (await s.expect('done', 10_000)).count
    await Promise.all([p.expect('closed', 10_000), s.expect('closed', 10_000)])
    p.forget()
  } finally {
    s.forget()
  }
  checks.push({ check: `PUBLISH outside the ACL (${outside}) not delivered`, ok: delivered === 0, detail: `${delivered} of 100 arrived` })
  return checks
}


function summarize (records, framings) {
  const out = {}
  for (const framing of framings) {
    const of = (key) => records.filter((r) => r.framing === framing && r.contender === key && r.result && !r.error).map((r) => r.result)
    const side = (key) => {
      const list = of(key)
      const cpu = (k) => stats(list.map((r) => r.cpu[k]?.usPerMsg))
      return {
        rate: stats(list.map((r) => r.rate)),
        capped: list.filter((r) => r.capped).length,
        incomplete: list.filter((r) => !r.ok).length,
        cpu: { bridge: cpu('bridge'), broker: cpu('broker'), pub: cpu('pub'), sub: cpu('sub') },
        machineBusyPct: stats(list.map((r) => r.cpu.machineBusyPct))
      }
    }
    const a = side('a')
    const b = side('b')
    // Pairs from the same run: b's rate over a's.
    const pairs = []
    for (const run of new Set(records.map((r) => r.run))) {
      const ra = records.find((r) => r.run === run && r.framing === framing && r.contender === 'a' && r.result)
      const rb = records.find((r) => r.run === run && r.framing === framing && r.contender === 'b' && r.result)
      if (ra && rb && ra.result.rate) pairs.push(rb.result.rate / ra.result.rate)
    }
    const ratio = a.rate && b.rate ? b.rate.median / a.rate.median : null
    const pairRatio = stats(pairs)
    const bridgeUsDelta = a.cpu.bridge && b.cpu.bridge ? b.cpu.bridge.median - a.cpu.bridge.median : null
    // a's CPU per message summed over every process on the path (bridge, broker, clients).
    const pathUs = ['bridge', 'broker', 'pub', 'sub'].every((k) => a.cpu[k]) ? ['bridge', 'broker', 'pub', 'sub'].reduce((acc, k) => acc + a.cpu[k].median, 0) : null
    const met = ratio == null ? null : 1 - ratio < MAX_COST
    out[framing] = {
      a,
      b,
      ratio,
      pairRatio,
      cost: ratio == null ? null : 1 - ratio,
      met,
      // Clear when every run's own pair is on the same side of the target as the medians.
      clear: met == null || !pairRatio ? null : met ? 1 - pairRatio.min < MAX_COST : 1 - pairRatio.max >= MAX_COST,
      bridgeUsDelta,
      pathUs,
      // What b's extra bridge CPU would cost in msgs/s if the path were bound by its CPU alone.
      cpuCost: bridgeUsDelta != null && pathUs ? bridgeUsDelta / (pathUs + bridgeUsDelta) : null
    }
  }
  return out
}

function render (r) {
  const L = []
  const row = (cells) => L.push(`| ${cells.join(' | ')} |`)
  const m = r.meta
  L.push('# Bridge: cost of JWT authentication + topic ACL against pass-through')
  L.push('')
  L.push(`${m.date} · ${m.machine.cores}x ${m.machine.cpu} · Linux ${m.machine.kernel} · load average at start ${m.loadavgStart.join(' ')}, at end ${m.loadavgEnd.join(' ')} · took ${Math.round(m.durationSeconds)} s · ` +
    `${m.versions.bridge} (${m.source.built ? 'built by this run from' : `binary of ${m.source.builtAt}, --no-build; work tree at run time:`} commit ${m.source.commit}${m.source.dirty.length ? ` with uncommitted changes to ${m.source.dirty.join(', ')}` : ''}), ${m.versions.mosquitto}, MQTT.js ${m.versions.mqtt}, node ${m.versions.node}.`)
  L.push('')
  if (m.quick) L.push('**QUICK RUN: smoke test, numbers not comparable.**', '')
  L.push(`${m.profile.messages.toLocaleString('en')} x ${PAYLOAD} B at QoS 0 per measurement, MQTT.js publisher and subscriber in two node processes (MQTT 3.1.1), through **a**: \`mqttwire-bridge ${m.args.a.join(' ')}\` (pass-through) ` +
    `or **b**: \`mqttwire-bridge ${m.args.b.join(' ')}\` (JWT + ACL: an HS256 token with \`sub\` "${USER}" and \`exp\` an hour ahead as every CONNECT password, ACL \`[[acl]] topic = "${ACL_RULE.topic}" access = "${ACL_RULE.access}"\`, topics \`bench/${USER}/qos0/...\`), both in front of one mosquitto. ` +
    `${m.profile.runs} runs; in each, a then b (b then a in even runs) for each framing. Messages/s from the first publish to the last delivery; CPU µs per message delivered from /proc. ` +
    `Every cell is the median over the runs with (min–max); "b / a" is the ratio of the medians, "pairs" the median of each run's own b / a.`)
  L.push('')
  L.push('## Throughput and CPU (QoS 0, 64 B)', '')
  row(['framing', 'bridge', 'msgs/s', 'bridge µs/msg', 'mosquitto µs/msg', 'publisher µs/msg', 'subscriber µs/msg', 'machine busy'])
  row(Array(8).fill('---'))
  for (const [framing, s] of Object.entries(r.summary)) {
    for (const key of ['a', 'b']) {
      const x = s[key]
      row([framing, key === 'a' ? 'a: pass-through' : 'b: JWT + ACL', withRange(x.rate, fmtRate) + (x.capped ? ` ⚠ ${x.capped} capped` : x.incomplete ? ` ⚠ ${x.incomplete} incomplete` : ''),
        withRange(x.cpu.bridge, fmtNum), withRange(x.cpu.broker, fmtNum), withRange(x.cpu.pub, fmtNum), withRange(x.cpu.sub, fmtNum),
        x.machineBusyPct ? `${x.machineBusyPct.median.toFixed(0)} %` : '–'])
    }
  }
  L.push('')
  L.push('## Target (issue 12): JWT + ACL cost under 10 % of pass-through msgs/s at QoS 0, 64 B', '')
  row(['framing', 'b / a msgs/s', 'pairs b / a', 'cost', 'bridge µs/msg b − a', 'path µs/msg (a)', 'CPU-bound cost', 'status'])
  row(Array(8).fill('---'))
  for (const [framing, s] of Object.entries(r.summary)) {
    row([framing, s.ratio == null ? '–' : `${s.ratio.toFixed(3)}x`, withRange(s.pairRatio, (x) => x.toFixed(3)),
      s.cost == null ? '–' : `${(100 * s.cost).toFixed(1)} %`, s.bridgeUsDelta == null ? '–' : `${s.bridgeUsDelta >= 0 ? '+' : ''}${s.bridgeUsDelta.toFixed(2)}`,
      fmtNum(s.pathUs), s.cpuCost == null ? '–' : `${(100 * s.cpuCost).toFixed(1)} %`,
      (s.met == null ? 'not measured' : s.met ? 'met' : '**missed**') + (s.clear === false ? ' (not clear: the runs\' own pairs fall on both sides of 10 %)' : '')])
  }
  L.push('')
  L.push('"cost" is 1 − b / a. The clients and mosquitto cost more per message than the bridge and all four processes share 2 cores, so msgs/s is bounded by the sum of their CPU costs ' +
    '("path µs/msg": a\'s bridge + mosquitto + publisher + subscriber) and varies from run to run with the scheduling and other load. ' +
    'The bridge µs/msg column is the bridge\'s own cost, where b\'s extra work shows directly; "CPU-bound cost" is what that extra work takes from msgs/s when the path is bound by its CPU: (b − a bridge µs/msg) / (path µs/msg + that). ' +
    'Clock ticks are 10 ms, i.e. ' + fmtNum(1e-2 / m.profile.messages * 1e6, 3) + ' µs/msg per tick here.')
  L.push('')
  L.push('## Checks that b enforces', '')
  for (const c of r.checks) L.push(`- ${c.ok ? 'ok' : '**FAILED**'}: ${c.check}${c.detail ? ` (${c.detail})` : ''}`)
  L.push(`- b's refusals (mqttwire_bridge_refused_total) after the checks: ${Object.entries(r.refusedB ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'}`)
  L.push('')
  L.push('## Runs', '')
  row(['run', 'framing', 'bridge', 'msgs/s', 'delivered', 'bridge µs/msg', 'machine busy'])
  row(Array(7).fill('---'))
  for (const rec of r.records) {
    const x = rec.result
    row([rec.run, rec.framing, rec.contender, x ? fmtRate(x.rate) : `failed: ${rec.error}`, x ? `${x.delivered}/${x.sent}${x.capped ? ' (cap)' : ''}` : '–', x ? fmtNum(x.cpu.bridge?.usPerMsg) : '–', x?.cpu.machineBusyPct ? `${x.cpu.machineBusyPct.toFixed(0)} %` : '–'])
  }
  if (r.problems.length) {
    L.push('', '## Problems', '')
    for (const p of r.problems) L.push(`- ${p.split('\n')[0]}`)
  }
  L.push('', `Raw numbers: \`bench/results/${r.base}.json\`. How to read this: \`bench/bridge/README.md\` ("JWT + ACL cost").`)
  return L.join('\n') + '\n'
}

async function main () {
  const cli = parseCli()
  const P = cli.profile
  const t0 = Date.now()
  const tmp = initHarness('auth', { watchdogMs: 20 * 60_000 + (cli.build ? 30 * 60_000 : 0) })
  const loadavgStart = os.loadavg()
  const bridgeTool = buildBridge(cli.build)
  for (const flag of ['--jwt-key', '--jwt-algorithm', '--config', '--metrics-listen']) {
    if (!bridgeTool.help.includes(flag)) throw new HarnessError(`${bridgeTool.bin} has no ${flag}: rebuild it`)
  }
  const versions = {
    bridge: bridgeTool.version,
    mosquitto: mosquittoVersion(),
    mqtt: JSON.parse(readFileSync(join(BENCH_DIR, 'node_modules', 'mqtt', 'package.json'), 'utf8')).version,
    node: process.version
  }

  // The key (64 hex characters: a 64-byte secret), the ACL and a token.
  const secret = randomBytes(32).toString('hex')
  const keyFile = join(tmp, 'jwt.key')
  writeFileSync(keyFile, secret, { mode: 0o600 })
  const aclFile = join(tmp, 'acl.toml')
  writeFileSync(aclFile, `# Written by bench/bridge/auth.mjs\n[[acl]]\ntopic = "${ACL_RULE.topic}"\naccess = "${ACL_RULE.access}"\n`)
  const now = Math.floor(Date.now() / 1000)
  const token = hs256(secret, { sub: USER, iat: now, exp: now + 3600 })

  const broker = await startMosquitto()
  const a = await startBridge(bridgeTool.bin, broker.port, 'bridge-a')
  const b = await startBridge(bridgeTool.bin, broker.port, 'bridge-b', ['--jwt-key', keyFile, '--jwt-algorithm', 'HS256', '--config', aclFile])
  a.key = 'a'
  b.key = 'b'
  a.credentials = {}
  // MQTT 3.1.1 has no password without a user name; the bridge takes the user from `sub`.
  b.credentials = { username: USER, password: token }
  log(`mosquitto pid ${broker.proc.pid}; a (pass-through) pid ${a.proc.pid} ${a.url}; b (JWT + ACL) pid ${b.proc.pid} ${b.url}`)
  const clients = { pub: new Worker('publisher'), sub: new Worker('subscriber') }
  const servers = [broker.proc.pid, a.proc.pid, b.proc.pid]
  const problems = []

  const checks = await checkEnforcement(a, b, clients, secret)
  for (const c of checks) log(`check: ${c.ok ? 'ok' : 'FAILED'}: ${c.check}${c.detail ? ` (${c.detail})` : ''}`)
  if (checks.some((c) => !c.ok)) throw new HarnessError(`b does not enforce: ${checks.filter((c) => !c.ok).map((c) => c.check).join('; ')}`)
  const refusedB = family(await scrapeMetrics(b.metricsUrl), 'mqttwire_bridge_refused_total')

  // Warm-up (not recorded); a contender that fails it stops the run.
  for (const framing of cli.framings) {
    for (const c of [a, b]) {
      const w = await measure(c, clients, { n: P.warmup, capMs: P.capMs, topic: `bench/${USER}/warmup/${framing}/${c.key}`, framing, brokerPid: broker.proc.pid })
      if (!w.ok) throw new HarnessError(`warm-up through ${c.key} (${framing} framing) delivered ${w.delivered}/${P.warmup}`)
      log(`warm-up ${c.key} ${framing}: ${fmtRate(w.rate)} msgs/s`)
      await quiesce(servers)
    }
  }

  const records = []
  for (let run = 1; run <= P.runs; run++) {
    for (const framing of cli.framings) {
      for (const c of run % 2 ? [a, b] : [b, a]) {
        const rec = { run, framing, contender: c.key, startedAt: new Date().toISOString() }
        try {
          rec.result = await measure(c, clients, { n: P.messages, capMs: P.capMs, topic: `bench/${USER}/qos0/${run}/${framing}/${c.key}`, framing, brokerPid: broker.proc.pid })
          const x = rec.result
          log(`run ${run}/${P.runs} ${framing} ${c.key}: ${fmtRate(x.rate)} msgs/s (${x.delivered}/${x.sent}${x.capped ? ', TIME CAP' : ''}), bridge ${fmtNum(x.cpu.bridge?.usPerMsg)} µs/msg, machine ${fmtNum(x.cpu.machineBusyPct, 0)} %`)
          if (!x.ok) problems.push(`run ${run} ${framing} ${c.key}: delivered ${x.delivered} of ${P.messages}${x.capped ? ' (time cap)' : ''}`)
        } catch (err) {
          rec.error = String(err?.message ?? err)
          problems.push(`run ${run} ${framing} ${c.key}: ${rec.error}`)
          log(`run ${run}/${P.runs} ${framing} ${c.key} FAILED: ${rec.error}`)
        }
        rec.quiesce = await quiesce(servers)
        records.push(rec)
      }
    }
  }
  const metricsEnd = { a: await scrapeMetrics(a.metricsUrl).catch(() => null), b: await scrapeMetrics(b.metricsUrl).catch(() => null) }
  for (const c of [a, b]) {
    const lp = logProblems(c.proc)
    // b logs the refused CONNECTs of the checks; anything beyond those is a problem.
    if (lp.count > (c.key === 'b' ? checks.length - 1 : 0)) problems.push(`bridge ${c.key}: ${lp.count} log lines at WARN or ERROR; first: ${lp.lines[0]}`)
  }
  await stopAll()

  const summary = summarize(records, cli.framings)
  const base = cli.quick ? 'auth-quick' : 'auth'
  const portless = (args) => args.map((x) => x.replace(/^127\.0\.0\.1:\d+$/, '127.0.0.1:PORT').replace(/^mqtt:\/\/127\.0\.0\.1:\d+$/, 'mqtt://127.0.0.1:MQTTPORT').replace(tmp, '<tmp>'))
  const result = {
    base,
    meta: {
      date: new Date().toISOString(),
      quick: cli.quick,
      profile: P,
      framings: cli.framings,
      payloadBytes: PAYLOAD,
      maxCost: MAX_COST,
      versions,
      source: { ...bridgeTool.source, builtAt: bridgeTool.builtAt, built: bridgeTool.built },
      machine: { cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length, kernel: os.release() },
      loadavgStart: loadavgStart.map((x) => Number(x.toFixed(2))),
      loadavgEnd: os.loadavg().map((x) => Number(x.toFixed(2))),
      durationSeconds: (Date.now() - t0) / 1000,
      args: { a: portless(a.args), b: portless(b.args) },
      acl: ACL_RULE,
      tokenClaims: { sub: USER, iat: 'now', exp: 'now + 3600' },
      mosquittoConf: broker.conf
    },
    checks,
    refusedB,
    summary,
    targets: Object.entries(summary).map(([framing, s]) => ({
      target: `JWT + ACL cost < ${MAX_COST * 100} % of pass-through msgs/s, QoS 0 64 B (MQTT.js, ${framing} framing)`,
      value: s.ratio == null ? '–' : `b/a ${s.ratio.toFixed(3)}x (cost ${(100 * s.cost).toFixed(1)} %; ${fmtRate(s.b.rate.median)} vs ${fmtRate(s.a.rate.median)} msgs/s; pairs ${withRange(s.pairRatio, (x) => x.toFixed(2))}${s.clear === false ? ', not clear' : ''}; bridge µs/msg b − a ${s.bridgeUsDelta == null ? '–' : `${s.bridgeUsDelta >= 0 ? '+' : ''}${s.bridgeUsDelta.toFixed(2)}`}, CPU-bound cost ${s.cpuCost == null ? '–' : `${(100 * s.cpuCost).toFixed(1)} %`})`,
      met: s.met
    })),
    metricsEnd,
    records,
    problems
  }
  const report = render(result)
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(join(RESULTS_DIR, `${base}.md`), report)
  writeFileSync(join(RESULTS_DIR, `${base}.json`), JSON.stringify(result, null, 2) + '\n')
  process.stdout.write(report)
  log(`done in ${Math.round(result.meta.durationSeconds)} s; wrote bench/results/${base}.md and .json`)
  if (Object.values(summary).some((s) => !s.a.rate || !s.b.rate)) throw new HarnessError('a contender has no successful measurement')
}

try {
  await main()
} catch (err) {
  log(err instanceof HarnessError ? `error: ${err.message}` : `error: ${err?.stack ?? err}`)
  await stopAll()
  process.exitCode = 1
}
