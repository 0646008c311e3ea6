#!/usr/bin/env node
// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Codec throughput benchmark for npm `mqtt-packet` (the node.js half of the
// mqttwire side-by-side codec benchmark).
//
// The workload is specified precisely in ./WORKLOAD.md; the Rust side mirrors
// it byte for byte. Keep the two in sync: if you change anything here that
// affects the bytes on the wire, the packet count, or the chunking, update
// WORKLOAD.md (and the Rust bench) too. The `stream_sha256` field in the
// output lets the two sides prove they decoded the very same input bytes.
//
// Usage:
//   node codec/mqtt-packet.mjs [--runs K] [--quick] [--help]
//
// Output: exactly one JSON document on stdout. Progress goes to stderr.

import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import process from 'node:process'

import mqttPacket from 'mqtt-packet'

const require = createRequire(import.meta.url)
const MQTT_PACKET_VERSION = require('mqtt-packet/package.json').version

// ---------------------------------------------------------------------------
// Workload constants (see WORKLOAD.md; must match the Rust side exactly)
// ---------------------------------------------------------------------------

const TOPIC = 'chat/room/42'
const QOS_LEVELS = [0, 1]
const PAYLOAD_SIZES = [16, 256, 4 * 1024, 64 * 1024]

/** Target stream buffer size; N = max(MIN_PACKETS, floor(TARGET / wire size)). */
const TARGET_STREAM_BYTES = 4 * 1024 * 1024
const MIN_PACKETS = 1000
/** `--quick`: a much smaller stream for smoke tests (numbers not comparable). */
const QUICK_TARGET_STREAM_BYTES = 256 * 1024
const QUICK_MIN_PACKETS = 100

/** Chunked decode: xorshift32 seed and maximum chunk size (sizes are 1..MAX). */
const CHUNK_SEED = 0x9e3779b9
const CHUNK_MAX = 1400

const DEFAULT_RUNS = 10
const WARMUP_RUNS = 1


// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

const USAGE = `usage: node codec/mqtt-packet.mjs [--runs K] [--quick]

  --runs K   timed runs per measurement (default ${DEFAULT_RUNS}, minimum 1;
             the workload spec asks for at least 5)
  --quick    small streams (~256 KiB, >= 100 packets) for a smoke test;
             numbers are NOT comparable with a full run
  --help     show this help`

function parseCli () {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    },
    strict: true
  })
  if (values.help) {
    process.stderr.write(USAGE + '\n')
    process.exit(0)
  }
  let runs = DEFAULT_RUNS
  if (values.runs !== undefined) {
    runs = Number(values.runs)
    if (!Number.isInteger(runs) || runs < 1) {
      throw new Error(`--runs must be a positive integer, got ${JSON.stringify(values.runs)}`)
    }
  }
  return { runs, quick: values.quick }
}

// ---------------------------------------------------------------------------
// Workload construction (independent of mqtt-packet, so that the input bytes
// are defined by this file / WORKLOAD.md, not by the library under test)
// ---------------------------------------------------------------------------

/** Number of bytes of the MQTT "Variable Byte Integer" encoding of `n`. */
function varIntLen (n) {
  if (n < 128) return 1
  if (n < 16_384) return 2
  if (n < 2_097_152) return 3
  return 4
}

/** Writes `n` as an MQTT Variable Byte Integer at `off`; returns the new offset. */
function writeVarInt (buf, off, n) {
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    buf[off++] = byte
  } while (n > 0)
  return off
}

/** Payload bytes: payload[i] = i % 251. */
function makePayload (size) {
  const payload = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) payload[i] = i % 251
  return payload
}

/** messageId of the k-th packet (k = 0-based index in the stream): 1..65535 cycling. */
const messageIdFor = (k) => (k % 65535) + 1

/** Builds the full description of one benchmark case (qos x payload size). */
function makeCase (qos, payloadSize, quick) {
  const topicBytes = Buffer.from(TOPIC, 'utf8')
  const remaining = 2 + topicBytes.length + (qos > 0 ? 2 : 0) + payloadSize
  const wireSize = 1 + varIntLen(remaining) + remaining
  const target = quick ? QUICK_TARGET_STREAM_BYTES : TARGET_STREAM_BYTES
  const minPackets = quick ? QUICK_MIN_PACKETS : MIN_PACKETS
  const count = Math.max(minPackets, Math.floor(target / wireSize))
  return { qos, payloadSize, topicBytes, remaining, wireSize, count, payload: makePayload(payloadSize) }
}

/**
 * Hand-encodes the stream of `c.count` PUBLISH packets (MQTT 3.1.1):
 *   0x30 | qos<<1 (dup=0, retain=0), remaining length (varint),
 *   topic length (u16 BE), topic, [messageId (u16 BE) if qos>0], payload.
 */
