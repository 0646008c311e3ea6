//! The client engine against a scripted in-memory broker on a simulated clock: every step
//! is explicit, nothing sleeps, each test takes milliseconds. The same tests run natively
//! and on wasm32 in headless Chromium (wasm-bindgen-test).

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::collections::VecDeque;
use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use mqttwire::client::{
    Action, Client, ClientError, ClientOptions, DisconnectedBy, Event, Handle, InFlightStore,
    OfflineQos0, ProtocolViolation, PublishError, ReconnectOptions, State,
};
use mqttwire::{
    Ack, Auth, ConnAck, Decoder, Disconnect, Duration, Instant, Packet, PacketId, Properties,
    Property, ProtocolVersion, Publish, QoS, ReasonCode, SubAck, Subscribe, Subscription,
    SubscriptionOptions, TopicFilter, TopicName, UnsubAck, Will,
};

use ProtocolVersion::{V5, V311};

/// The client and the broker's side of one simulated connection at a time.
struct Pair {
    client: Client,
    version: ProtocolVersion,
    now: Instant,
    /// Decodes what the client sent, per connection.
    broker: Decoder,
    /// Packets the client sent, not yet looked at.
    sent: VecDeque<Packet>,
    events: Vec<Event>,
    actions: Vec<Action>,
}

impl Pair {
    fn new(options: ClientOptions) -> Pair {
        let version = options.version;
        Pair {
            client: Client::new(options),
            version,
            now: Instant::from_millis(1_000),
            broker: Decoder::new(version),
            sent: VecDeque::new(),
            events: Vec::new(),
            actions: Vec::new(),
        }
    }

    fn options(version: ProtocolVersion) -> ClientOptions {
        let mut o = ClientOptions::new(version, "client-1");
        o.reconnect = Some(ReconnectOptions {
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_attempts: None,
            seed: 1,
        });
        o
    }

    /// Drains everything the client produced, as the drive loop does after every call.
    fn drive(&mut self) {
        while let Some(bytes) = self.client.poll_transmit() {
            self.broker.extend(&bytes);
            while let Some(packet) = self
                .broker
                .decode()
                .expect("the client sends valid packets")
            {
                self.sent.push_back(packet);
            }
        }
        while let Some(action) = self.client.poll_action() {
            self.actions.push(action);
        }
        while let Some(event) = self.client.poll_event() {
            self.events.push(event);
        }
    }

    /// Opens the connection the client asked for and answers its CONNECT with `connack`.
    fn accept(&mut self, connack: ConnAck) -> Packet {
        self.drive();
        assert!(
            matches!(self.actions.pop(), Some(Action::Open { .. })),
            "the client should have asked for a connection"
        );
        self.broker = Decoder::new(self.version);
        self.client.handle_connection_opened(self.now);
        self.drive();
        let connect = self.next_sent();
        assert!(
            matches!(connect, Packet::Connect(_)),
            "first packet {connect:?}"
        );
        self.server_sends(Packet::ConnAck(connack));
        connect
    }

    fn start(&mut self) -> Packet {
        self.client.connect(self.now).expect("starts");
        self.accept(ConnAck::default())
    }

    fn server_sends(&mut self, packet: Packet) {
        let mut wire = BytesMut::new();
        packet
            .encode(self.version, &mut wire)
            .expect("scripted packets are valid");
        self.client.handle_bytes(self.now, &wire);
        self.drive();
    }

    fn next_sent(&mut self) -> Packet {
        self.drive();
        self.sent
            .pop_front()
            .expect("the client should have sent a packet")
    }

    fn nothing_sent(&mut self) {
        self.drive();
        assert!(self.sent.is_empty(), "unexpected packets: {:?}", self.sent);
    }

    /// Lets `ms` milliseconds of simulated time pass, firing timers at their deadlines.
    fn advance(&mut self, ms: u64) {
        let target = self.now + Duration::from_millis(ms);
        while let Some(at) = self.client.poll_timeout().filter(|&at| at <= target) {
            self.now = self.now.max(at);
            self.client.handle_timeout(self.now);
            self.drive();
        }
        self.now = target;
    }

    fn cut(&mut self) {
        self.client.handle_connection_lost(self.now);
        self.drive();
    }

    fn take_events(&mut self) -> Vec<Event> {
        self.drive();
        std::mem::take(&mut self.events)
    }

    fn publish(&mut self, topic: &str, payload: &'static [u8], qos: QoS) -> Handle {
        let mut p = Publish::new(
            TopicName::new(topic).expect("valid"),
            Bytes::from_static(payload),
        );
        p.qos = qos;
        let handle = self.client.publish(self.now, p).expect("accepted");
        self.drive();
        handle
    }
}

fn id(v: u16) -> PacketId {
    PacketId::new(v).expect("non-zero")
}

fn publish_id(packet: &Packet) -> PacketId {
    match packet {
        Packet::Publish(p) => p.packet_id.expect("QoS > 0"),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

fn inbound(topic: &str, qos: QoS, packet_id: Option<u16>, payload: &'static [u8]) -> Packet {
    let mut p = Publish::new(
        TopicName::new(topic).expect("valid"),
        Bytes::from_static(payload),
    );
    p.qos = qos;
    p.packet_id = packet_id.and_then(PacketId::new);
    Packet::Publish(p)
}

fn messages(events: &[Event]) -> Vec<(String, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(p) => Some((p.topic.to_string(), p.payload.to_vec())),
            _ => None,
        })
        .collect()
}

fn sub(filter: &str, qos: QoS) -> Vec<Subscription> {
    vec![Subscription {
        filter: TopicFilter::new(filter).expect("valid"),
        options: SubscriptionOptions::qos(qos),
    }]
}

macro_rules! engine_test {
    ($(fn $name:ident() $body:block)*) => {
        $(
            #[cfg_attr(not(target_arch = "wasm32"), test)]
            #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
            fn $name() $body
        )*
    };
}

