//! A table of malformed input, each entry named after the rule it breaks, with the exact
//! error the decoder must report. Every entry is also checked to close no more than it
//! should: the same bytes with the error fixed are not part of this table.

use bytes::BytesMut;
use mqttwire::{
    DecodeError, PacketType, PropertyId, ProtocolVersion, ReasonCode, TopicError, decode,
};

use DecodeError::*;
use PacketType as T;
use ProtocolVersion::{V5, V311};

struct Case {
    name: &'static str,
    version: ProtocolVersion,
    bytes: &'static [u8],
    error: DecodeError,
}

const fn case(
    name: &'static str,
    version: ProtocolVersion,
    bytes: &'static [u8],
    error: DecodeError,
) -> Case {
    Case {
        name,
        version,
        bytes,
        error,
    }
}

fn not_allowed(property: PropertyId, context: &'static str) -> DecodeError {
    PropertyNotAllowed { property, context }
}

fn invalid_value(property: PropertyId, value: u32) -> DecodeError {
    InvalidPropertyValue { property, value }
}

fn cases() -> Vec<Case> {
    vec![
        // --- fixed header ---
        case(
            "reserved_packet_type_0",
            V5,
            &[0x00, 0x00],
            ReservedPacketType(0),
        ),
        case(
            "var_int_of_five_bytes",
            V5,
            &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01],
            VarIntTooLong,
        ),
        case(
            "var_int_not_minimal",
            V5,
            &[0xc0, 0x80, 0x00],
            VarIntNotMinimal,
        ),
        case(
            "connect_flags",
            V5,
            &[0x11, 0x00],
            InvalidFlags {
                packet: T::Connect,
                flags: 1,
            },
        ),
        case(
            "connack_flags",
            V5,
            &[0x21, 0x02, 0, 0],
            InvalidFlags {
                packet: T::ConnAck,
                flags: 1,
            },
        ),
        case(
            "puback_flags",
            V5,
            &[0x42, 0x02, 0, 1],
            InvalidFlags {
                packet: T::PubAck,
                flags: 2,
            },
        ),
        case(
            "pubrec_flags",
            V5,
            &[0x51, 0x02, 0, 1],
            InvalidFlags {
                packet: T::PubRec,
                flags: 1,
            },
        ),
        case(
            "pubrel_flags_0000",
            V311,
            &[0x60, 0x02, 0, 1],
            InvalidFlags {
                packet: T::PubRel,
                flags: 0,
            },
        ),
        case(
            "pubcomp_flags",
            V5,
            &[0x78, 0x02, 0, 1],
            InvalidFlags {
                packet: T::PubComp,
                flags: 8,
            },
        ),
        case(
            "subscribe_flags_0000",
            V311,
            &[0x80, 0x06, 0, 1, 0, 1, b'a', 0],
            InvalidFlags {
                packet: T::Subscribe,
                flags: 0,
            },
        ),
        case(
            "suback_flags",
            V5,
            &[0x92, 0x03, 0, 1, 0],
            InvalidFlags {
                packet: T::SubAck,
                flags: 2,
            },
        ),
        case(
            "unsubscribe_flags_0000",
            V311,
            &[0xa0, 0x05, 0, 1, 0, 1, b'a'],
            InvalidFlags {
                packet: T::Unsubscribe,
                flags: 0,
            },
        ),
        case(
            "unsuback_flags",
            V311,
            &[0xb1, 0x02, 0, 1],
            InvalidFlags {
                packet: T::UnsubAck,
                flags: 1,
            },
        ),
        case(
            "pingreq_flags",
            V311,
            &[0xc1, 0x00],
            InvalidFlags {
                packet: T::PingReq,
                flags: 1,
            },
        ),
        case(
            "pingresp_flags",
            V5,
            &[0xd8, 0x00],
            InvalidFlags {
                packet: T::PingResp,
                flags: 8,
            },
        ),
        case(
            "disconnect_flags",
            V5,
            &[0xe2, 0x00],
            InvalidFlags {
                packet: T::Disconnect,
                flags: 2,
            },
        ),
        case(
            "auth_flags",
            V5,
            &[0xf1, 0x00],
            InvalidFlags {
                packet: T::Auth,
                flags: 1,
            },
        ),
        case("auth_on_v311", V311, &[0xf0, 0x00], NotInVersion(T::Auth)),
        // --- PUBLISH ---
        case(
            "publish_qos_3",
            V5,
            &[0x36, 0x05, 0, 1, b't', 0, 1],
            InvalidQoS,
        ),
        case(
            "publish_dup_on_qos_0",
            V311,
            &[0x38, 0x03, 0, 1, b't'],
            DupOnQoS0,
        ),
        case(
            "publish_packet_id_0",
            V311,
            &[0x32, 0x05, 0, 1, b't', 0, 0],
            ZeroPacketId(T::Publish),
        ),
        case(
            "publish_topic_with_plus",
            V311,
            &[0x30, 0x05, 0, 3, b'a', b'/', b'+'],
            InvalidTopicName(TopicError::WildcardInName),
        ),
        case(
            "publish_topic_with_hash",
            V5,
            &[0x30, 0x04, 0, 1, b'#', 0],
            InvalidTopicName(TopicError::WildcardInName),
        ),
        case(
            "publish_empty_topic_v311",
            V311,
            &[0x30, 0x02, 0, 0],
            InvalidTopicName(TopicError::Empty),
        ),
        case(
            "publish_empty_topic_without_alias",
            V5,
            &[0x30, 0x03, 0, 0, 0],
            EmptyTopicWithoutAlias,
        ),
        case(
            "publish_topic_invalid_utf8",
            V311,
            &[0x30, 0x04, 0, 2, 0xc3, 0x28],
            InvalidUtf8("topic name"),
        ),
        case(
            "publish_topic_surrogate",
            V311,
            &[0x30, 0x05, 0, 3, 0xed, 0xa0, 0x80],
            InvalidUtf8("topic name"),
        ),
        case(
            "publish_topic_overlong_nul",
            V311,
            &[0x30, 0x04, 0, 2, 0xc0, 0x80],
            InvalidUtf8("topic name"),
        ),
        case(
            "publish_topic_nul",
            V311,
            &[0x30, 0x04, 0, 2, b'a', 0],
            NullCharacter("topic name"),
        ),
        case(
            "publish_topic_longer_than_packet",
            V311,
            &[0x30, 0x03, 0, 5, b'a'],
            Truncated {
                packet: T::Publish,
                field: "topic name",
            },
        ),
        case(
            "publish_qos1_without_packet_id",
            V311,
            &[0x32, 0x03, 0, 1, b't'],
            Truncated {
                packet: T::Publish,
                field: "packet identifier",
            },
        ),
        case(
            "publish_v5_without_property_length",
            V5,
            &[0x30, 0x03, 0, 1, b't'],
            Truncated {
                packet: T::Publish,
                field: "property length",
            },
        ),
        case(
            "publish_properties_longer_than_packet",
            V5,
            &[0x30, 0x05, 0, 1, b't', 0x05, 0x01],
            Truncated {
                packet: T::Publish,
                field: "properties",
            },
        ),
        case(
            "publish_property_value_cut",
            V5,
            &[0x30, 0x07, 0, 1, b't', 0x03, 0x02, 0, 0],
            Truncated {
                packet: T::Publish,
                field: "property",
            },
        ),
        case(
            "publish_unknown_property",
            V5,
            &[0x30, 0x06, 0, 1, b't', 0x02, 0x05, 0x00],
            UnknownProperty(0x05),
        ),
        case(
            "publish_unknown_two_byte_property_id",
            V5,
            &[0x30, 0x07, 0, 1, b't', 0x03, 0x80, 0x01, 0],
            UnknownProperty(0x80),
        ),
        case(
            "publish_session_expiry_not_allowed",
            V5,
            &[0x30, 0x09, 0, 1, b't', 0x05, 0x11, 0, 0, 0, 1],
            not_allowed(PropertyId::SESSION_EXPIRY_INTERVAL, "PUBLISH"),
        ),
        case(
            "publish_duplicate_message_expiry",
            V5,
            &[
                0x30, 0x0e, 0, 1, b't', 0x0a, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2,
            ],
            DuplicateProperty(PropertyId::MESSAGE_EXPIRY_INTERVAL),
        ),
        case(
            "publish_duplicate_topic_alias",
            V5,
            &[0x30, 0x0a, 0, 1, b't', 0x06, 0x23, 0, 1, 0x23, 0, 2],
            DuplicateProperty(PropertyId::TOPIC_ALIAS),
        ),
        case(
            "publish_topic_alias_0",
            V5,
            &[0x30, 0x07, 0, 1, b't', 0x03, 0x23, 0, 0],
            invalid_value(PropertyId::TOPIC_ALIAS, 0),
        ),
        case(
            "publish_subscription_identifier_0",
            V5,
            &[0x30, 0x06, 0, 1, b't', 0x02, 0x0b, 0x00],
            invalid_value(PropertyId::SUBSCRIPTION_IDENTIFIER, 0),
        ),
        case(
            "publish_response_topic_wildcard",
            V5,
            &[0x30, 0x09, 0, 1, b't', 0x05, 0x08, 0, 2, b'a', b'#'],
            InvalidTopicName(TopicError::WildcardInName),
        ),
        case(
            "publish_user_property_invalid_utf8",
            V5,
            &[
                0x30, 0x0c, 0, 1, b't', 0x08, 0x26, 0, 1, 0xff, 0, 1, b'v', 0,
            ],
            InvalidUtf8("user property name"),
        ),
        // --- CONNECT ---
        case(
            "connect_protocol_name_mqisdp",
            V5,
            &[
                0x10, 0x0e, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 0x02, 0, 0, 0, 0,
            ],
            InvalidProtocolName,
        ),
        case(
            "connect_protocol_level_3",
            V5,
            &[
                0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 3, 0x02, 0, 0, 0, 0,
            ],
            UnsupportedProtocolLevel(3),
        ),
        case(
            "connect_protocol_level_6",
            V5,
            &[
                0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 6, 0x02, 0, 0, 0, 0,
            ],
            UnsupportedProtocolLevel(6),
        ),
        case(
            "connect_reserved_flag",
            V5,
            &[
                0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x03, 0, 0, 0, 0,
            ],
            ConnectReservedFlag,
        ),
        case(
            "connect_will_qos_without_will",
            V5,
            &[
                0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x0a, 0, 0, 0, 0,
            ],
            WillFieldsWithoutWill,
        ),
        case(
            "connect_will_retain_without_will",
            V5,
            &[
                0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x22, 0, 0, 0, 0,
            ],
            WillFieldsWithoutWill,
        ),
        case(
            "connect_will_qos_3",
            V5,
            &[
                0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x1e, 0, 0, 0, 0,
            ],
            InvalidWillQoS,
        ),
        case(
            "connect_v311_password_without_user_name",
            V5,
            &[
                0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x42, 0, 0, 0, 0,
            ],
            PasswordWithoutUsername,
        ),
        case(
            "connect_client_id_cut",
            V5,
            &[
                0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, 9,
            ],
            Truncated {
                packet: T::Connect,
                field: "client identifier",
            },
        ),
        case(
            "connect_will_topic_wildcard",
            V5,
            &[
                0x10, 0x11, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x06, 0, 0, 0, 0, 0, 1, b'+', 0, 0,
            ],
            InvalidTopicName(TopicError::WildcardInName),
        ),
        case(
            "connect_trailing_byte",
            V5,
            &[
                0x10, 0x0d, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, 0, 0xaa,
            ],
            TrailingBytes {
                packet: T::Connect,
                extra: 1,
            },
        ),
        case(
            "connect_topic_alias_not_allowed",
            V5,
            &[
                0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 0, 0x03, 0x23, 0, 1, 0, 0,
            ],
            not_allowed(PropertyId::TOPIC_ALIAS, "CONNECT"),
        ),
        case(
            "connect_will_delay_not_allowed",
            V5,
            &[
                0x10, 0x12, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 0, 0x05, 0x18, 0, 0, 0, 1, 0,
                0,
            ],
            not_allowed(PropertyId::WILL_DELAY_INTERVAL, "CONNECT"),
        ),
        case(
            "connect_maximum_packet_size_0",
            V5,
            &[
                0x10, 0x12, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 0, 0x05, 0x27, 0, 0, 0, 0, 0,
                0,
            ],
            invalid_value(PropertyId::MAXIMUM_PACKET_SIZE, 0),
        ),
        case(
            "connect_request_problem_information_2",
            V5,
            &[
                0x10, 0x0f, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 0, 0x02, 0x17, 2, 0, 0,
            ],
            invalid_value(PropertyId::REQUEST_PROBLEM_INFORMATION, 2),
        ),
        case(
            "connect_receive_maximum_0",
            V5,
            &[
                0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 0, 0x03, 0x21, 0, 0, 0, 0,
            ],
            invalid_value(PropertyId::RECEIVE_MAXIMUM, 0),
        ),
        case(
            "connect_will_property_session_expiry",
            V5,
            &[
                0x10, 0x18, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x06, 0, 0, 0, 0, 0, 0x05, 0x11, 0, 0,
                0, 1, 0, 1, b'w', 0, 0,
            ],
            not_allowed(PropertyId::SESSION_EXPIRY_INTERVAL, "will properties"),
        ),
        // --- CONNACK ---
        case(
            "connack_reserved_flags",
            V311,
            &[0x20, 0x02, 0x02, 0x00],
            ConnAckReservedFlags,
        ),
        case(
            "connack_v311_return_code_6",
            V311,
            &[0x20, 0x02, 0x00, 0x06],
            ReservedConnectReturnCode(6),
        ),
        case(
            "connack_session_present_on_error_v5",
            V5,
            &[0x20, 0x03, 0x01, 0x80, 0x00],
            SessionPresentOnError,
        ),
        case(
            "connack_session_present_on_refusal_v311",
            V311,
            &[0x20, 0x02, 0x01, 0x05],
            SessionPresentOnError,
        ),
        case(
            "connack_duplicate_receive_maximum",
            V5,
            &[0x20, 0x09, 0, 0, 0x06, 0x21, 0, 1, 0x21, 0, 2],
            DuplicateProperty(PropertyId::RECEIVE_MAXIMUM),
        ),
        case(
            "connack_maximum_qos_2",
            V5,
            &[0x20, 0x05, 0, 0, 0x02, 0x24, 0x02],
            invalid_value(PropertyId::MAXIMUM_QOS, 2),
        ),
        case(
            "connack_retain_available_2",
            V5,
            &[0x20, 0x05, 0, 0, 0x02, 0x25, 0x02],
            invalid_value(PropertyId::RETAIN_AVAILABLE, 2),
        ),
        case(
            "connack_cut_v311",
            V311,
            &[0x20, 0x01, 0x00],
            Truncated {
                packet: T::ConnAck,
                field: "connect reason code",
            },
        ),
        // --- acknowledgments ---
        case(
            "puback_packet_id_0",
            V311,
            &[0x40, 0x02, 0, 0],
            ZeroPacketId(T::PubAck),
        ),
        case(
            "pubrel_cut",
            V311,
            &[0x62, 0x01, 0x00],
            Truncated {
                packet: T::PubRel,
                field: "packet identifier",
            },
        ),
        case(
            "puback_v311_with_reason_code",
            V311,
            &[0x40, 0x03, 0, 1, 0x10],
            TrailingBytes {
                packet: T::PubAck,
                extra: 1,
            },
        ),
        case(
            "pubcomp_v5_property_not_allowed",
            V5,
            &[0x70, 0x06, 0, 1, 0, 0x02, 0x23, 0],
            not_allowed(PropertyId::TOPIC_ALIAS, "PUBACK, PUBREC, PUBREL or PUBCOMP"),
        ),
        // --- SUBSCRIBE / SUBACK ---
        case(
            "subscribe_packet_id_0",
            V311,
            &[0x82, 0x06, 0, 0, 0, 1, b'a', 0],
            ZeroPacketId(T::Subscribe),
        ),
        case(
            "subscribe_without_filters_v311",
            V311,
            &[0x82, 0x02, 0, 1],
            NoSubscriptions,
        ),
        case(
            "subscribe_without_filters_v5",
            V5,
            &[0x82, 0x03, 0, 1, 0],
            NoSubscriptions,
        ),
        case(
            "subscribe_v311_options_reserved",
            V311,
            &[0x82, 0x06, 0, 1, 0, 1, b'a', 0x04],
            SubscriptionOptionsReserved(0x04),
        ),
        case(
            "subscribe_v5_options_reserved",
            V5,
            &[0x82, 0x07, 0, 1, 0, 0, 1, b'a', 0x40],
            SubscriptionOptionsReserved(0x40),
        ),
        case(
            "subscribe_qos_3",
            V311,
            &[0x82, 0x06, 0, 1, 0, 1, b'a', 0x03],
            InvalidQoS,
        ),
        case(
            "subscribe_retain_handling_3",
            V5,
            &[0x82, 0x07, 0, 1, 0, 0, 1, b'a', 0x30],
            InvalidRetainHandling,
        ),
        case(
            "subscribe_no_local_on_shared",
            V5,
            &[
                0x82, 0x10, 0, 1, 0, 0, 0x0a, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/',
                b't', 0x04,
            ],
            NoLocalOnSharedSubscription,
        ),
        case(
            "subscribe_hash_not_last",
            V311,
            &[0x82, 0x0a, 0, 1, 0, 5, b'a', b'/', b'#', b'/', b'b', 0],
            InvalidTopicFilter(TopicError::MultiLevelWildcardNotLast),
        ),
        case(
            "subscribe_plus_not_alone",
            V311,
            &[0x82, 0x07, 0, 1, 0, 2, b'a', b'+', 0],
            InvalidTopicFilter(TopicError::SingleLevelWildcardNotAlone),
        ),
        case(
            "subscribe_share_without_filter",
            V5,
            &[
                0x82, 0x0e, 0, 1, 0, 0, 0x08, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', 0,
            ],
            InvalidTopicFilter(TopicError::InvalidSharedSubscription),
        ),
        case(
            "subscribe_empty_filter",
            V311,
            &[0x82, 0x05, 0, 1, 0, 0, 0],
            InvalidTopicFilter(TopicError::Empty),
        ),
        case(
            "subscribe_missing_options",
            V311,
            &[0x82, 0x05, 0, 1, 0, 1, b'a'],
            Truncated {
                packet: T::Subscribe,
                field: "subscription options",
            },
        ),
        case(
            "subscribe_duplicate_subscription_identifier",
            V5,
            &[0x82, 0x0a, 0, 1, 0x04, 0x0b, 1, 0x0b, 2, 0, 1, b'a', 0],
            DuplicateProperty(PropertyId::SUBSCRIPTION_IDENTIFIER),
        ),
        case(
            "subscribe_subscription_identifier_0",
            V5,
            &[0x82, 0x08, 0, 1, 0x02, 0x0b, 0, 0, 1, b'a', 0],
            invalid_value(PropertyId::SUBSCRIPTION_IDENTIFIER, 0),
        ),
        case(
            "suback_v311_reserved_code",
            V311,
            &[0x90, 0x03, 0, 1, 0x03],
            ReservedSubAckCode(0x03),
        ),
        case(
            "suback_without_codes",
            V311,
            &[0x90, 0x02, 0, 1],
            Truncated {
                packet: T::SubAck,
                field: "reason codes",
            },
        ),
        // --- UNSUBSCRIBE / UNSUBACK ---
        case(
            "unsubscribe_without_filters",
            V311,
            &[0xa2, 0x02, 0, 1],
            NoUnsubscriptions,
        ),
        case(
            "unsubscribe_hash_not_last",
            V5,
            &[0xa2, 0x08, 0, 1, 0, 0, 3, b'#', b'/', b'a'],
            InvalidTopicFilter(TopicError::MultiLevelWildcardNotLast),
        ),
        case(
            "unsubscribe_subscription_identifier_not_allowed",
            V5,
            &[0xa2, 0x08, 0, 1, 0x02, 0x0b, 1, 0, 1, b'a'],
            not_allowed(PropertyId::SUBSCRIPTION_IDENTIFIER, "UNSUBSCRIBE"),
        ),
        case(
            "unsuback_v5_without_codes",
            V5,
            &[0xb0, 0x03, 0, 1, 0],
            Truncated {
                packet: T::UnsubAck,
                field: "reason codes",
            },
        ),
        case(
            "unsuback_v311_trailing",
            V311,
            &[0xb0, 0x03, 0, 1, 0],
            TrailingBytes {
                packet: T::UnsubAck,
                extra: 1,
            },
        ),
        // --- PING / DISCONNECT / AUTH ---
        case(
            "pingreq_with_body",
            V311,
            &[0xc0, 0x01, 0x00],
            TrailingBytes {
                packet: T::PingReq,
                extra: 1,
            },
        ),
        case(
            "disconnect_v311_with_body",
            V311,
            &[0xe0, 0x01, 0x00],
            TrailingBytes {
                packet: T::Disconnect,
                extra: 1,
            },
        ),
        case(
            "disconnect_topic_alias_not_allowed",
            V5,
            &[0xe0, 0x05, 0x00, 0x03, 0x23, 0, 1],
            not_allowed(PropertyId::TOPIC_ALIAS, "DISCONNECT"),
        ),
        case(
            "auth_duplicate_method",
            V5,
            &[0xf0, 0x0a, 0x18, 0x08, 0x15, 0, 1, b'a', 0x15, 0, 1, b'b'],
            DuplicateProperty(PropertyId::AUTHENTICATION_METHOD),
        ),
    ]
}

