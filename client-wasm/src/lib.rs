//! The mqttwire browser client (npm package `mqttwire`): the protocol crate's engine
//! compiled to wasm32 behind a Promise-based JavaScript API.
//!
//! Nothing is here yet: this crate is filled by the browser client issue, once the
//! sans-IO engine exists in the protocol crate.
