//! Connections to the brokers: which broker a new connection goes to (round robin or
//! failover order), TCP with TCP_NODELAY, and TLS for `mqtts://` brokers.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use crate::config::{Balance, BrokerUrl, Config};
use crate::metrics::Metrics;

/// A connection to a broker, plain or TLS.
pub(crate) type Upstream = Either<TcpStream, TlsStream<TcpStream>>;

/// Why no broker could be reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// Every broker refused, timed out or failed TLS.
    #[error("no broker answered (tried {0})")]
    AllDown(usize),
}

/// The brokers and how to reach them.
pub(crate) struct Upstreams {
    brokers: Vec<BrokerUrl>,
    balance: Balance,
    next: AtomicUsize,
    tls: Option<TlsConnector>,
    timeout: Duration,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("brokers", &self.brokers)
            .field("balance", &self.balance)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Upstreams {
    /// Prepares connections to the configured brokers; reads the extra CA file if any.
    pub(crate) fn new(config: &Config) -> io::Result<Upstreams> {
        let tls = if config.brokers.iter().any(|b| b.tls) {
            let mut roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            if let Some(path) = &config.broker_ca {
                add_pem_roots(&mut roots, path)?;
            }
            let client = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Some(TlsConnector::from(Arc::new(client)))
        } else {
            None
        };
        Ok(Upstreams {
            brokers: config.brokers.clone(),
            balance: config.balance,
            next: AtomicUsize::new(0),
            tls,
            timeout: config.upstream_timeout,
        })
    }

    /// Opens a connection to a broker chosen by the balance policy, trying the others in
    /// turn when it does not answer.
    pub(crate) async fn connect(
        &self,
        metrics: &Metrics,
    ) -> Result<(Upstream, &BrokerUrl), UpstreamError> {
        let n = self.brokers.len();
        let start = match self.balance {
            Balance::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n.max(1),
            Balance::Failover => 0,
        };
        for i in 0..n {
            let broker = &self.brokers[(start + i) % n];
            let began = Instant::now();
            match tokio::time::timeout(self.timeout, self.open(broker)).await {
                Ok(Ok(stream)) => {
                    metrics.upstream_connected(began.elapsed().as_secs_f64());
                    return Ok((stream, broker));
                }
                Ok(Err(error)) => tracing::warn!(%broker, %error, "broker unreachable"),
                Err(_) => {
                    tracing::warn!(%broker, timeout = ?self.timeout, "broker did not answer in time")
                }
            }
            metrics.upstream_failure(&broker.to_string());
        }
        Err(UpstreamError::AllDown(n))
    }

    /// Whether some broker accepts a TCP connection within the upstream timeout (each
    /// tried in turn; the connection is closed at once).
    pub(crate) async fn any_answers(&self) -> bool {
        for broker in &self.brokers {
            let connect = TcpStream::connect((broker.host.as_str(), broker.port));
            if let Ok(Ok(_)) = tokio::time::timeout(self.timeout, connect).await {
                return true;
            }
        }
        false
    }

    async fn open(&self, broker: &BrokerUrl) -> io::Result<Upstream> {
        let tcp = TcpStream::connect((broker.host.as_str(), broker.port)).await?;
        tcp.set_nodelay(true)?;
        if !broker.tls {
            return Ok(Either::Left(tcp));
        }
        let connector = self
            .tls
            .as_ref()
            .ok_or_else(|| io::Error::other("TLS not configured"))?;
        let name = ServerName::try_from(broker.host.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Either::Right(connector.connect(name, tcp).await?))
    }
}

fn add_pem_roots(roots: &mut RootCertStore, path: &Path) -> io::Result<()> {
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })?;
    for cert in certs {
        let cert = cert.map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        roots
            .add(cert)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    Ok(())
}
