//! The drive loop: the engine stepped by the socket's and the timer's callbacks and by
//! JavaScript's commands, its outputs carried out. All state sits in one [`Inner`] behind
//! `Rc<RefCell<_>>`; the socket's and timer's callbacks hold only a `Weak` to it, so
//! dropping the client frees everything. JavaScript is never called while the state is
//! borrowed: a pass over the engine's outputs ([`Inner::step`]) collects what to call,
//! releases the borrow, then calls.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use bytes::Bytes;
use js_sys::{Array, Function, Promise};
use mqttwire::client::{Action, Client, ClientOptions, DisconnectedBy, Event, Router, State};
use mqttwire::{Instant, ProtocolVersion, ReasonCode};
use wasm_bindgen::prelude::*;

use crate::contract::{ErrorCode, EventName};
use crate::convert;
use crate::error::{concat, error, protocol_error, publish_error, reason_text};
use crate::pending::{Pending, PendingTable};
use crate::platform::{Socket, SocketEvent, Timer, millis_until, now};

/// The client's state: the engine and what drives it.
pub(crate) struct Inner {
    url: String,
    /// The protocol engine.
    pub(crate) engine: Client,
    socket: Option<Socket>,
    /// The armed timer and when it is due, on the engine's clock.
    timer: Option<(Timer, Instant)>,
    emit: Function,
    password_fn: Option<Function>,
    /// Promises of commands the engine has not completed.
    pub(crate) pending: PendingTable<Pending>,
    /// `ready()` promises waiting for the first CONNACK.
    pub(crate) ready: Vec<(Function, Function)>,
    /// A CONNACK has been accepted once.
    pub(crate) connected_once: bool,
    /// Message handlers by topic filter.
    pub(crate) router: Router<Function>,
    received: convert::Received,
    /// `end` was called or the client dropped: nothing is driven any more.
    pub(crate) ended: bool,
    /// The application's store (`options.store`), until a write fails.
    #[cfg(feature = "store")]
    pub(crate) store: Option<crate::store::WriteThrough>,
    this: Weak<RefCell<Inner>>,
}

/// JavaScript to call once the state is no longer borrowed.
pub(crate) enum Call {
    /// `emit(type, ...args)`: the function and its arguments, the type first.
    Emit(Function, Array),
    /// Settles a promise.
    Resolve(Function, JsValue),
    /// Settles a promise.
    Reject(Function, JsValue),
    /// A message handler with its three arguments.
    Handler(Function, JsValue, JsValue, JsValue),
    /// Ask the password function, then open the socket.
    Password(Function),
    /// Give the store's write function a snapshot.
    #[cfg(feature = "store")]
    Persist(Function, js_sys::Uint8Array),
}

impl Call {
    /// Makes the call. An exception thrown by application code must not stop the client:
    /// it is dropped here, as an event emitter would let it reach the console.
    pub(crate) fn perform(self) {
        let _ = match self {
            Call::Emit(f, args) => f.apply(&JsValue::NULL, &args),
            Call::Resolve(f, v) | Call::Reject(f, v) => f.call1(&JsValue::NULL, &v),
            Call::Handler(f, topic, payload, packet) => {
                f.call3(&JsValue::NULL, &topic, &payload, &packet)
            }
            _ => Ok(JsValue::UNDEFINED),
        };
    }
}

impl Inner {
    /// A client for `url` that is not started yet; `emit(type, ...args)` gets its events.
    pub(crate) fn new(
        url: String,
        options: ClientOptions,
        emit: Function,
        password_fn: Option<Function>,
    ) -> Rc<RefCell<Inner>> {
        Rc::new_cyclic(|this| {
            RefCell::new(Inner {
                url,
                engine: Client::new(options),
                socket: None,
                timer: None,
                emit,
                password_fn,
                pending: PendingTable::default(),
                ready: Vec::new(),
                connected_once: false,
                router: Router::new(),
                received: convert::Received::default(),
                ended: false,
                #[cfg(feature = "store")]
                store: None,
                this: this.clone(),
            })
        })
    }

    /// Refuses commands once the client is ended.
    pub(crate) fn ensure_running(&self) -> Result<(), JsValue> {
        if self.ended {
            return Err(error(ErrorCode::ClientEnded, "the client was ended", None));
        }
        Ok(())
    }

    /// Marks the client ended and releases the socket and the timer.
    pub(crate) fn release(&mut self) {
        self.ended = true;
        self.timer = None;
        self.socket = None;
    }

