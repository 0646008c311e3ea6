//! The byte pipe under a client: a TCP, TLS or WebSocket connection to an [`Endpoint`]
//! that sends and receives MQTT bytes. This is the one place where the WebSocket client
//! handshake (subprotocol `mqtt`) and the TLS client set-up happen; [`crate::spawn`] runs
//! the engine on it, and a program that speaks MQTT itself can use it directly.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::either::Either;

use crate::endpoint::{Endpoint, EndpointError};

/// How to open a [`Transport`]. `Default` gives a 5 s connect timeout, 64 KiB reads and
/// TLS verified against the Mozilla roots of `webpki-roots`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransportOptions {
    /// The longest the TCP connect, the TLS handshake and the WebSocket handshake may take
    /// together.
    pub connect_timeout: Duration,
    /// Bytes asked for per read (TCP, TLS) and the WebSocket read buffer.
    pub read_chunk: usize,
    /// The TLS client configuration for `mqtts://` and `wss://`: your own roots or client
    /// certificates. `None` verifies servers against the `webpki-roots` Mozilla roots.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for TransportOptions {
    fn default() -> TransportOptions {
        TransportOptions {
            connect_timeout: Duration::from_secs(5),
            read_chunk: 64 * 1024,
            tls: None,
        }
    }
}

/// Why a transport could not connect, send or receive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The endpoint's host is not a valid TLS server name.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// Connecting took longer than [`TransportOptions::connect_timeout`].
    #[error("connecting took longer than {0:?}")]
    ConnectTimeout(Duration),
    /// The network or the TLS layer failed (refused, reset, certificate not trusted, ...).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The default TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The WebSocket handshake or connection failed, for instance because the server did
    /// not accept the `mqtt` subprotocol.
    #[error("WebSocket: {0}")]
    WebSocket(#[from] Box<tungstenite::Error>),
    /// The server sent a text message; MQTT over WebSocket allows only binary ones
    /// [MQTT-6.0.0-1]. The connection is unusable.
    #[error("the server sent a WebSocket text message; MQTT allows only binary messages")]
    TextMessage,
}

impl From<tungstenite::Error> for TransportError {
    fn from(error: tungstenite::Error) -> TransportError {
        TransportError::WebSocket(Box::new(error))
    }
}

/// A TCP or TLS stream.
type Io = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// One open connection to a broker that carries MQTT bytes: raw over TCP or TLS, or as
/// binary WebSocket messages (subprotocol `mqtt`). It knows nothing of MQTT packets: what
/// is sent is one write or one WebSocket message, what is received is whatever arrived
/// (part of a packet, or several).
///
/// ```no_run
/// use mqttwire_tokio::{Transport, TransportOptions};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let endpoint = "ws://127.0.0.1:8080/mqtt".parse()?;
/// let mut transport = Transport::connect(&endpoint, &TransportOptions::default()).await?;
/// transport.send(bytes::Bytes::from_static(&[0xc0, 0x00])).await?; // PINGREQ
/// let answer = transport.recv().await?; // Some([0xd0, 0x00]) from a connected session
/// # drop(answer);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Transport {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Raw { io: Io, buf: BytesMut, chunk: usize },
    WebSocket(Box<WebSocketStream<Io>>),
}

impl Transport {
    /// Connects to `endpoint` (TCP with `TCP_NODELAY`, then TLS and the WebSocket
    /// handshake as its scheme says), all within [`TransportOptions::connect_timeout`].
    pub async fn connect(
        endpoint: &Endpoint,
        options: &TransportOptions,
    ) -> Result<Transport, TransportError> {
        tokio::time::timeout(options.connect_timeout, open(endpoint, options))
            .await
            .map_err(|_| TransportError::ConnectTimeout(options.connect_timeout))?
    }

    /// Sends `bytes` as one write (flushed) or one WebSocket message.
    pub async fn send(&mut self, bytes: Bytes) -> Result<(), TransportError> {
        match &mut self.inner {
            Inner::Raw { io, .. } => {
                io.write_all(&bytes).await?;
                io.flush().await?;
            }
            Inner::WebSocket(ws) => ws.send(Message::Binary(bytes)).await?,
        }
        Ok(())
    }