engine_test! {

fn connects_in_both_versions_and_reports_connack_properties() {
    for version in [V311, V5] {
        let mut pair = Pair::new(Pair::options(version));
        let Packet::Connect(connect) = pair.start() else { unreachable!() };
        assert_eq!(connect.protocol, version);
        assert_eq!(&*connect.client_id, "client-1");
        assert_eq!(connect.keep_alive, 60);
        assert!(connect.clean_start);
        assert!(pair.client.is_connected());
        assert!(matches!(pair.take_events()[..], [Event::Connected { session_present: false, .. }]));
    }
}

fn sends_will_with_properties_and_v5_limits_in_connect() {
    let mut options = Pair::options(V5);
    options.session_expiry = 3_600;
    options.receive_maximum = 10;
    options.will = Some(Will {
        topic: TopicName::new("presence/client-1").expect("valid"),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: Properties::new().with(Property::WillDelayInterval(5)),
    });
    let mut pair = Pair::new(options);
    let Packet::Connect(connect) = pair.start() else { unreachable!() };
    let will = connect.will.expect("will");
    assert_eq!(will.properties.will_delay_interval(), Some(5));
    assert!(will.retain);
    assert_eq!(connect.properties.session_expiry_interval(), Some(3_600));
    assert_eq!(connect.properties.receive_maximum(), NonZeroU16::new(10));
    assert_eq!(connect.properties.topic_alias_maximum(), Some(64));
}

fn qos0_publish_is_sent_and_completes() {
    let mut pair = Pair::new(Pair::options(V311));
    pair.start();
    pair.take_events();
    let handle = pair.publish("chat/1", b"hi", QoS::AtMostOnce);
    let Packet::Publish(p) = pair.next_sent() else { panic!("PUBLISH") };
    assert_eq!((p.qos, p.packet_id, &p.payload[..]), (QoS::AtMostOnce, None, &b"hi"[..]));
    assert_eq!(pair.take_events(), [Event::PublishComplete { handle, reason_code: ReasonCode::SUCCESS }]);
}

fn qos1_publish_completes_on_puback() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.start();
    pair.take_events();
    let handle = pair.publish("chat/1", b"hi", QoS::AtLeastOnce);
    let pid = publish_id(&pair.next_sent());
    assert!(pair.take_events().is_empty(), "not complete before PUBACK");
    assert_eq!(pair.client.store().len(), 1);
    pair.server_sends(Packet::PubAck(Ack { reason_code: ReasonCode::NO_MATCHING_SUBSCRIBERS, ..Ack::new(pid) }));
    assert_eq!(
        pair.take_events(),
        [Event::PublishComplete { handle, reason_code: ReasonCode::NO_MATCHING_SUBSCRIBERS }]
    );
    assert_eq!(pair.client.store().len(), 0);
}

fn qos1_publish_refused_by_puback_fails() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.start();
    pair.take_events();
    let handle = pair.publish("chat/1", b"hi", QoS::AtLeastOnce);
    let pid = publish_id(&pair.next_sent());
    pair.server_sends(Packet::PubAck(Ack { reason_code: ReasonCode::NOT_AUTHORIZED, ..Ack::new(pid) }));
    assert_eq!(
        pair.take_events(),
        [Event::PublishFailed { handle, error: PublishError::Refused(ReasonCode::NOT_AUTHORIZED) }]
    );
}

fn qos2_publish_flows_through_pubrec_pubrel_pubcomp() {
    for version in [V311, V5] {
        let mut pair = Pair::new(Pair::options(version));
        pair.start();
        pair.take_events();
        let handle = pair.publish("chat/1", b"once", QoS::ExactlyOnce);
        let pid = publish_id(&pair.next_sent());
        pair.server_sends(Packet::PubRec(Ack::new(pid)));
        assert_eq!(pair.next_sent(), Packet::PubRel(Ack::new(pid)));
        assert!(pair.take_events().is_empty());
        // A duplicate PUBREC gets the PUBREL again.
        pair.server_sends(Packet::PubRec(Ack::new(pid)));
        assert_eq!(pair.next_sent(), Packet::PubRel(Ack::new(pid)));
        pair.server_sends(Packet::PubComp(Ack::new(pid)));
        assert_eq!(pair.take_events(), [Event::PublishComplete { handle, reason_code: ReasonCode::SUCCESS }]);
        assert_eq!(pair.client.store().len(), 0);
    }
}

fn qos2_publish_refused_by_pubrec_fails_without_pubrel() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.start();
    pair.take_events();
    let handle = pair.publish("chat/1", b"x", QoS::ExactlyOnce);
    let pid = publish_id(&pair.next_sent());
    pair.server_sends(Packet::PubRec(Ack { reason_code: ReasonCode::QUOTA_EXCEEDED, ..Ack::new(pid) }));
    pair.nothing_sent();
    assert_eq!(
        pair.take_events(),
        [Event::PublishFailed { handle, error: PublishError::Refused(ReasonCode::QUOTA_EXCEEDED) }]
    );
}

fn inbound_qos0_and_qos1_are_delivered_and_qos1_acked() {
    let mut pair = Pair::new(Pair::options(V311));
    pair.start();
    pair.take_events();
    pair.server_sends(inbound("a", QoS::AtMostOnce, None, b"zero"));
    pair.nothing_sent();
    pair.server_sends(inbound("b", QoS::AtLeastOnce, Some(9), b"one"));
    assert_eq!(pair.next_sent(), Packet::PubAck(Ack::new(id(9))));
    assert_eq!(
        messages(&pair.take_events()),
        [("a".into(), b"zero".to_vec()), ("b".into(), b"one".to_vec())]
    );
}

fn inbound_qos2_is_delivered_once_even_when_resent_before_pubrel() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.start();
    pair.take_events();
    pair.server_sends(inbound("t", QoS::ExactlyOnce, Some(3), b"exactly"));
    assert_eq!(pair.next_sent(), Packet::PubRec(Ack::new(id(3))));
    let mut again = inbound("t", QoS::ExactlyOnce, Some(3), b"exactly");
    if let Packet::Publish(p) = &mut again {
        p.dup = true;
    }
    pair.server_sends(again);
    assert_eq!(pair.next_sent(), Packet::PubRec(Ack::new(id(3))));
    assert_eq!(messages(&pair.take_events()).len(), 1, "delivered once");
    pair.server_sends(Packet::PubRel(Ack::new(id(3))));
    assert_eq!(pair.next_sent(), Packet::PubComp(Ack::new(id(3))));
    // After PUBREL the identifier is free: the same id is a new message.
    pair.server_sends(inbound("t", QoS::ExactlyOnce, Some(3), b"second"));
    assert_eq!(pair.next_sent(), Packet::PubRec(Ack::new(id(3))));
    assert_eq!(messages(&pair.take_events()), [("t".into(), b"second".to_vec())]);
}

fn inbound_qos2_survives_a_reconnect_with_session() {
    let mut options = Pair::options(V311);
    options.clean_start = false;
    let mut pair = Pair::new(options);
    pair.start();
    pair.server_sends(inbound("t", QoS::ExactlyOnce, Some(4), b"m"));
    let _pubrec = pair.next_sent();
    pair.cut();
    pair.advance(2_000);
    pair.accept(ConnAck { session_present: true, ..ConnAck::default() });
    pair.take_events();
    // The server resends the PUBLISH (DUP): not delivered again.
    pair.server_sends(inbound("t", QoS::ExactlyOnce, Some(4), b"m"));
    assert_eq!(pair.next_sent(), Packet::PubRec(Ack::new(id(4))));
    assert!(messages(&pair.take_events()).is_empty());
}

