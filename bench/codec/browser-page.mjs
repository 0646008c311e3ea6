// SPDX-License-Identifier: MIT OR Apache-2.0
//
// The in-page half of the browser codec benchmark (bench/codec/browser.mjs serves it and
// drives it over the DevTools protocol): npm mqtt-packet (bundled for browsers) against the
// mqttwire codec compiled to wasm, one case of WORKLOAD.md at a time, in one page.
//
// Per case: the stream is built here from WORKLOAD.md alone (independent of both codecs),
// its SHA-256 goes back to the driver, the wasm side must hold the very same bytes and
// chunks, mqtt-packet must decode every field and re-encode the stream byte for byte; then
// rounds of measurements with the two sides in alternating order, each measurement one
// warm-up run and `runs` timed runs, every run checked (packets, payload bytes, leftovers).

import { mqttPacket, Buffer } from '/mqtt-packet.js'
import init, { CodecBench, StreamDecoder } from '/wasm/codec_wasm_bench.js'

const TOPIC = 'chat/room/42'
const CHUNK_SEED = 0x9e3779b9
const CHUNK_MAX = 1400
const WARMUP_RUNS = 1

await init({ module_or_path: '/wasm/codec_wasm_bench_bg.wasm' })

const varIntLen = (n) => (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4)
const messageIdFor = (k) => (k % 65535) + 1

function makeCase (qos, payloadSize, target, minPackets) {
  const topicBytes = Buffer.from(TOPIC, 'utf8')
  const remaining = 2 + topicBytes.length + (qos > 0 ? 2 : 0) + payloadSize
  const wireSize = 1 + varIntLen(remaining) + remaining
  const count = Math.max(minPackets, Math.floor(target / wireSize))
  const payload = Buffer.alloc(payloadSize)
  for (let i = 0; i < payloadSize; i++) payload[i] = i % 251
  return { qos, payloadSize, topicBytes, remaining, wireSize, count, payload }
}

/** The stream of WORKLOAD.md section 1, encoded by hand. */
function buildStream (c) {
  const stream = Buffer.alloc(c.count * c.wireSize)
  let off = 0
  for (let k = 0; k < c.count; k++) {
    stream[off++] = 0x30 | (c.qos << 1)
    let n = c.remaining
    do {
      let byte = n % 128
      n = Math.floor(n / 128)
      if (n > 0) byte |= 0x80
      stream[off++] = byte
    } while (n > 0)
    stream[off++] = c.topicBytes.length >> 8
    stream[off++] = c.topicBytes.length & 0xff
    stream.set(c.topicBytes, off)
    off += c.topicBytes.length
    if (c.qos > 0) {
      const id = messageIdFor(k)
      stream[off++] = id >> 8
      stream[off++] = id & 0xff
    }
    stream.set(c.payload, off)
    off += c.payload.length
  }
  if (off !== stream.length) throw new Error(`stream length ${off} != ${stream.length}`)
  return stream
}

/** WORKLOAD.md section 3: xorshift32 chunk sizes, zero-copy Buffer views. */
function chunkStream (buf) {
  let state = CHUNK_SEED | 0
  const chunks = []
  for (let off = 0; off < buf.length;) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    const end = Math.min(off + 1 + ((state >>> 0) % CHUNK_MAX), buf.length)
    chunks.push(Buffer.from(buf.buffer, buf.byteOffset + off, end - off))
    off = end
  }
  return chunks
}

const packetObject = (c) => ({
  cmd: 'publish', topic: TOPIC, payload: c.payload, qos: c.qos, dup: false, retain: false,
  messageId: c.qos > 0 ? 1 : undefined
})

function verifyMqttPacket (c, stream, chunks) {
  for (const input of [[stream], chunks]) {
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    let k = 0
    parser.on('error', (err) => { throw err })
    parser.on('packet', (p) => {
      const id = c.qos > 0 ? messageIdFor(k) : undefined
      if (p.cmd !== 'publish' || p.topic !== TOPIC || p.qos !== c.qos || p.dup || p.retain ||
          p.messageId !== id || p.length !== c.remaining || !c.payload.equals(p.payload)) {
        throw new Error(`mqtt-packet decode check: packet ${k} differs`)
      }
      k++
    })
    let left = 0
    for (const chunk of input) left = parser.parse(chunk)
    if (k !== c.count || left !== 0) throw new Error(`mqtt-packet decode check: ${k}/${c.count} packets, ${left} left`)
  }
  const packet = packetObject(c)
  for (let k = 0; k < c.count; k++) {
    if (c.qos > 0) packet.messageId = messageIdFor(k)
    const out = mqttPacket.generate(packet)
    const off = k * c.wireSize
    if (out.length !== c.wireSize || !out.equals(stream.subarray(off, off + c.wireSize))) {
      throw new Error(`mqtt-packet encode check: packet ${k} differs from the stream`)
    }
  }
}

function verifyWasm (c, stream, chunks, bench) {
  if (bench.packets !== c.count || bench.wireSize !== c.wireSize) throw new Error('wasm case has another N or wire size')
  const theirs = bench.stream()
  if (theirs.length !== stream.length) throw new Error('wasm stream has another length')
  for (let i = 0; i < stream.length; i++) if (theirs[i] !== stream[i]) throw new Error(`wasm stream differs at byte ${i}`)
  const sizes = bench.chunkSizes()
  if (sizes.length !== chunks.length || chunks.some((ch, i) => ch.length !== sizes[i])) throw new Error('wasm chunks differ')
}

