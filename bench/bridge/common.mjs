// SPDX-License-Identifier: MIT OR Apache-2.0
//
// What bench/bridge/soak.mjs and bench/bridge/auth.mjs share: child processes that are
// always stopped (also on errors and signals), started with the open-files limit raised to
// the hard limit; mosquitto and mqttwire-bridge on free loopback ports; the client worker
// (./worker.mjs) over IPC; /proc readings (RSS, CPU, descriptors, limits); the bridge's
// /metrics on --metrics-listen.

import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { dirname, join } from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

export const BRIDGE_DIR = dirname(fileURLToPath(import.meta.url))
export const BENCH_DIR = dirname(BRIDGE_DIR)
export const REPO_DIR = dirname(BENCH_DIR)
export const RESULTS_DIR = join(BENCH_DIR, 'results')
export const MOSQUITTO = '/usr/sbin/mosquitto'
export const BRIDGE_BIN = join(REPO_DIR, 'target', 'release', 'mqttwire-bridge')
const WORKER = join(BRIDGE_DIR, 'worker.mjs')
/** Every cargo command on this shared machine runs under this lock, one at a time. */
export const CARGO_LOCK = '/tmp/mqttwire-cargo.lock'
/** `sh -c` prefix: soft open-files limit up to the hard limit, then exec the program (same pid). */
const RAISE_NOFILE = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"'

/** A failure of the harness (not a missed target): exit status 1. */
export class HarnessError extends Error {}
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

const children = new Set()
const workers = new Set()
let tmpDir = null
let logPrefix = '[bench]'

export const log = (msg) => process.stderr.write(`${logPrefix} ${msg}\n`)

/**
 * Makes the temp dir and arranges for every process started here to be stopped when this
 * one ends, is interrupted (SIGINT, SIGTERM, SIGHUP: exit 130) or runs past `watchdogMs`
 * (exit 1). Returns the temp dir.
 */
export function initHarness (name, { watchdogMs } = {}) {
  logPrefix = `[bench:${name}]`
  tmpDir = mkdtempSync(join(os.tmpdir(), `mqttwire-bench-${name}-`))
  process.on('exit', cleanupSync)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      log(`${signal}: stopping everything`)
      stopAll().finally(() => process.exit(130))
    })
  }
  if (watchdogMs) {
    setTimeout(() => {
      log(`watchdog: still running after ${Math.round(watchdogMs / 1000)} s, stopping everything`)
      stopAll().finally(() => process.exit(1))
    }, watchdogMs).unref()
  }
  return tmpDir
}

/**
 * Starts a long-running process with its soft open-files limit raised to the hard limit
 * (through `sh -c ... exec`, so the pid is the program's own), stdout and stderr to a log
 * file in the temp dir.
 */
export function startProcess (name, cmd, args, { env } = {}) {
  const logFile = join(tmpDir, `${name}.log`)
  const fd = openSync(logFile, 'a')
  const child = spawn('/bin/sh', ['-c', RAISE_NOFILE, cmd, ...args], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...env }
  })
  closeSync(fd)
  const proc = { name, child, pid: child.pid, logFile, exited: false, exitCode: null }
  child.on('exit', (code, signal) => { proc.exited = true; proc.exitCode = code ?? signal; children.delete(proc) })
  child.on('error', (err) => { proc.exited = true; proc.exitCode = String(err); children.delete(proc) })
  children.add(proc)
  return proc
}

/** SIGTERM, then SIGKILL after a grace period; resolves with the exit code or signal once gone. */
export async function stopProcess (proc, graceMs = 3000) {
  if (!proc) return null
  if (proc.exited) return proc.exitCode
  const gone = new Promise((resolve) => proc.child.once('exit', resolve))
  try { proc.child.kill('SIGTERM') } catch {}
  const timer = setTimeout(() => { try { proc.child.kill('SIGKILL') } catch {} }, graceMs)
  await Promise.race([gone, sleep(graceMs + 2000)])
  clearTimeout(timer)
  return proc.exitCode
}