fn resends_unacknowledged_with_dup_in_original_order_on_session_resume() {
    for version in [V311, V5] {
        let mut options = Pair::options(version);
        options.clean_start = false;
        options.session_expiry = 600;
        let mut pair = Pair::new(options);
        pair.start();
        pair.take_events();
        pair.publish("a", b"1", QoS::AtLeastOnce);
        pair.publish("b", b"2", QoS::ExactlyOnce);
        pair.publish("c", b"3", QoS::ExactlyOnce);
        let ids: Vec<_> = (0..3).map(|_| publish_id(&pair.next_sent())).collect();
        pair.server_sends(Packet::PubRec(Ack::new(ids[2])));
        assert_eq!(pair.next_sent(), Packet::PubRel(Ack::new(ids[2])));
        pair.cut();
        assert!(matches!(pair.take_events()[..], [Event::Disconnected { by: DisconnectedBy::Transport, .. }, Event::Reconnecting { attempt: 1, .. }]));
        pair.advance(200);
        let Packet::Connect(connect) = pair.accept(ConnAck { session_present: true, ..ConnAck::default() }) else {
            unreachable!()
        };
        assert!(!connect.clean_start, "{version}: a reconnect resumes the session");
        // [MQTT-4.4.0-1] PUBLISH with DUP for a and b, PUBREL for c, in the original order.
        for (i, topic) in ["a", "b"].iter().enumerate() {
            let Packet::Publish(p) = pair.next_sent() else { panic!("PUBLISH") };
            assert!(p.dup);
            assert_eq!((&*p.topic, p.packet_id), (*topic, Some(ids[i])));
        }
        assert_eq!(pair.next_sent(), Packet::PubRel(Ack::new(ids[2])));
        pair.nothing_sent();
    }
}

fn without_session_resubscribes_and_resends_as_new_publishes() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.start();
    let handle = pair.client.subscribe(pair.now, sub("chat/#", QoS::AtLeastOnce), Properties::new()).expect("ok");
    let Packet::Subscribe(s) = pair.next_sent() else { panic!("SUBSCRIBE") };
    pair.server_sends(Packet::SubAck(SubAck { packet_id: s.packet_id, properties: Properties::new(), reason_codes: vec![ReasonCode(1)] }));
    let q2 = pair.publish("b", b"2", QoS::ExactlyOnce);
    let q1 = pair.publish("a", b"1", QoS::AtLeastOnce);
    let q2_id = publish_id(&pair.next_sent());
    let _ = pair.next_sent();
    pair.server_sends(Packet::PubRec(Ack::new(q2_id)));
    let _pubrel = pair.next_sent();
    pair.take_events();
    pair.cut();
    pair.advance(500);
    pair.accept(ConnAck::default());
    // q2 had its PUBREC: the server had it, so it is complete, not sent twice.
    let Packet::Publish(p) = pair.next_sent() else { panic!("PUBLISH a") };
    assert!(!p.dup && &*p.topic == "a");
    let Packet::Subscribe(s) = pair.next_sent() else { panic!("resubscribe") };
    assert_eq!(&*s.subscriptions[0].filter, "chat/#");
    let events = pair.take_events();
    assert!(events.contains(&Event::PublishComplete { handle: q2, reason_code: ReasonCode::SUCCESS }));
    assert!(!events.iter().any(|e| matches!(e, Event::PublishComplete { handle, .. } if *handle == q1)));
    pair.server_sends(Packet::SubAck(SubAck { packet_id: s.packet_id, properties: Properties::new(), reason_codes: vec![ReasonCode(1)] }));
    assert!(pair.take_events().contains(&Event::Subscribed { handle: None, reason_codes: vec![ReasonCode(1)] }));
    let _ = handle;
}

fn without_session_and_without_resend_publishes_fail() {
    let mut options = Pair::options(V311);
    options.resend_without_session = false;
    options.resubscribe = false;
    let mut pair = Pair::new(options);
    pair.start();
    let handle = pair.publish("a", b"1", QoS::AtLeastOnce);
    let _ = pair.next_sent();
    pair.take_events();
    pair.cut();
    pair.advance(500);
    pair.accept(ConnAck::default());
    pair.nothing_sent();
    assert!(pair.take_events().contains(&Event::PublishFailed { handle, error: PublishError::SessionLost }));
}

fn keepalive_sends_pingreq_when_idle_and_pingresp_clears_it() {
    let mut options = Pair::options(V311);
    options.keep_alive = 10;
    let mut pair = Pair::new(options);
    pair.start();
    pair.advance(5_000);
    pair.publish("a", b"x", QoS::AtMostOnce); // sending resets the idle time
    let _ = pair.next_sent();
    pair.advance(9_999);
    pair.nothing_sent();
    pair.advance(1);
    assert_eq!(pair.next_sent(), Packet::PingReq);
    pair.server_sends(Packet::PingResp);
    pair.advance(9_999);
    pair.nothing_sent();
    assert!(pair.client.is_connected());
}

fn keepalive_declares_the_connection_lost_without_pingresp() {
    let mut options = Pair::options(V5);
    options.keep_alive = 10;
    let mut pair = Pair::new(options);
    pair.start();
    pair.take_events();
    pair.advance(10_000);
    assert_eq!(pair.next_sent(), Packet::PingReq);
    pair.advance(4_999);
    assert!(pair.client.is_connected());
    pair.advance(1);
    assert_eq!(pair.next_sent(), Packet::Disconnect(Disconnect::new(ReasonCode::KEEP_ALIVE_TIMEOUT)));
    assert!(pair.actions.contains(&Action::Close));
    let events = pair.take_events();
    assert!(matches!(events[0], Event::ProtocolError { violation: ProtocolViolation::PingTimeout(d), .. } if d == Duration::from_secs(5)));
    assert_eq!(pair.client.state(), State::WaitingReconnect);
}

fn honours_server_keep_alive() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.client.connect(pair.now).expect("starts");
    pair.accept(ConnAck { properties: Properties::new().with(Property::ServerKeepAlive(3)), ..ConnAck::default() });
    pair.advance(3_000);
    assert_eq!(pair.next_sent(), Packet::PingReq);
}

fn connack_timeout_closes_and_reconnects() {
    let mut options = Pair::options(V311);
    options.connect_timeout = Duration::from_secs(2);
    let mut pair = Pair::new(options);
    pair.client.connect(pair.now).expect("starts");
    pair.drive();
    pair.actions.clear();
    pair.client.handle_connection_opened(pair.now);
    let _connect = pair.next_sent();
    pair.advance(1_999);
    assert_eq!(pair.client.state(), State::AwaitingConnAck);
    pair.advance(1);
    assert!(pair.actions.contains(&Action::Close));
    let events = pair.take_events();
    assert!(matches!(events[0], Event::ProtocolError { violation: ProtocolViolation::ConnAckTimeout(d), .. } if d == Duration::from_secs(2)));
    assert!(matches!(events.last(), Some(Event::Reconnecting { attempt: 1, .. })));
    pair.advance(100);
    assert!(matches!(pair.actions.last(), Some(Action::Open { attempt: 1 })));
}

