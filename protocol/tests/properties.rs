#![cfg(not(target_arch = "wasm32"))]
//! Property tests: arbitrary valid packets of both versions round-trip; any chunking of a
//! stream yields the same packets [MQTT-6.0.0-2]; arbitrary bytes never panic.

use core::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use mqttwire::{
    Ack, Auth, ConnAck, Connect, Decoder, Disconnect, MAX_PACKET_SIZE, Packet, PacketId,
    Properties, Property, PropertyId, ProtocolVersion, Publish, QoS, ReasonCode, RetainHandling,
    SubAck, Subscribe, Subscription, SubscriptionOptions, TopicFilter, TopicName, UnsubAck,
    Unsubscribe, Will, decode,
};
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

fn text() -> BoxedStrategy<ByteString> {
    // Any non-control characters, multi-byte ones included; never U+0000.
    "\\PC{0,6}".prop_map(ByteString::from).boxed()
}

fn binary() -> BoxedStrategy<Bytes> {
    prop::collection::vec(any::<u8>(), 0..24)
        .prop_map(Bytes::from)
        .boxed()
}

fn topic_name() -> BoxedStrategy<TopicName> {
    "[a-z$][a-z0-9]{0,3}(/[a-zé0-9]{0,3}){0,3}"
        .prop_map(|s| TopicName::new(s).expect("strategy makes valid names"))
        .boxed()
}

fn topic_filter() -> BoxedStrategy<TopicFilter> {
    let first = prop_oneof!["[a-z]{1,3}", Just("+".to_owned())];
    let level = prop_oneof!["[a-z]{1,3}", Just("+".to_owned()), Just(String::new())];
    (
        (first, prop::collection::vec(level, 0..3)).prop_map(|(first, mut rest)| {
            rest.insert(0, first);
            rest
        }),
        any::<bool>(),
        prop::option::of("[a-z]{1,3}"),
    )
        .prop_map(|(levels, hash, share)| {
            let mut filter = levels.join("/");
            if hash {
                filter.push_str("/#");
            }
            if let Some(group) = share {
                filter = format!("$share/{group}/{filter}");
            }
            TopicFilter::new(filter).expect("strategy makes valid filters")
        })
        .boxed()
}

fn qos() -> BoxedStrategy<QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
    .boxed()
}

fn packet_id() -> BoxedStrategy<PacketId> {
    (1u16..=u16::MAX)
        .prop_map(|v| PacketId::new(v).expect("non-zero"))
        .boxed()
}

fn reason_code() -> BoxedStrategy<ReasonCode> {
    any::<u8>().prop_map(ReasonCode).boxed()
}

fn nz16() -> BoxedStrategy<NonZeroU16> {
    (1u16..=u16::MAX)
        .prop_map(|v| NonZeroU16::new(v).expect("non-zero"))
        .boxed()
}

fn nz32(max: u32) -> BoxedStrategy<NonZeroU32> {
    (1u32..=max)
        .prop_map(|v| NonZeroU32::new(v).expect("non-zero"))
        .boxed()
}