    /// True while waiting for or making a reconnect attempt.
    pub(crate) fn reconnecting(&self) -> bool {
        is_reconnecting(self.connected_once, self.engine.state())
    }

    /// The call of `emit(name, ...args)`.
    pub(crate) fn emit_call(&self, name: EventName, args: &[JsValue]) -> Call {
        let array = Array::new();
        array.push(&JsValue::from_str(name.as_str()));
        for a in args {
            array.push(a);
        }
        Call::Emit(self.emit.clone(), array)
    }
}

/// Runs the engine's outputs until it has nothing more to say, then arms the timer.
pub(crate) fn drive(rc: &Rc<RefCell<Inner>>) {
    loop {
        let calls = rc.borrow_mut().step();
        if calls.is_empty() {
            break;
        }
        for call in calls {
            match call {
                Call::Password(f) => {
                    let promise = call_to_promise(f.call0(&JsValue::NULL));
                    on_settled(rc, &promise, |rc, ok, value| {
                        password_given(rc, value.as_string().filter(|_| ok));
                    });
                }
                #[cfg(feature = "store")]
                Call::Persist(f, bytes) => {
                    let promise = call_to_promise(f.call1(&JsValue::NULL, &bytes));
                    on_settled(rc, &promise, crate::store::written);
                }
                call => call.perform(),
            }
        }
    }
    rc.borrow_mut().arm_timer();
}

/// What a promise calls with its outcome.
type SettleCallback = Closure<dyn FnMut(JsValue)>;

/// A function's result as a promise: its value (or promise), or what it threw.
fn call_to_promise(result: Result<JsValue, JsValue>) -> Promise {
    match result {
        Ok(value) => Promise::resolve(&value),
        Err(thrown) => Promise::reject(&thrown),
    }
}

/// Calls `done(rc, fulfilled, value)` once `promise` settles, if the client still exists.
pub(crate) fn on_settled(
    rc: &Rc<RefCell<Inner>>,
    promise: &Promise,
    done: impl Fn(&Rc<RefCell<Inner>>, bool, JsValue) + Copy + 'static,
) {
    // The two callbacks own each other through `slot` until the promise settles; then the
    // one called releases both (wasm-bindgen frees a closure when its running call returns).
    let slot: Rc<RefCell<Option<[SettleCallback; 2]>>> = Rc::default();
    let callback = |fulfilled: bool| {
        let weak = Rc::downgrade(rc);
        let slot = slot.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |value: JsValue| {
            drop(slot.borrow_mut().take());
            if let Some(rc) = weak.upgrade() {
                done(&rc, fulfilled, value);
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
                    ErrorCode::PasswordFunction,
                    "the password function did not give a string",
                    None,
                );
                let call = inner.emit_call(EventName::Error, &[e]);
                inner.engine.handle_connection_lost(now());
                drop(inner);
                call.perform();
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
                if accepts_subprotocol(&protocol) {
                    inner.engine.handle_connection_opened(t);
                } else {
                    inner.socket = None;
                    inner.engine.handle_connection_lost(t);
                }
            }
            SocketEvent::Message(buffer) => {
                let bytes = inner.received.message(buffer);
                inner.engine.handle_bytes_owned(t, bytes);
                // A late timer (a throttled background tab) catches up here.
                inner.engine.handle_timeout(t);
            }
            SocketEvent::Text | SocketEvent::Closed => {
                inner.socket = None;
                inner.engine.handle_connection_lost(t);
            }
        }
    }
    drive(rc);
    rc.borrow_mut().received.done();
}

impl Inner {
    /// Sends bytes on the socket; a failed send ends the connection.
    pub(crate) fn transmit(&mut self, bytes: &[u8]) {
        if !bytes.is_empty()
            && let Some(socket) = &self.socket
            && socket.send(bytes).is_err()
        {
            self.socket = None;
            self.engine.handle_connection_lost(now());
        }
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
        let due = if self.ended {
            None
        } else {
            self.engine.poll_timeout()
        };
        let Some(due) = due else {
            self.timer = None;
            return;
        };
        if keeps_timer(self.timer.as_ref().map(|(_, at)| *at), due) {
            return;
        }
        let weak = self.this.clone();
        let timer = Timer::new(millis_until(due), move || {
            if let Some(rc) = weak.upgrade() {
                rc.borrow_mut().timer = None;
                rc.borrow_mut().engine.handle_timeout(now());
                drive(&rc);
            }
        });
        self.timer = Some((timer, due));
    }

