//! Test steps shared by the integration tests: a broker and client options for one test,
//! messages and subscriptions, connect, subscribe, publish, relay and cut with the native
//! client (`mqttwire-tokio`), each waiting (at most
//! [`WAIT`]) for the broker's answer and panicking with a clear message when it does not
//! come, and the scenarios the tests run both straight against mosquitto and through the
//! bridge.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use mqttwire::client::{ClientOptions, DisconnectedBy, Event, ReconnectOptions};
use mqttwire::{Properties, ProtocolVersion, Publish, QoS, ReasonCode, TopicName, Will};
use mqttwire::{Subscription, SubscriptionOptions, TopicFilter};
use mqttwire_tokio::{ClientHandle, Events, spawn};

use crate::mosquitto::Mosquitto;

/// The longest any single step waits for the broker.
pub const WAIT: Duration = Duration::from_secs(5);

/// A PUBLISH of `payload` to `topic` at `qos`, not retained.
///
/// # Panics
///
/// If `topic` is not a valid topic name: a mistake in the test.
pub fn message(topic: &str, payload: impl Into<Bytes>, qos: QoS) -> Publish {
    let topic = TopicName::new(topic).expect("a valid topic name");
    let mut publish = Publish::new(topic, payload);
    publish.qos = qos;
    publish
}

/// A subscription to `filter` at `qos`, with default options.
///
/// # Panics
///
/// If `filter` is not a valid topic filter: a mistake in the test.
pub fn subscription(filter: &str, qos: QoS) -> Subscription {
    Subscription {
        filter: TopicFilter::new(filter).expect("a valid topic filter"),
        options: SubscriptionOptions::qos(qos),
    }
}

/// Spawns a native client on `url` and waits for its first CONNACK; returns the client, its
/// events and whether a session was present.
pub async fn connect(url: &str, options: ClientOptions) -> (ClientHandle, Events, bool) {
    let (client, mut events) = spawn(url.parse().expect("a valid URL"), options);
    let session_present = events.connected(WAIT).await.expect("CONNACK");
    (client, events, session_present)
}

/// Subscribes and waits for the SUBACK; returns its reason codes.
pub async fn subscribe(
    client: &ClientHandle,
    events: &mut Events,
    filter: &str,
    qos: QoS,
) -> Vec<ReasonCode> {
    let handle = client
        .start_subscribe(vec![subscription(filter, qos)], Properties::new())
        .await
        .expect("subscribe accepted");
    events
        .wait_map(WAIT, |e| match e {
            Event::Subscribed {
                handle: Some(h),
                reason_codes,
            } if h == handle => Some(reason_codes),
            _ => None,
        })
        .await
        .expect("SUBACK")
}

/// Publishes and waits for its completion (written, PUBACK or PUBCOMP); returns the
/// server's reason code. Panics if the publish failed.
pub async fn publish(client: &ClientHandle, events: &mut Events, publish: Publish) -> ReasonCode {
    let handle = client
        .start_publish(publish)
        .await
        .expect("publish accepted");
    let outcome = events
        .wait_for(WAIT, |e| match e {
            Event::PublishComplete { handle: h, .. } | Event::PublishFailed { handle: h, .. } => {
                *h == handle
            }
            _ => false,
        })
        .await
        .expect("publish outcome");
    match outcome {
        Event::PublishComplete { reason_code, .. } if !reason_code.is_error() => reason_code,
        other => panic!("publish failed: {other:?}"),
    }
}

/// The longest a whole test may take, for [`bounded`].
pub const TEST: Duration = Duration::from_secs(30);

/// Runs `test`, panicking if it takes longer than [`TEST`].
pub async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST, test)
        .await
        .expect("the test took too long");
}

/// A mosquitto for one test; panics with the reason when it cannot start.
pub fn broker() -> Mosquitto {
    Mosquitto::start().unwrap_or_else(|e| panic!("{e}"))
}

/// Options for a test client: reconnects quickly, with its own jitter seed.
pub fn options(version: ProtocolVersion, client_id: &str) -> ClientOptions {
    let mut o = ClientOptions::new(version, client_id);
    o.reconnect = Some(ReconnectOptions {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(200),
        max_attempts: Some(50),
        seed: client_id.bytes().map(u64::from).sum(),
    });
    o
}

