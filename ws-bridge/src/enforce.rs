//! A connection's topic ACL applied to the packets it relays, with no IO: the relay asks
//! [`Enforcer::upstream`] about every packet from the client and [`SubAcks::downstream`]
//! about every SUBACK from the broker.
//!
//! - A denied PUBLISH is not forwarded. At QoS 1 and 2 the client gets the acknowledgment
//!   the broker would have sent: PUBACK / PUBREC "not authorized" (0x87) on 5.0, a plain
//!   PUBACK / PUBREC on 3.1.1 (which has no way to say no; mosquitto does the same), so its
//!   in-flight window moves on. A later PUBREL for it goes to the broker, which answers
//!   PUBCOMP for an identifier it does not know.
//! - Topic aliases (5.0) are followed per connection, so a PUBLISH that names its topic by
//!   alias only is judged by the topic the alias stands for.
//! - A SUBSCRIBE with denied filters is forwarded without them; the broker's SUBACK gets
//!   "not authorized" (0x87, 5.0) or "failure" (0x80, 3.1.1) back in their places. When no
//!   filter is allowed the bridge answers the SUBACK itself.

use std::collections::HashMap;
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use mqttwire::{
    Ack, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, ReasonCode, SubAck, Subscribe,
};

use crate::acl::ClientAcl;

/// What to do with a packet from the client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Forward its bytes unchanged.
    Forward,
    /// Forward these bytes instead.
    Rewrite(Bytes),
    /// Forward nothing; send this packet (if any) to the client.
    Deny(Option<Bytes>),
}

/// The upstream half: the ACL and the client's topic aliases.
#[derive(Debug)]
pub(crate) struct Enforcer {
    acl: ClientAcl,
    version: ProtocolVersion,
    aliases: HashMap<NonZeroU16, Box<str>>,
    subacks: SubAcks,
}

/// The downstream half: denied positions of SUBSCRIBEs forwarded in part, by packet id.
#[derive(Debug, Clone)]
pub(crate) struct SubAcks {
    version: ProtocolVersion,
    pending: Arc<Mutex<HashMap<PacketId, Denied>>>,
}

/// The filters of one SUBSCRIBE taken out before forwarding it.
#[derive(Debug)]
struct Denied {
    /// How many filters the client sent.
    total: usize,
    /// Indexes of the denied ones, increasing.
    positions: Vec<usize>,
}

impl Enforcer {
    /// Enforces `acl` on a connection speaking `version`.
    pub(crate) fn new(acl: ClientAcl, version: ProtocolVersion) -> Enforcer {
        Enforcer {
            acl,
            version,
            aliases: HashMap::new(),
            subacks: SubAcks {
                version,
                pending: Arc::default(),
            },
        }
    }

    /// The downstream half, for the broker-to-client task.
    pub(crate) fn subacks(&self) -> SubAcks {
        self.subacks.clone()
    }

    /// Judges one packet from the client.
    pub(crate) fn upstream(&mut self, packet: &Packet) -> Verdict {
        match packet {
            Packet::Publish(publish) => self.publish(publish),
            Packet::Subscribe(subscribe) => self.subscribe(subscribe),
            _ => Verdict::Forward,
        }
    }

    fn publish(&mut self, publish: &Publish) -> Verdict {
        let alias = publish.properties.topic_alias();
        let topic: &str = if publish.topic.is_empty() {
            // An alias the bridge has not seen is the broker's to refuse.
            match alias.and_then(|a| self.aliases.get(&a)) {
                Some(topic) => topic,
                None => return Verdict::Forward,
            }
        } else {
            if let Some(alias) = alias {
                self.aliases.insert(alias, publish.topic.as_str().into());
            }
            publish.topic.as_str()
        };
        if self.acl.may_publish(topic) {
            return Verdict::Forward;
        }
        let reason = match self.version {
            ProtocolVersion::V5 => ReasonCode::NOT_AUTHORIZED,
            ProtocolVersion::V311 => ReasonCode::SUCCESS,
        };
        let reply = match (publish.qos, publish.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => Some(Packet::PubAck(ack(id, reason))),
            (QoS::ExactlyOnce, Some(id)) => Some(Packet::PubRec(ack(id, reason))),
            _ => None,
        };
        Verdict::Deny(reply.and_then(|p| encode(&p, self.version)))
    }

