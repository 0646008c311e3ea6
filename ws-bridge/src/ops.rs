//! The operations endpoints: `/metrics` (Prometheus), `/healthz` (the process runs) and
//! `/readyz` (a broker answers), on their own listen address (`--metrics-listen`), which
//! is meant for the monitoring network, never the public one. The public port answers
//! `/healthz` and `/readyz` too, for load balancers, but not `/metrics`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use crate::deadline::WriteDeadline;
use crate::relay::Shared;

/// A response body.
pub(crate) type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// How long a `/readyz` answer is reused: probes from several balancers every second cost
/// the brokers one connection per second at most.
const READY_CACHE: Duration = Duration::from_secs(1);

/// Whether a broker answered lately, for `/readyz`.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    last: Mutex<Option<(Instant, bool)>>,
}

impl Readiness {
    /// True when a broker accepted a TCP connection within the last [`READY_CACHE`], or
    /// does now.
    pub(crate) async fn ready(&self, shared: &Shared) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, ready)) = *last
            && at.elapsed() < READY_CACHE
        {
            return ready;
        }
        let ready = shared.upstreams.any_answers().await;
        *last = Some((Instant::now(), ready));
        ready
    }
}

/// Answers `/healthz` and `/readyz` (both ports) and `/metrics` (operations port only);
/// `None` for any other request.
pub(crate) async fn answer(
    req: &Request<Incoming>,
    shared: &Shared,
    operations_port: bool,
) -> Option<Response<Body>> {
    if req.method() != Method::GET {
        return None;
    }
    Some(match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            if shared.readiness.ready(shared).await {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "no broker answers\n")
            }
        }
        "/metrics" if operations_port => {
            let mut response = text(StatusCode::OK, &shared.metrics.encode());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        _ => return None,
    })
}

/// Serves the operations endpoints on `listener` until shutdown.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "accept failed on the operations port");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shared.shutdown.cancelled() => return,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let config = &shared.config;
            let io = WriteDeadline::new(stream, config.write_timeout);
            let service = hyper::service::service_fn(|req: Request<Incoming>| {
                let shared = shared.clone();
                async move {
                    let response = answer(&req, &shared, true)
                        .await
                        .unwrap_or_else(|| text(StatusCode::NOT_FOUND, "not found\n"));
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(config.handshake_timeout)
                .max_buf_size(8192)
                .serve_connection(TokioIo::new(io), service);
            let _ = tokio::time::timeout(config.handshake_timeout * 3, connection).await;
        });
    }
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(body.to_owned()))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
