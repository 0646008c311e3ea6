//! CONNECT (spec 3.1): the first packet a client sends.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use super::Body;
use crate::codec::{Reader, field_len, put_field, str_len};
use crate::error::{DecodeError, EncodeError};
use crate::property::{Context, Properties};
use crate::topic::TopicName;
use crate::types::{PacketType, ProtocolVersion, QoS};

/// A CONNECT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The protocol version asked for; the packet is encoded in it.
    pub protocol: ProtocolVersion,
    /// Clean Start (5.0) or Clean Session (3.1.1).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 turns it off.
    pub keep_alive: u16,
    /// CONNECT properties (5.0).
    pub properties: Properties,
    /// The client identifier; may be empty.
    pub client_id: ByteString,
    /// The will message, if any.
    pub will: Option<Will>,
    /// The user name, if any.
    pub username: Option<ByteString>,
    /// The password, if any. On 3.1.1 it needs a user name [MQTT-3.1.2-22].
    pub password: Option<Bytes>,
}

/// The will message of a CONNECT: published by the server when the connection ends
/// without a normal DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Topic to publish to.
    pub topic: TopicName,
    /// The payload.
    pub payload: Bytes,
    /// QoS of the will message.
    pub qos: QoS,
    /// Whether the will message is retained.
    pub retain: bool,
    /// Will properties (5.0).
    pub properties: Properties,
}

const PROTOCOL_NAME: &[u8] = b"MQTT";

impl Connect {
    /// A CONNECT with clean start, no keep alive, no will and no credentials.
    pub fn new(protocol: ProtocolVersion, client_id: impl Into<ByteString>) -> Connect {
        Connect {
            protocol,
            clean_start: true,
            keep_alive: 0,
            properties: Properties::new(),
            client_id: client_id.into(),
            will: None,
            username: None,
            password: None,
        }
    }

    pub(crate) fn read(r: &mut Reader) -> Result<Connect, DecodeError> {
        let name = r.binary("protocol name")?;
        // [MQTT-3.1.2-1] the protocol name MUST be "MQTT"
        if name != PROTOCOL_NAME {
            return Err(DecodeError::InvalidProtocolName);
        }
        let level = r.u8("protocol level")?;
        // [MQTT-3.1.2-2] an unsupported protocol level is refused
        let protocol = ProtocolVersion::from_level(level)
            .ok_or(DecodeError::UnsupportedProtocolLevel(level))?;
        let flags = r.u8("connect flags")?;
        // [MQTT-3.1.2-3] the reserved flag MUST be 0
        if flags & 0x01 != 0 {
            return Err(DecodeError::ConnectReservedFlag);
        }
        let clean_start = flags & 0x02 != 0;
        let will_flag = flags & 0x04 != 0;
        let will_qos = (flags >> 3) & 0x03;
        let will_retain = flags & 0x20 != 0;
        let password_flag = flags & 0x40 != 0;
        let username_flag = flags & 0x80 != 0;
        // [MQTT-3.1.2-11] / [MQTT-3.1.2-13] without a will, will QoS and retain MUST be 0
        if !will_flag && (will_qos != 0 || will_retain) {
            return Err(DecodeError::WillFieldsWithoutWill);
        }
        // [MQTT-3.1.2-12] will QoS MUST NOT be 3
        let will_qos = QoS::from_u8(will_qos).ok_or(DecodeError::InvalidWillQoS)?;
        // [MQTT-3.1.2-22] (3.1.1) no password without a user name
        if protocol == ProtocolVersion::V311 && password_flag && !username_flag {
            return Err(DecodeError::PasswordWithoutUsername);
        }
        let keep_alive = r.u16("keep alive")?;
        let properties = match protocol {
            ProtocolVersion::V5 => Properties::read(r, Context::Connect)?,
            ProtocolVersion::V311 => Properties::new(),
        };
        let client_id = r.string("client identifier")?;
        let will = if will_flag {
            let properties = match protocol {
                ProtocolVersion::V5 => Properties::read(r, Context::Will)?,
                ProtocolVersion::V311 => Properties::new(),
            };
            let topic = r.string("will topic")?;
            let topic = TopicName::new(topic).map_err(DecodeError::InvalidTopicName)?;
            let payload = r.binary("will payload")?;
            Some(Will {
                topic,
                payload,
                qos: will_qos,
                retain: will_retain,
                properties,
            })
        } else {
            None
        };
        let username = if username_flag {
            Some(r.string("user name")?)
        } else {
            None
        };
        let password = if password_flag {
            Some(r.binary("password")?)
        } else {
            None
        };
        Ok(Connect {
            protocol,
            clean_start,
            keep_alive,
            properties,
            client_id,
            will,
            username,
            password,
        })
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_start {
            flags |= 0x02;
        }
        if let Some(will) = &self.will {
            flags |= 0x04 | ((will.qos as u8) << 3);
            if will.retain {
                flags |= 0x20;
            }
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        flags
    }
}

impl Body for Connect {
    fn first_byte(&self) -> u8 {
        (PacketType::Connect as u8) << 4
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let v5 = version == ProtocolVersion::V5;
        // protocol name, level, flags, keep alive
        let mut len = 2 + PROTOCOL_NAME.len() + 1 + 1 + 2;
        len += properties_len(&self.properties, Context::Connect, v5, "CONNECT properties")?;
        len += str_len(&self.client_id, "client identifier")?;
        if let Some(will) = &self.will {
            // A will has no topic alias: its topic must be a real one.
            if will.topic.is_empty() {
                return Err(EncodeError::EmptyTopicWithoutAlias);
            }
            len += properties_len(&will.properties, Context::Will, v5, "will properties")?;
            len += str_len(will.topic.as_str(), "will topic")?;
            len += field_len(will.payload.len(), "will payload")?;
        }
        if let Some(username) = &self.username {
            len += str_len(username, "user name")?;
        }
        if let Some(password) = &self.password {
            if !v5 && self.username.is_none() {
                return Err(EncodeError::NotInVersion("a password without a user name"));
            }
            len += field_len(password.len(), "password")?;
        }
        Ok(len)
    }

