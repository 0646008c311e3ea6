//! Errors as JavaScript sees them: an `Error` with a stable `code` (and the MQTT
//! `reasonCode` where there is one).
//!
//! Messages are built from static pieces and decimal numbers, never with `core::fmt`
//! (`format!`, `to_string`, `Display`): formatting machinery and the protocol crate's
//! `Display` texts would add several KB to the wasm.

use js_sys::{Error, Reflect};
use mqttwire::client::{ClientError, ProtocolViolation, PublishError};
use mqttwire::{EncodeError, ReasonCode, TopicError};
use wasm_bindgen::JsValue;

/// An `Error` with `message`, `code` and, if given, `reasonCode`.
pub(crate) fn error(code: &str, message: &str, reason_code: Option<u8>) -> JsValue {
    let error = Error::new(message);
    error.set_name("MqttError");
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    if let Some(reason) = reason_code {
        let _ = Reflect::set(&error, &"reasonCode".into(), &JsValue::from(reason));
    }
    error.into()
}

/// An invalid option or argument: code `INVALID_OPTION`.
pub(crate) fn invalid(message: &str) -> JsValue {
    error("INVALID_OPTION", message, None)
}

/// Joins message parts.
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part);
    }
    out
}

/// `n` in decimal.
pub(crate) fn decimal(n: impl Into<u64>) -> String {
    let mut n = n.into();
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[i..].iter().map(|&d| char::from(d)).collect()
}

/// The low `digits` hex digits of `n`, lowercase.
pub(crate) fn hex(n: u64, digits: u32) -> String {
    (0..digits)
        .rev()
        .map(|i| char::from(b"0123456789abcdef"[(n >> (i * 4)) as usize & 0xf]))
        .collect()
}

/// A reason code as the protocol crate prints it: `0x87 Not authorized`.
pub(crate) fn reason_text(code: ReasonCode) -> String {
    concat(&[
        "0x",
        &hex(code.0.into(), 2),
        " ",
        code.description().unwrap_or("(unknown reason code)"),
    ])
}

/// What is wrong with a topic name or filter.
pub(crate) fn topic_error(e: &TopicError) -> &'static str {
    match e {
        TopicError::Empty => "topic is empty [MQTT-4.7.3-1]",
        TopicError::TooLong { .. } => "topic is over the limit of 65,535 bytes [MQTT-4.7.3-3]",
        TopicError::NullCharacter => "topic contains the null character U+0000 [MQTT-4.7.3-2]",
        TopicError::WildcardInName => {
            "topic name contains a wildcard character `+` or `#` [MQTT-3.3.2-2] [MQTT-4.7.0-1]"
        }
        TopicError::MultiLevelWildcardNotLast => {
            "`#` must stand alone in the last level of a topic filter [MQTT-4.7.1-1]"
        }
        TopicError::SingleLevelWildcardNotAlone => {
            "`+` must occupy a whole level of a topic filter [MQTT-4.7.1-2]"
        }
        _ => {
            "shared subscription needs `$share/{name}/{filter}` with a non-empty name free of \
             `/`, `+` and `#` [MQTT-4.8.2-1] [MQTT-4.8.2-2]"
        }
    }
}

/// Why a packet the caller built cannot be encoded.
fn encode_error(e: &EncodeError) -> String {
    match e {
        EncodeError::RemainingLengthTooLarge(_) => {
            "[MQTT-1.5.5] the packet is over the limit of 268,435,455 bytes".into()
        }
        EncodeError::FieldTooLong(field) => {
            concat(&["[MQTT-1.5.4] ", field, " is longer than 65,535 bytes"])
        }
        EncodeError::NullCharacter(field) => concat(&[
            "[MQTT-1.5.4-2] ",
            field,
            " contains the null character U+0000",
        ]),
        EncodeError::NotInVersion(what) => concat(&[what, " cannot be sent on MQTT 3.1.1"]),
        EncodeError::DupOnQoS0 => "[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH".into(),
        EncodeError::EmptyTopicWithoutAlias => {
            "[MQTT-3.3.2-1] empty topic name without a Topic Alias".into()
        }
        EncodeError::Empty(packet) => concat(&[packet.name(), " needs at least one entry"]),
        EncodeError::PropertyNotAllowed { property, context } => concat(&[
            "property ",
            property.name().unwrap_or("?"),
            " is not allowed (or not twice) in ",
            context,
        ]),
        EncodeError::InvalidPropertyValue(property) => concat(&[
            "property ",
            property.name().unwrap_or("?"),
            " has a value outside its range",
        ]),
        EncodeError::NoLocalOnSharedSubscription => {
            "[MQTT-3.8.3-4] no local set on a shared subscription".into()
        }
        EncodeError::ReasonCodeNotInVersion(code, packet) => concat(&[
            "reason code ",
            &reason_text(*code),
            " cannot be sent on MQTT 3.1.1 in ",
            packet.name(),
        ]),
        _ => "the packet cannot be encoded".into(),
    }
}

