//! mqttwire-bridge: the WebSocket-to-TCP bridge that puts browsers in front of an
//! existing MQTT broker.
//!
//! Nothing is here yet: this crate is filled by the bridge issue.
