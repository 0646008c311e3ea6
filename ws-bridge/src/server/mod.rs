//! The bridge assembled: [`prepare`] builds a [`Server`] from a checked [`Config`] and
//! [`Server::serve`] runs it. Each job of a connection has its own file, in the order a
//! connection meets them: `accept` (the accept loop and the connection limits),
//! `proxy_protocol` (the header from a trusted load balancer), TLS (`crate::tls`), `http`
//! (the routes and the web app), `handshake` (the pure check of a WebSocket upgrade) and
//! `upgrade` (answering it and starting the relay).

mod accept;
mod handshake;
mod http;
mod proxy_protocol;
mod upgrade;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[cfg(feature = "fuzzing")]
pub(crate) use self::upgrade::ws_config;
use crate::budget::BufferBudget;
use crate::config::{Config, ConfigError};
use crate::files::Files;
use crate::limits::{ClientCounts, ClientGuard};
use crate::metrics::Metrics;
use crate::ops::Readiness;
use crate::rate::{ConnectRate, LogLimiter};
use crate::relay::Shared;
use crate::tls;
use crate::upstream::Upstreams;

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The TLS certificate or key could not be loaded.
    #[error("TLS certificate or key: {0}")]
    Tls(String),
    /// The broker CA file could not be loaded.
    #[error("broker CA file: {0}")]
    BrokerCa(io::Error),
    /// No broker is configured.
    #[error("no broker configured")]
    NoBroker,
    /// The operations listener (`--metrics-listen`) could not be bound.
    #[error("cannot listen on {0} for /metrics: {1}")]
    MetricsListen(SocketAddr, io::Error),
    /// A setting is out of its range (a hand-built [`Config`] that [`Config::check`] refuses).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// A running bridge's view for its owner: its metrics.
#[derive(Debug, Clone)]
pub struct Handle {
    shared: Arc<Shared>,
    operations_addr: Option<SocketAddr>,
    certificates: Option<Arc<tls::Certificates>>,
}

impl Handle {
    /// The bridge's metrics in the Prometheus text format.
    pub fn metrics(&self) -> String {
        self.shared.metrics.encode()
    }

    /// Where `/metrics`, `/healthz` and `/readyz` are served (`--metrics-listen`), once bound.
    pub fn operations_addr(&self) -> Option<SocketAddr> {
        self.operations_addr
    }

    /// Reads the TLS certificate and key files again (SIGHUP): new handshakes use them,
    /// open connections keep theirs. On error the old certificate stays. Nothing to do
    /// without TLS.
    pub fn reload_tls(&self) -> Result<(), RunError> {
        match &self.certificates {
            Some(certificates) => certificates.reload().map_err(RunError::Tls),
            None => Ok(()),
        }
    }

    /// Reloads what SIGHUP reloads: the TLS certificate and the JWT key. Each stays as it
    /// was if its files cannot be loaded; the first error is returned.
    pub fn reload(&self) -> Result<(), RunError> {
        let tls = self.reload_tls();
        let jwt = match &self.shared.config.jwt {
            Some(jwt) => jwt.reload().map_err(RunError::Config),
            None => Ok(()),
        };
        tls.and(jwt)
    }

    /// WebSocket connections being relayed now.
    pub fn open_connections(&self) -> i64 {
        self.shared.metrics.open_connections()
    }
}

/// Runs the bridge on `listener` until `shutdown` is cancelled, then stops accepting, lets
/// connections run for the drain time, closes the rest with 1001, and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let (server, handle) = prepare(config, shutdown)?;
    drop(handle);
    server.serve(listener).await;
    Ok(())
}

/// Builds the bridge without running it: for callers that want its [`Handle`].
pub fn prepare(config: Config, shutdown: CancellationToken) -> Result<(Server, Handle), RunError> {
    config.check()?;
    if config.brokers.is_empty() {
        return Err(RunError::NoBroker);
    }
    let (tls, certificates) = match &config.tls {
        Some((cert, key)) => {
            let (acceptor, certificates) = tls::acceptor(cert, key).map_err(RunError::Tls)?;
            (Some(acceptor), Some(certificates))
        }
        None => (None, None),
    };
    let upstreams = Upstreams::new(&config).map_err(RunError::BrokerCa)?;
    let files = config.serve.as_deref().map(Files::new);
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let operations = match config.metrics_listen {
        Some(addr) => Some(Arc::new(
            std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| RunError::MetricsListen(addr, e))?,
        )),
        None => None,
    };
    let connect_rate = ConnectRate::new(config.max_connect_rate);
    let metrics = Metrics::new();
    for broker in &config.brokers {
        metrics.upstream_healthy(&broker.to_string(), true);
    }
    let budget = BufferBudget::new(metrics.buffered(), config.max_buffered_bytes);
    let shared = Arc::new(Shared {
        config,
        metrics,
        upstreams,
        shutdown,
        readiness: Readiness::default(),
        connect_rate,
        log: LogLimiter::default(),
        budget,
    });
    let server = Server {
        shared: shared.clone(),
        tls,
        files,
        permits,
        per_ip: ClientCounts::default(),
        tracker: TaskTracker::new(),
        operations: None,
    };
    let operations_addr = operations.as_ref().and_then(|l| l.local_addr().ok());
    let server = Server {
        operations,
        ..server
    };
    Ok((
        server,
        Handle {
            shared,
            operations_addr,
            certificates,
        },
    ))
}

/// A prepared bridge; [`Server::serve`] runs it.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    files: Option<Files>,
    permits: Arc<Semaphore>,
    per_ip: ClientCounts,
    tracker: TaskTracker,
    /// The operations listener, bound by `prepare`.
    operations: Option<Arc<std::net::TcpListener>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// One of the `max_connections` slots and, once the client is known, its count toward the
/// per-client limit; held while any clone lives: by the HTTP connection and, after an
/// upgrade, by its relay, which outlives it.
type Slot = Arc<Held>;

/// What a connection holds against the limits.
#[derive(Debug)]
struct Held {
    _permit: OwnedSemaphorePermit,
    client: Option<ClientGuard>,
}
