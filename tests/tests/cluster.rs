//! mqttwire-bridge scaled out: two bridges, each in front of a different node of a real
//! broker cluster (rmqtt nodes joined by its broadcast cluster plugin, see
//! `mqttwire_tests::cluster`), and a node killed mid-stream.

use std::collections::BTreeSet;
use std::time::Duration;

use mqttwire::client::{DisconnectedBy, Event};
use mqttwire::{ProtocolVersion, QoS};
use mqttwire_bridge::{Balance, Config};
use mqttwire_tests::steps::{
    WAIT, bounded, connect, disconnect, options, publish, relay, subscribe, will_holder,
};
use mqttwire_tests::{Bridge, ClientHandle, Cluster, Events, message, series_value};
use tokio::time::{Instant, sleep, timeout};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;

fn cluster(n: usize) -> Cluster {
    Cluster::start(env!("CARGO_BIN_EXE_cluster-node").as_ref(), n).unwrap_or_else(|e| panic!("{e}"))
}

/// A bridge in front of the cluster's nodes `nodes`, in that order.
async fn bridge(cluster: &Cluster, nodes: &[usize], balance: Balance) -> Bridge {
    let config = Config {
        brokers: nodes.iter().map(|&i| cluster.broker(i)).collect(),
        balance,
        // Longer than the test: a node that failed stays skipped (the default is 10 s,
        // shorter than a session take-over from a dead rmqtt node).
        broker_cooldown: Duration::from_secs(120),
        ..Config::default()
    };
    Bridge::start(config).await.expect("bridge starts")
}

/// Waits until the cluster forwards what a subscription made through `sub` asks for: a
/// fresh subscription on one node is announced to its peers asynchronously.
async fn until_routed(
    publisher: &ClientHandle,
    pub_events: &mut Events,
    sub_events: &mut Events,
    topic: &str,
) {
    let began = Instant::now();
    loop {
        publish(
            publisher,
            pub_events,
            message(topic, "ping", QoS::AtMostOnce),
        )
        .await;
        if sub_events
            .message_on(Duration::from_millis(200), topic)
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            began.elapsed() < WAIT,
            "the cluster never routed {topic} to the subscriber's node"
        );
    }
}

#[tokio::test]
async fn messages_published_through_one_bridge_reach_a_subscriber_on_another_node() {
    let cluster = cluster(2);
    let a = bridge(&cluster, &[0], Balance::RoundRobin).await;
    let b = bridge(&cluster, &[1], Balance::RoundRobin).await;
    bounded(async {
        for version in [V5, V311] {
            let tag = version as u8;
            let (sub, mut sub_events, _) =
                connect(&a.ws_url(), options(version, &format!("sub-{tag}"))).await;
            subscribe(&sub, &mut sub_events, "cross/#", QoS::AtLeastOnce).await;
            let (publisher, mut pub_events, _) =
                connect(&b.ws_url(), options(version, &format!("pub-{tag}"))).await;
            until_routed(&publisher, &mut pub_events, &mut sub_events, "cross/ping").await;
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
                for i in 0..20 {
                    let topic = format!("cross/{tag}/{}/{i}", qos as u8);
                    let m = message(&topic, format!("v{tag} qos {} #{i}", qos as u8), qos);
                    let got = relay(&publisher, &mut pub_events, &mut sub_events, m).await;
                    assert!(!got.retain);
                }
            }
            disconnect(&sub).await;
            disconnect(&publisher).await;
        }
    })
    .await;
    assert!(a.metric("mqttwire_bridge_connections_total") >= 2);
    assert!(b.metric("mqttwire_bridge_connections_total") >= 2);
}

