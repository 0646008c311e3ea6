//! DISCONNECT (spec 3.14): the last packet of a connection, from either side on 5.0.

use bytes::{BufMut, BytesMut};

use super::Body;
use crate::codec::Reader;
use crate::error::{DecodeError, EncodeError};
use crate::property::{Context, Properties};
use crate::reason::ReasonCode;
use crate::types::{PacketType, ProtocolVersion};

/// A DISCONNECT packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Why (5.0); Success (normal disconnection) on 3.1.1.
    pub reason_code: ReasonCode,
    /// DISCONNECT properties (5.0).
    pub properties: Properties,
}

impl Disconnect {
    /// A DISCONNECT with this reason code and no properties.
    pub fn new(reason_code: ReasonCode) -> Disconnect {
        Disconnect {
            reason_code,
            properties: Properties::new(),
        }
    }

    pub(crate) fn read(
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<Disconnect, DecodeError> {
        read_code_and_properties(r, version, Context::Disconnect).map(
            |(reason_code, properties)| Disconnect {
                reason_code,
                properties,
            },
        )
    }
}

/// Reads the optional reason code and properties of DISCONNECT and AUTH: with a remaining
/// length of 0 the code is Success; with less than 2 there are no properties.
pub(crate) fn read_code_and_properties(
    r: &mut Reader,
    version: ProtocolVersion,
    context: Context,
) -> Result<(ReasonCode, Properties), DecodeError> {
    if version == ProtocolVersion::V311 || r.remaining() == 0 {
        return Ok((ReasonCode::SUCCESS, Properties::new()));
    }
    let code = ReasonCode(r.u8("reason code")?);
    let properties = if r.remaining() > 0 {
        Properties::read(r, context)?
    } else {
        Properties::new()
    };
    Ok((code, properties))
}

/// Length of the optional reason code and properties, as `write_code_and_properties` writes them.
pub(crate) fn code_and_properties_len(
    code: ReasonCode,
    properties: &Properties,
    context: Context,
) -> Result<usize, EncodeError> {
    Ok(match (code == ReasonCode::SUCCESS, properties.is_empty()) {
        (true, true) => 0,
        (false, true) => 1,
        _ => 1 + properties.wire_len(context)?,
    })
}

/// Writes the optional reason code and properties (5.0).
pub(crate) fn write_code_and_properties(
    code: ReasonCode,
    properties: &Properties,
    dst: &mut BytesMut,
) {
    if !properties.is_empty() {
        dst.put_u8(code.0);
        properties.write(dst);
    } else if code != ReasonCode::SUCCESS {
        dst.put_u8(code.0);
    }
}

impl Body for Disconnect {
    fn first_byte(&self) -> u8 {
        (PacketType::Disconnect as u8) << 4
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        match version {
            ProtocolVersion::V311 => {
                if self.reason_code != ReasonCode::SUCCESS {
                    return Err(EncodeError::ReasonCodeNotInVersion(
                        self.reason_code,
                        PacketType::Disconnect,
                    ));
                }
                if !self.properties.is_empty() {
                    return Err(EncodeError::NotInVersion("DISCONNECT properties"));
                }
                Ok(0)
            }
            ProtocolVersion::V5 => {
                code_and_properties_len(self.reason_code, &self.properties, Context::Disconnect)
            }
        }
    }

    fn write_body(&self, version: ProtocolVersion, dst: &mut BytesMut) {
        if version == ProtocolVersion::V5 {
            write_code_and_properties(self.reason_code, &self.properties, dst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::check_vector;
    use crate::property::Property;

    #[test]
    fn can_round_trip_pings_in_both_versions() {
        for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
            check_vector(version, &[0xc0, 0x00], Packet::PingReq); // PINGREQ, length 0
            check_vector(version, &[0xd0, 0x00], Packet::PingResp); // PINGRESP, length 0
        }
    }

    #[test]
    fn can_round_trip_v311_disconnect() {
        // DISCONNECT, remaining length 0
        check_vector(
            ProtocolVersion::V311,
            &[0xe0, 0x00],
            Packet::Disconnect(Disconnect::default()),
        );
    }

    #[test]
    fn can_round_trip_v5_disconnect_forms() {
        // Normal disconnection: reason code and properties left out
        check_vector(
            ProtocolVersion::V5,
            &[0xe0, 0x00],
            Packet::Disconnect(Disconnect::default()),
        );
        // DISCONNECT, remaining length 1, reason 0x04 disconnect with will message
        let with_will = Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL);
        check_vector(
            ProtocolVersion::V5,
            &[0xe0, 0x01, 0x04],
            Packet::Disconnect(with_will),
        );
        let bytes = [
            0xe0, 0x0b, // DISCONNECT, remaining length 11
            0x8b, // reason code: server shutting down
            0x09, // property length 9
            0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0
            0x1f, 0x00, 0x01, b's', // reason string "s"
        ];
        let disconnect = Disconnect {
            reason_code: ReasonCode::SERVER_SHUTTING_DOWN,
            properties: Properties::new()
                .with(Property::SessionExpiryInterval(0))
                .with(Property::ReasonString("s".into())),
        };
        check_vector(ProtocolVersion::V5, &bytes, Packet::Disconnect(disconnect));
    }
}
