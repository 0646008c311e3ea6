//! # mqttwire
//!
//! A strict, fast codec for MQTT 3.1.1 and 5.0 that never touches a socket or a clock,
//! so the same code runs natively, under tokio and in the browser (wasm32).
//!
//! - [`Packet`] and its parts are typed values of every control packet of both versions;
//!   [`Packet::encode`] writes them into a `BytesMut`.
//! - [`Decoder`] (or [`decode`]) takes bytes as they arrive and yields whole packets;
//!   topics and payloads are slices of the received buffer, not copies.
//! - Every rule the codec checks cites its normative statement; a broken rule is a
//!   [`DecodeError`] that names it and maps to the MQTT 5.0 [`ReasonCode`] to send.
//! - [`topic`] has validated topic names and filters, matching, shared subscriptions
//!   and a [`topic::SubscriptionTrie`] from filters to values.
//!
//! ```
//! use bytes::BytesMut;
//! use mqttwire::{Decoder, Packet, ProtocolVersion, Publish, QoS, PacketId, TopicName};
//!
//! let mut publish = Publish::new(TopicName::new("chat/room/42")?, "hi");
//! publish.qos = QoS::AtLeastOnce;
//! publish.packet_id = PacketId::new(7);
//! let mut wire = BytesMut::new();
//! publish.encode(ProtocolVersion::V5, &mut wire)?;
//!
//! let mut decoder = Decoder::new(ProtocolVersion::V5);
//! for byte in wire.iter() {
//!     decoder.extend(&[*byte]); // any chunking gives the same packets
//! }
//! assert_eq!(decoder.decode()?, Some(Packet::Publish(publish)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

#[macro_use]
mod message;

pub mod client;
mod codec;
mod decoder;
mod error;
mod packet;
mod property;
mod reason;
mod time;
pub mod topic;
mod types;

pub use codec::MAX_VAR_INT;
pub use decoder::{Decoder, Frame, MAX_PACKET_SIZE, decode, decode_bytes};
pub use error::{DecodeError, EncodeError};
pub use packet::{
    Ack, Auth, ConnAck, Connect, Disconnect, FixedHeader, Packet, Publish, RetainHandling, SubAck,
    Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
pub use property::{MAX_PROPERTIES, Properties, Property};
pub use reason::ReasonCode;
pub use time::{Duration, Instant};
pub use topic::{TopicError, TopicFilter, TopicName};
pub use types::{PacketId, PacketType, PropertyId, ProtocolVersion, QoS};
