//! Cross-component tests of mqttwire: real brokers and real browsers.
//!
//! The library holds what the tests share: [`driver`] runs the sans-IO client engine on
//! tokio over TCP or WebSocket, and [`mosquitto`] starts a real broker for one test. The
//! tests themselves are in `tests/`: `mosquitto.rs` (the client against mosquitto, MQTT
//! 3.1.1 and 5.0, TCP and WebSocket) and `loss.rs` (no message lost or duplicated while
//! connections are cut at random).

pub mod driver;
pub mod mosquitto;

pub use driver::{
    ClientHandle, DriverError, Endpoint, Events, WaitError, message, spawn, subscription,
};
pub use mosquitto::{BrokerError, Mosquitto};