/// Any valid value of the property `id`.
fn property(id: PropertyId) -> BoxedStrategy<Property> {
    match id {
        PropertyId::PAYLOAD_FORMAT_INDICATOR => any::<u8>()
            .prop_map(Property::PayloadFormatIndicator)
            .boxed(),
        PropertyId::MESSAGE_EXPIRY_INTERVAL => any::<u32>()
            .prop_map(Property::MessageExpiryInterval)
            .boxed(),
        PropertyId::CONTENT_TYPE => text().prop_map(Property::ContentType).boxed(),
        PropertyId::RESPONSE_TOPIC => topic_name().prop_map(Property::ResponseTopic).boxed(),
        PropertyId::CORRELATION_DATA => binary().prop_map(Property::CorrelationData).boxed(),
        PropertyId::SUBSCRIPTION_IDENTIFIER => nz32(mqttwire::MAX_VAR_INT)
            .prop_map(Property::SubscriptionIdentifier)
            .boxed(),
        PropertyId::SESSION_EXPIRY_INTERVAL => any::<u32>()
            .prop_map(Property::SessionExpiryInterval)
            .boxed(),
        PropertyId::ASSIGNED_CLIENT_IDENTIFIER => {
            text().prop_map(Property::AssignedClientIdentifier).boxed()
        }
        PropertyId::SERVER_KEEP_ALIVE => any::<u16>().prop_map(Property::ServerKeepAlive).boxed(),
        PropertyId::AUTHENTICATION_METHOD => {
            text().prop_map(Property::AuthenticationMethod).boxed()
        }
        PropertyId::AUTHENTICATION_DATA => binary().prop_map(Property::AuthenticationData).boxed(),
        PropertyId::REQUEST_PROBLEM_INFORMATION => any::<bool>()
            .prop_map(Property::RequestProblemInformation)
            .boxed(),
        PropertyId::WILL_DELAY_INTERVAL => {
            any::<u32>().prop_map(Property::WillDelayInterval).boxed()
        }
        PropertyId::REQUEST_RESPONSE_INFORMATION => any::<bool>()
            .prop_map(Property::RequestResponseInformation)
            .boxed(),
        PropertyId::RESPONSE_INFORMATION => text().prop_map(Property::ResponseInformation).boxed(),
        PropertyId::SERVER_REFERENCE => text().prop_map(Property::ServerReference).boxed(),
        PropertyId::REASON_STRING => text().prop_map(Property::ReasonString).boxed(),
        PropertyId::RECEIVE_MAXIMUM => nz16().prop_map(Property::ReceiveMaximum).boxed(),
        PropertyId::TOPIC_ALIAS_MAXIMUM => {
            any::<u16>().prop_map(Property::TopicAliasMaximum).boxed()
        }
        PropertyId::TOPIC_ALIAS => nz16().prop_map(Property::TopicAlias).boxed(),
        PropertyId::MAXIMUM_QOS => prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]
            .prop_map(Property::MaximumQoS)
            .boxed(),
        PropertyId::RETAIN_AVAILABLE => any::<bool>().prop_map(Property::RetainAvailable).boxed(),
        PropertyId::USER_PROPERTY => (text(), text())
            .prop_map(|(k, v)| Property::UserProperty(k, v))
            .boxed(),
        PropertyId::MAXIMUM_PACKET_SIZE => {
            nz32(u32::MAX).prop_map(Property::MaximumPacketSize).boxed()
        }
        PropertyId::WILDCARD_SUBSCRIPTION_AVAILABLE => any::<bool>()
            .prop_map(Property::WildcardSubscriptionAvailable)
            .boxed(),
        PropertyId::SUBSCRIPTION_IDENTIFIER_AVAILABLE => any::<bool>()
            .prop_map(Property::SubscriptionIdentifierAvailable)
            .boxed(),
        PropertyId::SHARED_SUBSCRIPTION_AVAILABLE => any::<bool>()
            .prop_map(Property::SharedSubscriptionAvailable)
            .boxed(),
        other => unreachable!("no strategy for {other}"),
    }
}

/// Properties with each of `singles` at most once, and any number (up to 2) of `repeated`
/// ones and user properties mixed in among them.
fn properties(singles: &[PropertyId], repeated: &[PropertyId]) -> BoxedStrategy<Properties> {
    let repeatable: Vec<_> = repeated
        .iter()
        .chain([&PropertyId::USER_PROPERTY])
        .map(|&id| property(id))
        .collect();
    let singles: Vec<_> = singles
        .iter()
        .map(|&id| prop::option::of(property(id)))
        .collect();
    (
        singles,
        prop::collection::vec(prop::strategy::Union::new(repeatable), 0..3),
        any::<u64>(),
    )
        .prop_map(|(singles, repeated, seed)| {
            let mut list: Vec<Property> = singles.into_iter().flatten().collect();
            // Mix the repeatable ones in at seeded places: order must survive.
            for (i, p) in repeated.into_iter().enumerate() {
                let at = (seed.rotate_left(i as u32 * 7) as usize) % (list.len() + 1);
                list.insert(at, p);
            }
            Properties::from(list)
        })
        .boxed()
}

// The properties each packet may carry (spec 2.2.2.2), in the order the strategies list them.

