//! Connections to the brokers: which broker a new connection goes to (round robin or
//! failover order, passing over a broker that failed within the cooldown), TCP with
//! TCP_NODELAY, and TLS for `mqtts://` brokers.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use crate::broker_url::BrokerUrl;
use crate::config::{Balance, Config};
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
    health: Health,
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
            health: Health::new(config.brokers.len(), config.broker_cooldown),
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
        let now = Instant::now();
        let order = self.health.order(start, now);
        for &(i, cooling) in &order {
            if cooling {
                metrics.upstream_skipped(&self.brokers[i].to_string());
            }
        }
        for (i, _) in order {
            let broker = &self.brokers[i];
            let began = Instant::now();
            match tokio::time::timeout(self.timeout, self.open(broker)).await {
                Ok(Ok(stream)) => {
                    metrics.upstream_connected(began.elapsed().as_secs_f64());
                    if self.health.succeeded(i) {
                        tracing::info!(%broker, "broker answers again");
                        metrics.upstream_healthy(&broker.to_string(), true);
                    }
                    return Ok((stream, broker));
                }
                Ok(Err(error)) => tracing::warn!(%broker, %error, "broker unreachable"),
                Err(_) => {
                    tracing::warn!(%broker, timeout = ?self.timeout, "broker did not answer in time")
                }
            }
            metrics.upstream_failure(&broker.to_string());
            if self.health.failed(i, Instant::now()) {
                metrics.upstream_healthy(&broker.to_string(), false);
            }
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

/// Which brokers failed recently: a broker that failed is passed over by new connections
/// for the cooldown, unless every broker is cooling down.
#[derive(Debug)]
struct Health {
    /// When each broker last failed, while it has not answered since.
    failed_at: Mutex<Vec<Option<Instant>>>,
    cooldown: Duration,
}

impl Health {
    fn new(brokers: usize, cooldown: Duration) -> Health {
        Health {
            failed_at: Mutex::new(vec![None; brokers]),
            cooldown,
        }
    }

    /// The order in which to try the brokers, beginning at `start`: those out of their
    /// cooldown first, then those in it (flagged `true`) as a last resort.
    fn order(&self, start: usize, now: Instant) -> Vec<(usize, bool)> {
        let failed_at = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
        let n = failed_at.len();
        let cooling = |i: usize| {
            failed_at[i].is_some_and(|at| now.saturating_duration_since(at) < self.cooldown)
        };
        let (mut ready, cold): (Vec<_>, Vec<_>) = (0..n)
            .map(|k| (start + k) % n)
            .map(|i| (i, cooling(i)))
            .partition(|&(_, c)| !c);
        ready.extend(cold);
        ready
    }

    /// Records a failure of broker `i`; true when it was healthy before.
    fn failed(&self, i: usize, now: Instant) -> bool {
        let mut failed_at = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
        failed_at[i].replace(now).is_none()
    }

    /// Records that broker `i` answered; true when it had failed before.
    fn succeeded(&self, i: usize) -> bool {
        let mut failed_at = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
        failed_at[i].take().is_some()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_broker_goes_last_until_its_cooldown_ends() {
        let health = Health::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(
            health.order(1, t0),
            vec![(1, false), (2, false), (0, false)]
        );
        assert!(health.failed(1, t0));
        assert!(
            !health.failed(1, t0),
            "a second failure is no new transition"
        );
        assert_eq!(health.order(1, t0), vec![(2, false), (0, false), (1, true)]);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            health.order(1, later),
            vec![(1, false), (2, false), (0, false)]
        );
        assert!(health.succeeded(1));
        assert!(!health.succeeded(1));
    }

    #[test]
    fn every_broker_cooling_down_still_yields_all_of_them_in_turn() {
        let health = Health::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        health.failed(0, t0);
        health.failed(1, t0);
        assert_eq!(health.order(1, t0), vec![(1, true), (0, true)]);
    }

    #[test]
    fn a_zero_cooldown_never_skips() {
        let health = Health::new(2, Duration::ZERO);
        let t0 = Instant::now();
        health.failed(0, t0);
        assert_eq!(health.order(0, t0), vec![(0, false), (1, false)]);
    }
}