fn packet_ids_wrap_and_skip_ids_still_in_flight() {
    let mut pair = Pair::new(Pair::options(V311));
    pair.start();
    pair.publish("held", b"", QoS::AtLeastOnce);
    let held = publish_id(&pair.next_sent());
    assert_eq!(held, id(1));
    // Use every other identifier once, acknowledging each, so the counter wraps.
    for expected in 2..=u16::MAX {
        pair.publish("t", b"", QoS::AtLeastOnce);
        let pid = publish_id(&pair.sent.pop_front().expect("sent"));
        assert_eq!(pid.get(), expected);
        pair.client.handle_bytes(pair.now, &[0x40, 0x02, (expected >> 8) as u8, expected as u8]);
    }
    pair.take_events();
    // Wrapped: 1 is still in flight, so the next is 2.
    pair.publish("t", b"", QoS::AtLeastOnce);
    assert_eq!(publish_id(&pair.next_sent()), id(2));
}

fn receive_maximum_windows_publishes() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.client.connect(pair.now).expect("starts");
    pair.accept(ConnAck { properties: Properties::new().with(Property::ReceiveMaximum(NonZeroU16::new(2).expect("2"))), ..ConnAck::default() });
    for topic in ["a", "b", "c", "d"] {
        let mut p = Publish::new(TopicName::new(topic).expect("valid"), Bytes::new());
        p.qos = QoS::AtLeastOnce;
        pair.client.publish(pair.now, p).expect("queued");
    }
    let first = publish_id(&pair.next_sent());
    let _second = pair.next_sent();
    pair.nothing_sent();
    assert_eq!(pair.client.queued(), 2);
    pair.server_sends(Packet::PubAck(Ack::new(first)));
    let Packet::Publish(third) = pair.next_sent() else { panic!("PUBLISH c") };
    assert_eq!(&*third.topic, "c");
    pair.nothing_sent();
}

fn caps_messages_in_flight_on_v311() {
    let mut options = Pair::options(V311);
    options.max_inflight = 2;
    let mut pair = Pair::new(options);
    pair.start();
    for topic in ["a", "b", "c"] {
        pair.publish(topic, b"", QoS::ExactlyOnce);
    }
    let first = publish_id(&pair.next_sent());
    let _second = pair.next_sent();
    pair.nothing_sent();
    pair.server_sends(Packet::PubRec(Ack::new(first)));
    assert_eq!(pair.next_sent(), Packet::PubRel(Ack::new(first)));
    pair.nothing_sent(); // still in flight until PUBCOMP
    pair.server_sends(Packet::PubComp(Ack::new(first)));
    let Packet::Publish(third) = pair.next_sent() else { panic!("PUBLISH c") };
    assert_eq!(&*third.topic, "c");
}

fn resolves_inbound_topic_aliases() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.start();
    pair.take_events();
    let alias = NonZeroU16::new(7).expect("7");
    let mut first = Publish::new(TopicName::new("metrics/cpu").expect("valid"), Bytes::from_static(b"1"));
    first.properties.push(Property::TopicAlias(alias));
    pair.server_sends(Packet::Publish(first));
    let mut second = Publish::new(TopicName::from_alias_placeholder(), Bytes::from_static(b"2"));
    second.properties.push(Property::TopicAlias(alias));
    pair.server_sends(Packet::Publish(second));
    assert_eq!(
        messages(&pair.take_events()),
        [("metrics/cpu".into(), b"1".to_vec()), ("metrics/cpu".into(), b"2".to_vec())]
    );
}

fn unknown_or_out_of_range_topic_alias_disconnects_with_0x94() {
    for alias in [5u16, 65] {
        let mut pair = Pair::new(Pair::options(V5));
        pair.start();
        pair.take_events();
        let mut p = Publish::new(TopicName::from_alias_placeholder(), Bytes::new());
        p.properties.push(Property::TopicAlias(NonZeroU16::new(alias).expect("non-zero")));
        pair.server_sends(Packet::Publish(p));
        assert_eq!(pair.next_sent(), Packet::Disconnect(Disconnect::new(ReasonCode::TOPIC_ALIAS_INVALID)));
        assert!(pair.actions.contains(&Action::Close));
        assert!(matches!(pair.take_events()[0], Event::ProtocolError { reason_code: ReasonCode::TOPIC_ALIAS_INVALID, .. }));
    }
}

fn assigns_outbound_topic_aliases_when_allowed() {
    let mut options = Pair::options(V5);
    options.outbound_topic_aliases = true;
    let mut pair = Pair::new(options);
    pair.client.connect(pair.now).expect("starts");
    pair.accept(ConnAck { properties: Properties::new().with(Property::TopicAliasMaximum(1)), ..ConnAck::default() });
    pair.publish("chat/room/42", b"1", QoS::AtMostOnce);
    pair.publish("chat/room/42", b"2", QoS::AtMostOnce);
    pair.publish("chat/room/7", b"3", QoS::AtMostOnce);
    let Packet::Publish(a) = pair.next_sent() else { panic!() };
    let Packet::Publish(b) = pair.next_sent() else { panic!() };
    let Packet::Publish(c) = pair.next_sent() else { panic!() };
    assert_eq!((&*a.topic, a.properties.topic_alias().map(NonZeroU16::get)), ("chat/room/42", Some(1)));
    assert_eq!((b.topic.is_empty(), b.properties.topic_alias().map(NonZeroU16::get)), (true, Some(1)));
    assert_eq!((&*c.topic, c.properties.topic_alias()), ("chat/room/7", None), "only one alias allowed");
}

fn offline_queue_keeps_order_and_its_byte_limit() {
    let mut options = Pair::options(V311);
    // Each QoS 1 PUBLISH below is 2 + 2 + 1 + 2 + 10 = 17 bytes.
    options.max_queued_bytes = 3 * 17;
    let mut pair = Pair::new(options);
    let h: Vec<_> = ["a", "b", "c"].iter().map(|t| pair.publish(t, b"0123456789", QoS::AtLeastOnce)).collect();
    assert_eq!(pair.client.queued_bytes(), 51);
    let mut p = Publish::new(TopicName::new("d").expect("valid"), Bytes::from_static(b"0123456789"));
    p.qos = QoS::AtLeastOnce;
    let refused = pair.client.publish(pair.now, p.clone()).expect_err("over the limit");
    assert_eq!(refused, ClientError::QueueFull(51));
    let message = refused.to_string();
    assert!(message.contains("51 bytes") && message.contains("max_queued_bytes"), "{message}");
    // The refusal fails that command only: what was accepted stays, in order.
    assert!(pair.take_events().is_empty());
    pair.nothing_sent();
    pair.start();
    for topic in ["a", "b", "c"] {
        let Packet::Publish(p) = pair.next_sent() else { panic!("PUBLISH") };
        assert_eq!(&*p.topic, topic);
    }
    assert_eq!((h.len(), pair.client.queued_bytes()), (3, 0));
    // Once the queue has drained the same publish is accepted.
    pair.client.publish(pair.now, p).expect("room again");
}

