//! mqttwire-bridge in-process for one test: [`mqttwire_bridge::prepare`] and
//! [`Server::serve`](mqttwire_bridge::Server::serve) on a listener bound to 127.0.0.1:0,
//! spawned on the test's tokio runtime, shut down when dropped.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use mqttwire_bridge::{BrokerUrl, Config, Handle, RunError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::mosquitto::Mosquitto;

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// No loopback port could be bound.
    #[error("cannot bind 127.0.0.1:0: {0}")]
    Bind(#[from] io::Error),
    /// The bridge refused its configuration (TLS files, no broker, ...): the test's mistake.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// A running bridge. Dropping it cancels its shutdown token: it stops accepting, drains for
/// the configured time and closes what is left with 1001, on the runtime it was started on.
#[derive(Debug)]
pub struct Bridge {
    addr: SocketAddr,
    path: String,
    handle: Handle,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Bridge {
    /// Starts a bridge with `config` on the current tokio runtime, listening on a free
    /// port of 127.0.0.1 (`config.listen` is ignored).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn start(config: Config) -> Result<Bridge, BridgeError> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr()?;
        let path = config.path.clone();
        let shutdown = CancellationToken::new();
        let (server, handle) = mqttwire_bridge::prepare(config, shutdown.clone())?;
        let task = tokio::spawn(server.serve(listener));
        Ok(Bridge {
            addr,
            path,
            handle,
            shutdown,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/PATH`, for [`mqttwire_tokio::spawn`].
    pub fn ws_url(&self) -> String {
        format!("ws://{}{}", self.addr, self.path)
    }

    /// Its metrics and open connection count.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// One series of its metrics (name and labels as printed), 0 when absent.
    pub fn metric(&self, series: &str) -> u64 {
        series_value(&self.handle.metrics(), series)
    }

    /// Asks it to shut down, as SIGTERM does: no new connections, then the drain time,
    /// then 1001 going away for the rest.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits up to `within` for the bridge to have stopped after [`shutdown`](Bridge::shutdown);
    /// true if it did.
    pub async fn stopped(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, &mut self.task).await.is_ok()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A bridge configuration with the default settings in front of `brokers` (their plain
/// MQTT ports), in that order.
pub fn config_for(brokers: &[&Mosquitto]) -> Config {
    Config {
        brokers: brokers.iter().map(|b| broker_url(b.port())).collect(),
        ..Config::default()
    }
}

/// `mqtt://127.0.0.1:PORT` as the bridge takes it.
pub fn broker_url(port: u16) -> BrokerUrl {
    BrokerUrl {
        host: Ipv4Addr::LOCALHOST.to_string(),
        port,
        tls: false,
    }
}

/// The value of one series (name and labels as printed) in the bridge's metrics text, 0
/// when absent.
pub fn series_value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}