    /// The next bytes received; `Ok(None)` when the server closed the connection (end of
    /// stream, or a WebSocket close frame). WebSocket pings are answered on the way.
    /// Cancel-safe: dropping the future before it completes loses nothing.
    pub async fn recv(&mut self) -> Result<Option<Bytes>, TransportError> {
        match &mut self.inner {
            Inner::Raw { io, buf, chunk } => read_raw(io, buf, *chunk).await,
            Inner::WebSocket(ws) => loop {
                if let Some(read) = read_ws(ws.next().await) {
                    return read;
                }
            },
        }
    }

    /// Closes the connection: a WebSocket close frame, or the TCP/TLS shutdown. Errors are
    /// ignored; the connection is gone either way.
    pub async fn close(self) {
        match self.inner {
            Inner::Raw { mut io, .. } => {
                let _ = io.shutdown().await;
            }
            Inner::WebSocket(mut ws) => {
                let _ = WebSocketStream::close(&mut *ws, None).await;
            }
        }
    }

    /// Splits the connection into halves that can be used from different tasks. A plain
    /// TCP connection splits without a lock.
    pub fn split(self) -> (TransportSender, TransportReceiver) {
        match self.inner {
            Inner::Raw {
                io: Either::Left(tcp),
                buf,
                chunk,
            } => {
                let (r, w) = tcp.into_split();
                (
                    TransportSender(SenderInner::Tcp(w)),
                    TransportReceiver(ReceiverInner::Tcp(r, buf, chunk)),
                )
            }
            Inner::Raw {
                io: Either::Right(tls),
                buf,
                chunk,
            } => {
                let (r, w) = tokio::io::split(tls);
                (
                    TransportSender(SenderInner::Tls(w)),
                    TransportReceiver(ReceiverInner::Tls(r, buf, chunk)),
                )
            }
            Inner::WebSocket(ws) => {
                let (sink, stream) = (*ws).split();
                (
                    TransportSender(SenderInner::WebSocket(sink)),
                    TransportReceiver(ReceiverInner::WebSocket(stream)),
                )
            }
        }
    }
}

/// The sending half of a [`Transport`], from [`Transport::split`].
#[derive(Debug)]
pub struct TransportSender(SenderInner);

#[derive(Debug)]
enum SenderInner {
    Tcp(OwnedWriteHalf),
    Tls(WriteHalf<Box<TlsStream<TcpStream>>>),
    WebSocket(SplitSink<WebSocketStream<Io>, Message>),
}

impl TransportSender {
    /// Sends `bytes` as one write (flushed) or one WebSocket message.
    pub async fn send(&mut self, bytes: Bytes) -> Result<(), TransportError> {
        self.feed(bytes).await?;
        self.flush().await
    }

    /// Queues `bytes` as one write or one WebSocket message without flushing: a batch of
    /// feeds then one [`flush`](TransportSender::flush) goes out together.
    pub async fn feed(&mut self, bytes: Bytes) -> Result<(), TransportError> {
        match &mut self.0 {
            SenderInner::Tcp(w) => w.write_all(&bytes).await?,
            SenderInner::Tls(w) => w.write_all(&bytes).await?,
            SenderInner::WebSocket(sink) => sink.feed(Message::Binary(bytes)).await?,
        }
        Ok(())
    }

    /// Sends everything fed so far.
    pub async fn flush(&mut self) -> Result<(), TransportError> {
        match &mut self.0 {
            SenderInner::Tcp(w) => w.flush().await?,
            SenderInner::Tls(w) => w.flush().await?,
            SenderInner::WebSocket(sink) => sink.flush().await?,
        }
        Ok(())
    }

    /// Closes the sending side: a WebSocket close frame, or the TCP/TLS shutdown. Errors
    /// are ignored.
    pub async fn close(&mut self) {
        match &mut self.0 {
            SenderInner::Tcp(w) => {
                let _ = w.shutdown().await;
            }
            SenderInner::Tls(w) => {
                let _ = w.shutdown().await;
            }
            SenderInner::WebSocket(sink) => {
                let _ = sink.close().await;
            }
        }
    }
}

/// The receiving half of a [`Transport`], from [`Transport::split`].
#[derive(Debug)]
pub struct TransportReceiver(ReceiverInner);

