//! How a client connects and behaves: identity, session, keep alive, reconnect, offline
//! queue and MQTT 5.0 limits.

use bytes::Bytes;
use bytestring::ByteString;

use super::backoff::ReconnectOptions;
use crate::packet::Will;
use crate::property::Properties;
use crate::time::Duration;
use crate::types::ProtocolVersion;

/// What happens to a QoS 0 publish given while the client is not connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OfflineQos0 {
    /// Queue it with the rest and send it after reconnecting.
    #[default]
    Queue,
    /// Drop it at once; the publish fails with [`super::PublishError::DroppedOffline`].
    Drop,
}

/// Everything the engine needs to know to connect. Build with [`ClientOptions::new`] and
/// change the public fields.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// MQTT 3.1.1 or 5.0.
    pub version: ProtocolVersion,
    /// The client identifier; empty asks the server to assign one (5.0) or is allowed with
    /// a clean session (3.1.1).
    pub client_id: ByteString,
    /// Clean start (5.0) / clean session (3.1.1) on the first connection. Reconnects always
    /// ask to resume the session when `session_expiry` (5.0) or `!clean_start` (3.1.1) keeps one.
    pub clean_start: bool,
    /// Session expiry interval in seconds (5.0): 0 ends the session with the connection.
    pub session_expiry: u32,
    /// Keep alive in seconds; 0 turns keep alive off.
    pub keep_alive: u16,
    /// User name.
    pub username: Option<ByteString>,
    /// Password; see [`super::Client::set_credentials`] to change it before a reconnect.
    pub password: Option<Bytes>,
    /// The will message.
    pub will: Option<Will>,
    /// Further CONNECT properties (5.0), such as user properties or an authentication
    /// method. Session expiry, receive maximum, maximum packet size and topic alias maximum
    /// are set from the fields of this struct.
    pub properties: Properties,
    /// How long to wait for CONNACK after the connection opened.
    pub connect_timeout: Duration,
    /// How long to wait for PINGRESP; by default half the keep alive, at least 1 s.
    pub ping_timeout: Option<Duration>,
    /// Reconnect automatically; `None` stays disconnected after a loss.
    pub reconnect: Option<ReconnectOptions>,
    /// Subscribe again to everything after reconnecting without a session.
    pub resubscribe: bool,
    /// After reconnecting without a session, send unacknowledged QoS 1/2 messages again as
    /// new publishes (otherwise they fail with [`super::PublishError::SessionLost`]).
    pub resend_without_session: bool,
    /// The most outgoing QoS 1 and 2 messages in flight (sent, not yet acknowledged). On
    /// 5.0 the server's Receive Maximum lowers it further. 3.1.1 has no way to announce a
    /// limit and brokers keep limits of their own (on QoS 2 messages awaiting PUBREL, for
    /// one), so the 3.1.1 default is a cautious 20. It also paces a burst: one window per
    /// round trip. Against a broker known to take more, raise it (mosquitto 2.0.11 took
    /// bursts of 20,000 QoS 1 and QoS 2 messages on 3.1.1 whole, in a check by hand).
    pub max_inflight: u16,
    /// The most bytes of commands waiting to be sent (offline, or held back by the
    /// in-flight window), counted as their encoded packets; a command that would pass it
    /// fails with [`super::ClientError::QueueFull`] and nothing else is affected. What is in
    /// flight is bounded by the window, not by this.
    pub max_queued_bytes: usize,
    /// What to do with QoS 0 publishes while offline.
    pub offline_qos0: OfflineQos0,
    /// Receive Maximum announced to the server (5.0): QoS 2 messages it may have unreleased.
    pub receive_maximum: u16,
    /// The largest packet accepted from the server; announced on 5.0.
    pub max_packet_size: u32,
    /// Topic aliases the server may use toward this client (5.0); 0 for none.
    pub topic_alias_maximum: u16,
    /// Replace repeated topics of outgoing publishes by topic aliases when the server
    /// allows them (5.0).
    pub outbound_topic_aliases: bool,
}

impl ClientOptions {
    /// Options with safe defaults: clean start, keep alive 60 s, CONNACK timeout 30 s,
    /// reconnect between 1 s and 30 s, resubscribe and resend on, 64 MiB of queued commands,
    /// 20 messages in flight on 3.1.1 (the server's limit on 5.0), 16 MiB packets, 64
    /// inbound topic aliases.
    pub fn new(version: ProtocolVersion, client_id: impl Into<ByteString>) -> ClientOptions {
        ClientOptions {
            version,
            client_id: client_id.into(),
            clean_start: true,
            session_expiry: 0,
            keep_alive: 60,
            username: None,
            password: None,
            will: None,
            properties: Properties::new(),
            connect_timeout: Duration::from_secs(30),
            ping_timeout: None,
            reconnect: Some(ReconnectOptions::default()),
            resubscribe: true,
            resend_without_session: true,
            max_inflight: match version {
                ProtocolVersion::V311 => 20,
                ProtocolVersion::V5 => u16::MAX,
            },
            max_queued_bytes: 64 << 20,
            offline_qos0: OfflineQos0::Queue,
            receive_maximum: 65_535,
            max_packet_size: 16 << 20,
            topic_alias_maximum: 64,
            outbound_topic_aliases: false,
        }
    }
}
