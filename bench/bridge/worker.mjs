// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Client side of the bridge benchmark: a node process forked by ./run.mjs that
// runs one MQTT role at a time on the orchestrator's command (IPC messages).
// Publisher and subscriber live in two separate worker processes, so that the
// node clients get a core each instead of sharing one event loop.
//
// Commands (each { op, id, ... }; every answer carries the same id):
//   sub   connect, subscribe, answer 'ready'; count messages until n or the cap;
//         answer 'done' { count, lastNs, timedOut }; disconnect, answer 'closed'
//   pub   connect, answer 'ready'; on 'go' publish n messages (QoS 0: as fast as
//         the stream's backpressure allows; QoS 1: at most `window` unacked),
//         answer 'done' { count, startNs, endNs, timedOut }; disconnect, 'closed'
//   rtt   one client publishes on a topic it subscribes to, n sequential round
//         trips at QoS 0 (bounded by n and the cap); answers 'done' { samples… }
//   idle  open n idle MQTT connections over raw WebSocket (`ws`, hand-built
//         CONNECT, keepalive 0 unless `keepalive` is given) or raw TCP, answer 'open'
//         once every CONNACK came; on 'close' close them all and answer 'closed'.
//         With `keepalive` K > 0 (WebSocket only) every connection sends PINGREQ
//         every K seconds from its CONNACK on and counts the PINGRESPs; a 'status'
//         command with the idle command's id answers 'status' with those counts and
//         the connections lost meanwhile (bench/bridge/soak.mjs)
//
// sub, pub and rtt take `username` and `password` (the bridge's JWT) when given.
//
// Times are process.hrtime.bigint() (CLOCK_MONOTONIC), comparable between the
// worker processes of one machine; they travel as decimal strings.

import net from 'node:net'
import process from 'node:process'
import mqtt from 'mqtt'
import WebSocket from 'ws'

const now = () => process.hrtime.bigint()
const send = (msg) => { if (process.connected) process.send(msg) }

/** Pending 'go' / 'close' continuations by command id. */
const waiting = new Map()

process.on('message', (msg) => {
  if (msg.op === 'status') {
    const tracker = trackers.get(msg.id)
    send(tracker ? { id: msg.id, ev: 'status', ...tracker.snapshot() } : { id: msg.id, ev: 'error', error: `no idle command ${msg.id}` })
    return
  }
  if (msg.op === 'go' || msg.op === 'close') {
    const resume = waiting.get(msg.id)
    if (resume) { waiting.delete(msg.id); resume() }
    return
  }
  const handler = { sub, pub, rtt, idle }[msg.op]
  if (!handler) { send({ id: msg.id, ev: 'error', error: `unknown op ${msg.op}` }); return }
  handler(msg).catch((err) => send({ id: msg.id, ev: 'error', error: String(err?.stack ?? err) }))
})
// The orchestrator going away ends the worker: never outlive it.
process.on('disconnect', () => process.exit(0))

function waitFor (id, what) {
  return new Promise((resolve) => waiting.set(id, resolve))
}

// ---------------------------------------------------------------------------
// MQTT.js clients
// ---------------------------------------------------------------------------