/// Options for a client holding a will (`"{client_id} is gone"` at QoS 1 on `topic`) that
/// does not reconnect, so its will is published once.
pub fn will_holder(version: ProtocolVersion, client_id: &str, topic: &str) -> ClientOptions {
    let mut o = options(version, client_id);
    o.reconnect = None;
    o.will = Some(Will {
        topic: TopicName::new(topic).expect("valid"),
        payload: Bytes::from(format!("{client_id} is gone")),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::new(),
    });
    o
}

/// Sends a DISCONNECT with reason SUCCESS and waits until it is written.
pub async fn disconnect(client: &ClientHandle) {
    client
        .disconnect(ReasonCode::SUCCESS)
        .await
        .expect("disconnected");
}

/// Drops the client's socket (no DISCONNECT, no close frame) and waits until its engine
/// has seen the connection lost by the transport.
pub async fn cut(client: &ClientHandle, events: &mut Events) {
    assert!(
        client.cut().await.expect("driver alive"),
        "there was a socket to cut"
    );
    let by = events
        .wait_map(WAIT, |e| match e {
            Event::Disconnected { by, .. } => Some(by),
            _ => None,
        })
        .await
        .expect("the engine saw the loss");
    assert_eq!(by, DisconnectedBy::Transport);
}

/// Publishes `message` (see [`publish`]) and waits for it on the subscriber's `events`;
/// returns it as received, after checking its payload and QoS.
pub async fn relay(
    publisher: &ClientHandle,
    pub_events: &mut Events,
    sub_events: &mut Events,
    message: Publish,
) -> Publish {
    let (topic, payload, qos) = (message.topic.clone(), message.payload.clone(), message.qos);
    publish(publisher, pub_events, message).await;
    let got = sub_events
        .message_on(WAIT, topic.as_str())
        .await
        .unwrap_or_else(|e| panic!("the message on {topic}: {e}"));
    assert!(
        got.payload == payload,
        "the payload on {topic} ({} bytes) came back as {} bytes, or changed",
        payload.len(),
        got.payload.len()
    );
    assert_eq!(got.qos, qos, "the QoS on {topic}");
    got
}

/// A subscriber on `qos/#` (granted QoS 2) and a publisher, both on `url`, and one message
/// at each QoS from the one to the other, delivered with its QoS and not as retained.
/// Returns both clients and their events for more steps.
pub async fn exchanges_messages_at_each_qos(
    url: &str,
    version: ProtocolVersion,
) -> ((ClientHandle, Events), (ClientHandle, Events)) {
    let (sub, mut sub_events, _) = connect(url, options(version, "qos-sub")).await;
    assert_eq!(
        subscribe(&sub, &mut sub_events, "qos/#", QoS::ExactlyOnce).await,
        [ReasonCode::GRANTED_QOS_2]
    );
    let (publisher, mut pub_events, _) = connect(url, options(version, "qos-pub")).await;
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let topic = format!("qos/{}", qos as u8);
        let payload = format!("a message at QoS {}", qos as u8);
        let m = message(&topic, payload, qos);
        let got = relay(&publisher, &mut pub_events, &mut sub_events, m).await;
        assert!(!got.retain);
    }
    ((sub, sub_events), (publisher, pub_events))
}

/// A retained message published at QoS 1 on `url` by a client that then leaves reaches a
/// client subscribing later, marked as retained.
pub async fn delivers_retained_message_to_later_subscriber(url: &str, version: ProtocolVersion) {
    let (publisher, mut pub_events, _) = connect(url, options(version, "retain-pub")).await;
    let mut retained = message("retained/state", "on", QoS::AtLeastOnce);
    retained.retain = true;
    publish(&publisher, &mut pub_events, retained).await;
    disconnect(&publisher).await;

    let (sub, mut sub_events, _) = connect(url, options(version, "retain-sub")).await;
    subscribe(&sub, &mut sub_events, "retained/#", QoS::AtLeastOnce).await;
    let got = sub_events
        .message_on(WAIT, "retained/state")
        .await
        .expect("the retained message");
    assert!(got.retain, "delivered as retained");
    assert_eq!(got.payload, Bytes::from_static(b"on"));
    assert_eq!(got.qos, QoS::AtLeastOnce);
}