fn publish_properties() -> BoxedStrategy<Properties> {
    use PropertyId as P;
    properties(
        &[
            P::PAYLOAD_FORMAT_INDICATOR,
            P::MESSAGE_EXPIRY_INTERVAL,
            P::CONTENT_TYPE,
            P::RESPONSE_TOPIC,
            P::CORRELATION_DATA,
            P::TOPIC_ALIAS,
        ],
        &[P::SUBSCRIPTION_IDENTIFIER],
    )
}

fn will_properties() -> BoxedStrategy<Properties> {
    use PropertyId as P;
    properties(
        &[
            P::PAYLOAD_FORMAT_INDICATOR,
            P::MESSAGE_EXPIRY_INTERVAL,
            P::CONTENT_TYPE,
            P::RESPONSE_TOPIC,
            P::CORRELATION_DATA,
            P::WILL_DELAY_INTERVAL,
        ],
        &[],
    )
}

fn connect_properties() -> BoxedStrategy<Properties> {
    use PropertyId as P;
    properties(
        &[
            P::SESSION_EXPIRY_INTERVAL,
            P::AUTHENTICATION_METHOD,
            P::AUTHENTICATION_DATA,
            P::REQUEST_PROBLEM_INFORMATION,
            P::REQUEST_RESPONSE_INFORMATION,
            P::RECEIVE_MAXIMUM,
            P::TOPIC_ALIAS_MAXIMUM,
            P::MAXIMUM_PACKET_SIZE,
        ],
        &[],
    )
}

fn connack_properties() -> BoxedStrategy<Properties> {
    use PropertyId as P;
    properties(
        &[
            P::SESSION_EXPIRY_INTERVAL,
            P::ASSIGNED_CLIENT_IDENTIFIER,
            P::SERVER_KEEP_ALIVE,
            P::AUTHENTICATION_METHOD,
            P::AUTHENTICATION_DATA,
            P::RESPONSE_INFORMATION,
            P::SERVER_REFERENCE,
            P::REASON_STRING,
            P::RECEIVE_MAXIMUM,
            P::TOPIC_ALIAS_MAXIMUM,
            P::MAXIMUM_QOS,
            P::RETAIN_AVAILABLE,
            P::MAXIMUM_PACKET_SIZE,
            P::WILDCARD_SUBSCRIPTION_AVAILABLE,
            P::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            P::SHARED_SUBSCRIPTION_AVAILABLE,
        ],
        &[],
    )
}

fn reason_only_properties() -> BoxedStrategy<Properties> {
    properties(&[PropertyId::REASON_STRING], &[])
}

fn user_only_properties() -> BoxedStrategy<Properties> {
    properties(&[], &[])
}

fn subscribe_properties() -> BoxedStrategy<Properties> {
    properties(&[PropertyId::SUBSCRIPTION_IDENTIFIER], &[])
}

fn disconnect_properties() -> BoxedStrategy<Properties> {
    use PropertyId as P;
    properties(
        &[
            P::SESSION_EXPIRY_INTERVAL,
            P::SERVER_REFERENCE,
            P::REASON_STRING,
        ],
        &[],
    )
}

fn auth_properties() -> BoxedStrategy<Properties> {
    use PropertyId as P;
    properties(
        &[
            P::AUTHENTICATION_METHOD,
            P::AUTHENTICATION_DATA,
            P::REASON_STRING,
        ],
        &[],
    )
}

fn version(v5: bool) -> ProtocolVersion {
    if v5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    }
}

/// Properties for 5.0, none for 3.1.1.
fn props_for(v5: bool, s: BoxedStrategy<Properties>) -> BoxedStrategy<Properties> {
    if v5 {
        s
    } else {
        Just(Properties::new()).boxed()
    }
}

fn publish(v5: bool) -> BoxedStrategy<Packet> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        packet_id(),
        props_for(v5, publish_properties()),
        binary(),
    )
        .prop_map(|(qos, dup, retain, topic, id, properties, payload)| {
            let at_least_once = qos != QoS::AtMostOnce;
            Packet::Publish(Publish {
                dup: dup && at_least_once,
                qos,
                retain,
                topic,
                packet_id: at_least_once.then_some(id),
                properties,
                payload,
            })
        })
        .boxed()
}

