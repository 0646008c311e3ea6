//! The browser client in headless Chromium against real brokers: mosquitto's own
//! WebSocket listener and mosquitto behind mqttwire-bridge. `tests/run-all.sh` starts them
//! (`tests/src/bin/test-servers.rs`) and passes their URLs at compile time.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use client_wasm::Core;
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MOSQUITTO_WS: Option<&str> = option_env!("MQTTWIRE_MOSQUITTO_WS");
const BRIDGE_WS: Option<&str> = option_env!("MQTTWIRE_BRIDGE_WS");
const AEDES_WS: Option<&str> = option_env!("MQTTWIRE_AEDES_WS");

fn urls() -> [&'static str; 2] {
    [
        MOSQUITTO_WS.expect("MQTTWIRE_MOSQUITTO_WS: run through tests/run-all.sh"),
        BRIDGE_WS.expect("MQTTWIRE_BRIDGE_WS: run through tests/run-all.sh"),
    ]
}

/// Events a client emitted, in order.
#[derive(Clone, Default)]
struct Events(Rc<RefCell<Vec<(String, Array)>>>);

impl Events {
    /// A JS function `emit(type, ...args)` recording into `self`, and the closure owning it.
    fn emitter(&self) -> (Function, Closure<dyn FnMut(JsValue, JsValue)>) {
        let events = self.0.clone();
        let closure =
            Closure::<dyn FnMut(JsValue, JsValue)>::new(move |kind: JsValue, first: JsValue| {
                let args = Array::new();
                args.push(&first);
                events
                    .borrow_mut()
                    .push((kind.as_string().unwrap_or_default(), args));
            });
        (
            closure.as_ref().unchecked_ref::<Function>().clone(),
            closure,
        )
    }

    /// Messages received so far as (topic, payload).
    fn messages(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (kind, args) in self.0.borrow().iter() {
            if kind == "messages" {
                let batch: Array = args.get(0).unchecked_into();
                for i in (0..batch.length()).step_by(4) {
                    let topic = batch.get(i).as_string().unwrap_or_default();
                    let payload: Uint8Array = batch.get(i + 1).unchecked_into();
                    out.push((topic, payload.to_vec()));
                }
            }
        }
        out
    }

    fn count(&self, kind: &str) -> usize {
        self.0.borrow().iter().filter(|(k, _)| k == kind).count()
    }
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).expect("set");
    }
    o.into()
}

async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout: Function = Reflect::get(&global, &"setTimeout".into())
            .expect("setTimeout")
            .unchecked_into();
        set_timeout
            .call2(&JsValue::NULL, &resolve, &ms.into())
            .expect("setTimeout");
    });
    JsFuture::from(promise).await.expect("sleep");
}

/// Waits until `events` holds `n` messages, at most 10 s.
async fn wait_messages(events: &Events, n: usize) -> Vec<(String, Vec<u8>)> {
    for _ in 0..500 {
        let got = events.messages();
        if got.len() >= n {
            return got;
        }
        sleep(20).await;
    }
    let kinds: Vec<String> = events
        .0
        .borrow()
        .iter()
        .map(|(k, a)| format!("{k} {:?}", a.get(0).as_string()))
        .collect();
    panic!(
        "expected {n} messages, got {:?}; events: {kinds:?}",
        events.messages()
    );
}

/// Publishes and sends at once, as index.js does at the end of a task.
fn published(core: &Core, topic: JsValue, payload: JsValue, options: JsValue) -> JsFuture {
    let promise = core.publish(topic, payload, options);
    core.flush();
    JsFuture::from(promise)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", (js_sys::Math::random() * 1e9) as u64)
}

async fn connected(
    url: &str,
    version: u8,
    extra: &[(&str, JsValue)],
) -> (Core, Events, Closure<dyn FnMut(JsValue, JsValue)>) {
    let events = Events::default();
    let (emit, closure) = events.emitter();
    let mut pairs = vec![
        ("protocolVersion", JsValue::from(version)),
        ("clientId", unique("browser").into()),
    ];
    pairs.extend(extra.iter().cloned());
    let core = Core::new(url.to_owned(), obj(&pairs), emit).expect("valid options");
    JsFuture::from(core.ready()).await.expect("connects");
    (core, events, closure)
}

#[wasm_bindgen_test]
async fn round_trips_every_qos_in_both_versions_through_both_paths() {
    for url in urls() {
        for version in [4u8, 5] {
            let (core, events, _keep) = connected(url, version, &[]).await;
            assert!(core.connected());
            let topic = unique("browser/rt");
            let granted = JsFuture::from(
                core.subscribe(format!("{topic}/#").into(), obj(&[("qos", 2.into())])),
            )
            .await
            .expect("subscribed");
            let grant: Array = granted.unchecked_into();
            assert_eq!(
                Reflect::get(&grant.get(0), &"qos".into())
                    .expect("qos")
                    .as_f64(),
                Some(2.0)
            );
            for qos in 0..=2u8 {
                published(
                    &core,
                    format!("{topic}/{qos}").into(),
                    format!("hello {qos}").into(),
                    obj(&[("qos", qos.into())]),
                )
                .await
                .expect("published");
            }
            let got = wait_messages(&events, 3).await;
            let mut payloads: Vec<_> = got
                .iter()
                .map(|(_, p)| String::from_utf8_lossy(p).into_owned())
                .collect();
            payloads.sort();
            assert_eq!(
                payloads,
                ["hello 0", "hello 1", "hello 2"],
                "{url} v{version}"
            );
            core.end(None);
            assert_eq!(events.count("end"), 1);
        }
    }
}

