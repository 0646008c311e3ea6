//! mqttwire-bridge at the edge, in front of a real mosquitto 2.0 (one per test): JSON Web
//! Tokens checked before anything reaches the broker (valid, expired, not yet valid, wrong
//! key, wrong issuer and audience, missing, a client id that is not the token's), and topic
//! ACLs with `%u` and `%c` on PUBLISH, SUBSCRIBE and the will, on MQTT 3.1.1 and 5.0. An
//! observer connected straight to mosquitto sees what really got through.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mqttwire::client::{ClientOptions, DisconnectedBy, Event, PublishError};
use mqttwire::{Properties, ProtocolVersion, QoS, ReasonCode, TopicName, Will};
use mqttwire_bridge::Config;
use mqttwire_bridge::acl::{Access, Acl, AclRule};
use mqttwire_bridge::auth::{JwtAlgorithm, JwtSettings, JwtVerifier};
use mqttwire_tests::bridge::config_for;
use mqttwire_tests::steps::{WAIT, bounded, broker, connect, cut, options, publish, subscribe};
use mqttwire_tests::subscription;
use mqttwire_tests::{Bridge, ClientHandle, Events, Mosquitto, message, spawn};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use ProtocolVersion::{V5, V311};

const SECRET: &[u8] = b"a shared secret of at least thirty-two bytes";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Writes `key` to a file of `dir` and loads a verifier for it.
fn verifier(
    dir: &tempfile::TempDir,
    key: &[u8],
    algorithm: JwtAlgorithm,
    audience: Option<&str>,
    client_id_claim: Option<&str>,
) -> Arc<JwtVerifier> {
    let key_file = dir.path().join("jwt.key");
    std::fs::write(&key_file, key).expect("write the key");
    let settings = JwtSettings {
        key_file,
        jwks: false,
        algorithm,
        issuer: Some("https://auth.example".into()),
        audience: audience.map(str::to_owned),
        username_claim: "sub".into(),
        client_id_claim: client_id_claim.map(str::to_owned),
    };
    Arc::new(JwtVerifier::load(settings).expect("a valid key"))
}

fn token(claims: serde_json::Value, algorithm: Algorithm, key: &EncodingKey) -> Bytes {
    let token = jsonwebtoken::encode(&Header::new(algorithm), &claims, key).expect("signed");
    Bytes::from(token)
}

fn hs256(claims: serde_json::Value) -> Bytes {
    token(
        claims,
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET).expect("a key"),
    )
}

/// Claims for `user`, valid for an hour.
fn claims(user: &str) -> serde_json::Value {
    json!({ "sub": user, "iss": "https://auth.example", "aud": "mqttwire", "exp": now() + 3600 })
}

fn with_token(version: ProtocolVersion, client_id: &str, password: Bytes) -> ClientOptions {
    let mut o = options(version, client_id);
    o.reconnect = None;
    o.username = Some("token".into());
    o.password = Some(password);
    o
}

/// Connects and expects the bridge's refusal: CONNACK "not authorized".
async fn refused(url: &str, options: ClientOptions) {
    let (_client, mut events) = spawn(url.parse().expect("a valid URL"), options);
    let reason = events
        .wait_map(WAIT, |e| match e {
            Event::Connected { .. } => Some(Err(())),
            Event::Disconnected {
                by: DisconnectedBy::Server,
                reason_code,
                ..
            } => Some(Ok(reason_code)),
            _ => None,
        })
        .await
        .expect("an answer to CONNECT");
    assert_eq!(reason, Ok(ReasonCode::NOT_AUTHORIZED));
}

async fn start(broker: &Mosquitto, config: Config) -> Bridge {
    Bridge::start(Config {
        brokers: config_for(&[broker]).brokers,
        ..config
    })
    .await
    .expect("the bridge starts")
}

/// The server's answer to a publish: its reason code, also when it refused it.
async fn publish_outcome(
    client: &ClientHandle,
    events: &mut Events,
    topic: &str,
    qos: QoS,
) -> ReasonCode {
    let handle = client
        .start_publish(message(topic, "m", qos))
        .await
        .expect("accepted");
    events
        .wait_map(WAIT, |e| match e {
            Event::PublishComplete {
                handle: h,
                reason_code,
            } if h == handle => Some(reason_code),
            Event::PublishFailed {
                handle: h,
                error: PublishError::Refused(code),
            } if h == handle => Some(code),
            _ => None,
        })
        .await
        .expect("an acknowledgment")
}

/// What `events` received within a moment, as topics.
async fn topics_received(events: &mut Events) -> Vec<String> {
    let mut topics = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await {
        if let Event::Message(p) = event {
            topics.push(p.topic.to_string());
        }
    }
    topics
}