#[tokio::test]
async fn retained_messages_and_wills_cross_nodes() {
    let cluster = cluster(2);
    let a = bridge(&cluster, &[0], Balance::RoundRobin).await;
    let b = bridge(&cluster, &[1], Balance::RoundRobin).await;
    bounded(async {
        // A retained message set through node 2 is there for a subscriber on node 1.
        let (publisher, mut pub_events, _) = connect(&b.ws_url(), options(V5, "ret-pub")).await;
        let mut retained = message("state/lamp", "on", QoS::AtLeastOnce);
        retained.retain = true;
        publish(&publisher, &mut pub_events, retained).await;
        disconnect(&publisher).await;
        let began = Instant::now();
        let got = loop {
            let (sub, mut sub_events, _) = connect(&a.ws_url(), options(V5, "ret-sub")).await;
            subscribe(&sub, &mut sub_events, "state/#", QoS::AtLeastOnce).await;
            if let Ok(got) = sub_events
                .message_on(Duration::from_millis(500), "state/lamp")
                .await
            {
                break got;
            }
            disconnect(&sub).await;
            assert!(
                began.elapsed() < WAIT,
                "the retained message never reached node 1"
            );
        };
        assert!(got.retain, "delivered as retained");
        assert_eq!(&got.payload[..], b"on");

        // The will of a client of node 2 whose connection is cut reaches node 1.
        let (watcher, mut watch_events, _) = connect(&a.ws_url(), options(V5, "will-watch")).await;
        subscribe(&watcher, &mut watch_events, "wills/#", QoS::AtLeastOnce).await;
        let (prober, mut probe_events, _) = connect(&b.ws_url(), options(V5, "will-probe")).await;
        until_routed(&prober, &mut probe_events, &mut watch_events, "wills/probe").await;
        let (holder, mut holder_events, _) =
            connect(&b.ws_url(), will_holder(V5, "will-holder", "wills/holder")).await;
        assert!(holder.cut().await.expect("driver alive"));
        holder_events
            .wait_for(WAIT, |e| {
                matches!(
                    e,
                    Event::Disconnected {
                        by: DisconnectedBy::Transport,
                        ..
                    }
                )
            })
            .await
            .expect("the holder saw its cut");
        let will = watch_events
            .message_on(WAIT, "wills/holder")
            .await
            .expect("the will crossed to node 1");
        assert_eq!(&will.payload[..], b"will-holder is gone");
    })
    .await;
}