/** Connects MQTT.js 5 with the options every path shares; rejects after timeoutMs. */
function connect (url, clientId, { noSubprotocol = false, nagle = false, wsFraming = 'node', username, password, timeoutMs = 10_000 } = {}) {
  const options = {
    clientId,
    protocolVersion: 4, // MQTT 3.1.1, MQTT.js's default
    clean: true,
    keepalive: 60,
    reconnectPeriod: 0, // a failed path must fail, not retry forever
    connectTimeout: timeoutMs,
    // No compression offered: no server here accepts it, and it must not differ by path.
    wsOptions: { perMessageDeflate: false }
  }
  if (username != null) options.username = username
  if (password != null) options.password = password
  let socket = null
  options.createWebsocket = (u, protocols, opts) => {
    // websockify refuses any offered subprotocol it does not know ("mqtt" included).
    socket = noSubprotocol ? new WebSocket(u, opts.wsOptions) : new WebSocket(u, protocols, opts.wsOptions)
    return socket
  }
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, options)
    if (socket && wsFraming === 'browser') sendWholeWrites(client.stream, socket)
    const timer = setTimeout(() => { client.end(true); reject(new Error(`connect to ${url} timed out`)) }, timeoutMs)
    client.once('connect', () => {
      clearTimeout(timer)
      client.removeAllListeners('error')
      client.on('error', () => {})
      // `ws` sets TCP_NODELAY on every WebSocket; MQTT.js's TCP transport does not.
      // Unless asked to keep Nagle, give the TCP client the same socket option.
      if (!nagle && typeof client.stream?.setNoDelay === 'function') client.stream.setNoDelay(true)
      resolve(client)
    })
    client.once('error', (err) => { clearTimeout(timer); client.end(true); reject(err) })
    client.once('close', () => { clearTimeout(timer); reject(new Error(`connection to ${url} closed before CONNACK`)) })
  })
}

/**
 * In node, MQTT.js's WebSocket stream (`ws`'s createWebSocketStream) sends every
 * chunk mqtt-packet writes as its own WebSocket message: a 64 B PUBLISH goes out
 * as 5 messages (1, 1, 2, 7 and 64 bytes). In browsers MQTT.js sends what was
 * written in one tick as one message (BufferedDuplex's writev). This gives the
 * node stream the same writev. mqtt-packet corks the stream per packet until the
 * next tick, so the CONNECT already written is still buffered when this runs.
 */
function sendWholeWrites (stream, socket) {
  stream._writev = (chunks, callback) => {
    const data = chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk))
    if (socket.readyState === WebSocket.CONNECTING) socket.once('open', () => socket.send(data, callback))
    else socket.send(data, callback)
  }
}

function subscribe (client, topic, qos) {
  return new Promise((resolve, reject) => {
    client.subscribe(topic, { qos }, (err, granted) => {
      if (err) reject(err)
      else if (!granted?.length || granted[0].qos !== qos) reject(new Error(`subscription to ${topic} refused: ${JSON.stringify(granted)}`))
      else resolve()
    })
  })
}

/** Ends the client, forcibly if a clean DISCONNECT does not finish within 2 s. */
function end (client) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => client.end(true, () => resolve()), 2000)
    client.end(false, () => { clearTimeout(timer); resolve() })
  })
}

async function sub ({ id, url, topic, qos, n, capMs, noSubprotocol, nagle, wsFraming, username, password }) {
  const client = await connect(url, `bench-sub-${process.pid}-${id}`, { noSubprotocol, nagle, wsFraming, username, password })
  let count = 0
  let lastNs = 0n
  let finish
  const finished = new Promise((resolve) => { finish = resolve })
  client.on('message', () => {
    count++
    lastNs = now()
    if (count === n) finish(false)
  })
  client.on('close', () => finish(count < n))
  await subscribe(client, topic, qos)
  send({ id, ev: 'ready' })
  await waitFor(id, 'go') // the orchestrator starts the cap once the publisher is ready too
  const cap = setTimeout(() => finish(true), capMs)
  const timedOut = await finished
  clearTimeout(cap)
  send({ id, ev: 'done', count, lastNs: String(lastNs), timedOut })
  await end(client)
  send({ id, ev: 'closed' })
}

