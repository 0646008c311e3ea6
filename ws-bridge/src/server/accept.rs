//! The accept loop and the connection limits: a connection takes one of the
//! `--max-connections` slots or is closed at once; from an untrusted peer it is counted
//! against its client's `--max-connect-rate` and `--max-connections-per-ip` before any TLS
//! or HTTP; from a trusted proxy it first gives its PROXY protocol header. Shutdown stops
//! the loop and waits, bounded, for the connections to end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;

use super::proxy_protocol::{self, Prefixed, ProxyError};
use super::{Held, Server};
use crate::deadline::WriteDeadline;
use crate::limits::{ClientGuard, ClientKey, is_trusted};
use crate::metrics::Refusal;
use crate::ops;

/// After the drain time, how long shutdown waits at most for the last connections to close.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

impl Server {
    /// Accepts connections until shutdown, then waits for them to end.
    pub async fn serve(self, listener: TcpListener) {
        let shutdown = self.shared.shutdown.clone();
        if let Some(operations) = &self.operations {
            match operations.try_clone().and_then(TcpListener::from_std) {
                Ok(listener) => {
                    tokio::spawn(ops::serve(listener, self.shared.clone()));
                }
                Err(error) => tracing::error!(%error, "cannot serve /metrics"),
            }
        }
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        // Out of file descriptors and the like: wait a little, keep serving.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = shutdown.cancelled() => break,
            };
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                self.shared.metrics.refused(Refusal::MaxConnections);
                if let Some(left_out) = self.shared.log.allow("connection limit") {
                    tracing::warn!(%peer, left_out, "refused: connection limit reached");
                }
                continue;
            };
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            self.tracker.spawn(server.connection(stream, peer, permit));
        }
        drop(listener);
        let drain = self.shared.config.drain_timeout;
        tracing::info!(?drain, "shutting down: no new connections");
        self.tracker.close();
        // Relays close themselves after the drain time, and every close is bounded by the
        // write timeout; this bounds the whole, whatever a peer does.
        let limit = drain + self.shared.config.write_timeout.min(CLOSE_GRACE);
        match tokio::time::timeout(limit, self.tracker.wait()).await {
            Ok(()) => tracing::info!("shut down"),
            Err(_) => tracing::warn!(
                left = self.tracker.len(),
                "shut down with connections still closing after {limit:?}"
            ),
        }
    }

    async fn connection(self, stream: TcpStream, peer: SocketAddr, permit: OwnedSemaphorePermit) {
        let config = &self.shared.config;
        let mut trusted = is_trusted(&config.trusted_proxies, peer.ip());
        let mut client = peer;
        let stream = if config.proxy_protocol && trusted {
            match proxy_protocol::read_header(stream, config.handshake_timeout).await {
                Ok((source, stream)) => {
                    if let Some(source) = source {
                        // The source the load balancer reports is the client: its own
                        // X-Forwarded-For is believed only if it is a trusted proxy too.
                        client = source;
                        trusted = is_trusted(&config.trusted_proxies, source.ip());
                    }
                    stream
                }
                Err(ProxyError::Timeout) => {
                    self.shared.metrics.refused(Refusal::ProxyProtocol);
                    return;
                }
                Err(error) => {
                    self.shared.metrics.refused(Refusal::ProxyProtocol);
                    tracing::warn!(%peer, %error, "refused: bad PROXY protocol header");
                    return;
                }
            }
        } else {
            Prefixed::plain(stream)
        };
        // A client is counted at once, before TLS and HTTP, so that one address cannot hold
        // every slot with connections that never upgrade. Behind a trusted HTTP proxy the
        // client is only known from X-Forwarded-For, at the upgrade.
        let guard = if trusted {
            None
        } else {
            let key = ClientKey::ip(client.ip());
            if !self.shared.connect_rate.allow(&key) {
                self.refused_at_accept(Refusal::ConnectRate, &key, "connecting too often");
                return;
            }
            match ClientGuard::acquire(&self.per_ip, key.clone(), config.max_connections_per_ip) {
                Some(guard) => Some(guard),
                None => {
                    let why = "too many connections from this client";
                    self.refused_at_accept(Refusal::MaxConnectionsPerIp, &key, why);
                    return;
                }
            }
        };
        let slot = Arc::new(Held {
            _permit: permit,
            client: guard,
        });
        let stream = WriteDeadline::new(stream, config.write_timeout);
        match &self.tls {
            Some(acceptor) => {
                match tokio::time::timeout(config.handshake_timeout, acceptor.accept(stream)).await
                {
                    Ok(Ok(tls)) => self.http(tls, client, trusted, slot).await,
                    Ok(Err(error)) => {
                        self.shared.metrics.refused(Refusal::Tls);
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                    }
                    Err(_) => self.shared.metrics.refused(Refusal::Tls),
                }
            }
            None => self.http(stream, client, trusted, slot).await,
        }
    }

    /// Counts and logs (rate-limited) a connection closed at accept.
    fn refused_at_accept(&self, reason: Refusal, client: &ClientKey, why: &'static str) {
        self.shared.metrics.refused(reason);
        if let Some(left_out) = self.shared.log.allow(why) {
            tracing::info!(%client, left_out, "refused at accept: {why}");
        }
    }
}
