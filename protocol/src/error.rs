//! Errors of the codec. A [`DecodeError`] is the peer's fault: the connection must be
//! closed, after a DISCONNECT carrying [`DecodeError::reason_code`] on MQTT 5.0. An
//! [`EncodeError`] is the caller's fault: the packet cannot be put on the wire as built.

use crate::reason::ReasonCode;
use crate::topic::TopicError;
use crate::types::{PacketType, PropertyId};

/// Input from the peer broke a rule of the protocol. Each message starts with the id of
/// the normative statement it breaks where the spec has one. After a decode error the
/// byte stream cannot be resynchronised: close the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A variable byte integer had a fifth byte.
    VarIntTooLong,
    /// A variable byte integer was not in its shortest form.
    VarIntNotMinimal,
    /// The high nibble of the first byte was 0, a reserved packet type (or 15 on 3.1.1).
    ReservedPacketType(u8),
    /// Reserved flag bits of the fixed header were not as the spec lists them.
    InvalidFlags {
        /// The packet whose header was wrong.
        packet: PacketType,
        /// The low nibble that was received.
        flags: u8,
    },
    /// A QoS field held 3.
    InvalidQoS,
    /// A QoS 0 PUBLISH had DUP set.
    DupOnQoS0,
    /// A packet identifier was 0.
    ZeroPacketId(PacketType),
    /// The packet is larger than the maximum packet size the receiver set.
    PacketTooLarge {
        /// The packet's full size, fixed header included.
        size: usize,
        /// The maximum the receiver accepts.
        max: u32,
    },
    /// The packet ended before a field was complete: its remaining length was too short.
    Truncated {
        /// The packet being read.
        packet: PacketType,
        /// The field that did not fit.
        field: &'static str,
    },
    /// More properties than [`MAX_PROPERTIES`](crate::MAX_PROPERTIES) in one
    /// packet: each costs far more memory decoded than its bytes on the wire.
    TooManyProperties(usize),
    /// Bytes were left over after the last field of the packet.
    TrailingBytes {
        /// The packet being read.
        packet: PacketType,
        /// How many bytes were left.
        extra: usize,
    },
    /// A string was not well-formed UTF-8 (surrogates included).
    InvalidUtf8(&'static str),
    /// A string held U+0000.
    NullCharacter(&'static str),
    /// The topic name of a PUBLISH (or a will or response topic) is invalid.
    InvalidTopicName(TopicError),
    /// A topic filter of a SUBSCRIBE or UNSUBSCRIBE is invalid.
    InvalidTopicFilter(TopicError),
    /// A PUBLISH had an empty topic name and no topic alias.
    EmptyTopicWithoutAlias,
    /// CONNECT named a protocol other than "MQTT".
    InvalidProtocolName,
    /// CONNECT asked for a protocol level this crate does not speak.
    UnsupportedProtocolLevel(u8),
    /// The reserved bit of the CONNECT flags was set.
    ConnectReservedFlag,
    /// Will QoS or Will Retain was set without the Will Flag.
    WillFieldsWithoutWill,
    /// The will QoS was 3.
    InvalidWillQoS,
    /// MQTT 3.1.1: the password flag was set without the user name flag.
    PasswordWithoutUsername,
    /// Reserved bits of the CONNACK acknowledge flags were set.
    ConnAckReservedFlags,
    /// CONNACK refused the connection but said a session was present.
    SessionPresentOnError,
    /// MQTT 3.1.1: a CONNACK return code above 5.
    ReservedConnectReturnCode(u8),
    /// MQTT 3.1.1: a SUBACK return code other than 0x00, 0x01, 0x02 or 0x80.
    ReservedSubAckCode(u8),
    /// SUBSCRIBE held no topic filter.
    NoSubscriptions,
    /// UNSUBSCRIBE held no topic filter.
    NoUnsubscriptions,
    /// Reserved bits of a subscription options byte were set.
    SubscriptionOptionsReserved(u8),
    /// Retain Handling was 3.
    InvalidRetainHandling,
    /// No Local was set on a shared subscription.
    NoLocalOnSharedSubscription,
    /// A property identifier this version of the spec does not define.
    UnknownProperty(u32),
    /// A property in a packet where the spec does not allow it.
    PropertyNotAllowed {
        /// The property.
        property: PropertyId,
        /// Where it appeared: a packet name, or "will properties".
        context: &'static str,
    },
    /// A property that may appear once appeared again.
    DuplicateProperty(PropertyId),
    /// A property held a value the spec calls a protocol error.
    InvalidPropertyValue {
        /// The property.
        property: PropertyId,
        /// The value received.
        value: u32,
    },
    /// A packet type that does not exist in the version the connection speaks.
    NotInVersion(PacketType),
    /// A packet only clients send (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ) came from a
    /// server: see [`Decoder::decode_from_server`](crate::Decoder::decode_from_server).
    NotFromServer(PacketType),
}

error_table!(DecodeError {
    DecodeError::VarIntTooLong => "[MQTT-1.5.5-1] variable byte integer longer than 4 bytes";
    DecodeError::VarIntNotMinimal => "[MQTT-1.5.5-1] variable byte integer not encoded in the minimum number of bytes";
    DecodeError::ReservedPacketType(t) => "[MQTT-2.1.2] reserved packet type", " {}", t;
    DecodeError::InvalidFlags { packet, flags } => "[MQTT-2.1.3-1] invalid fixed header flags", " {:#06b} on {}", flags, packet;
    DecodeError::InvalidQoS => "[MQTT-3.3.1-4] QoS 3 is not a valid QoS";
    DecodeError::DupOnQoS0 => "[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH";
    DecodeError::ZeroPacketId(packet) => "[MQTT-2.2.1-3] packet identifier 0", " in {}", packet;
    DecodeError::PacketTooLarge { size, max } => "[MQTT-3.1.2-24] packet exceeds the maximum packet size", ": {} bytes, over {}", size, max;
    DecodeError::Truncated { packet, field } => "[MQTT-2.1.4] packet ended inside a field", ": {} of {}", field, packet;
    DecodeError::TooManyProperties(max) => "too many properties in one packet", ": more than {}", max;
    DecodeError::TrailingBytes { packet, extra } => "[MQTT-2.1.4] bytes left over after the end of the packet", ": {} after {}", extra, packet;
    DecodeError::InvalidUtf8(field) => "[MQTT-1.5.4-1] string is not well-formed UTF-8", ": {}", field;
    DecodeError::NullCharacter(field) => "[MQTT-1.5.4-2] string contains the null character U+0000", ": {}", field;
    DecodeError::InvalidTopicName(e) => "invalid topic name", ": {}", e;
    DecodeError::InvalidTopicFilter(e) => "invalid topic filter", ": {}", e;
    DecodeError::EmptyTopicWithoutAlias => "[MQTT-3.3.2-1] empty topic name without a Topic Alias";
    DecodeError::InvalidProtocolName => "[MQTT-3.1.2-1] protocol name is not \"MQTT\"";
    DecodeError::UnsupportedProtocolLevel(level) => "[MQTT-3.1.2-2] unsupported protocol level", " {}", level;
    DecodeError::ConnectReservedFlag => "[MQTT-3.1.2-3] reserved CONNECT flag set";
    DecodeError::WillFieldsWithoutWill => "[MQTT-3.1.2-11] will QoS or will retain set without the will flag";
    DecodeError::InvalidWillQoS => "[MQTT-3.1.2-12] will QoS 3 is not a valid QoS";
    DecodeError::PasswordWithoutUsername => "[MQTT-3.1.2-22] password flag set without the user name flag";
    DecodeError::ConnAckReservedFlags => "[MQTT-3.2.2-1] reserved CONNACK flags set";
    DecodeError::SessionPresentOnError => "[MQTT-3.2.2-6] session present set on a refused connection";
    DecodeError::ReservedConnectReturnCode(code) => "[MQTT-3.2.2-6] reserved CONNACK return code", " {}", code;
    DecodeError::ReservedSubAckCode(code) => "[MQTT-3.9.3-2] reserved SUBACK return code", " {:#04x}", code;
    DecodeError::NoSubscriptions => "[MQTT-3.8.3-2] SUBSCRIBE without a topic filter";
    DecodeError::NoUnsubscriptions => "[MQTT-3.10.3-2] UNSUBSCRIBE without a topic filter";
    DecodeError::SubscriptionOptionsReserved(bits) => "[MQTT-3.8.3-5] reserved subscription option bits set", ": {:#04x}", bits;
    DecodeError::InvalidRetainHandling => "[MQTT-3.8.3-6] retain handling 3 is not valid";
    DecodeError::NoLocalOnSharedSubscription => "[MQTT-3.8.3-4] no local set on a shared subscription";
    DecodeError::UnknownProperty(id) => "[MQTT-2.2.2] unknown property identifier", " {:#04x}", id;
    DecodeError::PropertyNotAllowed { property, context } => "[MQTT-2.2.2] property not allowed where it appeared", ": {} in {}", property, context;
    DecodeError::DuplicateProperty(property) => "[MQTT-2.2.2] property appears more than once", ": {}", property;
    DecodeError::InvalidPropertyValue { property, value } => "[MQTT-2.2.2] property has an invalid value", ": {} of {}", value, property;
    DecodeError::NotInVersion(packet) => "[MQTT-2.1.2] packet type not in MQTT 3.1.1", ": {}", packet;
    DecodeError::NotFromServer(packet) => "[MQTT-2.1.2] packet flows from client to server only", ": {}", packet;
});

impl core::error::Error for DecodeError {}

impl DecodeError {
    /// The MQTT 5.0 reason code the receiver sends in DISCONNECT (or CONNACK) for this
    /// error: 0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet too large, ...
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            TooManyProperties(_) => ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR,
            InvalidProtocolName | UnsupportedProtocolLevel(_) => {
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
            }
            InvalidTopicName(_) => ReasonCode::TOPIC_NAME_INVALID,
            ZeroPacketId(_)
            | EmptyTopicWithoutAlias
            | SessionPresentOnError
            | NoSubscriptions
            | NoUnsubscriptions
            | InvalidRetainHandling
            | NoLocalOnSharedSubscription
            | PropertyNotAllowed { .. }
            | DuplicateProperty(_)
            | InvalidPropertyValue { .. }
            | InvalidTopicFilter(_)
            | NotFromServer(_) => ReasonCode::PROTOCOL_ERROR,
            _ => ReasonCode::MALFORMED_PACKET,
        }
    }
}

