//! A tokio driver of the sans-IO engine, for tests against real brokers: one task per
//! client runs the drive loop of [`mqttwire::client::Client`] over TCP or WebSocket.
//!
//! The task owns the engine, the socket and the clock (the time since a tokio [`Instant`]
//! taken at spawn). It waits on three things at once: bytes from the socket,
//! the engine's next deadline and a command from the [`ClientHandle`]; after every engine
//! call it writes what the engine has to send, carries out its actions and forwards its
//! events to [`Events`].

use std::future::pending;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use mqttwire::client::{Action, Client, ClientError, ClientOptions, Event, Handle};
use mqttwire::{Properties, Publish, QoS, ReasonCode, Subscription, SubscriptionOptions};
use mqttwire::{TopicFilter, TopicName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// How long one connection attempt may take: TCP connect plus WebSocket handshake. A
/// slower attempt counts as failed and the engine schedules the next one.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long closing a connection may take (TCP shutdown, WebSocket close frame).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a client connects, parsed from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// MQTT over TCP, from `mqtt://host:port`: the `host:port` to connect to.
    Tcp(String),
    /// MQTT over WebSocket (subprotocol `mqtt`, binary messages), from
    /// `ws://host:port/path`.
    WebSocket {
        /// The whole `ws://` URL, sent in the handshake.
        url: String,
        /// The `host:port` to connect to.
        addr: String,
    },
}

impl FromStr for Endpoint {
    type Err = DriverError;

    /// Parses `mqtt://host:port` (also `tcp://`) or `ws://host:port[/path]`.
    fn from_str(url: &str) -> Result<Endpoint, DriverError> {
        let bad = || DriverError::Url(url.to_owned());
        if let Some(addr) = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
        {
            let addr = addr.strip_suffix('/').unwrap_or(addr);
            if addr.is_empty() || addr.contains('/') {
                return Err(bad());
            }
            return Ok(Endpoint::Tcp(addr.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("ws://") {
            let addr = rest.split('/').next().unwrap_or_default();
            if addr.is_empty() {
                return Err(bad());
            }
            return Ok(Endpoint::WebSocket {
                url: url.to_owned(),
                addr: addr.to_owned(),
            });
        }
        Err(bad())
    }
}

/// What the driver cannot do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The URL is neither `mqtt://host:port` nor `ws://host:port/path`: the caller's
    /// mistake.
    #[error("unsupported URL {0:?}: expected mqtt://host:port or ws://host:port/path")]
    Url(String),
    /// The engine refused the command (queue full, invalid packet, ...); nothing was sent.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The driver task is gone (it panicked or was aborted); the handle is useless.
    #[error("the driver task has ended")]
    Stopped,
}

/// Why [`Events::wait_for`] returned without a matching event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// No matching event arrived in time.
    #[error("no matching event within {0:?}")]
    Timeout(Duration),
    /// The driver task is gone; no event will come.
    #[error("the driver task has ended")]
    Closed,
}

/// Starts a client on the current tokio runtime: spawns its task, which calls
/// [`Client::connect`] at once and keeps a connection to `url` up as the engine asks
/// (reconnecting per [`ClientOptions::reconnect`]).
///
/// Returns the handle for commands and the stream of the engine's events, which can be
/// moved to different tasks. Dropping the handle aborts the task and drops the socket
/// without a DISCONNECT; call [`ClientHandle::disconnect`] first for a clean end.
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn spawn(url: &str, options: ClientOptions) -> Result<(ClientHandle, Events), DriverError> {
    let endpoint = url.parse()?;
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (event_tx, events) = mpsc::unbounded_channel();
    let driver = Driver {
        client: Client::new(options),
        endpoint,
        origin: Instant::now(),
        socket: None,
        read_buf: BytesMut::new(),
        events: event_tx,
    };
    let task = tokio::spawn(driver.run(command_rx));
    Ok((ClientHandle { commands, task }, Events { rx: events }))
}

/// Commands to one driven client. Each method waits until the driver task took the
/// command, not until the broker answered: the answer comes as an [`Event`].
#[derive(Debug)]
pub struct ClientHandle {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl ClientHandle {
    /// Publishes a message ([`Client::publish`]); completion comes as
    /// [`Event::PublishComplete`] or [`Event::PublishFailed`] with the returned handle.
    pub async fn publish(&self, publish: Publish) -> Result<Handle, DriverError> {
        Ok(self
            .request(|reply| Command::Publish(publish, reply))
            .await??)
    }