#[derive(Debug)]
enum ReceiverInner {
    Tcp(OwnedReadHalf, BytesMut, usize),
    Tls(ReadHalf<Box<TlsStream<TcpStream>>>, BytesMut, usize),
    WebSocket(SplitStream<WebSocketStream<Io>>),
}

impl TransportReceiver {
    /// The next bytes received, as [`Transport::recv`]; cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<Bytes>, TransportError> {
        match &mut self.0 {
            ReceiverInner::Tcp(r, buf, chunk) => read_raw(r, buf, *chunk).await,
            ReceiverInner::Tls(r, buf, chunk) => read_raw(r, buf, *chunk).await,
            ReceiverInner::WebSocket(stream) => loop {
                if let Some(read) = read_ws(stream.next().await) {
                    return read;
                }
            },
        }
    }
}

// ---- connecting ----

async fn open(
    endpoint: &Endpoint,
    options: &TransportOptions,
) -> Result<Transport, TransportError> {
    let tcp = TcpStream::connect((endpoint.host(), endpoint.port())).await?;
    tcp.set_nodelay(true)?;
    let io: Io = if endpoint.is_tls() {
        let config = match &options.tls {
            Some(config) => config.clone(),
            None => default_tls()?,
        };
        let tls = TlsConnector::from(config)
            .connect(endpoint.server_name()?, tcp)
            .await?;
        Either::Right(Box::new(tls))
    } else {
        Either::Left(tcp)
    };
    if !endpoint.is_websocket() {
        return Ok(Transport {
            inner: Inner::Raw {
                io,
                buf: BytesMut::new(),
                chunk: options.read_chunk,
            },
        });
    }
    let mut request = endpoint.to_string().into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    let config = WebSocketConfig::default().read_buffer_size(options.read_chunk);
    // The handshake fails unless the server answers with the `mqtt` subprotocol.
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, io, Some(config)).await?;
    Ok(Transport {
        inner: Inner::WebSocket(Box::new(ws)),
    })
}

/// The TLS configuration used when none is given: `webpki-roots`, ring, TLS 1.2 and 1.3.
/// Built once per process.
fn default_tls() -> Result<Arc<rustls::ClientConfig>, TransportError> {
    static DEFAULT: OnceLock<Result<Arc<rustls::ClientConfig>, rustls::Error>> = OnceLock::new();
    let config = DEFAULT.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Arc::new(config))
    });
    config.clone().map_err(TransportError::Tls)
}

// ---- receiving ----

async fn read_raw(
    io: &mut (impl tokio::io::AsyncRead + Unpin),
    buf: &mut BytesMut,
    chunk: usize,
) -> Result<Option<Bytes>, TransportError> {
    buf.reserve(chunk);
    if io.read_buf(buf).await? == 0 {
        return Ok(None);
    }
    Ok(Some(buf.split().freeze()))
}