async function pub ({ id, url, topic, qos, n, size, capMs, window, noSubprotocol, nagle, wsFraming, username, password }) {
  const client = await connect(url, `bench-pub-${process.pid}-${id}`, { noSubprotocol, nagle, wsFraming, username, password })
  const payload = Buffer.alloc(size, 0x61)
  let closed = false
  client.on('close', () => { closed = true })
  send({ id, ev: 'ready' })
  await waitFor(id, 'go')
  const startNs = now()
  const deadline = startNs + BigInt(capMs) * 1_000_000n
  const { count, timedOut } = qos === 0
    ? await publishQos0(client, topic, payload, n, deadline, () => closed)
    : await publishQos1(client, topic, payload, n, window, deadline, () => closed)
  const endNs = now()
  send({ id, ev: 'done', count, startNs: String(startNs), endNs: String(endNs), timedOut })
  await end(client)
  send({ id, ev: 'closed' })
}

/**
 * Publishes n QoS 0 messages as fast as the stream takes them: MQTT.js calls the
 * callback at once while the stream's buffer has room, else on 'drain'. Yields to
 * the event loop every 256 messages so the socket is serviced.
 */
function publishQos0 (client, topic, payload, n, deadline, isClosed) {
  return new Promise((resolve) => {
    let sent = 0
    const step = () => {
      if (isClosed() || now() > deadline) { resolve({ count: sent, timedOut: true }); return }
      let burst = 0
      while (sent < n) {
        let sync = true
        let called = false
        client.publish(topic, payload, { qos: 0 }, () => {
          called = true
          if (!sync) setImmediate(step) // resumed by 'drain'
        })
        sync = false
        sent++
        if (!called) return
        if (++burst === 256) { setImmediate(step); return }
      }
      resolve({ count: sent, timedOut: false })
    }
    step()
  })
}

/** Publishes n QoS 1 messages with at most `window` waiting for PUBACK; done when all are acked. */
function publishQos1 (client, topic, payload, n, window, deadline, isClosed) {
  return new Promise((resolve) => {
    let sent = 0
    let acked = 0
    let done = false
    const finish = (timedOut) => {
      if (done) return
      done = true
      clearInterval(watch)
      resolve({ count: acked, timedOut })
    }
    const watch = setInterval(() => { if (isClosed() || now() > deadline) finish(true) }, 50)
    const fill = () => {
      while (!done && sent < n && sent - acked < window) {
        sent++
        client.publish(topic, payload, { qos: 1 }, (err) => {
          if (err) { finish(true); return }
          acked++
          if (acked === n) finish(false)
          else fill()
        })
      }
    }
    fill()
  })
}

async function rtt ({ id, url, topic, n, size, capMs, noSubprotocol, nagle, wsFraming, username, password }) {
  const client = await connect(url, `bench-rtt-${process.pid}-${id}`, { noSubprotocol, nagle, wsFraming, username, password })
  // Each round trip's payload starts with its sequence number: a late message from a
  // lost round trip cannot end a later one.
  const payload = Buffer.alloc(Math.max(size, 4), 0x62)
  let seq = 0
  let arrived = null
  client.on('message', (_topic, message) => {
    if (arrived && message.length >= 4 && message.readUInt32BE(0) === seq) { const f = arrived; arrived = null; f() }
  })
  await subscribe(client, topic, 0)
  const samples = [] // microseconds
  const startNs = now()
  const deadline = startNs + BigInt(capMs) * 1_000_000n
  let timedOut = false
  let lost = 0
  while (samples.length < n) {
    if (now() > deadline) { timedOut = true; break }
    seq = (seq + 1) >>> 0
    payload.writeUInt32BE(seq, 0)
    const t0 = now()
    const ok = await new Promise((resolve) => {
      const timer = setTimeout(() => { arrived = null; resolve(false) }, 2000)
      arrived = () => { clearTimeout(timer); resolve(true) }
      client.publish(topic, payload, { qos: 0 })
    })
    if (!ok) { lost++; if (lost > 3) { timedOut = true; break } continue }
    samples.push(Number(now() - t0) / 1000)
  }
  const elapsedMs = Number(now() - startNs) / 1e6
  await end(client)
  const sorted = Float64Array.from(samples).sort()
  send({
    id,
    ev: 'done',
    count: samples.length,
    lost,
    timedOut,
    elapsedMs,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : null,
    mean: samples.length ? samples.reduce((a, b) => a + b, 0) / samples.length : null
  })
  send({ id, ev: 'closed' })
}