/// A node is killed while messages stream to a subscriber connected through it: the
/// subscriber's bridge passes the dead node over, its client reconnects through the same
/// bridge to the other node, and every QoS 1 message published once it has resubscribed
/// arrives. Prints what reached it of the messages published around the cut.
#[tokio::test]
async fn a_killed_node_s_clients_reconnect_through_the_bridge_to_another_node() {
    let mut cluster = cluster(2);
    let a = bridge(&cluster, &[0, 1], Balance::Failover).await;
    let b = bridge(&cluster, &[1], Balance::RoundRobin).await;
    let dead = cluster.broker(0).to_string();
    timeout(Duration::from_secs(60), async {
        let (sub, mut sub_events, _) = connect(&a.ws_url(), options(V5, "stream-sub")).await;
        subscribe(&sub, &mut sub_events, "stream/#", QoS::AtLeastOnce).await;
        let (publisher, mut pub_events, _) = connect(&b.ws_url(), options(V5, "stream-pub")).await;
        until_routed(&publisher, &mut pub_events, &mut sub_events, "stream/ping").await;

        // Before the cut: 200 messages, every one delivered.
        let mut received = BTreeSet::new();
        let mut sent = 0u32;
        for _ in 0..200 {
            publish(&publisher, &mut pub_events, seq(sent)).await;
            sent += 1;
        }
        drain(&mut sub_events, &mut received, Duration::from_secs(2), |r| r.len() >= 200).await;
        assert_eq!(received.len(), 200, "before the cut every message arrives");

        // The cut, with messages in flight: node 1 dies while the publisher keeps going.
        let cut_at = sent;
        let t_cut = Instant::now();
        let publishing = async {
            for _ in 0..50 {
                publish(&publisher, &mut pub_events, seq(sent)).await;
                sent += 1;
            }
        };
        let ((), ()) = tokio::join!(publishing, async {
            sleep(Duration::from_millis(5)).await;
            cluster.kill(0);
        });
        // The subscriber notices, reconnects through bridge A (node 1 skipped) and
        // resubscribes; meanwhile its messages are collected.
        let resubscribed = {
            let mut lost_link = false;
            let began = Instant::now();
            loop {
                // A reconnect that takes the session over from the dead node waits for
                // rmqtt's kick broadcast, whose timeout is a fixed 15 s.
                let left = (WAIT * 3).saturating_sub(began.elapsed());
                match timeout(left, sub_events.next()).await {
                    Ok(Some(Event::Message(p))) => {
                        if let Some(n) = seq_of(&p.payload) {
                            received.insert(n);
                        }
                    }
                    Ok(Some(Event::Disconnected { .. })) => lost_link = true,
                    Ok(Some(Event::Subscribed { handle: None, .. })) if lost_link => break sent,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => panic!("the subscriber did not come back within {left:?}"),
                }
            }
        };
        let back_after = t_cut.elapsed();
        let around_cut = (cut_at..resubscribed).filter(|n| received.contains(n)).count();

        // After the reconnect: 200 more, every one delivered.
        until_routed(&publisher, &mut pub_events, &mut sub_events, "stream/ping").await;
        let from = sent;
        for _ in 0..200 {
            publish(&publisher, &mut pub_events, seq(sent)).await;
            sent += 1;
        }
        drain(&mut sub_events, &mut received, Duration::from_secs(5), |r| {
            (from..sent).all(|n| r.contains(&n))
        })
        .await;
        let missing: Vec<u32> = (from..sent).filter(|n| !received.contains(n)).collect();
        assert!(missing.is_empty(), "QoS 1 messages published after the reconnect lost: {missing:?}");
        println!(
            "cluster cut: the subscriber was back {back_after:.1?} after the kill; {} messages \
             published between the kill and the resubscribe, {around_cut} of them delivered (the session lived on the killed node; rmqtt's broadcast cluster does not \
             replicate sessions); all {} published after it delivered",
            resubscribed - cut_at,
            sent - from
        );
    })
    .await
    .expect("the test took too long");
    let metrics = a.handle().metrics();
    assert!(
        series_value(
            &metrics,
            &format!("mqttwire_bridge_upstream_failures_total{{broker=\"{dead}\"}}")
        ) >= 1,
        "the failed node is counted: {metrics}"
    );
    assert_eq!(
        series_value(
            &metrics,
            &format!("mqttwire_bridge_upstream_healthy{{broker=\"{dead}\"}}")
        ),
        0,
        "the killed node is marked down"
    );

    // A new connection through bridge A passes the dead node over without trying it.
    let before = series_value(
        &metrics,
        &format!("mqttwire_bridge_upstream_failures_total{{broker=\"{dead}\"}}"),
    );
    bounded(async {
        let (late, _events, _) = connect(&a.ws_url(), options(V5, "late")).await;
        disconnect(&late).await;
    })
    .await;
    let metrics = a.handle().metrics();
    assert_eq!(
        series_value(
            &metrics,
            &format!("mqttwire_bridge_upstream_failures_total{{broker=\"{dead}\"}}")
        ),
        before,
        "a node in its cooldown is not tried while another answers"
    );
    assert!(
        series_value(
            &metrics,
            &format!("mqttwire_bridge_upstream_skipped_total{{broker=\"{dead}\"}}")
        ) >= 1
    );
}

fn seq(n: u32) -> mqttwire::Publish {
    message(
        &format!("stream/{}", n % 8),
        n.to_string(),
        QoS::AtLeastOnce,
    )
}

fn seq_of(payload: &[u8]) -> Option<u32> {
    std::str::from_utf8(payload).ok()?.parse().ok()
}

/// Collects sequence numbers from `events` until `done` holds or `within` passes.
async fn drain(
    events: &mut Events,
    received: &mut BTreeSet<u32>,
    within: Duration,
    done: impl Fn(&BTreeSet<u32>) -> bool,
) {
    let began = Instant::now();
    while !done(received) {
        let Some(left) = within.checked_sub(began.elapsed()) else {
            return;
        };
        match timeout(left, events.next()).await {
            Ok(Some(Event::Message(p))) => {
                if let Some(n) = seq_of(&p.payload) {
                    received.insert(n);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
}
