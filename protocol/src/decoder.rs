//! The streaming decoder: bytes go in as they arrive, whole packets come out. Any chunking
//! of a stream yields the same packets [MQTT-6.0.0-2]; "not enough bytes yet" is
//! `Ok(None)` and consumes nothing.

use bytes::{Bytes, BytesMut};

use crate::error::DecodeError;
use crate::packet::{FixedHeader, Packet};
use crate::types::ProtocolVersion;

/// The largest packet MQTT can express: a 5-byte fixed header and a remaining length of
/// 268,435,455.
pub const MAX_PACKET_SIZE: u32 = 268_435_460;

/// Decodes the packet at the front of `buf`, removing its bytes. `Ok(None)` means the
/// packet is not complete yet; nothing is consumed then. The size limit is checked as
/// soon as the fixed header is complete, before the body is buffered.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    Ok(match split_frame(buf, max_packet_size)? {
        Some((header, bytes)) => Some(decode_frame(header, &bytes, version)?),
        None => None,
    })
}

/// Decodes the packet at the front of `buf` without copying: the packet's fields are
/// slices of `buf`, which is advanced past it. `Ok(None)` means the packet is not complete
/// yet; nothing is consumed then.
pub fn decode_bytes(
    buf: &mut Bytes,
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    Ok(match split_frame_bytes(buf, max_packet_size)? {
        Some((header, bytes)) => Some(decode_frame(header, &bytes, version)?),
        None => None,
    })
}

/// A decoded packet together with the exact bytes it was decoded from, for relays that
/// check what they forward but forward it unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The packet.
    pub packet: Packet,
    /// Its bytes on the wire, fixed header included.
    pub bytes: Bytes,
}

/// At most this much room is kept after a large packet for the start of the next one.
const NEXT_PACKET_ROOM: usize = 16 * 1024;
/// The most reserved for a packet on the strength of its fixed header alone. A larger
/// packet's buffer grows as its bytes arrive (to at most twice what arrived), so a peer
/// cannot make the decoder hold memory it has only declared.
const EAGER_RESERVE: usize = 128 * 1024;

/// Takes one whole packet's bytes off the front of `buf`, or `None` if it is incomplete.
fn split_frame(buf: &mut BytesMut, max: u32) -> Result<Option<(FixedHeader, Bytes)>, DecodeError> {
    let Some(header) = FixedHeader::peek(buf, max)? else {
        return Ok(None);
    };
    let len = header.packet_len();
    if buf.len() < len {
        // `buf` holds the start of this one packet, whose size was checked. Reuse the
        // allocation of packets already decoded and dropped if it is large enough; else
        // allocate the packet's size and some room for the start of the next packet, which
        // usually arrives in the same read as this one's end (growing by doubling would
        // copy the packet again). Beyond EAGER_RESERVE only what arrived is trusted: the
        // buffer then grows by doubling as the rest comes.
        if buf.capacity() < len && !buf.try_reclaim(len - buf.len()) {
            let wanted = len + len.min(NEXT_PACKET_ROOM);
            let capacity = if wanted <= EAGER_RESERVE {
                wanted
            } else {
                wanted.min(buf.len().saturating_mul(2).max(EAGER_RESERVE))
            };
            let mut sized = BytesMut::with_capacity(capacity);
            sized.extend_from_slice(buf);
            *buf = sized;
        }
        return Ok(None);
    }
    Ok(Some((header, buf.split_to(len).freeze())))
}

/// [`split_frame`] for a `Bytes`, without copying.
fn split_frame_bytes(
    buf: &mut Bytes,
    max: u32,
) -> Result<Option<(FixedHeader, Bytes)>, DecodeError> {
    let Some(header) = FixedHeader::peek(buf, max)? else {
        return Ok(None);
    };
    if buf.len() < header.packet_len() {
        return Ok(None);
    }
    Ok(Some((header, buf.split_to(header.packet_len()))))
}

fn decode_frame(
    header: FixedHeader,
    bytes: &Bytes,
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    Packet::decode(header, bytes.slice(header.header_len..), version)
}