    fn subscribe(&mut self, subscribe: &Subscribe) -> Verdict {
        let positions: Vec<usize> = subscribe
            .subscriptions
            .iter()
            .enumerate()
            .filter(|(_, s)| !self.acl.may_subscribe(&s.filter))
            .map(|(i, _)| i)
            .collect();
        let total = subscribe.subscriptions.len();
        if positions.is_empty() {
            return Verdict::Forward;
        }
        if positions.len() == total {
            let suback = SubAck {
                packet_id: subscribe.packet_id,
                properties: Properties::new(),
                reason_codes: vec![self.subacks.denied_code(); total],
            };
            return Verdict::Deny(encode(&Packet::SubAck(suback), self.version));
        }
        let mut allowed = subscribe.clone();
        let mut i = 0;
        allowed.subscriptions.retain(|_| {
            let keep = !positions.contains(&i);
            i += 1;
            keep
        });
        let Some(bytes) = encode(&Packet::Subscribe(allowed), self.version) else {
            return Verdict::Forward;
        };
        self.subacks
            .lock()
            .insert(subscribe.packet_id, Denied { total, positions });
        Verdict::Rewrite(bytes)
    }
}

impl SubAcks {
    /// The SUBACK to send instead of `suback` from the broker, when the bridge took filters
    /// out of the SUBSCRIBE it answers.
    pub(crate) fn downstream(&self, suback: &SubAck) -> Option<Bytes> {
        let denied = self.lock().remove(&suback.packet_id)?;
        let mut granted = suback.reason_codes.iter();
        let reason_codes = (0..denied.total)
            .map(|i| {
                if denied.positions.contains(&i) {
                    self.denied_code()
                } else {
                    // A broker answering fewer filters than it got is its own fault.
                    granted
                        .next()
                        .copied()
                        .unwrap_or(ReasonCode::UNSPECIFIED_ERROR)
                }
            })
            .collect();
        let merged = SubAck {
            packet_id: suback.packet_id,
            properties: suback.properties.clone(),
            reason_codes,
        };
        encode(&Packet::SubAck(merged), self.version)
    }

    /// True while some SUBSCRIBE forwarded in part waits for its SUBACK.
    #[cfg(test)]
    pub(crate) fn is_waiting(&self) -> bool {
        !self.lock().is_empty()
    }

