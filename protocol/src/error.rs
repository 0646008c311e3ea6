//! Errors of the codec. A [`DecodeError`] is the peer's fault: the connection must be
//! closed, after a DISCONNECT carrying [`DecodeError::reason_code`] on MQTT 5.0. An
//! [`EncodeError`] is the caller's fault: the packet cannot be put on the wire as built.

use crate::reason::ReasonCode;
use crate::topic::TopicError;
use crate::types::{PacketType, PropertyId};

/// Input from the peer broke a rule of the protocol. Each message starts with the id of
/// the normative statement it breaks where the spec has one. After a decode error the
/// byte stream cannot be resynchronised: close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A variable byte integer had a fifth byte.
    #[error("[MQTT-1.5.5-1] variable byte integer longer than 4 bytes")]
    VarIntTooLong,
    /// A variable byte integer was not in its shortest form.
    #[error("[MQTT-1.5.5-1] variable byte integer not encoded in the minimum number of bytes")]
    VarIntNotMinimal,
    /// The high nibble of the first byte was 0, a reserved packet type (or 15 on 3.1.1).
    #[error("[MQTT-2.1.2] reserved packet type {0}")]
    ReservedPacketType(u8),
    /// Reserved flag bits of the fixed header were not as the spec lists them.
    #[error("[MQTT-2.1.3-1] invalid fixed header flags {flags:#06b} on {packet}")]
    InvalidFlags {
        /// The packet whose header was wrong.
        packet: PacketType,
        /// The low nibble that was received.
        flags: u8,
    },
    /// A QoS field held 3.
    #[error("[MQTT-3.3.1-4] QoS 3 is not a valid QoS")]
    InvalidQoS,
    /// A QoS 0 PUBLISH had DUP set.
    #[error("[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH")]
    DupOnQoS0,
    /// A packet identifier was 0.
    #[error("[MQTT-2.2.1-3] packet identifier 0 in {0}")]
    ZeroPacketId(PacketType),
    /// The packet is larger than the maximum packet size the receiver set.
    #[error("[MQTT-3.1.2-24] packet of {size} bytes exceeds the maximum packet size of {max}")]
    PacketTooLarge {
        /// The packet's full size, fixed header included.
        size: usize,
        /// The maximum the receiver accepts.
        max: u32,
    },
    /// The packet ended before a field was complete: its remaining length was too short.
    #[error("[MQTT-2.1.4] {packet} ended inside its {field}")]
    Truncated {
        /// The packet being read.
        packet: PacketType,
        /// The field that did not fit.
        field: &'static str,
    },
    /// More properties than [`MAX_PROPERTIES`](crate::MAX_PROPERTIES) in one
    /// packet: each costs far more memory decoded than its bytes on the wire.
    #[error("more than {0} properties in one packet")]
    TooManyProperties(usize),
    /// Bytes were left over after the last field of the packet.
    #[error("[MQTT-2.1.4] {extra} bytes left over after the end of {packet}")]
    TrailingBytes {
        /// The packet being read.
        packet: PacketType,
        /// How many bytes were left.
        extra: usize,
    },
    /// A string was not well-formed UTF-8 (surrogates included).
    #[error("[MQTT-1.5.4-1] {0} is not well-formed UTF-8")]
    InvalidUtf8(&'static str),
    /// A string held U+0000.
    #[error("[MQTT-1.5.4-2] {0} contains the null character U+0000")]
    NullCharacter(&'static str),
    /// The topic name of a PUBLISH (or a will or response topic) is invalid.
    #[error("invalid topic name: {0}")]
    InvalidTopicName(TopicError),
    /// A topic filter of a SUBSCRIBE or UNSUBSCRIBE is invalid.
    #[error("invalid topic filter: {0}")]
    InvalidTopicFilter(TopicError),
    /// A PUBLISH had an empty topic name and no topic alias.
    #[error("[MQTT-3.3.2-1] empty topic name without a Topic Alias")]
    EmptyTopicWithoutAlias,
    /// CONNECT named a protocol other than "MQTT".
    #[error("[MQTT-3.1.2-1] protocol name is not \"MQTT\"")]
    InvalidProtocolName,
    /// CONNECT asked for a protocol level this crate does not speak.
    #[error("[MQTT-3.1.2-2] unsupported protocol level {0}")]
    UnsupportedProtocolLevel(u8),
    /// The reserved bit of the CONNECT flags was set.
    #[error("[MQTT-3.1.2-3] reserved CONNECT flag set")]
    ConnectReservedFlag,
    /// Will QoS or Will Retain was set without the Will Flag.
    #[error("[MQTT-3.1.2-11] will QoS or will retain set without the will flag")]
    WillFieldsWithoutWill,
    /// The will QoS was 3.
    #[error("[MQTT-3.1.2-12] will QoS 3 is not a valid QoS")]
    InvalidWillQoS,
    /// MQTT 3.1.1: the password flag was set without the user name flag.
    #[error("[MQTT-3.1.2-22] password flag set without the user name flag")]
    PasswordWithoutUsername,
    /// Reserved bits of the CONNACK acknowledge flags were set.
    #[error("[MQTT-3.2.2-1] reserved CONNACK flags set")]
    ConnAckReservedFlags,
    /// CONNACK refused the connection but said a session was present.
    #[error("[MQTT-3.2.2-6] session present set on a refused connection")]
    SessionPresentOnError,
    /// MQTT 3.1.1: a CONNACK return code above 5.
    #[error("[MQTT-3.2.2-6] reserved CONNACK return code {0}")]
    ReservedConnectReturnCode(u8),
    /// MQTT 3.1.1: a SUBACK return code other than 0x00, 0x01, 0x02 or 0x80.
    #[error("[MQTT-3.9.3-2] reserved SUBACK return code {0:#04x}")]
    ReservedSubAckCode(u8),
    /// SUBSCRIBE held no topic filter.
    #[error("[MQTT-3.8.3-2] SUBSCRIBE without a topic filter")]
    NoSubscriptions,
    /// UNSUBSCRIBE held no topic filter.
    #[error("[MQTT-3.10.3-2] UNSUBSCRIBE without a topic filter")]
    NoUnsubscriptions,
    /// Reserved bits of a subscription options byte were set.
    #[error("[MQTT-3.8.3-5] reserved subscription option bits set: {0:#04x}")]
    SubscriptionOptionsReserved(u8),
    /// Retain Handling was 3.
    #[error("[MQTT-3.8.3-6] retain handling 3 is not valid")]
    InvalidRetainHandling,
    /// No Local was set on a shared subscription.
    #[error("[MQTT-3.8.3-4] no local set on a shared subscription")]
    NoLocalOnSharedSubscription,
    /// A property identifier this version of the spec does not define.
    #[error("[MQTT-2.2.2] unknown property identifier {0:#04x}")]
    UnknownProperty(u32),
    /// A property in a packet where the spec does not allow it.
    #[error("[MQTT-2.2.2] property {property} is not allowed in {context}")]
    PropertyNotAllowed {
        /// The property.
        property: PropertyId,
        /// Where it appeared: a packet name, or "will properties".
        context: &'static str,
    },
    /// A property that may appear once appeared again.
    #[error("[MQTT-2.2.2] property {0} appears more than once")]
    DuplicateProperty(PropertyId),
    /// A property held a value the spec calls a protocol error.
    #[error("[MQTT-2.2.2] property {property} has the invalid value {value}")]
    InvalidPropertyValue {
        /// The property.
        property: PropertyId,
        /// The value received.
        value: u32,
    },
    /// A packet type that does not exist in the version the connection speaks.
    #[error("[MQTT-2.1.2] {0} is not a packet of MQTT 3.1.1")]
    NotInVersion(PacketType),
    /// A packet only clients send (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ) came from a
    /// server: see [`Decoder::decode_from_server`](crate::Decoder::decode_from_server).
    #[error("[MQTT-2.1.2] {0} flows from client to server only")]
    NotFromServer(PacketType),
}

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The packet would exceed the largest remaining length, 268,435,455 bytes.
    #[error("[MQTT-1.5.5] remaining length {0} exceeds 268,435,455")]
    RemainingLengthTooLarge(usize),
    /// A string or binary field is longer than 65,535 bytes.
    #[error("[MQTT-1.5.4] {0} is longer than 65,535 bytes")]
    FieldTooLong(&'static str),
    /// A string holds U+0000.
    #[error("[MQTT-1.5.4-2] {0} contains the null character U+0000")]
    NullCharacter(&'static str),
    /// Something only MQTT 5.0 can carry was given for MQTT 3.1.1.
    #[error("{0} cannot be sent on MQTT 3.1.1")]
    NotInVersion(&'static str),
    /// A PUBLISH whose packet identifier does not fit its QoS.
    #[error("[MQTT-2.2.1-2] a QoS 0 PUBLISH has no packet identifier; QoS 1 and 2 need one")]
    PacketIdMismatch,
    /// A QoS 0 PUBLISH with DUP set.
    #[error("[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH")]
    DupOnQoS0,
    /// An empty topic name without a topic alias.
    #[error("[MQTT-3.3.2-1] empty topic name without a Topic Alias")]
    EmptyTopicWithoutAlias,
    /// SUBSCRIBE or UNSUBSCRIBE without filters, or SUBACK/UNSUBACK without codes.
    #[error("{0} needs at least one entry")]
    Empty(PacketType),
    /// A property that the packet may not carry, or carries once, was given.
    #[error("property {property} is not allowed (or not twice) in {context}")]
    PropertyNotAllowed {
        /// The property.
        property: PropertyId,
        /// The packet or part that may not carry it.
        context: &'static str,
    },
    /// A property value outside its range, such as a subscription identifier above
    /// 268,435,455.
    #[error("property {0} has a value outside its range")]
    InvalidPropertyValue(PropertyId),
    /// No Local on a shared subscription.
    #[error("[MQTT-3.8.3-4] no local set on a shared subscription")]
    NoLocalOnSharedSubscription,
    /// A reason code that the packet cannot carry on MQTT 3.1.1.
    #[error("reason code {0} cannot be sent on MQTT 3.1.1 in {1}")]
    ReasonCodeNotInVersion(ReasonCode, PacketType),
}
