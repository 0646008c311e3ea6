//! What the engine reports: events for the application, actions for the driver, and the
//! errors of each kind (the caller's, the server's, the session's).

use crate::error::{DecodeError, EncodeError};
use crate::packet::Publish;
use crate::property::Properties;
use crate::reason::ReasonCode;
use crate::time::{Duration, Instant, millis};
use crate::types::PacketType;

/// Identifies one publish, subscribe or unsubscribe command in later events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(pub u64);

/// Something the driver must do with the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Open a new connection (TCP, TLS or WebSocket) and call
    /// `handle_connection_opened` when it is up, or `handle_connection_lost` if it fails.
    /// `attempt` counts attempts since the last successful connection, from 0.
    Open {
        /// Attempts made since the last successful connection.
        attempt: u32,
    },
    /// Send what `poll_transmit` still holds, then close the connection. The engine
    /// already counts it as closed: do not call `handle_connection_lost` for it.
    Close,
}

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectedBy {
    /// The application asked for it.
    Client,
    /// The server sent DISCONNECT, or refused the CONNECT.
    Server,
    /// The transport broke, or the engine gave up on a silent server (keep alive, CONNACK
    /// timeout) or on a server that broke the protocol.
    Transport,
}

/// What happened, for the application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// CONNACK accepted the connection.
    Connected {
        /// The server resumed the session.
        session_present: bool,
        /// CONNACK properties (5.0): limits, assigned client id, server keep alive, ...
        properties: Properties,
    },
    /// A message arrived (topic aliases already resolved). For QoS 2 it arrives once.
    Message(Publish),
    /// A publish finished: written (QoS 0), PUBACK (QoS 1) or PUBCOMP (QoS 2) received.
    /// `reason_code` is the server's (5.0): 0x10 "no matching subscribers" is a success;
    /// a code of 0x80 or more means the server refused the message.
    PublishComplete {
        /// The publish.
        handle: Handle,
        /// The server's reason code; Success on 3.1.1.
        reason_code: ReasonCode,
    },
    /// A publish cannot be delivered.
    PublishFailed {
        /// The publish.
        handle: Handle,
        /// Why.
        error: PublishError,
    },
    /// SUBACK arrived; one code per filter (granted QoS, or an error).
    Subscribed {
        /// The subscribe command; `None` for an automatic resubscribe.
        handle: Option<Handle>,
        /// The codes, in the order of the filters.
        reason_codes: Vec<ReasonCode>,
    },
    /// UNSUBACK arrived; one code per filter on 5.0, none on 3.1.1.
    Unsubscribed {
        /// The unsubscribe command.
        handle: Handle,
        /// The codes, in the order of the filters.
        reason_codes: Vec<ReasonCode>,
    },
    /// A subscribe or unsubscribe command cannot be done (the client was stopped).
    RequestFailed {
        /// The command.
        handle: Handle,
    },
    /// The connection ended (or an attempt to connect failed).
    Disconnected {
        /// Who ended it.
        by: DisconnectedBy,
        /// The reason: the server's code, or the code the client sent or would have sent.
        reason_code: ReasonCode,
        /// DISCONNECT or CONNACK properties from the server (reason string, server
        /// reference for 0x9C/0x9D redirection).
        properties: Properties,
    },
    /// The next attempt to connect is scheduled.
    Reconnecting {
        /// When, on the caller's clock.
        at: Instant,
        /// Which attempt, from 1.
        attempt: u32,
    },
    /// Reconnect gave up after its maximum number of attempts; the client is stopped.
    ReconnectGaveUp,
    /// The server broke the protocol; the connection is being closed with `reason_code`.
    ProtocolError {
        /// The reason code sent in DISCONNECT (5.0).
        reason_code: ReasonCode,
        /// What was wrong.
        violation: ProtocolViolation,
    },
    /// An AUTH packet from the server (5.0 enhanced authentication); answer with
    /// `Client::auth`.
    Auth {
        /// Continue authentication, re-authenticate or success.
        reason_code: ReasonCode,
        /// Authentication method, data and reason string.
        properties: Properties,
    },
}

/// How the server broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// Bytes that do not decode.
    Decode(DecodeError),
    /// A packet the server must not send, or not now.
    UnexpectedPacket(PacketType),
    /// A SUBACK or UNSUBACK with a different number of codes than filters.
    ReasonCodeCount {
        /// SUBACK or UNSUBACK.
        packet: PacketType,
        /// Filters in the request.
        expected: usize,
        /// Codes received.
        got: usize,
    },
    /// A topic alias above the maximum this client announced [MQTT-3.3.2-9].
    TopicAliasOutOfRange {
        /// The alias received.
        alias: u16,
        /// The maximum announced.
        max: u16,
    },
    /// An empty topic with an alias that was never set on this connection.
    UnknownTopicAlias(u16),
    /// More unreleased QoS 2 messages than the receive maximum this client announced.
    ReceiveMaximumExceeded(u16),
    /// CONNACK did not arrive in time.
    ConnAckTimeout(Duration),
    /// PINGRESP did not arrive in time.
    PingTimeout(Duration),
}