impl From<&DecodeError> for ReasonCode {
    fn from(error: &DecodeError) -> Self {
        error.reason_code()
    }
}

/// A packet the caller built cannot be encoded. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The packet would exceed the largest remaining length, 268,435,455 bytes.
    RemainingLengthTooLarge(usize),
    /// A string or binary field is longer than 65,535 bytes.
    FieldTooLong(&'static str),
    /// A string holds U+0000.
    NullCharacter(&'static str),
    /// Something only MQTT 5.0 can carry was given for MQTT 3.1.1.
    NotInVersion(&'static str),
    /// A PUBLISH whose packet identifier does not fit its QoS.
    PacketIdMismatch,
    /// A QoS 0 PUBLISH with DUP set.
    DupOnQoS0,
    /// An empty topic name without a topic alias.
    EmptyTopicWithoutAlias,
    /// SUBSCRIBE or UNSUBSCRIBE without filters, or SUBACK/UNSUBACK without codes.
    Empty(PacketType),
    /// A property that the packet may not carry, or carries once, was given.
    PropertyNotAllowed {
        /// The property.
        property: PropertyId,
        /// The packet or part that may not carry it.
        context: &'static str,
    },
    /// A property value outside its range, such as a subscription identifier above
    /// 268,435,455.
    InvalidPropertyValue(PropertyId),
    /// No Local on a shared subscription.
    NoLocalOnSharedSubscription,
    /// A reason code that the packet cannot carry on MQTT 3.1.1.
    ReasonCodeNotInVersion(ReasonCode, PacketType),
}

error_table!(EncodeError {
    EncodeError::RemainingLengthTooLarge(len) => "[MQTT-1.5.5] remaining length exceeds 268,435,455", ": {}", len;
    EncodeError::FieldTooLong(field) => "[MQTT-1.5.4] field is longer than 65,535 bytes", ": {}", field;
    EncodeError::NullCharacter(field) => "[MQTT-1.5.4-2] string contains the null character U+0000", ": {}", field;
    EncodeError::NotInVersion(what) => "cannot be sent on MQTT 3.1.1", ": {}", what;
    EncodeError::PacketIdMismatch => "[MQTT-2.2.1-2] a QoS 0 PUBLISH has no packet identifier; QoS 1 and 2 need one";
    EncodeError::DupOnQoS0 => "[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH";
    EncodeError::EmptyTopicWithoutAlias => "[MQTT-3.3.2-1] empty topic name without a Topic Alias";
    EncodeError::Empty(packet) => "packet needs at least one entry", ": {}", packet;
    EncodeError::PropertyNotAllowed { property, context } => "property not allowed (or not twice) in this packet", ": {} in {}", property, context;
    EncodeError::InvalidPropertyValue(property) => "property has a value outside its range", ": {}", property;
    EncodeError::NoLocalOnSharedSubscription => "[MQTT-3.8.3-4] no local set on a shared subscription";
    EncodeError::ReasonCodeNotInVersion(code, packet) => "reason code cannot be sent on MQTT 3.1.1", ": {} in {}", code, packet;
});

impl core::error::Error for EncodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_message_then_the_details() {
        let topic = TopicError::TooLong { len: 70_000 };
        let decode = [
            DecodeError::VarIntTooLong,
            DecodeError::PacketTooLarge { size: 9, max: 8 },
            DecodeError::InvalidTopicName(topic.clone()),
            DecodeError::UnknownProperty(0x7f),
        ];
        for e in &decode {
            assert!(e.to_string().starts_with(e.message()), "{e}");
        }
        assert_eq!(decode[0].to_string(), decode[0].message());
        assert_eq!(
            decode[1].to_string(),
            "[MQTT-3.1.2-24] packet exceeds the maximum packet size: 9 bytes, over 8"
        );
        assert_eq!(
            decode[3].to_string(),
            "[MQTT-2.2.2] unknown property identifier 0x7f"
        );
        let encode = EncodeError::Empty(PacketType::Subscribe);
        assert_eq!(encode.message(), "packet needs at least one entry");
        assert_eq!(
            encode.to_string(),
            "packet needs at least one entry: SUBSCRIBE"
        );
        assert_eq!(
            topic.to_string(),
            "topic is over the limit of 65,535 bytes [MQTT-4.7.3-3]: 70000 bytes"
        );
    }
}
