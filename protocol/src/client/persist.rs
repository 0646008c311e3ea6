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
//! The layout: `MQW`, a format byte (1), the protocol version byte, then records of a kind
//! byte and its body: kinds 1-3 are messages in flight awaiting PUBACK, PUBREC and PUBCOMP,
//! kind 4 a queued publish (each an encoded PUBLISH); kind 5 an inbound QoS 2 identifier
//! (two bytes, big-endian).

use bytes::{Buf, Bytes, BytesMut};

use crate::decoder::MAX_PACKET_SIZE;
use crate::packet::{FixedHeader, Packet, Publish, encode, encoded_len};
use crate::types::{PacketId, PacketType, ProtocolVersion, QoS};

use super::store::{InFlight, InFlightState, InFlightStore};
use super::{Client, ClientError, Command, State};

const MAGIC: &[u8; 4] = b"MQW\x01";
const QUEUED: u8 = 4;
const INBOUND_QOS2: u8 = 5;

/// One record of a snapshot, read back.
enum Record {
    InFlight(InFlightState, Publish),
    Queued(Publish),
    InboundQos2(PacketId),
}

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
        let mut out = BytesMut::from(&MAGIC[..]);
        out.extend_from_slice(&[version as u8]);
        for entry in self
            .store
            .ids()
            .into_iter()
            .filter_map(|id| self.store.get(id))
        {
            out.extend_from_slice(&[entry.state as u8 + 1]);
            let _ = encode(&entry.publish, version, &mut out);
        }
        for command in &self.queue {
            if let Command::Publish { publish, .. } = command
                && publish.qos != QoS::AtMostOnce
            {
                out.extend_from_slice(&[QUEUED]);
                let _ = encode(publish, version, &mut out);
            }
        }
        for id in self.session.inbound_qos2.iter() {
            out.extend_from_slice(&[INBOUND_QOS2]);
            out.extend_from_slice(&id.get().to_be_bytes());
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
        let records = read(bytes).ok_or(ClientError::BadSnapshot)?;
        for record in records {
            match record {
                Record::InFlight(state, publish) => {
                    if publish
                        .packet_id
                        .is_some_and(|id| self.store.get(id).is_none())
                    {
                        let handle = self.handle();
                        self.store.insert(InFlight {
                            handle,
                            publish,
                            state,
                        });
                    }
                }
                Record::Queued(publish) => {
                    let handle = self.handle();
                    self.queued_bytes += encoded_len(&publish, self.options.version).unwrap_or(0);
                    self.queue.push_back(Command::Publish { handle, publish });
                }
                Record::InboundQos2(id) => {
                    self.session.inbound_qos2.insert(id);
                }
            }
        }
        self.durable += 1;
        Ok(())
    }
}

/// Reads every record of a snapshot; `None` if any is malformed.
fn read(bytes: &[u8]) -> Option<Vec<Record>> {
    let version = match bytes.get(..5)? {
        [b'M', b'Q', b'W', 1, 4] => ProtocolVersion::V311,
        [b'M', b'Q', b'W', 1, 5] => ProtocolVersion::V5,
        _ => return None,
    };
    let mut rest = Bytes::copy_from_slice(&bytes[5..]);
    let mut records = Vec::new();
    while let Some(&kind) = rest.first() {
        rest.advance(1);
        if kind == INBOUND_QOS2 {
            let &[hi, lo] = rest.get(..2)? else {
                return None;
            };
            records.push(Record::InboundQos2(PacketId::new(u16::from_be_bytes([
                hi, lo,
            ]))?));
            rest.advance(2);
            continue;
        }
        let header = FixedHeader::peek(&rest, MAX_PACKET_SIZE).ok()??;
        if header.packet_type != PacketType::Publish || rest.len() < header.packet_len() {
            return None;
        }
        let packet = rest.split_to(header.packet_len());
        let body = packet.slice(header.header_len..);
        let Ok(Packet::Publish(publish)) = Packet::decode_from_server(header, body, version) else {
            return None;
        };
        let state = match kind {
            1 => InFlightState::AwaitingPubAck,
            2 => InFlightState::AwaitingPubRec,
            3 => InFlightState::AwaitingPubComp,
            QUEUED => {
                records.push(Record::Queued(publish));
                continue;
            }
            _ => return None,
        };
        if publish.qos == QoS::AtMostOnce {
            return None;
        }
        records.push(Record::InFlight(state, publish));
    }
    Some(records)
}