/// "packet of N bytes is larger than the server's maximum of M".
fn too_large(size: usize, max: u32) -> String {
    concat(&[
        "packet of ",
        &decimal(size as u64),
        " bytes is larger than the server's maximum of ",
        &decimal(max),
    ])
}

/// A command the engine refused, with its code.
pub(crate) fn client_error(e: &ClientError) -> JsValue {
    let (code, message, reason) = match e {
        ClientError::QueueFull(max) => (
            "QUEUE_FULL",
            concat(&[
                "queue full: maxQueuedBytes is ",
                &decimal(*max as u64),
                " bytes",
            ]),
            None,
        ),
        ClientError::QoSNotSupported { requested, max } => (
            "QOS_NOT_SUPPORTED",
            concat(&[
                "QoS ",
                &decimal(*requested),
                " is above the server's maximum of ",
                &decimal(*max),
            ]),
            Some(0x9B),
        ),
        ClientError::RetainNotSupported => (
            "RETAIN_NOT_SUPPORTED",
            "the server does not support retained messages".into(),
            Some(0x9A),
        ),
        ClientError::PacketTooLarge { size, max } => {
            ("PACKET_TOO_LARGE", too_large(*size, *max), Some(0x95))
        }
        ClientError::Invalid(e) => (
            "INVALID_PACKET",
            concat(&["invalid packet: ", &encode_error(e)]),
            None,
        ),
        ClientError::AlreadyStarted => {
            ("CLIENT_ERROR", "the client is already started".into(), None)
        }
        ClientError::AuthUnavailable => (
            "CLIENT_ERROR",
            "AUTH needs an MQTT 5.0 connection".into(),
            None,
        ),
        _ => (
            "CLIENT_ERROR",
            "the client cannot take this command".into(),
            None,
        ),
    };
    error(code, &message, reason)
}

/// Why a publish failed, with its code.
pub(crate) fn publish_error(e: &PublishError) -> JsValue {
    let (code, message, reason) = match e {
        PublishError::Refused(r) => (
            "PUBLISH_REFUSED",
            concat(&["the server refused the message: ", &reason_text(*r)]),
            Some(r.0),
        ),
        PublishError::DroppedOffline => (
            "DROPPED_OFFLINE",
            "dropped: QoS 0 message while offline".into(),
            None,
        ),
        PublishError::SessionLost => (
            "SESSION_LOST",
            "the session holding the message ended".into(),
            None,
        ),
        PublishError::PacketTooLarge { size, max } => {
            ("PACKET_TOO_LARGE", too_large(*size, *max), Some(0x95))
        }
        _ => (
            "CLIENT_ENDED",
            "the client was stopped before the message was sent".into(),
            None,
        ),
    };
    error(code, &message, reason)
}

/// How the server broke the protocol: code `PROTOCOL_ERROR` with the reason code sent.
pub(crate) fn protocol_error(violation: &ProtocolViolation, reason_code: ReasonCode) -> JsValue {
    let message = match violation {
        ProtocolViolation::Decode(e) => concat(&[
            "malformed packet from the server: ",
            &reason_text(e.reason_code()),
        ]),
        ProtocolViolation::UnexpectedPacket(packet) => {
            concat(&[packet.name(), " is not expected from the server now"])
        }
        ProtocolViolation::ReasonCodeCount {
            packet,
            expected,
            got,
        } => concat(&[
            packet.name(),
            " has ",
            &decimal(*got as u64),
            " reason codes for ",
            &decimal(*expected as u64),
            " filters",
        ]),
        ProtocolViolation::TopicAliasOutOfRange { alias, max } => concat(&[
            "[MQTT-3.3.2-9] topic alias ",
            &decimal(*alias),
            " above the maximum ",
            &decimal(*max),
        ]),
        ProtocolViolation::UnknownTopicAlias(alias) => concat(&[
            "topic alias ",
            &decimal(*alias),
            " was never set on this connection",
        ]),
        ProtocolViolation::ReceiveMaximumExceeded(max) => concat(&[
            "[MQTT-3.3.4-9] more than ",
            &decimal(*max),
            " unreleased QoS 2 messages",
        ]),
        ProtocolViolation::ConnAckTimeout(d) => {
            concat(&["no CONNACK within ", &decimal(d.as_millis() as u64), " ms"])
        }
        ProtocolViolation::PingTimeout(d) => {
            concat(&["no PINGRESP within ", &decimal(d.as_millis() as u64), " ms"])
        }
        _ => "the server broke the protocol".into(),
    };
    error("PROTOCOL_ERROR", &message, Some(reason_code.0))
}
