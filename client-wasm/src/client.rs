//! The client: the engine driven by a WebSocket, a timer and JavaScript callers. All state
//! sits in one `Inner` behind `Rc<RefCell<_>>`; the socket's and timer's callbacks hold only
//! a `Weak` to it, so dropping the client frees everything. JavaScript is never called
//! while the state is borrowed: a drive pass collects what to call, releases the borrow,
//! then calls.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use bytes::Bytes;
use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array};
use mqttwire::client::{Action, Client, DisconnectedBy, Event, Handle, Router, State};
use mqttwire::topic::TopicFilter;
use mqttwire::{
    Instant, Properties, ProtocolVersion, Publish, ReasonCode, RetainHandling, Subscription,
    SubscriptionOptions,
};
use wasm_bindgen::prelude::*;

use crate::convert::{self, Options};
use crate::error::{
    client_error, concat, error, invalid, protocol_error, publish_error, reason_text, topic_error,
};
use crate::platform::{Socket, SocketEvent, Timer, now};

/// The engine bound to a WebSocket. The `mqttwire` JavaScript module wraps it in an
/// MQTT.js-style client; use that rather than this class.
#[wasm_bindgen(js_name = MqttCore)]
pub struct Core {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    url: String,
    engine: Client,
    socket: Option<Socket>,
    timer: Option<Timer>,
    /// When `timer` is due, on the engine's clock.
    timer_at: Instant,
    emit: Function,
    password_fn: Option<Function>,
    pending: PendingTable,
    ready: Vec<(Function, Function)>,
    connected_once: bool,
    router: Router<Function>,
    /// The message being decoded, for handing payloads over as views of it.
    current: Option<(ArrayBuffer, Bytes)>,
    /// The last topic handed to JavaScript and its string: consecutive messages on one topic
    /// (a chat room, a metric) reuse it instead of decoding UTF-8 again.
    last_topic: Option<(bytestring::ByteString, JsValue)>,
    ended: bool,
    this: Weak<RefCell<Inner>>,
}

/// A promise waiting for the engine.
enum Pending {
    Publish(Function, Function),
    Subscribe(Function, Function, Vec<String>),
    Unsubscribe(Function, Function),
}

/// Promises waiting for the engine, sorted by handle. The engine hands out handles in
/// increasing order, so inserting appends; commands mostly complete in order, so removing
/// mostly takes the front, which is done lazily: a completed entry is emptied, and the
/// empty ones at the front are dropped together once they are half the table, so a burst
/// of thousands of publishes completes in linear time. (A `HashMap` would cost several KB
/// of wasm, a `VecDeque` about 1 KB.)
#[derive(Default)]
struct PendingTable {
    list: Vec<(Handle, Option<Pending>)>,
    /// Entries before it are empty.
    head: usize,
}

impl PendingTable {
    fn find(&self, handle: Handle) -> Result<usize, usize> {
        let head = self.head;
        self.list[head..]
            .binary_search_by_key(&handle, |(h, _)| *h)
            .map(|i| i + head)
            .map_err(|i| i + head)
    }

    fn insert(&mut self, handle: Handle, pending: Pending) {
        match self.find(handle) {
            Ok(i) => self.list[i].1 = Some(pending),
            Err(i) => self.list.insert(i, (handle, Some(pending))),
        }
    }

    fn remove(&mut self, handle: Handle) -> Option<Pending> {
        let i = self.find(handle).ok()?;
        let pending = self.list[i].1.take();
        while self.list.get(self.head).is_some_and(|(_, p)| p.is_none()) {
            self.head += 1;
        }
        if self.head * 2 >= self.list.len() {
            self.list.drain(..self.head);
            self.head = 0;
        }
        pending
    }
}

/// JavaScript to call once the state is no longer borrowed.
enum Call {
    /// `emit(type, ...args)`: the function and its arguments, the type first.
    Emit(Function, Array),
    Resolve(Function, JsValue),
    Reject(Function, JsValue),
    Handler(Function, JsValue, JsValue, JsValue),
    /// Ask the password function, then open the socket.
    Password(Function),
}

