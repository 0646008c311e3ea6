//! UNSUBACK (spec 3.11): on 5.0 one reason code per filter; on 3.1.1 only the identifier.

use bytes::{BufMut, BytesMut};

use super::Body;
use crate::codec::Reader;
use crate::error::{DecodeError, EncodeError};
use crate::property::{Context, Properties};
use crate::reason::ReasonCode;
use crate::types::{PacketId, PacketType, ProtocolVersion};

/// An UNSUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Identifier of the UNSUBSCRIBE answered.
    pub packet_id: PacketId,
    /// UNSUBACK properties (5.0).
    pub properties: Properties,
    /// One code per filter (5.0); empty on 3.1.1, which has none.
    pub reason_codes: Vec<ReasonCode>,
}

impl UnsubAck {
    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
        let packet_id = r.packet_id()?;
        let mut ack = UnsubAck {
            packet_id,
            properties: Properties::new(),
            reason_codes: Vec::new(),
        };
        if version == ProtocolVersion::V5 {
            ack.properties = Properties::read(r, Context::UnsubAck)?;
            let codes = r.rest();
            if codes.is_empty() {
                return Err(r.truncated("reason codes"));
            }
            ack.reason_codes = codes.iter().map(|&c| ReasonCode(c)).collect();
        }
        Ok(ack)
    }
}

impl Body for UnsubAck {
    fn first_byte(&self) -> u8 {
        (PacketType::UnsubAck as u8) << 4
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        match version {
            ProtocolVersion::V311 => {
                if !self.properties.is_empty() || !self.reason_codes.is_empty() {
                    return Err(EncodeError::NotInVersion(
                        "UNSUBACK reason codes and properties",
                    ));
                }
                Ok(2)
            }
            ProtocolVersion::V5 => {
                if self.reason_codes.is_empty() {
                    return Err(EncodeError::Empty(PacketType::UnsubAck));
                }
                Ok(2 + self.properties.wire_len(Context::UnsubAck)? + self.reason_codes.len())
            }
        }
    }

    fn write_body(&self, version: ProtocolVersion, dst: &mut BytesMut) {
        dst.put_u16(self.packet_id.get());
        if version == ProtocolVersion::V5 {
            self.properties.write(dst);
            for code in &self.reason_codes {
                dst.put_u8(code.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::check_vector;

    #[test]
    fn can_round_trip_v311_unsuback() {
        let bytes = [
            0xb0, 0x02, // UNSUBACK, remaining length 2
            0x00, 0x02, // packet identifier 2
        ];
        let ack = UnsubAck {
            packet_id: PacketId::new(2).expect("non-zero"),
            properties: Properties::new(),
            reason_codes: Vec::new(),
        };
        check_vector(ProtocolVersion::V311, &bytes, Packet::UnsubAck(ack));
    }

    #[test]
    fn can_round_trip_v5_unsuback() {
        let bytes = [
            0xb0, 0x05, // UNSUBACK, remaining length 5
            0x00, 0x02, // packet identifier 2
            0x00, // no properties
            0x00, 0x11, // success, no subscription existed
        ];
        let ack = UnsubAck {
            packet_id: PacketId::new(2).expect("non-zero"),
            properties: Properties::new(),
            reason_codes: vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED],
        };
        check_vector(ProtocolVersion::V5, &bytes, Packet::UnsubAck(ack));
    }
}