    /// Subscribes ([`Client::subscribe`]); the result comes as [`Event::Subscribed`].
    pub async fn subscribe(
        &self,
        subscriptions: Vec<Subscription>,
        properties: Properties,
    ) -> Result<Handle, DriverError> {
        Ok(self
            .request(|reply| Command::Subscribe(subscriptions, properties, reply))
            .await??)
    }

    /// Unsubscribes ([`Client::unsubscribe`]); the result comes as [`Event::Unsubscribed`].
    pub async fn unsubscribe(
        &self,
        filters: Vec<TopicFilter>,
        properties: Properties,
    ) -> Result<Handle, DriverError> {
        Ok(self
            .request(|reply| Command::Unsubscribe(filters, properties, reply))
            .await??)
    }

    /// Stops the client ([`Client::disconnect`]): returns once the DISCONNECT (if
    /// connected) is written and the connection closed. The task keeps running, idle.
    pub async fn disconnect(&self, reason_code: ReasonCode) -> Result<(), DriverError> {
        self.request(|reply| Command::Disconnect(reason_code, reply))
            .await
    }

    /// Simulates a network failure: drops the current socket without a DISCONNECT or a
    /// WebSocket close frame, then tells the engine the connection was lost, as a driver
    /// does on a read error. The engine reconnects as its options say.
    ///
    /// Returns false, and does nothing, when there was no socket (the client was
    /// waiting to reconnect, or stopped).
    pub async fn cut(&self) -> Result<bool, DriverError> {
        self.request(Command::Cut).await
    }

    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .map_err(|_| DriverError::Stopped)?;
        answer.await.map_err(|_| DriverError::Stopped)
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The events of one driven client, in the order the engine produced them.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Events {
    /// The next event; `None` once the driver task is gone.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is already there.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Waits up to `within` for the next event for which `matches` is true. Events
    /// before it are consumed and dropped.
    pub async fn wait_for(
        &mut self,
        within: Duration,
        mut matches: impl FnMut(&Event) -> bool,
    ) -> Result<Event, WaitError> {
        self.wait_map(within, |event| matches(&event).then_some(event))
            .await
    }

    /// Waits up to `within` for the next event that `pick` maps to `Some`, and returns
    /// that. Events before it are consumed and dropped.
    pub async fn wait_map<T>(
        &mut self,
        within: Duration,
        mut pick: impl FnMut(Event) -> Option<T>,
    ) -> Result<T, WaitError> {
        let wait = async {
            while let Some(event) = self.rx.recv().await {
                if let Some(picked) = pick(event) {
                    return Ok(picked);
                }
            }
            Err(WaitError::Closed)
        };
        timeout(within, wait)
            .await
            .map_err(|_| WaitError::Timeout(within))?
    }

    /// Waits up to `within` for [`Event::Connected`] and returns its `session_present`.
    pub async fn connected(&mut self, within: Duration) -> Result<bool, WaitError> {
        self.wait_map(within, |event| match event {
            Event::Connected {
                session_present, ..
            } => Some(session_present),
            _ => None,
        })
        .await
    }

    /// Waits up to `within` for the next [`Event::Message`] whose topic is `topic`.
    pub async fn message_on(
        &mut self,
        within: Duration,
        topic: &str,
    ) -> Result<Publish, WaitError> {
        self.wait_map(within, |event| match event {
            Event::Message(publish) if publish.topic.as_str() == topic => Some(publish),
            _ => None,
        })
        .await
    }
}

/// A PUBLISH of `payload` to `topic` at `qos`, not retained.
///
/// # Panics
///
/// If `topic` is not a valid topic name: a mistake in the test.
pub fn message(topic: &str, payload: impl Into<Bytes>, qos: QoS) -> Publish {
    let topic = TopicName::new(topic).expect("a valid topic name");
    let mut publish = Publish::new(topic, payload);
    publish.qos = qos;
    publish
}

/// A subscription to `filter` at `qos`, with default options.
///
/// # Panics
///
/// If `filter` is not a valid topic filter: a mistake in the test.
pub fn subscription(filter: &str, qos: QoS) -> Subscription {
    Subscription {
        filter: TopicFilter::new(filter).expect("a valid topic filter"),
        options: SubscriptionOptions::qos(qos),
    }
}

// ---- the task ----

type Reply<T> = oneshot::Sender<T>;

#[derive(Debug)]
enum Command {
    Publish(Publish, Reply<Result<Handle, ClientError>>),
    Subscribe(
        Vec<Subscription>,
        Properties,
        Reply<Result<Handle, ClientError>>,
    ),
    Unsubscribe(
        Vec<TopicFilter>,
        Properties,
        Reply<Result<Handle, ClientError>>,
    ),
    Disconnect(ReasonCode, Reply<()>),
    Cut(Reply<bool>),
}

/// The engine with its socket and clock: lives in the client's task.
struct Driver {
    client: Client,
    endpoint: Endpoint,
    origin: Instant,
    socket: Option<Socket>,
    read_buf: BytesMut,
    events: mpsc::UnboundedSender<Event>,
}

impl Driver {
    /// The drive loop; ends when the handle is dropped (its command channel closes).
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        if self.client.connect(self.now()).is_err() {
            return; // unreachable: a new client is idle
        }
        self.drain().await;
        loop {
            let deadline = self
                .client
                .poll_timeout()
                .map(|at| self.origin + Duration::from_millis(at.as_millis()));
            tokio::select! {
                read = recv(&mut self.socket, &mut self.read_buf) => {
                    let now = self.now();
                    match read {
                        Some(bytes) => self.client.handle_bytes_owned(now, bytes),
                        None => {
                            self.socket = None;
                            self.client.handle_connection_lost(now);
                        }
                    }
                }
                () = sleep_until_some(deadline) => self.client.handle_timeout(self.now()),
                command = commands.recv() => match command {
                    Some(command) => self.command(command).await,
                    None => return,
                },
            }
            self.drain().await;
        }
    }

