//! PUBLISH (spec 3.3): an application message, both directions. Topic and payload are
//! slices of the received buffer, not copies.

use bytes::{BufMut, Bytes, BytesMut};

use super::Body;
use super::connect::properties_len;
use crate::codec::{Reader, put_field, str_len};
use crate::error::{DecodeError, EncodeError};
use crate::property::{Context, Properties};
use crate::topic::TopicName;
use crate::types::{PacketId, PacketType, ProtocolVersion, QoS};

/// A PUBLISH packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this is a re-delivery. Always false at QoS 0.
    pub dup: bool,
    /// Delivery QoS.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// The topic; empty only when a 5.0 Topic Alias stands for it.
    pub topic: TopicName,
    /// The packet identifier: `None` exactly when QoS is 0.
    pub packet_id: Option<PacketId>,
    /// PUBLISH properties (5.0).
    pub properties: Properties,
    /// The application message.
    pub payload: Bytes,
}

impl Publish {
    /// A QoS 0 PUBLISH with no flags and no properties.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>) -> Publish {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            packet_id: None,
            properties: Properties::new(),
            payload: payload.into(),
        }
    }

    /// Appends the packet's bytes to `dst`; on error nothing is appended.
    pub fn encode(&self, version: ProtocolVersion, dst: &mut BytesMut) -> Result<(), EncodeError> {
        super::encode(self, version, dst)
    }

    pub(crate) fn read(
        flags: u8,
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<Publish, DecodeError> {
        let dup = flags & 0x08 != 0;
        let retain = flags & 0x01 != 0;
        // [MQTT-3.3.1-4] a PUBLISH MUST NOT have both QoS bits set
        let qos = QoS::from_u8((flags >> 1) & 0x03).ok_or(DecodeError::InvalidQoS)?;
        // [MQTT-3.3.1-2] DUP MUST be 0 for QoS 0
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::DupOnQoS0);
        }
        let topic = r.string("topic name")?;
        let empty_topic = topic.is_empty();
        let topic = if empty_topic && version == ProtocolVersion::V5 {
            TopicName::from_alias_placeholder()
        } else {
            // [MQTT-3.3.2-2] the topic name MUST NOT contain wildcards
            TopicName::new(topic).map_err(DecodeError::InvalidTopicName)?
        };
        let packet_id = match qos {
            QoS::AtMostOnce => None,
            _ => Some(r.packet_id()?),
        };
        let properties = match version {
            ProtocolVersion::V5 => Properties::read(r, Context::Publish)?,
            ProtocolVersion::V311 => Properties::new(),
        };
        // [MQTT-3.3.2-1] an empty topic name needs a Topic Alias (5.0 only)
        if empty_topic && properties.topic_alias().is_none() {
            return Err(DecodeError::EmptyTopicWithoutAlias);
        }
        let payload = r.rest();
        Ok(Publish {
            dup,
            qos,
            retain,
            topic,
            packet_id,
            properties,
            payload,
        })
    }
}

