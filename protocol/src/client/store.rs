//! Outgoing QoS 1 and 2 state: every PUBLISH sent and not yet fully acknowledged, in the
//! order it was first sent. The engine keeps it in an [`InFlightStore`]; the in-memory one
//! is [`MemoryStore`]. A store that persists (the browser's IndexedDB) lets in-flight
//! messages outlive the process: create the client with it and they are sent again.

use std::collections::{BTreeMap, HashMap};

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

/// An [`InFlightStore`] in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    by_order: BTreeMap<u64, InFlight>,
    order_of: HashMap<PacketId, u64>,
    next_order: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl InFlightStore for MemoryStore {
    fn insert(&mut self, entry: InFlight) {
        let Some(id) = entry.packet_id() else {
            return;
        };
        if let Some(old) = self.order_of.insert(id, self.next_order) {
            self.by_order.remove(&old);
        }
        self.by_order.insert(self.next_order, entry);
        self.next_order += 1;
    }

    fn get(&self, id: PacketId) -> Option<&InFlight> {
        self.order_of
            .get(&id)
            .and_then(|order| self.by_order.get(order))
    }

    fn set_state(&mut self, id: PacketId, state: InFlightState) {
        if let Some(entry) = self
            .order_of
            .get(&id)
            .and_then(|order| self.by_order.get_mut(order))
        {
            entry.state = state;
        }
    }

    fn remove(&mut self, id: PacketId) -> Option<InFlight> {
        let order = self.order_of.remove(&id)?;
        self.by_order.remove(&order)
    }

    fn ids(&self) -> Vec<PacketId> {
        self.by_order
            .values()
            .filter_map(InFlight::packet_id)
            .collect()
    }

    fn len(&self) -> usize {
        self.by_order.len()
    }
}
