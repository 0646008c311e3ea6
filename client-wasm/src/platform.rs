//! What the browser gives the client: a clock, timers and a WebSocket, each owned by a
//! Rust value that releases its JavaScript callbacks when dropped (no `forget`).

use js_sys::{ArrayBuffer, Function};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, timeout: i32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// Milliseconds on a monotonic clock.
pub(crate) fn now() -> u64 {
    performance_now() as u64
}

/// A pending `setTimeout`, cleared when dropped.
pub(crate) struct Timer {
    id: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `f` after `delay_ms`.
    pub(crate) fn new(delay_ms: u64, f: impl FnMut() + 'static) -> Timer {
        let callback = Closure::<dyn FnMut()>::new(f);
        let delay = delay_ms.min(i32::MAX as u64) as i32;
        let id = set_timeout(callback.as_ref().unchecked_ref(), delay);
        Timer {
            id,
            _callback: callback,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}

/// What a socket reports.
pub(crate) enum SocketEvent {
    /// The WebSocket opened with this subprotocol.
    Open(String),
    /// A binary message.
    Message(ArrayBuffer),
    /// A text message (a protocol violation for MQTT).
    Text,
    /// Closed, or failed to open.
    Closed,
}

/// A WebSocket speaking the `mqtt` subprotocol with ArrayBuffer messages; its handlers are
/// removed and the socket closed when dropped.
pub(crate) struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Socket {
    /// Opens `url`; `handler` gets every event.
    pub(crate) fn open(
        url: &str,
        handler: impl Fn(SocketEvent) + Clone + 'static,
    ) -> Result<Socket, JsValue> {
        let ws = WebSocket::new_with_str(url, "mqtt")?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let h = handler.clone();
        let ws_open = ws.clone();
        let on_open =
            Closure::<dyn FnMut(Event)>::new(move |_| h(SocketEvent::Open(ws_open.protocol())));
        let h = handler.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            match e.data().dyn_into::<ArrayBuffer>() {
                Ok(buffer) => h(SocketEvent::Message(buffer)),
                Err(_) => h(SocketEvent::Text),
            }
        });
        let h = handler.clone();
        let on_close =
            Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| h(SocketEvent::Closed));
        // An error is always followed by close; close carries what is known.
        let on_error = Closure::<dyn FnMut(Event)>::new(move |_| {});
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
            _on_error: on_error,
        })
    }

    /// Sends bytes as one binary message.
    pub(crate) fn send(&self, bytes: &[u8]) -> Result<(), JsValue> {
        self.ws.send_with_u8_array(bytes)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}