async fn jwt_checks(version: ProtocolVersion) {
    let broker = broker();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = Config {
        jwt: Some(verifier(
            &dir,
            SECRET,
            JwtAlgorithm::Hs256,
            Some("mqttwire"),
            Some("cid"),
        )),
        ..Config::default()
    };
    let bridge = start(&broker, config).await;
    let url = bridge.ws_url();
    let mut good = claims("alice");
    good["cid"] = json!("alice-1");
    let (_client, _events, _) =
        connect(&url, with_token(version, "alice-1", hs256(good.clone()))).await;

    let mut expired = good.clone();
    expired["exp"] = json!(now() - 10);
    let mut early = good.clone();
    early["nbf"] = json!(now() + 600);
    let mut audience = good.clone();
    audience["aud"] = json!("another-app");
    let mut issuer = good.clone();
    issuer["iss"] = json!("https://evil.example");
    let wrong_key = token(
        good.clone(),
        Algorithm::HS256,
        &EncodingKey::from_secret(b"not the secret, though just as long").expect("a key"),
    );
    let cases = [
        ("expired", hs256(expired)),
        ("not yet valid", hs256(early)),
        ("wrong audience", hs256(audience)),
        ("wrong issuer", hs256(issuer)),
        ("wrong key", wrong_key),
        ("not a token", Bytes::from_static(b"hunter2")),
    ];
    for (i, (name, password)) in cases.into_iter().enumerate() {
        let client_id = format!("refused-{i}");
        refused(&url, with_token(version, &client_id, password)).await;
        assert!(
            !broker.log().contains(&client_id),
            "{name}: the broker saw the refused client"
        );
    }
    // The token is someone else's: its client id claim names another client.
    refused(&url, with_token(version, "mallory-1", hs256(good))).await;
    let mut no_password = options(version, "no-password");
    no_password.reconnect = None;
    refused(&url, no_password).await;
    assert!(!broker.log().contains("no-password"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_accepted_expired_wrong_key_wrong_audience_refused_v311() {
    bounded(jwt_checks(V311)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_accepted_expired_wrong_key_wrong_audience_refused_v5() {
    bounded(jwt_checks(V5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepts_es256_tokens_with_a_pem_public_key() {
    bounded(async {
        let broker = broker();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let pair = rcgen::KeyPair::generate().expect("a P-256 key pair");
        let config = Config {
            jwt: Some(verifier(
                &dir,
                pair.public_key_pem().as_bytes(),
                JwtAlgorithm::Es256,
                None,
                None,
            )),
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        let signing =
            EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("PKCS#8 key");
        let mut c = claims("bob");
        c.as_object_mut().expect("an object").remove("aud");
        let (_client, _events, _) = connect(
            &bridge.ws_url(),
            with_token(V5, "bob-1", token(c.clone(), Algorithm::ES256, &signing)),
        )
        .await;
        // An HS256 token made with the public key as secret is not an ES256 token.
        let confused = token(
            c,
            Algorithm::HS256,
            &EncodingKey::from_secret(pair.public_key_pem().as_bytes()).expect("a key"),
        );
        refused(&bridge.ws_url(), with_token(V5, "bob-2", confused)).await;
    })
    .await;
}

fn rules() -> Acl {
    let rule = |topic: &str, access| AclRule {
        topic: topic.into(),
        access,
    };
    Acl::new(vec![
        rule("chat/%u/#", Access::Readwrite),
        rule("rooms/+/messages", Access::Readwrite),
        rule("news/#", Access::Read),
        rule("devices/%c/telemetry", Access::Write),
    ])
    .expect("valid rules")
}

async fn acl_checks(version: ProtocolVersion) {
    let broker = broker();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = Config {
        jwt: Some(verifier(&dir, SECRET, JwtAlgorithm::Hs256, None, None)),
        acl: rules(),
        ..Config::default()
    };
    let bridge = start(&broker, config).await;
    let url = bridge.ws_url();
    // An observer straight at mosquitto sees what got through.
    let (observer, mut seen, _) = connect(&broker.tcp_url(), options(version, "observer")).await;
    subscribe(&observer, &mut seen, "#", QoS::AtLeastOnce).await;

    let mut alice_claims = claims("alice");
    alice_claims
        .as_object_mut()
        .expect("an object")
        .remove("aud");
    let (alice, mut alice_events, _) = connect(
        &url,
        with_token(version, "dev-7", hs256(alice_claims.clone())),
    )
    .await;
    // PUBLISH: allowed by %u, by a plain rule and by %c; denied elsewhere, on read-only
    // topics and on another client's %c.
    let denied_code = match version {
        V5 => ReasonCode::NOT_AUTHORIZED,
        V311 => ReasonCode::SUCCESS, // 3.1.1 cannot say no: acknowledged, not delivered
    };
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        for topic in [
            "chat/alice/hello",
            "rooms/42/messages",
            "devices/dev-7/telemetry",
        ] {
            assert!(
                !publish_outcome(&alice, &mut alice_events, topic, qos)
                    .await
                    .is_error(),
                "{topic} at {qos:?}"
            );
        }
        for topic in [
            "chat/bob/hello",
            "news/today",
            "devices/dev-8/telemetry",
            "rooms/42/secret",
        ] {
            assert_eq!(
                publish_outcome(&alice, &mut alice_events, topic, qos).await,
                denied_code,
                "{topic} at {qos:?}"
            );
        }
    }
    publish(
        &alice,
        &mut alice_events,
        message("chat/bob/qos0", "m", QoS::AtMostOnce),
    )
    .await;
    publish(
        &alice,
        &mut alice_events,
        message("chat/alice/qos0", "m", QoS::AtMostOnce),
    )
    .await;
    let mut got = topics_received(&mut seen).await;
    got.sort();
    assert_eq!(
        got,
        [
            "chat/alice/hello",
            "chat/alice/hello",
            "chat/alice/qos0",
            "devices/dev-7/telemetry",
            "devices/dev-7/telemetry",
            "rooms/42/messages",
            "rooms/42/messages",
        ],
        "only allowed publishes reach the broker"
    );

    // SUBSCRIBE: allowed filters are granted, denied ones get 0x87 / 0x80 in their places,
    // and nothing arrives on them.
    let handle = alice
        .start_subscribe(
            vec![
                subscription("chat/+/hello", QoS::AtLeastOnce),
                subscription("chat/alice/#", QoS::AtLeastOnce),
                subscription("devices/dev-7/telemetry", QoS::AtLeastOnce),
                subscription("news/+", QoS::AtMostOnce),
            ],
            Properties::new(),
        )
        .await
        .expect("accepted");
    let codes = alice_events
        .wait_map(WAIT, |e| match e {
            Event::Subscribed {
                handle: Some(h),
                reason_codes,
            } if h == handle => Some(reason_codes),
            _ => None,
        })
        .await
        .expect("SUBACK");
    let no = match version {
        V5 => ReasonCode::NOT_AUTHORIZED,
        V311 => ReasonCode::UNSPECIFIED_ERROR,
    };
    assert_eq!(
        codes,
        [no, ReasonCode::GRANTED_QOS_1, no, ReasonCode::SUCCESS]
    );
    assert_eq!(
        subscribe(&alice, &mut alice_events, "#", QoS::AtLeastOnce).await,
        [no],
        "answered by the bridge"
    );
    for topic in [
        "chat/bob/hello",
        "chat/alice/hello",
        "news/today",
        "devices/dev-7/telemetry",
    ] {
        publish(
            &observer,
            &mut seen,
            message(topic, "from the broker", QoS::AtLeastOnce),
        )
        .await;
    }
    let mut got = topics_received(&mut alice_events).await;
    got.sort();
    assert_eq!(got, ["chat/alice/hello", "news/today"]);

    // The will: one on another user's topic is refused at CONNECT; one on the user's own
    // topic is published when the connection breaks.
    let mut bad_will = with_token(version, "dev-9", hs256(alice_claims.clone()));
    bad_will.will = Some(will("chat/bob/gone"));
    refused(&url, bad_will).await;
    assert!(!broker.log().contains("dev-9"));
    let mut good_will = with_token(version, "dev-10", hs256(alice_claims));
    good_will.will = Some(will("chat/alice/gone"));
    let (holder, mut holder_events, _) = connect(&url, good_will).await;
    cut(&holder, &mut holder_events).await;
    let will = seen
        .message_on(WAIT, "chat/alice/gone")
        .await
        .expect("the will");
    assert_eq!(will.payload, Bytes::from_static(b"gone"));
}

fn will(topic: &str) -> Will {
    Will {
        topic: TopicName::new(topic).expect("valid"),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_allows_and_denies_publish_subscribe_and_will_with_user_and_client_id_v311() {
    bounded(acl_checks(V311)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_allows_and_denies_publish_subscribe_and_will_with_user_and_client_id_v5() {
    bounded(acl_checks(V5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_without_jwt_takes_the_user_from_the_connect_user_name() {
    bounded(async {
        let broker = broker();
        let bridge = start(
            &broker,
            Config {
                acl: rules(),
                ..Config::default()
            },
        )
        .await;
        let mut o = options(V5, "carol-1");
        o.username = Some("carol".into());
        let (carol, mut events, _) = connect(&bridge.ws_url(), o).await;
        assert!(
            !publish_outcome(&carol, &mut events, "chat/carol/x", QoS::AtLeastOnce)
                .await
                .is_error()
        );
        assert_eq!(
            publish_outcome(&carol, &mut events, "chat/dave/x", QoS::AtLeastOnce).await,
            ReasonCode::NOT_AUTHORIZED
        );
        // No user name: no %u rule applies (it would otherwise widen to any level).
        let (anonymous, mut events, _) = connect(&bridge.ws_url(), options(V5, "anon")).await;
        assert_eq!(
            publish_outcome(&anonymous, &mut events, "chat//x", QoS::AtLeastOnce).await,
            ReasonCode::NOT_AUTHORIZED
        );
        assert!(
            !publish_outcome(
                &anonymous,
                &mut events,
                "rooms/1/messages",
                QoS::AtLeastOnce
            )
            .await
            .is_error()
        );
    })
    .await;
}

#[test]
fn rejects_jwt_settings_without_a_key_and_unreadable_keys() {
    use clap::Parser;
    use mqttwire_bridge::{Cli, ConfigError};
    let cli = Cli::parse_from(["mqttwire-bridge", "--jwt-audience", "app"]);
    assert!(matches!(
        Config::from_cli(cli),
        Err(ConfigError::JwtWithoutKey("--jwt-audience"))
    ));
    let cli = Cli::parse_from(["mqttwire-bridge", "--jwt-key", "/nonexistent/key.pem"]);
    let error = Config::from_cli(cli).expect_err("no such file");
    assert!(
        error.to_string().contains("/nonexistent/key.pem"),
        "{error}"
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let short = dir.path().join("short.key");
    std::fs::write(&short, "too short").expect("write");
    let cli = Cli::parse_from([
        "mqttwire-bridge",
        "--jwt-key",
        short.to_str().expect("utf-8"),
    ]);
    let error = Config::from_cli(cli).expect_err("too short");
    assert!(error.to_string().contains("at least 32 bytes"), "{error}");
    let cli = Cli::parse_from([
        "mqttwire-bridge",
        "--transparent",
        "--jwt-key",
        short.to_str().expect("utf-8"),
    ]);
    assert!(Config::from_cli(cli).is_err());
}

// ---- memory before authentication, and what the broker may send ----

/// A 3.1.1 CONNECT for the one-byte client id `id`: clean session, keep alive 60 s.
fn connect_v311(id: u8) -> [u8; 15] {
    [
        0x10, 0x0d, // CONNECT, remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, // protocol name, level 4
        0x02, 0x00, 0x3c, // clean session, keep alive 60
        0x00, 0x01, id, // client id
    ]
}

/// A raw WebSocket to the bridge offering `mqtt`.
async fn raw_ws(bridge: &Bridge) -> WebSocketStream<TcpStream> {
    let mut request = bridge.ws_url().into_client_request().expect("a request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    let stream = TcpStream::connect(bridge.addr()).await.expect("connects");
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("upgraded");
    ws
}

/// Sends `bytes` as one binary message; how long until the bridge closed, and its close
/// frame's code and reason.
async fn closed_after(bridge: &Bridge, bytes: &[u8]) -> (Duration, Option<(CloseCode, String)>) {
    let mut ws = raw_ws(bridge).await;
    let sent = Instant::now();
    ws.send(Message::Binary(Bytes::copy_from_slice(bytes)))
        .await
        .expect("sent");
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                break frame.map(|f| (f.code, f.reason.to_string()));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => break None,
            Err(_) => panic!("the bridge did not close within 10 s"),
        }
    };
    (sent.elapsed(), close)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_first_packet_that_is_not_connect_on_its_first_byte() {
    bounded(async {
        let broker = broker();
        let config = Config {
            connect_timeout: Duration::from_secs(5),
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        // A PUBLISH declaring 1 MiB (under the 4 MiB packet limit), of which 3 bytes come.
        let (took, close) = closed_after(&bridge, &[0x30, 0x80, 0x80, 0x40, 1, 2, 3]).await;
        assert!(
            took < Duration::from_secs(1),
            "waited {took:?} for a packet that is not CONNECT"
        );
        assert_eq!(close.map(|c| c.0), Some(CloseCode::Protocol));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_the_connect_at_its_own_small_size_before_buffering_it() {
    bounded(async {
        let broker = broker();
        let config = Config {
            connect_timeout: Duration::from_secs(5),
            ..Config::default()
        };
        assert_eq!(config.max_connect_size, 64 * 1024, "the default");
        let bridge = start(&broker, config).await;
        // A CONNECT declaring 100,000 bytes (0xA0 0x8D 0x06), well under the packet limit.
        let (took, close) = closed_after(&bridge, &[0x10, 0xA0, 0x8D, 0x06, 0x00, 0x04]).await;
        assert!(
            took < Duration::from_secs(1),
            "waited {took:?} for an oversized CONNECT"
        );
        let (code, reason) = close.expect("a close frame");
        assert_eq!(code, CloseCode::Protocol);
        assert!(reason.contains("65536"), "{reason}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_the_broker_its_maximum_packet_size_so_an_oversized_retained_message_closes_nothing()
{
    bounded(async {
        let broker = broker();
        // A 32 KiB retained message, straight at mosquitto.
        let (direct, mut direct_events, _) =
            connect(&broker.tcp_url(), options(V5, "direct")).await;
        let mut big = message("big/retained", vec![7u8; 32 * 1024], QoS::AtLeastOnce);
        big.retain = true;
        publish(&direct, &mut direct_events, big).await;
        let bridge = start(
            &broker,
            Config {
                max_packet_size: 16 * 1024,
                ..Config::default()
            },
        )
        .await;
        let (client, mut events, _) = connect(&bridge.ws_url(), options(V5, "small-packets")).await;
        subscribe(&client, &mut events, "big/#", QoS::AtLeastOnce).await;
        publish(
            &direct,
            &mut direct_events,
            message("big/small", "fits", QoS::AtLeastOnce),
        )
        .await;
        let mut seen = Vec::new();
        let outcome = events
            .wait_map(WAIT, |e| match e {
                Event::Message(p) => {
                    seen.push(p.topic.to_string());
                    (p.topic.as_str() == "big/small").then_some(Ok(()))
                }
                Event::Disconnected {
                    by, reason_code, ..
                } => Some(Err((by, reason_code))),
                _ => None,
            })
            .await
            .expect("the small message or a disconnect");
        assert_eq!(
            outcome,
            Ok(()),
            "the connection was closed; messages: {seen:?}"
        );
        assert_eq!(
            seen,
            ["big/small"],
            "the oversized retained message is not sent"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_refuses_settings_out_of_range() {
    use mqttwire_bridge::RunError;
    let broker = broker();
    let base = || config_for(&[&broker]);
    let cases = [
        (
            "max_connections 0",
            Config {
                max_connections: 0,
                ..base()
            },
        ),
        (
            "max_packet_size above MQTT's limit",
            Config {
                max_packet_size: u32::MAX,
                ..base()
            },
        ),
        (
            "coalesce_limit usize::MAX",
            Config {
                coalesce_limit: usize::MAX,
                ..base()
            },
        ),
        (
            "max_connect_size 0",
            Config {
                max_connect_size: 0,
                ..base()
            },
        ),
    ];
    for (name, config) in cases {
        let result = Bridge::start(config).await;
        assert!(
            matches!(
                result,
                Err(mqttwire_tests::BridgeError::Run(RunError::Config(_)))
            ),
            "{name}: {result:?}"
        );
    }
}

// ---- who a client is, for the per-client limit ----

/// Sends a WebSocket upgrade (after `before`, e.g. a PROXY header) with `extra` header lines
/// from `source`; returns the HTTP status (0 if closed without one) and the open socket.
async fn upgrade_from(
    source: &str,
    bridge: &Bridge,
    before: &str,
    extra: &str,
) -> (u16, TcpStream) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(format!("{source}:0").parse().expect("an address"))
        .expect("bind");
    let mut stream = socket.connect(bridge.addr()).await.expect("connects");
    let request = format!(
        "{before}GET /mqtt HTTP/1.1\r\nHost: bridge\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: mqtt\r\n{extra}\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return (0, stream);
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(WAIT, stream.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            Ok(_) => return (0, stream),
            Err(_) => panic!("no answer to the upgrade"),
        }
    }
    let status = String::from_utf8_lossy(&head)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, stream)
}

/// Whether the bridge closes `stream` (without sending anything) within a second.
async fn closed_by_bridge(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_a_client_at_accept_so_idle_sockets_from_one_address_cannot_take_every_slot() {
    bounded(async {
        let broker = broker();
        let config = Config {
            max_connections: 4,
            max_connections_per_ip: 2,
            handshake_timeout: Duration::from_secs(20),
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        // Four sockets from 127.0.0.1 that never send a byte.
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(TcpStream::connect(bridge.addr()).await.expect("connects"));
        }
        // Which two get in is the scheduler's choice; two are closed at once.
        let mut closed = 0;
        for socket in &mut idle {
            closed += usize::from(closed_by_bridge(socket).await);
        }
        assert_eq!(
            closed, 2,
            "sockets over the per-client limit closed at accept"
        );
        // Another address still gets in.
        let (status, _ws) = upgrade_from("127.0.0.2", &bridge, "", "").await;
        assert_eq!(status, 101, "a client from another address was refused");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_proxy_protocol_x_forwarded_for_cannot_choose_the_client_address() {
    bounded(async {
        let broker = broker();
        let config = Config {
            trusted_proxies: vec!["127.0.0.1/32".parse().expect("a network")],
            proxy_protocol: true,
            max_connections_per_ip: 1,
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        let proxy = "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n";
        let (first, _held) = upgrade_from(
            "127.0.0.1",
            &bridge,
            proxy,
            "X-Forwarded-For: 198.51.100.1\r\n",
        )
        .await;
        assert_eq!(first, 101);
        // The same client behind the load balancer, claiming another address.
        let (second, _) = upgrade_from(
            "127.0.0.1",
            &bridge,
            proxy,
            "X-Forwarded-For: 198.51.100.2\r\n",
        )
        .await;
        assert_ne!(second, 101, "X-Forwarded-For overrode the PROXY address");
        // Another PROXY source is another client.
        let other = "PROXY TCP4 203.0.113.8 127.0.0.1 5556 80\r\n";
        let (third, _held_too) = upgrade_from("127.0.0.1", &bridge, other, "").await;
        assert_eq!(third, 101);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparsable_x_forwarded_for_entry_is_its_own_client_not_the_proxy() {
    bounded(async {
        let broker = broker();
        let config = Config {
            trusted_proxies: vec!["127.0.0.1/32".parse().expect("a network")],
            max_connections_per_ip: 1,
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        let (first, _held) =
            upgrade_from("127.0.0.1", &bridge, "", "X-Forwarded-For: unknown\r\n").await;
        assert_eq!(first, 101);
        // The proxy's own request (no X-Forwarded-For) is another client.
        let (second, _held_too) = upgrade_from("127.0.0.1", &bridge, "", "").await;
        assert_eq!(second, 101, "the unparsable entry was counted as the proxy");
        let (third, _) =
            upgrade_from("127.0.0.1", &bridge, "", "X-Forwarded-For: unknown\r\n").await;
        assert_eq!(third, 429);
    })
    .await;
}

// ---- deadlines: a peer that stops reading ----

/// Pipelines `GET /metrics` requests on `stream` without ever reading the answers, until a
/// write fails (the bridge closed the connection) or `within` passes; how long it took.
async fn pipeline_without_reading(mut stream: TcpStream, within: Duration) -> Option<Duration> {
    let requests = "GET /metrics HTTP/1.1\r\nHost: bridge\r\n\r\n".repeat(256);
    let began = Instant::now();
    let flood = async { while stream.write_all(requests.as_bytes()).await.is_ok() {} };
    tokio::time::timeout(within, flood)
        .await
        .ok()
        .map(|()| began.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_an_http_client_that_pipelines_requests_and_never_reads() {
    bounded(async {
        let broker = broker();
        let config = Config {
            write_timeout: Duration::from_secs(1),
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        let stream = TcpStream::connect(bridge.addr()).await.expect("connects");
        let took = pipeline_without_reading(stream, Duration::from_secs(15)).await;
        assert!(
            took.is_some(),
            "the bridge kept answering a client that never reads"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_a_websocket_client_that_stops_reading() {
    bounded(async {
        let broker = broker();
        let config = Config {
            write_timeout: Duration::from_secs(1),
            idle_timeout: Duration::ZERO,
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        let mut ws = raw_ws(&bridge).await;
        let connect_bytes = connect_v311(b's');
        let subscribe = [
            0x82, 0x0a, 0x00, 0x01, 0x00, 0x05, b'f', b'l', b'o', b'o', b'd', 0x00,
        ];
        ws.send(Message::Binary(Bytes::copy_from_slice(&connect_bytes)))
            .await
            .expect("CONNECT");
        ws.send(Message::Binary(Bytes::copy_from_slice(&subscribe)))
            .await
            .expect("SUBSCRIBE");
        let mut acks = 0;
        while acks < 2 {
            if let Some(Ok(Message::Binary(_))) = ws.next().await {
                acks += 1; // CONNACK, SUBACK
            }
        }
        assert_eq!(bridge.handle().open_connections(), 1);
        // From now on the client reads nothing; 32 MiB are published to it.
        let (publisher, mut events, _) = connect(&broker.tcp_url(), options(V311, "flooder")).await;
        let flood = async {
            for _ in 0..512 {
                publish(
                    &publisher,
                    &mut events,
                    message("flood", vec![0u8; 64 * 1024], QoS::AtMostOnce),
                )
                .await;
            }
        };
        let closed = async {
            while bridge.handle().open_connections() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            () = closed => {}
            () = async { flood.await; tokio::time::sleep(Duration::from_secs(10)).await } => {
                panic!("the relay still waits on a client that reads nothing");
            }
        }
        drop(ws);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_within_its_limit_whatever_a_client_does() {
    bounded(async {
        let broker = broker();
        let config = Config {
            write_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_millis(200),
            ..Config::default()
        };
        let mut bridge = start(&broker, config).await;
        let stream = TcpStream::connect(bridge.addr()).await.expect("connects");
        // A client stuck in the middle of reading its answers.
        let stuck = tokio::spawn(pipeline_without_reading(stream, Duration::from_secs(25)));
        tokio::time::sleep(Duration::from_millis(500)).await;
        bridge.shutdown();
        assert!(
            bridge.stopped(Duration::from_secs(8)).await,
            "shutdown hung on the stuck client"
        );
        stuck.abort();
    })
    .await;
}

// ---- safe defaults ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_browsers_by_default_until_told_their_origin() {
    bounded(async {
        let broker = broker();
        let page = "Origin: https://anywhere.example\r\n";
        let bridge = start(&broker, Config::default()).await;
        let (status, _) = upgrade_from("127.0.0.1", &bridge, "", page).await;
        assert_eq!(
            status, 403,
            "a page on any site could use its visitors' browsers"
        );
        let (status, _) = upgrade_from("127.0.0.1", &bridge, "", "").await;
        assert_eq!(status, 101, "clients that send no Origin are not browsers");
        let any = Config {
            origins: vec!["*".to_owned()],
            ..Config::default()
        };
        let bridge = start(&broker, any).await;
        let (status, _) = upgrade_from("127.0.0.1", &bridge, "", page).await;
        assert_eq!(status, 101, "--origin '*' lets any page in");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_says_whether_a_broker_answers_and_metrics_stay_off_the_public_port() {
    bounded(async {
        let mut broker = broker();
        let config = Config {
            metrics_listen: Some("127.0.0.1:0".parse().expect("an address")),
            upstream_timeout: Duration::from_millis(500),
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        let ops = bridge.handle().operations_addr().expect("bound");
        assert_eq!(http_status(bridge.addr(), "/readyz").await, 200);
        assert_eq!(http_status(bridge.addr(), "/metrics").await, 404);
        assert_eq!(http_status(ops, "/metrics").await, 200);
        broker.stop();
        // The answer is reused for a second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(http_status(bridge.addr(), "/readyz").await, 503);
        assert_eq!(http_status(ops, "/readyz").await, 503);
        assert_eq!(
            http_status(ops, "/healthz").await,
            200,
            "the bridge itself runs"
        );
    })
    .await;
}

/// The status of `GET path` on a connection of its own.
async fn http_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: bridge\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

// ---- TLS certificate reload ----

/// A TLS connection to the bridge trusting `roots`; the leaf certificate it was served.
async fn tls_connect(
    bridge: &Bridge,
    roots: &[rustls_pki_types::CertificateDer<'static>],
) -> (tokio_rustls::client::TlsStream<TcpStream>, Vec<u8>) {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("a root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(store)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(bridge.addr()).await.expect("connects");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("a name");
    let stream = connector.connect(name, tcp).await.expect("TLS handshake");
    let leaf = stream.get_ref().1.peer_certificates().expect("a chain")[0].to_vec();
    (stream, leaf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_the_tls_certificate_without_dropping_connections() {
    bounded(async {
        let broker = broker();
        let first = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        let second = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, first.cert.pem()).expect("written");
        std::fs::write(&key, first.signing_key.serialize_pem()).expect("written");
        let bridge = start(
            &broker,
            Config {
                tls: Some((cert.clone(), key.clone())),
                ..Config::default()
            },
        )
        .await;
        let roots = [first.cert.der().clone(), second.cert.der().clone()];

        // A client connected with the first certificate.
        let (stream, leaf) = tls_connect(&bridge, &roots).await;
        assert_eq!(leaf, first.cert.der().to_vec());
        let mut request = format!("wss://localhost:{}/mqtt", bridge.addr().port())
            .into_client_request()
            .expect("a request");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .expect("WebSocket over TLS");
        let connect_packet = connect_v311(b'r');
        ws.send(Message::Binary(Bytes::copy_from_slice(&connect_packet)))
            .await
            .expect("CONNECT");
        assert!(
            matches!(ws.next().await, Some(Ok(Message::Binary(_)))),
            "CONNACK"
        );

        // The files change; the bridge is told (SIGHUP in the binary).
        std::fs::write(&cert, second.cert.pem()).expect("written");
        std::fs::write(&key, second.signing_key.serialize_pem()).expect("written");
        bridge.handle().reload_tls().expect("reloaded");
        let (_stream, leaf) = tls_connect(&bridge, &roots).await;
        assert_eq!(
            leaf,
            second.cert.der().to_vec(),
            "new handshakes get the new certificate"
        );

        // The first client is still connected: PINGREQ, PINGRESP.
        ws.send(Message::Binary(Bytes::from_static(&[0xc0, 0x00])))
            .await
            .expect("PINGREQ");
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => assert_eq!(&b[..], [0xd0, 0x00]),
            other => panic!("the open connection was dropped: {other:?}"),
        }

        // A broken key is refused and the second certificate stays.
        std::fs::write(&key, first.signing_key.serialize_pem()).expect("written");
        let error = bridge
            .handle()
            .reload_tls()
            .expect_err("the key does not match");
        assert!(error.to_string().contains("does not match"), "{error}");
        let (_stream, leaf) = tls_connect(&bridge, &roots).await;
        assert_eq!(leaf, second.cert.der().to_vec());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_a_rotated_jwt_key() {
    bounded(async {
        let broker = broker();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let verifier = verifier(&dir, SECRET, JwtAlgorithm::Hs256, None, None);
        let bridge = start(
            &broker,
            Config {
                jwt: Some(verifier),
                ..Config::default()
            },
        )
        .await;
        let mut c = claims("erin");
        c.as_object_mut().expect("an object").remove("aud");
        connect(&bridge.ws_url(), with_token(V5, "erin-1", hs256(c.clone()))).await;
        let rotated: &[u8] = b"the rotated secret, again at least 32 bytes long";
        std::fs::write(dir.path().join("jwt.key"), rotated).expect("written");
        bridge.handle().reload().expect("reloaded");
        refused(&bridge.ws_url(), with_token(V5, "erin-2", hs256(c.clone()))).await;
        let new_token = token(
            c,
            Algorithm::HS256,
            &EncodingKey::from_secret(rotated).expect("a key"),
        );
        connect(&bridge.ws_url(), with_token(V5, "erin-3", new_token)).await;
        // A key file that went missing keeps the rotated key.
        std::fs::remove_file(dir.path().join("jwt.key")).expect("removed");
        assert!(bridge.handle().reload().is_err());
    })
    .await;
}

// ---- rates ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_connections_over_the_per_client_connect_rate() {
    bounded(async {
        let broker = broker();
        let config = Config {
            max_connect_rate: 2,
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        let mut sockets = Vec::new();
        for _ in 0..4 {
            sockets.push(TcpStream::connect(bridge.addr()).await.expect("connects"));
        }
        let mut closed = 0;
        for socket in &mut sockets {
            closed += usize::from(closed_by_bridge(socket).await);
        }
        assert_eq!(
            closed, 2,
            "two of four in the same instant are over a rate of 2/s"
        );
        let (status, _) = upgrade_from("127.0.0.2", &bridge, "", "").await;
        assert_eq!(status, 101, "another client is not affected");
        let metrics = bridge.handle().metrics();
        assert!(
            metrics.contains("mqttwire_bridge_refused_total{reason=\"ConnectRate\"} 2"),
            "{metrics}"
        );
    })
    .await;
}

/// Publishes `count` QoS 0 messages of `size` bytes through `bridge` as fast as the client
/// can; how long until an observer at the broker has them all (all must arrive).
async fn delivery_time(broker: &Mosquitto, bridge: &Bridge, count: usize, size: usize) -> Duration {
    let (observer, mut seen, _) = connect(&broker.tcp_url(), options(V5, "rate-observer")).await;
    subscribe(&observer, &mut seen, "rate/#", QoS::AtMostOnce).await;
    let (client, mut events, _) = connect(&bridge.ws_url(), options(V5, "rate-client")).await;
    let began = Instant::now();
    for i in 0..count {
        client
            .start_publish(message(
                &format!("rate/{i}"),
                vec![0u8; size],
                QoS::AtMostOnce,
            ))
            .await
            .expect("accepted");
    }
    let mut got = 0;
    while got < count {
        match tokio::time::timeout(Duration::from_secs(15), seen.next()).await {
            Ok(Some(Event::Message(_))) => got += 1,
            Ok(Some(_)) => {}
            other => panic!("{got} of {count} arrived: {other:?}"),
        }
    }
    let took = began.elapsed();
    drop(events.try_next());
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slows_a_client_over_its_message_rate_without_dropping_anything() {
    bounded(async {
        let broker = broker();
        let bridge = start(
            &broker,
            Config {
                max_message_rate: 50,
                ..Config::default()
            },
        )
        .await;
        // CONNECT, SUBSCRIBE-free: 200 PUBLISH at 50/s with a burst of 50 take 3 s.
        let took = delivery_time(&broker, &bridge, 200, 16).await;
        assert!(
            took >= Duration::from_millis(2500),
            "200 messages at 50/s took {took:?}"
        );
        assert!(took < Duration::from_secs(8), "{took:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slows_a_client_over_its_byte_rate_without_dropping_anything() {
    bounded(async {
        let broker = broker();
        let bridge = start(
            &broker,
            Config {
                max_byte_rate: 64 * 1024,
                ..Config::default()
            },
        )
        .await;
        // 256 KiB at 64 KiB/s with a second's burst take about 3 s.
        let took = delivery_time(&broker, &bridge, 16, 16 * 1024).await;
        assert!(
            took >= Duration::from_millis(2500),
            "256 KiB at 64 KiB/s took {took:?}"
        );
    })
    .await;
}

/// A raw WebSocket to `url` with `headers`; sends a 3.1.1 CONNECT without user name or
/// password and returns the CONNACK's return code.
async fn connack_over(bridge: &Bridge, url: &str, headers: &[(&'static str, String)]) -> u8 {
    let mut request = url.into_client_request().expect("a request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("a header value"));
    }
    let stream = TcpStream::connect(bridge.addr()).await.expect("connects");
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("upgraded");
    let connect_packet = connect_v311(b't');
    ws.send(Message::Binary(Bytes::copy_from_slice(&connect_packet)))
        .await
        .expect("CONNECT");
    match tokio::time::timeout(WAIT, ws.next()).await {
        Ok(Some(Ok(Message::Binary(ack)))) if ack.len() == 4 && ack[0] == 0x20 => ack[3],
        other => panic!("no CONNACK: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takes_the_token_from_the_query_or_a_cookie_when_connect_has_no_password() {
    bounded(async {
        let broker = broker();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = Config {
            jwt: Some(verifier(&dir, SECRET, JwtAlgorithm::Hs256, None, None)),
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        let mut c = claims("frank");
        c.as_object_mut().expect("an object").remove("aud");
        let good = String::from_utf8(hs256(c.clone()).to_vec()).expect("a token is text");
        let mut expired = c;
        expired["exp"] = json!(now() - 5);
        let expired = String::from_utf8(hs256(expired).to_vec()).expect("text");
        let url = bridge.ws_url();
        assert_eq!(
            connack_over(&bridge, &format!("{url}?token={good}"), &[]).await,
            0
        );
        assert_eq!(
            connack_over(&bridge, &format!("{url}?token={expired}"), &[]).await,
            5
        );
        let cookie = ("Cookie", format!("theme=dark; mqttwire_token={good}"));
        assert_eq!(connack_over(&bridge, &url, &[cookie]).await, 0);
        let other = ("Cookie", format!("session={good}"));
        assert_eq!(
            connack_over(&bridge, &url, &[other]).await,
            5,
            "only the token cookie"
        );
    })
    .await;
}

// ---- JWK Sets ----

/// Unpadded base64url, for JWK members.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picks_the_key_of_a_jwk_set_by_kid() {
    bounded(async {
        let broker = broker();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let pair = rcgen::KeyPair::generate().expect("a P-256 key pair");
        let point = pair.public_key_raw(); // 0x04 || X || Y
        let set = json!({ "keys": [
            { "kty": "oct", "kid": "hmac-1", "alg": "HS256", "k": base64url(SECRET) },
            { "kty": "EC", "kid": "ec-1", "alg": "ES256", "crv": "P-256", "use": "sig",
              "x": base64url(&point[1..33]), "y": base64url(&point[33..65]) },
        ]});
        let key_file = dir.path().join("jwks.json");
        std::fs::write(&key_file, set.to_string()).expect("written");
        let settings = JwtSettings {
            key_file,
            jwks: true,
            algorithm: JwtAlgorithm::Hs256,
            issuer: None,
            audience: None,
            username_claim: "sub".into(),
            client_id_claim: None,
        };
        let config = Config {
            jwt: Some(Arc::new(JwtVerifier::load(settings).expect("a valid set"))),
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        let url = bridge.ws_url();
        let c = json!({ "sub": "grace", "exp": now() + 600 });
        let signed = |kid: Option<&str>, algorithm, key: &EncodingKey| {
            let mut header = Header::new(algorithm);
            header.kid = kid.map(str::to_owned);
            Bytes::from(jsonwebtoken::encode(&header, &c, key).expect("signed"))
        };
        let ec = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("PKCS#8 key");
        let hmac = EncodingKey::from_secret(SECRET).expect("a key");
        connect(
            &url,
            with_token(V5, "grace-1", signed(Some("ec-1"), Algorithm::ES256, &ec)),
        )
        .await;
        connect(
            &url,
            with_token(
                V5,
                "grace-2",
                signed(Some("hmac-1"), Algorithm::HS256, &hmac),
            ),
        )
        .await;
        refused(
            &url,
            with_token(V5, "grace-3", signed(Some("other"), Algorithm::ES256, &ec)),
        )
        .await;
        refused(
            &url,
            with_token(V5, "grace-4", signed(None, Algorithm::ES256, &ec)),
        )
        .await;
        // The HMAC key's kid with an ES256 signature: the key's alg decides.
        refused(
            &url,
            with_token(V5, "grace-5", signed(Some("hmac-1"), Algorithm::ES256, &ec)),
        )
        .await;
    })
    .await;
}

// ---- one budget for what all clients make the bridge hold ----

/// A raw 3.1.1 session through the bridge: CONNECT as `id`, CONNACK read.
async fn raw_session(bridge: &Bridge, id: u8) -> WebSocketStream<TcpStream> {
    let mut ws = raw_ws(bridge).await;
    let connect_packet = connect_v311(id);
    ws.send(Message::Binary(Bytes::copy_from_slice(&connect_packet)))
        .await
        .expect("CONNECT");
    assert!(
        matches!(ws.next().await, Some(Ok(Message::Binary(_)))),
        "CONNACK"
    );
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_the_client_that_would_take_the_bridge_past_its_buffer_budget() {
    bounded(async {
        let broker = broker();
        let config = Config {
            max_buffered_bytes: 900 * 1024,
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        let (observer, mut seen, _) =
            connect(&broker.tcp_url(), options(V311, "budget-observer")).await;
        subscribe(&observer, &mut seen, "big", QoS::AtMostOnce).await;
        // A QoS 0 PUBLISH to "big" of 512 KiB: remaining length 2 + 3 + payload.
        let payload = vec![7u8; 512 * 1024];
        let remaining = 5 + payload.len(); // 524,293 = 0x85 0x80 0x20
        assert_eq!(remaining, 5 + (0x20 << 14));
        let mut packet = vec![0x30, 0x85, 0x80, 0x20, 0x00, 0x03, b'b', b'i', b'g'];
        packet.extend_from_slice(&payload);
        let (head, rest) = packet.split_at(300 * 1024);
        // Two clients each send the first 300 KiB and stall. The bridge holds each in a
        // buffer sized for the packet (528 KiB, under twice what arrived): two are over
        // 900 KiB. The first alone, with the 212 KiB frame that completes it, fits.
        let mut a = raw_session(&bridge, b'a').await;
        a.send(Message::Binary(Bytes::copy_from_slice(head)))
            .await
            .expect("sent");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut b = raw_session(&bridge, b'b').await;
        b.send(Message::Binary(Bytes::copy_from_slice(head)))
            .await
            .expect("sent");
        let close = loop {
            match tokio::time::timeout(WAIT, b.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| f.code),
                Ok(Some(Ok(_))) => {}
                other => panic!("the second client was not closed: {other:?}"),
            }
        };
        assert_eq!(close, Some(CloseCode::Again));
        assert!(
            bridge
                .handle()
                .metrics()
                .contains("mqttwire_bridge_refused_total{reason=\"Budget\"} 1")
        );
        // The first one is not affected: the rest of its packet completes it.
        a.send(Message::Binary(Bytes::copy_from_slice(rest)))
            .await
            .expect("sent");
        let got = seen
            .message_on(WAIT, "big")
            .await
            .expect("the 512 KiB message");
        assert_eq!(got.payload.len(), payload.len());
        let metrics = bridge.handle().metrics();
        assert!(
            metrics.contains("mqttwire_bridge_buffered_bytes 0"),
            "{metrics}"
        );
    })
    .await;
}

// ---- found by the relay fuzz target ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_a_connection_whose_broker_sends_what_only_clients_send() {
    bounded(async {
        // A "broker" that accepts the CONNECT and then sends a SUBSCRIBE.
        let fake = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bound");
        let port = fake.local_addr().expect("an address").port();
        tokio::spawn(async move {
            let (mut socket, _) = fake.accept().await.expect("the bridge connects");
            let mut connect_bytes = [0u8; 15];
            socket
                .read_exact(&mut connect_bytes)
                .await
                .expect("CONNECT");
            socket
                .write_all(&[0x20, 0x02, 0x00, 0x00])
                .await
                .expect("CONNACK");
            let subscribe = [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'x', 0x00];
            socket.write_all(&subscribe).await.expect("SUBSCRIBE");
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let config = Config {
            brokers: vec![mqttwire_tests::bridge::broker_url(port)],
            ..Config::default()
        };
        let bridge = Bridge::start(config).await.expect("the bridge starts");
        let mut ws = raw_ws(&bridge).await;
        let connect_packet = connect_v311(b'f');
        ws.send(Message::Binary(Bytes::copy_from_slice(&connect_packet)))
            .await
            .expect("CONNECT");
        loop {
            match tokio::time::timeout(WAIT, ws.next()).await {
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    assert!(
                        !bytes.contains(&0x82),
                        "the SUBSCRIBE from the broker was relayed"
                    );
                }
                Ok(Some(Ok(Message::Close(Some(frame))))) => {
                    assert_eq!(frame.code, CloseCode::Error);
                    break;
                }
                other => panic!("no close: {other:?}"),
            }
        }
    })
    .await;
}

/// A client-to-server binary frame of `payload`, masked with the all-zero key (which
/// leaves the payload as it is).
fn masked_frame_header(len: usize) -> Vec<u8> {
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(len as u64).to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]);
    header
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_large_frames_out_of_tungstenite_and_within_the_buffer_budget() {
    bounded(async {
        let broker = broker();
        let config = Config {
            max_buffered_bytes: 3 << 20,
            ..Config::default()
        };
        let bridge = start(&broker, config).await;
        let (observer, mut seen, _) =
            connect(&broker.tcp_url(), options(V311, "frame-observer")).await;
        subscribe(&observer, &mut seen, "big", QoS::AtMostOnce).await;
        // A 2 MiB QoS 0 PUBLISH to "big" (remaining length 2,097,157: 0x85 0x80 0x80 0x01)
        // in one WebSocket frame.
        let mut packet = vec![0x30, 0x85, 0x80, 0x80, 0x01, 0x00, 0x03, b'b', b'i', b'g'];
        packet.extend(std::iter::repeat_n(9u8, 2 << 20));
        let mut frame = masked_frame_header(packet.len());
        frame.extend_from_slice(&packet);
        let (head, rest) = frame.split_at(1600 * 1024);
        let mut clients = Vec::new();
        // Two clients (their own ids: mosquitto closes the older of two with one id).
        for id in [b'x', b'y'] {
            let connect_packet = connect_v311(id);
            let mut connect_frame = vec![0x82, 0x80 | connect_packet.len() as u8, 0, 0, 0, 0];
            connect_frame.extend_from_slice(&connect_packet);
            let (status, mut stream) = upgrade_from("127.0.0.1", &bridge, "", "").await;
            assert_eq!(status, 101);
            stream.write_all(&connect_frame).await.expect("CONNECT");
            let mut connack = [0u8; 6];
            stream.read_exact(&mut connack).await.expect("CONNACK");
            assert_eq!(connack, [0x82, 0x04, 0x20, 0x02, 0x00, 0x00]);
            // Each sends 1.6 MiB of its 2 MiB frame and stalls: 3.2 MiB > 3 MiB.
            stream.write_all(head).await.expect("sent");
            clients.push(stream);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The second is closed with 1013 "try again later".
        let mut answer = [0u8; 4];
        tokio::time::timeout(WAIT, clients[1].read_exact(&mut answer))
            .await
            .expect("closed in time")
            .expect("a close frame");
        assert_eq!(answer[0], 0x88, "a close frame");
        assert_eq!(u16::from_be_bytes([answer[2], answer[3]]), 1013);
        // The first completes its frame and the message goes through whole.
        clients[0].write_all(rest).await.expect("sent");
        let got = seen
            .message_on(WAIT, "big")
            .await
            .expect("the 2 MiB message");
        assert_eq!(got.payload.len(), 2 << 20);
    })
    .await;
}
