//! An MQTT 3.1.1 and 5.0 client for tokio on the sans-IO engine of [`mqttwire`], over TCP,
//! TLS, WebSocket and WebSocket over TLS.
//!
//! [`spawn`] starts a background task that owns the engine
//! ([`mqttwire::client::Client`]), the connection and the clock, and returns a cloneable
//! [`ClientHandle`] and an [`Events`] stream. The handle's
//! [`publish`](ClientHandle::publish), [`subscribe`](ClientHandle::subscribe) and
//! [`unsubscribe`](ClientHandle::unsubscribe) return when the server acknowledged; the
//! `start_*` forms return at once with a [`Handle`](mqttwire::client::Handle) that the
//! outcome event carries. Reconnecting, resubscribing, resending, keep alive and topic
//! aliases are the engine's, configured by [`ClientOptions`](mqttwire::client::ClientOptions).
//! Compared with rumqttc's `AsyncClient` and `EventLoop`, the loop here runs on its own
//! task: nothing has to be polled for the client to make progress.
//!
//! Where to connect is an [`Endpoint`], parsed from `mqtt://`, `mqtts://`, `ws://` or
//! `wss://` URLs. [`Transport`] is the byte pipe underneath (TCP, TLS, WebSocket with the
//! `mqtt` subprotocol), usable alone by a program that encodes MQTT itself.
//!
//! The engine never reads a clock: the task hands it tokio's time, so a test on a paused
//! tokio clock drives the keep alive and reconnect timers too.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use mqttwire::client::ClientOptions;
//! use mqttwire::{ProtocolVersion, Publish, QoS, TopicName};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = "mqtt://127.0.0.1:1883".parse()?;
//! let (client, mut events) =
//!     mqttwire_tokio::spawn(endpoint, ClientOptions::new(ProtocolVersion::V5, "sensor-1"));
//! events.connected(Duration::from_secs(5)).await?;
//! let mut reading = Publish::new(TopicName::new("sensors/1/temperature")?, "21.5");
//! reading.qos = QoS::AtLeastOnce;
//! client.publish(reading).await?; // returns on PUBACK
//! # Ok(())
//! # }
//! ```

mod client;
mod endpoint;
mod transport;

pub use client::{CLOSE_TIMEOUT, ClientHandle, Error, Events, WaitError, spawn, spawn_with};
pub use endpoint::{Endpoint, EndpointError, Scheme};
pub use transport::{
    Transport, TransportError, TransportOptions, TransportReceiver, TransportSender,
};
