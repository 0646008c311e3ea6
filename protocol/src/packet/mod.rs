//! Control packets (spec chapter 3): the [`Packet`] enum, the fixed header, and the
//! dispatch of decoding and encoding to one file per packet type.

mod ack;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod publish;
mod suback;
mod subscribe;
mod unsuback;
mod unsubscribe;

pub use ack::Ack;
pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use disconnect::Disconnect;
pub use publish::Publish;
pub use suback::SubAck;
pub use subscribe::{RetainHandling, Subscribe, Subscription, SubscriptionOptions};
pub use unsuback::UnsubAck;
pub use unsubscribe::Unsubscribe;

use bytes::{Bytes, BytesMut};

use crate::codec::{Reader, VarInt, peek_var_int, put_fixed_header};
use crate::error::{DecodeError, EncodeError};
use crate::types::{PacketType, ProtocolVersion};

/// One MQTT control packet of either protocol version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Packet {
    /// CONNECT.
    Connect(Connect),
    /// CONNACK.
    ConnAck(ConnAck),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    PubAck(Ack),
    /// PUBREC.
    PubRec(Ack),
    /// PUBREL.
    PubRel(Ack),
    /// PUBCOMP.
    PubComp(Ack),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH (MQTT 5.0 only).
    Auth(Auth),
}

/// The fixed header of a packet at the front of a buffer (spec 2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The packet type.
    pub packet_type: PacketType,
    /// The low nibble of the first byte.
    pub flags: u8,
    /// The remaining length: bytes after the fixed header.
    pub remaining_length: usize,
    /// Bytes the fixed header itself takes: 2 to 5.
    pub header_len: usize,
}