fn accepts_a_burst_of_100_000_qos1_publishes_while_connected_paced_by_the_window() {
    const N: u32 = 100_000;
    let mut pair = Pair::new(Pair::options(V5));
    pair.client.connect(pair.now).expect("starts");
    pair.accept(ConnAck { properties: Properties::new().with(Property::ReceiveMaximum(NonZeroU16::new(20).expect("20"))), ..ConnAck::default() });
    pair.take_events();
    let mut handles = Vec::new();
    for n in 0..N {
        let mut p = Publish::new(TopicName::new("burst").expect("valid"), Bytes::copy_from_slice(&n.to_be_bytes()));
        p.qos = QoS::AtLeastOnce;
        handles.push(pair.client.publish(pair.now, p).expect("a burst while connected is accepted"));
    }
    // The window, not the caller, paces the wire: 20 out, the rest waits.
    pair.drive();
    assert_eq!((pair.sent.len(), pair.client.queued()), (20, N as usize - 20));
    let mut next = 0u32;
    let mut completed = 0usize;
    while let Some(packet) = pair.sent.pop_front() {
        let Packet::Publish(p) = &packet else { panic!("expected PUBLISH, got {packet:?}") };
        assert_eq!(&p.payload[..], next.to_be_bytes(), "in order");
        next += 1;
        pair.server_sends(Packet::PubAck(Ack::new(publish_id(&packet))));
        completed += pair.take_events().iter().filter(|e| matches!(e, Event::PublishComplete { .. })).count();
    }
    assert_eq!((next, completed, pair.client.queued_bytes()), (N, N as usize, 0));
}

fn accepts_bursts_of_qos0_qos2_and_subscribe_commands_while_connected() {
    const N: usize = 10_000;
    let mut options = Pair::options(V311);
    options.max_inflight = 5;
    let mut pair = Pair::new(options);
    pair.start();
    pair.take_events();
    for n in 0..N {
        let qos = if n % 2 == 0 { QoS::AtMostOnce } else { QoS::ExactlyOnce };
        let mut p = Publish::new(TopicName::new("burst").expect("valid"), Bytes::copy_from_slice(&(n as u32).to_be_bytes()));
        p.qos = qos;
        pair.client.publish(pair.now, p).expect("accepted");
        pair.client.subscribe(pair.now, sub(&format!("s/{n}"), QoS::AtLeastOnce), Properties::new()).expect("accepted");
    }
    let (mut publishes, mut subscribes) = (0usize, 0usize);
    pair.drive();
    while let Some(packet) = pair.sent.pop_front() {
        match packet {
            Packet::Publish(p) => {
                assert_eq!(&p.payload[..], (publishes as u32).to_be_bytes(), "in order");
                publishes += 1;
                if let Some(id) = p.packet_id {
                    pair.server_sends(Packet::PubRec(Ack::new(id)));
                }
            }
            Packet::PubRel(ack) => pair.server_sends(Packet::PubComp(Ack::new(ack.packet_id))),
            Packet::Subscribe(s) => {
                assert_eq!(&*s.subscriptions[0].filter, format!("s/{subscribes}"));
                subscribes += 1;
                pair.server_sends(Packet::SubAck(SubAck { packet_id: s.packet_id, properties: Properties::new(), reason_codes: vec![ReasonCode::GRANTED_QOS_1] }));
            }
            other => panic!("unexpected {other:?}"),
        }
        pair.drive();
    }
    assert_eq!((publishes, subscribes, pair.client.queued()), (N, N, 0));
}

fn offline_qos0_drop_policy_fails_at_once() {
    let mut options = Pair::options(V311);
    options.offline_qos0 = OfflineQos0::Drop;
    let mut pair = Pair::new(options);
    let handle = pair.publish("a", b"", QoS::AtMostOnce);
    assert_eq!(pair.take_events(), [Event::PublishFailed { handle, error: PublishError::DroppedOffline }]);
    assert_eq!(pair.client.queued(), 0);
}

fn malformed_bytes_from_the_server_disconnect_with_0x81() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.start();
    pair.take_events();
    pair.client.handle_bytes(pair.now, &[0x36, 0x03, 0x00, 0x01, b't']); // QoS 3
    pair.drive();
    assert_eq!(pair.next_sent(), Packet::Disconnect(Disconnect::new(ReasonCode::MALFORMED_PACKET)));
    assert!(pair.actions.contains(&Action::Close));
    let events = pair.take_events();
    assert!(matches!(events[0], Event::ProtocolError { reason_code: ReasonCode::MALFORMED_PACKET, .. }));
    // Bytes arriving after the close are ignored.
    pair.client.handle_bytes(pair.now, &[0x30, 0x03, 0x00, 0x01, b't']);
    assert!(pair.take_events().is_empty());
}

fn server_protocol_violations_close_with_0x82() {
    let violations: Vec<Packet> = vec![
        Packet::ConnAck(ConnAck::default()),
        Packet::Subscribe(Subscribe::new(id(1), TopicFilter::new("a").expect("valid"), SubscriptionOptions::default())),
        Packet::PingReq,
    ];
    for packet in violations {
        let mut pair = Pair::new(Pair::options(V5));
        pair.start();
        pair.take_events();
        pair.server_sends(packet.clone());
        assert_eq!(pair.next_sent(), Packet::Disconnect(Disconnect::new(ReasonCode::PROTOCOL_ERROR)), "{packet:?}");
        assert!(matches!(pair.take_events()[0], Event::ProtocolError { violation: ProtocolViolation::UnexpectedPacket(_), .. }));
    }
    // A SUBACK with the wrong number of codes.
    let mut pair = Pair::new(Pair::options(V5));
    pair.start();
    pair.client.subscribe(pair.now, sub("a/#", QoS::AtMostOnce), Properties::new()).expect("ok");
    let Packet::Subscribe(s) = pair.next_sent() else { panic!() };
    pair.take_events();
    pair.server_sends(Packet::SubAck(SubAck { packet_id: s.packet_id, properties: Properties::new(), reason_codes: vec![ReasonCode(0), ReasonCode(0)] }));
    assert_eq!(pair.next_sent(), Packet::Disconnect(Disconnect::new(ReasonCode::PROTOCOL_ERROR)));
    assert!(matches!(pair.take_events()[0], Event::ProtocolError { violation: ProtocolViolation::ReasonCodeCount { expected: 1, got: 2, .. }, .. }));
}

