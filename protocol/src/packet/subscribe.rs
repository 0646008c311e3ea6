//! SUBSCRIBE (spec 3.8): topic filters with their subscription options.

use bytes::{BufMut, BytesMut};

use super::Body;
use super::connect::properties_len;
use crate::codec::{Reader, put_field, str_len};
use crate::error::{DecodeError, EncodeError};
use crate::property::{Context, Properties};
use crate::topic::TopicFilter;
use crate::types::{PacketId, PacketType, ProtocolVersion, QoS};

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// SUBSCRIBE properties (5.0): a subscription identifier and user properties.
    pub properties: Properties,
    /// At least one filter with its options [MQTT-3.8.3-2].
    pub subscriptions: Vec<Subscription>,
}

/// One topic filter of a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The filter.
    pub filter: TopicFilter,
    /// Its options.
    pub options: SubscriptionOptions,
}

/// The subscription options byte (spec 3.8.3.1). On 3.1.1 only `qos` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS the server may deliver with.
    pub qos: QoS,
    /// No Local (5.0): do not receive this client's own publications.
    pub no_local: bool,
    /// Retain As Published (5.0): keep the RETAIN flag on forwarded messages.
    pub retain_as_published: bool,
    /// Retain Handling (5.0): when retained messages are sent.
    pub retain_handling: RetainHandling,
}

/// When the server sends retained messages for a new subscription (5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum RetainHandling {
    /// 0: at the time of the subscribe.
    #[default]
    SendOnSubscribe = 0,
    /// 1: only if the subscription did not exist yet.
    SendIfNew = 1,
    /// 2: never.
    DoNotSend = 2,
}

impl SubscriptionOptions {
    /// Options with this QoS and everything else at its default.
    pub fn qos(qos: QoS) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        }
    }

    fn byte(self) -> u8 {
        (self.qos as u8)
            | (u8::from(self.no_local) << 2)
            | (u8::from(self.retain_as_published) << 3)
            | ((self.retain_handling as u8) << 4)
    }

    fn read(byte: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
        let reserved = match version {
            // [MQTT-3.8.3-4] (3.1.1) the upper 6 bits MUST be 0
            ProtocolVersion::V311 => 0xfc,
            // [MQTT-3.8.3-5] (5.0) bits 7 and 6 MUST be 0
            ProtocolVersion::V5 => 0xc0,
        };
        if byte & reserved != 0 {
            return Err(DecodeError::SubscriptionOptionsReserved(byte));
        }
        let qos = QoS::from_u8(byte & 0x03).ok_or(DecodeError::InvalidQoS)?;
        let retain_handling = match (byte >> 4) & 0x03 {
            0 => RetainHandling::SendOnSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            // [MQTT-3.8.3-6] retain handling 3 is a Protocol Error
            _ => return Err(DecodeError::InvalidRetainHandling),
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: byte & 0x04 != 0,
            retain_as_published: byte & 0x08 != 0,
            retain_handling,
        })
    }
}

impl Subscribe {
    /// A SUBSCRIBE to one filter.
    pub fn new(
        packet_id: PacketId,
        filter: TopicFilter,
        options: SubscriptionOptions,
    ) -> Subscribe {
        Subscribe {
            packet_id,
            properties: Properties::new(),
            subscriptions: vec![Subscription { filter, options }],
        }
    }

    pub(crate) fn read(r: &mut Reader, version: ProtocolVersion) -> Result<Subscribe, DecodeError> {
        let packet_id = r.packet_id()?;
        let properties = match version {
            ProtocolVersion::V5 => Properties::read(r, Context::Subscribe)?,
            ProtocolVersion::V311 => Properties::new(),
        };
        let mut subscriptions = Vec::new();
        while r.remaining() > 0 {
            let filter = r.string("topic filter")?;
            let filter = TopicFilter::new(filter).map_err(DecodeError::InvalidTopicFilter)?;
            let options = SubscriptionOptions::read(r.u8("subscription options")?, version)?;
            // [MQTT-3.8.3-4] (5.0) No Local on a shared subscription is a Protocol Error
            if options.no_local && filter.is_shared() {
                return Err(DecodeError::NoLocalOnSharedSubscription);
            }
            subscriptions.push(Subscription { filter, options });
        }
        // [MQTT-3.8.3-2] (5.0) / [MQTT-3.8.3-3] (3.1.1) at least one filter
        if subscriptions.is_empty() {
            return Err(DecodeError::NoSubscriptions);
        }
        Ok(Subscribe {
            packet_id,
            properties,
            subscriptions,
        })
    }
}