/** Nearest-rank percentile of sorted samples, or null when there are none. */
function percentile (sorted, p) {
  if (!sorted.length) return null
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]
}

// ---------------------------------------------------------------------------
// Idle connections: raw sockets, hand-built CONNECT
// ---------------------------------------------------------------------------

/** MQTT 3.1.1 CONNECT, clean session, keepalive in seconds (0: the broker never times it out). */
function connectPacket (clientId, keepalive = 0) {
  const id = Buffer.from(clientId, 'utf8')
  const body = Buffer.concat([
    Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54]), // protocol name "MQTT"
    Buffer.from([0x04]), // protocol level 4 = 3.1.1
    Buffer.from([0x02]), // connect flags: clean session
    Buffer.from([keepalive >> 8, keepalive & 0xff]), // keepalive, seconds
    Buffer.from([id.length >> 8, id.length & 0xff]), id // client identifier
  ])
  if (body.length > 127) throw new Error('client id too long for a one-byte remaining length')
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

const isConnAckOk = (buf) => buf.length >= 4 && buf[0] === 0x20 && buf[1] === 0x02 && buf[3] === 0x00
const PINGREQ = Buffer.from([0xc0, 0x00])

/** PINGRESPs in one WebSocket message (a relay may put several in one), or -1 for anything else. */
function pingResponses (buf) {
  if (!buf.length || buf.length % 2) return -1
  for (let i = 0; i < buf.length; i += 2) if (buf[i] !== 0xd0 || buf[i + 1] !== 0x00) return -1
  return buf.length / 2
}

/**
 * What the connections of one idle command saw after their CONNACK: PINGREQs sent,
 * PINGRESPs back (and how long the slowest took), pings still unanswered when the next
 * was due, other packets, and connections lost (closed by the other side or failed).
 */
class Tracker {
  constructor () {
    this.open = 0
    this.pingsSent = 0
    this.pongs = 0
    this.maxPongMs = 0
    this.pongMsSum = 0
    this.late = 0
    this.unexpected = 0
    this.lost = 0
    this.firstLoss = null
    this.lossByCause = {}
  }

  loss (cause) {
    this.open--
    this.lost++
    this.firstLoss ??= cause
    const key = cause.replace(/\d{2,}/g, 'N').slice(0, 80)
    this.lossByCause[key] = (this.lossByCause[key] ?? 0) + 1
  }

  snapshot () {
    return {
      open: this.open,
      pingsSent: this.pingsSent,
      pongs: this.pongs,
      maxPongMs: this.maxPongMs,
      meanPongMs: this.pongs ? this.pongMsSum / this.pongs : null,
      late: this.late,
      unexpected: this.unexpected,
      lost: this.lost,
      firstLoss: this.firstLoss,
      lossByCause: this.lossByCause,
      atNs: String(now())
    }
  }
}

/**
 * Opens one idle connection; resolves with a closer once CONNACK (accepted) arrived.
 * With keepalive > 0 (WebSocket only) it then sends PINGREQ every `keepalive` seconds
 * and reports to `tracker` until closed.
 */
