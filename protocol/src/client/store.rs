//! Outgoing QoS 1 and 2 state: every PUBLISH sent and not yet fully acknowledged, in the
//! order it was first sent. The engine keeps it in an [`InFlightStore`]; the in-memory one
//! is [`MemoryStore`]. A store that persists (the browser's IndexedDB) lets in-flight
//! messages outlive the process: create the client with it and they are sent again.

use std::collections::VecDeque;

use crate::packet::Publish;
use crate::types::PacketId;

use super::Handle;

/// Where an outgoing QoS 1 or 2 message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InFlightState {
    /// QoS 1 PUBLISH sent; waiting for PUBACK.
    AwaitingPubAck,
    /// QoS 2 PUBLISH sent; waiting for PUBREC.
    AwaitingPubRec,
    /// QoS 2 PUBREL sent; waiting for PUBCOMP.
    AwaitingPubComp,
}

/// One outgoing message in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// The handle the caller got for this publish.
    pub handle: Handle,
    /// The PUBLISH as first sent (its packet identifier is set).
    pub publish: Publish,
    /// What the engine waits for.
    pub state: InFlightState,
}

impl InFlight {
    /// The message's packet identifier.
    pub fn packet_id(&self) -> Option<PacketId> {
        self.publish.packet_id
    }
}

/// Storage of outgoing in-flight messages, keyed by packet identifier, iterated in the order
/// they were inserted [MQTT-4.6.0-1].
pub trait InFlightStore {
    /// Adds a message just sent. Its packet identifier is not in the store.
    fn insert(&mut self, entry: InFlight);
    /// The message with this identifier.
    fn get(&self, id: PacketId) -> Option<&InFlight>;
    /// Changes the state of the message with this identifier.
    fn set_state(&mut self, id: PacketId, state: InFlightState);
    /// Removes and returns the message with this identifier.
    fn remove(&mut self, id: PacketId) -> Option<InFlight>;
    /// Identifiers of all messages, oldest first.
    fn ids(&self) -> Vec<PacketId>;
    /// How many messages are in flight.
    fn len(&self) -> usize;
    /// True when nothing is in flight.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An [`InFlightStore`] in memory: a queue in insertion order. Lookups scan it, which is
/// cheap for the few hundred messages a server's receive maximum allows in flight, and
/// keeps the browser build small.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    entries: VecDeque<InFlight>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn position(&self, id: PacketId) -> Option<usize> {
        self.entries.iter().position(|e| e.packet_id() == Some(id))
    }
}

impl InFlightStore for MemoryStore {
    fn insert(&mut self, entry: InFlight) {
        let Some(id) = entry.packet_id() else {
            return;
        };
        if let Some(i) = self.position(id) {
            self.entries.remove(i);
        }
        self.entries.push_back(entry);
    }

    fn get(&self, id: PacketId) -> Option<&InFlight> {
        self.position(id).and_then(|i| self.entries.get(i))
    }

    fn set_state(&mut self, id: PacketId, state: InFlightState) {
        if let Some(entry) = self.position(id).and_then(|i| self.entries.get_mut(i)) {
            entry.state = state;
        }
    }

    fn remove(&mut self, id: PacketId) -> Option<InFlight> {
        // Acknowledgments mostly come in order: the oldest entry is found first.
        self.position(id).and_then(|i| self.entries.remove(i))
    }

    fn ids(&self) -> Vec<PacketId> {
        self.entries
            .iter()
            .filter_map(InFlight::packet_id)
            .collect()
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}