#[test]
fn table_has_at_least_sixty_named_cases() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be unique");
}

#[test]
fn rejects_every_malformed_input_with_its_exact_error() {
    let mut failures = Vec::new();
    for case in cases() {
        let mut buf = BytesMut::from(case.bytes);
        let got = decode(&mut buf, case.version, u32::MAX);
        if got != Err(case.error.clone()) {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name, case.error, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_error_names_its_reason_code() {
    for case in cases() {
        let code = case.error.reason_code();
        assert!(code.is_error(), "{}: {code}", case.name);
        assert!(!case.error.to_string().is_empty());
    }
    assert_eq!(InvalidQoS.reason_code(), ReasonCode::MALFORMED_PACKET);
    assert_eq!(
        DuplicateProperty(PropertyId::TOPIC_ALIAS).reason_code(),
        ReasonCode::PROTOCOL_ERROR
    );
    assert_eq!(
        PacketTooLarge { size: 2, max: 1 }.reason_code(),
        ReasonCode::PACKET_TOO_LARGE
    );
    assert_eq!(
        InvalidTopicName(TopicError::Empty).reason_code(),
        ReasonCode::TOPIC_NAME_INVALID
    );
}

#[test]
fn rejects_packet_too_large_from_the_fixed_header_alone() {
    // A PUBLISH announcing 1,000 bytes: refused after two bytes, nothing buffered.
    let mut buf = BytesMut::from(&[0x30, 0xe8, 0x07][..]);
    assert_eq!(
        decode(&mut buf, V5, 512),
        Err(PacketTooLarge {
            size: 1003,
            max: 512
        })
    );
    // Exactly at the limit is fine (and still incomplete).
    let mut buf = BytesMut::from(&[0x30, 0xe8, 0x07][..]);
    assert_eq!(decode(&mut buf, V5, 1003), Ok(None));
}

/// A 5.0 PUBLISH to "t" carrying `n` empty user properties (5 bytes each on the wire).
fn publish_with_user_properties(n: usize) -> BytesMut {
    let var_int = |mut v: usize, out: &mut Vec<u8>| loop {
        let byte = (v % 128) as u8;
        v /= 128;
        if v == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    };
    let mut properties = Vec::new();
    var_int(5 * n, &mut properties);
    for _ in 0..n {
        properties.extend_from_slice(&[0x26, 0x00, 0x00, 0x00, 0x00]); // user property "" = ""
    }
    let mut body = vec![0x00, 0x01, b't']; // topic "t", QoS 0: no packet identifier
    body.extend_from_slice(&properties);
    let mut packet = vec![0x30];
    var_int(body.len(), &mut packet);
    packet.extend_from_slice(&body);
    BytesMut::from(&packet[..])
}

#[test]
fn rejects_more_properties_than_max_properties_and_accepts_that_many() {
    let mut at_limit = publish_with_user_properties(mqttwire::MAX_PROPERTIES);
    assert!(matches!(decode(&mut at_limit, V5, u32::MAX), Ok(Some(_))));
    let mut over = publish_with_user_properties(mqttwire::MAX_PROPERTIES + 1);
    let error = decode(&mut over, V5, u32::MAX).expect_err("too many");
    assert_eq!(error, TooManyProperties(mqttwire::MAX_PROPERTIES));
    assert_eq!(
        error.reason_code(),
        ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR
    );
}