function buildStream (c) {
  const stream = Buffer.allocUnsafe(c.count * c.wireSize)
  let off = 0
  for (let k = 0; k < c.count; k++) {
    stream[off++] = 0x30 | (c.qos << 1)
    off = writeVarInt(stream, off, c.remaining)
    off = stream.writeUInt16BE(c.topicBytes.length, off)
    off += c.topicBytes.copy(stream, off)
    if (c.qos > 0) off = stream.writeUInt16BE(messageIdFor(k), off)
    off += c.payload.copy(stream, off)
  }
  if (off !== stream.length) throw new Error(`stream length mismatch: ${off} != ${stream.length}`)
  return stream
}

/**
 * Deterministic xorshift32 (Marsaglia 13/17/5). Returns a function yielding
 * the next state as an unsigned 32-bit integer. The state is advanced
 * *before* each value is returned.
 */
function xorshift32 (seed) {
  let state = seed | 0
  return () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return state >>> 0
  }
}

/**
 * Splits `buf` into chunks of size 1 + (next() % CHUNK_MAX), a fresh PRNG
 * seeded with CHUNK_SEED per stream; the final chunk is truncated to what is
 * left. Chunks are zero-copy subarrays of `buf`.
 */
function chunkStream (buf) {
  const next = xorshift32(CHUNK_SEED)
  const chunks = []
  for (let off = 0; off < buf.length;) {
    const size = 1 + (next() % CHUNK_MAX)
    const end = Math.min(off + size, buf.length)
    chunks.push(buf.subarray(off, end))
    off = end
  }
  return chunks
}

/** The packet object handed to mqtt-packet's generate()/writeToStream(). */
function makePacketObject (c) {
  return {
    cmd: 'publish',
    topic: TOPIC,
    payload: c.payload,
    qos: c.qos,
    dup: false,
    retain: false,
    // Overwritten per packet for QoS 1; mqtt-packet ignores it for QoS 0.
    messageId: c.qos > 0 ? 1 : undefined
  }
}

// ---------------------------------------------------------------------------
// Up-front correctness checks (untimed): the benchmark must measure real work
// ---------------------------------------------------------------------------

/** Full decode of the stream with every field checked. */
function verifyDecode (c, chunks) {
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  let k = 0
  parser.on('error', (err) => { throw err })
  parser.on('packet', (p) => {
    const expectedId = c.qos > 0 ? messageIdFor(k) : undefined
    if (p.cmd !== 'publish' || p.topic !== TOPIC || p.qos !== c.qos ||
        p.dup || p.retain || p.messageId !== expectedId ||
        p.length !== c.remaining || !c.payload.equals(p.payload)) {
      throw new Error(`verify decode: packet ${k} mismatch (qos ${c.qos}, payload ${c.payloadSize})`)
    }
    k++
  })
  let left = 0
  for (const chunk of chunks) left = parser.parse(chunk)
  if (k !== c.count || left !== 0) {
    throw new Error(`verify decode: got ${k}/${c.count} packets, ${left} bytes left over`)
  }
}

/** generate() must reproduce the hand-encoded stream byte for byte. */
function verifyEncode (c, stream) {
  const packet = makePacketObject(c)
  for (let k = 0; k < c.count; k++) {
    if (c.qos > 0) packet.messageId = messageIdFor(k)
    const out = mqttPacket.generate(packet)
    const off = k * c.wireSize
    if (out.length !== c.wireSize || !out.equals(stream.subarray(off, off + c.wireSize))) {
      throw new Error(`verify encode: packet ${k} differs from the reference stream`)
    }
  }
}

// ---------------------------------------------------------------------------
// Timed operations. Each returns elapsed nanoseconds (bigint) and throws if
// the work done does not match the expectation.
// ---------------------------------------------------------------------------

/**
 * Decodes `chunks` with a fresh parser. Whole mode passes a single chunk (the
 * entire stream). The 'packet' handler counts packets and payload bytes only.
 */
function timeDecode (c, chunks) {
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  let packets = 0
  let payloadBytes = 0
  parser.on('error', (err) => { throw err })
  parser.on('packet', (p) => {
    packets++
    payloadBytes += p.payload.length
  })

  const t0 = process.hrtime.bigint()
  let left = 0
  for (let i = 0; i < chunks.length; i++) left = parser.parse(chunks[i])
  const t1 = process.hrtime.bigint()

  if (packets !== c.count) throw new Error(`decode: ${packets} packets, expected ${c.count}`)
  if (payloadBytes !== c.count * c.payloadSize) {
    throw new Error(`decode: ${payloadBytes} payload bytes, expected ${c.count * c.payloadSize}`)
  }
  if (left !== 0) throw new Error(`decode: ${left} bytes left unparsed`)
  return t1 - t0
}

/**
 * mqtt-packet.generate() for each of the N packets (one output Buffer per
 * packet). A single packet object is reused, only messageId is updated.
 */
function timeGenerate (c) {
  const packet = makePacketObject(c)
  const { generate } = mqttPacket
  const { qos, count } = c
  let bytes = 0

  const t0 = process.hrtime.bigint()
  for (let k = 0; k < count; k++) {
    if (qos > 0) packet.messageId = (k % 65535) + 1 // == messageIdFor(k), inlined
    bytes += generate(packet).length
  }
  const t1 = process.hrtime.bigint()

  if (bytes !== count * c.wireSize) throw new Error(`encode: ${bytes} bytes, expected ${count * c.wireSize}`)
  return t1 - t0
}