    /// One pass over the engine's outputs: sends bytes, carries out actions, and turns
    /// events into calls for after the borrow.
    fn step(&mut self) -> Vec<Call> {
        let mut calls = Vec::new();
        // The engine hands over all it has to send as one chunk (it splits off its whole
        // buffer), which goes out as one message: packets may share a WebSocket message
        // [MQTT-6.0.0-2], and each message costs the browser an event.
        while let Some(bytes) = self.engine.poll_transmit() {
            #[cfg(feature = "store")]
            if let Some(store) = &mut self.store {
                store.hold(&bytes);
                continue;
            }
            self.transmit(&bytes);
        }
        #[cfg(feature = "store")]
        self.write_through(&mut calls);
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Open { attempt } => {
                    // Bytes held for the connection that ended are not for the next one.
                    #[cfg(feature = "store")]
                    if let Some(store) = &mut self.store {
                        store.forget_held();
                    }
                    if announces_reconnect(attempt, self.connected_once) {
                        calls.push(self.emit_call(EventName::Reconnect, &[]));
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
            calls.insert(0, self.emit_call(EventName::Messages, &[batch.into()]));
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
                let args = [session_present.into(), properties];
                calls.push(self.emit_call(EventName::Connect, &args));
            }
            Event::Message(publish) => {
                let topic = self.received.topic(&publish.topic);
                let payload = self.received.payload(&publish.payload);
                let properties = convert::properties_to_js(&publish.properties);
                if !self.router.is_empty() {
                    let mut matched = Vec::new();
                    self.router
                        .route(&publish.topic, |_, handler| matched.push(handler.clone()));
                    if !matched.is_empty() {
                        let packet = convert::handler_packet(&publish, &properties);
                        for handler in matched {
                            calls.push(Call::Handler(
                                handler,
                                topic.clone(),
                                payload.clone(),
                                packet.clone(),
                            ));
                        }
                    }
                }
                // Four values per message (each push crosses into JavaScript).
                let flags = convert::message_flags(publish.qos, publish.retain, publish.dup);
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
                    calls.push(Call::Resolve(resolve, convert::publish_result(reason_code)));
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
                    calls.push(Call::Resolve(
                        resolve,
                        convert::grants(&names, &reason_codes),
                    ));
                }
            }
            Event::Unsubscribed {
                handle,
                reason_codes,
            } => {
                if let Some(Pending::Unsubscribe(resolve, _)) = self.pending.remove(handle) {
                    calls.push(Call::Resolve(resolve, convert::reason_codes(&reason_codes)));
                }
            }
            Event::RequestFailed { handle } => {
                if let Some(Pending::Subscribe(_, reject, _) | Pending::Unsubscribe(_, reject)) =
                    self.pending.remove(handle)
                {
                    calls.push(Call::Reject(
                        reject,
                        error(ErrorCode::ClientEnded, "the client was ended", None),
                    ));
                }
            }
            Event::Disconnected {
                by,
                reason_code,
                properties,
            } => {
                if reports_disconnect(by, self.engine.options().version) {
                    let properties = convert::properties_to_js(&properties);
                    let args = [reason_code.0.into(), properties];
                    calls.push(self.emit_call(EventName::Disconnect, &args));
                }
                if !self.connected_once && !self.ready.is_empty() {
                    let e = error(
                        ErrorCode::ConnectFailed,
                        &concat(&["could not connect: ", &reason_text(reason_code)]),
                        connect_failed_reason(reason_code),
                    );
                    for (_, reject) in self.ready.drain(..) {
                        calls.push(Call::Reject(reject, e.clone()));
                    }
                    if by == DisconnectedBy::Server {
                        calls.push(self.emit_call(EventName::Error, &[e]));
                    }
                }
                calls.push(self.emit_call(EventName::Close, &[]));
                if by != DisconnectedBy::Client {
                    calls.push(self.emit_call(EventName::Offline, &[]));
                }
            }
            Event::ProtocolError {
                reason_code,
                violation,
            } => {
                let e = protocol_error(&violation, reason_code);
                calls.push(self.emit_call(EventName::Error, &[e]));
            }
            Event::Reconnecting { at, attempt } => {
                let delay = millis_until(at) as f64;
                let args = [delay.into(), attempt.into()];
                calls.push(self.emit_call(EventName::Reconnecting, &args));
            }
            Event::ReconnectGaveUp => {
                let e = error(
                    ErrorCode::ReconnectGaveUp,
                    "gave up reconnecting after the maximum number of attempts",
                    None,
                );
                calls.push(self.emit_call(EventName::Error, &[e]));
                calls.push(self.emit_call(EventName::End, &[]));
            }
            Event::Auth {
                reason_code,
                properties,
            } => {
                let properties = convert::properties_to_js(&properties);
                let args = [reason_code.0.into(), properties];
                calls.push(self.emit_call(EventName::Auth, &args));
            }
            _ => {}
        }
    }
}