/// A buffer and the settings to decode one connection's byte stream.
///
/// Input given as [`Bytes`] through [`Decoder::extend_bytes`] is decoded in place, with no
/// copy, as long as it holds whole packets; only a packet cut at its end is copied into the
/// decoder's own buffer to wait for the rest.
///
/// After an error the stream cannot be resynchronised: close the connection (on 5.0,
/// after a DISCONNECT with [`DecodeError::reason_code`]).
#[derive(Debug)]
pub struct Decoder {
    /// Bytes waiting for the rest of a packet. Empty whenever `input` is not.
    buf: BytesMut,
    /// Received `Bytes` decoded in place.
    input: Bytes,
    /// Size of the packet `buf` holds the start of, once its fixed header is complete: no
    /// need to look again before that many bytes are there.
    need: usize,
    version: ProtocolVersion,
    max_packet_size: u32,
}

impl Decoder {
    /// A decoder for `version` with no size limit beyond the protocol's own.
    pub fn new(version: ProtocolVersion) -> Decoder {
        Decoder {
            buf: BytesMut::new(),
            input: Bytes::new(),
            need: 0,
            version,
            max_packet_size: MAX_PACKET_SIZE,
        }
    }

    /// Sets the largest packet accepted, fixed header included.
    #[must_use]
    pub fn with_max_packet_size(mut self, max: u32) -> Decoder {
        self.max_packet_size = max;
        self
    }

    /// Changes the largest packet accepted.
    pub fn set_max_packet_size(&mut self, max: u32) {
        self.max_packet_size = max;
        self.need = 0; // check the buffered packet against the new limit
    }

    /// The largest packet accepted.
    pub fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    /// The version packets are read in. Decoding a CONNECT switches to the version it asks for.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Changes the version packets are read in.
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    /// Appends received bytes (copying them).
    pub fn extend(&mut self, bytes: &[u8]) {
        self.spill_input();
        self.buf.extend_from_slice(bytes);
    }

    /// Appends received bytes without copying them where possible: packets wholly inside
    /// `bytes` are decoded as slices of it.
    pub fn extend_bytes(&mut self, bytes: Bytes) {
        if self.buf.is_empty() && self.input.is_empty() {
            self.input = bytes;
        } else {
            self.extend(&bytes);
        }
    }

    /// Appends received bytes held in a `Bytes` the caller keeps: decoded in place (a cheap
    /// reference count) when they start a packet, copied when they continue one.
    pub fn extend_shared(&mut self, bytes: &Bytes) {
        if self.buf.is_empty() && self.input.is_empty() {
            self.input = bytes.clone();
        } else {
            self.extend(bytes);
        }
    }