#[wasm_bindgen_test]
async fn receives_a_retained_message_through_mosquittos_listener() {
    let [mosquitto, _] = urls();
    receives_a_retained_message(mosquitto, "browser/retained-small", "kept".into(), b"kept").await;
}

/// Through the bridge: mosquitto 2.0.11's own WebSocket listener does not deliver 1 MiB
/// messages (MQTT.js in node sees the same), while its TCP listener does.
#[wasm_bindgen_test]
async fn receives_retained_messages_and_a_1_mib_payload() {
    let [_, bridge] = urls();
    let big = Uint8Array::new_with_length(1 << 20);
    big.fill(7, 0, 1 << 20);
    receives_a_retained_message(bridge, "browser/retained", big.into(), &[7; 1 << 20]).await;
}

/// A 5.0 client on `url` publishes `payload` retained at QoS 1 on a fresh topic under
/// `prefix`; a 3.1.1 client subscribing afterwards must receive it as `expected`. The
/// retained message is cleared again.
async fn receives_a_retained_message(url: &str, prefix: &str, payload: JsValue, expected: &[u8]) {
    let (publisher, _, _keep1) = connected(url, 5, &[]).await;
    let topic = unique(prefix);
    published(
        &publisher,
        topic.clone().into(),
        payload,
        obj(&[("qos", 1.into()), ("retain", true.into())]),
    )
    .await
    .expect("published");
    let (subscriber, events, _keep2) = connected(url, 4, &[]).await;
    JsFuture::from(subscriber.subscribe(topic.clone().into(), JsValue::UNDEFINED))
        .await
        .expect("subscribed");
    let got = wait_messages(&events, 1).await.swap_remove(0).1;
    assert_eq!(got.len(), expected.len(), "the retained payload's length");
    let differs = got.iter().zip(expected).position(|(g, e)| g != e);
    assert_eq!(
        differs, None,
        "the first byte of the retained payload that differs"
    );
    // Clear the retained message.
    published(
        &publisher,
        topic.into(),
        JsValue::from_str(""),
        obj(&[("retain", true.into())]),
    )
    .await
    .expect("cleared");
    publisher.end(None);
    subscriber.end(None);
}

#[wasm_bindgen_test]
async fn calls_the_password_function_before_connecting() {
    let calls = Rc::new(RefCell::new(0));
    let c = calls.clone();
    let f = Closure::<dyn FnMut() -> JsValue>::new(move || {
        *c.borrow_mut() += 1;
        Promise::resolve(&JsValue::from_str("token-1")).into()
    });
    let (core, _, _keep) = connected(
        urls()[1],
        5,
        &[("username", "u".into()), ("password", f.as_ref().clone())],
    )
    .await;
    assert_eq!(*calls.borrow(), 1);
    core.end(None);
}

/// aedes writes every packet as several WebSocket messages (a CONNACK as four one-byte
/// messages): the client must put packets back together across messages. MQTT 3.1.1 only.
#[wasm_bindgen_test]
async fn reassembles_packets_split_across_messages_by_aedes() {
    let url = AEDES_WS.expect("MQTTWIRE_AEDES_WS: run through tests/run-all.sh");
    let (publisher, _, _keep1) = connected(url, 4, &[]).await;
    let topic = unique("browser/aedes");
    published(
        &publisher,
        format!("{topic}/kept").into(),
        "retained".into(),
        obj(&[("qos", 1.into()), ("retain", true.into())]),
    )
    .await
    .expect("published retained");
    let (subscriber, events, _keep2) = connected(url, 4, &[]).await;
    JsFuture::from(subscriber.subscribe(format!("{topic}/#").into(), obj(&[("qos", 2.into())])))
        .await
        .expect("subscribed");
    assert_eq!(wait_messages(&events, 1).await[0].1, b"retained");
    for qos in 0..=2u8 {
        published(
            &publisher,
            format!("{topic}/{qos}").into(),
            format!("split {qos}").into(),
            obj(&[("qos", qos.into())]),
        )
        .await
        .expect("published");
    }
    let got = wait_messages(&events, 4).await;
    let mut payloads: Vec<_> = got[1..]
        .iter()
        .map(|(_, p)| String::from_utf8_lossy(p).into_owned())
        .collect();
    payloads.sort();
    assert_eq!(payloads, ["split 0", "split 1", "split 2"]);
    publisher.end(None);
    subscriber.end(None);
}

#[wasm_bindgen_test]
fn rejects_bad_options_with_a_code_naming_them() {
    let events = Events::default();
    let (emit, _keep) = events.emitter();
    for (options, needle) in [
        (obj(&[("keepAlive", 30.into())]), "keepAlive"),
        (obj(&[("keepalive", "30".into())]), "keepalive"),
        (obj(&[("protocolVersion", 3.into())]), "protocolVersion"),
        (obj(&[("will", obj(&[("topic", "a/+".into())]))]), "topic"),
        (
            obj(&[("reconnect", obj(&[("minDelay", (-1).into())]))]),
            "reconnect.minDelay",
        ),
    ] {
        let error = match Core::new("ws://127.0.0.1:1/mqtt".into(), options, emit.clone()) {
            Ok(_) => panic!("accepted bad options for {needle}"),
            Err(e) => e,
        };
        let code = Reflect::get(&error, &"code".into())
            .expect("code")
            .as_string();
        assert!(
            code == Some("INVALID_OPTION".into()) || code == Some("INVALID_TOPIC".into()),
            "{code:?}"
        );
        let message = Reflect::get(&error, &"message".into())
            .expect("message")
            .as_string()
            .unwrap_or_default();
        assert!(message.contains(needle), "{message}");
    }
    assert!(Core::new("http://x".into(), JsValue::UNDEFINED, emit).is_err());
}
