//! # mqttwire-bridge
//!
//! Browsers speak MQTT over WebSocket to the bridge; for each WebSocket it opens its own
//! TCP or TLS connection to an existing broker and relays both ways, checking the MQTT it
//! relays with the `mqttwire` codec. See the binary's `--help` for every setting.
//!
//! The library runs the bridge on a listener the caller binds, so tests run it in-process
//! on port 0:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mqttwire_bridge::{BrokerUrl, Config, run};
//! use tokio_util::sync::CancellationToken;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let config = Config { brokers: vec![BrokerUrl::parse("mqtt://127.0.0.1:1883")?], ..Config::default() };
//! let shutdown = CancellationToken::new();
//! run(listener, config, shutdown).await?;
//! # Ok(()) }
//! ```

pub mod acl;
pub mod auth;
mod broker_url;
mod budget;
mod config;
mod deadline;
#[cfg(feature = "embedded-broker")]
pub mod embedded;
mod enforce;
mod files;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod gate;
mod limits;
mod metrics;
mod ops;
mod rate;
mod relay;
mod server;
mod tls;
mod upstream;

pub use broker_url::BrokerUrl;
pub use config::{Balance, Cli, Config, ConfigError, LogFormat, Settings};
pub use server::{Handle, RunError, Server, prepare, run};
pub use upstream::UpstreamError;