impl FixedHeader {
    /// The packet's whole size on the wire.
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_length
    }

    /// Reads the fixed header at the front of `buf` without consuming anything.
    /// `Ok(None)` means more bytes are needed. The packet's full size is checked against
    /// `max_packet_size` here, before any of its body needs to be buffered.
    pub fn peek(buf: &[u8], max_packet_size: u32) -> Result<Option<FixedHeader>, DecodeError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let packet_type = PacketType::from_nibble(first >> 4)
            .ok_or(DecodeError::ReservedPacketType(first >> 4))?;
        let (remaining_length, len) = match peek_var_int(&buf[1..])? {
            VarInt::Complete(value, len) => (value as usize, len),
            VarInt::Incomplete => return Ok(None),
        };
        let header = FixedHeader {
            packet_type,
            flags: first & 0x0f,
            remaining_length,
            header_len: 1 + len,
        };
        let size = header.packet_len();
        if size > max_packet_size as usize {
            return Err(DecodeError::PacketTooLarge {
                size,
                max: max_packet_size,
            });
        }
        Ok(Some(header))
    }
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// Decodes one whole packet: `header` as read by [`FixedHeader::peek`] and `body`,
    /// exactly `remaining_length` bytes. A CONNECT is read in the version it names
    /// itself; every other packet in `version`.
    pub fn decode(
        header: FixedHeader,
        body: Bytes,
        version: ProtocolVersion,
    ) -> Result<Packet, DecodeError> {
        Packet::decode_as::<true>(header, body, version)
    }

    /// [`Packet::decode`] for a client: CONNECT, SUBSCRIBE, UNSUBSCRIBE and PINGREQ, which
    /// only clients send, are [`DecodeError::NotFromServer`]. A client built on this carries
    /// no code to read them, which counts in a browser bundle.
    pub fn decode_from_server(
        header: FixedHeader,
        body: Bytes,
        version: ProtocolVersion,
    ) -> Result<Packet, DecodeError> {
        Packet::decode_as::<false>(header, body, version)
    }

    /// Decodes a packet; with `FROM_CLIENTS` false the client-to-server packets are errors
    /// and their readers are not compiled in.
    fn decode_as<const FROM_CLIENTS: bool>(
        header: FixedHeader,
        body: Bytes,
        version: ProtocolVersion,
    ) -> Result<Packet, DecodeError> {
        let packet_type = header.packet_type;
        // [MQTT-2.1.3-1] reserved flags MUST be set to the values listed
        if packet_type != PacketType::Publish && header.flags != packet_type.fixed_flags() {
            return Err(DecodeError::InvalidFlags {
                packet: packet_type,
                flags: header.flags,
            });
        }
        let mut r = Reader::new(body, packet_type);
        let packet = match packet_type {
            PacketType::Connect if FROM_CLIENTS => Packet::Connect(Connect::read(&mut r)?),
            PacketType::ConnAck => Packet::ConnAck(ConnAck::read(&mut r, version)?),
            PacketType::Publish => Packet::Publish(Publish::read(header.flags, &mut r, version)?),
            PacketType::PubAck => Packet::PubAck(Ack::read(&mut r, version)?),
            PacketType::PubRec => Packet::PubRec(Ack::read(&mut r, version)?),
            PacketType::PubRel => Packet::PubRel(Ack::read(&mut r, version)?),
            PacketType::PubComp => Packet::PubComp(Ack::read(&mut r, version)?),
            PacketType::Subscribe if FROM_CLIENTS => {
                Packet::Subscribe(Subscribe::read(&mut r, version)?)
            }
            PacketType::SubAck => Packet::SubAck(SubAck::read(&mut r, version)?),
            PacketType::Unsubscribe if FROM_CLIENTS => {
                Packet::Unsubscribe(Unsubscribe::read(&mut r, version)?)
            }
            PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::read(&mut r, version)?),
            PacketType::PingReq if FROM_CLIENTS => Packet::PingReq,
            PacketType::PingResp => Packet::PingResp,
            PacketType::Disconnect => Packet::Disconnect(Disconnect::read(&mut r, version)?),
            PacketType::Auth => {
                if version == ProtocolVersion::V311 {
                    // AUTH does not exist in 3.1.1: type 15 is reserved there.
                    return Err(DecodeError::NotInVersion(PacketType::Auth));
                }
                Packet::Auth(Auth::read(&mut r)?)
            }
            // [MQTT-2.1.2] their direction of flow is client to server only
            PacketType::Connect
            | PacketType::Subscribe
            | PacketType::Unsubscribe
            | PacketType::PingReq => return Err(DecodeError::NotFromServer(packet_type)),
        };
        r.finish()?;
        Ok(packet)
    }

    /// Appends the packet's bytes to `dst`. A CONNECT is encoded in its own version. On
    /// error nothing is appended.
    pub fn encode(&self, version: ProtocolVersion, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Packet::Connect(p) => encode(p, p.protocol, dst),
            Packet::ConnAck(p) => encode(p, version, dst),
            Packet::Publish(p) => encode(p, version, dst),
            Packet::PubAck(p) => encode(&(PacketType::PubAck, p), version, dst),
            Packet::PubRec(p) => encode(&(PacketType::PubRec, p), version, dst),
            Packet::PubRel(p) => encode(&(PacketType::PubRel, p), version, dst),
            Packet::PubComp(p) => encode(&(PacketType::PubComp, p), version, dst),
            Packet::Subscribe(p) => encode(p, version, dst),
            Packet::SubAck(p) => encode(p, version, dst),
            Packet::Unsubscribe(p) => encode(p, version, dst),
            Packet::UnsubAck(p) => encode(p, version, dst),
            Packet::PingReq => put_fixed_header(dst, (PacketType::PingReq as u8) << 4, 0),
            Packet::PingResp => put_fixed_header(dst, (PacketType::PingResp as u8) << 4, 0),
            Packet::Disconnect(p) => encode(p, version, dst),
            Packet::Auth(p) => encode(p, version, dst),
        }
    }

    /// The packet's size on the wire in `version`, fixed header included.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let body = match self {
            Packet::Connect(p) => p.body_len(p.protocol)?,
            Packet::ConnAck(p) => p.body_len(version)?,
            Packet::Publish(p) => p.body_len(version)?,
            Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
                (PacketType::PubAck, p).body_len(version)?
            }
            Packet::Subscribe(p) => p.body_len(version)?,
            Packet::SubAck(p) => p.body_len(version)?,
            Packet::Unsubscribe(p) => p.body_len(version)?,
            Packet::UnsubAck(p) => p.body_len(version)?,
            Packet::PingReq | Packet::PingResp => 0,
            Packet::Disconnect(p) => p.body_len(version)?,
            Packet::Auth(p) => p.body_len(version)?,
        };
        Ok(1 + crate::codec::var_int_len(body) + body)
    }
}