fn v311_violations_close_without_disconnect() {
    let mut pair = Pair::new(Pair::options(V311));
    pair.start();
    pair.take_events();
    pair.server_sends(Packet::PingReq);
    pair.nothing_sent();
    assert!(pair.actions.contains(&Action::Close));
    assert!(matches!(pair.take_events()[0], Event::ProtocolError { .. }));
}

fn subscribe_and_unsubscribe_report_their_codes() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.start();
    let mut props = Properties::new();
    props.push(Property::SubscriptionIdentifier(NonZeroU32::new(9).expect("9")));
    let handle = pair.client.subscribe(pair.now, sub("x/+", QoS::ExactlyOnce), props).expect("ok");
    let Packet::Subscribe(s) = pair.next_sent() else { panic!() };
    assert_eq!(s.properties.subscription_identifiers().next().map(NonZeroU32::get), Some(9));
    pair.server_sends(Packet::SubAck(SubAck { packet_id: s.packet_id, properties: Properties::new(), reason_codes: vec![ReasonCode::GRANTED_QOS_1] }));
    assert!(pair.take_events().contains(&Event::Subscribed { handle: Some(handle), reason_codes: vec![ReasonCode::GRANTED_QOS_1] }));
    assert_eq!(pair.client.subscriptions().count(), 1);
    let handle = pair.client.unsubscribe(pair.now, vec![TopicFilter::new("x/+").expect("valid")], Properties::new()).expect("ok");
    let Packet::Unsubscribe(u) = pair.next_sent() else { panic!() };
    pair.server_sends(Packet::UnsubAck(UnsubAck { packet_id: u.packet_id, properties: Properties::new(), reason_codes: vec![ReasonCode::SUCCESS] }));
    assert!(pair.take_events().contains(&Event::Unsubscribed { handle, reason_codes: vec![ReasonCode::SUCCESS] }));
    assert_eq!(pair.client.subscriptions().count(), 0);
}

fn reconnect_backs_off_with_jitter_and_gives_up_after_max_attempts() {
    let mut options = Pair::options(V311);
    options.reconnect = Some(ReconnectOptions { min_delay: Duration::from_millis(100), max_delay: Duration::from_millis(400), max_attempts: Some(3), seed: 42 });
    let mut pair = Pair::new(options);
    pair.client.connect(pair.now).expect("starts");
    for (attempt, cap) in [(1u32, 100u64), (2, 200), (3, 400)] {
        pair.drive();
        pair.actions.clear();
        let before = pair.now;
        pair.cut(); // the connection could not be opened
        let Some(Event::Reconnecting { at, attempt: got }) = pair.take_events().pop() else { panic!("scheduled") };
        assert_eq!(got, attempt);
        assert!(at > before && at - before <= Duration::from_millis(cap), "delay {:?} above cap {cap} ms", at - before);
        pair.advance(cap);
        assert!(matches!(pair.actions.last(), Some(Action::Open { .. })));
    }
    pair.cut();
    assert!(pair.take_events().contains(&Event::ReconnectGaveUp));
    assert_eq!(pair.client.state(), State::Idle);
}

fn reconnect_sends_disconnect_then_opens_at_once_and_resumes_the_session() {
    let mut options = Pair::options(V5);
    options.session_expiry = 60;
    let mut pair = Pair::new(options);
    pair.start();
    pair.take_events();
    pair.actions.clear();
    pair.publish("t", b"1", QoS::AtLeastOnce);
    let first = pair.next_sent();
    pair.client.reconnect(pair.now);
    assert_eq!(pair.next_sent(), Packet::Disconnect(Disconnect::new(ReasonCode::SUCCESS)), "normal: no will");
    assert_eq!(pair.actions, [Action::Close, Action::Open { attempt: 0 }]);
    let disconnected = Event::Disconnected { by: DisconnectedBy::Client, reason_code: ReasonCode::SUCCESS, properties: Properties::new() };
    assert_eq!(pair.take_events(), [disconnected]);
    let Packet::Connect(connect) = pair.accept(ConnAck { session_present: true, ..ConnAck::default() }) else { unreachable!() };
    assert!(!connect.clean_start, "the session is resumed");
    let Packet::Publish(again) = pair.next_sent() else { panic!("the message in flight is resent") };
    assert!(again.dup);
    assert_eq!(again.packet_id, Some(publish_id(&first)));
}

fn reconnect_brings_a_waiting_attempt_forward_and_restarts_a_stopped_client() {
    let mut options = Pair::options(V311);
    options.reconnect = Some(ReconnectOptions { min_delay: Duration::from_secs(60), max_delay: Duration::from_secs(60), max_attempts: Some(1), seed: 3 });
    let mut pair = Pair::new(options);
    pair.start();
    pair.cut();
    pair.actions.clear();
    pair.client.reconnect(pair.now);
    pair.drive();
    assert_eq!(pair.actions, [Action::Open { attempt: 0 }], "at once, nothing to close");
    pair.cut(); // the attempt fails: the backoff started over, so one more is allowed
    assert!(!pair.take_events().contains(&Event::ReconnectGaveUp));
    pair.advance(60_000);
    pair.cut();
    assert!(pair.take_events().contains(&Event::ReconnectGaveUp));
    assert_eq!(pair.client.state(), State::Idle);
    pair.actions.clear();
    pair.client.reconnect(pair.now);
    pair.accept(ConnAck::default());
    assert!(pair.client.is_connected(), "a client that gave up starts again");
    pair.client.disconnect(pair.now, ReasonCode::SUCCESS, Properties::new());
    assert!(matches!(pair.next_sent(), Packet::Disconnect(_)));
    pair.actions.clear();
    pair.client.reconnect(pair.now);
    pair.accept(ConnAck::default());
    assert!(pair.client.is_connected(), "so does a disconnected one");
}

fn last_packet_id_is_the_identifier_last_sent() {
    let mut pair = Pair::new(Pair::options(V5));
    assert_eq!(pair.client.last_packet_id(), None);
    pair.start();
    pair.publish("t", b"", QoS::AtMostOnce);
    assert_eq!(pair.client.last_packet_id(), None, "QoS 0 has none");
    pair.publish("t", b"", QoS::AtLeastOnce);
    assert_eq!(pair.client.last_packet_id(), Some(id(1)));
    pair.client.subscribe(pair.now, sub("a/#", QoS::AtMostOnce), Properties::new()).expect("accepted");
    assert_eq!(pair.client.last_packet_id(), Some(id(2)));
    pair.client.unsubscribe(pair.now, vec![TopicFilter::new("a/#").expect("valid")], Properties::new()).expect("accepted");
    assert_eq!(pair.client.last_packet_id(), Some(id(3)));
    pair.cut();
    pair.publish("t", b"", QoS::ExactlyOnce);
    assert_eq!(pair.client.last_packet_id(), Some(id(3)), "a queued publish has no identifier yet");
}

