//! Errors as JavaScript sees them: an `Error` with a stable `code` (and the MQTT
//! `reasonCode` where there is one).
//!
//! Messages are the protocol crate's formatting-free `message()` texts (the same table its
//! `Display` comes from) with details appended as static pieces and decimal numbers, never
//! with `core::fmt` (`format!`, `to_string`, `Display`): formatting machinery would add
//! several KB to the wasm.

use js_sys::{Error, Reflect};
use mqttwire::client::{ClientError, ProtocolViolation, PublishError};
use mqttwire::{EncodeError, Instant, ReasonCode, TopicError};
use wasm_bindgen::JsValue;

use crate::contract::ErrorCode;

/// An `Error` with `message`, `code` and, if given, `reasonCode`.
pub(crate) fn error(code: ErrorCode, message: &str, reason_code: Option<u8>) -> JsValue {
    let error = Error::new(message);
    error.set_name("MqttError");
    let _ = Reflect::set(&error, &"code".into(), &code.as_str().into());
    if let Some(reason) = reason_code {
        let _ = Reflect::set(&error, &"reasonCode".into(), &JsValue::from(reason));
    }
    error.into()
}

/// An invalid option or argument: code `INVALID_OPTION`.
pub(crate) fn invalid(message: &str) -> JsValue {
    error(ErrorCode::InvalidOption, message, None)
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
    e.message()
}

/// `message: detail`.
fn detailed(message: &str, detail: &[&str]) -> String {
    let mut out = concat(&[message, ": "]);
    for part in detail {
        out.push_str(part);
    }
    out
}

/// Why a packet the caller built cannot be encoded.
fn encode_error(e: &EncodeError) -> String {
    let message = e.message();
    match e {
        EncodeError::FieldTooLong(field)
        | EncodeError::NullCharacter(field)
        | EncodeError::NotInVersion(field) => detailed(message, &[field]),
        EncodeError::Empty(packet) => detailed(message, &[packet.name()]),
        EncodeError::PropertyNotAllowed { property, context } => {
            detailed(message, &[property.name().unwrap_or("?"), " in ", context])
        }
        EncodeError::InvalidPropertyValue(property) => {
            detailed(message, &[property.name().unwrap_or("?")])
        }
        EncodeError::ReasonCodeNotInVersion(code, packet) => {
            detailed(message, &[&reason_text(*code), " in ", packet.name()])
        }
        _ => message.into(),
    }
}

/// "message: N bytes, over M" for a packet larger than the server takes.
fn too_large(message: &str, size: usize, max: u32) -> String {
    detailed(
        message,
        &[&decimal(size as u64), " bytes, over ", &decimal(max)],
    )
}

/// A command the engine refused, with its code.
pub(crate) fn client_error(e: &ClientError) -> JsValue {
    let message = e.message();
    let (code, message, reason) = match e {
        ClientError::QueueFull(max) => (
            ErrorCode::QueueFull,
            detailed(
                message,
                &["maxQueuedBytes is ", &decimal(*max as u64), " bytes"],
            ),
            None,
        ),
        ClientError::QoSNotSupported { requested, max } => (
            ErrorCode::QosNotSupported,
            detailed(message, &[&decimal(*requested), " over ", &decimal(*max)]),
            Some(0x9B),
        ),
        ClientError::RetainNotSupported => {
            (ErrorCode::RetainNotSupported, message.into(), Some(0x9A))
        }
        ClientError::PacketTooLarge { size, max } => (
            ErrorCode::PacketTooLarge,
            too_large(message, *size, *max),
            Some(0x95),
        ),
        ClientError::Invalid(e) => (
            ErrorCode::InvalidPacket,
            detailed(message, &[&encode_error(e)]),
            None,
        ),
        _ => (ErrorCode::ClientError, message.into(), None),
    };
    error(code, &message, reason)
}

/// Why a publish failed, with its code.
pub(crate) fn publish_error(e: &PublishError) -> JsValue {
    let message = e.message();
    let (code, message, reason) = match e {
        PublishError::Refused(r) => (
            ErrorCode::PublishRefused,
            detailed(message, &[&reason_text(*r)]),
            Some(r.0),
        ),
        PublishError::DroppedOffline => (ErrorCode::DroppedOffline, message.into(), None),
        PublishError::SessionLost => (ErrorCode::SessionLost, message.into(), None),
        PublishError::PacketTooLarge { size, max } => (
            ErrorCode::PacketTooLarge,
            too_large(message, *size, *max),
            Some(0x95),
        ),
        _ => (ErrorCode::ClientEnded, message.into(), None),
    };
    error(code, &message, reason)
}

/// How the server broke the protocol: code `PROTOCOL_ERROR` with the reason code sent.
pub(crate) fn protocol_error(violation: &ProtocolViolation, reason_code: ReasonCode) -> JsValue {
    let m = violation.message();
    let message = match violation {
        // The reason code rather than the decode error's own text: the decoder's table of
        // messages would be linked in for one rarely seen error.
        ProtocolViolation::Decode(e) => detailed(m, &[&reason_text(e.reason_code())]),
        ProtocolViolation::UnexpectedPacket(packet) => detailed(m, &[packet.name()]),
        ProtocolViolation::ReasonCodeCount {
            packet,
            expected,
            got,
        } => detailed(
            m,
            &[
                packet.name(),
                " has ",
                &decimal(*got as u64),
                " for ",
                &decimal(*expected as u64),
            ],
        ),
        ProtocolViolation::TopicAliasOutOfRange { alias, max } => {
            detailed(m, &[&decimal(*alias), " over ", &decimal(*max)])
        }
        ProtocolViolation::UnknownTopicAlias(alias) => detailed(m, &[&decimal(*alias)]),
        ProtocolViolation::ReceiveMaximumExceeded(max) => concat(&[m, " of ", &decimal(*max)]),
        ProtocolViolation::ConnAckTimeout(d) | ProtocolViolation::PingTimeout(d) => {
            // Through Instant: its whole milliseconds need no u128 arithmetic.
            let ms = (Instant::ORIGIN + *d).as_millis();
            detailed(m, &["within ", &decimal(ms), " ms"])
        }
        _ => m.into(),
    };
    error(ErrorCode::ProtocolError, &message, Some(reason_code.0))
}