function openOne (target, clientId, timeoutMs, noSubprotocol, keepalive = 0, tracker = null) {
  return new Promise((resolve, reject) => {
    const packet = connectPacket(clientId, keepalive)
    let settled = false
    let timer
    const settle = (err, closer) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (err) { closer?.(); reject(err) } else resolve(closer)
    }
    if (target.startsWith('ws://')) {
      const protocols = noSubprotocol ? [] : ['mqtt']
      const ws = new WebSocket(target, protocols, { perMessageDeflate: false, handshakeTimeout: timeoutMs })
      let pinger = null
      let pingAt = null // when the unanswered PINGREQ went out
      let closing = false // closed by us: not a loss
      let open = false // CONNACK came: counted in tracker.open
      const closer = () => { closing = true; clearInterval(pinger); try { ws.terminate() } catch {} }
      const lost = (cause) => {
        if (!open || closing) return
        open = false
        clearInterval(pinger)
        tracker?.loss(cause)
      }
      timer = setTimeout(() => settle(new Error('no CONNACK in time'), closer), timeoutMs)
      ws.on('open', () => ws.send(packet))
      ws.on('message', (data) => {
        const buf = Buffer.from(data)
        if (!settled) {
          const ok = isConnAckOk(buf)
          if (ok && tracker) {
            open = true
            tracker.open++
            if (keepalive > 0) {
              pinger = setInterval(() => {
                if (pingAt != null) tracker.late++
                pingAt = now()
                tracker.pingsSent++
                ws.send(PINGREQ)
              }, keepalive * 1000)
            }
          }
          settle(ok ? null : new Error(`bad CONNACK ${buf.toString('hex')}`), closer)
          return
        }
        const k = tracker ? pingResponses(buf) : -1
        if (k > 0) {
          tracker.pongs += k
          if (pingAt != null) {
            const ms = Number(now() - pingAt) / 1e6
            tracker.pongMsSum += ms * k
            if (ms > tracker.maxPongMs) tracker.maxPongMs = ms
            pingAt = null
          }
        } else if (tracker) {
          tracker.unexpected++
        }
      })
      ws.on('error', (err) => { lost(`error: ${err?.message ?? err}`); settle(err, closer) })
      ws.on('close', (code, reason) => { lost(`closed by peer: ${code} ${String(reason)}`.trim()); settle(new Error('closed before CONNACK'), closer) })
    } else {
      if (keepalive > 0) { reject(new Error('keepalive pings are implemented for ws:// only')); return }
      const { hostname, port } = new URL(target)
      const sock = net.connect({ host: hostname, port: Number(port), noDelay: true })
      const closer = () => sock.destroy()
      timer = setTimeout(() => settle(new Error('no CONNACK in time'), closer), timeoutMs)
      let got = Buffer.alloc(0)
      sock.on('connect', () => sock.write(packet))
      sock.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length >= 4) settle(isConnAckOk(got) ? null : new Error(`bad CONNACK ${got.toString('hex')}`), closer) })
      sock.on('error', (err) => settle(err, closer))
      sock.on('close', () => settle(new Error('closed before CONNACK'), closer))
    }
  })
}

/** Trackers of the running idle commands, by command id (for 'status'). */
const trackers = new Map()

async function idle ({ id, url, n, concurrency, capMs, noSubprotocol, keepalive = 0 }) {
  const closers = []
  const tracker = new Tracker()
  trackers.set(id, tracker)
  const startNs = now()
  const deadline = startNs + BigInt(capMs) * 1_000_000n
  let next = 0
  let failed = 0
  let firstError = null
  const lane = async () => {
    while (next < n && now() < deadline) {
      const i = next++
      try {
        closers.push(await openOne(url, `idle-${process.pid}-${id}-${i}`, 10_000, noSubprotocol, keepalive, tracker))
      } catch (err) {
        failed++
        firstError ??= String(err?.message ?? err)
        if (failed > 20) { next = n; return } // a broken path: stop hammering it
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane))
  const openMs = Number(now() - startNs) / 1e6
  send({ id, ev: 'open', opened: closers.length, failed, firstError, openMs })
  await waitFor(id, 'close')
  for (const close of closers) close()
  trackers.delete(id)
  // Give the FINs a moment to be sent before the orchestrator looks at the relay.
  await new Promise((resolve) => setTimeout(resolve, 200))
  send({ id, ev: 'closed', ...tracker.snapshot() })
}
