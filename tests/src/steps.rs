//! Test steps shared by the integration tests: connect, subscribe and publish with the
//! native driver, each waiting (at most [`WAIT`]) for the broker's answer and panicking with
//! a clear message when it does not come.

use std::time::Duration;

use mqttwire::client::{ClientOptions, Event};
use mqttwire::{Properties, Publish, QoS, ReasonCode};

use crate::driver::{ClientHandle, Events, spawn, subscription};

/// The longest any single step waits for the broker.
pub const WAIT: Duration = Duration::from_secs(5);

/// Spawns a native client on `url` and waits for its first CONNACK; returns the client, its
/// events and whether a session was present.
pub async fn connect(url: &str, options: ClientOptions) -> (ClientHandle, Events, bool) {
    let (client, mut events) = spawn(url, options).expect("a valid URL");
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
        .subscribe(vec![subscription(filter, qos)], Properties::new())
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
    let handle = client.publish(publish).await.expect("publish accepted");
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
