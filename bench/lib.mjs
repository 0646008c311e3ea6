// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Small helpers shared by the newer benchmark scripts (bench/run.mjs,
// bench/codec/browser.mjs): statistics, machine description, cargo under the shared lock,
// headless Chromium, free loopback ports.

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
export const REPO_DIR = dirname(BENCH_DIR)

/** Every cargo command on this shared machine runs under this lock, one at a time. */
export const CARGO_LOCK = '/tmp/mqttwire-cargo.lock'

/** Debian's Chromium and the flags every browser benchmark launches it with. */
export const CHROMIUM = '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run'
]

/** Median (mean of the two middle values for an even count), min, max and count; null if empty. */
export function stats (values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return null
  const m = v.length >> 1
  return { median: v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2, min: v[0], max: v[v.length - 1], n: v.length }
}

/**
 * Runs `cargo args...` under the shared cargo lock (flock), output inherited.
 * Throws if it fails.
 */
export function cargo (args, { cwd = REPO_DIR } = {}) {
  const r = spawnSync('flock', [CARGO_LOCK, 'cargo', ...args], { cwd, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.error) throw new Error(`flock ${CARGO_LOCK} cargo ${args.join(' ')}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`flock ${CARGO_LOCK} cargo ${args.join(' ')} failed (${r.status ?? r.signal})`)
}

/** First line of `cmd args` (stdout, else stderr), or null if it cannot run. */
export function versionOf (cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.error || r.status !== 0) return null
  return ((r.stdout || r.stderr).trim().split('\n')[0] || '').trim() || null
}

/** Version field of an installed npm package in bench/node_modules. */
export function npmVersion (name) {
  return JSON.parse(readFileSync(`${BENCH_DIR}/node_modules/${name}/package.json`, 'utf8')).version
}

/** CPU model, cores, memory, kernel, load average, node. */
export function machineInfo () {
  let cpu = os.cpus()[0]?.model ?? 'unknown'
  let cores = os.cpus().length
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8')
    const model = info.match(/^model name\s*:\s*(.+)$/m)
    if (model) cpu = model[1].trim()
    cores = (info.match(/^processor\s*:/gm) ?? []).length || cores
  } catch { /* not Linux */ }
  return {
    cpu,
    cores,
    memory_gib: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    node: process.version
  }
}

/** A free TCP port on 127.0.0.1 (bound to port 0, then released). */
export function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}