    /// The engine's clock: the time since the task started.
    fn now(&self) -> mqttwire::Instant {
        mqttwire::Instant::ORIGIN + self.origin.elapsed()
    }

    async fn command(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Publish(publish, reply) => {
                let _ = reply.send(self.client.publish(now, publish));
            }
            Command::Subscribe(subscriptions, properties, reply) => {
                let _ = reply.send(self.client.subscribe(now, subscriptions, properties));
            }
            Command::Unsubscribe(filters, properties, reply) => {
                let _ = reply.send(self.client.unsubscribe(now, filters, properties));
            }
            Command::Disconnect(reason_code, reply) => {
                self.client.disconnect(now, reason_code, Properties::new());
                self.drain().await;
                let _ = reply.send(());
            }
            Command::Cut(reply) => {
                // Dropped, not closed: no DISCONNECT, no close frame, unread bytes lost.
                let cut = self.socket.take().is_some();
                if cut {
                    self.client.handle_connection_lost(now);
                }
                let _ = reply.send(cut);
            }
        }
    }

    /// Drains the engine after a call: writes, then actions (which may produce more to
    /// write), then events, until it has nothing left.
    async fn drain(&mut self) {
        loop {
            while let Some(bytes) = self.client.poll_transmit() {
                self.write(bytes).await;
            }
            if let Some(action) = self.client.poll_action() {
                match action {
                    Action::Open { .. } => self.open().await,
                    Action::Close => self.close().await,
                    _ => {}
                }
                continue;
            }
            while let Some(event) = self.client.poll_event() {
                // The application may have stopped listening; the engine goes on.
                let _ = self.events.send(event);
            }
            return;
        }
    }

    async fn write(&mut self, bytes: Bytes) {
        let Some(socket) = &mut self.socket else {
            return; // nothing to write on: the engine counts the connection as gone
        };
        if socket.send(bytes).await.is_err() {
            self.socket = None;
            self.client.handle_connection_lost(self.now());
        }
    }

