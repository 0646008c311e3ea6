//! mqttwire-bridge between real sockets and a real mosquitto 2.0 (one per test), run
//! in-process on 127.0.0.1:0: the native client over WebSocket through it (3.1.1 and 5.0),
//! the handshake's refusals and limits, more than forty malformed or hostile inputs each
//! closed as expected while a healthy client on the same bridge keeps exchanging messages,
//! broker restart, failover and round robin, graceful shutdown, wss, `/healthz` and
//! `/metrics`, and the web app's files (security headers, no dotfiles, no symlinks or
//! redirects off the site, no server errors). Every wait is bounded.
//!
//! Run with `--nocapture` to see each hostile case's outcome and time.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use mqttwire::client::Event;
use mqttwire::{
    Connect, Packet, PacketId, Properties, Property, ProtocolVersion, QoS, ReasonCode, Subscribe,
    SubscriptionOptions, TopicFilter,
};
use mqttwire_bridge::{Balance, Config};
use mqttwire_tests::bridge::{broker_url, config_for};
use mqttwire_tests::steps::{
    WAIT, bounded, broker, connect, cut, delivers_retained_message_to_later_subscriber, disconnect,
    exchanges_messages_at_each_qos, options, publish, relay, subscribe, will_holder,
};
use mqttwire_tests::{Bridge, ClientHandle, Events, Mosquitto, message, series_value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use ProtocolVersion::{V5, V311};

/// The handshake and CONNECT timeouts of the bridges that face hostile clients.
const SHORT: Duration = Duration::from_millis(400);
/// Their largest MQTT packet and WebSocket message.
const SMALL_PACKET: u32 = 16 * 1024;
/// Their largest HTTP request head.
const SMALL_HEAD: usize = 2048;
/// A 1 MiB payload, and the packet size the clients accept for it.
const MIB: usize = 1 << 20;

// ---- the native client through the bridge ----

async fn relays_every_qos_both_ways(version: ProtocolVersion) {
    let (_broker, bridge) = bridged(Config::default()).await;
    // Both clients stay connected while the bridge's count is read.
    let _clients = exchanges_messages_at_each_qos(&bridge.ws_url(), version).await;
    assert_eq!(bridge.handle().open_connections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_every_qos_both_ways_v311() {
    bounded(relays_every_qos_both_ways(V311)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_every_qos_both_ways_v5() {
    bounded(relays_every_qos_both_ways(V5)).await;
}

async fn delivers_retained_message_through_bridge(version: ProtocolVersion) {
    let (_broker, bridge) = bridged(Config::default()).await;
    delivers_retained_message_to_later_subscriber(&bridge.ws_url(), version).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_retained_message_to_later_subscriber_v311() {
    bounded(delivers_retained_message_through_bridge(V311)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_retained_message_to_later_subscriber_v5() {
    bounded(delivers_retained_message_through_bridge(V5)).await;
}

async fn publishes_will_when_websocket_drops(version: ProtocolVersion) {
    let (_broker, bridge) = bridged(Config::default()).await;
    let url = bridge.ws_url();
    let (watcher, mut watcher_events, _) = connect(&url, options(version, "watcher")).await;
    subscribe(&watcher, &mut watcher_events, "will/#", QoS::AtLeastOnce).await;

    let (holder, mut holder_events, _) =
        connect(&url, will_holder(version, "holder", "will/holder")).await;
    // The socket is dropped: no DISCONNECT, no close frame.
    cut(&holder, &mut holder_events).await;

    let will = watcher_events
        .message_on(WAIT, "will/holder")
        .await
        .expect("the will, published by the broker once the bridge let go");
    assert_eq!(will.payload, Bytes::from_static(b"holder is gone"));
    assert!(
        settles(&bridge, 1).await,
        "the bridge let go of the cut one"
    );
    // A browser that vanishes is not a client that broke the WebSocket protocol.
    assert_eq!(
        bridge.metric("mqttwire_bridge_refused_total{reason=\"WebSocket\"}"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_will_when_websocket_drops_v311() {
    bounded(publishes_will_when_websocket_drops(V311)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_will_when_websocket_drops_v5() {
    bounded(publishes_will_when_websocket_drops(V5)).await;
}

async fn carries_1_mib_message_both_ways(version: ProtocolVersion) {
    let (_broker, bridge) = bridged(Config::default()).await;
    let url = bridge.ws_url();
    let big = |client_id: &str| {
        let mut o = options(version, client_id);
        o.max_packet_size = 2 * MIB as u32;
        o
    };
    let (a, mut a_events, _) = connect(&url, big("big-a")).await;
    subscribe(&a, &mut a_events, "big/a", QoS::AtLeastOnce).await;
    let (b, mut b_events, _) = connect(&url, big("big-b")).await;
    subscribe(&b, &mut b_events, "big/b", QoS::AtLeastOnce).await;
    let payload: Bytes = (0..MIB).map(|i| (i % 251) as u8).collect();

    // From a to b, then from b to a, each intact.
    let a_to_b = message("big/b", payload.clone(), QoS::AtLeastOnce);
    relay(&a, &mut a_events, &mut b_events, a_to_b).await;
    let b_to_a = message("big/a", payload, QoS::AtLeastOnce);
    relay(&b, &mut b_events, &mut a_events, b_to_a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carries_1_mib_message_both_ways_v311() {
    bounded(carries_1_mib_message_both_ways(V311)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carries_1_mib_message_both_ways_v5() {
    bounded(carries_1_mib_message_both_ways(V5)).await;
}

// ---- the handshake: subprotocol, origin, limits ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_websocket_without_mqtt_subprotocol_or_offering_only_mqttv3_1() {
    bounded(async {
        let (_broker, bridge) = bridged(Config::default()).await;
        let addr = bridge.addr();
        // [MQTT-6.0.0-3] no subprotocol, or none of ours: refused before the upgrade.
        assert_eq!(
            handshake(addr, V5, &[]).await.err(),
            Some(Outcome::Http(400))
        );
        let chat = [("Sec-WebSocket-Protocol", "chat, superchat")];
        assert_eq!(
            handshake(addr, V5, &chat).await.err(),
            Some(Outcome::Http(400))
        );
        assert_eq!(
            bridge.metric("mqttwire_bridge_refused_total{reason=\"Subprotocol\"}"),
            2
        );

        // MQTT 3.1's name is not offered back: the bridge does not speak MQTT 3.1.
        let old = [("Sec-WebSocket-Protocol", "mqttv3.1")];
        assert_eq!(
            handshake(addr, V311, &old).await.err(),
            Some(Outcome::Http(400))
        );
        let both = [("Sec-WebSocket-Protocol", "mqttv3.1, mqtt")];
        let (mut client, protocol) = handshake(addr, V5, &both).await.expect("upgraded");
        assert_eq!(protocol.as_deref(), Some("mqtt"));
        client.handshake("both-names").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_unlisted_or_malformed_origin_and_accepts_listed_one() {
    bounded(async {
        let (_broker, bridge) = bridged(Config {
            origins: vec!["https://app.example.com".to_owned()],
            ..Config::default()
        })
        .await;
        let addr = bridge.addr();
        let refused: [&[u8]; 7] = [
            b"https://evil.example",
            b"https://app.example.com.evil.example",
            b"http://app.example.com",
            b"null",
            b"app.example.com",
            b"https://app.example.com/path",
            b"https://\xffapp.example.com",
        ];
        for origin in refused {
            let headers: [(&[u8], &[u8]); 2] =
                [(b"Sec-WebSocket-Protocol", b"mqtt"), (b"Origin", origin)];
            let outcome = handshake_raw(addr, V5, &headers).await.err();
            assert_eq!(
                outcome,
                Some(Outcome::Http(403)),
                "Origin {:?}",
                String::from_utf8_lossy(origin)
            );
        }
        assert_eq!(
            bridge.metric("mqttwire_bridge_refused_total{reason=\"Origin\"}"),
            refused.len() as u64
        );
        // Listed (compared without case or a trailing slash), or absent: not a browser.
        let listed = [
            Some("https://app.example.com"),
            Some("HTTPS://App.Example.COM/"),
            None,
        ];
        for (i, origin) in listed.into_iter().enumerate() {
            let mut headers = vec![("Sec-WebSocket-Protocol", "mqtt")];
            headers.extend(origin.map(|o| ("Origin", o)));
            let (mut client, _) = handshake(addr, V5, &headers)
                .await
                .unwrap_or_else(|e| panic!("Origin {origin:?} refused: {e:?}"));
            client.handshake(&format!("origin-{i}")).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_connection_over_total_limit_and_serves_the_others() {
    // Two WebSockets are relayed: a third connection is dropped as soon as accepted.
    let limited = Config {
        max_connections: 2,
        ..Config::default()
    };
    bounded(refuses_connection_over_limit(
        limited,
        "limit",
        Outcome::Dropped,
        "MaxConnections",
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_connection_over_per_ip_limit_and_serves_the_others() {
    let limited = Config {
        max_connections_per_ip: 2,
        ..Config::default()
    };
    // Counted at accept, before any HTTP: the socket is closed.
    bounded(refuses_connection_over_limit(
        limited,
        "per-ip",
        Outcome::Dropped,
        "MaxConnectionsPerIp",
    ))
    .await;
}

/// Two native clients (`{name}-sub` and `{name}-pub`) fill a bridge whose `limited` config
/// allows two connections: a third WebSocket is refused as `refusal` and counted as
/// `reason`, the two still exchange a message, and once one leaves its place is free again.
async fn refuses_connection_over_limit(
    limited: Config,
    name: &str,
    refusal: Outcome,
    reason: &str,
) {
    let (_broker, bridge) = bridged(limited).await;
    let url = bridge.ws_url();
    let (sub, mut sub_events, _) = connect(&url, options(V5, &format!("{name}-sub"))).await;
    subscribe(
        &sub,
        &mut sub_events,
        &format!("{name}/#"),
        QoS::AtLeastOnce,
    )
    .await;
    let (publisher, mut pub_events, _) = connect(&url, options(V311, &format!("{name}-pub"))).await;

    let third = handshake(bridge.addr(), V5, &[("Sec-WebSocket-Protocol", "mqtt")]).await;
    assert_eq!(third.err(), Some(refusal));
    let refused = format!("mqttwire_bridge_refused_total{{reason=\"{reason}\"}}");
    assert_eq!(bridge.metric(&refused), 1, "{refused}");
    let served = message(&format!("{name}/1"), "still here", QoS::AtLeastOnce);
    relay(&publisher, &mut pub_events, &mut sub_events, served).await;

    // Once one leaves, its place is free again.
    disconnect(&publisher).await;
    assert!(settles(&bridge, 1).await);
    let (mut again, _) = retry_handshake(bridge.addr()).await;
    again.handshake(&format!("{name}-again")).await;
}

// ---- hostile input: each case closed as expected, a healthy client unaffected ----

/// The HTTP request before any upgrade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_hostile_http_requests_while_healthy_client_works() {
    bounded(check_cases(vec![
        Case {
            name: "mqtt_bytes_instead_of_http",
            expect: Outcome::Http(400),
            run: |a| Box::pin(http_reply(a, connect_packet(V311, "raw").to_vec())),
        },
        Case {
            name: "http_header_line_without_colon",
            expect: Outcome::Http(400),
            run: |a| {
                let request = "GET /mqtt HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n";
                Box::pin(http_reply(a, request.into()))
            },
        },
        Case {
            name: "not_http_at_all",
            expect: Outcome::Http(400),
            run: |a| Box::pin(http_reply(a, b"HELLO WORLD\r\n\r\n".to_vec())),
        },
        Case {
            name: "http2_preface",
            expect: Outcome::Dropped,
            run: |a| Box::pin(http_reply(a, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec())),
        },
        Case {
            name: "request_head_over_max_header_size",
            expect: Outcome::Http(431),
            run: |a| {
                let padding = "a".repeat(3 * SMALL_HEAD / 2);
                Box::pin(http_reply(
                    a,
                    upgrade_request("/mqtt", &[("X-Padding", Some(&padding))]),
                ))
            },
        },
        Case {
            name: "request_head_under_max_header_size",
            expect: Outcome::Http(101),
            run: |a| {
                let padding = "a".repeat(SMALL_HEAD / 2);
                Box::pin(http_reply(
                    a,
                    upgrade_request("/mqtt", &[("X-Padding", Some(&padding))]),
                ))
            },
        },
        Case {
            name: "more_than_64_headers",
            expect: Outcome::Http(431),
            run: |a| {
                let names: Vec<String> = (0..70).map(|i| format!("X-H{i}")).collect();
                let extra: Vec<(&str, Option<&str>)> =
                    names.iter().map(|n| (n.as_str(), Some("v"))).collect();
                Box::pin(http_reply(a, upgrade_request("/mqtt", &extra)))
            },
        },
        Case {
            name: "handshake_trickled_past_handshake_timeout",
            expect: Outcome::Dropped,
            run: |a| Box::pin(slow_handshake(a)),
        },
        Case {
            name: "silent_tcp_connection",
            expect: Outcome::Dropped,
            run: |a| {
                Box::pin(not_before(SHORT, async move {
                    let mut stream = TcpStream::connect(a).await.expect("connect");
                    reply(&mut stream).await
                }))
            },
        },
        Case {
            name: "upgrade_without_sec_websocket_key",
            expect: Outcome::Http(400),
            run: |a| {
                Box::pin(http_reply(
                    a,
                    upgrade_request("/mqtt", &[("Sec-WebSocket-Key", None)]),
                ))
            },
        },
        Case {
            name: "websocket_version_8",
            expect: Outcome::Http(426),
            run: |a| {
                Box::pin(http_reply(
                    a,
                    upgrade_request("/mqtt", &[("Sec-WebSocket-Version", Some("8"))]),
                ))
            },
        },
        Case {
            name: "get_without_upgrade_headers",
            expect: Outcome::Http(426),
            run: |a| {
                let request = upgrade_request("/mqtt", &[("Upgrade", None), ("Connection", None)]);
                Box::pin(http_reply(a, request))
            },
        },
        Case {
            name: "upgrade_on_another_path",
            expect: Outcome::Http(404),
            run: |a| Box::pin(http_reply(a, upgrade_request("/other", &[]))),
        },
    ]))
    .await;
}

/// WebSocket frames that break RFC 6455 or the bridge's limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_hostile_websocket_frames_while_healthy_client_works() {
    bounded(check_cases(vec![
        Case {
            name: "text_frame",
            expect: Outcome::Closed(1003),
            run: |a| Box::pin(raw_frames(a, frame(0x81, b"CONNECT please"))),
        },
        Case {
            name: "unmasked_client_frame",
            expect: Outcome::Closed(1002),
            run: |a| {
                let connect = connect_packet(V5, "unmasked");
                let mut bytes = frame_head(0x82, connect.len() as u64, false);
                bytes.extend_from_slice(&connect);
                Box::pin(raw_frames(a, bytes))
            },
        },
        Case {
            name: "reserved_data_opcode",
            expect: Outcome::Closed(1002),
            run: |a| Box::pin(raw_frames(a, frame(0x83, b"?"))),
        },
        Case {
            name: "reserved_bit_set",
            expect: Outcome::Closed(1002),
            run: |a| Box::pin(raw_frames(a, frame(0xc2, &connect_packet(V5, "rsv1")))),
        },
        Case {
            name: "continuation_without_start",
            expect: Outcome::Closed(1002),
            run: |a| Box::pin(raw_frames(a, frame(0x80, b"\xc0\x00"))),
        },
        Case {
            name: "fragmented_ping",
            expect: Outcome::Closed(1002),
            run: |a| Box::pin(raw_frames(a, frame(0x09, b"ping"))),
        },
        Case {
            name: "frame_over_max_message_size",
            expect: Outcome::Closed(1009),
            // Only the header: the length alone must be refused, nothing buffered.
            run: |a| Box::pin(raw_frames(a, frame_head(0x82, 64 << 20, true))),
        },
        Case {
            name: "fragments_over_max_message_size",
            expect: Outcome::Closed(1009),
            run: |a| {
                let part = vec![0x30; SMALL_PACKET as usize / 2];
                let mut bytes = frame(0x02, &part);
                bytes.extend(frame(0x00, &part));
                bytes.extend(frame(0x80, &part));
                Box::pin(raw_frames(a, bytes))
            },
        },
        Case {
            name: "ping_flood_then_connect",
            expect: Outcome::Works,
            run: |a| Box::pin(ping_flood(a)),
        },
    ]))
    .await;
}

/// MQTT that breaks the protocol, before and after CONNECT, in 3.1.1 and 5.0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_malformed_mqtt_while_healthy_client_works() {
    use Outcome::{Closed, Disconnected};
    bounded(check_cases(vec![
        // Before CONNECT the version is unknown: no DISCONNECT, only the close frame.
        Case {
            name: "pingreq_as_first_packet",
            expect: Closed(1002),
            run: |a| Box::pin(before_connect(a, vec![0xc0, 0x00])),
        },
        Case {
            name: "publish_before_connect",
            expect: Closed(1002),
            run: |a| {
                Box::pin(before_connect(
                    a,
                    publish_packet(V311, "early", b"x").to_vec(),
                ))
            },
        },
        Case {
            name: "connect_never_finished",
            expect: Closed(1008),
            run: |a| {
                let connect = connect_packet(V5, "unfinished");
                Box::pin(not_before(
                    SHORT,
                    before_connect(a, connect[..connect.len() - 3].to_vec()),
                ))
            },
        },
        Case {
            name: "nothing_after_upgrade",
            expect: Closed(1008),
            run: |a| {
                Box::pin(not_before(SHORT, async move {
                    Client::open(a, V5).await.closing().await
                }))
            },
        },
        Case {
            name: "connect_remaining_length_over_max_packet_size",
            expect: Closed(1002),
            // CONNECT, remaining length 1 MiB (0x80 0x80 0x40): refused from the header.
            run: |a| Box::pin(before_connect(a, vec![0x10, 0x80, 0x80, 0x40])),
        },
        Case {
            name: "connect_protocol_name_mqtx",
            expect: Closed(1002),
            run: |a| {
                let mut connect = connect_packet(V311, "name").to_vec();
                connect[7] = b'X'; // length 0x00 0x04, then "MQTT": the last T
                Box::pin(before_connect(a, connect))
            },
        },
        Case {
            name: "connect_protocol_level_6",
            expect: Closed(1002),
            run: |a| {
                let mut connect = connect_packet(V311, "level").to_vec();
                connect[8] = 6; // the byte after "MQTT"
                Box::pin(before_connect(a, connect))
            },
        },
        // After a 5.0 CONNECT: DISCONNECT with the reason code, then the close frame.
        Case {
            name: "second_connect_v5",
            expect: Disconnected(ReasonCode::PROTOCOL_ERROR, 1002),
            run: |a| Box::pin(after_connect(a, V5, connect_packet(V5, "again").to_vec())),
        },
        Case {
            name: "remaining_length_over_max_packet_size_v5",
            expect: Disconnected(ReasonCode::PACKET_TOO_LARGE, 1002),
            // PUBLISH, remaining length 1 MiB; the bridge allows 16 KiB.
            run: |a| Box::pin(after_connect(a, V5, vec![0x30, 0x80, 0x80, 0x40])),
        },
        Case {
            name: "five_byte_remaining_length_v5",
            expect: Disconnected(ReasonCode::MALFORMED_PACKET, 1002),
            run: |a| {
                let bytes = vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x01];
                Box::pin(after_connect(a, V5, bytes))
            },
        },
        Case {
            name: "reserved_packet_type_0_v5",
            expect: Disconnected(ReasonCode::MALFORMED_PACKET, 1002),
            run: |a| Box::pin(after_connect(a, V5, vec![0x00, 0x00])),
        },
        Case {
            name: "invalid_utf8_topic_v5",
            expect: Disconnected(ReasonCode::MALFORMED_PACKET, 1002),
            run: |a| {
                let bytes = vec![
                    0x30, 0x06, // PUBLISH QoS 0, remaining length 6
                    0x00, 0x02, 0xc3, 0x28, // topic: 2 bytes, not UTF-8
                    0x00, // no properties
                    b'x', // payload
                ];
                Box::pin(after_connect(a, V5, bytes))
            },
        },
        Case {
            name: "qos_3_publish_v5",
            expect: Disconnected(ReasonCode::MALFORMED_PACKET, 1002),
            run: |a| {
                let bytes = vec![
                    0x36, 0x06, // PUBLISH QoS 3, remaining length 6
                    0x00, 0x01, b'a', // topic "a"
                    0x00, 0x01, // packet id 1
                    0x00, // no properties
                ];
                Box::pin(after_connect(a, V5, bytes))
            },
        },
        Case {
            name: "wildcard_in_publish_topic_v5",
            expect: Disconnected(ReasonCode::TOPIC_NAME_INVALID, 1002),
            run: |a| {
                let bytes = vec![
                    0x30, 0x06, // PUBLISH QoS 0, remaining length 6
                    0x00, 0x03, b'a', b'/', b'+', // topic "a/+"
                    0x00, // no properties
                ];
                Box::pin(after_connect(a, V5, bytes))
            },
        },
        Case {
            name: "dup_on_qos_0_publish_v5",
            expect: Disconnected(ReasonCode::MALFORMED_PACKET, 1002),
            run: |a| {
                let bytes = vec![
                    0x38, 0x04, // PUBLISH DUP QoS 0, remaining length 4
                    0x00, 0x01, b'a', // topic "a"
                    0x00, // no properties
                ];
                Box::pin(after_connect(a, V5, bytes))
            },
        },
        Case {
            name: "packet_id_0_v5",
            expect: Disconnected(ReasonCode::PROTOCOL_ERROR, 1002),
            run: |a| {
                let bytes = vec![
                    0x32, 0x06, // PUBLISH QoS 1, remaining length 6
                    0x00, 0x01, b'a', // topic "a"
                    0x00, 0x00, // packet id 0
                    0x00, // no properties
                ];
                Box::pin(after_connect(a, V5, bytes))
            },
        },
        Case {
            name: "garbage_after_connect_in_same_message_v5",
            expect: Disconnected(ReasonCode::MALFORMED_PACKET, 1002),
            run: |a| {
                let mut bytes = connect_packet(V5, "garbage").to_vec();
                bytes.extend([0xf3, 0x00, 0xde, 0xad]); // AUTH with flags 3: reserved
                Box::pin(before_connect(a, bytes))
            },
        },
        // 3.1.1 has no DISCONNECT from the server: only the close frame.
        Case {
            name: "invalid_utf8_topic_v311",
            expect: Closed(1002),
            run: |a| {
                let bytes = vec![
                    0x30, 0x05, // PUBLISH QoS 0, remaining length 5
                    0x00, 0x02, 0xed, 0xa0, // topic: 2 bytes, not UTF-8
                    b'x', // payload
                ];
                Box::pin(after_connect(a, V311, bytes))
            },
        },
        Case {
            name: "subscribe_without_filter_v311",
            expect: Closed(1002),
            run: |a| {
                let bytes = vec![
                    0x82, 0x02, // SUBSCRIBE, remaining length 2
                    0x00, 0x01, // packet id 1, and no filter
                ];
                Box::pin(after_connect(a, V311, bytes))
            },
        },
    ]))
    .await;
}

/// Valid MQTT cut or packed oddly (it must work), clients that vanish, and a broker that
/// refuses: passed through as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_oddly_framed_mqtt_while_healthy_client_works() {
    bounded(check_cases(vec![
        Case {
            name: "connect_split_byte_by_byte",
            expect: Outcome::Works,
            run: |a| Box::pin(connect_byte_by_byte(a)),
        },
        Case {
            name: "several_packets_in_one_message",
            expect: Outcome::Works,
            run: |a| Box::pin(several_packets_in_one_message(a)),
        },
        Case {
            name: "publish_split_across_messages",
            expect: Outcome::Works,
            run: |a| Box::pin(publish_split_across_messages(a)),
        },
        Case {
            name: "tcp_reset_mid_packet",
            expect: Outcome::Vanished,
            run: |a| Box::pin(reset_mid_packet(a)),
        },
        Case {
            name: "broker_refuses_connect_v5",
            expect: Outcome::Refused(ReasonCode::BAD_AUTHENTICATION_METHOD, 1000),
            run: |a| {
                // mosquitto has no plugin for any authentication method.
                let mut connect = Connect::new(V5, "auth");
                connect.properties =
                    Properties::new().with(Property::AuthenticationMethod("SCRAM-SHA-256".into()));
                Box::pin(before_connect(
                    a,
                    encode(V5, Packet::Connect(connect)).to_vec(),
                ))
            },
        },
        Case {
            name: "broker_refuses_connect_v311",
            expect: Outcome::Refused(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID, 1000),
            run: |a| {
                // [MQTT-3.1.3-8] an empty client id needs a clean session
                let mut connect = Connect::new(V311, "");
                connect.clean_start = false;
                let bytes = encode(V311, Packet::Connect(connect)).to_vec();
                Box::pin(async move {
                    let mut client = Client::open(a, V311).await;
                    client.send(bytes).await;
                    client.closing().await
                })
            },
        },
    ]))
    .await;
}

// ---- brokers going away ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_clients_cleanly_across_broker_restart() {
    bounded(async {
        let (mut broker, bridge) = bridged(Config::default()).await;
        let addr = bridge.addr();
        let (sub, mut sub_events, _) = connect(&bridge.ws_url(), options(V5, "restart-sub")).await;
        subscribe(&sub, &mut sub_events, "restart/#", QoS::AtLeastOnce).await;
        let mut v5 = Client::connect(addr, V5, "restart-v5").await;
        let mut v311 = Client::connect(addr, V311, "restart-v311").await;

        // The broker goes: its clients' WebSockets are closed with a code, not dropped.
        tokio::task::block_in_place(|| broker.stop());
        assert_eq!(v5.closing().await, Outcome::Closed(1000));
        assert_eq!(v311.closing().await, Outcome::Closed(1000));

        // While it is down, a CONNECT gets "server unavailable" and 1013 try again later.
        for (version, id) in [(V5, "down-v5"), (V311, "down-v311")] {
            let mut client = Client::open(addr, version).await;
            client.send(connect_packet(version, id)).await;
            assert_eq!(
                client.closing().await,
                Outcome::Refused(ReasonCode::SERVER_UNAVAILABLE, 1013),
                "{version:?}"
            );
        }
        assert!(bridge.metric("mqttwire_bridge_refused_total{reason=\"Upstream\"}") >= 2);

        // Back on the same port: new clients are served, and the native client is back.
        tokio::task::block_in_place(|| broker.restart()).unwrap_or_else(|e| panic!("{e}"));
        Client::connect(addr, V5, "restart-fresh").await;
        sub_events
            .wait_for(WAIT * 2, |e| {
                matches!(e, Event::Subscribed { handle: None, .. })
            })
            .await
            .expect("reconnected and subscribed again");
        let (publisher, mut pub_events, _) =
            connect(&bridge.ws_url(), options(V311, "restart-pub")).await;
        // Delivered after the restart.
        let back = message("restart/1", "back", QoS::AtLeastOnce);
        relay(&publisher, &mut pub_events, &mut sub_events, back).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_to_second_broker_when_first_is_down() {
    bounded(async {
        let mut first = broker();
        let second = broker();
        let bridge = start(Config {
            balance: Balance::Failover,
            ..config_for(&[&first, &second])
        })
        .await;
        let url = bridge.ws_url();
        let (watch_first, mut first_events) = watcher(&first, "watch-first", "fo/#").await;
        let (_watch_second, mut second_events) = watcher(&second, "watch-second", "fo/#").await;

        // Both up: every connection goes to the first.
        for i in 0..2 {
            let topic = format!("fo/up/{i}");
            let _client = publish_through(&url, V5, &format!("fo-up-{i}"), &topic).await;
            assert_eq!(next_topic(&mut first_events).await, topic, "on the first");
        }
        assert!(second_events.try_next().is_none(), "nothing on the second");

        // The first down: new connections go to the second.
        drop((watch_first, first_events));
        tokio::task::block_in_place(|| first.stop());
        let _client = publish_through(&url, V311, "fo-down", "fo/down").await;
        assert_eq!(next_topic(&mut second_events).await, "fo/down");
        let failures = format!(
            "mqttwire_bridge_upstream_failures_total{{broker=\"mqtt://127.0.0.1:{}\"}}",
            first.port()
        );
        assert!(
            bridge.metric(&failures) >= 1,
            "{}",
            bridge.handle().metrics()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spreads_connections_round_robin() {
    bounded(async {
        let brokers = [broker(), broker()];
        let bridge = start(Config {
            balance: Balance::RoundRobin,
            ..config_for(&[&brokers[0], &brokers[1]])
        })
        .await;
        let mut watchers = Vec::new();
        for (i, broker) in brokers.iter().enumerate() {
            watchers.push(watcher(broker, &format!("rr-watch-{i}"), "rr/#").await);
        }
        for i in 0..4 {
            let topic = format!("rr/{i}");
            let _client = publish_through(&bridge.ws_url(), V5, &format!("rr-{i}"), &topic).await;
            // Connection i went to broker i mod 2.
            assert_eq!(next_topic(&mut watchers[i % 2].1).await, topic);
        }
        for (_, events) in &mut watchers {
            assert!(
                events.try_next().is_none(),
                "each message on one broker only"
            );
        }
    })
    .await;
}

// ---- the bridge going away ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_then_closes_with_going_away_on_shutdown() {
    bounded(async {
        let drain = Duration::from_millis(600);
        let (_broker, mut bridge) = bridged(Config {
            drain_timeout: drain,
            ..Config::default()
        })
        .await;
        let addr = bridge.addr();
        let mut client = Client::connect(addr, V5, "drained").await;
        let began = Instant::now();
        bridge.shutdown();

        // No new connections: the listener is closed.
        let mut refused = false;
        while !refused && began.elapsed() < drain / 2 {
            refused = TcpStream::connect(addr).await.is_err();
            sleep(Duration::from_millis(10)).await;
        }
        assert!(refused, "still accepting after shutdown");
        // During the drain the connection still works ...
        client.send(vec![0xc0, 0x00]).await; // PINGREQ
        assert_eq!(client.packet().await, Packet::PingResp);
        // ... then it is closed as going away, and the bridge stops.
        assert_eq!(client.closing().await, Outcome::Closed(1001));
        assert!(
            began.elapsed() >= drain,
            "closed after {:?}",
            began.elapsed()
        );
        assert!(bridge.stopped(WAIT).await, "the bridge stopped");
    })
    .await;
}

// ---- TLS and operations ----

/// A bridge serving wss:// with a freshly generated certificate for `localhost`, and a
/// client TLS configuration that trusts just that certificate. The directory holds the
/// PEM files while the bridge runs.
async fn wss_bridge() -> (
    Mosquitto,
    Bridge,
    tempfile::TempDir,
    Arc<rustls::ClientConfig>,
) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("cert written");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key written");
    let (broker, bridge) = bridged(Config {
        tls: Some((cert, key)),
        ..Config::default()
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("a root");
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    (broker, bridge, dir, Arc::new(tls))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_wss_with_generated_certificate() {
    bounded(async {
        let (_broker, bridge, _dir, tls) = wss_bridge().await;
        let addr = bridge.addr();

        let connector = tokio_rustls::TlsConnector::from(tls);
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("a name");
        let stream = connector.connect(name, tcp).await.expect("TLS handshake");
        let mut request = format!("wss://localhost:{}/mqtt", addr.port())
            .into_client_request()
            .expect("a request");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        let (ws, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .expect("WebSocket over TLS");
        let mut client = Client::wrap(ws, V5);
        client.handshake("wss").await;
        client.send(subscribe_packet(V5, "wss/#")).await;
        assert!(matches!(client.packet().await, Packet::SubAck(_)));
        client.send(publish_packet(V5, "wss/1", b"secret")).await;
        match client.packet().await {
            Packet::Publish(p) => assert_eq!(&p.payload[..], b"secret"),
            other => panic!("expected the PUBLISH back, got {other:?}"),
        }

        // Plain ws:// on the TLS port goes nowhere.
        let plain = handshake(addr, V5, &[("Sec-WebSocket-Protocol", "mqtt")]).await;
        assert!(plain.is_err(), "plain WebSocket accepted on the TLS port");
        assert!(settles_metric(&bridge, "mqttwire_bridge_refused_total{reason=\"Tls\"}", 1).await);
    })
    .await;
}

/// The native client over wss:// with its own roots: the TLS and WebSocket handshakes of
/// mqttwire-tokio's transport against the bridge's generated certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_client_speaks_wss_with_its_own_roots() {
    bounded(async {
        let (_broker, bridge, _dir, tls) = wss_bridge().await;
        let mut transport = mqttwire_tokio::TransportOptions::default();
        transport.tls = Some(tls);
        let url = format!("wss://localhost:{}/mqtt", bridge.addr().port());
        let endpoint: mqttwire_tests::Endpoint = url.parse().expect("a wss URL");
        let (client, mut events) =
            mqttwire_tokio::spawn_with(endpoint, options(V5, "native-wss"), transport);
        events.connected(WAIT).await.expect("CONNACK over wss");
        let granted = client
            .subscribe(
                vec![mqttwire_tests::subscription("wss/#", QoS::AtLeastOnce)],
                Properties::new(),
            )
            .await
            .expect("SUBACK");
        assert_eq!(granted, [ReasonCode::GRANTED_QOS_1]);
        let sent = client
            .publish(message("wss/native", "secret", QoS::AtLeastOnce))
            .await;
        assert_eq!(sent, Ok(ReasonCode::SUCCESS));
        let got = events
            .message_on(WAIT, "wss/native")
            .await
            .expect("the message back");
        assert_eq!(&got.payload[..], b"secret");

        // Without the generated root the certificate is not trusted: no connection.
        let endpoint = url.parse().expect("a wss URL");
        let (_untrusting, mut refused) = mqttwire_tokio::spawn(endpoint, options(V5, "no-roots"));
        assert!(
            refused.connected(Duration::from_secs(1)).await.is_err(),
            "connected without trusting the certificate"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_healthz_and_metrics_with_refusals_by_reason() {
    bounded(async {
        let (_broker, bridge) = bridged(Config {
            metrics_listen: Some("127.0.0.1:0".parse().expect("an address")),
            ..Config::default()
        })
        .await;
        let addr = bridge.addr();
        let ops = bridge.handle().operations_addr().expect("bound");
        let (status, body) = http_get(addr, "/healthz").await;
        assert_eq!((status, body.as_str()), (200, "ok\n"));
        assert_eq!(http_get(addr, "/nothing-here").await.0, 404);
        // /metrics is for the monitoring network only.
        assert_eq!(http_get(addr, "/metrics").await.0, 404);
        assert_eq!(http_get(ops, "/healthz").await.0, 200);
        assert_eq!(http_get(ops, "/readyz").await, (200, "ready\n".to_owned()));
        assert_eq!(http_get(addr, "/readyz").await.0, 200);

        // One relayed client, and one refusal each of three kinds.
        let _client = Client::connect(addr, V5, "metrics").await;
        assert_eq!(
            handshake(addr, V5, &[]).await.err(),
            Some(Outcome::Http(400))
        );
        assert_eq!(
            http_reply(
                addr,
                upgrade_request("/mqtt", &[("Sec-WebSocket-Key", None)])
            )
            .await,
            Outcome::Http(400)
        );
        assert_eq!(
            before_connect(addr, vec![0xc0, 0x00]).await,
            Outcome::Closed(1002)
        );
        assert!(settles(&bridge, 1).await);

        let (status, text) = http_get(ops, "/metrics").await;
        assert_eq!(status, 200);
        for (series, value) in [
            ("mqttwire_bridge_connections_open", 1),
            ("mqttwire_bridge_connections_total", 2),
            ("mqttwire_bridge_refused_total{reason=\"Subprotocol\"}", 1),
            ("mqttwire_bridge_refused_total{reason=\"Handshake\"}", 1),
            ("mqttwire_bridge_refused_total{reason=\"Malformed\"}", 1),
            (
                "mqttwire_bridge_packets_total{direction=\"Upstream\",type=\"CONNECT\"}",
                1,
            ),
            (
                "mqttwire_bridge_packets_total{direction=\"Downstream\",type=\"CONNACK\"}",
                1,
            ),
        ] {
            assert_eq!(series_value(&text, series), value, "{series} in\n{text}");
        }
        assert!(text.contains("mqttwire_bridge_upstream_connect_seconds_count 1"));
    })
    .await;
}

// ---- the web app's files ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_files_with_nosniff_csp_and_referrer_policy_even_on_404() {
    bounded(async {
        let site = site();
        let bridge = serving(site.path()).await;
        for (method, target, status) in [
            ("GET", "/", 200),
            ("GET", "/index.html", 200),
            ("HEAD", "/index.html", 200),
            ("GET", "/sub", 307),
            ("GET", "/missing.txt", 404),
            ("GET", "/.env", 404),
        ] {
            let response = fetch(bridge.addr(), method, target, &[]).await;
            assert_eq!(response.status, status, "{method} {target}");
            assert_eq!(
                response.header("x-content-type-options"),
                Some("nosniff"),
                "{method} {target}"
            );
            assert_eq!(
                response.header("referrer-policy"),
                Some("no-referrer"),
                "{method} {target}"
            );
            let policy = response
                .header("content-security-policy")
                .unwrap_or_else(|| panic!("{method} {target}: no Content-Security-Policy"));
            for directive in [
                "default-src 'self'",
                // WebAssembly.instantiateStreaming needs 'wasm-unsafe-eval' in Chromium.
                "script-src 'self' 'wasm-unsafe-eval'",
                // The npm package's timer worker starts from a blob: URL.
                "worker-src 'self' blob:",
                "connect-src 'self' ws: wss:",
                "object-src 'none'",
                "base-uri 'self'",
                "frame-ancestors 'none'",
            ] {
                assert!(
                    policy.split(';').any(|d| d.trim() == directive),
                    "{method} {target}: {directive:?} missing from {policy:?}"
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_dotfiles_and_anything_under_a_dot_directory() {
    bounded(async {
        let site = site();
        let root = site.path();
        write(root, ".env", "SECRET=dotfile");
        write(root, ".git/config", "SECRET=git");
        write(root, ".git/index.html", "SECRET=git index");
        write(root, ".well-known/x.txt", "SECRET=well-known");
        write(root, "sub/.hidden", "SECRET=hidden");
        // A link inside the directory is no way round.
        symlink(".env", root.join("dotted.txt"));
        let bridge = serving(root).await;
        for target in [
            "/.env",
            "/%2Eenv",
            "/%2eenv",
            "/./.env",
            "/.git/config",
            "/.git/",
            "/.git",
            "/.well-known/x.txt",
            "/sub/.hidden",
            "/sub/%2Ehidden",
            "/sub%2F.hidden",
            "/dotted.txt",
        ] {
            for method in ["GET", "HEAD"] {
                let response = fetch(bridge.addr(), method, target, &[]).await;
                assert_eq!(response.status, 404, "{method} {target}");
                assert!(!response.text().contains("SECRET"), "{method} {target}");
            }
        }
        assert_eq!(http_get(bridge.addr(), "/sub/visible.txt").await.0, 200);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_symlinks_out_of_the_served_directory_and_follows_those_within() {
    bounded(async {
        let parent = tempfile::tempdir().expect("a temporary directory");
        let root = parent.path().join("site");
        let outside = parent.path().join("outside");
        fill_site(&root);
        write(&outside, "secret.txt", "SECRET=outside");
        write(&outside, "index.html", "SECRET=outside index");
        symlink(outside.join("secret.txt"), root.join("leak.txt"));
        symlink("../outside/secret.txt", root.join("up.txt"));
        symlink("../outside", root.join("out"));
        std::fs::create_dir(root.join("linked")).expect("a directory");
        symlink("../../outside/index.html", root.join("linked/index.html"));
        // The brotli variant of a real file leads out: the file itself is served instead.
        symlink("../outside/secret.txt", root.join("app.js.br"));
        // Links that stay inside.
        symlink("sub/visible.txt", root.join("alias.txt"));
        symlink("sub", root.join("alias-dir"));
        let bridge = serving(&root).await;

        for target in [
            "/leak.txt",
            "/up.txt",
            "/out",
            "/out/",
            "/out/secret.txt",
            "/linked/",
            "/linked/index.html",
        ] {
            for method in ["GET", "HEAD"] {
                let response = fetch(bridge.addr(), method, target, &[]).await;
                assert_eq!(response.status, 404, "{method} {target}");
                assert!(!response.text().contains("SECRET"), "{method} {target}");
            }
        }
        let app = fetch(
            bridge.addr(),
            "GET",
            "/app.js",
            &[("Accept-Encoding", "br")],
        )
        .await;
        assert_eq!(app.status, 200);
        assert_eq!(app.header("content-encoding"), None);
        assert_eq!(app.text(), APP_JS);

        for target in ["/alias.txt", "/alias-dir/visible.txt"] {
            let response = fetch(bridge.addr(), "GET", target, &[]).await;
            assert_eq!(
                (response.status, response.text().as_str()),
                (200, VISIBLE),
                "{target}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_redirects_off_the_site() {
    bounded(async {
        let site = site();
        let root = site.path();
        for dir in ["evil.example", "\\evil", "evil.example/x"] {
            std::fs::create_dir_all(root.join(dir)).expect("a directory");
        }
        let bridge = serving(root).await;
        for target in [
            "//evil.example",
            "///evil.example",
            "//evil.example/x",
            "/\\evil",
            "/%5Cevil",
            "/%2F%2Fevil.example",
            "/.//evil.example",
        ] {
            let response = fetch(bridge.addr(), "GET", target, &[]).await;
            if let Some(location) = response.header("location") {
                assert!(
                    stays_on_site(location),
                    "{target}: {} to {location:?}",
                    response.status
                );
            } else {
                assert_eq!(response.status, 404, "{target}");
            }
        }
        // A directory without its trailing slash still redirects, on the site.
        let response = fetch(bridge.addr(), "GET", "/evil.example", &[]).await;
        assert_eq!(
            (response.status, response.header("location")),
            (307, Some("/evil.example/"))
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_404_for_a_path_component_longer_than_name_max() {
    bounded(async {
        let site = site();
        let bridge = serving(site.path()).await;
        let long = "a".repeat(300);
        for target in [
            format!("/{long}"),
            format!("/{long}/"),
            format!("/{long}.js"),
            format!("/sub/{long}"),
            format!("/sub/{long}/visible.txt"),
        ] {
            for method in ["GET", "HEAD"] {
                for encoding in ["identity", "br, gzip"] {
                    let accept = [("Accept-Encoding", encoding)];
                    let response = fetch(bridge.addr(), method, &target, &accept).await;
                    assert_eq!(response.status, 404, "{method} {target} ({encoding})");
                }
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_no_request_path_with_a_server_error() {
    bounded(async {
        let site = site();
        let root = site.path();
        symlink("loop", root.join("loop"));
        symlink("b", root.join("a"));
        symlink("a", root.join("b"));
        let bridge = serving(root).await;
        let beyond_path_max = format!("/{}", "b".repeat(250)).repeat(20);
        let deep = "/d".repeat(1000);
        for target in [
            beyond_path_max.as_str(),
            deep.as_str(),
            "/loop",
            "/loop/",
            "/a/x",
            "/%00",
            "/a%00b",
            "/%ff",
            "/%c0%ae%c0%ae/",
            "/%",
            "/%zz",
            "/..%2f..%2fetc%2fpasswd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/sub/../../etc/passwd",
            "/index.html/",
            "/index.html/x",
            "/sub/visible.txt/",
            "/?x=1",
            "/sub?x=%00",
            "/~",
            "/*",
        ] {
            for method in ["GET", "HEAD"] {
                let response = fetch(bridge.addr(), method, target, &[]).await;
                assert!(
                    response.status < 500,
                    "{method} {}: {}",
                    &target[..target.len().min(40)],
                    response.status
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_404_for_a_fifo_without_waiting_on_it() {
    bounded(async {
        let site = site();
        let fifo = site.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success(), "mkfifo");
        let bridge = serving(site.path()).await;
        for method in ["GET", "HEAD"] {
            let request = fetch(bridge.addr(), method, "/fifo", &[]);
            let Ok(response) = timeout(Duration::from_secs(2), request).await else {
                // The bridge is stuck opening the FIFO: open its other end, which a reader
                // waits on, so that the runtime can end; then fail.
                drop(std::fs::OpenOptions::new().write(true).open(&fifo));
                panic!("{method} /fifo: no response in time");
            };
            assert_eq!(response.status, 404, "{method} /fifo");
        }
    })
    .await;
}

// ---- hostile cases: the runner ----

/// What a client saw when the bridge was done with its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// An HTTP response with this status: a refusal before any upgrade, or 101.
    Http(u16),
    /// The TCP connection ended with neither an HTTP response nor a close frame.
    Dropped,
    /// A close frame with this code, and no DISCONNECT before it.
    Closed(u16),
    /// An MQTT 5.0 DISCONNECT with this reason code, then a close frame with this code.
    Disconnected(ReasonCode, u16),
    /// A CONNACK refusing with this reason code, then a close frame with this code.
    Refused(ReasonCode, u16),
    /// The input was accepted and MQTT flowed.
    Works,
    /// The client reset its connection; the bridge must let go of it.
    Vanished,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Http(status) => write!(f, "HTTP {status}"),
            Outcome::Dropped => write!(f, "dropped without a response"),
            Outcome::Closed(code) => write!(f, "close {code}"),
            Outcome::Disconnected(reason, code) => write!(f, "DISCONNECT {reason}, close {code}"),
            Outcome::Refused(reason, code) => write!(f, "CONNACK {reason}, close {code}"),
            Outcome::Works => write!(f, "works"),
            Outcome::Vanished => write!(f, "gone; the bridge let go"),
        }
    }
}

type Run = fn(SocketAddr) -> Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// One hostile input: what it sends (against the bridge's address) and how it must end.
struct Case {
    name: &'static str,
    expect: Outcome,
    run: Run,
}

/// Runs `cases` one after the other against one bridge (short timeouts, small limits) in
/// front of one mosquitto. After each, the bridge must have let go of the hostile
/// connection and a healthy client on it must still get a message across. Every case
/// runs even when one fails; the failures are listed at the end.
async fn check_cases(cases: Vec<Case>) {
    let (_broker, bridge) = bridged(Config {
        handshake_timeout: SHORT,
        connect_timeout: SHORT,
        max_header_size: SMALL_HEAD,
        max_packet_size: SMALL_PACKET,
        ..Config::default()
    })
    .await;
    let mut healthy = Healthy::connect(&bridge).await;
    let baseline = bridge.handle().open_connections();
    let mut failures = Vec::new();
    for case in &cases {
        let began = Instant::now();
        let seen = match tokio::spawn(timeout(WAIT, (case.run)(bridge.addr()))).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(format!("no outcome within {WAIT:?}")),
            Err(error) => Err(panic_message(error)),
        };
        let took = began.elapsed();
        match &seen {
            Ok(outcome) => println!("{:<46} {outcome} in {took:.1?}", case.name),
            Err(error) => println!("{:<46} failed: {error}", case.name),
        }
        if seen != Ok(case.expect) {
            failures.push(format!(
                "{}: expected {:?}, saw {seen:?}",
                case.name, case.expect
            ));
        }
        if !settles(&bridge, baseline).await {
            failures.push(format!(
                "{}: the bridge still holds {} connections, {baseline} expected",
                case.name,
                bridge.handle().open_connections()
            ));
        }
        healthy.exchange(case.name).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Two native clients through the bridge that must keep working whatever else happens.
struct Healthy {
    publisher: ClientHandle,
    pub_events: Events,
    _subscriber: ClientHandle,
    sub_events: Events,
    sent: u32,
}

impl Healthy {
    async fn connect(bridge: &Bridge) -> Healthy {
        let url = bridge.ws_url();
        let (subscriber, mut sub_events, _) = connect(&url, options(V5, "healthy-sub")).await;
        subscribe(&subscriber, &mut sub_events, "healthy/#", QoS::AtLeastOnce).await;
        let (publisher, pub_events, _) = connect(&url, options(V311, "healthy-pub")).await;
        Healthy {
            publisher,
            pub_events,
            _subscriber: subscriber,
            sub_events,
            sent: 0,
        }
    }

    /// Gets one message from the publisher to the subscriber; panics naming `after`.
    async fn exchange(&mut self, after: &str) {
        self.sent += 1;
        let topic = format!("healthy/{}", self.sent);
        let handle = self
            .publisher
            .start_publish(message(&topic, after.to_owned(), QoS::AtLeastOnce))
            .await
            .expect("publish accepted");
        let done = self
            .pub_events
            .wait_for(
                WAIT,
                |e| matches!(e, Event::PublishComplete { handle: h, .. } if *h == handle),
            )
            .await;
        let got = self.sub_events.message_on(WAIT, &topic).await;
        assert!(
            done.is_ok() && got.is_ok(),
            "the healthy client lost its message after {after}: {done:?} {got:?}"
        );
    }
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".to_owned()),
        Err(error) => error.to_string(),
    }
}

/// Runs `run`, panicking if it gave its outcome before `min`: a timeout that came early.
async fn not_before(min: Duration, run: impl Future<Output = Outcome>) -> Outcome {
    let began = Instant::now();
    let outcome = run.await;
    assert!(began.elapsed() >= min, "after {:?}", began.elapsed());
    outcome
}

// ---- hostile cases: HTTP ----

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A WebSocket upgrade request for `path` with `changes` made to its headers: a value
/// replaces or adds one, `None` removes it.
fn upgrade_request(path: &str, changes: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut headers = vec![
        ("Host", "127.0.0.1"),
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Protocol", "mqtt"),
    ];
    for &(name, value) in changes {
        let at = headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name));
        match (at, value) {
            (Some(i), Some(v)) => headers[i].1 = v,
            (Some(i), None) => {
                headers.remove(i);
            }
            (None, Some(v)) => headers.push((name, v)),
            (None, None) => {}
        }
    }
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Sends `bytes` on a new TCP connection; what came back.
async fn http_reply(addr: SocketAddr, bytes: Vec<u8>) -> Outcome {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&bytes).await.expect("request written");
    reply(&mut stream).await
}

/// Reads until an HTTP response head is complete (its status) or the connection ends.
async fn reply(stream: &mut (impl AsyncRead + Unpin)) -> Outcome {
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    if head.is_empty() {
        return Outcome::Dropped;
    }
    let text = String::from_utf8_lossy(&head);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    match status {
        Some(status) => Outcome::Http(status),
        None => panic!("not an HTTP response: {text:?}"),
    }
}

/// The upgrade request one byte every 50 ms: it would take seconds; the bridge must give
/// up after its handshake timeout.
async fn slow_handshake(addr: SocketAddr) -> Outcome {
    let began = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let (mut rx, mut tx) = stream.split();
    let trickle = async {
        for byte in upgrade_request("/mqtt", &[]) {
            let _ = tx.write_all(&[byte]).await;
            sleep(Duration::from_millis(50)).await;
        }
    };
    let outcome = tokio::select! {
        outcome = reply(&mut rx) => outcome,
        () = trickle => panic!("the whole head went through at a byte per 50 ms"),
    };
    assert!(began.elapsed() >= SHORT, "after {:?}", began.elapsed());
    outcome
}

/// A GET with `Connection: close`: the status and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request written");
    let mut response = Vec::new();
    timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("a response in time")
        .expect("a response");
    let response = String::from_utf8(response).expect("a text response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head");
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_owned())
}

// ---- hostile cases: WebSocket ----

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame: `first` holds FIN, RSV and the opcode.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = frame_head(first, payload.len() as u64, true);
    bytes.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, m)| b ^ m));
    bytes
}

/// A frame's header, with the mask key when `masked`.
fn frame_head(first: u8, len: u64, masked: bool) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0x00 };
    let mut bytes = vec![first];
    match len {
        0..=125 => bytes.push(mask_bit | len as u8),
        126..=0xffff => {
            bytes.push(mask_bit | 126);
            bytes.extend((len as u16).to_be_bytes());
        }
        _ => {
            bytes.push(mask_bit | 127);
            bytes.extend(len.to_be_bytes());
        }
    }
    if masked {
        bytes.extend(MASK);
    }
    bytes
}

/// Upgrades a new connection by hand and returns the bare TCP stream, with nothing read
/// past the 101 response.
async fn upgraded(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(&upgrade_request("/mqtt", &[]))
        .await
        .expect("request written");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.expect("the response head"));
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "not upgraded: {:?}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// Writes raw `bytes` after the upgrade; how the bridge ends the connection.
async fn raw_frames(addr: SocketAddr, bytes: Vec<u8>) -> Outcome {
    let mut stream = upgraded(addr).await;
    let _ = stream.write_all(&bytes).await;
    let ws = WebSocketStream::from_raw_socket(stream, Role::Client, None).await;
    Client::wrap(ws, V5).closing().await
}

/// A thousand pings before CONNECT: answered, and the connection carries on.
async fn ping_flood(addr: SocketAddr) -> Outcome {
    let mut client = Client::open(addr, V5).await;
    for i in 0..1000u32 {
        client
            .ws
            .feed(Message::Ping(Bytes::from(i.to_be_bytes().to_vec())))
            .await
            .expect("ping queued");
    }
    client.ws.flush().await.expect("pings sent");
    client.handshake("ping-flood").await;
    client.send(vec![0xc0, 0x00]).await; // PINGREQ
    assert_eq!(client.packet().await, Packet::PingResp);
    assert!(client.pongs > 0, "no pong");
    client.bye().await;
    Outcome::Works
}

// ---- hostile cases: MQTT ----

/// Sends `bytes` as the first binary message.
async fn before_connect(addr: SocketAddr, bytes: Vec<u8>) -> Outcome {
    let mut client = Client::open(addr, V5).await;
    client.send(bytes).await;
    client.closing().await
}

/// Connects with `version`, then sends `bytes` as one binary message.
async fn after_connect(addr: SocketAddr, version: ProtocolVersion, bytes: Vec<u8>) -> Outcome {
    let mut client = Client::connect(addr, version, "hostile").await;
    client.send(bytes).await;
    client.closing().await
}

async fn connect_byte_by_byte(addr: SocketAddr) -> Outcome {
    let mut client = Client::open(addr, V5).await;
    for byte in connect_packet(V5, "byte-by-byte") {
        client.send(vec![byte]).await;
    }
    match client.packet().await {
        Packet::ConnAck(ack) if !ack.reason_code.is_error() => {}
        other => panic!("expected a CONNACK, got {other:?}"),
    }
    client.send(vec![0xc0, 0x00]).await; // PINGREQ
    assert_eq!(client.packet().await, Packet::PingResp);
    client.bye().await;
    Outcome::Works
}

async fn several_packets_in_one_message(addr: SocketAddr) -> Outcome {
    let mut client = Client::open(addr, V5).await;
    let mut bytes = BytesMut::new();
    bytes.extend_from_slice(&connect_packet(V5, "several"));
    bytes.extend_from_slice(&subscribe_packet(V5, "several/#"));
    bytes.extend_from_slice(&publish_packet(V5, "several/1", b"packed"));
    bytes.extend_from_slice(&[0xc0, 0x00]); // PINGREQ
    client.send(bytes.freeze()).await;
    let mut types = Vec::new();
    for _ in 0..4 {
        types.push(client.packet().await.packet_type().name());
    }
    assert_eq!(types[0], "CONNACK");
    types.sort_unstable();
    assert_eq!(types, ["CONNACK", "PINGRESP", "PUBLISH", "SUBACK"]);
    client.bye().await;
    Outcome::Works
}

async fn publish_split_across_messages(addr: SocketAddr) -> Outcome {
    let mut client = Client::connect(addr, V5, "split-publish").await;
    client.send(subscribe_packet(V5, "split/#")).await;
    assert!(matches!(client.packet().await, Packet::SubAck(_)));
    let payload = vec![0x5a; 1000];
    let publish = publish_packet(V5, "split/1", &payload);
    for part in publish.chunks(400) {
        client.send(part.to_vec()).await;
    }
    match client.packet().await {
        Packet::Publish(p) => assert_eq!(&p.payload[..], &payload[..]),
        other => panic!("expected the PUBLISH back, got {other:?}"),
    }
    client.bye().await;
    Outcome::Works
}

/// Half a PUBLISH frame, then a TCP reset.
async fn reset_mid_packet(addr: SocketAddr) -> Outcome {
    let mut client = Client::connect(addr, V5, "reset").await;
    let bytes = frame(0x82, &publish_packet(V5, "reset/1", &[0; 200]));
    let stream = client.ws.get_mut();
    stream
        .write_all(&bytes[..bytes.len() / 2])
        .await
        .expect("half written");
    stream.set_zero_linger().expect("SO_LINGER 0");
    drop(client); // closing with SO_LINGER 0 sends RST
    Outcome::Vanished
}

// ---- MQTT over a WebSocket by hand ----

/// An MQTT client on a WebSocket, packet by packet, for inputs the engine never sends.
struct Client<S = TcpStream> {
    ws: WebSocketStream<S>,
    version: ProtocolVersion,
    received: VecDeque<Packet>,
    pongs: usize,
}

impl Client {
    /// Upgrades a new connection to the bridge.
    async fn open(addr: SocketAddr, version: ProtocolVersion) -> Client {
        let ws = WebSocketStream::from_raw_socket(upgraded(addr).await, Role::Client, None).await;
        Client::wrap(ws, version)
    }

    /// Upgrades a new connection and gets a CONNACK accepting `client_id`.
    async fn connect(addr: SocketAddr, version: ProtocolVersion, client_id: &str) -> Client {
        let mut client = Client::open(addr, version).await;
        client.handshake(client_id).await;
        client
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn wrap(ws: WebSocketStream<S>, version: ProtocolVersion) -> Client<S> {
        Client {
            ws,
            version,
            received: VecDeque::new(),
            pongs: 0,
        }
    }

    /// Sends CONNECT with a clean start and waits for a CONNACK accepting it.
    async fn handshake(&mut self, client_id: &str) {
        self.send(connect_packet(self.version, client_id)).await;
        match self.packet().await {
            Packet::ConnAck(ack) if !ack.reason_code.is_error() => {}
            other => panic!("expected a CONNACK accepting {client_id}, got {other:?}"),
        }
    }

    /// Sends one binary message. The bridge may have closed already: that is for
    /// [`closing`](Client::closing) to tell.
    async fn send(&mut self, bytes: impl Into<Bytes>) {
        let _ = self.ws.send(Message::Binary(bytes.into())).await;
    }

    /// The next MQTT packet from the bridge.
    async fn packet(&mut self) -> Packet {
        loop {
            if let Some(packet) = self.received.pop_front() {
                return packet;
            }
            match timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    self.received.extend(packets(self.version, bytes));
                }
                Ok(Some(Ok(Message::Pong(_)))) => self.pongs += 1,
                Ok(Some(Ok(Message::Ping(_) | Message::Frame(_)))) => {}
                Ok(other) => panic!("expected a packet, the connection ended: {other:?}"),
                Err(_) => panic!("no packet within {WAIT:?}"),
            }
        }
    }

    /// Reads until the bridge ends the connection; how it did.
    async fn closing(&mut self) -> Outcome {
        // The DISCONNECT, and a CONNACK refusing, among what came before the close.
        let mut disconnect = None;
        let mut refused = None;
        let mut note = |packets: &mut dyn Iterator<Item = Packet>| {
            for packet in packets {
                match packet {
                    Packet::Disconnect(d) => disconnect = Some(d.reason_code),
                    Packet::ConnAck(ack) if ack.reason_code.is_error() => {
                        refused = Some(ack.reason_code);
                    }
                    _ => {}
                }
            }
            (disconnect, refused)
        };
        let mut seen = note(&mut self.received.drain(..));
        loop {
            match timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    seen = note(&mut packets(self.version, bytes).into_iter());
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    return match seen {
                        (Some(reason), _) => Outcome::Disconnected(reason, code),
                        (None, Some(reason)) => Outcome::Refused(reason, code),
                        (None, None) => Outcome::Closed(code),
                    };
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => return Outcome::Dropped,
                Err(_) => panic!("the bridge neither closed nor dropped it within {WAIT:?}"),
            }
        }
    }

    /// DISCONNECT and a close frame.
    async fn bye(mut self) {
        let mut bytes = BytesMut::new();
        Packet::Disconnect(mqttwire::Disconnect::new(ReasonCode::SUCCESS))
            .encode(self.version, &mut bytes)
            .expect("encoded");
        self.send(bytes.freeze()).await;
        let _ = timeout(WAIT, self.ws.close(None)).await;
    }
}

/// The packets in one message from the bridge, which sends whole packets only.
fn packets(version: ProtocolVersion, mut bytes: Bytes) -> Vec<Packet> {
    let mut packets = Vec::new();
    while !bytes.is_empty() {
        match mqttwire::decode_bytes(&mut bytes, version, mqttwire::MAX_PACKET_SIZE) {
            Ok(Some(packet)) => packets.push(packet),
            Ok(None) => panic!("the bridge sent part of a packet in a message"),
            Err(error) => panic!("the bridge sent a malformed packet: {error}"),
        }
    }
    packets
}

fn encode(version: ProtocolVersion, packet: Packet) -> Bytes {
    let mut bytes = BytesMut::new();
    packet.encode(version, &mut bytes).expect("encoded");
    bytes.freeze()
}

fn connect_packet(version: ProtocolVersion, client_id: &str) -> Bytes {
    encode(
        version,
        Packet::Connect(Connect::new(version, client_id.to_owned())),
    )
}

fn subscribe_packet(version: ProtocolVersion, filter: &str) -> Bytes {
    let subscribe = Subscribe::new(
        PacketId::new(1).expect("nonzero"),
        TopicFilter::new(filter.to_owned()).expect("a valid filter"),
        SubscriptionOptions::qos(QoS::AtMostOnce),
    );
    encode(version, Packet::Subscribe(subscribe))
}

fn publish_packet(version: ProtocolVersion, topic: &str, payload: &[u8]) -> Bytes {
    encode(
        version,
        Packet::Publish(message(topic, payload.to_vec(), QoS::AtMostOnce)),
    )
}

/// Opens a WebSocket with tokio-tungstenite, sending these extra headers; on success the
/// subprotocol the bridge chose, on refusal how it refused.
async fn handshake(
    addr: SocketAddr,
    version: ProtocolVersion,
    headers: &[(&str, &str)],
) -> Result<(Client, Option<String>), Outcome> {
    let headers: Vec<(&[u8], &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    handshake_raw(addr, version, &headers).await
}

/// [`handshake`] with header values given as bytes, which need not be text.
async fn handshake_raw(
    addr: SocketAddr,
    version: ProtocolVersion,
    headers: &[(&[u8], &[u8])],
) -> Result<(Client, Option<String>), Outcome> {
    let mut request = format!("ws://{addr}/mqtt")
        .into_client_request()
        .expect("a request");
    for &(name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name).expect("a header name"),
            HeaderValue::from_bytes(value).expect("a header value"),
        );
    }
    let Ok(stream) = TcpStream::connect(addr).await else {
        return Err(Outcome::Dropped);
    };
    match timeout(WAIT, tokio_tungstenite::client_async(request, stream)).await {
        Ok(Ok((ws, response))) => {
            let protocol = response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok((Client::wrap(ws, version), protocol))
        }
        Ok(Err(WsError::Http(response))) => Err(Outcome::Http(response.status().as_u16())),
        Ok(Err(_)) => Err(Outcome::Dropped),
        Err(_) => panic!("no handshake within {WAIT:?}"),
    }
}

/// A handshake offering `mqtt`, tried again for a while: a connection slot is freed a
/// moment after the client before it left.
async fn retry_handshake(addr: SocketAddr) -> (Client, Option<String>) {
    let began = Instant::now();
    loop {
        match handshake(addr, V5, &[("Sec-WebSocket-Protocol", "mqtt")]).await {
            Ok(upgraded) => return upgraded,
            Err(outcome) if began.elapsed() > WAIT => panic!("still refused: {outcome:?}"),
            Err(_) => sleep(Duration::from_millis(20)).await,
        }
    }
}

// ---- the web app's files: by hand ----

/// The body of `app.js` in [`site`].
const APP_JS: &str = "console.log('app');\n";
/// The body of `sub/visible.txt` in [`site`].
const VISIBLE: &str = "visible\n";

/// A web app directory: `index.html`, `app.js` and `sub/visible.txt`.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fill_site(dir.path());
    dir
}

fn fill_site(root: &std::path::Path) {
    write(root, "index.html", "<!doctype html><title>app</title>\n");
    write(root, "app.js", APP_JS);
    write(root, "sub/visible.txt", VISIBLE);
}

/// Writes `contents` to `path` under `root`, making its directories.
fn write(root: &std::path::Path, path: &str, contents: &str) {
    let path = root.join(path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("a directory");
    }
    std::fs::write(path, contents).expect("a file written");
}

fn symlink(target: impl AsRef<std::path::Path>, link: std::path::PathBuf) {
    std::os::unix::fs::symlink(target, link).expect("a symlink");
}

/// A bridge serving `dir`. Its broker is never dialled: no WebSocket connects.
async fn serving(dir: &std::path::Path) -> Bridge {
    start(Config {
        brokers: vec![broker_url(9)],
        serve: Some(dir.to_owned()),
        ..Config::default()
    })
    .await
}

/// True if a browser reads `location` as a path on the same site: one '/', then no '/' or
/// '\' (which browsers read as '/'), and nothing but visible ASCII (browsers drop tabs and
/// newlines).
fn stays_on_site(location: &str) -> bool {
    let bytes = location.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\')
}

/// An HTTP response read to its end.
struct Fetched {
    status: u16,
    /// Names in lower case, in the order sent.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Fetched {
    /// The first value of the header `name` (lower case).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `method target` with `headers` and `Connection: close`; the target goes out exactly as
/// written, with no normalization.
async fn fetch(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Fetched {
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request written");
    let mut response = Vec::new();
    timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .unwrap_or_else(|_| panic!("{method} {target}: no response in time"))
        .expect("a response");
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.get(9..12))
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Fetched {
        status,
        headers,
        body: response[end + 4..].to_vec(),
    }
}

// ---- shared helpers ----

/// A mosquitto and a bridge in front of it with `config`, whose brokers are replaced by
/// that one.
async fn bridged(config: Config) -> (Mosquitto, Bridge) {
    let broker = broker();
    let bridge = start(Config {
        brokers: vec![broker_url(broker.port())],
        ..config
    })
    .await;
    (broker, bridge)
}

async fn start(config: Config) -> Bridge {
    Bridge::start(config)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until the bridge relays exactly `open` connections; false if it did not in time.
async fn settles(bridge: &Bridge, open: i64) -> bool {
    let began = Instant::now();
    while bridge.handle().open_connections() != open {
        if began.elapsed() > WAIT {
            return false;
        }
        sleep(Duration::from_millis(5)).await;
    }
    true
}

/// Waits until a series of the bridge's metrics reaches `at_least`.
async fn settles_metric(bridge: &Bridge, series: &str, at_least: u64) -> bool {
    let began = Instant::now();
    while bridge.metric(series) < at_least {
        if began.elapsed() > WAIT {
            return false;
        }
        sleep(Duration::from_millis(5)).await;
    }
    true
}

/// A native client straight on `broker`, subscribed to `filter` at QoS 1.
async fn watcher(broker: &Mosquitto, client_id: &str, filter: &str) -> (ClientHandle, Events) {
    let (client, mut events, _) = connect(&broker.tcp_url(), options(V5, client_id)).await;
    subscribe(&client, &mut events, filter, QoS::AtLeastOnce).await;
    (client, events)
}

/// A new native client through the bridge at `url` that has published an empty QoS 1
/// message on `topic`; returned so that it stays connected.
async fn publish_through(
    url: &str,
    version: ProtocolVersion,
    client_id: &str,
    topic: &str,
) -> (ClientHandle, Events) {
    let (client, mut events, _) = connect(url, options(version, client_id)).await;
    publish(&client, &mut events, message(topic, "", QoS::AtLeastOnce)).await;
    (client, events)
}

/// The topic of the next message a native client receives.
async fn next_topic(events: &mut Events) -> String {
    events
        .wait_map(WAIT, |e| match e {
            Event::Message(publish) => Some(publish.topic.as_str().to_owned()),
            _ => None,
        })
        .await
        .expect("a message")
}