export function logTail (proc, lines = 15) {
  try {
    return readFileSync(proc.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch { return '(no log)' }
}

/** The lines of a process's log that tracing marks WARN or ERROR (at most `max`), and their count. */
export function logProblems (proc, max = 10) {
  let text = ''
  try { text = readFileSync(proc.logFile, 'utf8') } catch { return { count: 0, lines: [] } }
  // Without a terminal tracing prints no colours; strip them anyway.
  const problems = text.replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => /\b(WARN|ERROR)\b/.test(l))
  return { count: problems.length, lines: problems.slice(0, max).map((l) => l.slice(0, 300)) }
}

export async function stopAll () {
  for (const w of workers) w.kill()
  await Promise.all([...children].map((p) => stopProcess(p)))
}

function cleanupSync () {
  for (const w of workers) w.kill()
  for (const p of children) { try { process.kill(p.pid, 'SIGKILL') } catch {} }
  if (tmpDir) { try { rmSync(tmpDir, { recursive: true, force: true }) } catch {} }
}

// ---------------------------------------------------------------------------
// The client worker (./worker.mjs) over IPC
// ---------------------------------------------------------------------------

let nextId = 1

/** A `worker.mjs` process, started with its open-files limit raised to the hard limit. */
export class Worker {
  constructor (name) {
    this.name = name
    this.inbox = new Map() // id -> { queue, wake }
    this.dead = null
    // Through sh for the limit; node finds its IPC channel (NODE_CHANNEL_FD) after exec.
    this.proc = spawn('/bin/sh', ['-c', RAISE_NOFILE, process.execPath, WORKER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: BENCH_DIR })
    this.pid = this.proc.pid
    this.proc.on('message', (msg) => {
      const box = this.inbox.get(msg.id)
      if (!box) return
      box.queue.push(msg)
      box.wake?.()
    })
    this.proc.on('exit', (code, signal) => {
      this.dead = `worker ${name} exited (${code ?? signal})`
      workers.delete(this)
      for (const box of this.inbox.values()) box.wake?.()
    })
    workers.add(this)
  }

  /** Sends a command; returns a conversation to await its events. */
  start (msg) {
    const id = nextId++
    this.inbox.set(id, { queue: [] })
    this.proc.send({ ...msg, id })
    return {
      id,
      send: (op) => { if (!this.dead) this.proc.send({ op, id }) },
      expect: (ev, timeoutMs) => this.expect(id, ev, timeoutMs),
      forget: () => this.inbox.delete(id)
    }
  }

  /** The next event `ev` of command `id`; rejects on 'error', a dead worker or the timeout. */
  async expect (id, ev, timeoutMs) {
    const box = this.inbox.get(id)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = box.queue.findIndex((m) => m.ev === ev || m.ev === 'error')
      if (i >= 0) {
        const [msg] = box.queue.splice(i, 1)
        if (msg.ev === 'error') throw new Error(`${this.name}: ${msg.error}`)
        return msg
      }
      if (this.dead) throw new Error(this.dead)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${this.name}: no '${ev}' within ${timeoutMs} ms`)
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left)
        box.wake = () => { clearTimeout(timer); box.wake = null; resolve() }
      })
    }
  }

  kill () {
    if (!this.dead) { try { this.proc.kill('SIGKILL') } catch {} }
    workers.delete(this)
  }
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

export const CLK_TCK = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { return 100 }
})()

/** CPU seconds (utime+stime, plus reaped children's) of a process, or null if it is gone. */
export function cpuSeconds (pid) {
  let text
  try { text = readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return null }
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ') // f[0] is field 3 (state)
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK
}

/** Busy and total CPU seconds of the whole machine, from /proc/stat. */
export function machineCpu () {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0) // user..steal
  const idle = f[3] + f[4] // idle + iowait
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK }
}

/** Resident set size in KiB (VmRSS), or null. */
export function rssKiB (pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m)
    return m ? Number(m[1]) : null
  } catch { return null }
}

/** Open file descriptors of a process, or null. */
export function fdCount (pid) {
  try { return readdirSync(`/proc/${pid}/fd`).length } catch { return null }
}

/** { soft, hard } of RLIMIT_NOFILE of a process (Infinity for unlimited), or null. */
export function openFilesLimits (pid) {
  try {
    const m = readFileSync(`/proc/${pid}/limits`, 'utf8').match(/^Max open files\s+(\S+)\s+(\S+)/m)
    const num = (x) => (x === 'unlimited' ? Infinity : Number(x))
    return m ? { soft: num(m[1]), hard: num(m[2]) } : null
  } catch { return null }
}

/** First line of `cmd args` (stdout, else stderr), or null if it cannot run. */
export function versionOf (cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.error || r.status !== 0) return null
  return ((r.stdout || r.stderr).trim().split('\n')[0] || '').trim() || null
}

/** mosquitto's version line (`mosquitto -h` exits non-zero, so not versionOf). */
export function mosquittoVersion () {
  return (spawnSync(MOSQUITTO, ['-h'], { encoding: 'utf8' }).stdout || '').split('\n')[0].trim() || 'mosquitto ?'
}

/** HEAD, and the uncommitted changes of the work tree to what the bridge is built from. */
export function sourceState () {
  const git = (...args) => spawnSync('git', args, { cwd: REPO_DIR, encoding: 'utf8' }).stdout?.trim() ?? ''
  const dirty = git('status', '--porcelain', '--untracked-files=all', '--', 'ws-bridge/src', 'ws-bridge/Cargo.toml', 'protocol/src', 'protocol/Cargo.toml', 'Cargo.toml', 'Cargo.lock')
  return { commit: git('rev-parse', '--short', 'HEAD'), dirty: dirty ? dirty.split('\n').map((l) => l.trim()) : [] }
}

// ---------------------------------------------------------------------------
// mosquitto and the bridge
// ---------------------------------------------------------------------------

/** `cargo build --release -p ws-bridge` under the shared lock (a no-op when up to date). */
export function buildBridge (build) {
  if (build) {
    log(`flock ${CARGO_LOCK} cargo build --release -p ws-bridge (a no-op when up to date)`)
    const r = spawnSync('flock', [CARGO_LOCK, 'cargo', 'build', '-q', '--release', '-p', 'ws-bridge'], { cwd: REPO_DIR, stdio: ['ignore', 2, 2] })
    if (r.error || r.status !== 0) throw new HarnessError('cargo build --release -p ws-bridge failed')
  }
  if (!existsSync(BRIDGE_BIN)) throw new HarnessError(`${BRIDGE_BIN} missing (run without --no-build)`)
  const help = spawnSync(BRIDGE_BIN, ['--help'], { encoding: 'utf8' }).stdout ?? ''
  // What the binary was built from: the work tree as it is now if this run built it (or
  // found it up to date), else unknown beyond the binary's time.
  return { bin: BRIDGE_BIN, version: versionOf(BRIDGE_BIN), help, builtAt: statSync(BRIDGE_BIN).mtime.toISOString(), built: build, source: sourceState() }
}

/** k distinct free loopback ports (held open together, then released). */
export async function freePorts (k) {
  const servers = await Promise.all(Array.from({ length: k }, () => new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => resolve(s))
  })))
  const ports = servers.map((s) => s.address().port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

/** Resolves once something accepts TCP connections on the port; throws if `proc` dies first. */
export async function waitForPort (port, proc, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (proc.exited) throw new HarnessError(`${proc.name} exited (${proc.exitCode}) before listening on ${port}:\n${logTail(proc)}`)
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port })
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await sleep(50)
  }
  throw new HarnessError(`${proc.name} did not listen on ${port} within ${timeoutMs} ms:\n${logTail(proc)}`)
}

/** mosquitto with one plain TCP listener on loopback, as bench/bridge/run.mjs configures it. */
export async function startMosquitto () {
  const [port] = await freePorts(1)
  const conf = join(tmpDir, 'mosquitto.conf')
  const text = [
    '# Written by the mqttwire bridge benchmark.',
    `listener ${port} 127.0.0.1`,
    'protocol mqtt',
    'allow_anonymous true',
    'max_queued_messages 0', // no limit: QoS 0 messages are never dropped
    'max_inflight_messages 0',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'connection_messages false',
    ''
  ].join('\n')
  writeFileSync(conf, text)
  const proc = startProcess('mosquitto', MOSQUITTO, ['-c', conf])
  await waitForPort(port, proc)
  return { proc, port, conf: text }
}

/**
 * mqttwire-bridge on a free port in front of mosquitto, with /metrics on a port of its own
 * (--metrics-listen); `extra` are further flags. Returns the process, the MQTT URL, the
 * metrics URL and the exact flags.
 */
export async function startBridge (bin, brokerPort, name, extra = []) {
  const [port, metricsPort] = await freePorts(2)
  const args = [
    '--listen', `127.0.0.1:${port}`,
    '--broker', `mqtt://127.0.0.1:${brokerPort}`,
    '--metrics-listen', `127.0.0.1:${metricsPort}`,
    // The defaults (10,000 in all, 100 per IP) would refuse loopback load.
    '--max-connections', '100000',
    '--max-connections-per-ip', '100000',
    '--drain-timeout', '1s',
    ...extra
  ]
  const proc = startProcess(name, bin, args)
  await waitForPort(port, proc)
  await waitForPort(metricsPort, proc)
  return { proc, url: `ws://127.0.0.1:${port}/mqtt`, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, args }
}

/**
 * The bridge's /metrics as { 'name{labels}': value }, or throws. Bounded: 5 s.
 */
export async function scrapeMetrics (url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`)
  const out = {}
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = line.match(/^(\S+?(?:\{[^}]*\})?)\s+(\S+)/)
    if (m) out[m[1]] = Number(m[2])
  }
  return out
}

/** The samples of one metric family, as { labels: value } ('' for an unlabelled one). */
export function family (metrics, name) {
  const out = {}
  for (const [key, value] of Object.entries(metrics ?? {})) {
    if (key === name) out[''] = value
    else if (key.startsWith(`${name}{`)) out[key.slice(name.length + 1, -1)] = value
  }
  return out
}

/** Median (mean of the two middle values for an even count), min, max and count; null if empty. */
export function stats (values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return null
  const m = v.length >> 1
  return { median: v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2, min: v[0], max: v[v.length - 1], n: v.length }
}

// ---------------------------------------------------------------------------
// Measuring and reporting (auth.mjs, cluster.mjs)
// ---------------------------------------------------------------------------

/** Waits until the servers are idle (under 10 % of a core over 300 ms), at most maxMs. */
export async function quiesce (pids, maxMs = 5000) {
  const start = Date.now()
  const total = () => pids.reduce((acc, pid) => acc + (cpuSeconds(pid) ?? 0), 0)
  while (Date.now() - start < maxMs) {
    const a = total()
    await sleep(300)
    if (total() - a < 0.03) return { ms: Date.now() - start, idle: true }
  }
  return { ms: Date.now() - start, idle: false }
}

/** CPU seconds of each named process and of the machine, with the time. */
export function cpuSnapshot (pids) {
  const out = { at: process.hrtime.bigint(), machine: machineCpu() }
  for (const [k, pid] of Object.entries(pids)) out[k] = cpuSeconds(pid)
  return out
}

export const fmtRate = (x) => x == null ? '–' : x >= 1e5 ? `${(x / 1e3).toFixed(0)}k` : x >= 1e4 ? `${(x / 1e3).toFixed(1)}k` : `${(x / 1e3).toFixed(2)}k`
export const fmtNum = (x, d = 2) => x == null || !Number.isFinite(x) ? '–' : x.toFixed(d)
/** A stats() summary as "median (min–max)". */
export const withRange = (s, f) => s ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : '–'
