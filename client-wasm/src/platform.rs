//! What the browser gives the client: a clock, timers and a WebSocket, each owned by a
//! Rust value that releases its JavaScript callbacks when dropped (no `forget`).
//!
//! Browsers throttle the timers of a hidden page: Chrome wakes a chain of timers (one set
//! from another's callback, or from an interval) once a minute after a few minutes in the
//! background, late enough for the broker to time out the keepalive. A dedicated worker's
//! timers are not throttled that way. So while any timer is pending, a worker shared by
//! the page's clients (started from a `blob:` URL) ticks once a second, and a tick fires
//! the timers that are due; each timer is also a window `setTimeout`, which fires on time
//! in a visible page and is the only one where no worker starts (no `Worker`, a content
//! security policy without `blob:`). Arming a timer posts nothing to the worker, so the
//! client can re-arm it after every message. Outside a page (a worker; Node, Deno and Bun,
//! whose globals are the same `setTimeout`, `performance` and `WebSocket`) only the plain
//! `setTimeout` runs.

use std::cell::{Cell, OnceCell};

use js_sys::{Array, ArrayBuffer, Function};
use mqttwire::Instant;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, Event, MessageEvent, WebSocket};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, timeout: i32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);

    type Worker;
    #[wasm_bindgen(constructor, catch)]
    fn new(url: &str) -> Result<Worker, JsValue>;
    #[wasm_bindgen(method, js_name = postMessage)]
    fn post_message(this: &Worker, message: bool);
    #[wasm_bindgen(method, js_name = addEventListener)]
    fn add_event_listener(this: &Worker, kind: &JsValue, listener: &Function);
    #[wasm_bindgen(method, js_name = removeEventListener)]
    fn remove_event_listener(this: &Worker, kind: &JsValue, listener: &Function);

    type Blob;
    #[wasm_bindgen(constructor, catch)]
    fn new(parts: &Array) -> Result<Blob, JsValue>;

    #[wasm_bindgen(js_namespace = URL, js_name = createObjectURL, catch)]
    fn create_object_url(blob: &Blob) -> Result<String, JsValue>;

    /// `document.hasFocus()`: a probe for a page, throwing where there is no document (a
    /// worker, Node, Deno, Bun).
    #[wasm_bindgen(js_namespace = document, js_name = hasFocus, catch)]
    fn document_has_focus() -> Result<bool, JsValue>;
}

/// The engine's time now: milliseconds on the page's monotonic clock. The engine's times
/// are read and made only here and in [`millis_until`].
pub(crate) fn now() -> Instant {
    Instant::from_millis(performance_now() as u64)
}

/// Milliseconds from now until the engine's time `at`; 0 once it has passed.
pub(crate) fn millis_until(at: Instant) -> u64 {
    at.as_millis().saturating_sub(now().as_millis())
}

/// A pending timer, cleared when dropped: a window `setTimeout`, and a listener of the
/// worker clock's ticks; whichever comes first when it is due calls the callback.
pub(crate) struct Timer {
    window: JsValue,
    ticks: bool,
    callback: Closure<dyn FnMut(JsValue)>,
}

impl Timer {
    /// Calls `f` after `delay_ms`.
    pub(crate) fn new(delay_ms: u64, mut f: impl FnMut() + 'static) -> Timer {
        let delay = delay_ms.min(i32::MAX as u64) as i32;
        let due = performance_now() + f64::from(delay);
        // The window's timeout passes nothing; a tick passes its event, early or on time.
        let callback = Closure::<dyn FnMut(JsValue)>::new(move |tick: JsValue| {
            if tick.is_undefined() || performance_now() >= due {
                f();
            }
        });
        let function: &Function = callback.as_ref().unchecked_ref();
        let ticks = with_clock(|clock| clock.map(|c| c.listen(function)).is_some());
        Timer {
            window: set_timeout(function, delay),
            ticks,
            callback,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        clear_timeout(&self.window);
        if self.ticks {
            let function: &Function = self.callback.as_ref().unchecked_ref();
            with_clock(|clock| {
                if let Some(clock) = clock {
                    clock.unlisten(function);
                }
            });
        }
    }
}

thread_local! {
    /// The page's worker clock, started on first use; `None` where no worker starts.
    static CLOCK: OnceCell<Option<WorkerClock>> = const { OnceCell::new() };
}

/// Calls `f` with the worker clock, starting it on first use.
fn with_clock<R>(f: impl FnOnce(Option<&WorkerClock>) -> R) -> R {
    CLOCK.with(|clock| f(clock.get_or_init(WorkerClock::start).as_ref()))
}

/// What the worker runs: `true` starts a tick a second, `false` stops it.
const WORKER_SOURCE: &str =
    "let i;onmessage=e=>{clearInterval(i);if(e.data)i=setInterval(()=>postMessage(0),1000)}";

/// A worker that ticks while timers listen to it.
struct WorkerClock {
    worker: Worker,
    message: JsValue,
    listeners: Cell<u32>,
}

impl WorkerClock {
    fn start() -> Option<WorkerClock> {
        // Only a page's timers are throttled; and a worker would keep Bun's process alive.
        if document_has_focus().is_err() {
            return None;
        }
        let source = Array::of1(&JsValue::from_str(WORKER_SOURCE));
        let url = create_object_url(&Blob::new(&source).ok()?).ok()?;
        Some(WorkerClock {
            worker: Worker::new(&url).ok()?,
            message: JsValue::from_str("message"),
            listeners: Cell::new(0),
        })
    }

    /// Calls `f` on every tick; the first listener starts the ticks.
    fn listen(&self, f: &Function) {
        self.worker.add_event_listener(&self.message, f);
        self.listeners.set(self.listeners.get() + 1);
        if self.listeners.get() == 1 {
            self.worker.post_message(true);
        }
    }

    /// Stops calling `f`; the last listener stops the ticks.
    fn unlisten(&self, f: &Function) {
        self.worker.remove_event_listener(&self.message, f);
        self.listeners.set(self.listeners.get() - 1);
        if self.listeners.get() == 0 {
            self.worker.post_message(false);
        }
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
    _on_close: Closure<dyn FnMut(JsValue)>,
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
        // An error ends the connection as close does: a browser fires close after it, but
        // Node 20's WebSocket fires only error when it cannot connect. The first of the two
        // drops the socket, and with it these handlers.
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| h(SocketEvent::Closed));
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
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