#[wasm_bindgen(js_class = MqttCore)]
impl Core {
    /// Starts a client for `url`; `emit(type, ...args)` receives its events.
    #[wasm_bindgen(constructor)]
    pub fn new(url: String, options: JsValue, emit: Function) -> Result<Core, JsValue> {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(invalid("url must start with ws:// or wss://"));
        }
        let Options {
            engine,
            password_fn,
        } = convert::options(&options)?;
        let inner = Rc::new_cyclic(|this| {
            RefCell::new(Inner {
                url,
                engine: Client::new(engine),
                socket: None,
                timer: None,
                timer_at: Instant::ORIGIN,
                emit,
                password_fn,
                pending: PendingTable::default(),
                ready: Vec::new(),
                connected_once: false,
                router: Router::new(),
                current: None,
                last_topic: None,
                ended: false,
                this: this.clone(),
            })
        });
        let _ = inner.borrow_mut().engine.connect(now());
        drive(&inner);
        Ok(Core { inner })
    }

    /// Resolves on the first CONNACK; rejects if the first attempt fails.
    pub fn ready(&self) -> Promise {
        let inner = self.inner.clone();
        Promise::new(&mut |resolve, reject| {
            let mut state = inner.borrow_mut();
            if state.connected_once {
                let _ = resolve.call0(&JsValue::NULL);
            } else {
                state.ready.push((resolve, reject));
            }
        })
    }

    /// Publishes; resolves when the message is written (QoS 0), acknowledged (QoS 1) or
    /// complete (QoS 2).
    pub fn publish(&self, topic: JsValue, payload: JsValue, options: JsValue) -> Promise {
        match self.try_publish(&topic, &payload, &options) {
            Ok(promise) => promise,
            Err(e) => Promise::reject(&e),
        }
    }

    /// Sends what the publishes since the last call queued, in one WebSocket message.
    pub fn flush(&self) {
        drive(&self.inner);
    }

    /// Subscribes; resolves with `[{ topic, qos }]` (qos 128 for a refused filter).
    pub fn subscribe(&self, filters: JsValue, options: JsValue) -> Promise {
        match self.try_subscribe(&filters, &options) {
            Ok(promise) => promise,
            Err(e) => Promise::reject(&e),
        }
    }

    /// Unsubscribes; resolves with the reason codes (5.0) or an empty array (3.1.1).
    pub fn unsubscribe(&self, filters: JsValue, options: JsValue) -> Promise {
        match self.try_unsubscribe(&filters, &options) {
            Ok(promise) => promise,
            Err(e) => Promise::reject(&e),
        }
    }

    /// Disconnects (DISCONNECT if connected), stops reconnecting and releases the socket
    /// and timer. Publishes still queued are rejected.
    pub fn end(&self, reason_code: Option<u8>) {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.ended {
                return;
            }
            let code = ReasonCode(reason_code.unwrap_or(0));
            inner.engine.disconnect(now(), code, Properties::new());
        }
        drive(&self.inner);
        let calls = {
            let mut inner = self.inner.borrow_mut();
            inner.ended = true;
            inner.timer = None;
            inner.socket = None;
            vec![inner.emit_call("end", &[])]
        };
        perform(calls);
    }

    /// Calls `handler(topic, payload, packet)` for messages matching `filter`, in the order
    /// handlers were added.
    #[wasm_bindgen(js_name = addHandler)]
    pub fn add_handler(&self, filter: &str, handler: Function) -> Result<(), JsValue> {
        let filter = TopicFilter::new(filter)
            .map_err(|e| invalid(&concat(&["invalid topic filter: ", topic_error(&e)])))?;
        self.inner.borrow_mut().router.add(&filter, handler);
        Ok(())
    }

    /// Removes `handler` from `filter` (every handler of `filter` when `handler` is absent).
    #[wasm_bindgen(js_name = removeHandler)]
    pub fn remove_handler(&self, filter: &str, handler: Option<Function>) -> Result<(), JsValue> {
        let filter = TopicFilter::new(filter)
            .map_err(|e| invalid(&concat(&["invalid topic filter: ", topic_error(&e)])))?;
        let mut inner = self.inner.borrow_mut();
        match handler {
            Some(h) => drop(inner.router.remove_if(&filter, |f| *f == h)),
            None => drop(inner.router.remove_filter(&filter)),
        }
        Ok(())
    }

    /// Tells the client whether the network is up (the window's online/offline events).
    #[wasm_bindgen(js_name = setOnline)]
    pub fn set_online(&self, online: bool) {
        self.inner
            .borrow_mut()
            .engine
            .set_network_available(now(), online);
        drive(&self.inner);
    }

    /// True while connected.
    #[wasm_bindgen(getter)]
    pub fn connected(&self) -> bool {
        self.inner.borrow().engine.is_connected()
    }

    /// True while waiting for or making a reconnect attempt.
    #[wasm_bindgen(getter)]
    pub fn reconnecting(&self) -> bool {
        let inner = self.inner.borrow();
        inner.connected_once
            && matches!(
                inner.engine.state(),
                State::WaitingReconnect | State::Opening | State::AwaitingConnAck
            )
    }

    /// Commands waiting to be sent.
    #[wasm_bindgen(getter)]
    pub fn queued(&self) -> usize {
        self.inner.borrow().engine.queued()
    }
}

