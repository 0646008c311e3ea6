//! CONNACK (spec 3.2): the server's answer to CONNECT.
//!
//! MQTT 3.1.1 return codes are mapped to the matching 5.0 reason codes on decoding and
//! back on encoding, so the rest of the crate speaks one vocabulary.

use bytes::{BufMut, BytesMut};

use super::Body;
use super::connect::properties_len;
use crate::codec::Reader;
use crate::error::{DecodeError, EncodeError};
use crate::property::{Context, Properties};
use crate::reason::ReasonCode;
use crate::types::{PacketType, ProtocolVersion};

/// A CONNACK packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAck {
    /// Whether the server resumed a session for this client.
    pub session_present: bool,
    /// The result; on 3.1.1 the return code mapped to its 5.0 equivalent.
    pub reason_code: ReasonCode,
    /// CONNACK properties (5.0).
    pub properties: Properties,
}

/// 3.1.1 return codes 0 to 5 and their 5.0 equivalents (spec 3.2.2.3 of 3.1.1).
const V311_RETURN_CODES: [ReasonCode; 6] = [
    ReasonCode::SUCCESS,
    ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
    ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
    ReasonCode::SERVER_UNAVAILABLE,
    ReasonCode::BAD_USER_NAME_OR_PASSWORD,
    ReasonCode::NOT_AUTHORIZED,
];

impl ConnAck {
    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
        let flags = r.u8("connect acknowledge flags")?;
        // [MQTT-3.2.2-1] bits 7-1 are reserved and MUST be 0
        if flags & 0xfe != 0 {
            return Err(DecodeError::ConnAckReservedFlags);
        }
        let session_present = flags & 0x01 != 0;
        let code = r.u8("connect reason code")?;
        let (reason_code, properties) = match version {
            ProtocolVersion::V311 => {
                let mapped = V311_RETURN_CODES
                    .get(usize::from(code))
                    .copied()
                    .ok_or(DecodeError::ReservedConnectReturnCode(code))?;
                (mapped, Properties::new())
            }
            ProtocolVersion::V5 => (ReasonCode(code), Properties::read(r, Context::ConnAck)?),
        };
        // [MQTT-3.2.2-6] (5.0) / [MQTT-3.2.2-4] (3.1.1) a refusal has session present 0
        if session_present && reason_code.is_error() {
            return Err(DecodeError::SessionPresentOnError);
        }
        Ok(ConnAck {
            session_present,
            reason_code,
            properties,
        })
    }

    fn wire_code(&self, version: ProtocolVersion) -> Result<u8, EncodeError> {
        match version {
            ProtocolVersion::V5 => Ok(self.reason_code.0),
            ProtocolVersion::V311 => V311_RETURN_CODES
                .iter()
                .position(|&c| c == self.reason_code)
                .map(|i| i as u8)
                .ok_or(EncodeError::ReasonCodeNotInVersion(
                    self.reason_code,
                    PacketType::ConnAck,
                )),
        }
    }
}

impl Body for ConnAck {
    fn first_byte(&self) -> u8 {
        (PacketType::ConnAck as u8) << 4
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        self.wire_code(version)?;
        let v5 = version == ProtocolVersion::V5;
        Ok(2 + properties_len(&self.properties, Context::ConnAck, v5, "CONNACK properties")?)
    }

    fn write_body(&self, version: ProtocolVersion, dst: &mut BytesMut) {
        dst.put_u8(u8::from(self.session_present));
        dst.put_u8(self.wire_code(version).unwrap_or(0));
        if version == ProtocolVersion::V5 {
            self.properties.write(dst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::check_vector;
    use crate::property::Property;
    use core::num::NonZeroU16;

    #[test]
    fn can_round_trip_v311_connack() {
        let bytes = [
            0x20, 0x02, // CONNACK, remaining length 2
            0x01, // session present
            0x00, // return code 0: accepted
        ];
        let ack = ConnAck {
            session_present: true,
            ..ConnAck::default()
        };
        check_vector(ProtocolVersion::V311, &bytes, Packet::ConnAck(ack));
    }

    #[test]
    fn maps_v311_return_codes_to_reason_codes() {
        let bytes = [
            0x20, 0x02, // CONNACK, remaining length 2
            0x00, // no session
            0x05, // return code 5: not authorized
        ];
        let ack = ConnAck {
            reason_code: ReasonCode::NOT_AUTHORIZED,
            ..ConnAck::default()
        };
        check_vector(ProtocolVersion::V311, &bytes, Packet::ConnAck(ack));
    }

    #[test]
    fn can_round_trip_v5_connack() {
        let bytes = [
            0x20, 0x03, // CONNACK, remaining length 3
            0x00, // no session
            0x00, // reason code: success
            0x00, // no properties
        ];
        check_vector(
            ProtocolVersion::V5,
            &bytes,
            Packet::ConnAck(ConnAck::default()),
        );
    }

    #[test]
    fn can_round_trip_v5_connack_with_properties() {
        let bytes = [
            0x20, 0x0a, // CONNACK, remaining length 10
            0x01, // session present
            0x00, // success
            0x07, // property length 7
            0x21, 0x00, 0x14, // receive maximum 20
            0x24, 0x01, // maximum QoS 1
            0x25, 0x00, // retain not available
        ];
        let ack = ConnAck {
            session_present: true,
            reason_code: ReasonCode::SUCCESS,
            properties: Properties::new()
                .with(Property::ReceiveMaximum(
                    NonZeroU16::new(20).expect("non-zero"),
                ))
                .with(Property::MaximumQoS(crate::QoS::AtLeastOnce))
                .with(Property::RetainAvailable(false)),
        };
        check_vector(ProtocolVersion::V5, &bytes, Packet::ConnAck(ack));
    }

    #[test]
    fn keeps_unknown_v5_reason_codes() {
        let bytes = [0x20, 0x03, 0x00, 0xfe, 0x00]; // unknown reason code 0xfe
        let ack = ConnAck {
            reason_code: ReasonCode(0xfe),
            ..ConnAck::default()
        };
        check_vector(ProtocolVersion::V5, &bytes, Packet::ConnAck(ack));
    }
}