/// What one WebSocket read means: bytes, the end or a broken connection, or `None` for a
/// control frame, which the caller skips (tungstenite answers pings itself).
fn read_ws(
    message: Option<Result<Message, tungstenite::Error>>,
) -> Option<Result<Option<Bytes>, TransportError>> {
    match message {
        None | Some(Ok(Message::Close(_))) => Some(Ok(None)),
        Some(Ok(Message::Binary(bytes))) => Some(Ok(Some(bytes))),
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => None,
        Some(Ok(Message::Text(_))) => Some(Err(TransportError::TextMessage)),
        Some(Err(error)) => Some(Err(error.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

    async fn listener() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("an address").port();
        (listener, port)
    }

    fn endpoint(url: String) -> Endpoint {
        url.parse().expect("a valid URL")
    }

    /// Accepts one WebSocket client, answering the `mqtt` subprotocol when `echo` is set,
    /// and sends back every binary message, then `last` if given.
    async fn websocket_server(listener: TcpListener, echo: bool, last: Option<Message>) {
        let (tcp, _) = listener.accept().await.expect("accept");
        #[allow(clippy::result_large_err)] // the signature of tungstenite's callback
        let answer = |request: &Request, mut response: Response| {
            let offered = request
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                == Some("mqtt");
            assert!(offered, "the client offers the mqtt subprotocol");
            if echo {
                response
                    .headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
            }
            Ok(response)
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, answer).await else {
            return;
        };
        if let Some(Ok(message)) = ws.next().await {
            ws.send(message).await.expect("echo");
        }
        if let Some(last) = last {
            ws.send(last).await.expect("last message");
        }
        while let Some(Ok(_)) = ws.next().await {}
    }

    #[tokio::test]
    async fn carries_bytes_over_tcp_whole_and_split() {
        let (listener, port) = listener().await;
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 64];
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => tcp.write_all(&buf[..n]).await.expect("echo"),
                }
            }
        });
        let url = endpoint(format!("mqtt://127.0.0.1:{port}"));
        let mut transport = Transport::connect(&url, &TransportOptions::default())
            .await
            .expect("connected");
        transport
            .send(Bytes::from_static(&[0xc0, 0x00]))
            .await
            .expect("sent");
        assert_eq!(
            transport.recv().await.expect("read").as_deref(),
            Some(&[0xc0, 0x00][..])
        );
        let (mut tx, mut rx) = transport.split();
        tx.feed(Bytes::from_static(b"ab")).await.expect("fed");
        tx.feed(Bytes::from_static(b"cd")).await.expect("fed");
        tx.flush().await.expect("flushed");
        let mut got = Vec::new();
        while got.len() < 4 {
            got.extend_from_slice(&rx.recv().await.expect("read").expect("open"));
        }
        assert_eq!(got, b"abcd");
        tx.close().await;
        assert_eq!(rx.recv().await.expect("read"), None, "the server closed");
        server.await.expect("server");
    }

    #[tokio::test]
    async fn carries_bytes_as_binary_websocket_messages() {
        let (listener, port) = listener().await;
        let server = tokio::spawn(websocket_server(listener, true, None));
        let url = endpoint(format!("ws://127.0.0.1:{port}/mqtt"));
        let mut transport = Transport::connect(&url, &TransportOptions::default())
            .await
            .expect("connected");
        transport
            .send(Bytes::from_static(&[0xc0, 0x00]))
            .await
            .expect("sent");
        assert_eq!(
            transport.recv().await.expect("read").as_deref(),
            Some(&[0xc0, 0x00][..])
        );
        transport.close().await;
        server.await.expect("server");
    }

    #[tokio::test]
    async fn rejects_a_server_without_the_mqtt_subprotocol() {
        let (listener, port) = listener().await;
        let server = tokio::spawn(websocket_server(listener, false, None));
        let url = endpoint(format!("ws://127.0.0.1:{port}/"));
        let result = Transport::connect(&url, &TransportOptions::default()).await;
        assert!(
            matches!(result, Err(TransportError::WebSocket(_))),
            "{result:?}"
        );
        server.await.expect("server");
    }

    #[tokio::test]
    async fn rejects_a_text_message() {
        let (listener, port) = listener().await;
        let text = Message::text("not MQTT");
        let server = tokio::spawn(websocket_server(listener, true, Some(text)));
        let url = endpoint(format!("ws://127.0.0.1:{port}/"));
        let mut transport = Transport::connect(&url, &TransportOptions::default())
            .await
            .expect("connected");
        transport
            .send(Bytes::from_static(b"x"))
            .await
            .expect("sent");
        assert_eq!(
            transport.recv().await.expect("read").as_deref(),
            Some(&b"x"[..])
        );
        assert!(matches!(
            transport.recv().await,
            Err(TransportError::TextMessage)
        ));
        drop(transport);
        server.await.expect("server");
    }

    #[tokio::test]
    async fn gives_up_on_a_server_that_never_answers_the_handshake() {
        // The kernel completes the TCP connect from the backlog; nobody answers.
        let (_listener, port) = listener().await;
        let options = TransportOptions {
            connect_timeout: Duration::from_millis(100),
            ..TransportOptions::default()
        };
        let url = endpoint(format!("ws://127.0.0.1:{port}/"));
        let result = Transport::connect(&url, &options).await;
        assert!(
            matches!(result, Err(TransportError::ConnectTimeout(t)) if t == options.connect_timeout),
            "{result:?}"
        );
    }
}