impl Core {
    fn try_publish(
        &self,
        topic: &JsValue,
        payload: &JsValue,
        options: &JsValue,
    ) -> Result<Promise, JsValue> {
        let mut publish = Publish::new(
            convert::topic(topic)?,
            convert::payload(payload, "payload")?,
        );
        for key in convert::keys(options, "publish options")? {
            let value = convert::get(options, &key);
            match key.as_str() {
                "qos" => publish.qos = convert::qos(&value, "qos")?,
                "retain" => publish.retain = convert::boolean(&value, "retain")?,
                "dup" => {}
                "properties" => publish.properties = convert::properties(&value, "properties")?,
                _ => return Err(invalid(&concat(&["unknown publish option '", &key, "'"]))),
            }
        }
        let handle = {
            let mut inner = self.inner.borrow_mut();
            ensure_running(&inner)?;
            inner
                .engine
                .publish(now(), publish)
                .map_err(|e| client_error(&e))?
        };
        // Not driven here: index.js calls `flush` once after the publishes of one task, so
        // that they leave in one WebSocket message.
        Ok(self.promise(handle, Pending::Publish))
    }

    fn try_subscribe(&self, filters: &JsValue, options: &JsValue) -> Result<Promise, JsValue> {
        let mut defaults = SubscriptionOptions::default();
        let mut properties = Properties::new();
        for key in convert::keys(options, "subscribe options")? {
            let value = convert::get(options, &key);
            match key.as_str() {
                "qos" => defaults.qos = convert::qos(&value, "qos")?,
                "nl" => defaults.no_local = convert::boolean(&value, "nl")?,
                "rap" => defaults.retain_as_published = convert::boolean(&value, "rap")?,
                "rh" => {
                    defaults.retain_handling = match value.as_f64() {
                        Some(0.0) => RetainHandling::SendOnSubscribe,
                        Some(1.0) => RetainHandling::SendIfNew,
                        Some(2.0) => RetainHandling::DoNotSend,
                        _ => return Err(invalid("option 'rh' must be 0, 1 or 2")),
                    }
                }
                "properties" => properties = convert::properties(&value, "properties")?,
                _ => return Err(invalid(&concat(&["unknown subscribe option '", &key, "'"]))),
            }
        }
        let mut subscriptions = Vec::new();
        let mut names = Vec::new();
        let mut add = |name: String, options: SubscriptionOptions| -> Result<(), JsValue> {
            let filter = TopicFilter::new(name.clone()).map_err(|e| {
                error(
                    "INVALID_TOPIC",
                    &concat(&["invalid topic filter '", &name, "': ", topic_error(&e)]),
                    Some(0x8F),
                )
            })?;
            subscriptions.push(Subscription { filter, options });
            names.push(name);
            Ok(())
        };
        if let Some(one) = filters.as_string() {
            add(one, defaults)?;
        } else if Array::is_array(filters) {
            for f in Array::from(filters).iter() {
                add(
                    f.as_string()
                        .ok_or_else(|| invalid("topic filters must be strings"))?,
                    defaults,
                )?;
            }
        } else {
            // MQTT.js's { filter: { qos } } form.
            for name in convert::keys(filters, "topic filters")? {
                let per = convert::get(filters, &name);
                let qos = convert::qos(&convert::get(&per, "qos"), "qos")?;
                add(name, SubscriptionOptions { qos, ..defaults })?;
            }
        }
        let handle = {
            let mut inner = self.inner.borrow_mut();
            ensure_running(&inner)?;
            inner
                .engine
                .subscribe(now(), subscriptions, properties)
                .map_err(|e| client_error(&e))?
        };
        let promise = self.promise(handle, move |res, rej| Pending::Subscribe(res, rej, names));
        drive(&self.inner);
        Ok(promise)
    }

