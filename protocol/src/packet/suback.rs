//! SUBACK (spec 3.9): one reason code per filter of the SUBSCRIBE.

use bytes::{BufMut, BytesMut};

use super::Body;
use super::connect::properties_len;
use crate::codec::Reader;
use crate::error::{DecodeError, EncodeError};
use crate::property::{Context, Properties};
use crate::reason::ReasonCode;
use crate::types::{PacketId, PacketType, ProtocolVersion};

/// A SUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Identifier of the SUBSCRIBE answered.
    pub packet_id: PacketId,
    /// SUBACK properties (5.0).
    pub properties: Properties,
    /// One code per filter, in order: granted QoS (0x00 to 0x02) or an error.
    pub reason_codes: Vec<ReasonCode>,
}

/// The only SUBACK return codes of 3.1.1 [MQTT-3.9.3-2].
fn allowed_in_v311(code: ReasonCode) -> bool {
    matches!(code.0, 0x00 | 0x01 | 0x02 | 0x80)
}

impl SubAck {
    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
        let packet_id = r.packet_id()?;
        let properties = match version {
            ProtocolVersion::V5 => Properties::read(r, Context::SubAck)?,
            ProtocolVersion::V311 => Properties::new(),
        };
        let codes = r.rest();
        if codes.is_empty() {
            return Err(r.truncated("reason codes"));
        }
        let mut reason_codes = Vec::with_capacity(codes.len());
        for &code in codes.iter() {
            let code = ReasonCode(code);
            if version == ProtocolVersion::V311 && !allowed_in_v311(code) {
                return Err(DecodeError::ReservedSubAckCode(code.0));
            }
            reason_codes.push(code);
        }
        Ok(SubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }
}

impl Body for SubAck {
    fn first_byte(&self) -> u8 {
        (PacketType::SubAck as u8) << 4
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.reason_codes.is_empty() {
            return Err(EncodeError::Empty(PacketType::SubAck));
        }
        let v5 = version == ProtocolVersion::V5;
        if let Some(&code) = self
            .reason_codes
            .iter()
            .find(|&&c| !v5 && !allowed_in_v311(c))
        {
            return Err(EncodeError::ReasonCodeNotInVersion(
                code,
                PacketType::SubAck,
            ));
        }
        Ok(
            2 + properties_len(&self.properties, Context::SubAck, v5, "SUBACK properties")?
                + self.reason_codes.len(),
        )
    }

    fn write_body(&self, version: ProtocolVersion, dst: &mut BytesMut) {
        dst.put_u16(self.packet_id.get());
        if version == ProtocolVersion::V5 {
            self.properties.write(dst);
        }
        for code in &self.reason_codes {
            dst.put_u8(code.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::check_vector;

    #[test]
    fn can_round_trip_v311_suback() {
        let bytes = [
            0x90, 0x05, // SUBACK, remaining length 5
            0x00, 0x0a, // packet identifier 10
            0x01, 0x02, 0x80, // granted QoS 1, granted QoS 2, failure
        ];
        let ack = SubAck {
            packet_id: PacketId::new(10).expect("non-zero"),
            properties: Properties::new(),
            reason_codes: vec![ReasonCode(1), ReasonCode(2), ReasonCode(0x80)],
        };
        check_vector(ProtocolVersion::V311, &bytes, Packet::SubAck(ack));
    }

    #[test]
    fn can_round_trip_v5_suback() {
        let bytes = [
            0x90, 0x08, // SUBACK, remaining length 8
            0x00, 0x01, // packet identifier 1
            0x00, // no properties
            0x00, 0x01, 0x02, 0x8f, 0xa2, // QoS 0, 1, 2, filter invalid, no wildcards
        ];
        let ack = SubAck {
            packet_id: PacketId::MIN,
            properties: Properties::new(),
            reason_codes: [0x00, 0x01, 0x02, 0x8f, 0xa2].map(ReasonCode).to_vec(),
        };
        check_vector(ProtocolVersion::V5, &bytes, Packet::SubAck(ack));
    }
}