    fn denied_code(&self) -> ReasonCode {
        match self.version {
            ProtocolVersion::V5 => ReasonCode::NOT_AUTHORIZED,
            ProtocolVersion::V311 => ReasonCode::UNSPECIFIED_ERROR, // 0x80 "failure"
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PacketId, Denied>> {
        // A panic elsewhere while holding the lock leaves a map that is still consistent.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn ack(packet_id: PacketId, reason_code: ReasonCode) -> Ack {
    Ack {
        reason_code,
        ..Ack::new(packet_id)
    }
}

fn encode(packet: &Packet, version: ProtocolVersion) -> Option<Bytes> {
    let mut out = BytesMut::new();
    packet.encode(version, &mut out).ok()?;
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{Access, Acl, AclRule};
    use mqttwire::{Decoder, Property, Subscription, SubscriptionOptions, TopicFilter, TopicName};

    fn enforcer(version: ProtocolVersion) -> Enforcer {
        let acl = Acl::new(vec![
            AclRule {
                topic: "chat/%u/#".into(),
                access: Access::Readwrite,
            },
            AclRule {
                topic: "news/#".into(),
                access: Access::Read,
            },
        ])
        .expect("valid");
        Enforcer::new(acl.for_client("alice", "c1"), version)
    }

    fn publish(topic: &str, qos: QoS, id: u16) -> Publish {
        let mut p = Publish::new(TopicName::new(topic).expect("valid"), Bytes::new());
        p.qos = qos;
        p.packet_id = PacketId::new(id);
        p
    }

    fn decode(bytes: &Bytes, version: ProtocolVersion) -> Packet {
        let mut decoder = Decoder::new(version);
        decoder.extend(bytes);
        decoder.decode().expect("valid").expect("whole")
    }

    fn id(n: u16) -> PacketId {
        PacketId::new(n).expect("non-zero")
    }

    fn subscribe(filters: &[&str]) -> Subscribe {
        Subscribe {
            packet_id: id(9),
            properties: Properties::new(),
            subscriptions: filters
                .iter()
                .map(|f| Subscription {
                    filter: TopicFilter::new(*f).expect("valid"),
                    options: SubscriptionOptions::qos(QoS::AtLeastOnce),
                })
                .collect(),
        }
    }

    #[test]
    fn forwards_allowed_publishes_and_answers_denied_ones_per_version() {
        let mut e5 = enforcer(ProtocolVersion::V5);
        let allowed = Packet::Publish(publish("chat/alice/1", QoS::AtLeastOnce, 1));
        assert_eq!(e5.upstream(&allowed), Verdict::Forward);
        let Verdict::Deny(Some(reply)) =
            e5.upstream(&Packet::Publish(publish("chat/bob/1", QoS::AtLeastOnce, 2)))
        else {
            panic!("denied with a reply")
        };
        assert_eq!(
            decode(&reply, ProtocolVersion::V5),
            Packet::PubAck(ack(id(2), ReasonCode::NOT_AUTHORIZED))
        );
        let Verdict::Deny(Some(reply)) =
            e5.upstream(&Packet::Publish(publish("news/x", QoS::ExactlyOnce, 3)))
        else {
            panic!("denied with a reply")
        };
        assert_eq!(
            decode(&reply, ProtocolVersion::V5),
            Packet::PubRec(ack(id(3), ReasonCode::NOT_AUTHORIZED))
        );
        let qos0 = Packet::Publish(publish("news/x", QoS::AtMostOnce, 0));
        assert_eq!(e5.upstream(&qos0), Verdict::Deny(None));

        let mut e3 = enforcer(ProtocolVersion::V311);
        let Verdict::Deny(Some(reply)) =
            e3.upstream(&Packet::Publish(publish("news/x", QoS::AtLeastOnce, 4)))
        else {
            panic!("denied with a reply")
        };
        assert_eq!(
            decode(&reply, ProtocolVersion::V311),
            Packet::PubAck(Ack::new(id(4)))
        );
    }

    #[test]
    fn judges_an_alias_only_publish_by_the_topic_the_alias_stands_for() {
        let mut e = enforcer(ProtocolVersion::V5);
        let alias = NonZeroU16::new(1).expect("1");
        let mut named = publish("chat/bob/x", QoS::AtMostOnce, 0);
        named.properties.push(Property::TopicAlias(alias));
        assert_eq!(e.upstream(&Packet::Publish(named)), Verdict::Deny(None));
        let mut by_alias = Publish::new(TopicName::from_alias_placeholder(), Bytes::new());
        by_alias.properties.push(Property::TopicAlias(alias));
        assert_eq!(
            e.upstream(&Packet::Publish(by_alias.clone())),
            Verdict::Deny(None)
        );
        let mut renamed = publish("chat/alice/x", QoS::AtMostOnce, 0);
        renamed.properties.push(Property::TopicAlias(alias));
        assert_eq!(e.upstream(&Packet::Publish(renamed)), Verdict::Forward);
        assert_eq!(e.upstream(&Packet::Publish(by_alias)), Verdict::Forward);
    }

    #[test]
    fn takes_denied_filters_out_and_puts_their_codes_back_in_the_suback() {
        for version in [ProtocolVersion::V5, ProtocolVersion::V311] {
            let mut e = enforcer(version);
            let subacks = e.subacks();
            let sub = subscribe(&["chat/bob/#", "chat/alice/+", "secret", "news/+"]);
            let Verdict::Rewrite(bytes) = e.upstream(&Packet::Subscribe(sub)) else {
                panic!("rewritten")
            };
            let Packet::Subscribe(forwarded) = decode(&bytes, version) else {
                panic!("SUBSCRIBE")
            };
            let filters: Vec<&str> = forwarded
                .subscriptions
                .iter()
                .map(|s| s.filter.as_str())
                .collect();
            assert_eq!(filters, ["chat/alice/+", "news/+"]);
            assert!(subacks.is_waiting());
            let from_broker = SubAck {
                packet_id: id(9),
                properties: Properties::new(),
                reason_codes: vec![ReasonCode::GRANTED_QOS_1, ReasonCode::SUCCESS],
            };
            let merged = subacks.downstream(&from_broker).expect("merged");
            let denied = match version {
                ProtocolVersion::V5 => ReasonCode::NOT_AUTHORIZED,
                ProtocolVersion::V311 => ReasonCode::UNSPECIFIED_ERROR,
            };
            let Packet::SubAck(merged) = decode(&merged, version) else {
                panic!("SUBACK")
            };
            assert_eq!(
                merged.reason_codes,
                [
                    denied,
                    ReasonCode::GRANTED_QOS_1,
                    denied,
                    ReasonCode::SUCCESS
                ]
            );
            assert!(!subacks.is_waiting());
            assert_eq!(subacks.downstream(&from_broker), None, "only once");
        }
    }

    #[test]
    fn answers_a_subscribe_with_no_allowed_filter_itself() {
        let mut e = enforcer(ProtocolVersion::V5);
        let Verdict::Deny(Some(bytes)) =
            e.upstream(&Packet::Subscribe(subscribe(&["#", "chat/+/x"])))
        else {
            panic!("answered by the bridge")
        };
        let Packet::SubAck(suback) = decode(&bytes, ProtocolVersion::V5) else {
            panic!("SUBACK")
        };
        assert_eq!(suback.reason_codes, [ReasonCode::NOT_AUTHORIZED; 2]);
        let all_allowed = Packet::Subscribe(subscribe(&["chat/alice/#"]));
        assert_eq!(e.upstream(&all_allowed), Verdict::Forward);
    }
}