impl Body for Publish {
    fn first_byte(&self) -> u8 {
        ((PacketType::Publish as u8) << 4)
            | (u8::from(self.dup) << 3)
            | ((self.qos as u8) << 1)
            | u8::from(self.retain)
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(EncodeError::DupOnQoS0);
        }
        let id_len = match (self.qos, self.packet_id) {
            (QoS::AtMostOnce, None) => 0,
            (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(_)) => 2,
            _ => return Err(EncodeError::PacketIdMismatch),
        };
        let v5 = version == ProtocolVersion::V5;
        if self.topic.is_empty() && !(v5 && self.properties.topic_alias().is_some()) {
            return Err(EncodeError::EmptyTopicWithoutAlias);
        }
        Ok(str_len(self.topic.as_str(), "topic name")?
            + id_len
            + properties_len(&self.properties, Context::Publish, v5, "PUBLISH properties")?
            + self.payload.len())
    }

    fn write_body(&self, version: ProtocolVersion, dst: &mut BytesMut) {
        put_field(dst, self.topic.as_str().as_bytes());
        if let Some(id) = self.packet_id {
            dst.put_u16(id.get());
        }
        if version == ProtocolVersion::V5 {
            self.properties.write(dst);
        }
        dst.put_slice(&self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::check_vector;
    use crate::property::Property;
    use core::num::{NonZeroU16, NonZeroU32};

    fn topic(s: &str) -> TopicName {
        TopicName::new(s).expect("valid topic")
    }

    #[test]
    fn can_round_trip_v311_qos0_publish() {
        let bytes = [
            0x30, 0x07, // PUBLISH QoS 0, remaining length 7
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            b'h', b'i', // payload "hi"
        ];
        let publish = Publish::new(topic("a/b"), Bytes::from_static(b"hi"));
        check_vector(ProtocolVersion::V311, &bytes, Packet::Publish(publish));
    }

    #[test]
    fn can_round_trip_v311_qos1_dup_retain_publish() {
        let bytes = [
            0x3b, 0x06, // PUBLISH, DUP, QoS 1, RETAIN; remaining length 6
            0x00, 0x01, b'a', // topic "a"
            0x00, 0x0a, // packet identifier 10
            b'x', // payload
        ];
        let publish = Publish {
            dup: true,
            qos: QoS::AtLeastOnce,
            retain: true,
            packet_id: PacketId::new(10),
            ..Publish::new(topic("a"), Bytes::from_static(b"x"))
        };
        check_vector(ProtocolVersion::V311, &bytes, Packet::Publish(publish));
    }

    #[test]
    fn can_round_trip_v311_qos2_publish_with_empty_payload() {
        let bytes = [
            0x34, 0x05, // PUBLISH QoS 2, remaining length 5
            0x00, 0x01, b't', // topic "t"
            0xff, 0xff, // packet identifier 65535
        ];
        let publish = Publish {
            qos: QoS::ExactlyOnce,
            packet_id: PacketId::new(0xffff),
            ..Publish::new(topic("t"), Bytes::new())
        };
        check_vector(ProtocolVersion::V311, &bytes, Packet::Publish(publish));
    }

    #[test]
    fn can_round_trip_v5_publish_with_properties_in_order() {
        let bytes = [
            0x32, 0x28, // PUBLISH QoS 1, remaining length 40
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // packet identifier 1
            0x1d, // property length 29
            0x01, 0x01, // payload format indicator: UTF-8
            0x02, 0x00, 0x00, 0x00, 0x3c, // message expiry 60 s
            0x23, 0x00, 0x05, // topic alias 5
            0x0b, 0x81, 0x01, // subscription identifier 129 (two-byte varint)
            0x0b, 0x02, // subscription identifier 2
            0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b', // user property a=b
            0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'c', // user property a=c (order kept)
            b'h', b'e', b'l', b'l', b'o', // payload
        ];
        let properties = Properties::new()
            .with(Property::PayloadFormatIndicator(1))
            .with(Property::MessageExpiryInterval(60))
            .with(Property::TopicAlias(NonZeroU16::new(5).expect("non-zero")))
            .with(Property::SubscriptionIdentifier(
                NonZeroU32::new(129).expect("non-zero"),
            ))
            .with(Property::SubscriptionIdentifier(
                NonZeroU32::new(2).expect("non-zero"),
            ))
            .with(Property::UserProperty("a".into(), "b".into()))
            .with(Property::UserProperty("a".into(), "c".into()));
        let publish = Publish {
            qos: QoS::AtLeastOnce,
            packet_id: PacketId::new(1),
            properties,
            ..Publish::new(topic("t"), Bytes::from_static(b"hello"))
        };
        check_vector(
            ProtocolVersion::V5,
            &bytes,
            Packet::Publish(publish.clone()),
        );
        let pairs: Vec<_> = publish.properties.user_properties().collect();
        assert_eq!(pairs, [("a", "b"), ("a", "c")]);
    }

    #[test]
    fn accepts_empty_topic_with_alias_on_v5() {
        let bytes = [
            0x30, 0x07, // PUBLISH QoS 0, remaining length 7
            0x00, 0x00, // empty topic name: the alias stands for it
            0x03, // property length 3
            0x23, 0x00, 0x05, // topic alias 5
            b'p', // payload
        ];
        let mut publish = Publish::new(
            TopicName::from_alias_placeholder(),
            Bytes::from_static(b"p"),
        );
        publish
            .properties
            .push(Property::TopicAlias(NonZeroU16::new(5).expect("non-zero")));
        check_vector(ProtocolVersion::V5, &bytes, Packet::Publish(publish));
    }

    #[test]
    fn can_round_trip_v5_request_response_properties() {
        let bytes = [
            0x30, 0x15, // PUBLISH QoS 0, remaining length 21
            0x00, 0x01, b'r', // topic "r"
            0x11, // property length 17
            0x08, 0x00, 0x02, b'r', b'/', // response topic "r/"
            0x09, 0x00, 0x02, 0x01, 0x02, // correlation data 01 02
            0x03, 0x00, 0x04, b't', b'e', b'x', b't', // content type "text"
        ];
        let mut publish = Publish::new(topic("r"), Bytes::new());
        publish.properties = Properties::new()
            .with(Property::ResponseTopic(topic("r/")))
            .with(Property::CorrelationData(Bytes::from_static(&[1, 2])))
            .with(Property::ContentType("text".into()));
        check_vector(ProtocolVersion::V5, &bytes, Packet::Publish(publish));
    }

    #[test]
    fn payload_is_a_slice_of_the_input() {
        let mut buf = BytesMut::from(&[0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'][..]);
        let start = buf.as_ptr() as usize;
        let Some(Packet::Publish(p)) =
            crate::decode(&mut buf, ProtocolVersion::V311, u32::MAX).expect("valid")
        else {
            panic!("not a publish");
        };
        assert_eq!(p.payload.as_ptr() as usize, start + 7);
    }

    #[test]
    fn rejects_packet_id_mismatch_on_encode() {
        let publish = Publish {
            qos: QoS::AtLeastOnce,
            ..Publish::new(topic("t"), Bytes::new())
        };
        let mut dst = BytesMut::new();
        assert_eq!(
            publish.encode(ProtocolVersion::V5, &mut dst),
            Err(EncodeError::PacketIdMismatch)
        );
        assert!(dst.is_empty());
    }
}
