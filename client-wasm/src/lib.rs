//! # mqttwire in the browser
//!
//! The protocol crate's engine compiled to wasm32, driving a WebSocket (subprotocol
//! `mqtt`, ArrayBuffer messages) with browser timers. JavaScript sees [`client::Core`]
//! through the `mqttwire` npm package's MQTT.js-style wrapper (`js/index.js`).
//!
//! The modules by job: `client` is the API JavaScript calls, `drive` steps the engine and
//! carries out its outputs, `pending` holds the promises waiting for it, `convert` turns
//! JavaScript values into engine types and back, `contract` names the events and error
//! codes JavaScript sees, `error` builds the errors and `platform` wraps the browser's
//! clock, timers and WebSocket. With the feature `store` (the build behind the
//! `mqttwire/store` entry point), `store` writes the engine's durable state through to
//! the application's store before the socket gets what follows from it.

mod client;
mod contract;
mod convert;
mod drive;
mod error;
mod pending;
mod platform;
#[cfg(feature = "store")]
mod store;

pub use client::Core;

/// The allocator: talc rather than the standard library's dlmalloc, a few KB less wasm.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
