//! # mqttwire in the browser
//!
//! The protocol crate's engine compiled to wasm32, driving a WebSocket (subprotocol
//! `mqtt`, ArrayBuffer messages) with browser timers. JavaScript sees [`client::Core`]
//! through the `mqttwire` npm package's MQTT.js-style wrapper (`js/index.js`).

mod client;
mod convert;
mod error;
mod platform;

pub use client::Core;