fn connect(v5: bool) -> BoxedStrategy<Packet> {
    let version = version(v5);
    let will = (
        topic_name(),
        binary(),
        qos(),
        any::<bool>(),
        props_for(v5, will_properties()),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        });
    (
        any::<bool>(),
        any::<u16>(),
        props_for(v5, connect_properties()),
        text(),
        prop::option::of(will),
        prop::option::of(text()),
        prop::option::of(binary()),
    )
        .prop_map(
            move |(clean_start, keep_alive, properties, client_id, will, username, password)| {
                // 3.1.1 has no password without a user name [MQTT-3.1.2-22].
                let password = if v5 || username.is_some() {
                    password
                } else {
                    None
                };
                Packet::Connect(Connect {
                    protocol: version,
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                })
            },
        )
        .boxed()
}

fn v311_connack_code() -> BoxedStrategy<ReasonCode> {
    prop::sample::select(vec![0x00, 0x84, 0x85, 0x88, 0x86, 0x87])
        .prop_map(ReasonCode)
        .boxed()
}

fn packet(v5: bool) -> BoxedStrategy<Packet> {
    let code = if v5 {
        reason_code()
    } else {
        Just(ReasonCode::SUCCESS).boxed()
    };
    let ack = (
        packet_id(),
        code.clone(),
        props_for(v5, reason_only_properties()),
    )
        .prop_map(|(packet_id, reason_code, properties)| Ack {
            packet_id,
            reason_code,
            properties,
        });
    let connack_code = if v5 {
        reason_code()
    } else {
        v311_connack_code()
    };
    let connack = (
        any::<bool>(),
        connack_code,
        props_for(v5, connack_properties()),
    )
        .prop_map(|(session_present, reason_code, properties)| {
            Packet::ConnAck(ConnAck {
                session_present: session_present && !reason_code.is_error(),
                reason_code,
                properties,
            })
        });
    let options =
        (qos(), any::<bool>(), any::<bool>(), 0u8..3).prop_map(move |(qos, nl, rap, rh)| {
            if !v5 {
                return SubscriptionOptions::qos(qos);
            }
            SubscriptionOptions {
                qos,
                no_local: nl,
                retain_as_published: rap,
                retain_handling: match rh {
                    0 => RetainHandling::SendOnSubscribe,
                    1 => RetainHandling::SendIfNew,
                    _ => RetainHandling::DoNotSend,
                },
            }
        });
    let subscription = (topic_filter(), options).prop_map(|(filter, mut options)| {
        if filter.is_shared() {
            options.no_local = false; // [MQTT-3.8.3-4]
        }
        Subscription { filter, options }
    });
    let subscribe = (
        packet_id(),
        props_for(v5, subscribe_properties()),
        prop::collection::vec(subscription, 1..4),
    )
        .prop_map(|(packet_id, properties, subscriptions)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                subscriptions,
            })
        });
    let suback_code = if v5 {
        reason_code()
    } else {
        prop::sample::select(vec![0x00, 0x01, 0x02, 0x80])
            .prop_map(ReasonCode)
            .boxed()
    };
    let suback = (
        packet_id(),
        props_for(v5, reason_only_properties()),
        prop::collection::vec(suback_code, 1..4),
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes,
            })
        });
    let unsubscribe = (
        packet_id(),
        props_for(v5, user_only_properties()),
        prop::collection::vec(topic_filter(), 1..4),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters,
            })
        });
    let unsuback_codes = if v5 {
        prop::collection::vec(reason_code(), 1..4).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    let unsuback = (
        packet_id(),
        props_for(v5, reason_only_properties()),
        unsuback_codes,
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                reason_codes,
            })
        });
    let disconnect = (code.clone(), props_for(v5, disconnect_properties())).prop_map(
        |(reason_code, properties)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        },
    );
    let mut choices = vec![
        publish(v5),
        connect(v5),
        connack.boxed(),
        ack.clone().prop_map(Packet::PubAck).boxed(),
        ack.clone().prop_map(Packet::PubRec).boxed(),
        ack.clone().prop_map(Packet::PubRel).boxed(),
        ack.prop_map(Packet::PubComp).boxed(),
        subscribe.boxed(),
        suback.boxed(),
        unsubscribe.boxed(),
        unsuback.boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect.boxed(),
    ];
    if v5 {
        let auth = (reason_code(), auth_properties()).prop_map(|(reason_code, properties)| {
            Packet::Auth(Auth {
                reason_code,
                properties,
            })
        });
        choices.push(auth.boxed());
    }
    prop::strategy::Union::new(choices).boxed()
}