    fn try_unsubscribe(&self, filters: &JsValue, options: &JsValue) -> Result<Promise, JsValue> {
        let mut properties = Properties::new();
        for key in convert::keys(options, "unsubscribe options")? {
            match key.as_str() {
                "properties" => {
                    properties = convert::properties(&convert::get(options, &key), "properties")?
                }
                _ => {
                    return Err(invalid(&concat(&[
                        "unknown unsubscribe option '",
                        &key,
                        "'",
                    ])));
                }
            }
        }
        let list: Vec<JsValue> = if Array::is_array(filters) {
            Array::from(filters).to_vec()
        } else {
            vec![filters.clone()]
        };
        let mut parsed = Vec::new();
        for f in list {
            let name = f
                .as_string()
                .ok_or_else(|| invalid("topic filters must be strings"))?;
            parsed.push(TopicFilter::new(name).map_err(|e| {
                error(
                    "INVALID_TOPIC",
                    &concat(&["invalid topic filter: ", topic_error(&e)]),
                    Some(0x8F),
                )
            })?);
        }
        let handle = {
            let mut inner = self.inner.borrow_mut();
            ensure_running(&inner)?;
            inner
                .engine
                .unsubscribe(now(), parsed, properties)
                .map_err(|e| client_error(&e))?
        };
        let promise = self.promise(handle, Pending::Unsubscribe);
        drive(&self.inner);
        Ok(promise)
    }

    fn promise(&self, handle: Handle, make: impl FnOnce(Function, Function) -> Pending) -> Promise {
        let mut make = Some(make);
        let inner = self.inner.clone();
        Promise::new(&mut |resolve, reject| {
            if let Some(make) = make.take() {
                inner
                    .borrow_mut()
                    .pending
                    .insert(handle, make(resolve, reject));
            }
        })
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            inner
                .engine
                .disconnect(now(), ReasonCode::SUCCESS, Properties::new());
            inner.ended = true;
            inner.timer = None;
            inner.socket = None;
        }
    }
}

fn ensure_running(inner: &Inner) -> Result<(), JsValue> {
    if inner.ended {
        return Err(error("CLIENT_ENDED", "the client was ended", None));
    }
    Ok(())
}

/// Runs the engine's outputs until it has nothing more to say, then arms the timer.
fn drive(rc: &Rc<RefCell<Inner>>) {
    loop {
        let calls = rc.borrow_mut().step();
        if calls.is_empty() {
            break;
        }
        for call in calls {
            if let Call::Password(f) = call {
                ask_password(rc, f);
            } else {
                perform(vec![call]);
            }
        }
    }
    rc.borrow_mut().arm_timer();
}

fn perform(calls: Vec<Call>) {
    for call in calls {
        // An exception thrown by application code must not stop the client: it is dropped
        // here, as an event emitter would let it reach the console.
        let _ = match call {
            Call::Emit(f, args) => f.apply(&JsValue::NULL, &args),
            Call::Resolve(f, v) | Call::Reject(f, v) => f.call1(&JsValue::NULL, &v),
            Call::Handler(f, topic, payload, packet) => {
                f.call3(&JsValue::NULL, &topic, &payload, &packet)
            }
            Call::Password(_) => Ok(JsValue::UNDEFINED),
        };
    }
}

/// What a promise calls with its outcome.
type PasswordCallback = Closure<dyn FnMut(JsValue)>;

