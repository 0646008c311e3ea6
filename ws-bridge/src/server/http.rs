//! HTTP on each connection (hyper, HTTP/1.1, with the head's size and time limited): the
//! MQTT WebSocket endpoint, `/healthz` and `/readyz`, and the web app's files on every
//! other path when `--serve` is given.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Server, Slot};
use crate::metrics::Refusal;
use crate::ops::{self, Body, text};

impl Server {
    /// Serves HTTP on `io` until the client or shutdown ends it.
    pub(super) async fn http<I>(&self, io: I, client: SocketAddr, trusted: bool, slot: Slot)
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
}
