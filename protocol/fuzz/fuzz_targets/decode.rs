//! Decodes arbitrary bytes as a stream in both protocol versions, fed in two pieces (the
//! first byte picks the cut) through the copying and the zero-copy input paths. Whatever
//! is accepted must encode again, and the re-encoded bytes must decode to the same packet.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use mqttwire::{Decoder, MAX_PACKET_SIZE, ProtocolVersion, decode};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let cut = usize::from(selector).min(data.len());
    let input = Bytes::copy_from_slice(data);
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut decoder = Decoder::new(version);
        if selector & 1 == 0 {
            decoder.extend_bytes(input.slice(..cut));
            decoder.extend_bytes(input.slice(cut..));
        } else {
            decoder.extend(&input[..cut]);
            decoder.extend_bytes(input.slice(cut..));
        }
        loop {
            // The version a packet was read in (a CONNECT may switch the decoder).
            let before = decoder.version();
            let packet = match decoder.decode() {
                Ok(Some(packet)) => packet,
                Ok(None) | Err(_) => break,
            };
            let version = match &packet {
                mqttwire::Packet::Connect(c) => c.protocol,
                _ => before,
            };
            let mut wire = BytesMut::new();
            packet.encode(version, &mut wire).expect("an accepted packet encodes");
            assert_eq!(packet.encoded_len(version), Ok(wire.len()));
            let again = decode(&mut wire.clone(), version, MAX_PACKET_SIZE)
                .expect("re-encoded packet decodes")
                .expect("re-encoded packet is complete");
            assert_eq!(again, packet, "decode -> encode -> decode changed the packet");
            let mut wire2 = BytesMut::new();
            again.encode(version, &mut wire2).expect("encodes");
            assert_eq!(wire, wire2, "encoding is not stable");
        }
    }
});
