//! The client engine, driven on tokio, against a real mosquitto 2.0 (one broker per test):
//! publish and receive at every QoS, retained messages, wills, persistent sessions, and
//! the WebSocket transport, each in MQTT 3.1.1 and 5.0. Every wait is bounded.

use std::time::Duration;

use bytes::Bytes;
use mqttwire::client::{ClientOptions, Event};
use mqttwire::{Properties, ProtocolVersion, QoS, ReasonCode, TopicFilter};
use mqttwire_tests::steps::{
    WAIT, bounded, broker, connect, cut, delivers_retained_message_to_later_subscriber, disconnect,
    exchanges_messages_at_each_qos, options, publish, relay, subscribe, will_holder,
};
use mqttwire_tests::{message, subscription};

use ProtocolVersion::{V5, V311};

// ---- QoS 0, 1 and 2 ----

/// The client's acknowledged commands, from two clones of one handle: subscribe returns the
/// SUBACK's codes, publish the PUBACK's or PUBCOMP's, unsubscribe the UNSUBACK's; and the
/// events still go to the stream.
async fn acknowledged_commands_return_the_servers_answers(url: &str, version: ProtocolVersion) {
    let (client, mut events, _) = connect(url, options(version, "acked")).await;
    let granted = client
        .subscribe(
            vec![subscription("acked/#", QoS::ExactlyOnce)],
            Properties::new(),
        )
        .await
        .expect("SUBACK");
    assert_eq!(granted, [ReasonCode::GRANTED_QOS_2]);
    let other = client.clone();
    let (one, two) = tokio::join!(
        client.publish(message("acked/1", "one", QoS::AtLeastOnce)),
        other.publish(message("acked/2", "two", QoS::ExactlyOnce)),
    );
    assert_eq!(one, Ok(ReasonCode::SUCCESS));
    assert_eq!(two, Ok(ReasonCode::SUCCESS));
    for topic in ["acked/1", "acked/2"] {
        events.message_on(WAIT, topic).await.expect("the message");
    }
    let codes = other
        .unsubscribe(
            vec![TopicFilter::new("acked/#").expect("valid")],
            Properties::new(),
        )
        .await
        .expect("UNSUBACK");
    let nobody = client
        .publish(message("acked/3", "nobody", QoS::AtLeastOnce))
        .await
        .expect("PUBACK");
    if version == V5 {
        assert_eq!(codes, [ReasonCode::SUCCESS]);
        assert_eq!(nobody, ReasonCode::NO_MATCHING_SUBSCRIBERS);
    } else {
        assert!(codes.is_empty(), "3.1.1 UNSUBACK has no codes: {codes:?}");
        assert_eq!(nobody, ReasonCode::SUCCESS);
    }
    drop(other);
    disconnect(&client).await;
}

#[tokio::test]
async fn acknowledged_commands_return_the_servers_answers_v311() {
    let broker = broker();
    bounded(acknowledged_commands_return_the_servers_answers(
        &broker.tcp_url(),
        V311,
    ))
    .await;
}

#[tokio::test]
async fn acknowledged_commands_return_the_servers_answers_over_websocket_v5() {
    let broker = broker();
    bounded(acknowledged_commands_return_the_servers_answers(
        &broker.ws_url(),
        V5,
    ))
    .await;
}

async fn delivers_messages_at_each_qos_until_unsubscribed(version: ProtocolVersion) {
    let broker = broker();
    let ((sub, mut sub_events), (publisher, mut pub_events)) =
        exchanges_messages_at_each_qos(&broker.tcp_url(), version).await;

    // Unsubscribed, it gets nothing more; on 5.0 the publisher hears there is nobody.
    let handle = sub
        .start_unsubscribe(
            vec![TopicFilter::new("qos/#").expect("valid")],
            Properties::new(),
        )
        .await
        .expect("unsubscribe accepted");
    let codes = sub_events
        .wait_map(WAIT, |e| match e {
            Event::Unsubscribed {
                handle: h,
                reason_codes,
            } if h == handle => Some(reason_codes),
            _ => None,
        })
        .await
        .expect("UNSUBACK");
    let code = publish(
        &publisher,
        &mut pub_events,
        message("qos/after", "nobody", QoS::AtLeastOnce),
    )
    .await;
    match version {
        V311 => assert!(codes.is_empty()),
        V5 => {
            assert_eq!(codes, [ReasonCode::SUCCESS]);
            assert_eq!(code, ReasonCode::NO_MATCHING_SUBSCRIBERS);
        }
    }
    let late = sub_events
        .message_on(Duration::from_millis(300), "qos/after")
        .await;
    assert!(late.is_err(), "delivered after UNSUBACK: {late:?}");
}

#[tokio::test]
async fn delivers_messages_at_each_qos_until_unsubscribed_v311() {
    bounded(delivers_messages_at_each_qos_until_unsubscribed(V311)).await;
}

#[tokio::test]
async fn delivers_messages_at_each_qos_until_unsubscribed_v5() {
    bounded(delivers_messages_at_each_qos_until_unsubscribed(V5)).await;
}

// ---- retained messages ----

async fn delivers_retained_message_to_later_subscriber_over_tcp(version: ProtocolVersion) {
    let broker = broker();
    delivers_retained_message_to_later_subscriber(&broker.tcp_url(), version).await;
}

#[tokio::test]
async fn delivers_retained_message_to_later_subscriber_v311() {
    bounded(delivers_retained_message_to_later_subscriber_over_tcp(V311)).await;
}

#[tokio::test]
async fn delivers_retained_message_to_later_subscriber_v5() {
    bounded(delivers_retained_message_to_later_subscriber_over_tcp(V5)).await;
}