impl Body for Subscribe {
    fn first_byte(&self) -> u8 {
        ((PacketType::Subscribe as u8) << 4) | PacketType::Subscribe.fixed_flags()
    }

    fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.subscriptions.is_empty() {
            return Err(EncodeError::Empty(PacketType::Subscribe));
        }
        let v5 = version == ProtocolVersion::V5;
        let mut len = 2 + properties_len(
            &self.properties,
            Context::Subscribe,
            v5,
            "SUBSCRIBE properties",
        )?;
        for sub in &self.subscriptions {
            let o = sub.options;
            if !v5
                && (o.no_local
                    || o.retain_as_published
                    || o.retain_handling != RetainHandling::default())
            {
                return Err(EncodeError::NotInVersion(
                    "subscription options other than QoS",
                ));
            }
            if o.no_local && sub.filter.is_shared() {
                return Err(EncodeError::NoLocalOnSharedSubscription);
            }
            len += str_len(sub.filter.as_str(), "topic filter")? + 1;
        }
        Ok(len)
    }

    fn write_body(&self, version: ProtocolVersion, dst: &mut BytesMut) {
        dst.put_u16(self.packet_id.get());
        if version == ProtocolVersion::V5 {
            self.properties.write(dst);
        }
        for sub in &self.subscriptions {
            put_field(dst, sub.filter.as_str().as_bytes());
            dst.put_u8(sub.options.byte());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Packet;
    use crate::packet::testing::check_vector;
    use crate::property::Property;
    use core::num::NonZeroU32;

    fn filter(s: &str) -> TopicFilter {
        TopicFilter::new(s).expect("valid filter")
    }

    #[test]
    fn can_round_trip_v311_subscribe() {
        let bytes = [
            0x82, 0x0c, // SUBSCRIBE (flags 0010), remaining length 12
            0x00, 0x0a, // packet identifier 10
            0x00, 0x03, b'a', b'/', b'+', // filter "a/+"
            0x01, // requested QoS 1
            0x00, 0x01, b'#', // filter "#"
            0x02, // requested QoS 2
        ];
        let mut subscribe = Subscribe::new(
            PacketId::new(10).expect("non-zero"),
            filter("a/+"),
            SubscriptionOptions::qos(QoS::AtLeastOnce),
        );
        subscribe.subscriptions.push(Subscription {
            filter: filter("#"),
            options: SubscriptionOptions::qos(QoS::ExactlyOnce),
        });
        check_vector(ProtocolVersion::V311, &bytes, Packet::Subscribe(subscribe));
    }

    #[test]
    fn can_round_trip_v5_subscribe_with_options() {
        let bytes = [
            0x82, 0x18, // SUBSCRIBE, remaining length 24
            0x00, 0x01, // packet identifier 1
            0x02, // property length 2
            0x0b, 0x05, // subscription identifier 5
            0x00, 0x03, b'x', b'/', b'#', // filter "x/#"
            0x2d, // retain handling 2, retain as published, no local, QoS 1
            0x00, 0x0a, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/',
            b't', // "$share/g/t"
            0x00, // QoS 0, everything else off
        ];
        let mut subscribe = Subscribe::new(
            PacketId::MIN,
            filter("x/#"),
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
        );
        subscribe.properties.push(Property::SubscriptionIdentifier(
            NonZeroU32::new(5).expect("non-zero"),
        ));
        subscribe.subscriptions.push(Subscription {
            filter: filter("$share/g/t"),
            options: SubscriptionOptions::default(),
        });
        check_vector(ProtocolVersion::V5, &bytes, Packet::Subscribe(subscribe));
    }
}
