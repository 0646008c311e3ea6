//! The listener: accepts TCP connections within the limits, reads a PROXY protocol header
//! from trusted proxies, terminates TLS, and serves HTTP on each connection: the MQTT
//! WebSocket endpoint, `/healthz`, `/metrics` and the web app.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use ppp::{HeaderResult, PartialResult};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::budget::BufferBudget;
use crate::config::{Config, ConfigError};
use crate::deadline::WriteDeadline;
use crate::files::Files;
use crate::gate::FrameGate;
use crate::limits::{ClientCounts, ClientGuard, ClientKey, forwarded_client, is_trusted};
use crate::metrics::{Metrics, Refusal};
use crate::ops::{self, Body, Readiness, text};
use crate::rate::{ConnectRate, LogLimiter};
use crate::relay::{Shared, relay};
use crate::tls;
use crate::upstream::Upstreams;

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

/// After the drain time, how long shutdown waits at most for the last connections to close.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Subprotocols accepted [MQTT-6.0.0-3]. `mqttv3.1` is not: it names MQTT 3.1 (`MQIsdp`,
/// level 3), which the protocol crate does not speak, so a client offering only it would
/// be accepted and then refused at its CONNECT.
const SUBPROTOCOLS: [&str; 1] = ["mqtt"];

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

    async fn connection(
        self,
        mut stream: TcpStream,
        peer: SocketAddr,
        permit: OwnedSemaphorePermit,
    ) {
        let config = &self.shared.config;
        let mut trusted = is_trusted(&config.trusted_proxies, peer.ip());
        let mut client = peer;
        if config.proxy_protocol && trusted {
            match tokio::time::timeout(config.handshake_timeout, read_proxy_header(&mut stream))
                .await
            {
                Ok(Ok(Some(source))) => {
                    // The source the load balancer reports is the client: its own
                    // X-Forwarded-For is believed only if it is a trusted proxy too.
                    client = source;
                    trusted = is_trusted(&config.trusted_proxies, source.ip());
                }
                Ok(Ok(None)) => {}
                Ok(Err(error)) => {
                    self.shared.metrics.refused(Refusal::ProxyProtocol);
                    tracing::warn!(%peer, %error, "refused: bad PROXY protocol header");
                    return;
                }
                Err(_) => {
                    self.shared.metrics.refused(Refusal::ProxyProtocol);
                    return;
                }
            }
        }
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

    async fn http<I>(&self, io: I, client: SocketAddr, trusted: bool, slot: Slot)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let config = &self.shared.config;
        let server = self.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let server = server.clone();
            let slot = slot.clone();
            async move {
                Ok::<_, std::convert::Infallible>(server.route(req, client, trusted, slot).await)
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(config.handshake_timeout)
            .max_header_size(config.max_header_size)
            // hyper's floor for its read buffer; the head is limited by max_header_size.
            .max_buf_size(config.max_header_size.max(8192))
            .max_headers(64);
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    if error.is_timeout() || error.is_parse() || error.is_parse_too_large() {
                        self.shared.metrics.refused(Refusal::Handshake);
                    }
                    tracing::debug!(%client, %error, "HTTP connection ended");
                }
            }
            () = self.shared.shutdown.cancelled() => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
    }

    async fn route(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        trusted: bool,
        slot: Slot,
    ) -> Response<Body> {
        let path = req.uri().path();
        if path == self.shared.config.path {
            return self.upgrade(req, peer, trusted, slot);
        }
        if let Some(response) = ops::answer(&req, &self.shared, false).await {
            return response;
        }
        match (req.method(), path) {
            (&Method::GET | &Method::HEAD, _) if self.files.is_some() => self.file(req).await,
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    async fn file(&self, req: Request<Incoming>) -> Response<Body> {
        match &self.files {
            Some(files) => files.serve(req).await,
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// Checks and answers a WebSocket upgrade request, and starts the relay on success; the
    /// relay keeps the connection's slot.
    fn upgrade(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        trusted: bool,
        slot: Slot,
    ) -> Response<Body> {
        let config = &self.shared.config;
        let metrics = &self.shared.metrics;
        let headers = req.headers();
        let refuse = |reason: Refusal, status: StatusCode, message: &'static str| {
            metrics.refused(reason);
            if let Some(left_out) = self.shared.log.allow(message) {
                tracing::info!(%peer, %status, left_out, message, "refused WebSocket upgrade");
            }
            text(status, message)
        };
        if req.method() != Method::GET
            || !header_has_token(headers, header::CONNECTION, "upgrade")
            || !header_has_token(headers, header::UPGRADE, "websocket")
        {
            let mut response = refuse(
                Refusal::Handshake,
                StatusCode::UPGRADE_REQUIRED,
                "this endpoint speaks MQTT over WebSocket\n",
            );
            response
                .headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            return response;
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .and_then(|v| v.to_str().ok())
            != Some("13")
        {
            let mut response = refuse(
                Refusal::Handshake,
                StatusCode::UPGRADE_REQUIRED,
                "WebSocket version 13 only\n",
            );
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return response;
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
            return refuse(
                Refusal::Handshake,
                StatusCode::BAD_REQUEST,
                "missing Sec-WebSocket-Key\n",
            );
        };
        if !origin_allowed(&config.origins, headers.get(header::ORIGIN)) {
            let message = if config.origins.is_empty() {
                "browsers are refused until the bridge is told their origin (--origin)\n"
            } else {
                "origin not allowed\n"
            };
            return refuse(Refusal::Origin, StatusCode::FORBIDDEN, message);
        }
        let protocol = choose_subprotocol(headers);
        if protocol.is_none() && !config.allow_no_subprotocol {
            return refuse(
                Refusal::Subprotocol,
                StatusCode::BAD_REQUEST,
                "offer the WebSocket subprotocol \"mqtt\" [MQTT-6.0.0-3]\n",
            );
        }
        // Counted at accept, or (behind a trusted HTTP proxy) now, by X-Forwarded-For.
        let forwarded = match &slot.client {
            Some(_) => None,
            None => {
                let key = trusted
                    .then(|| forwarded_client(headers, &config.trusted_proxies))
                    .flatten()
                    .unwrap_or_else(|| ClientKey::ip(peer.ip()));
                if !self.shared.connect_rate.allow(&key) {
                    return refuse(
                        Refusal::ConnectRate,
                        StatusCode::TOO_MANY_REQUESTS,
                        "connecting too often\n",
                    );
                }
                let Some(guard) =
                    ClientGuard::acquire(&self.per_ip, key, config.max_connections_per_ip)
                else {
                    return refuse(
                        Refusal::MaxConnectionsPerIp,
                        StatusCode::TOO_MANY_REQUESTS,
                        "too many connections from your address\n",
                    );
                };
                Some(guard)
            }
        };
        let accept = derive_accept_key(key.as_bytes());
        let shared = self.shared.clone();
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0)
            .max_write_buffer_size(
                (config.max_packet_size as usize)
                    .saturating_add(config.coalesce_limit)
                    .saturating_add(64 * 1024),
            )
            .max_message_size(Some(config.max_packet_size as usize))
            .max_frame_size(Some(config.max_packet_size as usize));
        let upgrade_token = config
            .jwt
            .as_ref()
            .and_then(|_| upgrade_token(&req, &config.jwt_cookie));
        let client = match forwarded.as_ref().or(slot.client.as_ref()) {
            Some(guard) => format!("{} (port {})", guard.key(), peer.port()),
            None => peer.to_string(),
        };
        let max_frame = u64::from(config.max_packet_size);
        self.tracker.spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => {
                    // Large frames reach tungstenite only once complete: it would reserve
                    // their declared length on reading the header.
                    let charge = Some(shared.budget.charge());
                    let io = FrameGate::new(TokioIo::new(upgraded), max_frame, charge);
                    let ws =
                        WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config)).await;
                    relay(ws, shared, client, upgrade_token).await;
                }
                Err(error) => tracing::debug!(%client, %error, "upgrade failed"),
            }
            drop(forwarded);
            drop(slot);
        });
        let mut response = Response::new(empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(protocol) = protocol {
            h.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(protocol),
            );
        }
        response
    }
}

fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|e| match e {})
        .boxed_unsync()
}

/// A token the upgrade request carries for clients that cannot put one in the CONNECT
/// password: the `token` query parameter, or else the cookie named `cookie`.
fn upgrade_token(req: &Request<Incoming>, cookie: &str) -> Option<Bytes> {
    let from_query = req.uri().query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    });
    let from_cookie = || {
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == cookie && !value.is_empty()).then(|| value.to_owned())
            })
    };
    from_query.or_else(from_cookie).map(Bytes::from)
}

/// True if a comma-separated header holds `token` (case-insensitive).
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The first subprotocol we accept among those the client offered, in our order.
fn choose_subprotocol(headers: &HeaderMap) -> Option<&'static str> {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    SUBPROTOCOLS.into_iter().find(|p| offered.contains(p))
}

/// A request without Origin is not from a browser (the check protects browsers only) and
/// passes. One with an Origin passes when `*` is allowed, or when it is well-formed and on
/// the list; with no list at all, browsers are refused: a page on any site could otherwise
/// use its visitors' browsers (and their cookies) against the bridge.
fn origin_allowed(allowed: &[String], origin: Option<&HeaderValue>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let well_formed = origin.split_once("://").is_some_and(|(scheme, host)| {
        matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains(['/', ' ', '@'])
    });
    well_formed && allowed.contains(&origin)
}

