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

/// The allocator: talc rather than the standard library's dlmalloc, a few KB less wasm.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
