//! Cross-component tests of mqttwire: real brokers and real browsers.
//!
//! Nothing is here yet: the engine, bridge and browser client issues add their
//! integration tests to this crate.