/// How a packet type writes its body; `encode` adds the fixed header.
pub(crate) trait Body {
    /// The first byte of the fixed header: type and flags.
    fn first_byte(&self) -> u8;
    /// The remaining length in `version`; every check that can fail happens here.
    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError>;
    /// Writes the body; only called after `body_len` succeeded.
    fn write_body(&self, version: ProtocolVersion, dst: &mut BytesMut);
}

/// A packet's size on the wire in `version`, fixed header included.
pub(crate) fn encoded_len<P: Body + ?Sized>(
    packet: &P,
    version: ProtocolVersion,
) -> Result<usize, EncodeError> {
    let body = packet.body_len(version)?;
    Ok(1 + crate::codec::var_int_len(body) + body)
}

/// PINGREQ, which has no body, for encoding on its own (see [`Packet::PingReq`]).
pub(crate) struct PingReq;

impl Body for PingReq {
    fn first_byte(&self) -> u8 {
        (PacketType::PingReq as u8) << 4
    }

    fn body_len(&self, _: ProtocolVersion) -> Result<usize, EncodeError> {
        Ok(0)
    }

    fn write_body(&self, _: ProtocolVersion, _: &mut BytesMut) {}
}

/// Encodes a whole packet: all checks run before the first byte is written.
pub(crate) fn encode<P: Body + ?Sized>(
    packet: &P,
    version: ProtocolVersion,
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    let len = packet.body_len(version)?;
    put_fixed_header(dst, packet.first_byte(), len)?;
    packet.write_body(version, dst);
    Ok(())
}

macro_rules! packet_from {
    ($($variant:ident($ty:ty)),*) => {
        $(impl From<$ty> for Packet {
            fn from(p: $ty) -> Packet {
                Packet::$variant(p)
            }
        })*
    };
}

packet_from!(
    Connect(Connect),
    ConnAck(ConnAck),
    Publish(Publish),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    Disconnect(Disconnect),
    Auth(Auth)
);

/// Checks shared by the byte-vector tests of every packet file.
#[cfg(test)]
pub(crate) mod testing {
    use bytes::BytesMut;

    use super::Packet;
    use crate::decoder::{MAX_PACKET_SIZE, decode};
    use crate::types::ProtocolVersion;

    /// `bytes` decodes to `packet` and nothing else, `packet` encodes to exactly `bytes`,
    /// its encoded length is right, and every proper prefix of `bytes` is "need more".
    pub(crate) fn check_vector(version: ProtocolVersion, bytes: &[u8], packet: Packet) {
        let mut buf = BytesMut::from(bytes);
        let decoded = decode(&mut buf, version, MAX_PACKET_SIZE);
        assert_eq!(decoded, Ok(Some(packet.clone())), "decoding {bytes:02x?}");
        assert!(buf.is_empty(), "decoding left {} bytes", buf.len());
        let mut out = BytesMut::new();
        packet.encode(version, &mut out).expect("encodes");
        assert_eq!(&out[..], bytes, "encoding {packet:?}");
        assert_eq!(packet.encoded_len(version), Ok(bytes.len()));
        for n in 0..bytes.len() {
            let mut prefix = BytesMut::from(&bytes[..n]);
            assert_eq!(
                decode(&mut prefix, version, MAX_PACKET_SIZE),
                Ok(None),
                "prefix of {n}"
            );
            assert_eq!(prefix.len(), n, "a prefix of {n} bytes consumed input");
        }
    }
}
