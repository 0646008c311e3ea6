//! The codec benchmark workload shared by the criterion bench and the side-by-side
//! example (`bench/codec/WORKLOAD.md` is the contract with the mqtt-packet side):
//! MQTT 3.1.1 PUBLISH to `chat/room/42`, QoS 0 or 1, payload byte `i % 251`.

#![allow(dead_code, unreachable_pub)]

use bytes::{Bytes, BytesMut};
use mqttwire::{
    Decoder, MAX_PACKET_SIZE, Packet, PacketId, ProtocolVersion, Publish, QoS, TopicName,
};

/// The payload sizes measured.
pub const PAYLOADS: [usize; 4] = [16, 256, 4096, 65536];

/// One stream of packets to decode, and the packet they are made of.
pub struct Case {
    pub qos: u8,
    pub payload: usize,
    pub packets: usize,
    pub wire_size: usize,
    pub stream: Bytes,
    pub chunks: Vec<Bytes>,
    pub publish: Publish,
}

impl Case {
    /// Builds the stream of `max(min_packets, floor(target / wire_size))` packets.
    pub fn new(qos: u8, payload: usize, target: usize, min_packets: usize) -> Case {
        let payload_bytes: Bytes = (0..payload)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        let mut publish = Publish::new(
            TopicName::new("chat/room/42").expect("valid"),
            payload_bytes,
        );
        if qos == 1 {
            publish.qos = QoS::AtLeastOnce;
            publish.packet_id = PacketId::new(1);
        }
        let wire_size = Packet::Publish(publish.clone())
            .encoded_len(ProtocolVersion::V311)
            .expect("encodes");
        let packets = (target / wire_size).max(min_packets);
        let mut stream = BytesMut::with_capacity(packets * wire_size);
        for k in 0..packets {
            set_id(&mut publish, k);
            publish
                .encode(ProtocolVersion::V311, &mut stream)
                .expect("encodes");
        }
        let stream = stream.freeze();
        let chunks = chunk_sizes(stream.len())
            .into_iter()
            .scan(0, |off, n| {
                let c = stream.slice(*off..*off + n);
                *off += n;
                Some(c)
            })
            .collect();
        Case {
            qos,
            payload,
            packets,
            wire_size,
            stream,
            chunks,
            publish,
        }
    }

    /// Decodes the whole stream handed over in one buffer, as a received `Bytes`
    /// (zero-copy, like mqtt-packet's `parse(buffer)`); returns (packets, payload bytes).
    pub fn decode_whole(&self) -> (usize, usize) {
        let mut decoder = Decoder::new(ProtocolVersion::V311);
        decoder.extend_bytes(self.stream.clone());
        drain(&mut decoder, (0, 0))
    }

    /// Decodes the stream fed chunk by chunk, each chunk a `Bytes` (decoded in place where it
    /// starts a packet, copied where it continues one); returns (packets, payload bytes).
    pub fn decode_chunked(&self) -> (usize, usize) {
        let mut decoder = Decoder::new(ProtocolVersion::V311);
        let mut counts = (0, 0);
        for chunk in &self.chunks {
            decoder.extend_shared(chunk);
            counts = drain(&mut decoder, counts);
        }
        counts
    }

    /// Encodes every packet into its own buffer; returns the bytes written.
    pub fn encode_each(&self) -> usize {
        let mut publish = self.publish.clone();
        let mut total = 0;
        for k in 0..self.packets {
            set_id(&mut publish, k);
            let mut out = BytesMut::with_capacity(self.wire_size);
            publish
                .encode(ProtocolVersion::V311, &mut out)
                .expect("encodes");
            total += out.len();
            std::hint::black_box(&out);
        }
        total
    }
}

fn set_id(publish: &mut Publish, k: usize) {
    if publish.qos != QoS::AtMostOnce {
        publish.packet_id = PacketId::new((k % 65535) as u16 + 1);
    }
}

fn drain(decoder: &mut Decoder, (mut packets, mut bytes): (usize, usize)) -> (usize, usize) {
    while let Some(packet) = decoder.decode().expect("valid stream") {
        if let Packet::Publish(p) = packet {
            packets += 1;
            bytes += p.payload.len();
        }
    }
    debug_assert!(decoder.max_packet_size() == MAX_PACKET_SIZE);
    (packets, bytes)
}

/// Chunk sizes 1..=1400 from xorshift32 seeded with 0x9E3779B9 (WORKLOAD.md section 3).
pub fn chunk_sizes(len: usize) -> Vec<usize> {
    let mut state: u32 = 0x9E37_79B9;
    let (mut off, mut out) = (0usize, Vec::new());
    while off < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = 1 + (state % 1400) as usize;
        let end = (off + size).min(len);
        out.push(end - off);
        off = end;
    }
    out
}
