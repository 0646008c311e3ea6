//! AUTH (spec 3.15, MQTT 5.0 only): a step of an enhanced authentication exchange.

use bytes::BytesMut;

use super::Body;
use super::disconnect::{
    code_and_properties_len, read_code_and_properties, write_code_and_properties,
};
use crate::codec::Reader;
use crate::error::{DecodeError, EncodeError};
use crate::property::{Context, Properties};
use crate::reason::ReasonCode;
use crate::types::{PacketType, ProtocolVersion};

/// An AUTH packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// Success (0x00), Continue authentication (0x18) or Re-authenticate (0x19).
    pub reason_code: ReasonCode,
    /// Authentication method, data, reason string and user properties.
    pub properties: Properties,
}

impl Auth {
    pub(crate) fn read(r: &mut Reader) -> Result<Auth, DecodeError> {
        read_code_and_properties(r, ProtocolVersion::V5, Context::Auth).map(
            |(reason_code, properties)| Auth {
                reason_code,
                properties,
            },
        )
    }
}

impl Body for Auth {
    fn first_byte(&self) -> u8 {
        (PacketType::Auth as u8) << 4
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if version == ProtocolVersion::V311 {
            return Err(EncodeError::NotInVersion("AUTH"));
        }
        code_and_properties_len(self.reason_code, &self.properties, Context::Auth)
    }

    fn write_body(&self, _version: ProtocolVersion, dst: &mut BytesMut) {
        write_code_and_properties(self.reason_code, &self.properties, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::check_vector;
    use crate::property::Property;
    use bytes::Bytes;

    #[test]
    fn can_round_trip_auth() {
        // AUTH success, remaining length 0
        check_vector(
            ProtocolVersion::V5,
            &[0xf0, 0x00],
            Packet::Auth(Auth::default()),
        );
        let bytes = [
            0xf0, 0x0f, // AUTH, remaining length 15
            0x18, // continue authentication
            0x0d, // property length 13
            0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', // authentication method "SCRAM"
            0x16, 0x00, 0x02, 0x01, 0x02, // authentication data 01 02
        ];
        let auth = Auth {
            reason_code: ReasonCode::CONTINUE_AUTHENTICATION,
            properties: Properties::new()
                .with(Property::AuthenticationMethod("SCRAM".into()))
                .with(Property::AuthenticationData(Bytes::from_static(&[1, 2]))),
        };
        check_vector(ProtocolVersion::V5, &bytes, Packet::Auth(auth));
    }

    #[test]
    fn rejects_auth_on_v311() {
        let mut buf = BytesMut::from(&[0xf0, 0x00][..]);
        assert_eq!(
            crate::decode(&mut buf, ProtocolVersion::V311, u32::MAX),
            Err(DecodeError::NotInVersion(PacketType::Auth))
        );
    }
}
