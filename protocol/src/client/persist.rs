//! The client's durable state as bytes, for a driver that keeps it across restarts (the
//! browser client's IndexedDB store): outgoing QoS 1 and 2 messages in flight with their
//! state, QoS 1 and 2 publishes still queued, and the identifiers of inbound QoS 2
//! messages delivered and not released yet.
//!
//! Writing is the driver's, and asynchronous: it takes a [`Client::snapshot`] whenever
//! [`Client::durable_revision`] changed, and holds back what [`Client::poll_transmit`]
//! gave since until the write is done. Nothing then reaches the server that depends on
//! state the store does not have yet: a PUBREL never leaves before the store knows its
//! message waits for PUBCOMP (or a restart would send the PUBLISH again, and the server
//! would take it for a new one), a PUBREC never before the store has the inbound
//! identifier (or the message would be delivered again).
//!
//! The layout: `MQW`, a format byte (1) and the protocol version byte; the inbound QoS 2
//! identifiers, as a count and each identifier; the kinds of the messages, as a count and
//! a byte each (1-3 in flight awaiting PUBACK, PUBREC and PUBCOMP, 4 queued); then each
//! message as its PUBLISH packet, in that order, read back by the engine's own decoder.
//! Counts are four bytes and identifiers two, big-endian.

use bytes::{Buf, BufMut, BytesMut};

use crate::decoder::Decoder;
use crate::packet::{Packet, Publish, encode, encoded_len};
use crate::types::{PacketId, ProtocolVersion, QoS};

use super::store::{InFlight, InFlightState, InFlightStore};
use super::tables::PacketIdSet;
use super::{Client, ClientError, Command, State};

/// The kind of a queued publish; 1-3 are [`InFlightState`]s plus one.
const QUEUED: u8 = 4;

impl<S: InFlightStore> Client<S> {
    /// A number that changes whenever the state [`snapshot`](Client::snapshot) holds
    /// changes: the driver of a persistent store writes a new snapshot when it differs
    /// from the one it last wrote.
    pub fn durable_revision(&self) -> u64 {
        self.durable
    }

    /// The durable state as bytes, for [`restore`](Client::restore) after a restart.
    pub fn snapshot(&self) -> Vec<u8> {
        let version = self.options.version;
        let in_flight: Vec<&InFlight> = (self.store.ids().into_iter())
            .filter_map(|id| self.store.get(id))
            .collect();
        let queued: Vec<&Publish> = (self.queue.iter())
            .filter_map(|command| match command {
                Command::Publish { publish, .. } if publish.qos != QoS::AtMostOnce => Some(publish),
                _ => None,
            })
            .collect();
        let mut out = BytesMut::from(&b"MQW\x01"[..]);
        out.put_u8(version as u8);
        out.put_u32(self.session.inbound_qos2.len() as u32);
        for id in self.session.inbound_qos2.iter() {
            out.put_u16(id.get());
        }
        out.put_u32((in_flight.len() + queued.len()) as u32);
        for entry in &in_flight {
            out.put_u8(entry.state as u8 + 1);
        }
        out.put_bytes(QUEUED, queued.len());
        for publish in in_flight.iter().map(|e| &e.publish).chain(queued) {
            let _ = encode(publish, version, &mut out);
        }
        out.to_vec()
    }

    /// Takes back the state of a [`snapshot`](Client::snapshot), before
    /// [`connect`](Client::connect): messages in flight go into the store and are sent
    /// again after CONNACK as [`with_store`](Client::with_store) says, queued publishes
    /// wait in the queue behind them, inbound QoS 2 identifiers are known again. Restored
    /// messages get new handles. Bytes that are not a snapshot change nothing.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        if self.state != State::Idle || self.connected_before {
            return Err(ClientError::AlreadyStarted);
        }
        let (ids, messages) = read(bytes).ok_or(ClientError::BadSnapshot)?;
        for id in ids {
            self.session.inbound_qos2.insert(id);
        }
        for (kind, publish) in messages {
            let handle = self.handle();
            let state = match kind {
                1 => InFlightState::AwaitingPubAck,
                2 => InFlightState::AwaitingPubRec,
                3 => InFlightState::AwaitingPubComp,
                _ => {
                    self.queued_bytes += encoded_len(&publish, self.options.version).unwrap_or(0);
                    self.queue.push_back(Command::Publish { handle, publish });
                    continue;
                }
            };
            self.store.insert(InFlight {
                handle,
                publish,
                state,
            });
        }
        self.durable += 1;
        Ok(())
    }
}

/// The inbound identifiers and the messages with their kinds of a snapshot; `None` if any
/// part is malformed.
type Read = (Vec<PacketId>, Vec<(u8, Publish)>);

fn read(mut bytes: &[u8]) -> Option<Read> {
    let version = match bytes.get(..5)? {
        [b'M', b'Q', b'W', 1, 4] => ProtocolVersion::V311,
        [b'M', b'Q', b'W', 1, 5] => ProtocolVersion::V5,
        _ => return None,
    };
    bytes.advance(5);
    let count = |bytes: &mut &[u8], each: usize| {
        let n = bytes.try_get_u32().ok()? as usize;
        (bytes.len() / each >= n).then_some(n)
    };
    let ids = (0..count(&mut bytes, 2)?)
        .map(|_| PacketId::new(bytes.get_u16()))
        .collect::<Option<Vec<_>>>()?;
    let n = count(&mut bytes, 1)?;
    let kinds = bytes.get(..n)?.to_vec();
    bytes.advance(n);
    let mut decoder = Decoder::new(version);
    decoder.extend(bytes);
    let mut messages = Vec::with_capacity(n);
    let mut in_flight = PacketIdSet::default();
    for kind in kinds {
        let Ok(Some(Packet::Publish(publish))) = decoder.decode_from_server() else {
            return None;
        };
        // In flight: QoS 1 or 2, once per identifier; queued: any QoS 1 or 2 publish.
        let fits = match kind {
            1 => publish.qos == QoS::AtLeastOnce,
            2 | 3 => publish.qos == QoS::ExactlyOnce,
            QUEUED => publish.qos != QoS::AtMostOnce,
            _ => false,
        } && (kind == QUEUED
            || publish.packet_id.is_some_and(|id| in_flight.insert(id)));
        if !fits {
            return None;
        }
        messages.push((kind, publish));
    }
    (decoder.buffered() == 0).then_some((ids, messages))
}