/// Calls the password function, then opens the socket once its value (or promise) settles.
fn ask_password(rc: &Rc<RefCell<Inner>>, f: Function) {
    let promise = match f.call0(&JsValue::NULL) {
        Ok(value) => Promise::resolve(&value),
        Err(thrown) => Promise::reject(&thrown),
    };
    // The two callbacks own each other through `slot` until the promise settles; then the
    // one called releases both (wasm-bindgen frees a closure when its running call returns).
    let slot: Rc<RefCell<Option<[PasswordCallback; 2]>>> = Rc::default();
    let callback = |fulfilled: bool| {
        let weak = Rc::downgrade(rc);
        let slot = slot.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |value: JsValue| {
            drop(slot.borrow_mut().take());
            if let Some(rc) = weak.upgrade() {
                password_given(&rc, value.as_string().filter(|_| fulfilled));
            }
        })
    };
    let callbacks = [callback(true), callback(false)];
    let _ = promise.then2(&callbacks[0], &callbacks[1]);
    *slot.borrow_mut() = Some(callbacks);
}

/// Opens the socket with the password the password function gave, or counts the attempt
/// as failed when it gave none.
fn password_given(rc: &Rc<RefCell<Inner>>, password: Option<String>) {
    {
        let mut inner = rc.borrow_mut();
        if inner.ended {
            return;
        }
        match password {
            Some(password) => {
                let username = inner.engine.options().username.clone();
                inner
                    .engine
                    .set_credentials(username, Some(Bytes::from(password)));
                inner.open_socket();
            }
            None => {
                let e = error(
                    "PASSWORD_FUNCTION",
                    "the password function did not give a string",
                    None,
                );
                let call = inner.emit_call("error", &[e]);
                inner.engine.handle_connection_lost(now());
                drop(inner);
                perform(vec![call]);
            }
        }
    }
    drive(rc);
}

fn on_socket_event(rc: &Rc<RefCell<Inner>>, event: SocketEvent) {
    {
        let mut inner = rc.borrow_mut();
        let t = now();
        match event {
            SocketEvent::Open(protocol) => {
                if protocol != "mqtt" && protocol != "mqttv3.1" && !protocol.is_empty() {
                    inner.socket = None;
                    inner.engine.handle_connection_lost(t);
                } else {
                    inner.engine.handle_connection_opened(t);
                }
            }
            SocketEvent::Message(buffer) => {
                let bytes = Bytes::from(Uint8Array::new(&buffer).to_vec());
                inner.current = Some((buffer, bytes.clone()));
                inner.engine.handle_bytes_owned(t, bytes);
                // A late timer (a throttled background tab) catches up here.
                inner.engine.handle_timeout(t);
            }
            SocketEvent::Text => {
                inner.socket = None;
                inner.engine.handle_connection_lost(t);
            }
            SocketEvent::Closed => {
                inner.socket = None;
                inner.engine.handle_connection_lost(t);
            }
        }
    }
    drive(rc);
    rc.borrow_mut().current = None;
}

impl Inner {
    fn emit_call(&self, name: &'static str, args: &[JsValue]) -> Call {
        let array = Array::new();
        array.push(&JsValue::from_str(name));
        for a in args {
            array.push(a);
        }
        Call::Emit(self.emit.clone(), array)
    }

    fn open_socket(&mut self) {
        let weak = self.this.clone();
        let handler = move |event: SocketEvent| {
            if let Some(rc) = weak.upgrade() {
                on_socket_event(&rc, event);
            }
        };
        match Socket::open(&self.url, handler) {
            Ok(socket) => self.socket = Some(socket),
            Err(_) => self.engine.handle_connection_lost(now()),
        }
    }

    fn arm_timer(&mut self) {
        if self.ended {
            self.timer = None;
            return;
        }
        let Some(at) = self.engine.poll_timeout() else {
            self.timer = None;
            return;
        };
        // A timer due no later than the engine's next deadline stays: firing early is
        // harmless (nothing is due, and it arms again), and re-arming after every message
        // would cost a closure, a window timer and a worker listener each time.
        if self.timer.is_some() && self.timer_at <= at {
            return;
        }
        self.timer_at = at;
        let weak = self.this.clone();
        let delay = at.as_millis().saturating_sub(now().as_millis());
        self.timer = Some(Timer::new(delay, move || {
            if let Some(rc) = weak.upgrade() {
                rc.borrow_mut().timer = None;
                rc.borrow_mut().engine.handle_timeout(now());
                drive(&rc);
            }
        }));
    }