    /// The buffer, to read into directly.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        self.spill_input();
        &mut self.buf
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.input.len()
    }

    /// Takes the bytes received but not yet decoded, leaving the decoder empty.
    pub fn take_buffered(&mut self) -> BytesMut {
        self.spill_input();
        self.need = 0;
        self.buf.split()
    }

    /// The next whole packet, `Ok(None)` if more bytes are needed.
    #[inline]
    pub fn decode(&mut self) -> Result<Option<Packet>, DecodeError> {
        if self.waiting() {
            return Ok(None);
        }
        Ok(self.decode_frame()?.map(|frame| frame.packet))
    }

    /// True when the packet being received is known to need more bytes than are here:
    /// checked before any call, as a large packet arrives in many small reads.
    #[inline]
    fn waiting(&self) -> bool {
        self.input.is_empty() && self.buf.len() < self.need
    }

    /// The next whole packet with the bytes it came in, `Ok(None)` if more bytes are needed.
    #[inline]
    pub fn decode_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if self.waiting() {
            return Ok(None);
        }
        self.decode_frame_slow()
    }

    fn decode_frame_slow(&mut self) -> Result<Option<Frame>, DecodeError> {
        let Some((header, bytes)) = self.next_packet()? else {
            return Ok(None);
        };
        let packet = decode_frame(header, &bytes, self.version)?;
        if let Packet::Connect(connect) = &packet {
            self.version = connect.protocol;
        }
        Ok(Some(Frame { packet, bytes }))
    }

    /// The next whole packet for a client, `Ok(None)` if more bytes are needed: CONNECT,
    /// SUBSCRIBE, UNSUBSCRIBE and PINGREQ are [`DecodeError::NotFromServer`] (see
    /// [`Packet::decode_from_server`]).
    pub fn decode_from_server(&mut self) -> Result<Option<Packet>, DecodeError> {
        let Some((header, bytes)) = self.next_packet()? else {
            return Ok(None);
        };
        Packet::decode_from_server(header, bytes.slice(header.header_len..), self.version).map(Some)
    }

    /// Takes the next whole packet's header and bytes off the input, `None` if incomplete.
    fn next_packet(&mut self) -> Result<Option<(FixedHeader, Bytes)>, DecodeError> {
        if self.input.is_empty() {
            if self.buf.len() < self.need {
                return Ok(None);
            }
            let split = split_frame(&mut self.buf, self.max_packet_size)?;
            self.need = match split {
                // Incomplete: remember how much it needs (0 while the header is incomplete).
                None => FixedHeader::peek(&self.buf, self.max_packet_size)?
                    .map_or(0, |h| h.packet_len()),
                Some(_) => 0,
            };
            Ok(split)
        } else {
            let split = split_frame_bytes(&mut self.input, self.max_packet_size)?;
            if split.is_none() {
                // A packet cut at the end of the input: keep its start until the rest comes.
                self.spill_input();
            }
            Ok(split)
        }
    }

    /// Moves undecoded `input` into `buf`, keeping the order of bytes.
    fn spill_input(&mut self) {
        if !self.input.is_empty() {
            self.buf.extend_from_slice(&self.input);
            self.input = Bytes::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PacketType;

    const TWO_PUBLISHES: [u8; 18] = [
        0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i', // PUBLISH a/b "hi"
        0x30, 0x07, 0x00, 0x03, b'a', b'/', b'c', b'h', b'o', // PUBLISH a/c "ho"
    ];

    #[test]
    fn grows_the_buffer_as_bytes_arrive_not_to_the_declared_size() {
        let mut decoder = Decoder::new(ProtocolVersion::V311);
        // PUBLISH declaring 4 MiB (0x80 0x80 0x80 0x02), then 10 bytes of it.
        decoder.extend(&[
            0x30, 0x80, 0x80, 0x80, 0x02, 0x00, 0x01, b't', 1, 2, 3, 4, 5, 6, 7,
        ]);
        assert_eq!(decoder.decode(), Ok(None));
        assert!(
            decoder.buf.capacity() <= EAGER_RESERVE,
            "{}",
            decoder.buf.capacity()
        );
        let mut sent = 15;
        let chunk = [0u8; 64 * 1024];
        while sent + chunk.len() <= 4 * 1024 * 1024 + 5 {
            decoder.extend(&chunk);
            sent += chunk.len();
            assert!(
                decoder.buf.capacity() <= 2 * sent.max(EAGER_RESERVE),
                "{sent}: {}",
                decoder.buf.capacity()
            );
        }
        let rest = 4 * 1024 * 1024 + 5 - sent;
        decoder.extend(&chunk[..rest]);
        let Ok(Some(Packet::Publish(p))) = decoder.decode() else {
            panic!("the whole packet");
        };
        assert_eq!(p.payload.len(), 4 * 1024 * 1024 - 3);
    }

    #[test]
    fn decodes_whole_packets_in_bytes_without_copying() {
        let input = Bytes::from_static(&TWO_PUBLISHES);
        let mut decoder = Decoder::new(ProtocolVersion::V311);
        decoder.extend_bytes(input.clone());
        let Ok(Some(Packet::Publish(first))) = decoder.decode() else {
            panic!("first packet");
        };
        assert_eq!(first.payload.as_ptr(), input[7..].as_ptr());
        let Ok(Some(Packet::Publish(second))) = decoder.decode() else {
            panic!("second packet");
        };
        assert_eq!(second.payload.as_ptr(), input[16..].as_ptr());
        assert_eq!(decoder.decode(), Ok(None));
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn keeps_a_packet_cut_at_the_end_of_bytes_until_the_rest_arrives() {
        let mut decoder = Decoder::new(ProtocolVersion::V311);
        decoder.extend_bytes(Bytes::from_static(&TWO_PUBLISHES[..12]));
        assert!(matches!(decoder.decode(), Ok(Some(Packet::Publish(_)))));
        assert_eq!(decoder.decode(), Ok(None));
        assert_eq!(decoder.buffered(), 3);
        decoder.extend_bytes(Bytes::from_static(&TWO_PUBLISHES[12..]));
        let Ok(Some(Packet::Publish(second))) = decoder.decode() else {
            panic!("second packet");
        };
        assert_eq!(&second.payload[..], b"ho");
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn frames_carry_the_exact_bytes_of_each_packet() {
        let mut decoder = Decoder::new(ProtocolVersion::V311);
        decoder.extend(&TWO_PUBLISHES[..5]);
        assert_eq!(decoder.decode_frame(), Ok(None));
        decoder.extend_bytes(Bytes::from_static(&TWO_PUBLISHES[5..]));
        let first = decoder.decode_frame().expect("valid").expect("complete");
        assert_eq!(&first.bytes[..], &TWO_PUBLISHES[..9]);
        let second = decoder.decode_frame().expect("valid").expect("complete");
        assert_eq!(&second.bytes[..], &TWO_PUBLISHES[9..]);
        assert!(matches!(second.packet, Packet::Publish(_)));
    }

    #[test]
    fn switches_version_on_connect() {
        let mut decoder = Decoder::new(ProtocolVersion::V5);
        decoder.extend(&[
            0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, 0,
        ]);
        assert!(matches!(decoder.decode(), Ok(Some(Packet::Connect(_)))));
        assert_eq!(decoder.version(), ProtocolVersion::V311);
    }

    #[test]
    fn rejects_client_to_server_packets_from_a_server() {
        let packets: [(&[u8], PacketType); 4] = [
            (
                &[
                    0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, 0,
                ],
                PacketType::Connect,
            ),
            (&[0x82, 0x06, 0, 1, 0, 1, b'a', 0], PacketType::Subscribe),
            (&[0xa2, 0x05, 0, 1, 0, 1, b'a'], PacketType::Unsubscribe),
            (&[0xc0, 0x00], PacketType::PingReq),
        ];
        for (bytes, packet_type) in packets {
            let mut decoder = Decoder::new(ProtocolVersion::V311);
            decoder.extend(bytes);
            assert_eq!(
                decoder.decode_from_server(),
                Err(DecodeError::NotFromServer(packet_type))
            );
            // The same bytes are fine for a server.
            let mut decoder = Decoder::new(ProtocolVersion::V311);
            decoder.extend(bytes);
            assert!(matches!(decoder.decode(), Ok(Some(_))), "{packet_type:?}");
        }
    }

    #[test]
    fn decodes_what_a_server_sends_for_a_client() {
        let mut decoder = Decoder::new(ProtocolVersion::V311);
        decoder.extend(&[0x20, 0x02, 0x00, 0x00, 0xd0, 0x00]); // CONNACK, PINGRESP
        decoder.extend(&TWO_PUBLISHES[..5]);
        assert!(matches!(
            decoder.decode_from_server(),
            Ok(Some(Packet::ConnAck(_)))
        ));
        assert_eq!(decoder.decode_from_server(), Ok(Some(Packet::PingResp)));
        assert_eq!(decoder.decode_from_server(), Ok(None));
        decoder.extend(&TWO_PUBLISHES[5..]);
        assert!(matches!(
            decoder.decode_from_server(),
            Ok(Some(Packet::Publish(_)))
        ));
    }
}