fn credentials_can_be_replaced_before_each_attempt() {
    let mut options = Pair::options(V5);
    options.username = Some("u".into());
    options.password = Some(Bytes::from_static(b"token-1"));
    let mut pair = Pair::new(options);
    pair.start();
    pair.cut();
    pair.advance(100);
    assert!(matches!(pair.actions.last(), Some(Action::Open { .. })));
    pair.client.set_credentials(Some("u".into()), Some(Bytes::from_static(b"token-2")));
    let Packet::Connect(connect) = pair.accept(ConnAck::default()) else { unreachable!() };
    assert_eq!(connect.password.as_deref(), Some(&b"token-2"[..]));
}

fn network_offline_pauses_reconnect_until_online() {
    let mut pair = Pair::new(Pair::options(V311));
    pair.start();
    pair.client.set_network_available(pair.now, false);
    pair.cut();
    pair.actions.clear();
    pair.advance(60_000);
    assert!(pair.actions.is_empty(), "no attempt while offline");
    pair.client.set_network_available(pair.now, true);
    pair.advance(0);
    assert!(matches!(pair.actions.last(), Some(Action::Open { .. })));
}

fn server_redirection_and_refusal_are_surfaced() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.client.connect(pair.now).expect("starts");
    let properties = Properties::new().with(Property::ServerReference("other.example:1883".into()));
    pair.accept(ConnAck { reason_code: ReasonCode::USE_ANOTHER_SERVER, properties: properties.clone(), ..ConnAck::default() });
    let events = pair.take_events();
    assert_eq!(events[0], Event::Disconnected { by: DisconnectedBy::Server, reason_code: ReasonCode::USE_ANOTHER_SERVER, properties });
    assert!(pair.actions.contains(&Action::Close));
    assert!(!pair.client.is_connected());
}

fn server_disconnect_is_reported_and_reconnects() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.start();
    pair.take_events();
    pair.server_sends(Packet::Disconnect(Disconnect::new(ReasonCode::SESSION_TAKEN_OVER)));
    let events = pair.take_events();
    assert!(matches!(events[0], Event::Disconnected { by: DisconnectedBy::Server, reason_code: ReasonCode::SESSION_TAKEN_OVER, .. }));
    assert!(matches!(events[1], Event::Reconnecting { .. }));
}

fn enhanced_authentication_is_surfaced_and_answered() {
    let mut options = Pair::options(V5);
    options.properties.push(Property::AuthenticationMethod("SCRAM-SHA-1".into()));
    let mut pair = Pair::new(options);
    pair.client.connect(pair.now).expect("starts");
    pair.drive();
    pair.client.handle_connection_opened(pair.now);
    let _ = pair.next_sent();
    let challenge = Properties::new()
        .with(Property::AuthenticationMethod("SCRAM-SHA-1".into()))
        .with(Property::AuthenticationData(Bytes::from_static(b"challenge")));
    pair.server_sends(Packet::Auth(Auth { reason_code: ReasonCode::CONTINUE_AUTHENTICATION, properties: challenge.clone() }));
    assert_eq!(pair.take_events(), [Event::Auth { reason_code: ReasonCode::CONTINUE_AUTHENTICATION, properties: challenge }]);
    let answer = Properties::new()
        .with(Property::AuthenticationMethod("SCRAM-SHA-1".into()))
        .with(Property::AuthenticationData(Bytes::from_static(b"response")));
    pair.client.auth(pair.now, ReasonCode::CONTINUE_AUTHENTICATION, answer.clone()).expect("sent");
    assert_eq!(pair.next_sent(), Packet::Auth(Auth { reason_code: ReasonCode::CONTINUE_AUTHENTICATION, properties: answer }));
}

fn server_limits_refuse_oversized_qos_and_retain() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.client.connect(pair.now).expect("starts");
    pair.accept(ConnAck {
        properties: Properties::new()
            .with(Property::MaximumPacketSize(NonZeroU32::new(64).expect("64")))
            .with(Property::MaximumQoS(QoS::AtLeastOnce))
            .with(Property::RetainAvailable(false)),
        ..ConnAck::default()
    });
    let big = Publish::new(TopicName::new("t").expect("valid"), Bytes::from(vec![0u8; 100]));
    assert!(matches!(pair.client.publish(pair.now, big), Err(ClientError::PacketTooLarge { max: 64, .. })));
    let mut q2 = Publish::new(TopicName::new("t").expect("valid"), Bytes::new());
    q2.qos = QoS::ExactlyOnce;
    assert_eq!(pair.client.publish(pair.now, q2), Err(ClientError::QoSNotSupported { requested: 2, max: 1 }));
    let mut retained = Publish::new(TopicName::new("t").expect("valid"), Bytes::new());
    retained.retain = true;
    assert_eq!(pair.client.publish(pair.now, retained), Err(ClientError::RetainNotSupported));
    pair.nothing_sent();
}

fn rejects_v5_features_on_v311() {
    let mut pair = Pair::new(Pair::options(V311));
    let mut p = Publish::new(TopicName::new("t").expect("valid"), Bytes::new());
    p.properties.push(Property::ContentType("text/plain".into()));
    assert!(matches!(pair.client.publish(pair.now, p), Err(ClientError::Invalid(_))));
    assert_eq!(pair.client.auth(pair.now, ReasonCode::SUCCESS, Properties::new()), Err(ClientError::AuthUnavailable));
}

fn disconnect_sends_disconnect_stops_and_fails_queued_commands() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.start();
    pair.take_events();
    pair.client.disconnect(pair.now, ReasonCode::DISCONNECT_WITH_WILL, Properties::new());
    assert_eq!(pair.next_sent(), Packet::Disconnect(Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL)));
    assert!(pair.actions.contains(&Action::Close));
    assert_eq!(pair.client.state(), State::Idle);
    assert_eq!(pair.client.poll_timeout(), None);
    let handle = pair.publish("t", b"", QoS::AtLeastOnce);
    assert_eq!(pair.client.queued(), 1);
    pair.client.connect(pair.now).expect("restarts");
    pair.client.disconnect(pair.now, ReasonCode::SUCCESS, Properties::new());
    assert!(pair.take_events().contains(&Event::PublishFailed { handle, error: PublishError::Stopped }));
}

fn spurious_timeouts_and_inputs_in_the_wrong_state_are_harmless() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.client.handle_timeout(Instant::ORIGIN);
    pair.client.handle_bytes(Instant::ORIGIN, &[0xff, 0xff]);
    pair.client.handle_connection_lost(Instant::ORIGIN);
    pair.client.handle_connection_opened(Instant::ORIGIN);
    pair.nothing_sent();
    assert!(pair.take_events().is_empty());
    pair.start();
    for _ in 0..3 {
        pair.client.handle_timeout(pair.now);
    }
    pair.nothing_sent();
    assert_eq!(pair.client.connect(pair.now), Err(ClientError::AlreadyStarted));
}