    fn write_body(&self, version: ProtocolVersion, dst: &mut BytesMut) {
        let v5 = version == ProtocolVersion::V5;
        put_field(dst, PROTOCOL_NAME);
        dst.put_u8(version.level());
        dst.put_u8(self.flags());
        dst.put_u16(self.keep_alive);
        if v5 {
            self.properties.write(dst);
        }
        put_field(dst, self.client_id.as_bytes());
        if let Some(will) = &self.will {
            if v5 {
                will.properties.write(dst);
            }
            put_field(dst, will.topic.as_str().as_bytes());
            put_field(dst, &will.payload);
        }
        if let Some(username) = &self.username {
            put_field(dst, username.as_bytes());
        }
        if let Some(password) = &self.password {
            put_field(dst, password);
        }
    }
}

/// Length of a property block in `context`: 0 on 3.1.1, where properties are an error.
pub(crate) fn properties_len(
    properties: &Properties,
    context: Context,
    v5: bool,
    what: &'static str,
) -> Result<usize, EncodeError> {
    if v5 {
        properties.wire_len(context)
    } else if properties.is_empty() {
        Ok(0)
    } else {
        Err(EncodeError::NotInVersion(what))
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
    fn can_round_trip_minimal_v311_connect() {
        let bytes = [
            0x10, 0x0f, // CONNECT, remaining length 15
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4 (3.1.1)
            0x02, // flags: clean session
            0x00, 0x3c, // keep alive 60 s
            0x00, 0x03, b'a', b'b', b'c', // client identifier "abc"
        ];
        let mut connect = Connect::new(ProtocolVersion::V311, "abc");
        connect.keep_alive = 60;
        check_vector(ProtocolVersion::V311, &bytes, Packet::Connect(connect));
    }

    #[test]
    fn can_round_trip_v311_connect_with_will_and_credentials() {
        let bytes = [
            0x10, 0x1e, // CONNECT, remaining length 30
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
            0x04, // level 4
            0xee, // user name, password, will retain, will QoS 1, will, clean session
            0x00, 0x00, // keep alive off
            0x00, 0x02, b'c', b'1', // client identifier "c1"
            0x00, 0x03, b'w', b'/', b't', // will topic "w/t"
            0x00, 0x03, b'b', b'y', b'e', // will payload "bye"
            0x00, 0x01, b'u', // user name "u"
            0x00, 0x01, b'p', // password "p"
        ];
        let mut connect = Connect::new(ProtocolVersion::V311, "c1");
        connect.will = Some(Will {
            topic: TopicName::new("w/t").expect("valid"),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::new(),
        });
        connect.username = Some("u".into());
        connect.password = Some(Bytes::from_static(b"p"));
        check_vector(ProtocolVersion::V311, &bytes, Packet::Connect(connect));
    }

    #[test]
    fn can_round_trip_v5_connect_with_properties() {
        let bytes = [
            0x10, 0x18, // CONNECT, remaining length 24
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
            0x05, // level 5
            0x02, // flags: clean start
            0x00, 0x3c, // keep alive 60 s
            0x08, // property length 8
            0x11, 0x00, 0x00, 0x00, 0x78, // session expiry interval 120 s
            0x21, 0x00, 0x0a, // receive maximum 10
            0x00, 0x03, b'a', b'b', b'c', // client identifier "abc"
        ];
        let mut connect = Connect::new(ProtocolVersion::V5, "abc");
        connect.keep_alive = 60;
        connect.properties = Properties::new()
            .with(Property::SessionExpiryInterval(120))
            .with(Property::ReceiveMaximum(
                NonZeroU16::new(10).expect("non-zero"),
            ));
        check_vector(ProtocolVersion::V5, &bytes, Packet::Connect(connect));
    }

    #[test]
    fn can_round_trip_v5_connect_with_will_properties() {
        let bytes = [
            0x10, 0x20, // CONNECT, remaining length 32
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
            0x05, // level 5
            0x06, // flags: will (QoS 0), clean start
            0x00, 0x00, // keep alive off
            0x00, // no CONNECT properties
            0x00, 0x00, // empty client identifier
            0x0c, // will property length 12
            0x18, 0x00, 0x00, 0x00, 0x05, // will delay interval 5 s
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
            0x00, 0x01, b'w', // will topic "w"
            0x00, 0x01, b'x', // will payload "x"
        ];
        let mut connect = Connect::new(ProtocolVersion::V5, "");
        connect.will = Some(Will {
            topic: TopicName::new("w").expect("valid"),
            payload: Bytes::from_static(b"x"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Properties::new()
                .with(Property::WillDelayInterval(5))
                .with(Property::UserProperty("k".into(), "v".into())),
        });
        check_vector(ProtocolVersion::V5, &bytes, Packet::Connect(connect));
    }

    #[test]
    fn rejects_password_without_user_name_on_v311_encode() {
        let mut connect = Connect::new(ProtocolVersion::V311, "c");
        connect.password = Some(Bytes::from_static(b"p"));
        let mut dst = BytesMut::new();
        assert!(
            Packet::Connect(connect)
                .encode(ProtocolVersion::V311, &mut dst)
                .is_err()
        );
        assert!(dst.is_empty());
    }
}