/// Reads a PROXY protocol v1 or v2 header, consuming exactly its bytes. `None` for a
/// LOCAL/UNKNOWN header (health checks): the peer address stands.
async fn read_proxy_header(stream: &mut TcpStream) -> io::Result<Option<SocketAddr>> {
    let mut peeked = vec![0u8; 536];
    loop {
        let n = stream.peek(&mut peeked).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the PROXY header",
            ));
        }
        let header = HeaderResult::parse(&peeked[..n]);
        if header.is_incomplete() {
            if n == peeked.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "PROXY header too long",
                ));
            }
            // Wait for more bytes without spinning.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            continue;
        }
        let (len, source) = match header {
            HeaderResult::V1(Ok(h)) => (
                h.header.len(),
                match h.addresses {
                    ppp::v1::Addresses::Tcp4(a) => {
                        Some(SocketAddr::from((a.source_address, a.source_port)))
                    }
                    ppp::v1::Addresses::Tcp6(a) => {
                        Some(SocketAddr::from((a.source_address, a.source_port)))
                    }
                    ppp::v1::Addresses::Unknown => None,
                },
            ),
            HeaderResult::V2(Ok(h)) => (
                h.len(),
                match h.addresses {
                    ppp::v2::Addresses::IPv4(a) => {
                        Some(SocketAddr::from((a.source_address, a.source_port)))
                    }
                    ppp::v2::Addresses::IPv6(a) => {
                        Some(SocketAddr::from((a.source_address, a.source_port)))
                    }
                    _ => None,
                },
            ),
            HeaderResult::V1(Err(e)) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{e:?}")));
            }
            HeaderResult::V2(Err(e)) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{e:?}")));
            }
        };
        let mut consumed = vec![0u8; len];
        stream.read_exact(&mut consumed).await?;
        return Ok(source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn chooses_mqtt_from_the_offered_subprotocols() {
        assert_eq!(
            choose_subprotocol(&headers(&[("sec-websocket-protocol", "mqttv3.1, mqtt")])),
            Some("mqtt")
        );
        assert_eq!(
            choose_subprotocol(&headers(&[("sec-websocket-protocol", "mqttv3.1")])),
            None
        );
        assert_eq!(
            choose_subprotocol(&headers(&[("sec-websocket-protocol", "chat")])),
            None
        );
        assert_eq!(choose_subprotocol(&headers(&[])), None);
    }

    #[test]
    fn checks_origins_against_the_allow_list() {
        let allowed = vec!["https://app.example.com".to_owned()];
        let ok = HeaderValue::from_static("https://App.Example.com");
        assert!(origin_allowed(&allowed, Some(&ok)));
        assert!(origin_allowed(&allowed, None));
        assert!(!origin_allowed(
            &allowed,
            Some(&HeaderValue::from_static("https://evil.example"))
        ));
        assert!(!origin_allowed(
            &allowed,
            Some(&HeaderValue::from_static("null"))
        ));
        assert!(!origin_allowed(
            &[],
            Some(&HeaderValue::from_static("null"))
        ));
    }

    #[test]
    fn refuses_browsers_without_an_allow_list_unless_any_origin_is_allowed() {
        let page = HeaderValue::from_static("https://anywhere.example");
        assert!(!origin_allowed(&[], Some(&page)));
        assert!(origin_allowed(&[], None), "not a browser");
        assert!(origin_allowed(&["*".to_owned()], Some(&page)));
    }
}