    /// One pass over the engine's outputs: sends bytes, carries out actions, and turns
    /// events into calls for after the borrow.
    fn step(&mut self) -> Vec<Call> {
        let mut calls = Vec::new();
        // Everything the engine has to send goes out as one message: packets may share a
        // WebSocket message [MQTT-6.0.0-2], and each message costs the browser an event.
        let mut first = None;
        let mut more = Vec::new();
        while let Some(bytes) = self.engine.poll_transmit() {
            match &first {
                None => first = Some(bytes),
                Some(head) => {
                    if more.is_empty() {
                        more.extend_from_slice(head);
                    }
                    more.extend_from_slice(&bytes);
                }
            }
        }
        let out = if more.is_empty() {
            first.as_deref()
        } else {
            Some(&more[..])
        };
        if let (Some(bytes), Some(socket)) = (out, &self.socket)
            && socket.send(bytes).is_err()
        {
            self.socket = None;
            self.engine.handle_connection_lost(now());
        }
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Open { attempt } => {
                    if attempt > 0 || self.connected_once {
                        calls.push(self.emit_call("reconnect", &[]));
                    }
                    match self.password_fn.clone() {
                        Some(f) => calls.push(Call::Password(f)),
                        None => self.open_socket(),
                    }
                }
                Action::Close => {
                    self.socket = None;
                }
                _ => {}
            }
        }
        let batch = Array::new();
        while let Some(event) = self.engine.poll_event() {
            self.event(event, &batch, &mut calls);
        }
        if batch.length() > 0 {
            calls.insert(0, self.emit_call("messages", &[batch.into()]));
        }
        calls
    }

    fn event(&mut self, event: Event, batch: &Array, calls: &mut Vec<Call>) {
        match event {
            Event::Connected {
                session_present,
                properties,
            } => {
                self.connected_once = true;
                for (resolve, _) in self.ready.drain(..) {
                    calls.push(Call::Resolve(resolve, JsValue::UNDEFINED));
                }
                // index.js makes the packet objects of this and the events below.
                let properties = convert::properties_to_js(&properties);
                calls.push(self.emit_call("connect", &[session_present.into(), properties]));
            }
            Event::Message(publish) => {
                let topic = self.topic_js(&publish.topic);
                let payload = self.payload_view(&publish.payload);
                let properties = convert::properties_to_js(&publish.properties);
                if !self.router.is_empty() {
                    let mut matched = Vec::new();
                    self.router
                        .route(&publish.topic, |_, handler| matched.push(handler.clone()));
                    if !matched.is_empty() {
                        let packet = Object::new();
                        let _ = Reflect::set(&packet, &"qos".into(), &(publish.qos as u8).into());
                        let _ = Reflect::set(&packet, &"retain".into(), &publish.retain.into());
                        let _ = Reflect::set(&packet, &"properties".into(), &properties);
                        for handler in matched {
                            calls.push(Call::Handler(
                                handler,
                                topic.clone(),
                                payload.clone(),
                                packet.clone().into(),
                            ));
                        }
                    }
                }
                // Four values per message (each push crosses into JavaScript): topic,
                // payload, flags (QoS in bits 0-1, retain bit 2, dup bit 3), properties.
                let flags =
                    publish.qos as u8 | u8::from(publish.retain) << 2 | u8::from(publish.dup) << 3;
                batch.push(&topic);
                batch.push(&payload);
                batch.push(&flags.into());
                batch.push(&properties);
            }
            Event::PublishComplete {
                handle,
                reason_code,
            } => {
                if let Some(Pending::Publish(resolve, _)) = self.pending.remove(handle) {
                    let result = Object::new();
                    let _ = Reflect::set(&result, &"reasonCode".into(), &reason_code.0.into());
                    calls.push(Call::Resolve(resolve, result.into()));
                }
            }
            Event::PublishFailed { handle, error: e } => {
                if let Some(Pending::Publish(_, reject)) = self.pending.remove(handle) {
                    calls.push(Call::Reject(reject, publish_error(&e)));
                }
            }
            Event::Subscribed {
                handle: Some(handle),
                reason_codes,
            } => {
                if let Some(Pending::Subscribe(resolve, _, names)) = self.pending.remove(handle) {
                    let granted = Array::new();
                    for (name, code) in names.iter().zip(&reason_codes) {
                        let g = Object::new();
                        let _ = Reflect::set(&g, &"topic".into(), &JsValue::from_str(name));
                        let qos = if code.is_error() { 128 } else { code.0 };
                        let _ = Reflect::set(&g, &"qos".into(), &qos.into());
                        granted.push(&g);
                    }
                    calls.push(Call::Resolve(resolve, granted.into()));
                }
            }
            Event::Unsubscribed {
                handle,
                reason_codes,
            } => {
                if let Some(Pending::Unsubscribe(resolve, _)) = self.pending.remove(handle) {
                    let codes: Array = reason_codes.iter().map(|c| JsValue::from(c.0)).collect();
                    calls.push(Call::Resolve(resolve, codes.into()));
                }
            }
            Event::RequestFailed { handle } => {
                if let Some(Pending::Subscribe(_, reject, _) | Pending::Unsubscribe(_, reject)) =
                    self.pending.remove(handle)
                {
                    calls.push(Call::Reject(
                        reject,
                        error("CLIENT_ENDED", "the client was ended", None),
                    ));
                }
            }
            Event::Disconnected {
                by,
                reason_code,
                properties,
            } => {
                if by == DisconnectedBy::Server
                    && self.engine.options().version == ProtocolVersion::V5
                {
                    let properties = convert::properties_to_js(&properties);
                    calls.push(self.emit_call("disconnect", &[reason_code.0.into(), properties]));
                }
                if !self.connected_once && !self.ready.is_empty() {
                    let e = error(
                        "CONNECT_FAILED",
                        &concat(&["could not connect: ", &reason_text(reason_code)]),
                        Some(reason_code.0).filter(|c| *c != 0x80),
                    );
                    for (_, reject) in self.ready.drain(..) {
                        calls.push(Call::Reject(reject, e.clone()));
                    }
                    if by == DisconnectedBy::Server {
                        calls.push(self.emit_call("error", &[e]));
                    }
                }
                calls.push(self.emit_call("close", &[]));
                if by != DisconnectedBy::Client {
                    calls.push(self.emit_call("offline", &[]));
                }
            }
            Event::ProtocolError {
                reason_code,
                violation,
            } => {
                let e = protocol_error(&violation, reason_code);
                calls.push(self.emit_call("error", &[e]));
            }
            Event::Reconnecting { at, attempt } => {
                let delay = at.as_millis().saturating_sub(now().as_millis()) as f64;
                calls.push(self.emit_call("reconnecting", &[delay.into(), attempt.into()]));
            }
            Event::ReconnectGaveUp => {
                let e = error(
                    "RECONNECT_GAVE_UP",
                    "gave up reconnecting after the maximum number of attempts",
                    None,
                );
                calls.push(self.emit_call("error", &[e]));
                calls.push(self.emit_call("end", &[]));
            }
            Event::Auth {
                reason_code,
                properties,
            } => {
                let properties = convert::properties_to_js(&properties);
                calls.push(self.emit_call("auth", &[reason_code.0.into(), properties]));
            }
            _ => {}
        }
    }

    /// The topic as a JavaScript string, reusing the last one when it repeats.
    fn topic_js(&mut self, topic: &mqttwire::TopicName) -> JsValue {
        if let Some((last, value)) = &self.last_topic
            && last.as_bytes() == topic.as_bytes()
        {
            return value.clone();
        }
        let value = JsValue::from_str(topic);
        self.last_topic = Some((topic.clone().into_inner(), value.clone()));
        value
    }

    /// The payload as a `Uint8Array` view of the received message when it lies inside it
    /// (no copy); otherwise a copy (a packet that spanned several messages).
    fn payload_view(&self, payload: &Bytes) -> JsValue {
        if let Some((buffer, base)) = &self.current {
            let start = payload.as_ptr() as usize;
            let base_start = base.as_ptr() as usize;
            if start >= base_start && start + payload.len() <= base_start + base.len() {
                let offset = (start - base_start) as u32;
                return Uint8Array::new_with_byte_offset_and_length(
                    buffer,
                    offset,
                    payload.len() as u32,
                )
                .into();
            }
        }
        Uint8Array::from(&payload[..]).into()
    }
}
