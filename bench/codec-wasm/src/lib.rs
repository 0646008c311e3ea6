//! The `mqttwire` codec as WebAssembly, for the side-by-side codec benchmark against npm
//! mqtt-packet in headless Chromium (`bench/codec/browser.mjs` drives it).
//!
//! The workload is the one the native benchmark uses (`protocol/benches/workload`, the
//! contract is `bench/codec/WORKLOAD.md`), compiled to `wasm32-unknown-unknown` and loaded
//! through wasm-bindgen. The page times each call with `performance.now()`:
//!
//! * [`CodecBench`] keeps one stream and its chunks in wasm memory, as the native benchmark
//!   keeps them in process memory: decode whole, decode chunked, encode each packet;
//! * [`StreamDecoder`] is fed chunks that live in JavaScript, each copied into wasm memory
//!   by the call, which is what a browser client pays for every WebSocket message.

use mqttwire::{Decoder, Packet, ProtocolVersion};
use wasm_bindgen::prelude::wasm_bindgen;

#[path = "../../../protocol/benches/workload/mod.rs"]
mod workload;
use workload::Case;

/// One case of the workload (QoS x payload size) held in wasm memory.
#[wasm_bindgen]
pub struct CodecBench {
    case: Case,
}

#[wasm_bindgen]
impl CodecBench {
    /// Builds the stream of `max(min_packets, floor(target / wire_size))` PUBLISH packets
    /// at `qos` (0 or 1) with `payload` bytes each, and its chunks (WORKLOAD.md 1-3).
    #[wasm_bindgen(constructor)]
    pub fn new(qos: u8, payload: usize, target: usize, min_packets: usize) -> CodecBench {
        CodecBench {
            case: Case::new(qos, payload, target, min_packets),
        }
    }

    /// Packets in the stream (N).
    #[wasm_bindgen(getter)]
    pub fn packets(&self) -> usize {
        self.case.packets
    }

    /// Bytes of one packet on the wire.
    #[wasm_bindgen(getter, js_name = wireSize)]
    pub fn wire_size(&self) -> usize {
        self.case.wire_size
    }

    /// Chunks of the stream for the chunked decode.
    #[wasm_bindgen(getter)]
    pub fn chunks(&self) -> usize {
        self.case.chunks.len()
    }

    /// A copy of the stream, to check it against the reference (not timed).
    pub fn stream(&self) -> Vec<u8> {
        self.case.stream.to_vec()
    }

    /// The sizes of the chunks in order, to check them against the reference (not timed).
    #[wasm_bindgen(js_name = chunkSizes)]
    pub fn chunk_sizes(&self) -> Vec<u32> {
        self.case
            .chunks
            .iter()
            .map(|c| u32::try_from(c.len()).unwrap_or(u32::MAX))
            .collect()
    }

    /// A fresh decoder given the whole stream at once; returns `[packets, payload bytes]`.
    #[wasm_bindgen(js_name = decodeWhole)]
    pub fn decode_whole(&self) -> Vec<f64> {
        counts(self.case.decode_whole())
    }

    /// A fresh decoder given the chunks one by one; returns `[packets, payload bytes]`.
    #[wasm_bindgen(js_name = decodeChunked)]
    pub fn decode_chunked(&self) -> Vec<f64> {
        counts(self.case.decode_chunked())
    }

    /// Encodes every packet into its own buffer; returns the bytes written.
    #[wasm_bindgen(js_name = encodeEach)]
    pub fn encode_each(&self) -> f64 {
        self.case.encode_each() as f64
    }
}

fn counts((packets, bytes): (usize, usize)) -> Vec<f64> {
    vec![packets as f64, bytes as f64]
}

/// A decoder fed from JavaScript: every [`StreamDecoder::feed`] copies its chunk into
/// wasm memory and decodes what is complete, counting PUBLISH packets and payload bytes.
#[wasm_bindgen]
pub struct StreamDecoder {
    decoder: Decoder,
    packets: usize,
    bytes: usize,
}

#[wasm_bindgen]
impl StreamDecoder {
    /// A decoder for MQTT 3.1.1.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)] // a JavaScript constructor
    pub fn new() -> StreamDecoder {
        StreamDecoder {
            decoder: Decoder::new(ProtocolVersion::V311),
            packets: 0,
            bytes: 0,
        }
    }

    /// Decodes what `chunk` completes; returns the PUBLISH packets decoded so far. A
    /// malformed stream is an error (a bug in the benchmark, the stream is generated).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<usize, String> {
        self.decoder.extend(chunk);
        while let Some(packet) = self.decoder.decode().map_err(|e| e.to_string())? {
            if let Packet::Publish(p) = packet {
                self.packets += 1;
                self.bytes += p.payload.len();
            }
        }
        Ok(self.packets)
    }

    /// PUBLISH packets decoded so far.
    #[wasm_bindgen(getter)]
    pub fn packets(&self) -> usize {
        self.packets
    }

    /// Payload bytes of the PUBLISH packets decoded so far.
    #[wasm_bindgen(getter, js_name = payloadBytes)]
    pub fn payload_bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes received but not yet decoded (0 after a whole stream).
    #[wasm_bindgen(getter)]
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_and_fed_decoders_count_every_packet() {
        for qos in [0, 1] {
            let bench = CodecBench::new(qos, 256, 64 << 10, 100);
            let n = bench.packets() as f64;
            let bytes = n * 256.0;
            assert_eq!(bench.decode_whole(), vec![n, bytes]);
            assert_eq!(bench.decode_chunked(), vec![n, bytes]);
            assert_eq!(bench.encode_each(), n * bench.wire_size() as f64);
            let stream = bench.stream();
            let mut fed = StreamDecoder::new();
            let mut off = 0;
            for size in bench.chunk_sizes() {
                let end = off + size as usize;
                assert!(fed.feed(&stream[off..end]).is_ok());
                off = end;
            }
            assert_eq!(
                (fed.packets() as f64, fed.payload_bytes() as f64),
                (n, bytes)
            );
            assert_eq!(fed.buffered(), 0);
        }
    }
}
