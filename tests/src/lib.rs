//! Cross-component tests of mqttwire: real brokers and real browsers.
//!
//! The library holds what the tests share: the native client is [`mqttwire_tokio`] (the
//! sans-IO engine on tokio over TCP, TLS or WebSocket; re-exported here), [`mosquitto`]
//! starts a real broker for one test and [`bridge`] runs mqttwire-bridge in-process in front of it, [`cluster`] starts a real
//! broker cluster (rmqtt nodes) whose nodes can be killed, and [`steps`] are the steps
//! (connect, subscribe, publish, relay, cut) and the scenarios the tests share. The tests themselves are in
//! `tests/`: `mosquitto.rs` (the client against mosquitto, MQTT 3.1.1 and 5.0, TCP and
//! WebSocket), `loss.rs` (no message lost or duplicated while connections are cut at
//! random) and `bridge.rs` (the bridge between real sockets and a real mosquitto,
//! hostile clients included).

pub mod bridge;
pub mod cluster;
pub mod mosquitto;
pub mod steps;

pub use bridge::{Bridge, BridgeError, series_value};
pub use cluster::{Cluster, ClusterError};
pub use mosquitto::{BrokerError, Mosquitto};
pub use mqttwire_tokio::{ClientHandle, Endpoint, Events, WaitError, spawn};
pub use steps::{message, subscription};