fn version_and_packets(max: usize) -> BoxedStrategy<(ProtocolVersion, Vec<Packet>)> {
    any::<bool>()
        .prop_flat_map(move |v5| {
            let version = version(v5);
            // A CONNECT switches the decoder's version: keep CONNECTs of this version only.
            prop::collection::vec(packet(v5), 1..max).prop_map(move |p| (version, p))
        })
        .boxed()
}

fn encode_all(version: ProtocolVersion, packets: &[Packet]) -> BytesMut {
    let mut wire = BytesMut::new();
    for p in packets {
        p.encode(version, &mut wire).expect("valid packets encode");
    }
    wire
}

/// Feeds `bytes` to `decoder` and decodes until it needs more or refuses: no panic, and
/// whatever it accepts must encode again.
fn accepted_packets_encode(mut decoder: Decoder, bytes: &[u8]) -> Result<(), TestCaseError> {
    decoder.extend(bytes);
    for _ in 0..bytes.len() + 1 {
        match decoder.decode() {
            Ok(Some(p)) => {
                let mut out = BytesMut::new();
                prop_assert!(p.encode(decoder.version(), &mut out).is_ok(), "{:?}", p);
            }
            Ok(None) | Err(_) => break,
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn can_round_trip_arbitrary_valid_packets((version, packets) in version_and_packets(2)) {
        let packet = &packets[0];
        let wire = encode_all(version, &packets);
        prop_assert_eq!(packet.encoded_len(version), Ok(wire.len()));
        let mut buf = wire.clone();
        let decoded = decode(&mut buf, version, MAX_PACKET_SIZE);
        prop_assert_eq!(decoded, Ok(Some(packet.clone())));
        prop_assert!(buf.is_empty());
        // Every proper prefix is "need more" and consumes nothing.
        for n in 0..wire.len() {
            let mut prefix = BytesMut::from(&wire[..n]);
            prop_assert_eq!(decode(&mut prefix, version, MAX_PACKET_SIZE), Ok(None));
            prop_assert_eq!(prefix.len(), n);
        }
    }

    #[test]
    fn any_chunking_yields_the_same_packets(
        (version, packets) in version_and_packets(12),
        cuts in prop::collection::vec((1usize..64, 0u8..3), 0..200),
    ) {
        let wire = encode_all(version, &packets);
        let mut decoder = Decoder::new(version);
        let mut out = Vec::new();
        let wire = wire.freeze();
        let mut rest = &wire[..];
        let mut cuts = cuts.into_iter().cycle();
        let mut offset = 0;
        while !rest.is_empty() {
            let (n, way) = cuts.next().unwrap_or((rest.len(), 0));
            let n = n.min(rest.len());
            // Every way in, mixed: copied slices, owned `Bytes`, shared `Bytes`.
            match way {
                0 => decoder.extend(&rest[..n]),
                1 => decoder.extend_bytes(wire.slice(offset..offset + n)),
                _ => decoder.extend_shared(&wire.slice(offset..offset + n)),
            }
            rest = &rest[n..];
            offset += n;
            while let Some(p) = decoder.decode().expect("valid stream") {
                out.push(p);
            }
        }
        prop_assert_eq!(decoder.buffered(), 0);
        prop_assert_eq!(out, packets);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        v5 in any::<bool>(),
        max in prop_oneof![Just(MAX_PACKET_SIZE), 0u32..300],
    ) {
        let decoder = Decoder::new(version(v5)).with_max_packet_size(max);
        accepted_packets_encode(decoder, &bytes)?;
    }

    #[test]
    fn mutated_valid_packets_never_panic(
        (version, packets) in version_and_packets(4),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut wire = encode_all(version, &packets).to_vec();
        for (at, byte) in flips {
            let i = at.index(wire.len());
            wire[i] = byte;
        }
        accepted_packets_encode(Decoder::new(version), &wire)?;
    }
}
