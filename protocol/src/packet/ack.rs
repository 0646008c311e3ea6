//! PUBACK, PUBREC, PUBREL and PUBCOMP (spec 3.4 to 3.7): one shape, four packet types.
//! On 5.0 the reason code and properties are left out when they are Success and empty.

use bytes::{BufMut, BytesMut};

use super::Body;
use crate::codec::Reader;
use crate::error::{DecodeError, EncodeError};
use crate::property::{Context, Properties};
use crate::reason::ReasonCode;
use crate::types::{PacketId, PacketType, ProtocolVersion};

/// The body of a PUBACK, PUBREC, PUBREL or PUBCOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The identifier of the PUBLISH being acknowledged.
    pub packet_id: PacketId,
    /// The result (5.0); always Success on 3.1.1.
    pub reason_code: ReasonCode,
    /// Properties (5.0).
    pub properties: Properties,
}

impl Ack {
    /// A successful acknowledgment with no properties.
    pub fn new(packet_id: PacketId) -> Ack {
        Ack {
            packet_id,
            reason_code: ReasonCode::SUCCESS,
            properties: Properties::new(),
        }
    }

    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<Ack, DecodeError> {
        let packet_id = r.packet_id()?;
        let mut ack = Ack::new(packet_id);
        if version == ProtocolVersion::V5 && r.remaining() > 0 {
            ack.reason_code = ReasonCode(r.u8("reason code")?);
            if r.remaining() > 0 {
                ack.properties = Properties::read(r, Context::PubResponse)?;
            }
        }
        Ok(ack)
    }
}

impl Body for (PacketType, &Ack) {
    fn first_byte(&self) -> u8 {
        ((self.0 as u8) << 4) | self.0.fixed_flags()
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let ack = self.1;
        match version {
            ProtocolVersion::V311 => {
                if ack.reason_code != ReasonCode::SUCCESS {
                    return Err(EncodeError::ReasonCodeNotInVersion(ack.reason_code, self.0));
                }
                if !ack.properties.is_empty() {
                    return Err(EncodeError::NotInVersion("acknowledgment properties"));
                }
                Ok(2)
            }
            ProtocolVersion::V5 if ack.properties.is_empty() => {
                Ok(if ack.reason_code == ReasonCode::SUCCESS {
                    2
                } else {
                    3
                })
            }
            ProtocolVersion::V5 => Ok(3 + ack.properties.wire_len(Context::PubResponse)?),
        }
    }

    fn write_body(&self, version: ProtocolVersion, dst: &mut BytesMut) {
        let ack = self.1;
        dst.put_u16(ack.packet_id.get());
        if version == ProtocolVersion::V5 {
            if !ack.properties.is_empty() {
                dst.put_u8(ack.reason_code.0);
                ack.properties.write(dst);
            } else if ack.reason_code != ReasonCode::SUCCESS {
                dst.put_u8(ack.reason_code.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::check_vector;
    use crate::property::Property;

    fn id(v: u16) -> PacketId {
        PacketId::new(v).expect("non-zero")
    }

    #[test]
    fn can_round_trip_v311_acks() {
        // PUBACK, remaining length 2, packet identifier 7
        check_vector(
            ProtocolVersion::V311,
            &[0x40, 0x02, 0x00, 0x07],
            Packet::PubAck(Ack::new(id(7))),
        );
        // PUBREC, remaining length 2, packet identifier 1
        check_vector(
            ProtocolVersion::V311,
            &[0x50, 0x02, 0x00, 0x01],
            Packet::PubRec(Ack::new(id(1))),
        );
        // PUBREL (flags 0010), remaining length 2, packet identifier 1
        check_vector(
            ProtocolVersion::V311,
            &[0x62, 0x02, 0x00, 0x01],
            Packet::PubRel(Ack::new(id(1))),
        );
        // PUBCOMP, remaining length 2, packet identifier 1
        check_vector(
            ProtocolVersion::V311,
            &[0x70, 0x02, 0x00, 0x01],
            Packet::PubComp(Ack::new(id(1))),
        );
    }

    #[test]
    fn can_round_trip_v5_acks_in_short_forms() {
        // PUBACK success: reason code and properties left out
        check_vector(
            ProtocolVersion::V5,
            &[0x40, 0x02, 0x00, 0x07],
            Packet::PubAck(Ack::new(id(7))),
        );
        // PUBACK, remaining length 3, id 7, reason 0x10 no matching subscribers
        let ack = Ack {
            reason_code: ReasonCode::NO_MATCHING_SUBSCRIBERS,
            ..Ack::new(id(7))
        };
        check_vector(
            ProtocolVersion::V5,
            &[0x40, 0x03, 0x00, 0x07, 0x10],
            Packet::PubAck(ack),
        );
        // PUBREC, remaining length 3, id 1, reason 0x80 unspecified error
        let ack = Ack {
            reason_code: ReasonCode::UNSPECIFIED_ERROR,
            ..Ack::new(id(1))
        };
        check_vector(
            ProtocolVersion::V5,
            &[0x50, 0x03, 0x00, 0x01, 0x80],
            Packet::PubRec(ack),
        );
        // PUBREL, remaining length 3, id 1, reason 0x92 packet identifier not found
        let ack = Ack {
            reason_code: ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
            ..Ack::new(id(1))
        };
        check_vector(
            ProtocolVersion::V5,
            &[0x62, 0x03, 0x00, 0x01, 0x92],
            Packet::PubRel(ack),
        );
        // PUBCOMP success, id 65535
        check_vector(
            ProtocolVersion::V5,
            &[0x70, 0x02, 0xff, 0xff],
            Packet::PubComp(Ack::new(id(0xffff))),
        );
    }

    #[test]
    fn can_round_trip_v5_puback_with_reason_string() {
        let bytes = [
            0x40, 0x0a, // PUBACK, remaining length 10
            0x00, 0x07, // packet identifier 7
            0x87, // reason code: not authorized
            0x06, // property length 6
            0x1f, 0x00, 0x03, b'n', b'o', b'p', // reason string "nop"
        ];
        let ack = Ack {
            reason_code: ReasonCode::NOT_AUTHORIZED,
            properties: Properties::new().with(Property::ReasonString("nop".into())),
            ..Ack::new(id(7))
        };
        check_vector(ProtocolVersion::V5, &bytes, Packet::PubAck(ack));
    }

    #[test]
    fn rejects_reason_code_on_v311_encode() {
        let ack = Ack {
            reason_code: ReasonCode::UNSPECIFIED_ERROR,
            ..Ack::new(id(1))
        };
        let mut dst = BytesMut::new();
        assert!(
            Packet::PubAck(ack)
                .encode(ProtocolVersion::V311, &mut dst)
                .is_err()
        );
        assert!(dst.is_empty());
    }
}
