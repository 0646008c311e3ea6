//! The engine's state by lifetime, each a value that is dropped or replaced whole: a
//! [`Connection`] lives from the transport opening to its end, a [`Session`] as long as the
//! server keeps the session. What outlives both (options, the queue, the in-flight store,
//! backoff) stays in the client itself.

use crate::decoder::Decoder;
use crate::packet::{Subscribe, Unsubscribe};
use crate::time::Instant;
use crate::types::PacketId;

use super::event::Handle;
use super::options::ClientOptions;
use super::tables::{InboundAliases, OutboundAliases, PacketIdSet};

/// Everything that lives as long as one connection: ending the connection drops it, and
/// the next one starts from [`Connection::new`].
#[derive(Debug)]
pub(super) struct Connection {
    /// Decodes what the server sends on this connection.
    pub(super) decoder: Decoder,
    /// The keep alive in force (the server's, or ours) in milliseconds; zero before
    /// CONNACK and when off.
    pub(super) keep_alive_ms: u64,
    /// When the last packet was written.
    pub(super) last_sent: Instant,
    /// Topic aliases the server set.
    pub(super) inbound_aliases: InboundAliases,
    /// Topic aliases the client assigned.
    pub(super) outbound_aliases: OutboundAliases,
    /// SUBSCRIBE and UNSUBSCRIBE sent and not acknowledged, in the order sent; the client
    /// queues them again when the connection ends.
    pub(super) requests: Vec<(PacketId, Request)>,
}

impl Connection {
    /// A connection just opened at `now`, nothing sent on it yet.
    pub(super) fn new(options: &ClientOptions, now: Instant) -> Connection {
        Connection {
            decoder: Decoder::new(options.version).with_max_packet_size(options.max_packet_size),
            keep_alive_ms: 0,
            last_sent: now,
            inbound_aliases: InboundAliases::default(),
            outbound_aliases: OutboundAliases::default(),
            requests: Vec::new(),
        }
    }

    /// Whether `id` is taken by a request waiting for its acknowledgment.
    pub(super) fn has_request(&self, id: PacketId) -> bool {
        self.requests.iter().any(|(r, _)| *r == id)
    }

    /// Removes and returns the request with identifier `id`.
    pub(super) fn take_request(&mut self, id: PacketId) -> Option<Request> {
        let i = self.requests.iter().position(|(r, _)| *r == id)?;
        Some(self.requests.remove(i).1)
    }
}

/// The client's half of the session state that only the session keeps: replaced by a new
/// one when a CONNACK says the server has no session. (Outgoing QoS 1 and 2 messages, the
/// other half, are in the client's store: they outlive a session to be sent again or
/// failed one by one.)
#[derive(Debug, Default)]
pub(super) struct Session {
    /// Inbound QoS 2 messages delivered and not released (PUBREL) yet.
    pub(super) inbound_qos2: PacketIdSet,
}

/// A SUBSCRIBE or UNSUBSCRIBE waiting for its acknowledgment.
#[derive(Debug)]
pub(super) enum Request {
    Subscribe {
        handle: Option<Handle>,
        packet: Subscribe,
    },
    Unsubscribe {
        handle: Handle,
        packet: Unsubscribe,
    },
}