/// Whether a WebSocket that opened with `protocol` speaks MQTT: `mqtt`, the old
/// `mqttv3.1`, or none (a server that ignores the offer).
fn accepts_subprotocol(protocol: &str) -> bool {
    matches!(protocol, "mqtt" | "mqttv3.1" | "")
}

/// Whether the timer armed for `armed_at` can stay for an engine deadline at `due`: one
/// due no later stays, since firing early is harmless (nothing is due, and it arms
/// again), and re-arming after every message would cost a closure, a window timer and a
/// worker listener each time.
fn keeps_timer(armed_at: Option<Instant>, due: Instant) -> bool {
    armed_at.is_some_and(|at| at <= due)
}

/// Whether opening a connection is a reconnect for the `reconnect` event: any attempt
/// after the first, or after a connection succeeded.
fn announces_reconnect(attempt: u32, connected_once: bool) -> bool {
    attempt > 0 || connected_once
}

/// Whether the client counts as reconnecting: it connected once and is not connected or
/// stopped now.
fn is_reconnecting(connected_once: bool, state: State) -> bool {
    connected_once
        && matches!(
            state,
            State::WaitingReconnect | State::Opening | State::AwaitingConnAck
        )
}

/// Whether a disconnection is reported as the `disconnect` event: a DISCONNECT the server
/// sent, which only MQTT 5.0 has.
fn reports_disconnect(by: DisconnectedBy, version: ProtocolVersion) -> bool {
    by == DisconnectedBy::Server && version == ProtocolVersion::V5
}

/// The `reasonCode` of a `CONNECT_FAILED` error: the server's code, none for 0x80
/// (unspecified, what the engine reports when no CONNACK came).
fn connect_failed_reason(code: ReasonCode) -> Option<u8> {
    Some(code.0).filter(|c| *c != 0x80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_mqtt_subprotocols_or_none() {
        assert!(accepts_subprotocol("mqtt"));
        assert!(accepts_subprotocol("mqttv3.1"));
        assert!(accepts_subprotocol(""));
        assert!(!accepts_subprotocol("wamp"));
        assert!(!accepts_subprotocol("MQTT"));
    }

    #[test]
    fn keeps_a_timer_due_no_later_than_the_deadline() {
        let ms = Instant::from_millis;
        assert!(keeps_timer(Some(ms(100)), ms(100)));
        assert!(keeps_timer(Some(ms(100)), ms(5_000)));
        assert!(!keeps_timer(Some(ms(100)), ms(99)));
        assert!(!keeps_timer(None, ms(100)));
    }

    #[test]
    fn announces_a_reconnect_after_the_first_attempt_or_a_connection() {
        assert!(!announces_reconnect(0, false));
        assert!(announces_reconnect(1, false));
        assert!(announces_reconnect(0, true));
    }

    #[test]
    fn is_reconnecting_only_between_connections() {
        for state in [
            State::WaitingReconnect,
            State::Opening,
            State::AwaitingConnAck,
        ] {
            assert!(is_reconnecting(true, state));
            assert!(!is_reconnecting(false, state));
        }
        assert!(!is_reconnecting(true, State::Connected));
        assert!(!is_reconnecting(true, State::Idle));
    }

    #[test]
    fn reports_only_a_server_disconnect_on_5_0() {
        assert!(reports_disconnect(
            DisconnectedBy::Server,
            ProtocolVersion::V5
        ));
        assert!(!reports_disconnect(
            DisconnectedBy::Server,
            ProtocolVersion::V311
        ));
        assert!(!reports_disconnect(
            DisconnectedBy::Client,
            ProtocolVersion::V5
        ));
    }

    #[test]
    fn connect_failed_carries_the_servers_code_but_not_unspecified() {
        assert_eq!(connect_failed_reason(ReasonCode(0x87)), Some(0x87));
        assert_eq!(connect_failed_reason(ReasonCode(0x05)), Some(0x05));
        assert_eq!(connect_failed_reason(ReasonCode(0x80)), None);
    }
}