error_table!(ProtocolViolation {
    ProtocolViolation::Decode(e) => "malformed packet", ": {}", e;
    ProtocolViolation::UnexpectedPacket(packet) => "packet not expected from the server now", ": {}", packet;
    ProtocolViolation::ReasonCodeCount { packet, expected, got } => "acknowledgment with a different number of reason codes than filters", ": {} has {} for {}", packet, got, expected;
    ProtocolViolation::TopicAliasOutOfRange { alias, max } => "[MQTT-3.3.2-9] topic alias above the maximum", ": {} over {}", alias, max;
    ProtocolViolation::UnknownTopicAlias(alias) => "topic alias never set on this connection", ": {}", alias;
    ProtocolViolation::ReceiveMaximumExceeded(max) => "[MQTT-3.3.4-9] more unreleased QoS 2 messages than the receive maximum", " of {}", max;
    ProtocolViolation::ConnAckTimeout(d) => "no CONNACK in time", ": within {} ms", millis(*d);
    ProtocolViolation::PingTimeout(d) => "no PINGRESP in time", ": within {} ms", millis(*d);
});

impl std::error::Error for ProtocolViolation {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProtocolViolation::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for ProtocolViolation {
    fn from(e: DecodeError) -> Self {
        ProtocolViolation::Decode(e)
    }
}

impl ProtocolViolation {
    /// The reason code for the DISCONNECT the client sends (5.0).
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            ProtocolViolation::Decode(e) => e.reason_code(),
            ProtocolViolation::TopicAliasOutOfRange { .. }
            | ProtocolViolation::UnknownTopicAlias(_) => ReasonCode::TOPIC_ALIAS_INVALID,
            ProtocolViolation::ReceiveMaximumExceeded(_) => ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
            ProtocolViolation::ConnAckTimeout(_) | ProtocolViolation::PingTimeout(_) => {
                ReasonCode::KEEP_ALIVE_TIMEOUT
            }
            _ => ReasonCode::PROTOCOL_ERROR,
        }
    }
}

/// Why a publish failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// The server refused it (PUBACK or PUBREC with a code of 0x80 or more).
    Refused(ReasonCode),
    /// A QoS 0 message given while offline, with the drop policy.
    DroppedOffline,
    /// The client reconnected without a session and was told not to send it again.
    SessionLost,
    /// Larger than the server's maximum packet size.
    PacketTooLarge {
        /// The packet's size.
        size: usize,
        /// The server's maximum packet size.
        max: u32,
    },
    /// The client was stopped before it could send the message.
    Stopped,
}

error_table!(PublishError {
    PublishError::Refused(code) => "the server refused the message", ": {}", code;
    PublishError::DroppedOffline => "dropped: QoS 0 message while offline";
    PublishError::SessionLost => "the session holding the message ended";
    PublishError::PacketTooLarge { size, max } => "packet larger than the server's maximum packet size", ": {} bytes, over {}", size, max;
    PublishError::Stopped => "the client was stopped before the message was sent";
});

impl std::error::Error for PublishError {}

/// A command the engine cannot take. Nothing was queued or sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// `connect` while already started.
    AlreadyStarted,
    /// The commands waiting to be sent (offline, or behind the in-flight window) would pass
    /// [`ClientOptions::max_queued_bytes`](super::ClientOptions::max_queued_bytes) with this
    /// one. Retry once the queue has drained, or raise the limit.
    QueueFull(usize),
    /// The packet cannot be encoded (empty filter list, a property it may not carry, a
    /// 5.0-only feature on 3.1.1, ...).
    Invalid(EncodeError),
    /// QoS above the server's Maximum QoS (5.0).
    QoSNotSupported {
        /// The QoS asked for.
        requested: u8,
        /// The server's maximum.
        max: u8,
    },
    /// Retained publish to a server without retain (5.0).
    RetainNotSupported,
    /// Larger than the server's maximum packet size.
    PacketTooLarge {
        /// The packet's size.
        size: usize,
        /// The server's maximum.
        max: u32,
    },
    /// AUTH on MQTT 3.1.1, or while not connected.
    AuthUnavailable,
    /// [`Client::restore`](super::Client::restore) was given bytes that are not a snapshot.
    BadSnapshot,
}

error_table!(ClientError {
    ClientError::AlreadyStarted => "the client is already started";
    ClientError::QueueFull(max) => "the queue of commands waiting to be sent is full", ": its limit is {} bytes (ClientOptions::max_queued_bytes)", max;
    ClientError::Invalid(e) => "invalid packet", ": {}", e;
    ClientError::QoSNotSupported { requested, max } => "QoS above the server's maximum", ": {} over {}", requested, max;
    ClientError::RetainNotSupported => "the server does not support retained messages";
    ClientError::PacketTooLarge { size, max } => "packet larger than the server's maximum packet size", ": {} bytes, over {}", size, max;
    ClientError::AuthUnavailable => "AUTH needs an MQTT 5.0 connection";
    ClientError::BadSnapshot => "not a snapshot";
});

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

impl From<EncodeError> for ClientError {
    fn from(e: EncodeError) -> Self {
        ClientError::Invalid(e)
    }
}