fn a_restart_from_a_snapshot_resends_in_flight_then_queued_and_knows_inbound_qos2() {
    for version in [V311, V5] {
        let mut options = Pair::options(version);
        options.clean_start = false;
        options.session_expiry = 600;
        let mut pair = Pair::new(options.clone());
        pair.start();
        pair.take_events();
        pair.publish("a", b"1", QoS::AtLeastOnce);
        pair.publish("b", b"2", QoS::ExactlyOnce);
        pair.publish("c", b"3", QoS::ExactlyOnce);
        let ids: Vec<_> = (0..3).map(|_| publish_id(&pair.next_sent())).collect();
        pair.server_sends(Packet::PubRec(Ack::new(ids[2])));
        assert_eq!(pair.next_sent(), Packet::PubRel(Ack::new(ids[2])));
        pair.server_sends(inbound("in", QoS::ExactlyOnce, Some(7), b"x"));
        assert_eq!(pair.next_sent(), Packet::PubRec(Ack::new(id(7))));
        pair.cut();
        pair.publish("d", b"4", QoS::AtLeastOnce);
        pair.publish("zero", b"", QoS::AtMostOnce);
        let snapshot = pair.client.snapshot();

        // The process ends; a new one starts from the snapshot.
        let mut restarted = Pair::new(options);
        restarted.client.restore(&snapshot).expect("a snapshot restores");
        assert_eq!(restarted.client.store().len(), 3);
        assert_eq!(restarted.client.queued(), 1, "{version}: QoS 0 is not kept");
        assert_eq!(restarted.client.snapshot(), snapshot);
        restarted.client.connect(restarted.now).expect("starts");
        restarted.accept(ConnAck { session_present: true, ..ConnAck::default() });
        // [MQTT-4.4.0-1] in the original order: a and b with DUP, PUBREL for c, then d.
        for (i, topic) in ["a", "b"].iter().enumerate() {
            let Packet::Publish(p) = restarted.next_sent() else { panic!("PUBLISH") };
            assert!(p.dup, "{version}: {topic} is sent again with DUP");
            assert_eq!((&*p.topic, p.packet_id), (*topic, Some(ids[i])));
        }
        assert_eq!(restarted.next_sent(), Packet::PubRel(Ack::new(ids[2])));
        let Packet::Publish(d) = restarted.next_sent() else { panic!("PUBLISH d") };
        assert_eq!((&*d.topic, d.dup, d.qos), ("d", false, QoS::AtLeastOnce));
        restarted.nothing_sent();
        // The server sends the inbound QoS 2 message again: acknowledged, not delivered.
        restarted.take_events();
        let mut again = inbound("in", QoS::ExactlyOnce, Some(7), b"x");
        if let Packet::Publish(p) = &mut again {
            p.dup = true;
        }
        restarted.server_sends(again);
        assert_eq!(restarted.next_sent(), Packet::PubRec(Ack::new(id(7))));
        assert!(messages(&restarted.take_events()).is_empty(), "{version}: delivered once");
        // Acknowledgments complete the restored messages under their new handles.
        restarted.server_sends(Packet::PubAck(Ack::new(ids[0])));
        assert!(restarted.take_events().iter().any(|e| matches!(e, Event::PublishComplete { .. })));
    }
}

fn the_durable_revision_moves_with_what_a_snapshot_holds() {
    let mut pair = Pair::new(Pair::options(V5));
    let rev = |pair: &Pair| pair.client.durable_revision();
    pair.start();
    let r0 = rev(&pair);
    pair.client.subscribe(pair.now, sub("s", QoS::AtMostOnce), Properties::new()).expect("ok");
    pair.publish("t", b"", QoS::AtMostOnce);
    pair.drive();
    assert_eq!(rev(&pair), r0, "subscribe and QoS 0 keep nothing");
    pair.publish("t", b"", QoS::ExactlyOnce);
    let pid = publish_id(&pair.sent.pop_back().expect("sent"));
    let r1 = rev(&pair);
    assert!(r1 > r0);
    pair.server_sends(Packet::PubRec(Ack::new(pid)));
    let r2 = rev(&pair);
    assert!(r2 > r1, "PUBREC moves the message to awaiting PUBCOMP");
    pair.server_sends(Packet::PubComp(Ack::new(pid)));
    assert!(rev(&pair) > r2);
    let r3 = rev(&pair);
    pair.server_sends(inbound("t", QoS::ExactlyOnce, Some(9), b""));
    assert!(rev(&pair) > r3, "an inbound QoS 2 identifier is kept");
    let r4 = rev(&pair);
    pair.server_sends(Packet::PubRel(Ack::new(id(9))));
    assert!(rev(&pair) > r4, "and released");
}

fn restore_refuses_what_is_not_a_snapshot_and_changes_nothing() {
    let mut pair = Pair::new(Pair::options(V5));
    pair.publish("t", b"1", QoS::AtLeastOnce);
    let good = pair.client.snapshot();
    let mut fresh = Pair::new(Pair::options(V5));
    for bad in [
        &b""[..],
        b"MQW",
        b"MQW\x02\x05",
        b"XYZ\x01\x05",
        b"MQW\x01\x07",
        &good[..good.len() - 1],
        &[&good[..], &[5, 0, 0]].concat(),
        &[&good[..], &[9]].concat(),
        // Counts larger than what follows; a zero identifier.
        b"MQW\x01\x05\xff\xff\xff\xff",
        b"MQW\x01\x05\0\0\0\x01\0\0\0\0\0\0",
        // In flight with QoS 0; kind 7.
        b"MQW\x01\x05\0\0\0\0\0\0\0\x01\x01\x30\x04\0\x01t\0",
        b"MQW\x01\x05\0\0\0\0\0\0\0\x01\x07\x32\x06\0\x01t\0\x01\0",
        // Two messages in flight with one identifier.
        b"MQW\x01\x05\0\0\0\0\0\0\0\x02\x01\x01\x32\x06\0\x01t\0\x01\0\x32\x06\0\x01t\0\x01\0",
    ] {
        assert_eq!(fresh.client.restore(bad), Err(ClientError::BadSnapshot), "{bad:?}");
        assert_eq!((fresh.client.queued(), fresh.client.store().len()), (0, 0));
    }
    let mut one = Pair::new(Pair::options(V5));
    one.client
        .restore(b"MQW\x01\x05\0\0\0\0\0\0\0\x01\x01\x32\x06\0\x01t\0\x01\0")
        .expect("one message in flight awaiting PUBACK");
    assert_eq!(one.client.store().len(), 1);
    fresh.client.restore(&good).expect("restores");
    assert_eq!(fresh.client.queued(), 1);
    fresh.start();
    assert_eq!(fresh.client.restore(&good), Err(ClientError::AlreadyStarted));
}

}