    async fn open(&mut self) {
        self.socket = None;
        match timeout(CONNECT_TIMEOUT, Socket::connect(&self.endpoint)).await {
            Ok(Ok(socket)) => {
                self.socket = Some(socket);
                self.client.handle_connection_opened(self.now());
            }
            Ok(Err(_)) | Err(_) => self.client.handle_connection_lost(self.now()),
        }
    }

    async fn close(&mut self) {
        if let Some(socket) = self.socket.take() {
            let _ = timeout(CLOSE_TIMEOUT, socket.close()).await;
        }
    }
}

/// One open connection to the broker.
enum Socket {
    Tcp(TcpStream),
    WebSocket(Box<WebSocketStream<TcpStream>>),
}

impl Socket {
    async fn connect(endpoint: &Endpoint) -> io::Result<Socket> {
        match endpoint {
            Endpoint::Tcp(addr) => {
                let stream = TcpStream::connect(addr.as_str()).await?;
                stream.set_nodelay(true)?;
                Ok(Socket::Tcp(stream))
            }
            Endpoint::WebSocket { url, addr } => {
                let stream = TcpStream::connect(addr.as_str()).await?;
                stream.set_nodelay(true)?;
                let mut request = url
                    .as_str()
                    .into_client_request()
                    .map_err(io::Error::other)?;
                request
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
                // The handshake fails unless the server echoes the `mqtt` subprotocol.
                let (ws, _response) = tokio_tungstenite::client_async(request, stream)
                    .await
                    .map_err(io::Error::other)?;
                Ok(Socket::WebSocket(Box::new(ws)))
            }
        }
    }

    async fn send(&mut self, bytes: Bytes) -> io::Result<()> {
        match self {
            Socket::Tcp(stream) => stream.write_all(&bytes).await,
            Socket::WebSocket(ws) => ws
                .send(Message::Binary(bytes))
                .await
                .map_err(io::Error::other),
        }
    }

    /// The next bytes received; `None` when the connection ended (EOF, error, a close
    /// frame, or a text message, which MQTT over WebSocket forbids [MQTT-6.0.0-1]).
    /// Cancel-safe: nothing is lost if the future is dropped before it completes.
    async fn recv(&mut self, buf: &mut BytesMut) -> Option<Bytes> {
        match self {
            Socket::Tcp(stream) => {
                buf.reserve(16 * 1024);
                match stream.read_buf(buf).await {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(buf.split().freeze()),
                }
            }
            Socket::WebSocket(ws) => loop {
                match ws.next().await? {
                    Ok(Message::Binary(bytes)) => return Some(bytes),
                    // tungstenite answers pings itself.
                    Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                    Ok(Message::Text(_) | Message::Close(_)) | Err(_) => return None,
                }
            },
        }
    }

    async fn close(self) {
        match self {
            Socket::Tcp(mut stream) => {
                let _ = stream.shutdown().await;
            }
            Socket::WebSocket(mut ws) => {
                let _ = WebSocketStream::close(&mut *ws, None).await;
            }
        }
    }
}

/// Reads from the socket if there is one; never completes otherwise.
async fn recv(socket: &mut Option<Socket>, buf: &mut BytesMut) -> Option<Bytes> {
    match socket {
        Some(socket) => socket.recv(buf).await,
        None => pending().await,
    }
}

/// Sleeps until `deadline`; never completes without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_and_websocket_urls() {
        assert_eq!(
            "mqtt://127.0.0.1:1883".parse::<Endpoint>().ok(),
            Some(Endpoint::Tcp("127.0.0.1:1883".into()))
        );
        assert_eq!(
            "ws://127.0.0.1:8080/mqtt".parse::<Endpoint>().ok(),
            Some(Endpoint::WebSocket {
                url: "ws://127.0.0.1:8080/mqtt".into(),
                addr: "127.0.0.1:8080".into(),
            })
        );
    }

    #[test]
    fn rejects_other_urls() {
        for url in [
            "http://127.0.0.1:80",
            "mqtt://",
            "mqtt://host:1/x",
            "ws://",
            "wss://h:1/",
        ] {
            assert!(url.parse::<Endpoint>().is_err(), "{url}");
        }
    }
}