/**
 * Optional extra: mqtt-packet.writeToStream() into a minimal sink that only
 * counts bytes (no concatenation, no copying, no cork/uncork). This is the
 * library's cheapest encode path: the pieces (header, length, topic, id,
 * payload) are handed over without being joined into one buffer.
 */
function timeWriteToStream (c) {
  const packet = makePacketObject(c)
  const { writeToStream } = mqttPacket
  const { qos, count } = c
  const sink = {
    bytes: 0,
    write (chunk) {
      this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
      return true
    },
    destroy (err) { throw err ?? new Error('writeToStream: stream destroyed') }
  }

  const t0 = process.hrtime.bigint()
  for (let k = 0; k < count; k++) {
    if (qos > 0) packet.messageId = (k % 65535) + 1
    writeToStream(packet, sink)
  }
  const t1 = process.hrtime.bigint()

  if (sink.bytes !== count * c.wireSize) {
    throw new Error(`writeToStream: ${sink.bytes} bytes, expected ${count * c.wireSize}`)
  }
  return t1 - t0
}

// ---------------------------------------------------------------------------
// Measurement driver
// ---------------------------------------------------------------------------

const median = (sorted) => {
  const m = sorted.length >> 1
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2
}
const round = (x, digits) => Number(x.toFixed(digits))

/** 1 warm-up run + `runs` timed runs of `fn`, summarised as packets/s. */
function measure (c, op, mode, runs, fn) {
  // Note: forcing a full GC between runs was tried and made results *noisier*
  // (V8 re-grows the heap afterwards), so runs follow each other directly.
  for (let i = 0; i < WARMUP_RUNS; i++) fn()
  const perRun = []
  for (let i = 0; i < runs; i++) {
    const ns = fn()
    perRun.push(c.count / (Number(ns) / 1e9))
  }
  const sorted = [...perRun].sort((a, b) => a - b)
  const med = median(sorted)
  const result = {
    op,
    qos: c.qos,
    payload: c.payloadSize,
    mode,
    packets_per_sec: round(med, 0),
    mb_per_sec: round((med * c.wireSize) / 1e6, 2),
    runs: perRun.map((x) => round(x, 0)),
    median: round(med, 0),
    min: round(sorted[0], 0),
    max: round(sorted[sorted.length - 1], 0),
    // Extra context (not required by the shared schema):
    packets: c.count,
    wire_size: c.wireSize
  }
  process.stderr.write(
    `  ${op.padEnd(6)} ${mode.padEnd(13)} qos${c.qos} payload ${String(c.payloadSize).padStart(5)}: ` +
    `${result.packets_per_sec.toLocaleString('en-US').padStart(11)} pkt/s ` +
    `${result.mb_per_sec.toFixed(1).padStart(8)} MB/s\n`
  )
  return result
}

function main () {
  const { runs, quick } = parseCli()
  if (runs < 5) process.stderr.write(`warning: --runs ${runs} is below the spec minimum of 5\n`)
  if (process.env.DEBUG) process.stderr.write('warning: DEBUG is set; mqtt-packet debug logging may distort results\n')

  const results = []
  const extra = []
  const streams = []

  for (const payloadSize of PAYLOAD_SIZES) {
    for (const qos of QOS_LEVELS) {
      const c = makeCase(qos, payloadSize, quick)
      const stream = buildStream(c)
      const chunks = chunkStream(stream)
      const whole = [stream]
      process.stderr.write(
        `qos ${qos}, payload ${payloadSize} B: N=${c.count} packets x ${c.wireSize} B = ` +
        `${stream.length} B, ${chunks.length} chunks\n`
      )

      verifyDecode(c, whole)
      verifyDecode(c, chunks)
      verifyEncode(c, stream)

      streams.push({
        qos,
        payload: payloadSize,
        packets: c.count,
        wire_size: c.wireSize,
        stream_bytes: stream.length,
        stream_sha256: createHash('sha256').update(stream).digest('hex'),
        chunks: chunks.length
      })

      results.push(measure(c, 'decode', 'whole', runs, () => timeDecode(c, whole)))
      results.push(measure(c, 'decode', 'chunked', runs, () => timeDecode(c, chunks)))
      results.push(measure(c, 'encode', 'whole', runs, () => timeGenerate(c)))
      extra.push(measure(c, 'encode', 'writeToStream', runs, () => timeWriteToStream(c)))
    }
  }

  const doc = {
    tool: 'mqtt-packet',
    version: MQTT_PACKET_VERSION,
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    quick,
    warmup_runs: WARMUP_RUNS,
    timed_runs: runs,
    // The shared-schema results: decode whole/chunked via parser().parse(),
    // encode via generate().
    results,
    // Optional: encode via writeToStream() into a byte-counting sink.
    extra_results: extra,
    // Input fingerprints, for checking that the Rust side uses identical bytes.
    streams
  }
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n')
}

try {
  main()
} catch (err) {
  process.stderr.write(`mqtt-packet bench: ${err.stack ?? err}\n`)
  process.exitCode = 1
}