// ---- wills ----

async fn publishes_will_on_abrupt_close_only(version: ProtocolVersion) {
    let broker = broker();
    let url = broker.tcp_url();
    let (watcher, mut watcher_events, _) = connect(&url, options(version, "watcher")).await;
    subscribe(&watcher, &mut watcher_events, "will/#", QoS::AtLeastOnce).await;

    // A clean DISCONNECT discards the will [MQTT-3.1.2-10] ...
    let (polite, _polite_events, _) =
        connect(&url, will_holder(version, "polite", "will/polite")).await;
    disconnect(&polite).await;

    // ... a lost connection publishes it [MQTT-3.1.2-8].
    let (holder, mut holder_events, _) =
        connect(&url, will_holder(version, "holder", "will/holder")).await;
    cut(&holder, &mut holder_events).await;

    let will = watcher_events
        .wait_map(WAIT, |e| match e {
            Event::Message(will) => Some(will),
            _ => None,
        })
        .await
        .expect("a will message");
    assert_eq!(
        will.topic.as_str(),
        "will/holder",
        "only the cut client's will"
    );
    assert_eq!(will.payload, Bytes::from_static(b"holder is gone"));
    assert_eq!(will.qos, QoS::AtLeastOnce);
}

#[tokio::test]
async fn publishes_will_on_abrupt_close_only_v311() {
    bounded(publishes_will_on_abrupt_close_only(V311)).await;
}

#[tokio::test]
async fn publishes_will_on_abrupt_close_only_v5() {
    bounded(publishes_will_on_abrupt_close_only(V5)).await;
}

// ---- persistent sessions ----

/// Options that keep the session after the connection: clean session off on 3.1.1, a
/// session expiry on 5.0.
fn persistent(version: ProtocolVersion, client_id: &str, first: bool) -> ClientOptions {
    let mut o = options(version, client_id);
    match version {
        V311 => o.clean_start = false,
        V5 => {
            o.clean_start = first;
            o.session_expiry = 300;
        }
    }
    o
}

async fn persistent_session_receives_messages_sent_while_offline(version: ProtocolVersion) {
    const COUNT: usize = 20;
    let broker = broker();
    let url = broker.tcp_url();
    let (sub, mut sub_events, present) =
        connect(&url, persistent(version, "persistent", true)).await;
    assert!(!present, "a new session");
    subscribe(&sub, &mut sub_events, "offline/#", QoS::AtLeastOnce).await;
    disconnect(&sub).await;
    drop((sub, sub_events));

    let (publisher, mut pub_events, _) = connect(&url, options(version, "offline-pub")).await;
    for i in 0..COUNT {
        let m = message(&format!("offline/{i}"), format!("{i}"), QoS::AtLeastOnce);
        publish(&publisher, &mut pub_events, m).await;
    }

    // The same client id comes back without a clean start: the session and the messages
    // queued in it are there.
    let (_sub, mut sub_events, present) =
        connect(&url, persistent(version, "persistent", false)).await;
    assert!(present, "the session was kept");
    for i in 0..COUNT {
        let got = sub_events
            .message_on(WAIT, &format!("offline/{i}"))
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(got.payload, Bytes::from(format!("{i}")));
        assert_eq!(got.qos, QoS::AtLeastOnce);
    }
}

#[tokio::test]
async fn persistent_session_receives_messages_sent_while_offline_v311() {
    bounded(persistent_session_receives_messages_sent_while_offline(
        V311,
    ))
    .await;
}

#[tokio::test]
async fn persistent_session_receives_messages_sent_while_offline_v5() {
    bounded(persistent_session_receives_messages_sent_while_offline(V5)).await;
}

// ---- WebSocket ----

async fn works_over_websocket(version: ProtocolVersion) {
    let broker = broker();
    let ws = broker.ws_url();
    let (sub, mut sub_events, _) = connect(&ws, options(version, "ws-sub")).await;
    subscribe(&sub, &mut sub_events, "ws/#", QoS::ExactlyOnce).await;

    // From a WebSocket publisher and from a TCP one, at QoS 1 and 2.
    let (ws_pub, mut ws_pub_events, _) = connect(&ws, options(version, "ws-pub")).await;
    let (tcp_pub, mut tcp_pub_events, _) =
        connect(&broker.tcp_url(), options(version, "tcp-pub")).await;
    for (qos, topic) in [(QoS::AtLeastOnce, "ws/1"), (QoS::ExactlyOnce, "ws/2")] {
        let from_ws = message(topic, "over ws", qos);
        relay(&ws_pub, &mut ws_pub_events, &mut sub_events, from_ws).await;
        let from_tcp = message(topic, "over tcp", qos);
        relay(&tcp_pub, &mut tcp_pub_events, &mut sub_events, from_tcp).await;
    }

    // A cut WebSocket comes back by itself; without a session it subscribes again.
    assert!(sub.cut().await.expect("driver alive"));
    let present = sub_events.connected(WAIT).await.expect("reconnected");
    assert!(!present);
    sub_events
        .wait_for(WAIT, |e| {
            matches!(e, Event::Subscribed { handle: None, .. })
        })
        .await
        .expect("resubscribed");
    let back = message("ws/again", "back", QoS::AtLeastOnce);
    relay(&ws_pub, &mut ws_pub_events, &mut sub_events, back).await;
}

#[tokio::test]
async fn works_over_websocket_v311() {
    bounded(works_over_websocket(V311)).await;
}

#[tokio::test]
async fn works_over_websocket_v5() {
    bounded(works_over_websocket(V5)).await;
}
