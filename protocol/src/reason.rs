//! MQTT 5.0 reason codes (spec 2.4), kept as the raw byte so that values this crate does
//! not know still round-trip and print.

use core::fmt;

/// A one-byte MQTT 5.0 reason code. Values below 0x80 report success, 0x80 and above
/// report failure. Unknown values are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ReasonCode(pub u8);

macro_rules! reason_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $text:literal;)*) => {
        impl ReasonCode {
            $($(#[$doc])* pub const $name: ReasonCode = ReasonCode($value);)*

            /// The spec's name for this code, or `None` for a value the spec does not define.
            /// Where one value has several names (0x00), the general one is given.
            pub const fn description(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

reason_codes! {
    /// 0x00: Success, Normal disconnection, or Granted QoS 0.
    SUCCESS = 0x00, "Success";
    /// 0x01: Granted QoS 1 (SUBACK).
    GRANTED_QOS_1 = 0x01, "Granted QoS 1";
    /// 0x02: Granted QoS 2 (SUBACK).
    GRANTED_QOS_2 = 0x02, "Granted QoS 2";
    /// 0x04: Disconnect with Will Message (DISCONNECT from a client).
    DISCONNECT_WITH_WILL = 0x04, "Disconnect with Will Message";
    /// 0x10: No matching subscribers (PUBACK, PUBREC).
    NO_MATCHING_SUBSCRIBERS = 0x10, "No matching subscribers";
    /// 0x11: No subscription existed (UNSUBACK).
    NO_SUBSCRIPTION_EXISTED = 0x11, "No subscription existed";
    /// 0x18: Continue authentication (AUTH).
    CONTINUE_AUTHENTICATION = 0x18, "Continue authentication";
    /// 0x19: Re-authenticate (AUTH).
    REAUTHENTICATE = 0x19, "Re-authenticate";
    /// 0x80: Unspecified error.
    UNSPECIFIED_ERROR = 0x80, "Unspecified error";
    /// 0x81: Malformed Packet.
    MALFORMED_PACKET = 0x81, "Malformed Packet";
    /// 0x82: Protocol Error.
    PROTOCOL_ERROR = 0x82, "Protocol Error";
    /// 0x83: Implementation specific error.
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83, "Implementation specific error";
    /// 0x84: Unsupported Protocol Version (CONNACK).
    UNSUPPORTED_PROTOCOL_VERSION = 0x84, "Unsupported Protocol Version";
    /// 0x85: Client Identifier not valid (CONNACK).
    CLIENT_IDENTIFIER_NOT_VALID = 0x85, "Client Identifier not valid";
    /// 0x86: Bad User Name or Password (CONNACK).
    BAD_USER_NAME_OR_PASSWORD = 0x86, "Bad User Name or Password";
    /// 0x87: Not authorized.
    NOT_AUTHORIZED = 0x87, "Not authorized";
    /// 0x88: Server unavailable (CONNACK).
    SERVER_UNAVAILABLE = 0x88, "Server unavailable";
    /// 0x89: Server busy.
    SERVER_BUSY = 0x89, "Server busy";
    /// 0x8A: Banned (CONNACK).
    BANNED = 0x8A, "Banned";
    /// 0x8B: Server shutting down (DISCONNECT).
    SERVER_SHUTTING_DOWN = 0x8B, "Server shutting down";
    /// 0x8C: Bad authentication method.
    BAD_AUTHENTICATION_METHOD = 0x8C, "Bad authentication method";
    /// 0x8D: Keep Alive timeout (DISCONNECT).
    KEEP_ALIVE_TIMEOUT = 0x8D, "Keep Alive timeout";
    /// 0x8E: Session taken over (DISCONNECT).
    SESSION_TAKEN_OVER = 0x8E, "Session taken over";
    /// 0x8F: Topic Filter invalid.
    TOPIC_FILTER_INVALID = 0x8F, "Topic Filter invalid";
    /// 0x90: Topic Name invalid.
    TOPIC_NAME_INVALID = 0x90, "Topic Name invalid";
    /// 0x91: Packet Identifier in use.
    PACKET_IDENTIFIER_IN_USE = 0x91, "Packet Identifier in use";
    /// 0x92: Packet Identifier not found.
    PACKET_IDENTIFIER_NOT_FOUND = 0x92, "Packet Identifier not found";
    /// 0x93: Receive Maximum exceeded.
    RECEIVE_MAXIMUM_EXCEEDED = 0x93, "Receive Maximum exceeded";
    /// 0x94: Topic Alias invalid.
    TOPIC_ALIAS_INVALID = 0x94, "Topic Alias invalid";
    /// 0x95: Packet too large.
    PACKET_TOO_LARGE = 0x95, "Packet too large";
    /// 0x96: Message rate too high.
    MESSAGE_RATE_TOO_HIGH = 0x96, "Message rate too high";
    /// 0x97: Quota exceeded.
    QUOTA_EXCEEDED = 0x97, "Quota exceeded";
    /// 0x98: Administrative action.
    ADMINISTRATIVE_ACTION = 0x98, "Administrative action";
    /// 0x99: Payload format invalid.
    PAYLOAD_FORMAT_INVALID = 0x99, "Payload format invalid";
    /// 0x9A: Retain not supported.
    RETAIN_NOT_SUPPORTED = 0x9A, "Retain not supported";
    /// 0x9B: QoS not supported.
    QOS_NOT_SUPPORTED = 0x9B, "QoS not supported";
    /// 0x9C: Use another server (server redirection).
    USE_ANOTHER_SERVER = 0x9C, "Use another server";
    /// 0x9D: Server moved (server redirection).
    SERVER_MOVED = 0x9D, "Server moved";
    /// 0x9E: Shared Subscriptions not supported.
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E, "Shared Subscriptions not supported";
    /// 0x9F: Connection rate exceeded.
    CONNECTION_RATE_EXCEEDED = 0x9F, "Connection rate exceeded";
    /// 0xA0: Maximum connect time.
    MAXIMUM_CONNECT_TIME = 0xA0, "Maximum connect time";
    /// 0xA1: Subscription Identifiers not supported.
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1, "Subscription Identifiers not supported";
    /// 0xA2: Wildcard Subscriptions not supported.
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2, "Wildcard Subscriptions not supported";
}

impl ReasonCode {
    /// True for 0x80 and above: the operation failed [MQTT-2.4].
    pub const fn is_error(self) -> bool {
        self.0 >= 0x80
    }

    /// True for the codes a server uses to send the client elsewhere (0x9C, 0x9D).
    pub const fn is_redirect(self) -> bool {
        matches!(self.0, 0x9C | 0x9D)
    }
}

impl From<u8> for ReasonCode {
    fn from(value: u8) -> Self {
        ReasonCode(value)
    }
}

impl From<ReasonCode> for u8 {
    fn from(code: ReasonCode) -> Self {
        code.0
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.description() {
            Some(text) => write!(f, "{:#04x} {text}", self.0),
            None => write!(f, "{:#04x} (unknown reason code)", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_print_known_and_unknown_codes() {
        assert_eq!(
            ReasonCode::PACKET_TOO_LARGE.to_string(),
            "0x95 Packet too large"
        );
        assert_eq!(ReasonCode(0x7f).to_string(), "0x7f (unknown reason code)");
        assert!(ReasonCode::MALFORMED_PACKET.is_error());
        assert!(!ReasonCode::GRANTED_QOS_2.is_error());
        assert!(ReasonCode::SERVER_MOVED.is_redirect());
    }
}