/** Timed operations: each returns milliseconds and throws if the work done is not all of it. */
function makeOps (c, stream, chunks, bench) {
  const packets = c.count
  const payloadBytes = c.count * c.payloadSize
  const checkCounts = (what, n, bytes) => {
    if (n !== packets || bytes !== payloadBytes) throw new Error(`${what}: ${n} packets / ${bytes} B, expected ${packets} / ${payloadBytes}`)
  }
  const mqttPacketDecode = (input, what) => () => {
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    let n = 0
    let bytes = 0
    parser.on('error', (err) => { throw err })
    parser.on('packet', (p) => { n++; bytes += p.payload.length })
    const t0 = performance.now()
    let left = 0
    for (let i = 0; i < input.length; i++) left = parser.parse(input[i])
    const ms = performance.now() - t0
    checkCounts(what, n, bytes)
    if (left !== 0) throw new Error(`${what}: ${left} bytes left`)
    return ms
  }
  const whole = [stream]
  return {
    'mqtt-packet': [
      ['decode', 'whole', mqttPacketDecode(whole, 'mqtt-packet decode whole')],
      ['decode', 'chunked', mqttPacketDecode(chunks, 'mqtt-packet decode chunked')],
      ['encode', 'whole', () => {
        const packet = packetObject(c)
        const { generate } = mqttPacket
        let bytes = 0
        const t0 = performance.now()
        for (let k = 0; k < packets; k++) {
          if (c.qos > 0) packet.messageId = (k % 65535) + 1
          bytes += generate(packet).length
        }
        const ms = performance.now() - t0
        if (bytes !== packets * c.wireSize) throw new Error(`mqtt-packet encode: ${bytes} B`)
        return ms
      }]
    ],
    mqttwire: [
      ['decode', 'whole', () => {
        const t0 = performance.now()
        const [n, bytes] = bench.decodeWhole()
        const ms = performance.now() - t0
        checkCounts('mqttwire decode whole', n, bytes)
        return ms
      }],
      ['decode', 'chunked', () => {
        const t0 = performance.now()
        const [n, bytes] = bench.decodeChunked()
        const ms = performance.now() - t0
        checkCounts('mqttwire decode chunked', n, bytes)
        return ms
      }],
      ['encode', 'whole', () => {
        const t0 = performance.now()
        const bytes = bench.encodeEach()
        const ms = performance.now() - t0
        if (bytes !== packets * c.wireSize) throw new Error(`mqttwire encode: ${bytes} B`)
        return ms
      }],
      // Not in the shared schema: chunks that live in JavaScript, each copied into wasm
      // memory by the call, as a browser client receives WebSocket messages.
      ['decode', 'chunked-from-js', () => {
        const decoder = new StreamDecoder()
        try {
          const t0 = performance.now()
          for (let i = 0; i < chunks.length; i++) decoder.feed(chunks[i])
          const ms = performance.now() - t0
          checkCounts('mqttwire decode chunked-from-js', decoder.packets, decoder.payloadBytes)
          if (decoder.buffered !== 0) throw new Error('mqttwire decode chunked-from-js: bytes left')
          return ms
        } finally {
          decoder.free()
        }
      }]
    ]
  }
}

async function sha256 (bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * Runs one case in rounds, the side order alternating from round to round starting with
 * `first`, each measurement WARMUP_RUNS + `perRound[round]` runs. Returns the stream's
 * fingerprint and every run's packets/s per side and measurement.
 */
window.codecCase = async ({ qos, payload, target, minPackets, perRound, first }) => {
  const c = makeCase(qos, payload, target, minPackets)
  const stream = buildStream(c)
  const chunks = chunkStream(stream)
  const bench = new CodecBench(qos, payload, target, minPackets)
  try {
    verifyWasm(c, stream, chunks, bench)
    verifyMqttPacket(c, stream, chunks)
    const ops = makeOps(c, stream, chunks, bench)
    const samples = { 'mqtt-packet': {}, mqttwire: {} }
    const order = []
    for (let round = 0; round < perRound.length; round++) {
      const sides = (round % 2 === 0) === (first === 'mqtt-packet') ? ['mqtt-packet', 'mqttwire'] : ['mqttwire', 'mqtt-packet']
      order.push(sides)
      for (const side of sides) {
        for (const [op, mode, fn] of ops[side]) {
          for (let i = 0; i < WARMUP_RUNS; i++) fn()
          const key = `${op}/${mode}`
          for (let i = 0; i < perRound[round]; i++) (samples[side][key] ??= []).push(c.count / (fn() / 1000))
        }
      }
    }
    return {
      stream: {
        qos, payload, packets: c.count, wire_size: c.wireSize, stream_bytes: stream.length,
        chunks: chunks.length, stream_sha256: await sha256(stream)
      },
      order,
      samples,
      crossOriginIsolated: self.crossOriginIsolated
    }
  } finally {
    bench.free()
  }
}

window.codecReady = true
