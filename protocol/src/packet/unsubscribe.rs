//! UNSUBSCRIBE (spec 3.10): topic filters to remove.

use bytes::{BufMut, BytesMut};

use super::Body;
use super::connect::properties_len;
use crate::codec::{Reader, put_field, str_len};
use crate::error::{DecodeError, EncodeError};
use crate::property::{Context, Properties};
use crate::topic::TopicFilter;
use crate::types::{PacketId, PacketType, ProtocolVersion};

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// UNSUBSCRIBE properties (5.0): user properties only.
    pub properties: Properties,
    /// At least one filter [MQTT-3.10.3-2].
    pub filters: Vec<TopicFilter>,
}

impl Unsubscribe {
    pub(crate) fn read(
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<Unsubscribe, DecodeError> {
        let packet_id = r.packet_id()?;
        let properties = match version {
            ProtocolVersion::V5 => Properties::read(r, Context::Unsubscribe)?,
            ProtocolVersion::V311 => Properties::new(),
        };
        let mut filters = Vec::new();
        while r.remaining() > 0 {
            let filter = r.string("topic filter")?;
            filters.push(TopicFilter::new(filter).map_err(DecodeError::InvalidTopicFilter)?);
        }
        // [MQTT-3.10.3-2] the payload MUST contain at least one topic filter
        if filters.is_empty() {
            return Err(DecodeError::NoUnsubscriptions);
        }
        Ok(Unsubscribe {
            packet_id,
            properties,
            filters,
        })
    }
}

impl Body for Unsubscribe {
    fn first_byte(&self) -> u8 {
        ((PacketType::Unsubscribe as u8) << 4) | PacketType::Unsubscribe.fixed_flags()
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::Empty(PacketType::Unsubscribe));
        }
        let v5 = version == ProtocolVersion::V5;
        let mut len = 2 + properties_len(
            &self.properties,
            Context::Unsubscribe,
            v5,
            "UNSUBSCRIBE properties",
        )?;
        for filter in &self.filters {
            len += str_len(filter.as_str(), "topic filter")?;
        }
        Ok(len)
    }

    fn write_body(&self, version: ProtocolVersion, dst: &mut BytesMut) {
        dst.put_u16(self.packet_id.get());
        if version == ProtocolVersion::V5 {
            self.properties.write(dst);
        }
        for filter in &self.filters {
            put_field(dst, filter.as_str().as_bytes());
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
    fn can_round_trip_v311_unsubscribe() {
        let bytes = [
            0xa2, 0x07, // UNSUBSCRIBE (flags 0010), remaining length 7
            0x00, 0x02, // packet identifier 2
            0x00, 0x03, b'a', b'/', b'b', // filter "a/b"
        ];
        let unsubscribe = Unsubscribe {
            packet_id: PacketId::new(2).expect("non-zero"),
            properties: Properties::new(),
            filters: vec![TopicFilter::new("a/b").expect("valid")],
        };
        check_vector(
            ProtocolVersion::V311,
            &bytes,
            Packet::Unsubscribe(unsubscribe),
        );
    }

    #[test]
    fn can_round_trip_v5_unsubscribe() {
        let bytes = [
            0xa2, 0x19, // UNSUBSCRIBE, remaining length 25
            0x00, 0x02, // packet identifier 2
            0x07, // property length 7
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
            0x00, 0x01, b'a', // filter "a"
            0x00, 0x0a, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/',
            b'#', // "$share/g/#"
        ];
        let unsubscribe = Unsubscribe {
            packet_id: PacketId::new(2).expect("non-zero"),
            properties: Properties::new().with(Property::UserProperty("k".into(), "v".into())),
            filters: vec![
                TopicFilter::new("a").expect("valid"),
                TopicFilter::new("$share/g/#").expect("valid"),
            ],
        };
        check_vector(
            ProtocolVersion::V5,
            &bytes,
            Packet::Unsubscribe(unsubscribe),
        );
    }
}
