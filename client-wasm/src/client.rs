//! The wasm-bindgen API surface: [`Core`], the class `MqttCore` that `js/index.js` wraps.
//! Each method converts its arguments (`convert`), gives the engine the command and
//! drives it (`drive`); a command's promise waits in the pending table (`pending`).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise};
use mqttwire::client::Handle;
use mqttwire::{Properties, ReasonCode};
use wasm_bindgen::prelude::*;

use crate::contract::EventName;
use crate::convert::{self, Options, Subscribe};
use crate::drive::{Inner, drive};
use crate::error::{client_error, invalid};
use crate::pending::Pending;
use crate::platform::now;

/// The engine bound to a WebSocket. The `mqttwire` JavaScript module wraps it in an
/// MQTT.js-style client; use that rather than this class.
#[wasm_bindgen(js_name = MqttCore)]
pub struct Core {
    inner: Rc<RefCell<Inner>>,
}

#[wasm_bindgen(js_class = MqttCore)]
impl Core {
    /// Starts a client for `url`; `emit(type, ...args)` receives its events.
    #[cfg(not(feature = "store"))]
    #[wasm_bindgen(constructor)]
    pub fn new(url: String, options: JsValue, emit: Function) -> Result<Core, JsValue> {
        let inner = Core::create(url, &options, emit)?;
        Ok(Core::start(inner))
    }

    /// Starts a client for `url`; `emit(type, ...args)` receives its events. With a store,
    /// `saved` is what it held for this client (its last snapshot) and `save(bytes)`
    /// stores a new one, returning a promise; nothing that follows from a snapshot
    /// reaches the server before that promise resolves (`store.rs`).
    #[cfg(feature = "store")]
    #[wasm_bindgen(constructor)]
    pub fn new(
        url: String,
        options: JsValue,
        emit: Function,
        saved: Option<Vec<u8>>,
        save: Option<Function>,
    ) -> Result<Core, JsValue> {
        let inner = Core::create(url, &options, emit)?;
        crate::store::open(&inner, saved, save);
        Ok(Core::start(inner))
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
        let call = {
            let mut inner = self.inner.borrow_mut();
            inner.release();
            inner.emit_call(EventName::End, &[])
        };
        call.perform();
    }

    /// Drops the connection (DISCONNECT if connected) and connects again at once; starts a
    /// client that gave up reconnecting again.
    pub fn reconnect(&self) {
        self.inner.borrow_mut().engine.reconnect(now());
        drive(&self.inner);
    }

    /// The packet identifier of the last QoS 1/2 publish, subscribe or unsubscribe sent;
    /// 0 before the first.
    #[wasm_bindgen(getter, js_name = lastMessageId)]
    pub fn last_message_id(&self) -> u16 {
        let inner = self.inner.borrow();
        inner.engine.last_packet_id().map_or(0, |id| id.get())
    }

    /// Calls `handler(topic, payload, packet)` for messages matching `filter`, in the order
    /// handlers were added.
    #[wasm_bindgen(js_name = addHandler)]
    pub fn add_handler(&self, filter: &str, handler: Function) -> Result<(), JsValue> {
        let filter = convert::handler_filter(filter)?;
        self.inner.borrow_mut().router.add(&filter, handler);
        Ok(())
    }

    /// Removes `handler` from `filter` (every handler of `filter` when `handler` is absent).
    #[wasm_bindgen(js_name = removeHandler)]
    pub fn remove_handler(&self, filter: &str, handler: Option<Function>) -> Result<(), JsValue> {
        let filter = convert::handler_filter(filter)?;
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
        self.inner.borrow().reconnecting()
    }

    /// Commands waiting to be sent.
    #[wasm_bindgen(getter)]
    pub fn queued(&self) -> usize {
        self.inner.borrow().engine.queued()
    }
}

impl Core {
    /// The client's state for `url` and `options`, not started.
    fn create(
        url: String,
        options: &JsValue,
        emit: Function,
    ) -> Result<Rc<RefCell<Inner>>, JsValue> {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(invalid("url must start with ws:// or wss://"));
        }
        let Options {
            engine,
            password_fn,
        } = convert::options(options)?;
        Ok(Inner::new(url, engine, emit, password_fn))
    }

    /// Starts connecting.
    fn start(inner: Rc<RefCell<Inner>>) -> Core {
        let _ = inner.borrow_mut().engine.connect(now());
        drive(&inner);
        Core { inner }
    }

    fn try_publish(
        &self,
        topic: &JsValue,
        payload: &JsValue,
        options: &JsValue,
    ) -> Result<Promise, JsValue> {
        let publish = convert::publish(topic, payload, options)?;
        let handle = {
            let mut inner = self.inner.borrow_mut();
            inner.ensure_running()?;
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
        let Subscribe {
            subscriptions,
            names,
            properties,
        } = convert::subscribe(filters, options)?;
        let handle = {
            let mut inner = self.inner.borrow_mut();
            inner.ensure_running()?;
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
        let (filters, properties) = convert::unsubscribe(filters, options)?;
        let handle = {
            let mut inner = self.inner.borrow_mut();
            inner.ensure_running()?;
            inner
                .engine
                .unsubscribe(now(), filters, properties)
                .map_err(|e| client_error(&e))?
        };
        let promise = self.promise(handle, Pending::Unsubscribe);
        drive(&self.inner);
        Ok(promise)
    }

    /// A promise whose resolve and reject wait in the pending table under `handle`.
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
            inner.release();
        }
    }
}
